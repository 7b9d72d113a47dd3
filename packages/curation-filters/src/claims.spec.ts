import { describe, expect, it } from 'vitest';
import { ClaimResolver } from './claims.js';

const claims: Array<[string, number, Array<{ poolId: string; similarity: number }>]> = [
  ['r1', 0, [{ poolId: 'p1', similarity: 0.9 }, { poolId: 'p2', similarity: 0.8 }]],
  ['r2', 1, [{ poolId: 'p1', similarity: 0.95 }, { poolId: 'p3', similarity: 0.7 }]],
  ['r3', 0, [{ poolId: 'p2', similarity: 0.85 }]],
  ['r0', 1, [{ poolId: 'p3', similarity: 0.7 }]], // ties r2 on p3: the smaller reference id wins
];

describe('ClaimResolver', () => {
  it('gives a pool image claimed by several references to the most similar one, once', () => {
    const resolver = new ClaimResolver();
    for (const [ref, cls, n] of claims) resolver.add(ref, cls, n);
    const outcome = resolver.outcome();
    expect(outcome.kept.map((c) => [c.poolId, c.referenceId, c.classIndex, c.classes])).toEqual([
      ['p1', 'r2', 1, [0, 1]],
      ['p2', 'r3', 0, [0]],
      ['p3', 'r0', 1, [1]],
    ]);
    expect(outcome.contested).toBe(1);
    // the outcome does not depend on the order references arrive in
    const reversed = new ClaimResolver();
    for (const [ref, cls, n] of [...claims].reverse()) reversed.add(ref, cls, n);
    expect(reversed.outcome()).toEqual(outcome);
  });

  it('drops contested pool images under drop-contested', () => {
    const resolver = new ClaimResolver('drop-contested');
    for (const [ref, cls, n] of claims) resolver.add(ref, cls, n);
    const outcome = resolver.outcome();
    expect(outcome.kept.map((c) => c.poolId)).toEqual(['p2', 'p3']);
    expect(outcome.dropped.map((c) => [c.poolId, c.classes])).toEqual([['p1', [0, 1]]]);
    expect(() => new ClaimResolver('first' as never)).toThrow(/rule must be one of most-similar, drop-contested/);
  });
});
