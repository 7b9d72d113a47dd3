import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { writeNpy } from '@select/datasets';
import { createEventConsumer, type ReceivedEvent } from '@select/events';
import { deleteTopicsWithPrefix, testBrokers } from '@select/testing';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clustered, startTestServer, statusOf, tempDir } from './fixtures.test-util.js';
import { RetrievalClient, type JobStatusMsg } from './retrieval-client.js';

const D = 16;
let dir: { path: string; remove: () => Promise<void> };
const cleanup: (() => Promise<void> | void)[] = [];
beforeEach(async () => {
  dir = await tempDir('bulk-load-');
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await dir.remove();
});

/** A clip-retrieval folder as clip-retrieval and the embedding service write it: two parts. */
async function writeClipRetrievalFolder(root: string, parts: Float32Array[][], options: { captions?: boolean } = {}): Promise<void> {
  for (const sub of ['metadata', 'img_emb', 'text_emb']) await mkdir(join(root, sub), { recursive: true });
  let row = 0;
  for (const [n, vectors] of parts.entries()) {
    const flat = new Float32Array(vectors.length * D);
    vectors.forEach((v, i) => flat.set(v, i * D));
    await writeNpy(join(root, 'img_emb', `img_emb_${n}.npy`), flat, { dim: D });
    await writeNpy(join(root, 'text_emb', `text_emb_${n}.npy`), flat.map((x) => -x), { dim: D });
    const keys = vectors.map(() => `key${String(row++).padStart(5, '0')}`);
    parquetWriteFile({
      filename: join(root, 'metadata', `metadata_${n}.parquet`),
      columnData: [
        { name: 'image_path', data: keys.map((k) => `images/${k}.jpg`), type: 'STRING' },
        ...(options.captions === false ? [] : [{ name: 'caption', data: keys.map((k) => `a photo of ${k}`), type: 'STRING' as const }]),
        { name: 'key', data: keys, type: 'STRING' },
        { name: 'wnid', data: keys.map((_, i) => `n0${i % 2}`), type: 'STRING' },
      ],
    });
  }
}

async function waitForJob(client: RetrievalClient, jobId: string): Promise<JobStatusMsg> {
  for (;;) {
    const job = await client.getJob(jobId);
    if (job.state !== 'JOB_STATE_RUNNING' && job.state !== 'JOB_STATE_QUEUED') return job;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('BulkLoad', () => {
  it('loads a clip-retrieval folder with ids and metadata from the parquet', async () => {
    const vectors = clustered(700, D, 5);
    await writeClipRetrievalFolder(join(dir.path, 'pool'), [vectors.slice(0, 400), vectors.slice(400)]);
    const running = await startTestServer(join(dir.path, 'data'), { addBatchSize: 128 });
    const client = new RetrievalClient(running.address);
    cleanup.push(() => running.close(), () => client.close());
    await client.createIndex({ name: 'pool', dimension: D });

    const started = await client.bulkLoad({ index: 'pool', inputUri: join(dir.path, 'pool'), idColumn: 'key', metadataColumns: ['wnid', 'caption'] });
    expect(started).toMatchObject({ kind: 'bulk-load', unit: 'vectors', outputUri: 'pool' });
    const job = await waitForJob(client, started.jobId);
    expect(job).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '700', total: '700' });
    expect(job.message).toBe('loaded 700 vectors (0 replaced an existing id), skipped 0');

    const hit = await client.search({ index: 'pool', queries: [vectors[450]!], k: 1, exact: true, includeMetadata: true });
    expect(hit.results[0]!.neighbors[0]).toMatchObject({ id: 'key00450', metadata: { wnid: 'n00', caption: 'a photo of key00450' } });

    // Text embeddings with row numbers as ids, into a second index; a file: URL works too.
    await client.createIndex({ name: 'texts', dimension: D });
    const textJob = await waitForJob(
      client,
      (await client.bulkLoad({ index: 'texts', inputUri: `file://${join(dir.path, 'pool')}`, embeddings: 'text_emb' })).jobId,
    );
    expect(textJob.state).toBe('JOB_STATE_SUCCEEDED');
    const negated = Float32Array.from(vectors[10]!, (x) => -x);
    const text = await client.search({ index: 'texts', queries: [negated], k: 1, exact: true });
    expect(text.results[0]!.neighbors[0]!.id).toBe('10');
  });

  it('reports a job after a restart and resumes it from its checkpoint', async () => {
    const vectors = clustered(12_000, D, 7);
    const parts = [0, 1, 2, 3].map((p) => vectors.slice(p * 3000, (p + 1) * 3000));
    await writeClipRetrievalFolder(join(dir.path, 'pool'), parts);
    const data = join(dir.path, 'data');
    const first = await startTestServer(data, { addBatchSize: 16 });
    const firstClient = new RetrievalClient(first.address);
    await firstClient.createIndex({ name: 'pool', dimension: D });
    const { jobId } = await firstClient.bulkLoad({ index: 'pool', inputUri: join(dir.path, 'pool'), idColumn: 'key' });
    let before = await firstClient.getJob(jobId);
    while (Number(before.done) < 500) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      before = await firstClient.getJob(jobId);
    }
    // A stop half-way: the job is checkpointed, not ended.
    firstClient.close();
    await first.close();
    expect(before.state).toBe('JOB_STATE_RUNNING');

    const second = await startTestServer(data, { addBatchSize: 16 });
    const client = new RetrievalClient(second.address);
    cleanup.push(() => second.close(), () => client.close());
    const resumed = await client.getJob(jobId);
    expect(resumed).toMatchObject({ jobId, kind: 'bulk-load', total: '12000', createdUnixMs: before.createdUnixMs });
    expect(Number(resumed.done)).toBeGreaterThanOrEqual(Number(before.done));
    const job = await waitForJob(client, jobId);
    expect(job).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '12000' });
    // Nothing before the checkpoint was read twice (a re-read row would count as replaced).
    expect(job.message).toBe('loaded 12000 vectors (0 replaced an existing id), skipped 0');
    expect((await client.getStats('pool')).size).toBe('12000');
    const last = await client.search({ index: 'pool', queries: [vectors[11_999]!], k: 1, exact: true });
    expect(last.results[0]!.neighbors[0]!.id).toBe('key11999');

    // Finished jobs are reported after a restart too.
    client.close();
    await second.close();
    cleanup.length = 0;
    const third = await startTestServer(data);
    const thirdClient = new RetrievalClient(third.address);
    cleanup.push(() => third.close(), () => thirdClient.close());
    expect(await thirdClient.getJob(jobId)).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', message: job.message });
  });

  it('loads the embeddings of an uncaptioned pool (an ImageFolder embedded by the embedding service)', async () => {
    const vectors = clustered(50, D, 2);
    await writeClipRetrievalFolder(join(dir.path, 'pool'), [vectors], { captions: false });
    const running = await startTestServer(join(dir.path, 'data'));
    const client = new RetrievalClient(running.address);
    cleanup.push(() => running.close(), () => client.close());
    await client.createIndex({ name: 'refs', dimension: D });
    const job = await waitForJob(client, (await client.bulkLoad({ index: 'refs', inputUri: join(dir.path, 'pool'), idColumn: 'key' })).jobId);
    expect(job).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', message: 'loaded 50 vectors (0 replaced an existing id), skipped 0' });
    expect((await client.getStats('refs')).size).toBe('50');
  });

  it('fails a load in which every row was skipped, with the first problem, instead of reporting an empty success', async () => {
    await writeClipRetrievalFolder(join(dir.path, 'pool'), [clustered(5, D, 1)]);
    const running = await startTestServer(join(dir.path, 'data'));
    const client = new RetrievalClient(running.address);
    cleanup.push(() => running.close(), () => client.close());
    await client.createIndex({ name: 'ids', dimension: D });
    // An id column that the parquet lacks: its whole part is skipped.
    const job = await waitForJob(client, (await client.bulkLoad({ index: 'ids', inputUri: join(dir.path, 'pool'), idColumn: 'no_such_column' })).jobId);
    expect(job.state).toBe('JOB_STATE_FAILED');
    expect(job.message).toMatch(/^no vector loaded \(1 records skipped\); first problem: .*metadata_0\.parquet: missing column\(s\) no_such_column/);
  });

  it('fails the job, naming both dimensions, when the embeddings do not fit the index', async () => {
    await writeClipRetrievalFolder(join(dir.path, 'pool'), [clustered(10, D, 1)]);
    const running = await startTestServer(join(dir.path, 'data'));
    const client = new RetrievalClient(running.address);
    cleanup.push(() => running.close(), () => client.close());
    await client.createIndex({ name: 'wide', dimension: D * 2 });
    const job = await waitForJob(client, (await client.bulkLoad({ index: 'wide', inputUri: join(dir.path, 'pool') })).jobId);
    expect(job.state).toBe('JOB_STATE_FAILED');
    expect(job.message).toBe(`the embeddings have dimension ${D}; index "wide" has ${D * 2}`);
    expect((await client.getStats('wide')).size).toBe('0');
  });
});

describe('the common job API of the retrieval service (ListJobs, WatchJob, CancelJob over gRPC)', () => {
  it('watches a load to its end, lists jobs by state in pages, and treats a re-created index as a new target', async () => {
    await writeClipRetrievalFolder(join(dir.path, 'pool'), [clustered(300, D, 3)]);
    const running = await startTestServer(join(dir.path, 'data'), { addBatchSize: 64 });
    const client = new RetrievalClient(running.address);
    cleanup.push(() => running.close(), () => client.close());
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      await client.createIndex({ name, dimension: D });
      const { jobId } = await client.bulkLoad({ index: name, inputUri: join(dir.path, 'pool') });
      const seen: JobStatusMsg[] = [];
      for await (const status of client.watchJob(jobId, { deadlineMs: 30_000 })) seen.push(status);
      expect(seen.at(-1)).toMatchObject({ jobId, state: 'JOB_STATE_SUCCEEDED', done: '300', total: '300', outputUri: name });
      ids.push(jobId);
    }
    const first = await client.listJobs({ kind: 'bulk-load', pageSize: 2 });
    expect(first.jobs.map((j) => j.jobId)).toEqual([ids[2], ids[1]]);
    const second = await client.listJobs({ kind: 'bulk-load', pageSize: 2, pageToken: first.nextPageToken });
    expect(second).toMatchObject({ jobs: [{ jobId: ids[0] }], nextPageToken: '' });
    expect((await client.listJobs({ state: 'JOB_STATE_FAILED' })).jobs).toEqual([]);

    // The same request again is the same finished job...
    expect(await client.bulkLoad({ index: 'a', inputUri: join(dir.path, 'pool') })).toMatchObject({ jobId: ids[0], state: 'JOB_STATE_SUCCEEDED' });
    // ...but once the index is dropped and created again, it is a new load into the new index.
    await client.dropIndex('a');
    await client.createIndex({ name: 'a', dimension: D });
    const reload = await client.bulkLoad({ index: 'a', inputUri: join(dir.path, 'pool') });
    expect(reload.jobId).not.toBe(ids[0]);
    for await (const status of client.watchJob(reload.jobId, { deadlineMs: 30_000 })) expect(status.jobId).toBe(reload.jobId);
    expect((await client.getStats('a')).size).toBe('300');
    expect(await statusOf(client.getJob('bulk-load-nope'))).toBe('NOT_FOUND');
    expect(await statusOf(client.listJobs({ pageToken: '!!' }))).toBe('INVALID_ARGUMENT');
  });

  it('a service stop ends WatchJob with UNAVAILABLE while the job stays resumable', async () => {
    await writeClipRetrievalFolder(join(dir.path, 'pool'), [clustered(12_000, D, 5)]);
    const running = await startTestServer(join(dir.path, 'data'), { addBatchSize: 16 });
    const client = new RetrievalClient(running.address);
    cleanup.push(() => client.close());
    await client.createIndex({ name: 'pool', dimension: D });
    const { jobId } = await client.bulkLoad({ index: 'pool', inputUri: join(dir.path, 'pool') });
    const seen: JobStatusMsg[] = [];
    const watched = (async () => {
      for await (const status of client.watchJob(jobId, { deadlineMs: 30_000 })) seen.push(status);
    })();
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    const outcome = statusOf(watched);
    await running.close();
    expect(await outcome).toBe('UNAVAILABLE');
    expect(seen.at(-1)!.state).toBe('JOB_STATE_RUNNING');
  });

  it('CancelJob stops a load at a checkpoint; WatchJob ends at its deadline; BulkLoad again resumes without re-reading', async () => {
    const vectors = clustered(12_000, D, 9);
    await writeClipRetrievalFolder(join(dir.path, 'pool'), [0, 1, 2, 3].map((p) => vectors.slice(p * 3000, (p + 1) * 3000)));
    const running = await startTestServer(join(dir.path, 'data'), { addBatchSize: 16 });
    const client = new RetrievalClient(running.address);
    cleanup.push(() => running.close(), () => client.close());
    await client.createIndex({ name: 'pool', dimension: D });
    const request = { index: 'pool', inputUri: join(dir.path, 'pool'), idColumn: 'key' };
    const { jobId } = await client.bulkLoad(request);
    expect(await statusOf((async () => { for await (const _ of client.watchJob(jobId, { deadlineMs: 200 })); })())).toBe('DEADLINE_EXCEEDED');
    const watched = (async () => {
      const seen: JobStatusMsg[] = [];
      for await (const status of client.watchJob(jobId, { deadlineMs: 30_000 })) seen.push(status);
      return seen;
    })();
    while (Number((await client.getJob(jobId)).done) < 500) await new Promise((r) => setTimeout(r, 5));
    const cancelled = await client.cancelJob(jobId);
    expect(cancelled.state).toBe('JOB_STATE_CANCELLED');
    expect(Number(cancelled.done)).toBeLessThan(12_000);
    expect((await watched).at(-1)).toMatchObject({ jobId, state: 'JOB_STATE_CANCELLED' });
    expect((await client.listJobs({ state: 'JOB_STATE_CANCELLED' })).jobs.map((j) => j.jobId)).toEqual([jobId]);

    const resumed = await client.bulkLoad(request);
    expect(resumed).toMatchObject({ jobId, state: 'JOB_STATE_RUNNING', done: cancelled.done });
    expect(resumed.message).toMatch(/^resuming after row \d+/);
    const job = await waitForJob(client, jobId);
    expect(job).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '12000' });
    expect(job.message).toBe('loaded 12000 vectors (0 replaced an existing id), skipped 0');
  });
});

describe('BulkLoad events', () => {
  const prefix = `t-retrieval-${Math.random().toString(16).slice(2, 10)}-`;
  afterAll(() => deleteTopicsWithPrefix(prefix, testBrokers()));

  it('publishes JobLifecycle and JobProgress on select.jobs.v1, keyed by the job id', async () => {
    await writeClipRetrievalFolder(join(dir.path, 'pool'), [clustered(200, D, 4)]);
    const running = await startTestServer(join(dir.path, 'data'), { publishJobEvents: true, kafkaBrokers: testBrokers(), kafkaTopicPrefix: prefix });
    const client = new RetrievalClient(running.address);
    await client.createIndex({ name: 'pool', dimension: D });
    const { jobId } = await client.bulkLoad({ index: 'pool', inputUri: join(dir.path, 'pool') });
    expect((await waitForJob(client, jobId)).state).toBe('JOB_STATE_SUCCEEDED');
    client.close();
    await running.close(); // flushes the events

    const events: ReceivedEvent[] = [];
    const consumer = createEventConsumer({
      brokers: testBrokers(),
      clientId: 'retrieval-events-test',
      groupId: `${prefix}group`,
      topicPrefix: prefix,
      topics: ['jobs'],
      fromBeginning: true,
      handleBatch: async (batch) => void events.push(...batch),
    });
    await consumer.start();
    try {
      for (let i = 0; i < 600 && !events.some((e) => (e.payload as { state?: string }).state === 'JOB_STATE_SUCCEEDED'); i++) await new Promise((r) => setTimeout(r, 100));
    } finally {
      await consumer.stop();
    }
    expect(events.every((e) => e.key === jobId)).toBe(true);
    const lifecycle = events.filter((e) => e.envelope.type === 'select.events.v1.JobLifecycle').map((e) => (e.payload as { state: string }).state);
    expect(lifecycle).toEqual(['JOB_STATE_RUNNING', 'JOB_STATE_SUCCEEDED']);
    const progress = events.filter((e) => e.envelope.type === 'select.events.v1.JobProgress').map((e) => e.payload as { done: string; total: string; unit: string });
    expect(progress.at(-1)).toMatchObject({ done: '200', total: '200', unit: 'vectors' });
  }, 90_000);
});
