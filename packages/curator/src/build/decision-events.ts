import { createHash } from 'node:crypto';
import type { CandidateDecision } from '@select/contracts';
import { EVENT_TYPES, type EventProducer } from '@select/events';
import type { Decision } from '../chain/step.js';

/** Where the decisions of one task (or of the build-wide steps) go. */
export interface DecisionSink {
  add(decision: Decision, stage: number, source: string): void;
  /** Resolves once every decision added so far is acknowledged by the broker. */
  flush(): Promise<void>;
}

/**
 * Publishes CandidateDecision events. The event id is derived from (shift, candidate, seed, stage), so a
 * redone task publishes the same ids and the sink's rows collapse: ClickHouse ends with one decision per
 * candidate however often a task ran.
 */
export function decisionPublisher(producer: EventProducer | undefined, context: { shiftId: string; strategy: string; taskId: string }): DecisionSink & { counts: Map<string, number> } {
  let pending: Array<Promise<unknown>> = [];
  const counts = new Map<string, number>();
  return {
    counts,
    add(decision, stage, source) {
      const key = decision.kept ? 'kept' : `${decision.step}: ${decision.reason.split(':')[0]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (producer === undefined) return;
      const payload: CandidateDecision = {
        shiftId: context.shiftId,
        sourceId: decision.sourceId,
        seed: decision.seed ?? 0,
        step: decision.step,
        stage,
        kept: decision.kept,
        reason: decision.reason,
        score: decision.score,
        classIndex: decision.classIndex,
        strategy: context.strategy,
        source,
        taskId: context.taskId,
      };
      const id = createHash('sha256')
        .update(`${context.shiftId}\u0000${decision.sourceId}\u0000${decision.seed ?? 0}\u0000${stage}`)
        .digest('hex')
        .slice(0, 32);
      const published = producer.publish('decisions', EVENT_TYPES.CandidateDecision, payload, { id });
      published.catch(() => undefined);
      pending.push(published);
      if (pending.length >= 5000) {
        // Bound memory: fold the settled ones into one promise now and then.
        const batch = pending;
        pending = [Promise.all(batch)];
      }
    },
    async flush() {
      const batch = pending;
      pending = [];
      await Promise.all(batch);
    },
  };
}
