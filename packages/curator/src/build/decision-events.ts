import { createHash } from 'node:crypto';
import type { CandidateDecision, CandidateDecisions } from '@select/contracts';
import { EVENT_TYPES, type EventProducer } from '@select/events';
import type { Decision } from '../chain/step.js';

/** Where the decisions of one task (or of the build-wide steps) go. */
export interface DecisionSink {
  add(decision: Decision, stage: number, source: string): void;
  /** Resolves once every decision added so far is acknowledged by the broker. */
  flush(): Promise<void>;
}

/**
 * A CandidateDecisions event is sent at this many decisions or this many (estimated) bytes, whichever
 * comes first; with the curator's producers sending at most 8 events per request this keeps a request
 * well under Kafka's default 1 MB message.max.bytes. @default 500 decisions, 64 KiB
 */
export const DECISIONS_PER_EVENT = 500;
export const DECISION_EVENT_BYTES = 64 * 1024;

/**
 * Publishes decisions as CandidateDecisions events of up to DECISIONS_PER_EVENT each: one Kafka message
 * per batch instead of one per candidate (a per-candidate event cost ~40 µs of a worker's CPU, a batched
 * decision well under 1 µs). The batch carries what its decisions share — shift, strategy, task, and
 * the step and source of its first decision — and each decision only what is its own (source id,
 * stage, kept, reason, score, class; seed, step or source where they differ): ~35 bytes a decision on
 * the wire instead of ~170 (events.proto, CandidateDecisions). Exactly-once in ClickHouse does not rest
 * on event ids: a decision's row is keyed by (shift, candidate, seed) in a ReplacingMergeTree(stage), so
 * a redone task's decisions collapse onto the first ones whichever events carried them.
 */
export function decisionPublisher(producer: EventProducer | undefined, context: { shiftId: string; strategy: string; taskId: string }): DecisionSink & { counts: Map<string, number> } {
  let pending: Array<Promise<unknown>> = [];
  let batch: CandidateDecision[] = [];
  let batchBytes = 0;
  // The batch's step and source: those of its first decision; decisions that share them leave theirs empty.
  let batchStep = '';
  let batchSource = '';
  let sent = 0;
  const counts = new Map<string, number>();
  // The count key of a (step, reason) pair, made once: building it per candidate cost more than the decision.
  const keys = new Map<string, Map<string, string>>();
  const countKey = (decision: Decision): string => {
    if (decision.kept) return 'kept';
    let byReason = keys.get(decision.step);
    if (byReason === undefined) keys.set(decision.step, (byReason = new Map()));
    let key = byReason.get(decision.reason);
    if (key === undefined) {
      key = `${decision.step}: ${decision.reason.split(':')[0]}`;
      // Reasons with a message in them (bad-record: ...) are many: only the first ones are remembered.
      if (byReason.size < 256) byReason.set(decision.reason, key);
    }
    return key;
  };
  const send = (): void => {
    if (producer === undefined || batch.length === 0) return;
    const payload: CandidateDecisions = {
      shiftId: context.shiftId,
      strategy: context.strategy,
      taskId: context.taskId,
      step: batchStep,
      source: batchSource,
      decisions: batch,
    };
    // Deterministic: the same task's n-th batch gets the same id on a redo.
    const id = createHash('sha256').update(`${context.shiftId}\u0000${context.taskId}\u0000${sent++}`).digest('hex').slice(0, 32);
    batch = [];
    batchBytes = 0;
    const published = producer.publish('decisions', EVENT_TYPES.CandidateDecisions, payload, { id });
    published.catch(() => undefined);
    pending.push(published);
  };
  return {
    counts,
    add(decision, stage, source) {
      const key = countKey(decision);
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (producer === undefined) return;
      if (batch.length === 0) {
        batchStep = decision.step;
        batchSource = source;
      }
      const ownStep = decision.step === batchStep ? undefined : decision.step;
      const ownSource = source === batchSource ? undefined : source;
      // One shape for every decision; a field left undefined (or at its proto default) is not encoded.
      batch.push({
        sourceId: decision.sourceId,
        seed: decision.seed || undefined,
        step: ownStep,
        stage: stage || undefined,
        kept: decision.kept || undefined,
        reason: decision.reason,
        score: decision.score,
        classIndex: decision.classIndex || undefined,
        source: ownSource,
      });
      // Field bytes plus the most that protobuf tags and the numbers take: an upper bound of the event's size.
      batchBytes += 48 + decision.sourceId.length + decision.reason.length + (ownStep?.length ?? 0) + (ownSource?.length ?? 0);
      if (batch.length >= DECISIONS_PER_EVENT || batchBytes >= DECISION_EVENT_BYTES) send();
      if (pending.length >= 64) {
        const settled = pending;
        pending = [Promise.all(settled)];
      }
    },
    async flush() {
      send();
      const all = pending;
      pending = [];
      // Sends the last batch now instead of after the producer's linger: a task waits for this.
      if (all.length > 0) await producer?.flush();
      await Promise.all(all);
    },
  };
}
