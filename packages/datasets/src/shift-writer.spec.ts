import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, readdir, readFile, stat, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readClassShards } from './class-shards.js';
import { collect, makeImage, makeTempDir } from './fixtures.test-util.js';
import { sampleId } from './sample-id.js';
import { CRASH_TEST_CLASSES, CRASH_TEST_OPTIONS, crashTestSample } from './shift-fixtures.test-util.js';
import { readShiftManifest, type ManifestEntry } from './shift-manifest.js';
import { ShiftWriter, shiftJpegBytes, type ClassCount, type ShiftSummary } from './shift-writer.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir()));
afterEach(() => cleanup());

const OPTIONS = { ...CRASH_TEST_OPTIONS, classes: CRASH_TEST_CLASSES };

async function writeShift(target: string, count: number, options = OPTIONS): Promise<ShiftSummary> {
  const writer = await ShiftWriter.open(target, options);
  for (let i = 0; i < count; i++) await writer.add(await crashTestSample(i));
  return writer.close();
}

async function manifestOf(target: string): Promise<ManifestEntry[]> {
  const out: ManifestEntry[] = [];
  for await (const entry of readShiftManifest(target)) out.push(entry);
  return out;
}

async function shardDigests(target: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(target)).filter((file) => file.endsWith('.tar')).sort()) {
    out[name] = createHash('sha256')
      .update(await readFile(join(target, name)))
      .digest('hex');
  }
  return out;
}

/** The shards read back with the pool reader must hold exactly the manifest's samples, in order. */
async function expectManifestMatchesShards(target: string): Promise<ManifestEntry[]> {
  const manifest = await manifestOf(target);
  const records = await collect(readClassShards({ shards: manifest.map((entry) => entry.shard).filter((name, i, all) => all.indexOf(name) === i), root: target, classes: CRASH_TEST_CLASSES }));
  expect(records.every((record) => record.ok)).toBe(true);
  const read = records.map((record) => (record.ok ? { key: record.sample.key, shard: record.sample.file.slice(target.length + 1), cls: record.sample.classIndex, wnid: record.sample.wnid } : undefined));
  expect(read).toEqual(manifest.map((entry) => ({ key: entry.key, shard: entry.shard, cls: entry.class_index, wnid: entry.wnid })));
  expect(new Set(manifest.map((entry) => entry.id)).size).toBe(manifest.length);
  return manifest;
}

/** The shards of `target` must be byte for byte those of a fresh shift fed samples 0..count-1 in one go. */
async function expectShardsOfUninterruptedRun(target: string, count: number): Promise<void> {
  const clean = join(dir, 'uninterrupted');
  await writeShift(clean, count);
  expect(await shardDigests(target)).toEqual(await shardDigests(clean));
}

/** Adds samples 0..count-1 to a new shift in `target` and suspends it. */
async function suspendAfter(target: string, count: number): Promise<ShiftSummary> {
  const writer = await ShiftWriter.open(target, OPTIONS);
  for (let i = 0; i < count; i++) await writer.add(await crashTestSample(i));
  return writer.suspend();
}

describe('ShiftWriter', () => {
  it('writes timm-readable shards with provenance, a manifest, class counts and a summary', async () => {
    const writer = await ShiftWriter.open(dir, { ...OPTIONS, maxSamplesPerShard: 4 });
    const jpeg = await makeImage(1);
    const png = await makeImage(2, 'png');
    const raw = { data: new Uint8Array(8 * 6 * 3).fill(200), width: 8, height: 6, channels: 3 as const };
    const first = await writer.add({ sourceId: 'laion/1', classIndex: 0, image: jpeg, score: 0.91, modelIds: { text: 'minilm' } });
    await writer.add({ sourceId: 'laion/2', wnid: 'n01484850', image: png });
    await writer.add({ sourceId: 'sd/cat', classIndex: 1, image: raw, prompt: 'A photo of tench', seed: 7, extra: { steps: 20 } });
    for (let i = 3; i < 10; i++) await writer.add(await crashTestSample(i));
    const summary = await writer.close();

    expect(first).toEqual({ id: sampleId({ strategy: 'caption-filter', sourceId: 'laion/1' }), key: first.id, added: true });
    expect(summary).toMatchObject({ name: 'test-shift', strategy: 'caption-filter', complete: true, counts: { samples: 10, shards: 3, classes: 3 } });
    expect(summary.shards.map((shard) => [shard.name, shard.samples])).toEqual([
      ['00000.tar', 4],
      ['00001.tar', 4],
      ['00002.tar', 2],
    ]);
    const manifest = await expectManifestMatchesShards(dir);
    expect(manifest[0]).toEqual({ id: first.id, key: first.key, shard: '00000.tar', class_index: 0, wnid: 'n01440764', source_id: 'laion/1', score: 0.91 });
    expect(manifest[2]).toMatchObject({ source_id: 'sd/cat', seed: 7, class_index: 1, wnid: 'n01443537' });

    const records = await collect(readClassShards({ shards: '{00000..00002}.tar', root: dir }));
    const [jpegRecord, pngRecord, rawRecord] = records;
    // JPEG input is stored byte for byte; PNG and raw pixels become JPEGs.
    expect(jpegRecord?.ok && jpegRecord.sample.image.bytes.equals(jpeg)).toBe(true);
    expect(pngRecord?.ok && pngRecord.sample.image.format).toBe('jpeg');
    expect(rawRecord?.ok && (await sharp(rawRecord.sample.image.bytes).metadata()).width).toBe(8);
    expect(rawRecord?.ok && rawRecord.sample.metadata).toEqual({
      id: sampleId({ strategy: 'caption-filter', sourceId: 'sd/cat', seed: 7 }),
      key: sampleId({ strategy: 'caption-filter', sourceId: 'sd/cat', seed: 7 }),
      shift: 'test-shift',
      class_index: 1,
      idx: 1,
      wnid: 'n01443537',
      source_id: 'sd/cat',
      strategy: 'caption-filter',
      params_hash: summary.params_hash,
      prompt: 'A photo of tench',
      seed: 7,
      extra: { steps: 20 },
    });

    const counts = JSON.parse(await readFile(join(dir, 'class_counts.json'), 'utf8')) as ClassCount[];
    expect(counts).toEqual([
      { class_index: 0, wnid: 'n01440764', count: 4 },
      { class_index: 1, wnid: 'n01443537', count: 3 },
      { class_index: 2, wnid: 'n01484850', count: 3 },
    ]);
    const timmInfo = JSON.parse(await readFile(join(dir, '_info.json'), 'utf8')) as unknown;
    expect(timmInfo).toEqual({
      name: 'test-shift',
      splits: { train: { name: 'train', num_samples: 10, filenames: ['00000.tar', '00001.tar', '00002.tar'], shard_lengths: [4, 4, 2] } },
    });
  });

  it('shiftJpegBytes gives the bytes of the shard file, so a content hash of an image matches its copy in a shift', async () => {
    const jpeg = await makeImage(11);
    const png = await makeImage(12, 'png');
    const webp = await makeImage(13, 'webp');
    for (const options of [{}, { jpegQuality: 80, reencodeJpeg: true }]) {
      const target = join(dir, `q-${Object.keys(options).length}`);
      const writer = await ShiftWriter.open(target, { ...OPTIONS, ...options });
      for (const [i, image] of [jpeg, png, webp].entries()) await writer.add({ sourceId: `pool/${i}`, classIndex: 0, image });
      await writer.close();
      const stored = (await collect(readClassShards({ shards: '00000.tar', root: target }))).map((record) => (record.ok ? record.sample.image.bytes : undefined));
      const expected = await Promise.all([jpeg, png, webp].map((image) => shiftJpegBytes(image, options)));
      expect(stored.map((bytes) => bytes?.toString('base64'))).toEqual(expected.map((bytes) => bytes.toString('base64')));
    }
    // JPEG input as is by default; other formats re-encoded, so their bytes differ from the input's.
    expect((await shiftJpegBytes(jpeg)).equals(jpeg)).toBe(true);
    expect((await shiftJpegBytes(png)).equals(png)).toBe(false);
    await expect(shiftJpegBytes(Buffer.from('not an image'))).rejects.toThrow(/cannot be stored as JPEG/);
    await expect(shiftJpegBytes(png, { jpegQuality: 0 })).rejects.toThrow(/jpegQuality must be an integer in 1..100/);
  });

  it('gives byte-identical shards for the same samples, and cuts shards by size', async () => {
    await writeShift(join(dir, 'a'), 8);
    await writeShift(join(dir, 'b'), 8);
    expect(await shardDigests(join(dir, 'a'))).toEqual(await shardDigests(join(dir, 'b')));

    const sized = await writeShift(join(dir, 'sized'), 8, { ...OPTIONS, maxSamplesPerShard: 100, maxBytesPerShard: 6000 });
    expect(sized.shards.length).toBeGreaterThan(1);
    for (const shard of sized.shards) {
      expect(shard.bytes).toBe((await stat(join(dir, 'sized', shard.name))).size);
      if (shard.samples > 1) expect(shard.bytes).toBeLessThanOrEqual(6000);
    }
    expect(sized.counts.samples).toBe(8);
  });

  it('skips ids it already holds and rejects bad samples without breaking', async () => {
    const writer = await ShiftWriter.open(dir, OPTIONS);
    const sample = await crashTestSample(0);
    const [a, b] = await Promise.all([writer.add(sample), writer.add(sample)]);
    expect([a.added, b.added]).toEqual([true, false]);
    expect(writer.has(a.id)).toBe(true);
    await expect(writer.add({ ...sample, sourceId: 'x', classIndex: 5 })).rejects.toMatchObject({ code: 'UNKNOWN_CLASS' });
    await expect(writer.add({ ...sample, sourceId: 'y', classIndex: 0, wnid: 'n01443537' })).rejects.toMatchObject({ code: 'UNKNOWN_CLASS' });
    await expect(writer.add({ ...sample, sourceId: 'z', image: Buffer.from('not an image') })).rejects.toMatchObject({ code: 'IMAGE_DECODE', key: 'z' });
    expect(writer.has(writer.idFor({ sourceId: 'z' }))).toBe(false);
    await writer.add(await crashTestSample(1));
    const summary = await writer.close();
    expect(summary.counts.samples).toBe(2);
    await expect(writer.add(sample)).rejects.toMatchObject({ code: 'SHIFT_CLOSED' });
  });

  it('refuses a directory that holds another shift or a complete one', async () => {
    const writer = await ShiftWriter.open(dir, OPTIONS);
    await expect(ShiftWriter.open(dir, OPTIONS)).rejects.toMatchObject({ code: 'SHIFT_MISMATCH' });
    await writer.add(await crashTestSample(0));
    await writer.close();
    await expect(ShiftWriter.open(dir, { ...OPTIONS, params: { threshold: 0.6, encoder: 'tiny' } })).rejects.toMatchObject({
      code: 'SHIFT_MISMATCH',
      message: expect.stringContaining('params_hash'),
    });
    await expect(ShiftWriter.open(dir, OPTIONS)).rejects.toMatchObject({ code: 'SHIFT_MISMATCH', message: expect.stringContaining('complete') });
  });

  it('continues after a crash (SIGKILL mid-shard) without duplicates, ending with the shards an uninterrupted run writes', async () => {
    const crashed = join(dir, 'crashed');
    await crashAfter(crashed, 7);
    // Two full shards committed, the seventh sample sits in a temporary shard.
    expect((await readdir(crashed)).filter((name) => name.includes('.tar')).sort()).toEqual(['00000.tar', '00001.tar', '00002.tar.tmp']);

    const writer = await ShiftWriter.open(crashed, OPTIONS);
    expect((await readdir(crashed)).some((name) => name.endsWith('.tmp'))).toBe(false);
    const ids = await Promise.all(Array.from({ length: 7 }, async (_, i) => writer.idFor(await crashTestSample(i))));
    expect(ids.map((id) => writer.has(id))).toEqual([true, true, true, true, true, true, false]);
    const added: boolean[] = [];
    for (let i = 0; i < 10; i++) added.push((await writer.add(await crashTestSample(i))).added);
    expect(added).toEqual([false, false, false, false, false, false, true, true, true, true]);
    const summary = await writer.close();
    expect(summary.counts.samples).toBe(10);

    const manifest = await expectManifestMatchesShards(crashed);
    expect(manifest.map((entry) => entry.source_id)).toEqual(Array.from({ length: 10 }, (_, i) => `pool/${String(i).padStart(4, '0')}`));
    await expectShardsOfUninterruptedRun(crashed, 10);
  });

  it('after a crash inside a commit, drops the half-listed shard and the torn manifest line', async () => {
    const target = join(dir, 'torn');
    await crashAfter(target, 9);
    // Three shards committed. Make it look as if the crash hit the third commit after the rename,
    // when only part of its manifest lines had reached the disk.
    const manifestFile = join(target, 'manifest.jsonl');
    const lines = (await readFile(manifestFile, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(9);
    await truncate(manifestFile, Buffer.byteLength(`${lines.slice(0, 7).join('\n')}\n`));
    await appendFile(manifestFile, (lines[7] ?? '').slice(0, 40));

    const writer = await ShiftWriter.open(target, OPTIONS);
    expect((await readdir(target)).filter((name) => name.endsWith('.tar')).sort()).toEqual(['00000.tar', '00001.tar']);
    expect(await manifestOf(target)).toHaveLength(6);
    for (let i = 0; i < 9; i++) expect(writer.has(writer.idFor(await crashTestSample(i)))).toBe(i < 6);
    for (let i = 0; i < 9; i++) await writer.add(await crashTestSample(i));
    await writer.close();
    expect((await expectManifestMatchesShards(target)).length).toBe(9);
  });

  it('suspends without completing: keeps the open shard, and a later open continues it to the shards an uninterrupted run writes', async () => {
    const target = join(dir, 'suspended');
    const writer = await ShiftWriter.open(target, OPTIONS);
    for (let i = 0; i < 7; i++) await writer.add(await crashTestSample(i));
    const summary = await writer.suspend();
    expect(summary).toMatchObject({ complete: false, counts: { samples: 6, shards: 2 }, open_shard: { name: '00002.tar', samples: 1 } });
    expect((await readdir(target)).filter((name) => name.includes('.tar') || name.startsWith('.') || name.startsWith('open')).sort()).toEqual([
      '00000.tar',
      '00001.tar',
      '00002.tar.tmp',
      'open-shard.json',
    ]);
    await expect(writer.add(await crashTestSample(7))).rejects.toMatchObject({ code: 'SHIFT_CLOSED' });
    await expect(writer.close()).rejects.toMatchObject({ code: 'SHIFT_CLOSED' });

    // The directory is free again, in this process too; the open shard's sample is known.
    const resumed = await ShiftWriter.open(target, OPTIONS);
    expect(resumed.size).toBe(7);
    const added: boolean[] = [];
    for (let i = 0; i < 10; i++) added.push((await resumed.add(await crashTestSample(i))).added);
    expect(added).toEqual([false, false, false, false, false, false, false, true, true, true]);
    expect((await resumed.close()).open_shard).toBeNull();
    expect((await readdir(target)).filter((name) => name.endsWith('.tmp') || name === 'open-shard.json')).toEqual([]);
    expect((await expectManifestMatchesShards(target)).map((entry) => entry.source_id)).toEqual(
      Array.from({ length: 10 }, (_, i) => `pool/${String(i).padStart(4, '0')}`),
    );
    await expectShardsOfUninterruptedRun(target, 10);
  });

  it('after a crash past a resumed open shard, keeps what suspend kept and drops what came after', async () => {
    const target = join(dir, 'suspended');
    await suspendAfter(target, 4);
    // A second process resumes, appends sample 4 to the open shard and is killed before the commit.
    await crashAfter(target, 5);
    const kept = JSON.parse(await readFile(join(target, 'open-shard.json'), 'utf8')) as { bytes: number };
    expect((await stat(join(target, '00001.tar.tmp'))).size).toBeGreaterThan(kept.bytes);
    const resumed = await ShiftWriter.open(target, OPTIONS);
    const ids = await Promise.all(Array.from({ length: 5 }, async (_, i) => resumed.idFor(await crashTestSample(i))));
    expect(ids.map((id) => resumed.has(id))).toEqual([true, true, true, true, false]);
    for (let i = 0; i < 10; i++) await resumed.add(await crashTestSample(i));
    await resumed.close();
    expect(await expectManifestMatchesShards(target)).toHaveLength(10);
    await expectShardsOfUninterruptedRun(target, 10);
  });

  it('starts the open shard afresh when the file suspend kept is gone', async () => {
    const target = join(dir, 'suspended');
    await suspendAfter(target, 7);
    await unlink(join(target, '00002.tar.tmp'));
    const resumed = await ShiftWriter.open(target, OPTIONS);
    expect(resumed.size).toBe(6);
    expect(resumed.has(resumed.idFor(await crashTestSample(6)))).toBe(false);
    expect((await readdir(target)).includes('open-shard.json')).toBe(false);
    for (let i = 0; i < 10; i++) await resumed.add(await crashTestSample(i));
    expect((await resumed.close()).counts.samples).toBe(10);
    expect(await expectManifestMatchesShards(target)).toHaveLength(10);
  });
});

/** Runs a writer in a child process, lets it add `count` samples, and kills it with SIGKILL. */
async function crashAfter(target: string, count: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./crash-child.test-util.ts', import.meta.url)), target, String(count)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`crash child exited early with ${code}`)));
  });
  child.kill('SIGKILL');
  await exited;
}
