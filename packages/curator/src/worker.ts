import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type { CurationTask__Output } from '@select/contracts';
import { createEventConsumer, createEventProducer, RetryableError, type EventConsumer, type EventProducer, type ReceivedEvent } from '@select/events';
import { GrpcCallError, status, type Logger } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import type { StepRegistry } from './chain/registry.js';
import type { ServiceClients } from './chain/step.js';
import { readSpec, type BuildSpec } from './build/build-spec.js';
import { createChain, type Chain } from './build/chain.js';
import { markTaskFailed, runTask, type TaskOutcome } from './build/task-runner.js';
import { buildRootOfSpec, preparationReporter, type TaskSummary } from './build/staging.js';

export interface CuratorWorkerOptions {
  registry: StepRegistry;
  services: ServiceClients;
  logger: Logger;
  /** @default KAFKA_BROKERS, else 127.0.0.1:9092 */
  brokers?: string[];
  /** @default '' */
  topicPrefix?: string;
  /** Consumer group of the workers; every worker of a deployment joins the same one. @default 'select-curator-workers' */
  groupId?: string;
  /** How long the broker waits for a silent worker before its tasks go to another. @default 10000 */
  sessionTimeoutMs?: number;
  /** Attempts of a task that fails with an error before the build is failed with it. @default 3 */
  maxAttempts?: number;
  /** @default `<host>-<pid>` */
  workerId?: string;
  /** Candidates per step call. @default 256 */
  batchSize?: number;
  /**
   * Tasks a worker runs at once (from different partitions of the tasks topic). Two keep a worker busy
   * while a finished task waits for the broker's acknowledgements, its fsyncs and its offset commit
   * (~30 ms a task); their steps share the worker's one thread. @default 2
   */
  concurrentTasks?: number;
}

const TRANSIENT = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED]);

/**
 * A curator worker: a member of the consumer group of select.curation.tasks.v1. Each task event is one
 * shard of a build; the worker runs it (task-runner.ts) and only then lets the consumer commit its
 * offset. A worker killed mid-task never commits, so after the session timeout the broker gives the
 * partition to another worker, which redoes the task from the start.
 */
export class CuratorWorker {
  private readonly consumer: EventConsumer;
  private readonly producer: EventProducer;
  private readonly chains = new Map<string, Promise<{ spec: BuildSpec; chain: Chain }>>();
  private readonly abort = new AbortController();
  readonly workerId: string;
  /** Tasks this worker finished, by outcome (for logs and tests). */
  readonly outcomes: Array<{ taskId: string; outcome: TaskOutcome | 'failed' }> = [];

  constructor(private readonly options: CuratorWorkerOptions) {
    this.workerId = options.workerId ?? `${hostname()}-${process.pid}`;
    // Every read, step call and RPC of a task listens on the worker's signal.
    setMaxListeners(0, this.abort.signal);
    const kafka = {
      clientId: 'curator-worker',
      // Kafka's warnings and the group's joins and assignments land in the worker's log.
      logger: options.logger,
      ...(options.brokers ? { brokers: options.brokers } : {}),
      ...(options.topicPrefix !== undefined ? { topicPrefix: options.topicPrefix } : {}),
    };
    this.producer = createEventProducer({ ...kafka, source: 'curator-worker', lingerMs: 20, maxBatch: 8 });
    this.consumer = createEventConsumer({
      ...kafka,
      groupId: options.groupId ?? 'select-curator-workers',
      topics: ['curationTasks'],
      maxBatch: 1,
      partitionsConcurrently: Math.max(1, options.concurrentTasks ?? 2),
      sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
      heartbeatIntervalMs: Math.min(3_000, Math.floor((options.sessionTimeoutMs ?? 10_000) / 3)),
      retryBackoff: { initialMs: 500, maxMs: 10_000 },
      handleBatch: (events) => this.handle(events),
    });
  }

  async start(): Promise<void> {
    // The taxonomy and LAIONet's default matcher, built before the worker takes tasks rather than inside
    // its first one (a few hundred ms that every worker would otherwise spend at the start of a build).
    loadImageNetTaxonomy().laionet.matcher();
    await this.producer.connect();
    await this.consumer.start();
    this.options.logger.info({ workerId: this.workerId }, 'curator worker consuming tasks');
  }

  async stop(): Promise<void> {
    this.abort.abort(new RetryableError('the worker is stopping'));
    await this.consumer.stop();
    await this.producer.disconnect();
    // A chain still being prepared (a long dataset job) is not waited for: it is disposed when it settles.
    const disposals = [...this.chains.values()].map((entry) => entry.then((e) => e.chain.dispose()).catch(() => undefined));
    await Promise.race([Promise.all(disposals), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    this.options.logger.info({ workerId: this.workerId }, 'curator worker stopped');
  }

  private chainFor(specUri: string): Promise<{ spec: BuildSpec; chain: Chain }> {
    let entry = this.chains.get(specUri);
    if (entry === undefined) {
      entry = (async () => {
        const spec = await readSpec(specUri);
        // What the set-up is doing (embedding the pool, ...) goes to the build's status through a note in its
        // tasks folder until the chain is ready or its set-up failed; its first line is written at once, so a
        // set-up that reports nothing for a while (a model described, a set registered) is not taken for an idle worker.
        const note = preparationReporter(buildRootOfSpec(specUri), this.workerId, { initial: "setting up the build's steps" });
        try {
          return { spec, chain: await createChain(spec, this.options.registry, this.options.services, this.options.logger, (message) => note.say(message)) };
        } finally {
          await note.clear().catch(() => undefined);
        }
      })();
      // A failed load is not remembered: the next task of the build tries again.
      entry.catch(() => this.chains.delete(specUri));
      this.chains.set(specUri, entry);
    }
    return entry;
  }

  private async handle(events: ReceivedEvent[]): Promise<void> {
    for (const event of events) {
      const task = event.payload as CurationTask__Output;
      const log = this.options.logger.child({ shiftId: task.shiftId, taskId: task.taskId });
      const range = {
        start: { shard: Number(task.startShard), offset: Number(task.startOffset) },
        end: { shard: Number(task.endShard), offset: Number(task.endOffset) },
        records: Number(task.records),
      };
      log.info({ workerId: this.workerId, records: range.records }, 'task started');
      const maxAttempts = this.options.maxAttempts ?? 3;
      // Every failure of a task — reading the spec, preparing the chain (registering evaluation sets,
      // building the pool index), running it — is retried, and the last one is written down as the
      // task's failure before the offset is committed: the coordinator fails the build with it instead
      // of waiting forever for a task nobody will redo.
      for (let attempt = 1; ; attempt++) {
        let committed: TaskSummary | undefined;
        try {
          const loaded = await untilAborted(this.chainFor(task.specUri), this.abort.signal);
          const outcome = await runTask(loaded.spec, loaded.chain, { taskId: task.taskId, range }, {
            producer: this.producer,
            services: this.options.services,
            logger: log,
            signal: this.abort.signal,
            workerId: this.workerId,
            ...(this.options.batchSize === undefined ? {} : { batchSize: this.options.batchSize }),
            onCommitted: (summary) => {
              committed = summary;
            },
          });
          this.outcomes.push({ taskId: task.taskId, outcome });
          log.info({ workerId: this.workerId, outcome, ...(committed === undefined ? {} : { records: committed.records, kept: committed.kept, seconds: committed.seconds, phases: committed.phases }) }, 'task finished');
          break;
        } catch (error) {
          if (this.abort.signal.aborted) throw new RetryableError('worker stopping; the task is left for another worker', { cause: error });
          const transient = error instanceof GrpcCallError && TRANSIENT.has(error.code);
          log.warn({ err: error, attempt, transient }, 'task failed');
          if (attempt >= maxAttempts) {
            const reason = `task ${task.taskId} failed ${attempt} time(s): ${(error as Error).message}`;
            if (!(await markTaskFailed(task.specUri, task.taskId, reason))) {
              // The build's folder is gone (deleted): nobody waits for this task.
              log.error({ err: error, specUri: task.specUri }, 'the build folder of the task no longer exists; the task is dropped');
            }
            this.outcomes.push({ taskId: task.taskId, outcome: 'failed' });
            break;
          }
          await sleepUnlessAborted(Math.min(10_000, 500 * 2 ** attempt), this.abort.signal);
          if (this.abort.signal.aborted) throw new RetryableError('worker stopping; the task is left for another worker', { cause: error });
        }
      }
    }
  }
}

/** The promise's value, or the signal's reason as soon as it aborts (the promise is left to settle alone). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
