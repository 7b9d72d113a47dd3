import { mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageDefinition } from '@select/contracts';
import { JobRuntime, type JobStatus } from '@select/jobs';
import { ServiceError, createGrpcServer, createLogger, serverOptionsFromConfig, writeFileAtomic, type CallContext, type GrpcServer, type Logger } from '@select/platform';
import type { trainerV1 } from '@select/contracts';
import type { TrainerConfig } from './config.js';
import { RunBoard, type RunMetric, type RunReport } from './run-board.js';
import { RECIPES, recipeMessage } from './recipes.js';
import { backendOf, type Backend } from './run-request.js';
import { TIMM_KIND, timmRunKind } from './timm-run.js';
import { LINEAR_PROBE_KIND, linearProbeKind } from './linear-probe-run.js';
import { KNN_BANK_KIND, knnBankKind } from './knn-bank-run.js';
import { FeatureSource } from './features.js';

export const SERVICE_NAME = 'select.trainer.v1.TrainerService';
const KIND_OF: Record<Backend, string> = { timm: TIMM_KIND, 'linear-probe': LINEAR_PROBE_KIND, 'knn-bank': KNN_BANK_KIND };
const BACKEND_OF: Record<string, Backend> = { [TIMM_KIND]: 'timm', [LINEAR_PROBE_KIND]: 'linear-probe', [KNN_BANK_KIND]: 'knn-bank' };
/** The request a run was started with, beside its outputs, for ResumeRun. */
const REQUEST_FILE = 'request.json';

export interface TrainerServer {
  server: GrpcServer;
  runtime: JobRuntime;
  board: RunBoard;
  address: string;
  /** Stop serving; running runs stop resumable (their processes are signalled) and resume at the next start. */
  close(): Promise<void>;
}

/** Opens the run state, resumes unfinished runs and starts the gRPC server. */
export async function startTrainerServer(config: TrainerConfig, options: { logger?: Logger; brokers?: string[] } = {}): Promise<TrainerServer> {
  const logger = options.logger ?? createLogger({ service: 'trainer-service' });
  await mkdir(config.runsDir, { recursive: true });
  const events = config.publishEvents ? { topicPrefix: config.kafkaTopicPrefix, brokers: options.brokers } : false;
  const board = new RunBoard({ runsDir: config.runsDir, logger, events });
  const runtime = await JobRuntime.open({ dir: join(config.runsDir, '.jobs'), service: 'trainer', concurrency: config.concurrency, events, logger });
  const features = new FeatureSource({ embeddingAddress: config.embeddingAddress, logger });
  // relative interpreter paths are taken from the service's working directory (runs execute in their run folder)
  const python = config.python.includes('/') ? resolve(config.python) : config.python;
  if (python.includes('/') && !existsSync(python)) logger.warn({ python }, 'TRAINER_PYTHON does not exist: timm runs and probes will fail (make it with bash scripts/python-env.sh)');
  const common = { board, shiftRoot: config.shiftRoot, python, torchThreads: config.torchThreads, minFreeBytes: config.minFreeBytes };
  runtime.register(timmRunKind({ ...common, command: config.timmCommand ? config.timmCommand.split(/\s+/).filter(Boolean) : [], nproc: config.timmNproc }));
  runtime.register(linearProbeKind({ ...common, features }));
  runtime.register(knnBankKind({ ...common, features, retrievalAddress: config.retrievalAddress }));
  await runtime.resume();

  const toRun = async (status: JobStatus): Promise<trainerV1.TrainingRun> => runMessage(status, await board.report(status.jobId));
  const runStatus = (runId: string): JobStatus => {
    if (!runId) throw ServiceError.invalidArgument('run_id is required');
    return runtime.get(runId);
  };
  const start = async (req: trainerV1.TrainingRequest__Output): Promise<trainerV1.TrainingRun> => {
    const backend = backendOf(req);
    const status = await runtime.start(KIND_OF[backend], req);
    await writeFileAtomic(join(status.outputUri, REQUEST_FILE), JSON.stringify(req, null, 1)).catch(async (err: unknown) => {
      await mkdir(status.outputUri, { recursive: true });
      await writeFileAtomic(join(status.outputUri, REQUEST_FILE), JSON.stringify(req, null, 1)).catch(() => logger.warn({ err }, 'request.json not written'));
    });
    return toRun(status);
  };

  const server = createGrpcServer({ ...serverOptionsFromConfig(config), name: 'trainer-service', logger });
  server.addService(packageDefinition('trainer'), SERVICE_NAME, {
    StartTraining: start,
    GetRun: async (ref: trainerV1.RunRef__Output) => toRun(runStatus(ref.runId)),
    ListRuns: async (req: trainerV1.ListRunsRequest__Output) => {
      const runs: trainerV1.TrainingRun[] = [];
      let pageToken = '';
      do {
        const page = runtime.list({ pageSize: 1000, pageToken });
        for (const s of page.jobs) {
          const run = await toRun(s);
          if ((!req.shiftId || run.shiftId === req.shiftId) && (!req.backend || run.backend === req.backend)) runs.push(run);
        }
        pageToken = page.nextPageToken;
      } while (pageToken);
      return { runs };
    },
    CancelRun: async (ref: trainerV1.RunRef__Output) => toRun(await runtime.cancel(runStatus(ref.runId).jobId)),
    ResumeRun: async (ref: trainerV1.RunRef__Output) => {
      const status = runStatus(ref.runId);
      if (status.state === 'JOB_STATE_SUCCEEDED') return toRun(status);
      let saved: trainerV1.TrainingRequest__Output;
      try {
        saved = JSON.parse(await readFile(join(status.outputUri, REQUEST_FILE), 'utf8')) as trainerV1.TrainingRequest__Output;
      } catch {
        throw ServiceError.failedPrecondition(`run ${ref.runId} has no ${REQUEST_FILE} in ${status.outputUri}; start it again with its request`);
      }
      return start(saved);
    },
    WatchRun: (ref: trainerV1.RunRef__Output, ctx: CallContext) => watchRun(runtime, board, runStatus(ref.runId).jobId, ctx.signal),
    ListRecipes: () => ({ recipes: RECIPES.map((r) => ({ name: r.name, description: r.description, recipe: recipeMessage(r.recipe) })) }),
    ...runtime.grpcHandlers(),
  });
  let address: string;
  try {
    address = (await server.start()).address;
  } catch (err) {
    await runtime.close();
    await board.close();
    throw err;
  }
  logger.info({ address, runsDir: config.runsDir, concurrency: config.concurrency }, 'trainer service listening');
  return {
    server,
    runtime,
    board,
    address,
    async close() {
      await server.shutdown();
      await runtime.close();
      await features.close();
      await board.close();
    },
  };
}

/** A run as the API shows it: the job's status plus the run's report. */
export function runMessage(status: JobStatus, report: RunReport | undefined): trainerV1.TrainingRun {
  const backend = report?.backend ?? BACKEND_OF[status.kind] ?? status.kind;
  return {
    runId: status.jobId,
    shiftId: report?.shiftId ?? '',
    state: status.state,
    epoch: backend === 'timm' ? Number(status.done) : (report?.epoch ?? 0),
    epochs: backend === 'timm' ? Number(status.total) : 0,
    checkpointUri: report?.checkpointUri ?? '',
    message: status.message,
    recipe: report?.recipe ? recipeMessage(report.recipe) : undefined,
    backend,
    shiftUri: report?.shiftUri ?? '',
    outputUri: status.outputUri,
    artifactUri: report?.artifactUri ?? '',
    results: report?.results ?? {},
    createdUnixMs: status.createdUnixMs,
    updatedUnixMs: status.updatedUnixMs,
    step: String(report?.step ?? 0),
    recipeName: report?.recipeName ?? '',
  };
}

/** WatchRun: the run now, then every metric and every status change, until the run ends or the call does. */
async function* watchRun(runtime: JobRuntime, board: RunBoard, runId: string, signal: AbortSignal): AsyncGenerator<trainerV1.RunUpdate> {
  const queue: trainerV1.RunUpdate[] = [];
  const waker = { wake: null as (() => void) | null };
  let ended = false;
  const push = (u: trainerV1.RunUpdate): void => {
    queue.push(u);
    waker.wake?.();
  };
  const unsubscribe = board.subscribe(runId, (m: RunMetric) =>
    push({ run: { runId }, metric: m.name, value: m.value, step: String(m.step), epoch: m.epoch, split: m.split }),
  );
  const statuses = (async () => {
    try {
      for await (const status of runtime.watch(runId, signal)) push({ run: runMessage(status, await board.report(runId)) });
    } finally {
      ended = true;
      waker.wake?.();
    }
  })();
  try {
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (ended || signal.aborted) break;
      await new Promise<void>((resolve) => {
        waker.wake = resolve;
      });
      waker.wake = null;
    }
  } finally {
    unsubscribe();
    await statuses.catch(() => undefined);
  }
}
