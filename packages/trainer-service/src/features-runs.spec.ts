// Linear probe and kNN bank over frozen features from the real embedding service (tiny CLIP fixture, over gRPC),
// the bank stored in the real retrieval service: both services run as child processes from their builds.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageDefinition, type retrievalV1, type trainerV1 } from '@select/contracts';
import { NpyReader } from '@select/datasets';
import { SessionPool, float32 } from '@select/inference';
import { createGrpcClient, unary } from '@select/platform';
import { spawnWithJsonLogs, type JsonLogProcess } from '@select/testing';
import { writeTestShift } from './test-shift.test-util.js';
import { PYTHON, REPO, call, startTestTrainer, tempDir, waitForRun } from './trainer-test-kit.test-util.js';

const hasPython = existsSync(PYTHON);

async function startService(main: string, env: Record<string, string>, readyLog: string): Promise<{ proc: JsonLogProcess; address: string }> {
  const proc = spawnWithJsonLogs(process.execPath, [join(REPO, main)], { env: { ...process.env, ...env } });
  const line = await proc.waitForLog(readyLog, 60_000);
  return { proc, address: String(line['address']) };
}

describe.skipIf(!hasPython)('linear-probe and knn-bank backends', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let embedding: { proc: JsonLogProcess; address: string };
  let retrieval: { proc: JsonLogProcess; address: string };
  let t: Awaited<ReturnType<typeof startTestTrainer>>;
  let shiftDir: string;

  beforeAll(async () => {
    work = await tempDir('trainer-features-');
    shiftDir = join(work.path, 'shift');
    // 5 classes in a label space of 6: one class empty (the bank's empty-class rule), allowed explicitly
    await writeTestShift(shiftDir, { classes: 5, perClass: 30, size: 40, samplesPerShard: 50, labelSpace: 6 });
    [embedding, retrieval] = await Promise.all([
      startService(
        'packages/embedding-service/dist/main.js',
        { EMBEDDING_MODELS_DIR: join(REPO, 'tools/fixtures/embedding/models'), EMBEDDING_PORT: '0', EMBEDDING_DEFAULT_MODEL: 'tiny-clip', EMBEDDING_JOBS_DIR: join(work.path, 'embedding-jobs'), EMBEDDING_PUBLISH_JOB_EVENTS: 'false' },
        'embedding service listening',
      ),
      startService('packages/retrieval-service/dist/main.js', { RETRIEVAL_DATA_DIR: join(work.path, 'retrieval'), RETRIEVAL_PORT: '0' }, 'retrieval service listening'),
    ]);
    t = await startTestTrainer({ runsDir: join(work.path, 'runs'), embeddingAddress: embedding.address, retrievalAddress: retrieval.address });
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    for (const s of [embedding, retrieval]) {
      s?.proc.child.kill('SIGTERM');
      await s?.proc.exited;
    }
    await work?.remove();
  });

  it('probes with both protocols, names them in the results, and exports an ONNX head that classifies the features', async () => {
    const run = await call<trainerV1.TrainingRun__Output>(t.client, 'StartTraining', {
      shiftUri: shiftDir,
      backend: 'linear-probe',
      allowMissingClasses: true,
      recipe: { seed: 7 },
      linearProbe: { protocol: 'both', valFraction: 0.2, testFraction: 0.2 },
    });
    expect(run.runId).toMatch(/^linear-probe-[0-9a-f]{24}$/);
    const done = await waitForRun(t.client, run.runId, 120_000);
    expect(done.state, done.message).toBe('JOB_STATE_SUCCEEDED');
    expect(done.results['features']).toBe(150);
    expect(done.results['seed']).toBe(7);
    for (const protocol of ['clip', 'clip-benchmark']) {
      expect(done.results[`${protocol}.test_top1`]).toBeGreaterThanOrEqual(0);
      expect(done.results[`${protocol}.val_top1`]).toBeGreaterThanOrEqual(0);
    }
    expect(done.results['clip.c']).toBeGreaterThan(0);
    expect(done.results['clip-benchmark.weight_decay']).toBeGreaterThanOrEqual(0);
    expect(done.message).toMatch(/held-out top-1/);

    const config = JSON.parse(await readFile(join(done.artifactUri, 'config.json'), 'utf8')) as { dimension: number; num_classes: number; label_names: string[]; protocol: string };
    expect(config.num_classes).toBe(6);
    expect(['clip', 'clip-benchmark']).toContain(config.protocol);
    // the head over the cached features: the generated classes are colours, which even a tiny random CLIP separates
    const reader = await NpyReader.open(join(done.outputUri, 'features', 'features.npy'));
    const labels = await NpyReader.open(join(done.outputUri, 'features', 'labels.npy'));
    const x = await reader.readRows(0, reader.rows);
    const y = await labels.readRows(0, labels.rows);
    await reader.close();
    await labels.close();
    const pool = await SessionPool.open({ head: join(done.artifactUri, 'model.onnx') });
    try {
      const out = await pool.run('head', { features: float32(x, [reader.rows, reader.dim]) }, ['logits']);
      const logits = out['logits']!.data as Float32Array;
      let right = 0;
      for (let i = 0; i < reader.rows; i++) {
        const row = Array.from(logits.subarray(i * 6, i * 6 + 6));
        if (row.indexOf(Math.max(...row)) === y[i]) right++;
      }
      expect(right / reader.rows).toBeGreaterThan(0.6);
    } finally {
      await pool.close();
    }
  }, 150_000);

  it("probes over an embedding dataset job's output (features_uri) as over the service's features", async () => {
    const embeddingClient = createGrpcClient(packageDefinition('embedding'), 'select.embedding.v1.EmbeddingService', embedding.address);
    const featuresDir = join(work.path, 'features-job');
    try {
      const job = await unary<{ jobId: string; state: string }>(
        embeddingClient,
        'StartEmbedDataset',
        { model: 'tiny-clip', inputUri: shiftDir, inputFormat: 'shift', outputUri: featuresDir, embedImages: true },
        { deadlineMs: 10_000 },
      );
      const deadline = Date.now() + 60_000;
      for (let s = job; s.state !== 'JOB_STATE_SUCCEEDED'; ) {
        if (Date.now() > deadline || s.state === 'JOB_STATE_FAILED') throw new Error(`embedding job ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 200));
        s = await unary(embeddingClient, 'GetJob', { jobId: job.jobId }, { deadlineMs: 10_000 });
      }
    } finally {
      embeddingClient.close();
    }
    const run = await call<trainerV1.TrainingRun__Output>(t.client, 'StartTraining', {
      shiftUri: shiftDir,
      backend: 'linear-probe',
      featuresUri: featuresDir,
      allowMissingClasses: true,
      linearProbe: { protocol: 'clip', valFraction: 0.2, testFraction: 0.2, cValues: [1, 100] },
    });
    const done = await waitForRun(t.client, run.runId, 120_000);
    expect(done.state, done.message).toBe('JOB_STATE_SUCCEEDED');
    expect(done.results['features']).toBe(150);
    expect(done.results['clip.c']).toBeGreaterThan(0);
    expect(done.results['clip-benchmark.test_top1']).toBeUndefined();
    const info = JSON.parse(await readFile(join(done.outputUri, 'features', 'info.json'), 'utf8')) as { source: string };
    expect(info.source).toBe(`features:${featuresDir}`);
  }, 150_000);

  it("builds SELECT's class-balanced bank (seeded) and stores it in the retrieval service", async () => {
    const run = await call<trainerV1.TrainingRun__Output>(t.client, 'StartTraining', {
      runId: 'bank-test',
      shiftUri: shiftDir,
      backend: 'knn-bank',
      allowMissingClasses: true,
      recipe: { seed: 3 },
      knnBank: { total: 60, index: 'bank-test' },
    });
    const done = await waitForRun(t.client, run.runId, 120_000);
    expect(done.state, done.message).toBe('JOB_STATE_SUCCEEDED');
    expect(done.artifactUri).toBe('retrieval://bank-test');
    expect(done.results).toMatchObject({ bank_size: 60, per_class: 10, empty_classes: 1, seed: 3, real_rows: 50 });
    const client = createGrpcClient(packageDefinition('retrieval'), 'select.retrieval.v1.RetrievalService', retrieval.address);
    try {
      const stats = await unary<retrievalV1.IndexInfo__Output>(client, 'GetStats', { name: 'bank-test' }, { deadlineMs: 10_000 });
      expect(Number(stats.size)).toBe(60);
      // a bank vector finds itself, with its class in the metadata
      const bank = await NpyReader.open(join(done.outputUri, 'bank', 'features.npy'));
      const row = await bank.readRows(55, 1);
      await bank.close();
      let norm = 0;
      for (const v of row) norm += v * v;
      expect(Math.sqrt(norm)).toBeCloseTo(1, 5);
      const found = await unary<retrievalV1.SearchResponse__Output>(
        client,
        'Search',
        { index: 'bank-test', queries: [{ vector: Array.from(row) }], k: 1, exact: true, includeMetadata: true },
        { deadlineMs: 10_000 },
      );
      expect(found.results[0]!.neighbors[0]!.id).toBe('55');
      expect(found.results[0]!.neighbors[0]!.metadata).toMatchObject({ class_index: '5', origin: 'empty-class' });
    } finally {
      client.close();
    }
  }, 150_000);
});
