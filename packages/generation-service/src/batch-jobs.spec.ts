import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { readShiftManifest, readWebDataset, type ManifestEntry } from '@select/datasets';
import { readEmbeddedParameters } from '@select/diffusion';
import { createEventConsumer, type ReceivedEvent } from '@select/events';
import { deleteTopicsWithPrefix, testBrokers } from '@select/testing';
import { afterAll, describe, expect, it } from 'vitest';
import type { JobStatusMessage } from './generate-batch-job.js';
import type { GenerationServer } from './server.js';
import { collect, connect, openStream, startTestServer, TINY_SD_MODEL, tinyModelsDir, unaryCall } from './test-server.test-util.js';

const BROKERS = testBrokers();
const prefix = `t-gen-${randomBytes(4).toString('hex')}-`;

// Every directory a test makes (shifts, job state, pools) goes when the file is done.
const made: string[] = [];
function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), name));
  made.push(dir);
  return dir;
}

afterAll(async () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
  await deleteTopicsWithPrefix(prefix, BROKERS);
});

const classBatch = (outputUri: string, imagesPerClass: number, format = 'IMAGE_FORMAT_PNG') => ({
  shiftName: 'sd1000-txt2img-mini',
  outputUri,
  sampling: { model: 'tiny-sd', steps: 2, scheduler: 'SCHEDULER_UNIPC', format },
  classPrompts: { promptTemplate: 'A photo of {class}', wnids: ['n01440764', 'n01443537'], imagesPerClass },
});

async function waitFor(server: GenerationServer, jobId: string, done: (s: JobStatusMessage) => boolean): Promise<JobStatusMessage> {
  const client = connect(server.address);
  try {
    let last: JobStatusMessage | undefined;
    for (let i = 0; i < 400; i++) {
      last = await unaryCall<JobStatusMessage>(client, 'getJob', { jobId });
      if (done(last)) return last;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`job ${jobId} did not get there: ${JSON.stringify(last)}`);
  } finally {
    client.close();
  }
}

async function manifest(dir: string): Promise<ManifestEntry[]> {
  const out: ManifestEntry[] = [];
  for await (const e of readShiftManifest(dir)) out.push(e);
  return out;
}

describe('StartBatch', () => {
  it('writes "A photo of {class}" with seeds 1..N per class into the shift, with provenance and Kafka events', async () => {
    const shiftDir = tempDir('gen-shift-');
    const jobsDir = tempDir('gen-jobs-');
    const server = await startTestServer({ jobsDir, publishJobEvents: true, kafkaBrokers: BROKERS, kafkaTopicPrefix: prefix, jobProgressIntervalMs: 0 });
    const client = connect(server.address);
    const events: ReceivedEvent[] = [];
    const consumer = createEventConsumer({
      brokers: BROKERS,
      clientId: 'generation-test',
      groupId: `${prefix}group`,
      topicPrefix: prefix,
      topics: ['jobs'],
      handleBatch: async (batch) => void events.push(...batch),
    });
    try {
      // JPEG: the shift writer stores JPEG bytes as they are, so the stored image can be compared.
      const started = await unaryCall<JobStatusMessage>(client, 'startBatch', classBatch(shiftDir, 2, 'IMAGE_FORMAT_JPEG'));
      expect(started).toMatchObject({ kind: 'generate-batch', total: '4', unit: 'images', outputUri: shiftDir });
      const final = await waitFor(server, started.jobId, (s) => s.state === 'JOB_STATE_SUCCEEDED' || s.state === 'JOB_STATE_FAILED');
      expect(final).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '4' });

      const entries = await manifest(shiftDir);
      expect(entries.map((e) => `${e.wnid}#${e.seed}`).sort()).toEqual(['n01440764#1', 'n01440764#2', 'n01443537#1', 'n01443537#2']);
      const samples = [];
      for await (const r of readWebDataset({ shards: join(shiftDir, entries[0]!.shard) })) if (r.ok) samples.push(r.sample);
      const sample = samples[0]!;
      const json = JSON.parse(sample.files.get('json')!.toString()) as { prompt: string; seed: number; extra: { parameters: Record<string, unknown> } };
      expect(json).toMatchObject({ prompt: 'A photo of tench', extra: { parameters: { model: 'tiny-sd', steps: 2, scheduler: 'unipc', seed: String(json.seed) } } });
      // The provenance is enough to regenerate the exact image: the same prompt, seed and sampling over
      // TextToImage give the stored bytes, parameters embedded in the JPEG included.
      const stored = sample.files.get('jpg')!;
      expect(JSON.parse(readEmbeddedParameters(stored)!)).toEqual(json.extra.parameters);
      const again = await collect(
        openStream(client, 'textToImage', { prompt: json.prompt, sampling: { ...classBatch(shiftDir, 1, 'IMAGE_FORMAT_JPEG').sampling, seeds: [String(json.seed)] } }),
      );
      expect(again.find((e) => e.image)!.image!.image.equals(stored)).toBe(true);

      await consumer.start();
      // Joining a new consumer group can take many seconds on a loaded 2-core machine.
      for (let i = 0; i < 600 && !events.some((e) => (e.payload as { state?: string }).state === 'JOB_STATE_SUCCEEDED'); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const lifecycle = events.filter((e) => e.envelope.type === 'select.events.v1.JobLifecycle').map((e) => (e.payload as { state: string }).state);
      expect(lifecycle).toEqual(['JOB_STATE_RUNNING', 'JOB_STATE_SUCCEEDED']);
      const progress = events.filter((e) => e.envelope.type === 'select.events.v1.JobProgress').map((e) => (e.payload as { done: string }).done);
      expect(progress.at(-1)).toBe('4');
      expect(events.every((e) => e.key === started.jobId)).toBe(true);
    } finally {
      await consumer.stop();
      client.close();
      await server.close();
    }
  }, 120_000);

  it('resumes after a restart and after CancelJob without duplicating samples', async () => {
    const shiftDir = tempDir('gen-shift-');
    const jobsDir = tempDir('gen-jobs-');
    const modelsDir = tinyModelsDir();
    const request = classBatch(shiftDir, 8);

    const first = await startTestServer({ jobsDir, modelsDir, jobProgressIntervalMs: 0 });
    const client = connect(first.address);
    const { jobId } = await unaryCall<JobStatusMessage>(client, 'startBatch', request);
    await waitFor(first, jobId, (s) => Number(s.done) >= 3);
    client.close();
    await first.close(); // shutdown interrupts the job; its state stays RUNNING on disk

    const second = await startTestServer({ jobsDir, modelsDir, jobProgressIntervalMs: 0 });
    const client2 = connect(second.address);
    try {
      await waitFor(second, jobId, (s) => Number(s.done) >= 6);
      const cancelled = await unaryCall<JobStatusMessage>(client2, 'cancelJob', { jobId });
      expect(cancelled.state).toBe('JOB_STATE_CANCELLED');
      const restarted = await unaryCall<JobStatusMessage>(client2, 'startBatch', request);
      expect(restarted.jobId).toBe(jobId);
      const final = await waitFor(second, jobId, (s) => s.state === 'JOB_STATE_SUCCEEDED' || s.state === 'JOB_STATE_FAILED');
      expect(final).toMatchObject({ state: 'JOB_STATE_SUCCEEDED' });
      const entries = await manifest(shiftDir);
      expect(entries).toHaveLength(16);
      expect(new Set(entries.map((e) => e.id)).size).toBe(16);
    } finally {
      client2.close();
      await second.close();
    }
  });

  it('makes one variation per reference image, label inherited (SD1000 img2img)', async () => {
    const pool = tempDir('gen-pool-');
    const png = readFileSync(`${TINY_SD_MODEL}/../reference-unipc.png`);
    for (const [wnid, file] of [['n01440764', 'a.png'], ['n01440764', 'b.png'], ['n01530575', 'c.png']] as const) {
      mkdirSync(join(pool, wnid), { recursive: true });
      writeFileSync(join(pool, wnid, file), png);
    }
    const shiftDir = tempDir('gen-shift-');
    const server = await startTestServer({ jobsDir: tempDir('gen-jobs-') });
    const client = connect(server.address);
    try {
      const { jobId } = await unaryCall<JobStatusMessage>(client, 'startBatch', {
        shiftName: 'sd1000-img2img-mini',
        outputUri: `file://${shiftDir}`,
        sampling: { steps: 2 },
        referenceImages: { inputUri: pool, inputFormat: 'imagefolder', variationsPerImage: 1 },
      });
      expect(await waitFor(server, jobId, (s) => s.state !== 'JOB_STATE_RUNNING' && s.state !== 'JOB_STATE_QUEUED')).toMatchObject({
        state: 'JOB_STATE_SUCCEEDED',
        done: '3',
      });
      const entries = await manifest(shiftDir);
      expect(entries.map((e) => `${e.wnid} ${e.source_id}`).sort()).toEqual(['n01440764 n01440764/a.png', 'n01440764 n01440764/b.png', 'n01530575 n01530575/c.png']);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('rejects bad batches with a useful status', async () => {
    const server = await startTestServer({ jobsDir: tempDir('gen-jobs-') });
    const client = connect(server.address);
    try {
      const base = classBatch(tempDir('gen-shift-'), 1);
      await expect(unaryCall(client, 'startBatch', { ...base, classPrompts: { ...base.classPrompts, promptTemplate: 'a photo' } })).rejects.toMatchObject({
        code: grpcStatus.INVALID_ARGUMENT,
        details: expect.stringMatching(/\{class\}/),
      });
      await expect(unaryCall(client, 'startBatch', { ...base, classPrompts: { ...base.classPrompts, wnids: ['n99999999'] } })).rejects.toMatchObject({
        code: grpcStatus.INVALID_ARGUMENT,
      });
      await expect(
        unaryCall(client, 'startBatch', { ...base, classPrompts: undefined, referenceImages: { inputUri: '/tmp', inputFormat: '', variationsPerImage: 1 } }),
      ).rejects.toMatchObject({ code: grpcStatus.FAILED_PRECONDITION, details: expect.stringMatching(/image-variations/) });
      await expect(
        unaryCall(client, 'startBatch', {
          ...base,
          sampling: { model: 'tiny-sd-variations' },
          classPrompts: undefined,
          referenceImages: { inputUri: '/tmp', inputFormat: 'parquet', variationsPerImage: 1 },
        }),
      ).rejects.toMatchObject({ code: grpcStatus.INVALID_ARGUMENT, details: expect.stringMatching(/input_format/) });
      await expect(unaryCall(client, 'getJob', { jobId: 'gen-nope' })).rejects.toMatchObject({ code: grpcStatus.NOT_FOUND });
    } finally {
      client.close();
      await server.close();
    }
  });
});

describe('the common job API of the generation service (ListJobs, WatchJob over gRPC)', () => {
  type ListJobsResponse = { jobs: JobStatusMessage[]; nextPageToken: string };
  const watch = (client: ReturnType<typeof connect>, jobId: string, deadlineMs: number) =>
    collect(openStream(client, 'watchJob', { jobId }, { deadline: Date.now() + deadlineMs })) as unknown as Promise<JobStatusMessage[]>;

  it('WatchJob follows a batch to its end and stops at its deadline; ListJobs filters by state and pages', async () => {
    const server = await startTestServer({ jobsDir: tempDir('gen-jobs-'), jobProgressIntervalMs: 0 });
    const client = connect(server.address);
    try {
      const small = await unaryCall<JobStatusMessage>(client, 'startBatch', classBatch(tempDir('gen-shift-'), 1));
      const seen = await watch(client, small.jobId, 60_000);
      expect(seen[0]!.jobId).toBe(small.jobId);
      expect(seen.at(-1)).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '2', total: '2' });
      // progress arrived in between, never going back
      const done = seen.map((s) => Number(s.done));
      expect(done).toEqual([...done].sort((a, b) => a - b));

      const big = await unaryCall<JobStatusMessage>(client, 'startBatch', classBatch(tempDir('gen-shift-'), 50));
      await expect(watch(client, big.jobId, 300)).rejects.toMatchObject({ code: grpcStatus.DEADLINE_EXCEEDED });
      const running = await unaryCall<ListJobsResponse>(client, 'listJobs', { state: 'JOB_STATE_RUNNING' });
      expect(running.jobs.map((j) => j.jobId)).toEqual([big.jobId]);
      const page1 = await unaryCall<ListJobsResponse>(client, 'listJobs', { kind: 'generate-batch', pageSize: 1 });
      const page2 = await unaryCall<ListJobsResponse>(client, 'listJobs', { kind: 'generate-batch', pageSize: 1, pageToken: page1.nextPageToken });
      expect([...page1.jobs, ...page2.jobs].map((j) => j.jobId)).toEqual([big.jobId, small.jobId]);
      expect(page2.nextPageToken).toBe('');
      const watching = watch(client, big.jobId, 60_000);
      await unaryCall(client, 'cancelJob', { jobId: big.jobId });
      expect((await watching).at(-1)).toMatchObject({ jobId: big.jobId, state: 'JOB_STATE_CANCELLED' });
      await expect(watch(client, 'generate-batch-nope', 5_000)).rejects.toMatchObject({ code: grpcStatus.NOT_FOUND });
    } finally {
      client.close();
      await server.close();
    }
  }, 120_000);

  it('without GENERATION_JOBS_DIR: StartBatch is refused and there are no jobs', async () => {
    const server = await startTestServer({});
    const client = connect(server.address);
    try {
      await expect(unaryCall(client, 'startBatch', classBatch(tempDir('gen-shift-'), 1))).rejects.toMatchObject({
        code: grpcStatus.FAILED_PRECONDITION,
        details: expect.stringMatching(/GENERATION_JOBS_DIR/),
      });
      expect(await unaryCall<ListJobsResponse>(client, 'listJobs', {})).toMatchObject({ jobs: [], nextPageToken: '' });
      await expect(unaryCall(client, 'getJob', { jobId: 'x' })).rejects.toMatchObject({ code: grpcStatus.NOT_FOUND });
    } finally {
      client.close();
      await server.close();
    }
  });
});
