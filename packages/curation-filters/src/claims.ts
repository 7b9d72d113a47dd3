// LA1000 img2img's claim rule: every reference image names its k nearest pool images; a pool image named
// by several references goes to one of them, so that no pool image enters the shift twice.
import { invalidArgument } from './errors.js';

/**
 * - `most-similar` (default): the reference with the highest similarity wins (ties: the smaller
 *   reference id), whatever the classes; the pool image takes its class.
 * - `drop-contested`: a pool image named by references of two or more classes is dropped; named by one
 *   class only, it goes to that class's most similar reference.
 */
export const CLAIM_RULES = ['most-similar', 'drop-contested'] as const;
export type ClaimRule = (typeof CLAIM_RULES)[number];

export interface Claim {
  poolId: string;
  referenceId: string;
  classIndex: number;
  similarity: number;
  /** Classes of every reference that named this pool image (sorted); more than one = contested. */
  classes: number[];
}

export interface ClaimOutcome {
  /** Pool images kept, with the winning claim, sorted by pool id. */
  kept: Claim[];
  /** Pool images dropped by `drop-contested` (their best claim), sorted by pool id. */
  dropped: Claim[];
  /** Pool images named by references of more than one class. */
  contested: number;
}

/** Collects claims in any order; the outcome does not depend on the order of `add` calls. */
export class ClaimResolver {
  private readonly best = new Map<string, { referenceId: string; classIndex: number; similarity: number; classes: Set<number> }>();

  constructor(readonly rule: ClaimRule = 'most-similar') {
    if (!CLAIM_RULES.includes(rule)) throw invalidArgument(`claims: rule must be one of ${CLAIM_RULES.join(', ')} (got ${rule})`);
  }

  /** One reference image's neighbours (already cut at the similarity floor). */
  add(referenceId: string, classIndex: number, neighbours: ReadonlyArray<{ poolId: string; similarity: number }>): void {
    for (const { poolId, similarity } of neighbours) {
      if (!Number.isFinite(similarity)) throw invalidArgument(`claims: reference ${referenceId} gives ${poolId} a similarity of ${similarity}`);
      const current = this.best.get(poolId);
      if (current === undefined) {
        this.best.set(poolId, { referenceId, classIndex, similarity, classes: new Set([classIndex]) });
        continue;
      }
      current.classes.add(classIndex);
      if (similarity > current.similarity || (similarity === current.similarity && referenceId < current.referenceId)) {
        current.referenceId = referenceId;
        current.classIndex = classIndex;
        current.similarity = similarity;
      }
    }
  }

  /** Pool images claimed so far. */
  get size(): number {
    return this.best.size;
  }

  outcome(): ClaimOutcome {
    const kept: Claim[] = [];
    const dropped: Claim[] = [];
    let contested = 0;
    for (const poolId of [...this.best.keys()].sort()) {
      const b = this.best.get(poolId)!;
      const claim: Claim = { poolId, referenceId: b.referenceId, classIndex: b.classIndex, similarity: b.similarity, classes: [...b.classes].sort((x, y) => x - y) };
      if (claim.classes.length > 1) contested++;
      if (this.rule === 'drop-contested' && claim.classes.length > 1) dropped.push(claim);
      else kept.push(claim);
    }
    return { kept, dropped, contested };
  }
}
