import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { commonV1 } from '@select/contracts';
import { createLogger, resolveConfig } from '@select/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddingConfigSchema } from './config.js';
import { MODELS_DIR, fixtureImage, tarArchive } from './fixtures.test-util.js';
import { connect, unaryCall, type Client } from './grpc-client.test-util.js';
import { startEmbeddingServer, type EmbeddingServer } from './server.js';

type JobStatus = commonV1.JobStatus__Output;
type ListJobsResponse = commonV1.ListJobsResponse__Output;

/** WatchJob's messages until the stream ends; rejects with the call's error. */
function watchJob(client: Client, jobId: string, options: { deadlineMs?: number; cancelAfterFirst?: boolean } = {}): Promise<JobStatus[]> {
  const call = (client['watchJob'] as unknown as (r: object, o: grpc.CallOptions) => grpc.ClientReadableStream<JobStatus>).call(client, { jobId }, {
    deadline: Date.now() + (options.deadlineMs ?? 60_000),
  });
  return new Promise((resolve, reject) => {
    const out: JobStatus[] = [];
    call.on('data', (s: JobStatus) => {
      out.push(s);
      if (options.cancelAfterFirst) call.cancel();
    });
    call.on('error', (err: grpc.ServiceError) => (options.cancelAfterFirst && err.code === grpc.status.CANCELLED ? resolve(out) : reject(err)));
    call.on('end', () => resolve(out));
  });
}

describe('the common job API of the embedding service (ListJobs, WatchJob, GetJob, CancelJob over gRPC)', () => {
  let work: string;
  let running: EmbeddingServer;
  let client: Client;
  let shard: string;
  let bigShard: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'embedding-job-api-'));
    const names = ['landscape.jpg', 'grayscale.jpg', 'exif-rotated.jpg'];
    shard = join(work, 'small-00000.tar');
    const members = (count: number) =>
      Array.from({ length: count }, (_, i) => [
        { name: `${String(i).padStart(6, '0')}.jpg`, data: fixtureImage(names[i % 3]!) },
        { name: `${String(i).padStart(6, '0')}.txt`, data: Buffer.from(`sample ${i}`) },
      ]).flat();
    writeFileSync(shard, tarArchive(members(3)));
    bigShard = join(work, 'big-00000.tar');
    writeFileSync(bigShard, tarArchive(members(400)));
    const config = resolveConfig(
      embeddingConfigSchema,
      { modelsDir: MODELS_DIR, port: 0, inferenceWorkers: 1, intraOpThreads: 1, preprocessThreads: 1, jobsDir: join(work, 'jobs'), publishJobEvents: false },
      {},
    );
    running = await startEmbeddingServer(config, { logger: createLogger({ service: 'embedding-job-api-test', level: 'silent' }) });
    client = connect(running.address);
  });
  afterAll(async () => {
    client.close();
    await running.close();
    rmSync(work, { recursive: true, force: true });
  });

  const request = (out: string, inputUri = shard, rowsPerFile = 2) => ({
    model: 'tiny-clip',
    inputUri,
    inputFormat: 'webdataset',
    outputUri: join(work, out),
    embedImages: true,
    embedTexts: false,
    rowsPerFile,
  });

  it('WatchJob streams a job from its status now to its terminal state; ListJobs pages and filters', async () => {
    const ids: string[] = [];
    for (const out of ['a', 'b', 'c']) {
      const started = await unaryCall<JobStatus>(client, 'startEmbedDataset', request(out));
      const seen = await watchJob(client, started.jobId);
      expect(seen.length).toBeGreaterThanOrEqual(1);
      expect(seen.at(-1)).toMatchObject({ jobId: started.jobId, state: 'JOB_STATE_SUCCEEDED', done: '3', unit: 'samples' });
      expect(seen.at(-1)!.message).toMatch(/3 rows written .* 0 dropped/);
      ids.push(started.jobId);
    }
    const first = await unaryCall<ListJobsResponse>(client, 'listJobs', { kind: 'embed-dataset', pageSize: 2 });
    expect(first.jobs.map((j) => j.jobId)).toEqual([ids[2], ids[1]]);
    expect(first.nextPageToken).not.toBe('');
    const second = await unaryCall<ListJobsResponse>(client, 'listJobs', { kind: 'embed-dataset', pageSize: 2, pageToken: first.nextPageToken });
    expect(second.jobs.map((j) => j.jobId)).toEqual([ids[0]]);
    expect(second.nextPageToken).toBe('');
    expect((await unaryCall<ListJobsResponse>(client, 'listJobs', { state: 'JOB_STATE_SUCCEEDED' })).jobs).toHaveLength(3);
    expect((await unaryCall<ListJobsResponse>(client, 'listJobs', { state: 'JOB_STATE_RUNNING' })).jobs).toHaveLength(0);
    expect((await unaryCall<ListJobsResponse>(client, 'listJobs', { kind: 'train' })).jobs).toHaveLength(0);
    await expect(unaryCall(client, 'listJobs', { pageToken: 'not-a-token' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, message: expect.stringMatching(/page_token/) });
    await expect(watchJob(client, 'embed-dataset-nope')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('WatchJob ends at the call deadline and on client cancel; CancelJob ends the job and its watchers', async () => {
    const { jobId } = await unaryCall<JobStatus>(client, 'startEmbedDataset', request('big', bigShard, 8));
    await expect(watchJob(client, jobId, { deadlineMs: 300 })).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    const cancelledEarly = await watchJob(client, jobId, { cancelAfterFirst: true });
    expect(cancelledEarly[0]!.jobId).toBe(jobId);
    // The server let go of both calls.
    for (let i = 0; i < 100 && running.server.activeCalls > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(running.server.activeCalls).toBe(0);

    const watching = watchJob(client, jobId);
    const cancelled = await unaryCall<JobStatus>(client, 'cancelJob', { jobId });
    expect(cancelled.state).toBe('JOB_STATE_CANCELLED');
    const seen = await watching;
    expect(seen.at(-1)).toMatchObject({ jobId, state: 'JOB_STATE_CANCELLED' });
    expect(Number(seen.at(-1)!.done)).toBeLessThan(400);
    expect((await unaryCall<ListJobsResponse>(client, 'listJobs', { state: 'JOB_STATE_CANCELLED' })).jobs.map((j) => j.jobId)).toEqual([jobId]);
  });

  it('refuses StartEmbedDataset with FAILED_PRECONDITION when jobs are off, and lists no jobs', async () => {
    const config = resolveConfig(embeddingConfigSchema, { modelsDir: MODELS_DIR, port: 0, inferenceWorkers: 1, intraOpThreads: 1, publishJobEvents: false }, {});
    const off = await startEmbeddingServer(config, { logger: createLogger({ service: 'embedding-job-api-test', level: 'silent' }) });
    const offClient = connect(off.address);
    try {
      await expect(unaryCall(offClient, 'startEmbedDataset', request('off'))).rejects.toMatchObject({
        code: grpc.status.FAILED_PRECONDITION,
        message: expect.stringMatching(/EMBEDDING_JOBS_DIR/),
      });
      expect(await unaryCall<ListJobsResponse>(offClient, 'listJobs', {})).toMatchObject({ jobs: [], nextPageToken: '' });
      for (const method of ['getJob', 'cancelJob']) {
        await expect(unaryCall(offClient, method, { jobId: 'x' }), method).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, message: expect.stringMatching(/EMBEDDING_JOBS_DIR/) });
      }
      await expect(watchJob(offClient, 'x')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    } finally {
      offClient.close();
      await off.close();
    }
  });
});
