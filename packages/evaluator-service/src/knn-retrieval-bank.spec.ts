// SELECT's kNN on the bank the trainer stores in the retrieval service (bank_uri retrieval://<index>, the trainer's
// artifact_uri): the real embedding, retrieval and trainer services, each its own process, fill the bank with the
// trainer's knn-bank run; the evaluator searches it and must score exactly as on the same bank read from files.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageDefinition, type evaluatorV1, type retrievalV1, type trainerV1 } from '@select/contracts';
import { NpyReader, ShiftWriter } from '@select/datasets';
import { createGrpcClient, createLogger, resolveConfig, status, unary, type GenericServiceClient } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import { deleteTopicsWithPrefix, testBrokers } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluatorConfigSchema, type EvaluatorConfig } from './config.js';
import { call, COLORS, connect, solidImage, startEmbeddingService, startServiceProcess, WNIDS, writeImageFolder, type Client, type ServiceProcess } from './fixtures.test-util.js';
import { Linalg, transpose, type Matrix } from './metrics/linalg.js';
import { GrpcRetrievalBank, searchRetrievalBank } from './retrieval-bank.js';
import { startEvaluatorServer, type EvaluatorServer } from './server.js';

async function readNpy(file: string): Promise<Matrix> {
  const r = await NpyReader.open(file);
  try {
    return { data: await r.readRows(0, r.rows), rows: r.rows, cols: r.dim };
  } finally {
    await r.close();
  }
}

type Saved = { results: Array<{ metric: string; value: number; params: Record<string, unknown> }> };

describe('kNN evaluation on a bank in the retrieval service', () => {
  let work: string;
  let prefix: string;
  let embedding: ServiceProcess;
  let retrieval: ServiceProcess;
  let trainer: ServiceProcess;
  let running: EvaluatorServer;
  let client: Client;
  let retrievalClient: GenericServiceClient;
  let shiftDir: string;
  let evalDir: string;
  let config: EvaluatorConfig;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'evaluator-knn-retrieval-'));
    prefix = `t-evalknnr-${randomBytes(4).toString('hex')}-`;
    [embedding, retrieval] = await Promise.all([
      startEmbeddingService(),
      startServiceProcess('retrieval-service', { RETRIEVAL_DATA_DIR: join(work, 'retrieval'), RETRIEVAL_PORT: '0', RETRIEVAL_HOST: '127.0.0.1', RETRIEVAL_THREADS: '1', RETRIEVAL_PUBLISH_JOB_EVENTS: 'false' }, 'retrieval service listening'),
    ]);
    trainer = await startServiceProcess(
      'trainer-service',
      {
        TRAINER_RUNS_DIR: join(work, 'runs'),
        TRAINER_PORT: '0',
        TRAINER_HOST: '127.0.0.1',
        TRAINER_EMBEDDING_ADDRESS: embedding.address,
        TRAINER_RETRIEVAL_ADDRESS: retrieval.address,
        TRAINER_PUBLISH_EVENTS: 'false',
        TRAINER_MIN_FREE_BYTES: '0',
      },
      'trainer service listening',
    );
    retrievalClient = createGrpcClient(packageDefinition('retrieval'), 'select.retrieval.v1.RetrievalService', retrieval.address);
    // a shift over the whole ImageNet-1k label space with three classes filled: 997 empty classes in the bank
    const classes = loadImageNetTaxonomy().classes.map((c) => c.wnid);
    shiftDir = join(work, 'shift');
    const writer = await ShiftWriter.open(shiftDir, { name: 'colours', strategy: 'test', classes });
    const colors = [COLORS.red, COLORS.green, COLORS.blue];
    for (let i = 0; i < 12; i++) await writer.add({ sourceId: `s${i}`, classIndex: i % 3, image: await solidImage(colors[i % 3]!, 48 + i, 40, 'jpeg') });
    await writer.close();
    evalDir = await writeImageFolder(join(work, 'val'), { [WNIDS[0]]: ['red', 'red'], [WNIDS[1]]: ['green', 'green'], [WNIDS[2]]: ['blue', 'blue', 'red'] });
    config = resolveConfig(
      evaluatorConfigSchema,
      { dataDir: join(work, 'data'), port: 0, host: '127.0.0.1', kafkaBrokers: testBrokers(), kafkaTopicPrefix: prefix, threads: 1, embeddingAddress: embedding.address, retrievalAddress: retrieval.address },
      {},
    );
    running = await startEvaluatorServer(config, { logger: createLogger({ service: 'evaluator-knn-retrieval-test', level: 'silent' }) });
    client = connect(running.address);
  }, 240_000);

  afterAll(async () => {
    client?.close();
    retrievalClient?.close();
    await running?.close();
    for (const s of [trainer, retrieval, embedding]) await s?.stop();
    await rm(work, { recursive: true, force: true });
    await deleteTopicsWithPrefix(prefix);
  });

  /** The trainer's knn-bank run of the shift, followed to its end. */
  async function trainBank(runId: string, index: string, shiftUri = shiftDir, total = 2000): Promise<trainerV1.TrainingRun__Output> {
    const trainerClient = createGrpcClient(packageDefinition('trainer'), 'select.trainer.v1.TrainerService', trainer.address);
    try {
      await unary(trainerClient, 'StartTraining', {
        runId,
        shiftUri,
        backend: 'knn-bank',
        embeddingModel: 'tiny-resnet',
        allowMissingClasses: true,
        recipe: { seed: 5 },
        knnBank: { total, index },
      }, { deadlineMs: 30_000 });
      const deadline = Date.now() + 120_000;
      for (;;) {
        const run = await unary<trainerV1.TrainingRun__Output>(trainerClient, 'GetRun', { runId }, { deadlineMs: 10_000 });
        if (['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'].includes(run.state) || Date.now() > deadline) return run;
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      trainerClient.close();
    }
  }

  const request = (evalId: string, bankUri: string) => ({
    evalId,
    shiftId: 'colours',
    bankUri,
    encoderModel: 'tiny-resnet',
    k: [1, 10, 20, 100, 200],
    seed: 5,
    evalSet: { name: 'colour-val', uri: evalDir, format: 'imagefolder' },
  });

  it("scores the trainer's retrieval:// bank exactly as the same bank read from its directory, and says which it used", async () => {
    const run = await trainBank('bank-colours', 'bank-colours');
    expect(run.state, run.message).toBe('JOB_STATE_SUCCEEDED');
    expect(run.artifactUri).toBe('retrieval://bank-colours');

    await call(client, 'EvaluateKnn', request('knn-files', join(run.outputUri, 'bank')));
    await call(client, 'EvaluateKnn', request('knn-retrieval', run.artifactUri));
    const [files, searched] = [await running.runtime.wait('knn-files'), await running.runtime.wait('knn-retrieval')];
    expect(files.state, files.message).toBe('JOB_STATE_SUCCEEDED');
    expect(searched.state, searched.message).toBe('JOB_STATE_SUCCEEDED');

    const scores = async (evalId: string) => (await call<evaluatorV1.GetResultsResponse__Output>(client, 'GetResults', { evalId })).scores.map((s) => [s.metric, s.value, s.numSamples]);
    const fromRetrieval = await scores('knn-retrieval');
    expect(fromRetrieval).toHaveLength(10); // top-1 and top-5 for each of the five k
    expect(fromRetrieval).toEqual(await scores('knn-files'));
    // the red image filed under the blue class is wrong at k = 1 whichever bank: 6 of 7 right
    expect(fromRetrieval.find(([m]) => m === 'knn_top1@1')![1]).toBeCloseTo((100 * 6) / 7, 10);

    // the retrieval job searched the service: no bank files of its own, and the results name the source
    expect(existsSync(join(searched.outputUri, 'bank', 'features.npy'))).toBe(false);
    const saved = async (s: typeof files) => JSON.parse(await readFile(join(s.outputUri, 'results.json'), 'utf8')) as Saved;
    expect((await saved(searched)).results[0]!.params).toMatchObject({ bank_source: 'retrieval://bank-colours', bank_kind: 'retrieval', bank_size: 2000, bank_metric: 'METRIC_COSINE', per_class: 2 });
    expect((await saved(files)).results[0]!.params).toMatchObject({ bank_source: join(run.outputUri, 'bank'), bank_kind: 'directory', bank_size: 2000 });

    // neighbour by neighbour (the scores above are coarse on 7 images): the 200 nearest bank rows of every evaluation
    // feature, searched in the retrieval service, have the similarities of the exact product over the trainer's bank
    // files, position by position, and each neighbour's class is the class of a row of that similarity there. (The
    // empty classes' points lie in the tiny bounding box of three colours, so rows of different classes tie to
    // float precision and their order is the arithmetic's, not the bank's.)
    const queries = await readNpy(join(files.outputUri, 'queries.npy'));
    const bank = await readNpy(join(run.outputUri, 'bank', 'features.npy'));
    const bankLabels = (await readNpy(join(run.outputUri, 'bank', 'labels.npy'))).data;
    const linalg = await Linalg.open({ threads: 1 });
    const retrievalBank = new GrpcRetrievalBank(retrieval.address);
    try {
      const margin = 20;
      const direct = await linalg.topK(queries, transpose(bank), 200 + margin);
      const info = await retrievalBank.describe('bank-colours');
      const found = await searchRetrievalBank(retrievalBank, info, queries, 200, loadImageNetTaxonomy().classes.map((c) => c.wnid), {});
      expect(found.neighbours.k).toBe(200);
      for (let q = 0; q < queries.rows; q++) {
        const unused = Array.from({ length: 200 + margin }, (_, j) => ({ value: direct.values[q * (200 + margin) + j]!, label: bankLabels[direct.indices[q * (200 + margin) + j]!]! }));
        for (let j = 0; j < 200; j++) {
          const value = found.neighbours.values[q * 200 + j]!;
          const label = found.bankLabels[found.neighbours.indices[q * 200 + j]!]!;
          expect(value).toBeCloseTo(direct.values[q * (200 + margin) + j]!, 5);
          const match = unused.findIndex((d) => d.label === label && Math.abs(d.value - value) < 1e-5);
          expect(match, `query ${q}, neighbour ${j}: class ${label} at similarity ${value}`).toBeGreaterThanOrEqual(0);
          unused.splice(match, 1);
        }
      }
    } finally {
      retrievalBank.close();
      await linalg.close();
    }
  }, 240_000);

  it("maps the class indices of a few-class shift's bank to its wnids, from the directory and from the retrieval service alike", async () => {
    // three classes far from the first three ImageNet indices: read as ImageNet indices, the labels would be wrong
    const taxonomy = loadImageNetTaxonomy().classes.map((c) => c.wnid);
    const few = [taxonomy[100]!, taxonomy[500]!, taxonomy[900]!];
    const fewShift = join(work, 'few-shift');
    const writer = await ShiftWriter.open(fewShift, { name: 'few', strategy: 'test', classes: few });
    const colors = [COLORS.red, COLORS.green, COLORS.blue];
    for (let i = 0; i < 9; i++) await writer.add({ sourceId: `f${i}`, classIndex: i % 3, image: await solidImage(colors[i % 3]!, 48 + i, 40, 'jpeg') });
    await writer.close();
    const fewVal = await writeImageFolder(join(work, 'few-val'), { [few[0]!]: ['red', 'red'], [few[1]!]: ['green'], [few[2]!]: ['blue'] });
    const run = await trainBank('bank-few', 'bank-few', fewShift, 6);
    expect(run.state, run.message).toBe('JOB_STATE_SUCCEEDED');
    const fewRequest = (evalId: string, bankUri: string) => ({ ...request(evalId, bankUri), k: [1, 4], evalSet: { name: 'few-val', uri: fewVal, format: 'imagefolder' } });
    await call(client, 'EvaluateKnn', fewRequest('few-files', join(run.outputUri, 'bank')));
    await call(client, 'EvaluateKnn', fewRequest('few-retrieval', run.artifactUri));
    for (const evalId of ['few-files', 'few-retrieval']) {
      const ended = await running.runtime.wait(evalId);
      expect(ended.state, ended.message).toBe('JOB_STATE_SUCCEEDED');
      const scores = (await call<evaluatorV1.GetResultsResponse__Output>(client, 'GetResults', { evalId })).scores;
      // every image's nearest bank rows are its own colour, of its own class
      expect(scores.find((s) => s.metric === 'knn_top1@1')!.value, evalId).toBe(100);
      expect(scores.find((s) => s.metric === 'knn_top1@4')!.value, evalId).toBe(100);
    }
  }, 240_000);

  it('refuses a retrieval:// bank that does not exist, has the wrong dimension, or is misnamed, with the status that says so', async () => {
    await expect(call(client, 'EvaluateKnn', request('x-missing', 'retrieval://no-such-bank'))).rejects.toMatchObject({
      code: status.NOT_FOUND,
      message: expect.stringMatching(/retrieval index no-such-bank does not exist/),
    });
    await unary(retrievalClient, 'CreateIndex', { name: 'bank-7d', dimension: 7, metric: 'METRIC_COSINE' }, { deadlineMs: 10_000 });
    const added = await new Promise<retrievalV1.AddVectorsResponse__Output>((resolve, reject) => {
      const stream = (retrievalClient as unknown as { AddVectors(cb: (e: Error | null, r?: retrievalV1.AddVectorsResponse__Output) => void): { write(m: object): void; end(): void } }).AddVectors((e, r) => (e ? reject(e) : resolve(r!)));
      stream.write({ index: 'bank-7d', id: '0', vector: [1, 0, 0, 0, 0, 0, 0], metadata: { class_index: '0', wnid: WNIDS[0] } });
      stream.end();
    });
    expect(Number(added.added)).toBe(1);
    await expect(call(client, 'EvaluateKnn', request('x-7d', 'retrieval://bank-7d'))).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      message: expect.stringMatching(/7-d bank vectors but encoder_model tiny-resnet gives 256-d features/),
    });
    await expect(call(client, 'EvaluateKnn', request('x-name', 'retrieval://no such bank'))).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringMatching(/index name/) });
  });

  it('refuses a retrieval:// bank with FAILED_PRECONDITION when no retrieval service is configured', async () => {
    const bare = await startEvaluatorServer({ ...config, retrievalAddress: undefined, dataDir: join(work, 'bare') }, { logger: createLogger({ service: 'evaluator-knn-retrieval-test', level: 'silent' }) });
    const bareClient = connect(bare.address);
    try {
      await expect(call(bareClient, 'EvaluateKnn', request('x-bare', 'retrieval://bank-colours'))).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
        message: expect.stringMatching(/EVALUATOR_RETRIEVAL_ADDRESS/),
      });
    } finally {
      bareClient.close();
      await bare.close();
    }
  });
});
