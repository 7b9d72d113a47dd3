import type { Candidate, Decision } from '../chain/step.js';

/** A candidate's identity inside one build: its source id, and for generated images the seed too. */
export function candidateKey(c: Pick<Candidate, 'sourceId' | 'seed'>): string {
  return c.seed === undefined ? c.sourceId : `${c.sourceId}#${c.seed}`;
}

/** A drop decision of `step` for `c`. */
export function dropDecision(step: string, c: Candidate, reason: string, score = Number.NaN): Decision {
  return {
    sourceId: c.sourceId,
    step,
    kept: false,
    reason: reason.slice(0, 200),
    score,
    classIndex: c.classIndex ?? -1,
    ...(c.seed !== undefined ? { seed: c.seed } : {}),
  };
}
