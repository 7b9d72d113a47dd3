// Wiring of the sink: ClickHouse (wait, migrate), Kafka (topics, consumer), the gRPC health endpoint, and
// the batch handler that turns events into rows. Offsets are committed by the consumer only after
// handleBatch resolved, i.e. after every row of the batch is in ClickHouse.
import { decodeMessage } from '@select/contracts';
import { createEventConsumer, ensureTopics, EVENT_TYPES, RetryableError, type EventConsumer, type ReceivedEvent, type TopicKey } from '@select/events';
import {
  ClickHouseUnavailableError,
  createClickHouse,
  runMigrations,
  waitForClickHouse,
  type ClickHouse,
  type ClickHouseOptions,
} from '@select/metrics';
import { createGrpcServer, serverOptionsFromConfig, type GrpcServer, type Logger } from '@select/platform';
import type { MetricsSinkConfig } from './config.js';
import { SinkStoppedError } from './errors.js';
import { eventToRows } from './event-rows.js';
import { samplePayloadTypesMatch, transcodeSampleCurated } from './sample-row-binary.js';
import { ENVELOPE_COLUMNS, METRICS_SINK_MIGRATIONS, TABLE_COLUMNS, type SinkTable } from './schema.js';

/**
 * Body reader of the sink's consumer: SampleCurated straight into its RowBinary row bytes (what the sink lands
 * most), everything else, and any body the transcoder gives up on, as @select/contracts decodes it.
 */
function decodeBodyForRows(type: string, body: Buffer): unknown {
  return (type === EVENT_TYPES.SampleCurated && transcodeSampleCurated(body)) || decodeMessage(type, body);
}

/**
 * Bytes one fetch brings per partition, and over all partitions: 2 MiB (~5,000 SampleCurated events) from each
 * of select.samples.v1's 6 partitions. kafkajs fetches again only after every batch of a fetch is handed over,
 * so the total covers all six (its 10 MiB default held ~2.5 partitions' worth at 4 MiB each); 2 MiB rather than
 * 4 keeps the first rows of a backlog a round sooner in SQL at the same throughput (tools/bench/events), while
 * 1 MiB doubled ClickHouse's CPU per row (more, smaller parts).
 */
const SINK_FETCH_BYTES_PER_PARTITION = 2 * 1_048_576;
const SINK_FETCH_BYTES = 6 * SINK_FETCH_BYTES_PER_PARTITION;

/** Every topic of the registry: the sink materialises all of them. */
export const SINK_TOPICS: TopicKey[] = ['samples', 'shifts', 'jobs', 'training', 'evaluations', 'decisions'];

export interface MetricsSinkOptions {
  config: MetricsSinkConfig;
  logger: Logger;
  /** Overrides of the CLICKHOUSE_* environment. @default {} */
  clickhouse?: Partial<ClickHouseOptions>;
}

export interface MetricsSink {
  /**
   * Waits for ClickHouse, applies the migrations, creates the topics, starts consuming and serving health.
   * Resolves once consumption started; rejects if stop() was called meanwhile or a step failed for good.
   */
  start(): Promise<void>;
  /** Finishes the batch in flight and commits it, leaves the group, stops health, closes ClickHouse. */
  stop(): Promise<void>;
  /** `host:port` of the gRPC health endpoint once started. */
  readonly healthAddress: string | undefined;
}

class Sink implements MetricsSink {
  private readonly ch: ClickHouse;
  private readonly log: Logger;
  private readonly aborted = new AbortController();
  private consumer: EventConsumer | undefined;
  private health: GrpcServer | undefined;
  private stopping: Promise<void> | undefined;
  private clickhouseUp = true;
  /** Whether the samples table has the payload column types transcodeSampleCurated writes (read at start). */
  private transcodeSamples = false;

  constructor(private readonly options: MetricsSinkOptions) {
    this.log = options.logger;
    this.ch = createClickHouse(options.clickhouse);
  }

  get healthAddress(): string | undefined {
    return this.health?.address;
  }

  async start(): Promise<void> {
    const { config } = this;
    await this.migrate();
    const kafka = { brokers: config.brokers, clientId: 'metrics-sink', topicPrefix: config.topicPrefix, logger: this.log };
    await ensureTopics(kafka);
    this.throwIfStopping();
    this.consumer = createEventConsumer({
      ...kafka,
      groupId: config.groupId,
      topics: SINK_TOPICS,
      maxBatch: config.maxBatch,
      partitionsConcurrently: config.partitionsConcurrently,
      maxBytesPerPartition: SINK_FETCH_BYTES_PER_PARTITION,
      maxBytes: SINK_FETCH_BYTES,
      // Rows are keyed by event id and order-free: a partition's next events are decoded and encoded while its
      // previous INSERT is in flight (offsets still commit in order, each after its INSERT).
      pipelineDepth: 2,
      retryBackoff: { initialMs: 200, maxMs: config.retryMaxMs },
      sessionTimeoutMs: config.sessionTimeoutMs,
      createTopics: false,
      handleBatch: (events) => this.handleBatch(events),
      ...(this.transcodeSamples ? { decodeBody: decodeBodyForRows } : {}),
    });
    await this.consumer.start();
    this.health = createGrpcServer({ ...serverOptionsFromConfig(config), name: 'metrics-sink', logger: this.log });
    await this.health.start();
    this.log.info(
      { health: this.health.address, groupId: config.groupId, topicPrefix: config.topicPrefix, database: this.ch.options.database },
      'metrics-sink started',
    );
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private get config(): MetricsSinkConfig {
    return this.options.config;
  }

  private throwIfStopping(): void {
    if (this.aborted.signal.aborted) throw new SinkStoppedError('metrics-sink was stopped during start-up');
  }

  /** Applies the migrations, waiting for ClickHouse as long as it takes (or until stop()). */
  private async migrate(): Promise<void> {
    for (;;) {
      this.throwIfStopping();
      try {
        const report = await runMigrations(this.ch, METRICS_SINK_MIGRATIONS);
        // The column types of every table now: the first batches then insert at once instead of each asking.
        for (const [table, columns] of Object.entries(TABLE_COLUMNS)) {
          const types = await this.ch.prepareInsert(table, columns);
          if (table === 'samples') this.transcodeSamples = types !== null && samplePayloadTypesMatch(types.slice(ENVELOPE_COLUMNS.length));
        }
        if (!this.transcodeSamples) this.log.warn('samples has other column types than 0001_samples made; SampleCurated bodies are decoded, not transcoded');
        this.log.info({ database: this.ch.options.database, ...report }, 'ClickHouse schema ready');
        return;
      } catch (err) {
        if (!(err instanceof ClickHouseUnavailableError)) throw err;
        this.log.warn({ err, url: this.ch.options.url }, 'ClickHouse unavailable at start-up; waiting');
        await waitForClickHouse(this.ch, { timeoutMs: 10_000, signal: this.aborted.signal }).catch(() => undefined);
      }
    }
  }

  private async handleBatch(events: ReceivedEvent[]): Promise<void> {
    const ingestedAt = new Date();
    const byTable = new Map<SinkTable, Record<string, unknown>[]>();
    for (const event of events) {
      for (const { table, row } of eventToRows(event, ingestedAt)) {
        const rows = byTable.get(table) ?? [];
        rows.push(row);
        byTable.set(table, rows);
      }
    }
    for (const [table, rows] of byTable) {
      try {
        await this.ch.insert(table, rows, TABLE_COLUMNS[table], { format: 'RowBinary', coalesce: true });
      } catch (err) {
        if (err instanceof ClickHouseUnavailableError) {
          this.setClickHouseUp(false, err);
          // A retryable error keeps the batch (and its offsets) for a retry instead of the dead-letter topic.
          throw new RetryableError(`ClickHouse unavailable while inserting into ${table}`, { cause: err });
        }
        throw err;
      }
    }
    this.setClickHouseUp(true);
  }

  private setClickHouseUp(up: boolean, err?: unknown): void {
    if (up === this.clickhouseUp) return;
    this.clickhouseUp = up;
    if (up) this.log.info('ClickHouse is back; inserting again');
    else this.log.warn({ err }, 'ClickHouse unavailable; retrying batches until it is back');
    this.health?.setServingStatus('', up ? 'SERVING' : 'NOT_SERVING');
  }

  private async shutdown(): Promise<void> {
    this.aborted.abort();
    this.log.info('metrics-sink stopping');
    // The consumer first: it finishes and commits the batch in flight, which needs ClickHouse open.
    await this.consumer?.stop();
    await this.health?.shutdown();
    await this.ch.close();
    this.log.info('metrics-sink stopped');
  }
}

export function createMetricsSink(options: MetricsSinkOptions): MetricsSink {
  return new Sink(options);
}
