import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collect, makeImage, makeTempDir, outline } from './fixtures.test-util.js';
import { readOpenImagesPool } from './openimages.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir()));
afterEach(() => cleanup());

async function writePool(labels: string): Promise<{ labelsCsv: string; classDescriptionsCsv: string; imagesDir: string }> {
  const imagesDir = join(dir, 'images');
  await mkdir(imagesDir, { recursive: true });
  for (const [i, id] of ['000a1', '000b2', '000d4'].entries()) await writeFile(join(imagesDir, `${id}.jpg`), await makeImage(i));
  const labelsCsv = join(dir, 'labels.csv');
  const classDescriptionsCsv = join(dir, 'classes.csv');
  await writeFile(labelsCsv, labels);
  // Display names may hold commas, so they come quoted.
  await writeFile(classDescriptionsCsv, 'LabelName,DisplayName\r\n/m/0199g,Bicycle\r\n/m/01yrx,Cat\r\n/m/0k4j,"Car, passenger"\r\n');
  return { labelsCsv, classDescriptionsCsv, imagesDir };
}

const LABELS = [
  'ImageID,Source,LabelName,Confidence',
  '000a1,verification,/m/0199g,1',
  '000a1,verification,/m/01yrx,0',
  '000a1,machine,/m/0k4j,0.8',
  '000b2,crowdsource-verification,/m/01yrx,1',
  '000c3,verification,/m/0199g,1',
  '000d4,verification,/m/0k4j,1',
  '',
].join('\n');

describe('readOpenImagesPool', () => {
  it('groups image-level labels per image with display names, keeping positive labels', async () => {
    const pool = await writePool(LABELS);
    const records = await collect(readOpenImagesPool(pool));
    expect(outline(records)).toEqual(['000a1', '000b2', 'MISSING_IMAGE@000c3', '000d4']);
    expect(records[0]?.ok && records[0].sample.labels).toEqual([
      { mid: '/m/0199g', name: 'Bicycle', confidence: 1, source: 'verification' },
      { mid: '/m/0k4j', name: 'Car, passenger', confidence: 0.8, source: 'machine' },
    ]);
    const missing = records[2];
    expect(missing?.ok === false && missing.error.file).toBe(join(pool.imagesDir, '000c3.jpg'));
    const everything = await collect(readOpenImagesPool({ ...pool, minConfidence: 0 }));
    expect(everything[0]?.ok && everything[0].sample.labels.map((label) => label.mid)).toEqual(['/m/0199g', '/m/01yrx', '/m/0k4j']);
  });

  it('resumes from any cursor with exactly the images after it', async () => {
    const pool = await writePool(LABELS);
    const all = await collect(readOpenImagesPool(pool));
    for (const [i, record] of all.entries()) {
      const rest = await collect(readOpenImagesPool({ ...pool, resumeFrom: record.cursor }));
      expect(outline(rest), `resume after record ${i}`).toEqual(outline(all.slice(i + 1)));
      expect(rest.map((r) => r.ok && r.sample.labels)).toEqual(all.slice(i + 1).map((r) => r.ok && r.sample.labels));
    }
  });

  it('reports a labels file without the needed columns, and malformed rows per image', async () => {
    const pool = await writePool('ImageID,Label\n000a1,/m/0199g\n');
    const records = await collect(readOpenImagesPool(pool));
    expect(records).toHaveLength(1);
    expect(records[0]?.ok === false && records[0].error.message).toContain('labels CSV lacks column(s) LabelName, Confidence');

    const malformed = await writePool(['ImageID,Source,LabelName,Confidence', '000a1,verification,/m/0199g,high', '000b2,verification,/m/01yrx,1'].join('\n'));
    expect(outline(await collect(readOpenImagesPool(malformed)))).toEqual(['INVALID_METADATA@000a1', '000b2']);
  });
});
