// Small fixtures generated at test time: real images from sharp, tars from tar-stream (an independent
// tar writer, so the reader is not only tested against its own writer).
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { pack } from 'tar-stream';
import type { PoolRecord } from './pool-record.js';

export async function makeTempDir(prefix = 'select-datasets-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A small image with a colour gradient that depends on `seed`, so images differ. */
export async function makeImage(seed: number, format: 'jpeg' | 'png' | 'webp' = 'jpeg', width = 24, height = 16): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3;
      pixels[at] = (x * 10 + seed * 37) % 256;
      pixels[at + 1] = (y * 15 + seed * 11) % 256;
      pixels[at + 2] = (seed * 53) % 256;
    }
  }
  const image = sharp(pixels, { raw: { width, height, channels: 3 } });
  if (format === 'png') return image.png().toBuffer();
  if (format === 'webp') return image.webp().toBuffer();
  return image.jpeg({ quality: 90 }).toBuffer();
}

export interface TarFixtureMember {
  name: string;
  data: Buffer | string;
  /** Extra pax records, as Python's tarfile writes for float mtimes. */
  pax?: Record<string, string>;
}

export async function writeTarFile(file: string, members: readonly TarFixtureMember[]): Promise<void> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    archive.on('end', () => resolve());
    archive.on('error', reject);
  });
  for (const member of members) {
    const data = typeof member.data === 'string' ? Buffer.from(member.data, 'utf8') : member.data;
    await new Promise<void>((resolve, reject) => {
      archive.entry({ name: member.name, size: data.length, mtime: new Date(1_700_000_000_000), ...(member.pax ? { pax: member.pax } : {}) }, data, (error) =>
        error ? reject(error) : resolve(),
      );
    });
  }
  archive.finalize();
  await done;
  await writeFile(file, Buffer.concat(chunks));
}

export async function cutFile(file: string, keepBytes: number): Promise<void> {
  await truncate(file, keepBytes);
}

export async function collect<S>(records: AsyncIterable<PoolRecord<S>>): Promise<Array<PoolRecord<S>>> {
  const out: Array<PoolRecord<S>> = [];
  for await (const record of records) out.push(record);
  return out;
}

/** `key` of samples and `code@key` of errors, for compact assertions on a whole stream. */
export function outline<S extends { sourceId: string }>(records: ReadonlyArray<PoolRecord<S>>): string[] {
  return records.map((record) => (record.ok ? record.sample.sourceId : `${record.error.code}@${record.error.key ?? record.error.file ?? ''}`));
}
