// SELECT's kNN evaluation through the service, with the real embedding service (its own process, the committed
// tiny ResNet as the frozen encoder) embedding a real shift written by ShiftWriter and an ImageFolder set.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { commonV1, evaluatorV1 } from '@select/contracts';
import { NpyReader, ShiftWriter } from '@select/datasets';
import { createLogger, resolveConfig, status } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import { deleteTopicsWithPrefix, testBrokers } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluatorConfigSchema, type EvaluatorConfig } from './config.js';
import { GrpcImageEmbedder } from './embedder.js';
import { call, COLORS, connect, FIXTURES, solidImage, startEmbeddingService, WNIDS, writeImageFolder, type Client } from './fixtures.test-util.js';
import { startEvaluatorServer, type EvaluatorServer } from './server.js';

type JobStatus = commonV1.JobStatus__Output;

async function readNpy(file: string): Promise<{ data: Float32Array; rows: number; cols: number }> {
  const r = await NpyReader.open(file);
  try {
    return { data: await r.readRows(0, r.rows), rows: r.rows, cols: r.dim };
  } finally {
    await r.close();
  }
}

/** eval_knn's vote written out: all similarities, sorted, exp(sim / T) summed per class. */
function directTop1(bank: { data: Float32Array; rows: number; cols: number }, bankLabels: Float32Array, queries: { data: Float32Array; rows: number; cols: number }, labels: Float32Array, k: number): number {
  let right = 0;
  for (let q = 0; q < queries.rows; q++) {
    const sims: Array<[number, number]> = [];
    for (let b = 0; b < bank.rows; b++) {
      let s = 0;
      for (let c = 0; c < bank.cols; c++) s += queries.data[q * bank.cols + c]! * bank.data[b * bank.cols + c]!;
      sims.push([s, bankLabels[b]!]);
    }
    sims.sort((a, b) => b[0] - a[0]);
    const votes = new Map<number, number>();
    for (const [s, label] of sims.slice(0, k)) votes.set(label, (votes.get(label) ?? 0) + Math.exp(s / 0.07));
    const best = [...votes].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]![0];
    if (best === labels[q]) right++;
  }
  return (100 * right) / queries.rows;
}

describe('kNN evaluation through the service', () => {
  let work: string;
  let prefix: string;
  let embedding: Awaited<ReturnType<typeof startEmbeddingService>>;
  let running: EvaluatorServer;
  let client: Client;
  let shiftDir: string;
  let evalDir: string;
  let config: EvaluatorConfig;

  async function restart(overrides: Partial<EvaluatorConfig> = {}): Promise<void> {
    if (running) {
      client.close();
      await running.close();
    }
    running = await startEvaluatorServer({ ...config, ...overrides }, { logger: createLogger({ service: 'evaluator-knn-test', level: 'silent' }) });
    client = connect(running.address);
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'evaluator-knn-'));
    prefix = `t-evalknn-${randomBytes(4).toString('hex')}-`;
    embedding = await startEmbeddingService();
    const classes = loadImageNetTaxonomy().classes.map((c) => c.wnid);
    shiftDir = join(work, 'shift');
    const writer = await ShiftWriter.open(shiftDir, { name: 'colours', strategy: 'test', classes });
    const colors = [COLORS.red, COLORS.green, COLORS.blue];
    for (let i = 0; i < 12; i++) await writer.add({ sourceId: `s${i}`, classIndex: i % 3, image: await solidImage(colors[i % 3]!, 48 + i, 40, 'jpeg') });
    await writer.close();
    evalDir = await writeImageFolder(join(work, 'val'), { [WNIDS[0]]: ['red', 'red'], [WNIDS[1]]: ['green', 'green'], [WNIDS[2]]: ['blue', 'blue'] });
    config = resolveConfig(
      evaluatorConfigSchema,
      { dataDir: join(work, 'data'), port: 0, host: '127.0.0.1', kafkaBrokers: testBrokers(), kafkaTopicPrefix: prefix, threads: 1, embeddingAddress: embedding.address },
      {},
    );
    await restart();
  }, 180_000);

  afterAll(async () => {
    client?.close();
    await running?.close();
    await embedding?.stop();
    await rm(work, { recursive: true, force: true });
    await deleteTopicsWithPrefix(prefix);
  });

  const request = (evalId: string, seed: number) => ({
    evalId,
    shiftId: 'colours',
    shiftUri: shiftDir,
    encoderModel: 'tiny-resnet',
    perClass: 2,
    k: [1, 3, 10],
    seed,
    evalSet: { name: 'colour-val', uri: evalDir, format: 'imagefolder' },
  });

  it('builds the balanced bank from the shift, scores every k, and matches the formula on the saved features', async () => {
    await call<JobStatus>(client, 'EvaluateKnn', request('knn-a', 7));
    const ended = await running.runtime.wait('knn-a');
    expect(ended.state, ended.message).toBe('JOB_STATE_SUCCEEDED');
    const results = await call<evaluatorV1.GetResultsResponse__Output>(client, 'GetResults', { evalId: 'knn-a' });
    expect(results.scores.map((s) => s.metric).sort()).toEqual(['knn_top1@1', 'knn_top1@10', 'knn_top1@3', 'knn_top5@1', 'knn_top5@10', 'knn_top5@3']);
    expect(results.scores.every((s) => s.benchmark === 'knn:colour-val' && s.numSamples === '6')).toBe(true);
    const saved = JSON.parse(await readFile(join(ended.outputUri, 'results.json'), 'utf8')) as { seed: number; results: Array<{ metric: string; value: number; params: Record<string, unknown> }> };
    expect(saved.seed).toBe(7);
    expect(saved.results[0]!.params).toMatchObject({ per_class: 2, empty_classes: 997, bank_source: 'embedding:tiny-resnet' });

    const bank = await readNpy(join(ended.outputUri, 'bank', 'features.npy'));
    const bankLabels = (await readNpy(join(ended.outputUri, 'bank', 'labels.npy'))).data;
    const queries = await readNpy(join(ended.outputUri, 'queries.npy'));
    const labels = (await readNpy(join(ended.outputUri, 'query_labels.npy'))).data;
    expect(bank.rows).toBe(2000);
    expect(queries.rows).toBe(6);
    for (const k of [1, 3, 10]) {
      expect(results.scores.find((s) => s.metric === `knn_top1@${k}`)!.value).toBeCloseTo(directTop1(bank, bankLabels, queries, labels, k), 10);
    }
    // identical colours embed identically: the nearest bank row is of the image's class
    expect(results.scores.find((s) => s.metric === 'knn_top1@1')!.value).toBe(100);
  }, 120_000);

  it('is repeatable: the same seed builds the same bank, another seed another one', async () => {
    await call(client, 'EvaluateKnn', request('knn-b', 7));
    await call(client, 'EvaluateKnn', request('knn-c', 8));
    const [b, c] = [await running.runtime.wait('knn-b'), await running.runtime.wait('knn-c')];
    const a = running.runtime.get('knn-a');
    const bytes = async (s: JobStatus) => readFile(join(s.outputUri, 'bank', 'features.npy'));
    expect((await bytes(b)).equals(await bytes(a))).toBe(true);
    expect((await bytes(c)).equals(await bytes(a))).toBe(false);

    // a bank built elsewhere (the trainer's <run>/bank layout) is used as given: the same scores as the bank it is
    await call(client, 'EvaluateKnn', { ...request('knn-d', 0), shiftUri: '', perClass: 0, bankUri: join(a.outputUri, 'bank') });
    const d = await running.runtime.wait('knn-d');
    expect(d.state, d.message).toBe('JOB_STATE_SUCCEEDED');
    const scores = async (evalId: string) => (await call<evaluatorV1.GetResultsResponse__Output>(client, 'GetResults', { evalId })).scores.map((s) => [s.metric, s.value]);
    expect(await scores('knn-d')).toEqual(await scores('knn-a'));
  }, 120_000);

  it('evaluates a linear-probe head over the embedding service’s features, as the features decide', async () => {
    await call(client, 'EvaluateModel', { evalId: 'probe-head', checkpointUri: join(FIXTURES, 'tiny-probe-head'), sets: [{ name: 'colour-val', uri: evalDir, format: 'imagefolder' }] });
    const ended = await running.runtime.wait('probe-head');
    expect(ended.state, ended.message).toBe('JOB_STATE_SUCCEEDED');
    // the head's logit c is feature c: recompute its decisions from the same service's features
    const embedder = new GrpcImageEmbedder(embedding.address);
    let right = 0;
    try {
      for (const [label, wnid] of WNIDS.entries()) {
        const files = (await readdir(join(evalDir, wnid))).sort();
        const outcomes = await embedder.embed('tiny-resnet', await Promise.all(files.map((f) => readFile(join(evalDir, wnid, f)))));
        for (const o of outcomes) {
          if (!o.ok) throw new Error(o.message);
          const v = o.vector;
          const predicted = v[0]! >= v[1]! && v[0]! >= v[2]! ? 0 : v[1]! >= v[2]! ? 1 : 2;
          if (predicted === label) right++;
        }
      }
    } finally {
      embedder.close();
    }
    const results = await call<evaluatorV1.GetResultsResponse__Output>(client, 'GetResults', { evalId: 'probe-head' });
    expect(results.scores.find((s) => s.metric === 'top1')).toMatchObject({ value: (100 * right) / 6, numSamples: '6' });
  }, 60_000);

  it('resumes an interrupted embedding phase after its last part and scores as an uninterrupted run', async () => {
    const colours = Array.from({ length: 40 }, (_, i) => (['red', 'green', 'blue'] as const)[i % 3]!);
    const longVal = await writeImageFolder(join(work, 'long-val'), { [WNIDS[0]]: colours, [WNIDS[1]]: colours, [WNIDS[2]]: colours });
    const req = (evalId: string) => ({ ...request(evalId, 7), evalSet: { name: 'long-val', uri: longVal, format: 'imagefolder' } });
    await call(client, 'EvaluateKnn', req('knn-whole'));
    expect((await running.runtime.wait('knn-whole')).state).toBe('JOB_STATE_SUCCEEDED');

    await restart({ embedPartRows: 8 });
    await call(client, 'EvaluateKnn', req('knn-interrupted'));
    const stateFile = join(config.dataDir, '.jobs', 'knn-interrupted.json');
    type Saved = { status: JobStatus; checkpoint: { state: { phase: string; embedding?: { parts: number; rows: number } } } | null };
    const saved = async (): Promise<Saved> => JSON.parse(await readFile(stateFile, 'utf8')) as Saved;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const s = await saved().catch(() => undefined);
      if (s?.checkpoint?.state.phase === 'queries' && (s.checkpoint.state.embedding?.parts ?? 0) >= 2) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await restart({ embedPartRows: 8 });
    const interrupted = await saved();
    const parts = interrupted.checkpoint?.state.embedding?.parts ?? 0;
    expect(parts).toBeGreaterThanOrEqual(2);
    expect(parts).toBeLessThan(15); // 120 images in parts of 8: stopped in the middle
    const ended = await running.runtime.wait('knn-interrupted');
    expect(ended.state, ended.message).toBe('JOB_STATE_SUCCEEDED');
    expect((await readNpy(join(ended.outputUri, 'queries.npy'))).rows).toBe(120);
    const scores = async (evalId: string) => (await call<evaluatorV1.GetResultsResponse__Output>(client, 'GetResults', { evalId })).scores.map((s) => [s.metric, s.value]);
    expect(await scores('knn-interrupted')).toEqual(await scores('knn-whole'));
  }, 180_000);

  it('refuses a request without a bank size or an evaluation set', async () => {
    await expect(call(client, 'EvaluateKnn', { ...request('x', 1), perClass: 0 })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringMatching(/per_class/) });
    await expect(call(client, 'EvaluateKnn', { ...request('x', 1), evalSet: undefined })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });
});
