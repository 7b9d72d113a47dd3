// kafkajs-record-decoder first: it must run before kafkajs loads.
import './kafkajs-record-decoder.js';
import { decodeMessage } from '@select/contracts';
import { Partitioners, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import { backoffDelay, sleep, type Backoff } from './backoff.js';
import { deadLetterHeaders, type DeadLetterReason } from './dead-letter.js';
import { decodeEvent } from './decode-event.js';
import { ensureTopics } from './ensure-topics.js';
import type { ReceivedEvent } from './envelope.js';
import { EventsError, isRetryable } from './errors.js';
import { addKafkaDefaults, createKafkaClient, type KafkaOptions, type ResolvedKafkaOptions } from './kafka-options.js';
import type { Logger } from './logger.js';
import { dlqTopicName, resolveTopics, type TopicKey, type TopicSpec } from './topics.js';

/** A consumer group member that hands decoded events to a handler, at least once. */
export interface EventConsumer {
  /** Connects, joins the group and starts consuming; resolves once consumption started (not when the group is joined). */
  start(): Promise<void>;
  /** Lets the in-flight handler call finish and commits it, abandons retry waits, leaves the group, disconnects. */
  stop(): Promise<void>;
}

export interface EventConsumerOptions extends KafkaOptions {
  /** Consumer group; members of one group share the partitions, each group sees every event. */
  groupId: string;
  /** Registry topics to consume. */
  topics: TopicKey[];
  /**
   * Called with decoded events of ONE partition, in offset order; offsets are committed only after it resolves.
   * Throw a `RetryableError` for transient failures (retried until they pass); any other error is retried
   * `maxRetries` times per event before the event goes to the dead-letter topic.
   */
  handleBatch: (events: ReceivedEvent[]) => Promise<void>;
  /**
   * Most events per handler call.
   * @default 500
   */
  maxBatch?: number;
  /**
   * Partitions processed at the same time.
   * @default 2
   */
  partitionsConcurrently?: number;
  /**
   * Most bytes one fetch brings per partition (kafkajs' `maxBytesPerPartition`); a larger fetch lets a
   * high-volume consumer hand `maxBatch` events to one handler call instead of a few hundred.
   * @default 1048576 (1 MiB)
   */
  maxBytesPerPartition?: number;
  /**
   * Most bytes one fetch brings over all partitions (kafkajs' `maxBytes`). kafkajs fetches again only when
   * every batch of the last fetch is handled, so a fetch that holds a few partitions' worth leaves the others
   * idle and the CPU waiting on the slowest handler; a consumer of many partitions sets it to their sum.
   * @default 10485760 (10 MiB)
   */
  maxBytes?: number;
  /**
   * Handler calls of one partition that may be in flight at once. With 1 (the default) a call must finish and
   * be committed before the next events of its partition are handled, and kafkajs fetches again only when every
   * partition's calls finished, so the CPU waits for the slowest call's I/O (an INSERT) and for the fetch.
   * With 2 or more, the next events of a partition are fetched and handed over while earlier calls are still
   * in flight; offsets are still committed in order, each only after every earlier call of its partition
   * finished. For handlers whose effect is idempotent and order-free (the metrics sink: rows keyed by event id).
   * @default 1
   */
  pipelineDepth?: number;
  /**
   * Retries of an event whose handler keeps failing with a non-retryable error, before it is dead-lettered.
   * @default 3
   */
  maxRetries?: number;
  /**
   * Where a group without committed offsets starts: the oldest event (true) or only new ones (false).
   * @default true
   */
  fromBeginning?: boolean;
  /**
   * Backoff between handler retries (retryable or not) and failed dead-letter writes.
   * @default { initialMs: 200, maxMs: 30000 }
   */
  retryBackoff?: Backoff;
  /**
   * Group session timeout: how long the broker waits for heartbeats before it gives the partitions away.
   * @default 30000
   */
  sessionTimeoutMs?: number;
  /**
   * Heartbeat interval, also while a handler runs or a retry waits.
   * @default 3000
   */
  heartbeatIntervalMs?: number;
  /**
   * Create the consumed topics and their DLQs on start when they are missing.
   * @default true
   */
  createTopics?: boolean;
  /**
   * Reads an event's body into its `payload`, in place of the contracts' decoder (`decodeMessage` of
   * @select/contracts, the default): a consumer that only stores what it receives can read a body straight into
   * the form it stores (the metrics sink: SampleCurated into RowBinary). Called after the envelope is checked;
   * whatever it throws makes the event undecodable (BAD_BODY, dead-lettered without retries), as with the default.
   * @default decodeMessage
   */
  decodeBody?: (type: string, body: Buffer) => unknown;
}

type ResolvedConsumerOptions = ResolvedKafkaOptions &
  Required<Omit<EventConsumerOptions, keyof KafkaOptions>>;

/** Fills the consumer's defaults. */
export function addConsumerDefaults(opts: EventConsumerOptions): ResolvedConsumerOptions {
  const sessionTimeoutMs = opts.sessionTimeoutMs ?? 30_000;
  return {
    ...addKafkaDefaults(opts),
    groupId: opts.groupId,
    topics: [...new Set(opts.topics)],
    handleBatch: opts.handleBatch,
    maxBatch: Math.max(1, opts.maxBatch ?? 500),
    partitionsConcurrently: Math.max(1, opts.partitionsConcurrently ?? 2),
    maxBytesPerPartition: Math.max(1024, opts.maxBytesPerPartition ?? 1_048_576),
    maxBytes: Math.max(1024, opts.maxBytes ?? 10_485_760),
    pipelineDepth: Math.max(1, Math.floor(opts.pipelineDepth ?? 1)),
    maxRetries: Math.max(0, opts.maxRetries ?? 3),
    fromBeginning: opts.fromBeginning ?? true,
    retryBackoff: opts.retryBackoff ?? { initialMs: 200, maxMs: 30_000 },
    sessionTimeoutMs,
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? Math.min(3_000, Math.floor(sessionTimeoutMs / 3)),
    createTopics: opts.createTopics ?? true,
    decodeBody: opts.decodeBody ?? decodeMessage,
  };
}

/** Creates a consumer; call `start()` to begin. One start per consumer: create a new one to start again. */
export function createEventConsumer(opts: EventConsumerOptions): EventConsumer {
  return new KafkaEventConsumer(addConsumerDefaults(opts));
}

/** Long-poll time of a fetch; bounds how long stop() waits for an idle consumer. */
const FETCH_MAX_WAIT_MS = 1_000;

/** What one kafkajs batch callback lets the processing of one partition do. */
interface PartitionContext {
  spec: TopicSpec;
  partition: number;
  heartbeat: () => Promise<void>;
  /** Marks `offset` processed and commits it. */
  complete: (offset: string) => Promise<void>;
}

interface Decoded {
  event: ReceivedEvent;
  message: KafkaMessage;
}

type ConsumerState = 'new' | 'starting' | 'running' | 'stopped';

/** Handler calls of one partition in flight (pipelineDepth > 1), and the chain that commits them in order. */
interface PartitionPipeline {
  /** Group generation (joins seen) the pipeline belongs to; an older one's commits are skipped. */
  generation: number;
  /** Deliveries not finished yet; each removes itself when it settles. */
  inFlight: Set<Promise<boolean>>;
  /** Resolves true once every delivery so far is processed and its commit was attempted; false when one was not. */
  committed: Promise<boolean>;
}

class KafkaEventConsumer implements EventConsumer {
  private readonly log: Logger;
  private readonly kafka: Kafka;
  private readonly consumer: Consumer;
  private readonly dlqProducer: Producer;
  private readonly specs: Map<string, TopicSpec>;
  private readonly abort = new AbortController();
  private state: ConsumerState = 'new';
  private stopping: Promise<void> | undefined;
  private readonly pipelines = new Map<string, PartitionPipeline>();
  private generation = 0;

  constructor(private readonly opts: ResolvedConsumerOptions) {
    const registry = resolveTopics(opts.topicPrefix);
    this.specs = new Map(opts.topics.map((key) => [registry[key].name, registry[key]]));
    this.log = opts.logger.child({ component: 'event-consumer', groupId: opts.groupId });
    this.kafka = createKafkaClient(opts);
    this.consumer = this.kafka.consumer({
      groupId: opts.groupId,
      sessionTimeout: opts.sessionTimeoutMs,
      heartbeatInterval: opts.heartbeatIntervalMs,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
      maxBytesPerPartition: opts.maxBytesPerPartition,
      maxBytes: opts.maxBytes,
      allowAutoTopicCreation: false,
    });
    this.dlqProducer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      this.log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      // After a rebalance kafkajs fetches from the committed offsets again: pipelines start over.
      this.generation += 1;
      this.log.info({ assignment: payload.memberAssignment, memberId: payload.memberId }, 'joined consumer group');
    });
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new EventsError('CONSUMER_STATE', `start() called on a consumer that is ${this.state}`);
    this.state = 'starting';
    try {
      if (this.opts.createTopics) {
        await ensureTopics(this.opts, [...this.specs.values()]);
      }
      await this.dlqProducer.connect();
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: [...this.specs.keys()], fromBeginning: this.opts.fromBeginning });
      await this.consumer.run({
        // Offsets are resolved and committed by hand, each time a handler call or a dead-letter write succeeded.
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: this.opts.partitionsConcurrently,
        eachBatch: (payload) => this.processBatch(payload),
      });
      if (this.state === 'starting') this.state = 'running';
    } catch (error) {
      await this.stop().catch((stopError: unknown) => this.log.warn({ err: stopError }, 'cleanup after a failed start failed'));
      throw error;
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.state = 'stopped';
    // Wakes retry waits at once; the handler call in flight (if any) still finishes and is committed.
    this.abort.abort();
    try {
      // Pipelined calls in flight finish (or give up at their next retry wait) and commit while still a member;
      // a batch being handed over when stop() came may add one more call per partition: wait for those too.
      for (;;) {
        const chains = [...this.pipelines.values()].map((p) => p.committed);
        await Promise.all(chains);
        if ([...this.pipelines.values()].every((p, i) => p.committed === chains[i])) break;
      }
      await this.consumer.disconnect(); // stops the run loop (waiting for the batch in flight) and leaves the group
    } finally {
      await this.dlqProducer.disconnect();
    }
    this.log.info({}, 'consumer stopped');
  }

  private get stopRequested(): boolean {
    return this.abort.signal.aborted;
  }

  private async processBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const spec = this.specs.get(batch.topic);
    if (!spec) return; // not subscribed by us; cannot happen with one subscribe call
    const ctx: PartitionContext = {
      spec,
      partition: batch.partition,
      heartbeat: payload.heartbeat,
      complete: async (offset) => {
        payload.resolveOffset(offset);
        await payload.commitOffsetsIfNecessary(payload.uncommittedOffsets());
      },
    };

    const pipelined = this.opts.pipelineDepth > 1;
    const hand = (items: Decoded[]): Promise<boolean> => (pipelined ? this.deliverPipelined(items, ctx, payload) : this.deliver(items, ctx));
    let run: Decoded[] = [];
    for (const message of batch.messages) {
      if (this.stopRequested) return;
      let event: ReceivedEvent;
      try {
        event = decodeEvent(spec, batch.partition, message, this.opts.decodeBody);
      } catch (error) {
        // Events before the bad one keep their order: deliver them first, then dead-letter it.
        if (run.length > 0 && !(await hand(run))) return;
        run = [];
        if (pipelined && !(await this.drainPipeline(ctx))) return;
        if (!(await this.deadLetter(message, error, 'undecodable', ctx))) return;
        await ctx.complete(message.offset);
        continue;
      }
      run.push({ event, message });
      if (run.length >= this.opts.maxBatch) {
        if (!(await hand(run))) return;
        run = [];
      }
    }
    if (run.length > 0) await hand(run);
  }

  private pipelineOf(ctx: PartitionContext): PartitionPipeline {
    const key = `${ctx.spec.name}\u0000${ctx.partition}`;
    let pipeline = this.pipelines.get(key);
    if (pipeline === undefined || pipeline.generation !== this.generation) {
      pipeline = { generation: this.generation, inFlight: new Set(), committed: Promise.resolve(true) };
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /**
   * Starts delivering `items` without waiting for it: kafkajs is told they are consumed (its next fetch of the
   * partition starts after them), and their offset is committed once they and every earlier delivery of the
   * partition are processed. Waits only while `pipelineDepth` deliveries of the partition are in flight.
   * Returns false when stop() was requested.
   */
  private async deliverPipelined(items: Decoded[], ctx: PartitionContext, payload: EachBatchPayload): Promise<boolean> {
    const last = items[items.length - 1];
    if (last === undefined) return true;
    const pipeline = this.pipelineOf(ctx);
    const where = { topic: ctx.spec.name, partition: ctx.partition };
    // Commits only, never resolveOffset: that would move kafkajs' fetch position back to an older offset.
    const commitOnly: PartitionContext = { ...ctx, complete: async () => undefined };
    const delivered: Promise<boolean> = this.deliver(items, commitOnly)
      .catch((error: unknown) => {
        // A heartbeat during a retry wait reported a rebalance: the partition may be gone; the events come again.
        this.log.warn({ ...where, err: error }, 'pipelined handler call ended without commit');
        return false;
      })
      .finally(() => pipeline.inFlight.delete(delivered));
    pipeline.inFlight.add(delivered);
    payload.resolveOffset(last.event.offset);
    const next = (BigInt(last.event.offset) + 1n).toString();
    pipeline.committed = pipeline.committed.then(async (earlier) => {
      if (!(await delivered) || !earlier) return false;
      if (pipeline.generation !== this.generation) return true; // rebalanced: the new owner reads from the last commit
      try {
        await this.consumer.commitOffsets([{ ...where, offset: next }]);
      } catch (error) {
        // Commits are cumulative: a later one covers these events; until then they may be delivered again.
        this.log.warn({ ...where, offset: next, err: error }, 'commit of a pipelined handler call failed');
      }
      return true;
    });
    while (pipeline.inFlight.size >= this.opts.pipelineDepth) {
      // Each delivery leaves the set before Promise.race sees it settle.
      await Promise.race(pipeline.inFlight);
      if (this.stopRequested) return false;
    }
    return !this.stopRequested;
  }

  /** Waits until every pipelined delivery of the partition is processed and committed; false if one was not. */
  private async drainPipeline(ctx: PartitionContext): Promise<boolean> {
    const pipeline = this.pipelineOf(ctx);
    const ok = await pipeline.committed;
    // A delivery that ended without commit (a rebalance) leaves its events to be fetched again: start over.
    if (!ok) pipeline.committed = Promise.resolve(true);
    return ok && !this.stopRequested;
  }

  /**
   * Hands events to the handler until they are processed, dead-lettered, or stop() is called; commits
   * each success. Returns false when it gave up because of stop(): those offsets stay uncommitted.
   */
  private async deliver(items: Decoded[], ctx: PartitionContext): Promise<boolean> {
    const where = { topic: ctx.spec.name, partition: ctx.partition, fromOffset: items[0]?.event.offset, events: items.length };
    let failures = 0;
    let transientFailures = 0;
    for (;;) {
      if (this.stopRequested) return false;
      try {
        await this.callHandler(items, ctx);
      } catch (error) {
        if (isRetryable(error)) {
          transientFailures += 1;
          const delay = backoffDelay(transientFailures, this.opts.retryBackoff);
          this.log.warn({ ...where, err: error, attempt: transientFailures, retryInMs: delay }, 'handler failed with a retryable error; retrying');
          if (!(await this.wait(delay, ctx))) return false;
          continue;
        }
        if (items.length > 1) {
          // One poison event must not take its neighbours to the DLQ: halve until the failing one is alone.
          const half = Math.ceil(items.length / 2);
          this.log.warn({ ...where, err: error }, 'handler failed on a batch; retrying it in halves');
          return (await this.deliver(items.slice(0, half), ctx)) && (await this.deliver(items.slice(half), ctx));
        }
        failures += 1;
        const item = items[0];
        if (item && failures > this.opts.maxRetries) {
          this.log.error({ ...where, err: error, attempts: failures, eventId: item.event.envelope.id }, 'handler kept failing; dead-lettering the event');
          if (!(await this.deadLetter(item.message, error, 'handler-failed', ctx))) return false;
          await ctx.complete(item.event.offset);
          return true;
        }
        const delay = backoffDelay(failures, this.opts.retryBackoff);
        this.log.warn({ ...where, err: error, attempt: failures, retryInMs: delay }, 'handler failed; retrying');
        if (!(await this.wait(delay, ctx))) return false;
        continue;
      }
      const last = items[items.length - 1];
      if (last) await ctx.complete(last.event.offset);
      return true;
    }
  }

  /** Runs the handler, heartbeating meanwhile so a slow handler does not cost the partition. */
  private async callHandler(items: Decoded[], ctx: PartitionContext): Promise<void> {
    const beat = setInterval(() => {
      ctx.heartbeat().catch((error: unknown) => this.log.debug({ err: error }, 'heartbeat during handler failed'));
    }, this.opts.heartbeatIntervalMs);
    try {
      await this.opts.handleBatch(items.map((i) => i.event));
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * Writes the original message to the topic's DLQ, retrying broker failures with backoff. Returns false
   * when stop() interrupted it.
   */
  private async deadLetter(message: KafkaMessage, error: unknown, reason: DeadLetterReason, ctx: PartitionContext): Promise<boolean> {
    const topic = dlqTopicName(ctx.spec.name);
    const headers = deadLetterHeaders(message, { topic: ctx.spec.name, partition: ctx.partition, groupId: this.opts.groupId }, error, reason);
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.dlqProducer.send({ topic, acks: -1, messages: [{ key: message.key, value: message.value, headers }] });
        this.log.warn({ topic: ctx.spec.name, partition: ctx.partition, offset: message.offset, reason, err: error, dlq: topic }, 'message dead-lettered');
        return true;
      } catch (sendError) {
        const delay = backoffDelay(attempt, this.opts.retryBackoff);
        this.log.error({ dlq: topic, err: sendError, retryInMs: delay }, 'writing to the dead-letter topic failed; retrying');
        if (!(await this.wait(delay, ctx))) return false;
      }
    }
  }

  /**
   * Waits `ms` while heartbeating, so the group keeps the partition with us. Returns false when stop()
   * interrupted the wait. A heartbeat that reports a rebalance throws, ending the batch uncommitted.
   */
  private async wait(ms: number, ctx: PartitionContext): Promise<boolean> {
    const until = Date.now() + ms;
    for (;;) {
      const left = until - Date.now();
      if (left <= 0) return !this.stopRequested;
      if (!(await sleep(Math.min(left, this.opts.heartbeatIntervalMs), this.abort.signal))) return false;
      await ctx.heartbeat();
    }
  }
}
