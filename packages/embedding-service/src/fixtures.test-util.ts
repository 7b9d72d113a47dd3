import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** tools/fixtures/embedding: tiny models, test images and the Python reference outputs. */
export const FIXTURES = fileURLToPath(new URL('../../../tools/fixtures/embedding/', import.meta.url));
export const MODELS_DIR = join(FIXTURES, 'models');

export interface ReferenceText {
  text: string;
  ids: number[];
  truncated: boolean;
  vector: number[];
}

export interface ReferenceModel {
  kind: string;
  dimension: number;
  images?: Record<string, { width?: number; height?: number; vector: number[] }>;
  texts?: ReferenceText[];
  files: Record<string, string>;
}

const readReference = (file: string) => JSON.parse(readFileSync(join(FIXTURES, 'reference', file), 'utf8')) as unknown;

/** reference.json (generate.py) with tiny-clip-combined.json (generate_combined.py, optimum's exporter) merged in. */
export const reference = readReference('reference.json') as { images: string[]; models: Record<string, ReferenceModel> };
reference.models['tiny-clip-combined'] = readReference('tiny-clip-combined.json') as ReferenceModel;

export function fixtureImage(name: string): Buffer {
  return readFileSync(join(FIXTURES, 'images', name));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A POSIX tar (ustar) archive of the given members: enough to make WebDataset shards in tests. */
export function tarArchive(members: Array<{ name: string; data: Buffer }>): Buffer {
  const blocks: Buffer[] = [];
  for (const { name, data } of members) {
    const header = Buffer.alloc(512);
    header.write(name, 0, 100, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
