import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { readParquetPool, type ParquetSample } from '@select/datasets';
import { createEventConsumer, type ReceivedEvent } from '@select/events';
import { createLogger } from '@select/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedDataset, type DatasetJobParams, type DatasetJobProgress } from './dataset-embedding.js';
import { DatasetJobs } from './dataset-jobs.js';
import { EmbeddingEngine } from './embedding-engine.js';
import { MODELS_DIR, fixtureImage, maxAbsDiff, reference, tarArchive } from './fixtures.test-util.js';
import { scanModels } from './model-layout.js';

const logger = createLogger({ service: 'embedding-jobs-test', level: 'silent' });
const images = ['landscape.jpg', 'exif-rotated.jpg', 'grayscale.jpg', 'cmyk.jpg', 'alpha.png', 'wide.webp', 'rgb16.png'];
const texts = reference.models['tiny-clip']!.texts!;

/** The output read back with @select/datasets' clip-retrieval reader; it reports the empty caption as a bad row. */
async function readOutput(dir: string): Promise<Array<ParquetSample | null>> {
  const rows: Array<ParquetSample | null> = [];
  for await (const rec of readParquetPool({ embeddingsDir: dir })) {
    if (!rec.ok && !/no caption/.test(rec.error.message)) throw rec.error;
    rows.push(rec.ok ? rec.sample : null);
  }
  return rows;
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

  const params = (outputDir: string): DatasetJobParams => ({
    model: 'tiny-clip',
    inputUri: shard,
    inputFormat: 'webdataset',
    outputDir,
    embedImages: true,
    embedTexts: true,
    rowsPerFile: 3,
  });

  it('writes clip-retrieval layout, row-aligned, with the reference vectors', async () => {
    const out = join(work, 'clean');
    const progress = await embedDataset(engine, params(out), { fileIndex: 0, cursor: undefined, done: 0, failed: 0 }, async () => undefined, new AbortController().signal);
    expect(progress).toMatchObject({ fileIndex: 3, done: 7, failed: 1 });
    expect(readdirSync(join(out, 'img_emb')).sort()).toEqual(['img_emb_0.npy', 'img_emb_1.npy', 'img_emb_2.npy']);
    expect(readdirSync(join(out, 'metadata')).sort()).toEqual(['metadata_0.parquet', 'metadata_1.parquet', 'metadata_2.parquet']);
    const rows = await readOutput(out);
    expect(rows.map((r) => r?.caption ?? '')).toEqual(texts.map((t) => t.text));
    rows.forEach((r, i) => {
      if (!r) return;
      expect(maxAbsDiff(r.imageEmbedding!, reference.models['tiny-clip']!.images![images[i]!]!.vector)).toBeLessThan(1e-4);
      expect(maxAbsDiff(r.textEmbedding!, texts[i]!.vector)).toBeLessThan(1e-4);
    });
  });

  it('resumes after a crash from the last checkpoint and ends with the same files', async () => {
    const out = join(work, 'crashy');
    let saved: DatasetJobProgress = { fileIndex: 0, cursor: undefined, done: 0, failed: 0 };
    let checkpoints = 0;
    const crashAfterTwo = async (p: DatasetJobProgress) => {
      saved = p;
      if (++checkpoints === 2) throw new Error('simulated crash');
    };
    await expect(embedDataset(engine, params(out), saved, crashAfterTwo, new AbortController().signal)).rejects.toThrow('simulated crash');
    expect(saved.fileIndex).toBe(2);
    const final = await embedDataset(engine, params(out), saved, async () => undefined, new AbortController().signal);
    expect(final).toMatchObject({ fileIndex: 3, done: 7, failed: 1 });
    const rows = await readOutput(out);
    expect(rows.map((r) => r?.caption ?? '')).toEqual(texts.map((t) => t.text));
  });

  it('runs as a job: Kafka progress and lifecycle events, status by id, same request = same finished job', async () => {
    const prefix = `test-${randomUUID().slice(0, 8)}.`;
    const jobs = new DatasetJobs(engine, { jobsDir: join(work, 'jobs'), defaultModel: 'tiny-clip', logger, topicPrefix: prefix, publishEvents: true });
    const request = { model: '', inputUri: shard, inputFormat: 'webdataset', outputUri: join(work, 'job-out'), embedImages: true, embedTexts: true, rowsPerFile: 4 };
    const started = await jobs.start(request);
    expect(started.state).toBe('JOB_STATE_RUNNING');
    const ended = await jobs.wait(started.jobId);
    expect(ended).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '7', kind: 'embed-dataset' });
    expect((await jobs.start(request)).state).toBe('JOB_STATE_SUCCEEDED');
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
    expect(events[3]!.payload).toMatchObject({ state: 'JOB_STATE_SUCCEEDED' });
    expect(events[2]!.payload).toMatchObject({ done: '7' });
  }, 60_000);

  it('refuses requests it cannot serve, with the reason', async () => {
    const jobs = new DatasetJobs(engine, { jobsDir: join(work, 'jobs2'), defaultModel: 'tiny-clip', logger, topicPrefix: '', publishEvents: false });
    const base = { model: '', inputUri: shard, inputFormat: 'webdataset', outputUri: join(work, 'x'), embedImages: true, embedTexts: false, rowsPerFile: 0 };
    await expect(jobs.start({ ...base, model: 'nope' })).rejects.toMatchObject({ code: 5 });
    await expect(jobs.start({ ...base, inputFormat: 'parquet' })).rejects.toThrow(/WebDataset/);
    await expect(jobs.start({ ...base, outputUri: 'relative/dir' })).rejects.toThrow(/absolute/);
    await expect(jobs.start({ ...base, model: 'tiny-sentence' })).rejects.toThrow(/does not embed images/);
    await expect(jobs.get('embed-dataset-0000')).rejects.toMatchObject({ code: 5 });
    const off = new DatasetJobs(engine, { jobsDir: undefined, defaultModel: 'tiny-clip', logger, topicPrefix: '', publishEvents: false });
    await expect(off.start(base)).rejects.toMatchObject({ code: 9 });
  });
});
