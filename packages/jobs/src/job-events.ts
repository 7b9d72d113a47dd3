import type { eventsV1 } from '@select/contracts';
import { EVENT_TYPES, createEventProducer, type EventProducer } from '@select/events';
import type { Logger } from '@select/platform';

/** Events waiting to be sent before new ones are dropped (and logged) during a Kafka outage. */
const MAX_PENDING = 1000;
/** How long close() waits for queued events before it gives up on them. */
const CLOSE_WAIT_MS = 5_000;

/**
 * JobLifecycle / JobProgress on select.jobs.v1, in the order they were emitted, keyed by job id. Publishing
 * never fails or blocks a job: events go out from a queue of their own, and one that cannot be sent is
 * logged and dropped.
 */
export class JobEvents {
  private producer: EventProducer | undefined;
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private closed = false;
  /** close() stopped waiting: what is still queued is dropped. */
  private abandoned = false;

  constructor(
    private readonly options: { service: string; brokers?: string[]; topicPrefix?: string } | false,
    private readonly logger: Logger,
  ) {}

  lifecycle(event: eventsV1.JobLifecycle): void {
    this.enqueue(EVENT_TYPES.JobLifecycle, event.jobId ?? '', event);
  }

  progress(event: eventsV1.JobProgress): void {
    this.enqueue(EVENT_TYPES.JobProgress, event.jobId ?? '', event);
  }

  /** Sends what is queued (waiting at most 5 s), then disconnects. */
  async close(): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)));
    const sent = await Promise.race([this.chain.then(() => true), gaveUp.then(() => false)]);
    clearTimeout(timer);
    if (!sent) {
      this.abandoned = true;
      this.logger.warn({ pending: this.pending }, 'job events still unsent at close are dropped');
    }
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch((err: unknown) => this.logger.warn({ err }, 'job events producer did not disconnect cleanly'));
  }

  private enqueue(type: string, jobId: string, payload: object): void {
    const options = this.options;
    if (!options || this.closed) return;
    if (this.pending >= MAX_PENDING) {
      this.logger.warn({ type, jobId }, 'job event dropped: too many events waiting for Kafka');
      return;
    }
    this.pending++;
    this.chain = this.chain.then(async () => {
      try {
        if (this.abandoned) return;
        if (!this.producer) {
          const producer = createEventProducer({
            clientId: options.service,
            source: options.service,
            ...(options.brokers && options.brokers.length > 0 ? { brokers: options.brokers } : {}),
            topicPrefix: options.topicPrefix ?? '',
            logger: this.logger,
          });
          await producer.connect();
          this.producer = producer;
        }
        await this.producer.publish('jobs', type, payload, { key: jobId });
      } catch (err) {
        // Events report on the work; losing one must not fail it.
        this.logger.warn({ err, type, jobId }, 'job event not published');
        const broken = this.producer;
        this.producer = undefined;
        await broken?.disconnect().catch(() => undefined);
      } finally {
        this.pending--;
      }
    });
  }
}
