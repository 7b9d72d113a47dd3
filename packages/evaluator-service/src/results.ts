// Every number the evaluator produces leaves as an EvaluationResult event on select.evaluations.v1 (the sink
// lands it in ClickHouse's evaluation_results table). Results of a job are published only once all of them are
// computed, with event ids derived from (eval id, benchmark, metric, class), so a job that crashes while
// publishing and publishes again on resume lands every row once (the sink's tables collapse equal ids).
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { EvaluationResult } from '@select/contracts';
import { EVENT_TYPES, type EventProducer } from '@select/events';
import { canonicalJson } from '@select/jobs';
import { writeFileAtomic } from '@select/platform';

/** One score. `params.class_index` marks a per-class row (metric class_accuracy, class_precision, class_count, ...). */
export interface ResultRecord {
  benchmark: string;
  metric: string;
  value: number;
  numSamples: number;
  params?: Record<string, unknown>;
}

/** Who the scores belong to. */
export interface ResultIdentity {
  evalId: string;
  runId: string;
  shiftId: string;
  modelId: string;
  /** Seed of the run (leaderboard statistics over seeds); 0 when not applicable. */
  seed: number;
  /** 'evaluate-model', 'evaluate-knn', 'analyze-shift', 'reference-table'. */
  kind: string;
}

/** Where results go; the service's is Kafka, tests may collect them. */
export interface ResultSink {
  publish(identity: ResultIdentity, records: readonly ResultRecord[]): Promise<number>;
}

export function eventId(identity: ResultIdentity, record: ResultRecord): string {
  const classIndex = record.params?.['class_index'] ?? '';
  return createHash('sha256').update(JSON.stringify([identity.evalId, identity.shiftId, record.benchmark, record.metric, classIndex])).digest('hex').slice(0, 32);
}

export function toEvent(identity: ResultIdentity, record: ResultRecord): EvaluationResult {
  return {
    evalId: identity.evalId,
    runId: identity.runId,
    shiftId: identity.shiftId,
    modelId: identity.modelId,
    benchmark: record.benchmark,
    metric: record.metric,
    value: record.value,
    numSamples: String(record.numSamples),
    // flat JSON without spaces: ClickHouse's visitParamExtract* reads seed and class_index out of it
    paramsJson: canonicalJson({ seed: identity.seed, kind: identity.kind, ...(record.params ?? {}) }),
  };
}

/** Publishes results on select.evaluations.v1, keyed by eval id. */
export class KafkaResultSink implements ResultSink {
  constructor(private readonly producer: EventProducer) {}

  async publish(identity: ResultIdentity, records: readonly ResultRecord[]): Promise<number> {
    await Promise.all(
      records.map((record) =>
        this.producer.publish('evaluations', EVENT_TYPES.EvaluationResult, toEvent(identity, record), { key: identity.evalId, id: eventId(identity, record) }),
      ),
    );
    await this.producer.flush();
    return records.length;
  }
}

/** results.json of a job's output folder: what GetResults returns; written after the events are out. */
export async function writeResultsFile(dir: string, identity: ResultIdentity, records: readonly ResultRecord[]): Promise<void> {
  await writeFileAtomic(join(dir, 'results.json'), `${JSON.stringify({ ...identity, results: records }, null, 1)}\n`);
}
