import type { ClaimOutcome } from '@select/curation-filters';
import type { Candidate, ChainStep, Decision, LabelSpace, StepContext, StepEnvironment, StepResult } from '../chain/step.js';
import { dropDecision } from './candidate-key.js';

/**
 * The task half of a retrieval strategy: the claims were settled once for the whole pool (the step's
 * preparation); each pool candidate is labelled by its claim or dropped (`not-retrieved`, `contested`).
 */
export class ClaimLabelStep implements ChainStep {
  readonly scope = 'task' as const;
  private readonly kept: Map<string, ClaimOutcome['kept'][number]>;
  private readonly contested: Map<string, ClaimOutcome['dropped'][number]>;

  constructor(
    readonly name: string,
    readonly params: Readonly<Record<string, unknown>>,
    outcome: ClaimOutcome,
    private readonly labels: LabelSpace,
    private readonly modelIds: Record<string, string>,
    private readonly source: string,
  ) {
    this.kept = new Map(outcome.kept.map((c) => [c.poolId, c]));
    this.contested = new Map(outcome.dropped.map((c) => [c.poolId, c]));
  }

  async process(batch: Candidate[], _ctx: StepContext): Promise<StepResult> {
    const kept: Candidate[] = [];
    const dropped: Decision[] = [];
    for (const c of batch) {
      const claim = this.kept.get(c.sourceId);
      if (claim === undefined) {
        const lost = this.contested.get(c.sourceId);
        dropped.push(lost ? dropDecision(this.name, c, `contested:${lost.classes.join('+')}`, lost.similarity) : dropDecision(this.name, c, 'not-retrieved'));
        continue;
      }
      c.classIndex = claim.classIndex;
      c.wnid = this.labels.wnids[claim.classIndex]!;
      c.score = claim.similarity;
      c.modelIds = { ...c.modelIds, ...this.modelIds };
      c.metadata = { ...c.metadata, [this.source]: claim.referenceId, ...(claim.classes.length > 1 ? { contested: claim.classes.join('+') } : {}) };
      kept.push(c);
    }
    return { kept, dropped };
  }
}

type Params = Readonly<Record<string, unknown>>;

/**
 * One settled claim outcome per process and request: every task a worker runs, and the build runner, create a
 * retrieval strategy's step again; the pool index and the claims are computed once. A long-lived worker serves
 * many builds, so the latest few are kept; a failed preparation is forgotten so that the next task tries again.
 */
export function memoizeClaimStep(
  createStep: (params: Params, env: StepEnvironment) => Promise<ClaimLabelStep>,
): (params: Params, env: StepEnvironment) => Promise<ClaimLabelStep> {
  const created = new Map<string, Promise<ClaimLabelStep>>();
  return (params, env) => {
    const key = JSON.stringify([params, env.pool.uri, env.pool.format, [...env.labels.selected].sort((a, b) => a - b)]);
    let step = created.get(key);
    if (step === undefined) {
      step = createStep(params, env);
      created.set(key, step);
      if (created.size > 4) created.delete(created.keys().next().value!);
      step.catch(() => created.delete(key));
    }
    return step;
  };
}
