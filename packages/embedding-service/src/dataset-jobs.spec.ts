import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShiftWriter, readParquetPool, type ParquetSample } from '@select/datasets';
import { createEventConsumer, type ReceivedEvent } from '@select/events';
import type { JobFile } from '@select/jobs';
import { createLogger } from '@select/platform';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countSamples, embedDataset, type DatasetFormat, type DatasetJobParams, type DatasetJobProgress } from './dataset-embedding.js';
import { EMBED_DATASET_JOB, datasetJobHandlers, openDatasetJobs } from './embed-dataset-job.js';
import { EmbeddingEngine } from './embedding-engine.js';
import { MODELS_DIR, fixtureImage, maxAbsDiff, reference, tarArchive } from './fixtures.test-util.js';
import { scanModels } from './model-layout.js';

const logger = createLogger({ service: 'embedding-jobs-test', level: 'silent' });
const images = ['landscape.jpg', 'exif-rotated.jpg', 'grayscale.jpg', 'cmyk.jpg', 'alpha.png', 'wide.webp', 'rgb16.png'];
const texts = reference.models['tiny-clip']!.texts!;
const clipImages = reference.models['tiny-clip']!.images!;
const fresh = (): DatasetJobProgress => ({ fileIndex: 0, cursor: undefined, done: 0, failed: 0 });
const never = new AbortController().signal;

/** The output read back with @select/datasets' clip-retrieval reader; it reports the empty caption as a bad row. */
async function readOutput(dir: string, captionColumn = 'caption'): Promise<Array<ParquetSample | null>> {
  const rows: Array<ParquetSample | null> = [];
  for await (const rec of readParquetPool({ embeddingsDir: dir, columns: { caption: [captionColumn] } })) {
    if (!rec.ok && !/no caption/.test(rec.error.message)) throw rec.error;
    rows.push(rec.ok ? rec.sample : null);
  }
  return rows;
}

/** Files a crashed or finished job must not leave behind. */
function leftovers(dir: string): string[] {
  return ['img_emb', 'text_emb', 'metadata'].flatMap((sub) => (existsSync(join(dir, sub)) ? readdirSync(join(dir, sub)) : [])).filter((f) => /partial|tmp/.test(f));
}

describe('dataset embedding jobs', () => {
  let engine: EmbeddingEngine;
  let work: string;
  let shard: string;

  beforeAll(async () => {
    engine = await EmbeddingEngine.start(await scanModels(MODELS_DIR), { sessions: { workers: 1, intraOpThreads: 1 }, preprocess: { threads: 2 } });
    work = mkdtempSync(join(tmpdir(), 'embed-dataset-'));
    // 7 captioned samples and one whose image is cut short: it must be dropped from every output file
    const members = images.flatMap((name, i) => [
      { name: `${String(i).padStart(6, '0')}.${name.split('.').pop()}`, data: fixtureImage(name) },
      { name: `${String(i).padStart(6, '0')}.txt`, data: Buffer.from(texts[i]!.text) },
    ]);
    members.push({ name: '000007.jpg', data: fixtureImage('landscape.jpg').subarray(0, 2000) }, { name: '000007.txt', data: Buffer.from('broken') });
    shard = join(work, 'pool-00000.tar');
    writeFileSync(shard, tarArchive(members));
  });
  afterAll(async () => {
    await engine.close();
    rmSync(work, { recursive: true, force: true });
  });

  const params = (outputDir: string, over: Partial<DatasetJobParams> = {}): DatasetJobParams => ({
    model: 'tiny-clip',
    inputUri: shard,
    inputFormat: 'webdataset',
    outputDir,
    embedImages: true,
    embedTexts: true,
    rowsPerFile: 3,
    ...over,
  });

  it('writes clip-retrieval layout, row-aligned, with the reference vectors', async () => {
    const out = join(work, 'clean');
    const progress = await embedDataset(engine, params(out), fresh(), async () => undefined, never);
    expect(progress).toMatchObject({ fileIndex: 3, done: 7, failed: 1 });
    expect(readdirSync(join(out, 'img_emb')).sort()).toEqual(['img_emb_0.npy', 'img_emb_1.npy', 'img_emb_2.npy']);
    expect(readdirSync(join(out, 'text_emb')).sort()).toEqual(['text_emb_0.npy', 'text_emb_1.npy', 'text_emb_2.npy']);
    expect(readdirSync(join(out, 'metadata')).sort()).toEqual(['metadata_0.parquet', 'metadata_1.parquet', 'metadata_2.parquet']);
    const rows = await readOutput(out);
    expect(rows.map((r) => r?.caption ?? '')).toEqual(texts.map((t) => t.text));
    rows.forEach((r, i) => {
      if (!r) return;
      expect(maxAbsDiff(r.imageEmbedding!, clipImages[images[i]!]!.vector)).toBeLessThan(1e-4);
      expect(maxAbsDiff(r.textEmbedding!, texts[i]!.vector)).toBeLessThan(1e-4);
    });
  });

  it('reports rows processed inside a file, before its checkpoint (a 10,000-row file takes minutes)', async () => {
    const seen: Array<{ processed: number; files: number; checkpoints: number }> = [];
    let checkpoints = 0;
    const final = await embedDataset(engine, params(join(work, 'row-progress'), { rowsPerFile: 100 }), fresh(), async () => void checkpoints++, never, {
      report: (processed, files) => seen.push({ processed, files, checkpoints }),
      everyMs: 0,
    });
    expect(final).toMatchObject({ fileIndex: 1, done: 7, failed: 1 });
    // one report per row, counting up to every record read (the unreadable one too), all before the one file's checkpoint
    expect(seen.map((r) => r.processed)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(seen.every((r) => r.files === 0 && r.checkpoints === 0)).toBe(true);
    expect(checkpoints).toBe(1);
    // rate-limited by default: a quick job gives none (its progress is the per-file checkpoints')
    const quiet: number[] = [];
    await embedDataset(engine, params(join(work, 'row-progress-quiet'), { rowsPerFile: 100 }), fresh(), async () => undefined, never, { report: (n) => quiet.push(n) });
    expect(quiet).toEqual([]);
  });

  it('resumes after a crash from the last checkpoint and ends with the same files', async () => {
    const out = join(work, 'crashy');
    let saved = fresh();
    let checkpoints = 0;
    const crashAfterTwo = async (p: DatasetJobProgress) => {
      saved = p;
      if (++checkpoints === 2) throw new Error('simulated crash');
    };
    await expect(embedDataset(engine, params(out), saved, crashAfterTwo, never)).rejects.toThrow('simulated crash');
    expect(saved.fileIndex).toBe(2);
    const final = await embedDataset(engine, params(out), saved, async () => undefined, never);
    expect(final).toMatchObject({ fileIndex: 3, done: 7, failed: 1 });
    const rows = await readOutput(out);
    expect(rows.map((r) => r?.caption ?? '')).toEqual(texts.map((t) => t.text));
  });

  it('reads parquet metadata whose rows name image files (relative to the parquet), dropping rows whose file is missing', async () => {
    const dir = join(work, 'parquet-pool');
    mkdirSync(join(dir, 'imgs'), { recursive: true });
    const names = images.slice(0, 4);
    for (const n of names) writeFileSync(join(dir, 'imgs', n), fixtureImage(n));
    const column = (name: string, data: string[]) => ({ name, data, type: 'STRING' as const });
    const paths = [...names.map((n) => `imgs/${n}`), 'imgs/missing.jpg'];
    const captions = [...names.map((_, i) => texts[i]!.text || 'empty'), 'gone'];
    writeFileSync(join(dir, 'part-0.parquet'), new Uint8Array(parquetWriteBuffer({ columnData: [column('image_path', paths), column('caption', captions)] })));
    const p = params(join(work, 'parquet-out'), { inputFormat: 'parquet', inputUri: join(dir, 'part-0.parquet'), rowsPerFile: 10 });
    expect(await countSamples(p, never)).toBe(5);
    expect(await countSamples({ ...p, limit: 2 }, never)).toBe(2);
    expect(await countSamples({ ...p, limit: 50 }, never)).toBe(5);
    expect(await embedDataset(engine, p, fresh(), async () => undefined, never)).toMatchObject({ fileIndex: 1, done: 4, failed: 1 });
    const rows = (await readOutput(p.outputDir)).map((r) => r!);
    expect(rows.map((r) => r.caption)).toEqual(captions.slice(0, 4));
    rows.forEach((r, i) => expect(maxAbsDiff(r.imageEmbedding!, clipImages[names[i]!]!.vector)).toBeLessThan(1e-4));
  });

  it('limit: only the first records, in the pool\'s order, counted as read across a resume', async () => {
    const out = join(work, 'limited');
    expect(await countSamples(params(out, { limit: 5 }), never)).toBe(5);
    let saved = fresh();
    let checkpoints = 0;
    const crashAfterOne = async (p: DatasetJobProgress) => {
      saved = p;
      if (++checkpoints === 1) throw new Error('simulated crash');
    };
    await expect(embedDataset(engine, params(out, { limit: 5 }), saved, crashAfterOne, never)).rejects.toThrow('simulated crash');
    expect(saved).toMatchObject({ fileIndex: 1, done: 3 });
    const final = await embedDataset(engine, params(out, { limit: 5 }), saved, async () => undefined, never);
    expect(final).toMatchObject({ fileIndex: 2, done: 5, failed: 0 });
    expect((await readOutput(out)).map((r) => r?.caption ?? '')).toEqual(texts.slice(0, 5).map((t) => t.text));
    // a limit past the pool's end reads it all: the broken last record is still dropped
    expect(await embedDataset(engine, params(join(work, 'limit-past-end'), { limit: 100 }), fresh(), async () => undefined, never)).toMatchObject({ done: 7, failed: 1 });
  });

  it('reads an ImageFolder tree and a shift written by ShiftWriter, images only, with their totals', async () => {
    const folder = join(work, 'folder');
    for (const [i, n] of images.entries()) {
      const wnid = i < 3 ? 'n01440764' : 'n01443537';
      mkdirSync(join(folder, wnid), { recursive: true });
      writeFileSync(join(folder, wnid, n), fixtureImage(n));
    }
    writeFileSync(join(folder, 'n01440764', 'notes.txt'), 'not an image');
    const shiftDir = join(work, 'shift');
    const writer = await ShiftWriter.open(shiftDir, { name: 'test-shift', strategy: 'test', classes: ['n01440764', 'n01443537'], maxSamplesPerShard: 2 });
    const jpegs = ['landscape.jpg', 'exif-rotated.jpg', 'grayscale.jpg', 'cmyk.jpg'];
    for (const [i, n] of jpegs.entries()) await writer.add({ sourceId: n, classIndex: i % 2, image: fixtureImage(n) });
    await writer.close();

    const cases: Array<[DatasetFormat, string, number]> = [
      ['imagefolder', folder, images.length],
      ['shift', shiftDir, jpegs.length],
    ];
    for (const [inputFormat, inputUri, count] of cases) {
      const p = params(join(work, `${inputFormat}-out`), { inputFormat, inputUri, embedTexts: false, rowsPerFile: 100 });
      expect(await countSamples(p, never), inputFormat).toBe(count);
      expect(await embedDataset(engine, p, fresh(), async () => undefined, never)).toMatchObject({ done: count, failed: 0 });
      expect(existsSync(join(p.outputDir, 'text_emb'))).toBe(false);
      const rows = await readOutput(p.outputDir, 'label');
      expect(rows).toHaveLength(count);
    }
    // JPEGs are stored in the shift byte for byte, so their vectors are the reference ones, in shard order
    const shiftRows = (await readOutput(join(work, 'shift-out'), 'label')).map((r) => r!);
    expect(shiftRows.map((r) => r.caption)).toEqual(['n01440764', 'n01443537', 'n01440764', 'n01443537']);
    shiftRows.forEach((r, i) => expect(maxAbsDiff(r.imageEmbedding!, clipImages[jpegs[i]!]!.vector)).toBeLessThan(1e-4));
  });

  it('runs as a job: Kafka progress and lifecycle events with the pool total, status by id, same request = same finished job', async () => {
    const prefix = `test-${randomUUID().slice(0, 8)}.`;
    // img2dataset writes a stats file beside each shard: it gives the total without reading the shard
    writeFileSync(join(work, 'pool-00000_stats.json'), JSON.stringify({ count: 8, successes: 8, failed_to_download: 0 }));
    const jobs = (await openDatasetJobs(engine, { jobsDir: join(work, 'jobs'), defaultModel: 'tiny-clip', logger, topicPrefix: prefix, publishEvents: true }))!;
    const request = { model: '', inputUri: shard, inputFormat: 'webdataset', outputUri: join(work, 'job-out'), embedImages: true, embedTexts: true, rowsPerFile: 4 };
    const started = await jobs.start(EMBED_DATASET_JOB, request);
    expect(started.state).toBe('JOB_STATE_RUNNING');
    const ended = await jobs.wait(started.jobId);
    // done counts samples read (7 written + 1 dropped), so that it reaches the total
    expect(ended).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '8', total: '8', kind: 'embed-dataset' });
    expect(ended.message).toMatch(/7 rows written.*1 dropped/);
    expect((await jobs.start(EMBED_DATASET_JOB, request)).state).toBe('JOB_STATE_SUCCEEDED');
    await jobs.close();

    const events: ReceivedEvent[] = [];
    const consumer = createEventConsumer({
      clientId: 'embedding-jobs-test',
      groupId: `g-${randomUUID()}`,
      topicPrefix: prefix,
      topics: ['jobs'],
      handleBatch: async (batch) => {
        events.push(...batch);
      },
    });
    await consumer.start();
    const deadline = Date.now() + 20_000;
    while (events.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await consumer.stop();
    const types = events.map((e) => e.envelope.type);
    expect(types).toEqual([
      'select.events.v1.JobLifecycle',
      'select.events.v1.JobProgress',
      'select.events.v1.JobProgress',
      'select.events.v1.JobLifecycle',
    ]);
    expect(events.every((e) => e.key === started.jobId)).toBe(true);
    expect(events[1]!.payload).toMatchObject({ done: '4', total: '8', unit: 'samples' });
    expect(events[2]!.payload).toMatchObject({ done: '8', total: '8' });
    expect(events[3]!.payload).toMatchObject({ state: 'JOB_STATE_SUCCEEDED' });

    // limit 0 is no limit: the same job; a limit is another job, which reads only the first records
    const again = (await openDatasetJobs(engine, { jobsDir: join(work, 'jobs'), defaultModel: 'tiny-clip', logger, topicPrefix: prefix, publishEvents: false }))!;
    expect(await again.start(EMBED_DATASET_JOB, { ...request, limit: '0' })).toMatchObject({ jobId: started.jobId, state: 'JOB_STATE_SUCCEEDED' });
    const limited = await again.start(EMBED_DATASET_JOB, { ...request, outputUri: join(work, 'job-out-limited'), limit: '3' });
    expect(limited.jobId).not.toBe(started.jobId);
    expect(await again.wait(limited.jobId)).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '3', total: '3' });
    await again.close();
  }, 60_000);

  it('resumes a job whose process was killed (SIGKILL) and ends with every sample exactly once, in order', async () => {
    // 240 samples in 30 files: the kill lands far from the end
    const cycle = ['landscape.jpg', 'exif-rotated.jpg', 'grayscale.jpg', 'small-upscale.png'];
    const members = Array.from({ length: 240 }, (_, i) => {
      const n = cycle[i % cycle.length]!;
      const key = String(i).padStart(6, '0');
      return [
        { name: `${key}.${n.split('.').pop()}`, data: fixtureImage(n) },
        { name: `${key}.txt`, data: Buffer.from(`sample ${i}`) },
      ];
    }).flat();
    const bigShard = join(work, 'big-00000.tar');
    writeFileSync(bigShard, tarArchive(members));
    const jobsDir = join(work, 'kill-jobs');
    const request = { model: 'tiny-clip', inputUri: bigShard, inputFormat: 'webdataset', outputUri: join(work, 'kill-out'), embedImages: true, embedTexts: true, rowsPerFile: 8 };

    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./dataset-job-child.test-util.ts', import.meta.url)), MODELS_DIR, jobsDir, JSON.stringify(request)], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const jobId = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        const m = /started (\S+)/.exec(d.toString());
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`child exited (${code}) before starting: ${stderr}`)));
    });
    const stateFile = join(jobsDir, `${jobId}.json`);
    const fileIndex = () => {
      try {
        return (JSON.parse(readFileSync(stateFile, 'utf8')) as JobFile<unknown, DatasetJobProgress>).checkpoint?.state.fileIndex ?? 0;
      } catch {
        return 0;
      }
    };
    const killBy = Date.now() + 30_000;
    while (fileIndex() < 3 && Date.now() < killBy) await new Promise((r) => setTimeout(r, 5));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const atKill = JSON.parse(readFileSync(stateFile, 'utf8')) as JobFile<unknown, DatasetJobProgress>;
    expect(atKill.status.state).toBe('JOB_STATE_RUNNING');
    expect(atKill.checkpoint!.state.fileIndex).toBeGreaterThanOrEqual(3);
    expect(atKill.checkpoint!.state.fileIndex).toBeLessThan(30);

    // Opened without resume(): starting the same request is what resumes the killed job here.
    const jobs = (await openDatasetJobs(engine, { jobsDir, defaultModel: 'tiny-clip', logger, topicPrefix: '', publishEvents: false }))!;
    const resumed = await jobs.start(EMBED_DATASET_JOB, request);
    expect(resumed.jobId).toBe(jobId);
    expect(resumed.message).toMatch(/^resuming after file \d+/);
    expect(await jobs.wait(jobId)).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '240' });
    await jobs.close();
    const rows = (await readOutput(request.outputUri)).map((r) => r!);
    expect(rows.map((r) => r.caption)).toEqual(Array.from({ length: 240 }, (_, i) => `sample ${i}`));
    rows.forEach((r, i) => expect(maxAbsDiff(r.imageEmbedding!, clipImages[cycle[i % cycle.length]!]!.vector)).toBeLessThan(1e-4));
    expect(readdirSync(join(request.outputUri, 'img_emb'))).toHaveLength(30);
    expect(leftovers(request.outputUri)).toEqual([]);
  }, 60_000);

  it('refuses requests it cannot serve, with the reason', async () => {
    const jobs = (await openDatasetJobs(engine, { jobsDir: join(work, 'jobs2'), defaultModel: 'tiny-clip', logger, topicPrefix: '', publishEvents: false }))!;
    const base = { model: '', inputUri: shard, inputFormat: 'webdataset', outputUri: join(work, 'x'), embedImages: true, embedTexts: false, rowsPerFile: 0 };
    const start = (request: typeof base) => jobs.start(EMBED_DATASET_JOB, request);
    await expect(start({ ...base, model: 'nope' })).rejects.toMatchObject({ code: 5 });
    await expect(start({ ...base, inputFormat: 'csv' })).rejects.toThrow(/not one of webdataset, parquet, imagefolder, shift, openclipart/);
    await expect(start({ ...base, outputUri: 'relative/dir' })).rejects.toThrow(/absolute/);
    await expect(start({ ...base, model: 'tiny-sentence' })).rejects.toThrow(/does not embed images/);
    await expect(start({ ...base, inputFormat: 'shift', inputUri: work, embedTexts: true })).rejects.toThrow(/no captions/);
    await expect(start({ ...base, limit: '-2' } as typeof base)).rejects.toThrow(/limit -2 must be a whole number of records/);
    expect(() => jobs.get('embed-dataset-0000')).toThrow(expect.objectContaining({ code: 5 }) as Error);
    await jobs.close();
    const off = await openDatasetJobs(engine, { jobsDir: undefined, defaultModel: 'tiny-clip', logger, topicPrefix: '', publishEvents: false });
    expect(off).toBeUndefined();
    expect(() => datasetJobHandlers(off).StartEmbedDataset(base as never)).toThrow(expect.objectContaining({ code: 9 }) as Error);
  });
});
