import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collect, makeTempDir, outline } from './fixtures.test-util.js';
import { writeNpy } from './npy.js';
import { readParquetPool } from './parquet-pool.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir()));
afterEach(() => cleanup());

const DIM = 4;

/** Row r of part p has embedding values p*1000 + r*10 + i, so a misaligned row is visible. */
function embeddings(part: number, rows: number, offset = 0): Float32Array {
  return Float32Array.from({ length: rows * DIM }, (_, i) => part * 1000 + Math.floor(i / DIM) * 10 + (i % DIM) + offset);
}

/** A clip-retrieval folder: metadata/metadata_N.parquet with row-aligned img_emb and text_emb .npy. */
async function writePart(root: string, part: number, rows: number, options: { npyRows?: number; captionColumn?: string } = {}): Promise<void> {
  await mkdir(join(root, 'metadata'), { recursive: true });
  await mkdir(join(root, 'img_emb'), { recursive: true });
  await mkdir(join(root, 'text_emb'), { recursive: true });
  const keys = Array.from({ length: rows }, (_, r) => `p${part}r${r}`);
  parquetWriteFile({
    filename: join(root, 'metadata', `metadata_${part}.parquet`),
    columnData: [
      { name: 'key', data: keys, type: 'STRING' },
      { name: 'url', data: keys.map((key) => `https://example.org/${key}.jpg`), type: 'STRING' },
      { name: options.captionColumn ?? 'caption', data: keys.map((key, r) => (r === 2 ? '' : `a photo of ${key}`)), type: 'STRING' },
      { name: 'width', data: keys.map((_, r) => BigInt(100 + r)), type: 'INT64' },
      { name: 'height', data: keys.map(() => 50n), type: 'INT64' },
      { name: 'similarity', data: keys.map((_, r) => 0.3 + r / 100), type: 'DOUBLE' },
      { name: 'punsafe', data: keys.map(() => 0.01), type: 'DOUBLE' },
    ],
    // Small row groups so reads cross row-group boundaries.
    rowGroupSize: 3,
  });
  const npyRows = options.npyRows ?? rows;
  await writeNpy(join(root, 'img_emb', `img_emb_${part}.npy`), embeddings(part, npyRows), { dim: DIM, dtype: 'float16' });
  await writeNpy(join(root, 'text_emb', `text_emb_${part}.npy`), embeddings(part, npyRows, 0.5), { dim: DIM });
}

describe('readParquetPool', () => {
  it('streams metadata rows with their row-aligned image and text embeddings', async () => {
    await writePart(dir, 0, 7);
    await writePart(dir, 1, 4);
    const records = await collect(readParquetPool({ embeddingsDir: dir, extraColumns: ['punsafe'] }));
    expect(records).toHaveLength(11);
    expect(outline(records).slice(0, 4)).toEqual(['p0r0', 'p0r1', 'MISSING_CAPTION@p0r2', 'p0r3']);
    for (const record of records) {
      if (!record.ok) continue;
      const { sample } = record;
      const part = Number(sample.sourceId[1]);
      const base = part * 1000 + sample.row * 10;
      expect([...(sample.imageEmbedding ?? [])]).toEqual([base, base + 1, base + 2, base + 3]);
      expect([...(sample.textEmbedding ?? [])]).toEqual([base + 0.5, base + 1.5, base + 2.5, base + 3.5]);
      expect(sample).toMatchObject({ caption: `a photo of ${sample.sourceId}`, url: `https://example.org/${sample.sourceId}.jpg`, width: 100 + sample.row, height: 50, similarity: 0.3 + sample.row / 100 });
      expect(sample.metadata).toEqual({ punsafe: 0.01 });
    }
  });

  it('names the missing columns and skips that part only', async () => {
    await writePart(dir, 0, 3, { captionColumn: 'alt_text' });
    await writePart(dir, 1, 3);
    const records = await collect(readParquetPool({ embeddingsDir: dir }));
    expect(outline(records)).toEqual([`MISSING_COLUMNS@${join(dir, 'metadata', 'metadata_0.parquet')}`, 'p1r0', 'p1r1', 'MISSING_CAPTION@p1r2']);
    const error = records[0];
    expect(error?.ok === false && error.error.message).toContain('missing column(s) caption (tried caption, TEXT, text); the file has key, url, alt_text');
    // Naming the column it is under fixes it.
    const fixed = await collect(readParquetPool({ embeddingsDir: dir, columns: { caption: ['alt_text'] } }));
    expect(fixed[0]?.ok && fixed[0].sample.caption).toBe('a photo of p0r0');
  });

  it('reads the embeddings of an uncaptioned pool when captions are not required', async () => {
    await writePart(dir, 0, 3, { captionColumn: 'alt_text' });
    await writePart(dir, 1, 3);
    const records = await collect(readParquetPool({ embeddingsDir: dir, embeddings: 'image', captionRequired: false }));
    // No caption column at all, and an empty caption: every row still comes with its embedding.
    expect(outline(records)).toEqual(['p0r0', 'p0r1', 'p0r2', 'p1r0', 'p1r1', 'p1r2']);
    expect(records.map((r) => r.ok && r.sample.caption)).toEqual(['', '', '', 'a photo of p1r0', 'a photo of p1r1', '']);
    expect(records.every((r) => r.ok && r.sample.imageEmbedding?.length === DIM)).toBe(true);
  });

  it('reports an npy whose row count differs from its parquet, naming both files and counts', async () => {
    await writePart(dir, 0, 5, { npyRows: 4 });
    await writePart(dir, 1, 2);
    const records = await collect(readParquetPool({ embeddingsDir: dir }));
    expect(outline(records)).toEqual([`ROW_COUNT_MISMATCH@${join(dir, 'metadata', 'metadata_0.parquet')}`, 'p1r0', 'p1r1']);
    const error = records[0];
    expect(error?.ok === false && error.error.message).toContain(
      `${join(dir, 'img_emb', 'img_emb_0.npy')} has 4 rows but ${join(dir, 'metadata', 'metadata_0.parquet')} has 5`,
    );
  });

  it('resumes from any cursor with exactly the rows after it', async () => {
    await writePart(dir, 0, 7);
    await writePart(dir, 1, 4, { npyRows: 3 });
    await writePart(dir, 2, 5);
    const all = await collect(readParquetPool({ embeddingsDir: dir }));
    expect(all).toHaveLength(7 + 1 + 5);
    for (const [i, record] of all.entries()) {
      const rest = await collect(readParquetPool({ embeddingsDir: dir, resumeFrom: record.cursor }));
      expect(outline(rest), `resume after record ${i}`).toEqual(outline(all.slice(i + 1)));
    }
  });

  it('reads plain metadata parquet files without embeddings', async () => {
    await writePart(dir, 0, 4);
    const records = await collect(readParquetPool({ metadata: 'metadata/metadata_{0..0}.parquet', root: dir }));
    expect(outline(records)).toEqual(['p0r0', 'p0r1', 'MISSING_CAPTION@p0r2', 'p0r3']);
    expect(records[0]?.ok && records[0].sample.imageEmbedding).toBeUndefined();
  });
});
