// Wiring of the evaluator: the job runtime with the two evaluation kinds, the result producer, the shared
// linear-algebra sessions, ClickHouse for the leaderboard, and the gRPC handlers (validation and mapping only).
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { packageDefinition, type evaluatorV1 } from '@select/contracts';
import { createEventProducer, type EventProducer } from '@select/events';
import { canonicalJson, JobRuntime } from '@select/jobs';
import { createClickHouse, type ClickHouse } from '@select/metrics';
import { ServiceError, createGrpcServer, createLogger, serverOptionsFromConfig, type GrpcServer, type Logger } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import { analyzeShift } from './analyze-shift.js';
import type { EvaluatorConfig } from './config.js';
import { GrpcImageEmbedder, type ImageEmbedder } from './embedder.js';
import { checkRetrievalBank, EVALUATE_KNN_KIND, evaluateKnnKind, normalizeEvaluateKnn } from './evaluate-knn.js';
import { EVALUATE_MODEL_KIND, evaluateModelKind, normalizeEvaluateModel, type EvaluatorDeps } from './evaluate-model.js';
import { queryLeaderboard } from './leaderboard-query.js';
import { Linalg } from './metrics/linalg.js';
import { loadReferenceTable, referenceRecords } from './reference-tables.js';
import { GrpcRetrievalBank } from './retrieval-bank.js';
import { KafkaResultSink, type ResultIdentity, type ResultSink } from './results.js';

export const SERVICE_NAME = 'select.evaluator.v1.EvaluatorService';

/**
 * A caller-chosen eval_id names one request: the same id with another request would otherwise return the old
 * job unnoticed, so it is refused (ALREADY_EXISTS).
 */
async function assertSameRequest(jobsDir: string, evalId: string, request: unknown): Promise<void> {
  if (!evalId) return;
  let stored: { request?: unknown };
  try {
    stored = JSON.parse(await readFile(join(jobsDir, `${evalId}.json`), 'utf8')) as { request?: unknown };
  } catch {
    return;
  }
  if (canonicalJson(stored.request) !== canonicalJson(request)) {
    throw ServiceError.alreadyExists(`eval_id ${evalId} already names an evaluation with another request; choose another eval_id (or leave it empty for one derived from the request)`);
  }
}

export interface EvaluatorServer {
  server: GrpcServer;
  runtime: JobRuntime;
  address: string;
  /** Drains the server; running evaluations checkpoint and resume at the next start. */
  close(): Promise<void>;
}

export interface EvaluatorServerOptions {
  logger?: Logger;
  /** Replaces the Kafka result producer (tests that collect results themselves). */
  results?: ResultSink;
  embedder?: ImageEmbedder;
}

export async function startEvaluatorServer(config: EvaluatorConfig, options: EvaluatorServerOptions = {}): Promise<EvaluatorServer> {
  const logger = options.logger ?? createLogger({ service: 'evaluator-service' });
  const dataDir = resolve(config.dataDir);
  const taxonomy = loadImageNetTaxonomy();
  let producer: EventProducer | undefined;
  let results = options.results;
  if (!results) {
    producer = createEventProducer({ brokers: [...config.kafkaBrokers], clientId: 'evaluator-service', source: 'evaluator', topicPrefix: config.kafkaTopicPrefix });
    await producer.connect();
    results = new KafkaResultSink(producer);
  }
  const embedder = options.embedder ?? new GrpcImageEmbedder(config.embeddingAddress);
  const retrievalBank = new GrpcRetrievalBank(config.retrievalAddress);
  const threads = config.threads || undefined;
  let linalg: Promise<Linalg> | undefined;
  const getLinalg = (): Promise<Linalg> => {
    // a failed open is dropped so the next call tries again
    linalg ??= Linalg.open(threads ? { threads } : {}).catch((error: unknown) => {
      linalg = undefined;
      throw error;
    });
    return linalg;
  };
  const deps: EvaluatorDeps = { taxonomy, results, embedder, dataDir, threads, checkpointEvery: config.checkpointEvery, embedPartRows: config.embedPartRows };
  const runtime = await JobRuntime.open({
    dir: join(dataDir, '.jobs'),
    service: 'evaluator',
    concurrency: config.concurrency,
    events: { brokers: [...config.kafkaBrokers], topicPrefix: config.kafkaTopicPrefix },
    logger,
  });
  runtime.register(evaluateModelKind(deps));
  runtime.register(evaluateKnnKind({ ...deps, linalg: getLinalg, retrievalBank }));
  await runtime.resume();
  let ch: ClickHouse | undefined;
  const clickhouse = (): ClickHouse => (ch ??= createClickHouse({ url: config.clickhouseUrl, database: config.clickhouseDatabase }));

  const server = createGrpcServer({ ...serverOptionsFromConfig(config), name: 'evaluator-service', logger });
  server.addService(packageDefinition('evaluator'), SERVICE_NAME, {
    EvaluateModel: async (req: evaluatorV1.EvaluateModelRequest__Output) => {
      const normalized = await normalizeEvaluateModel(req);
      await assertSameRequest(join(dataDir, '.jobs'), normalized.evalId, normalized);
      return runtime.start(EVALUATE_MODEL_KIND, normalized);
    },
    EvaluateKnn: async (req: evaluatorV1.KnnRequest__Output) => {
      const normalized = normalizeEvaluateKnn(req);
      await assertSameRequest(join(dataDir, '.jobs'), normalized.evalId, normalized);
      await checkRetrievalBank(normalized, { retrievalBank, embedder });
      return runtime.start(EVALUATE_KNN_KIND, normalized);
    },
    AnalyzeShift: (req: evaluatorV1.AnalyzeShiftRequest__Output) => analyzeShift(req, { taxonomy, results, linalg: getLinalg, clickhouse }),
    GetResults: async (req: evaluatorV1.GetResultsRequest__Output): Promise<evaluatorV1.GetResultsResponse> => {
      if (!req.evalId) throw ServiceError.invalidArgument('eval_id is required');
      const status = runtime.get(req.evalId);
      if (status.state !== 'JOB_STATE_SUCCEEDED') {
        throw ServiceError.failedPrecondition(`evaluation ${req.evalId} is ${status.state.replace('JOB_STATE_', '')}: results exist once it succeeded (${status.message})`);
      }
      const file = JSON.parse(await readFile(join(status.outputUri, 'results.json'), 'utf8')) as { results: Array<{ benchmark: string; metric: string; value: number; numSamples: number; params?: Record<string, unknown> }> };
      return {
        evalId: req.evalId,
        scores: file.results
          .filter((r) => !r.params || !('class_index' in r.params))
          .map((r) => ({ benchmark: r.benchmark, metric: r.metric, value: r.value, numSamples: String(r.numSamples) })),
      };
    },
    LoadReferenceTable: async (req: evaluatorV1.LoadReferenceTableRequest__Output): Promise<evaluatorV1.LoadReferenceTableResponse> => {
      if (!req.shiftId) throw ServiceError.invalidArgument('shift_id is required (e.g. "in1000-paper")');
      if (!req.path) throw ServiceError.invalidArgument('path is required: a *-stats-complete.csv table on the server');
      const table = await loadReferenceTable(resolve(req.path), taxonomy.classes.length);
      const benchmark = req.benchmark || 'imagenet-val';
      const { records, top1 } = referenceRecords(table, benchmark, taxonomy.classes.map((c) => c.wnid));
      const identity: ResultIdentity = { evalId: `reference-${req.shiftId}`, runId: '', shiftId: req.shiftId, modelId: req.modelId || `published:${basename(req.path)}`, seed: 0, kind: 'reference-table' };
      const published = await results.publish(identity, records);
      return { shiftId: req.shiftId, classes: table.classes.length, duplicateRows: table.duplicateRows, top1, resultsPublished: String(published) };
    },
    GetLeaderboard: async (req: evaluatorV1.GetLeaderboardRequest__Output): Promise<evaluatorV1.Leaderboard> => {
      const rows = await queryLeaderboard(clickhouse(), { benchmark: req.benchmark, metric: req.metric, referenceShift: req.referenceShift }).catch((error: Error) => {
        throw ServiceError.unavailable(`the leaderboard could not be read from ClickHouse at ${config.clickhouseUrl}: ${error.message}`, { cause: error });
      });
      return { rows: rows.map((r) => ({ ...r, ciLow: r.ciLow, ciHigh: r.ciHigh })) };
    },
    ...runtime.grpcHandlers(),
  });
  let address: string;
  try {
    address = (await server.start()).address;
  } catch (error) {
    await runtime.close();
    await producer?.disconnect();
    throw error;
  }
  logger.info({ address, dataDir }, 'evaluator service listening');
  let closing: Promise<void> | undefined;
  return {
    server,
    runtime,
    address,
    close: () =>
      (closing ??= (async () => {
        await Promise.all([server.shutdown(), runtime.close()]);
        embedder.close();
        retrievalBank.close();
        await (await linalg?.catch(() => undefined))?.close();
        await ch?.close();
        await producer?.disconnect();
      })()),
  };
}
