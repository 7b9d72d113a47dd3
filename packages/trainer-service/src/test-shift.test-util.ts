// A small labelled shift for tests: generated images of a few classes, written by @select/datasets' ShiftWriter
// exactly as the curator writes real shifts (WebDataset shards, manifest, class_counts.json, _info.json).
import { ShiftWriter } from '@select/datasets';
import { seededRandom } from '@select/testing';

/** The first ImageNet-1k wnids (sorted order), enough for the test label spaces. */
export const TEST_WNIDS = ['n01440764', 'n01443537', 'n01484850', 'n01491361', 'n01494475', 'n01496331', 'n01498041', 'n01514668'];

const PALETTE: Array<[number, number, number]> = [
  [220, 40, 40], [40, 200, 60], [40, 70, 220], [230, 210, 40], [200, 40, 200], [40, 200, 210], [240, 140, 30], [120, 120, 120],
];

/** One image of class `c`: the class colour with a random bright or dark square and pixel noise, size×size RGB. */
export function classImage(c: number, index: number, size: number): { data: Uint8Array; width: number; height: number; channels: 3 } {
  const r = seededRandom(c * 100_003 + index * 7 + 1);
  const [cr, cg, cb] = PALETTE[c % PALETTE.length]!;
  const data = new Uint8Array(size * size * 3);
  const sq = Math.floor(size / 3);
  const sx = Math.floor(r() * (size - sq));
  const sy = Math.floor(r() * (size - sq));
  const shade = r() < 0.5 ? 60 : -60;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inSq = x >= sx && x < sx + sq && y >= sy && y < sy + sq;
      const o = (y * size + x) * 3;
      const n = () => (r() - 0.5) * 60 + (inSq ? shade : 0);
      data[o] = Math.max(0, Math.min(255, cr + n()));
      data[o + 1] = Math.max(0, Math.min(255, cg + n()));
      data[o + 2] = Math.max(0, Math.min(255, cb + n()));
    }
  }
  return { data, width: size, height: size, channels: 3 };
}

export interface TestShiftOptions {
  name?: string;
  classes?: number;
  perClass?: number;
  size?: number;
  samplesPerShard?: number;
  /** Label space size (wnids listed); classes beyond `classes` stay empty. @default classes */
  labelSpace?: number;
}

/** Writes a shift of `classes` × `perClass` generated images (interleaved by class) into `dir`. */
export async function writeTestShift(dir: string, options: TestShiftOptions = {}): Promise<{ samples: number; wnids: string[] }> {
  const classes = options.classes ?? 4;
  const perClass = options.perClass ?? 40;
  const size = options.size ?? 40;
  const wnids = TEST_WNIDS.slice(0, options.labelSpace ?? classes);
  const writer = await ShiftWriter.open(dir, {
    name: options.name ?? 'test-shift',
    strategy: 'generated-test-images',
    classes: wnids,
    maxSamplesPerShard: options.samplesPerShard ?? 32,
  });
  for (let i = 0; i < perClass; i++) {
    for (let c = 0; c < classes; c++) {
      await writer.add({ sourceId: `gen/${c}/${i}`, classIndex: c, image: classImage(c, i, size) });
    }
  }
  await writer.close();
  return { samples: classes * perClass, wnids };
}
