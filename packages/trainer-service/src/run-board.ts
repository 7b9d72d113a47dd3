import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EVENT_TYPES, createEventProducer, type EventProducer } from '@select/events';
import { writeFileAtomic, type Logger } from '@select/platform';
import type { eventsV1 } from '@select/contracts';
import type { Recipe } from './recipes.js';

/** One scalar of a run: what becomes a TrainingMetric event and a WatchRun update. */
export interface RunMetric {
  epoch: number;
  step: number;
  /** "train", "val" or "test". */
  split: string;
  name: string;
  value: number;
}

/** What a run reports beyond its job status; `<run dir>/run.json`. */
export interface RunReport {
  runId: string;
  backend: string;
  shiftId: string;
  shiftUri: string;
  recipeName: string;
  epoch: number;
  step: number;
  artifactUri: string;
  results: Record<string, number>;
  /** The resolved recipe (timm runs). */
  recipe?: Recipe;
  /** The last checkpoint file (timm: last.pth.tar). */
  checkpointUri?: string;
  /** timm: optimizer steps per epoch (from the log), so epoch metrics get the same steps after a restart. */
  updatesPerEpoch?: number;
}

export const RUN_REPORT_FILE = 'run.json';

/**
 * The live side of runs: their reports (persisted in each run directory), their metrics as TrainingMetric
 * events on select.training.v1 (key run_id; event id derived from run, split, name and step, so a metric that
 * is reported again after a resume replaces the earlier row in ClickHouse instead of adding one) and the
 * listeners of WatchRun. A metric event that cannot be published is logged; it never fails the run.
 */
export class RunBoard {
  private readonly reports = new Map<string, RunReport>();
  private readonly updates = new Map<string, Promise<void>>();
  private readonly listeners = new Map<string, Set<(m: RunMetric) => void>>();
  private producer: EventProducer | null = null;
  private connecting: Promise<EventProducer | null> | null = null;

  constructor(
    private readonly options: {
      runsDir: string;
      logger: Logger;
      events: { topicPrefix: string; brokers?: string[] } | false;
    },
  ) {}

  runDir(runId: string): string {
    return join(this.options.runsDir, runId);
  }

  /** The run's report: memory, else its run.json, else undefined. */
  async report(runId: string): Promise<RunReport | undefined> {
    const live = this.reports.get(runId);
    if (live) return live;
    try {
      const saved = JSON.parse(await readFile(join(this.runDir(runId), RUN_REPORT_FILE), 'utf8')) as RunReport;
      this.reports.set(runId, saved);
      return saved;
    } catch {
      return undefined;
    }
  }

  /** What a just-normalised request tells about its run, shown until the run writes its own report. */
  prime(runId: string, report: Omit<RunReport, 'epoch' | 'step' | 'artifactUri' | 'results'>): void {
    if (!this.reports.has(runId)) this.reports.set(runId, { ...report, epoch: 0, step: 0, artifactUri: '', results: {} });
  }

  /** Updates and persists the run's report (atomic); the updates of one run apply in call order. */
  update(runId: string, patch: Partial<RunReport> & Pick<RunReport, 'backend'>): Promise<RunReport> {
    const previous = this.updates.get(runId) ?? Promise.resolve();
    const next = previous.then(async () => {
      const current = (await this.report(runId)) ?? {
        runId,
        backend: patch.backend,
        shiftId: '',
        shiftUri: '',
        recipeName: '',
        epoch: 0,
        step: 0,
        artifactUri: '',
        results: {},
      };
      const merged: RunReport = { ...current, ...patch, results: { ...current.results, ...(patch.results ?? {}) } };
      this.reports.set(runId, merged);
      await writeFileAtomic(join(this.runDir(runId), RUN_REPORT_FILE), JSON.stringify(merged, null, 1));
      return merged;
    });
    this.updates.set(runId, next.then(() => undefined, () => undefined));
    return next;
  }

  /** Reports metrics: to WatchRun listeners at once, and as TrainingMetric events. */
  metrics(runId: string, shiftId: string, metrics: RunMetric[]): void {
    for (const m of metrics) for (const l of this.listeners.get(runId) ?? []) l(m);
    if (!this.options.events || metrics.length === 0) return;
    void this.publish(runId, shiftId, metrics);
  }

  /** Calls `listener` with every metric of the run from now on; returns the unsubscribe function. */
  subscribe(runId: string, listener: (m: RunMetric) => void): () => void {
    let set = this.listeners.get(runId);
    if (!set) this.listeners.set(runId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(runId);
    };
  }

  /** Sends what is queued and disconnects. */
  async close(): Promise<void> {
    const producer = this.producer ?? (await this.connecting?.catch(() => null)) ?? null;
    this.producer = null;
    this.connecting = null;
    await producer?.disconnect().catch((err: unknown) => this.options.logger.warn({ err }, 'metric producer did not disconnect cleanly'));
  }

  private async connected(): Promise<EventProducer | null> {
    if (this.producer) return this.producer;
    const events = this.options.events;
    if (!events) return null;
    this.connecting ??= (async () => {
      const producer = createEventProducer({ clientId: 'trainer-service', source: 'trainer-service', topicPrefix: events.topicPrefix, brokers: events.brokers });
      await producer.connect();
      this.producer = producer;
      return producer;
    })().catch((err: unknown) => {
      this.connecting = null;
      throw err;
    });
    return this.connecting;
  }

  private async publish(runId: string, shiftId: string, metrics: RunMetric[]): Promise<void> {
    try {
      const producer = await this.connected();
      if (!producer) return;
      await Promise.all(
        metrics.map((m) => {
          const payload: eventsV1.TrainingMetric = { runId, shiftId, epoch: m.epoch, step: String(m.step), split: m.split, name: m.name, value: m.value };
          const id = metricEventId(runId, m);
          return producer.publish('training', EVENT_TYPES.TrainingMetric, payload, { id });
        }),
      );
    } catch (err) {
      this.options.logger.warn({ err, runId, metrics: metrics.length }, 'training metrics not published');
    }
  }
}

/** The same metric of the same run at the same step always gets the same event id (UUID-shaped). */
export function metricEventId(runId: string, m: Pick<RunMetric, 'split' | 'name' | 'step'>): string {
  const h = createHash('sha256').update(`${runId}\u0000${m.split}\u0000${m.name}\u0000${m.step}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
