import { describe, expect, it } from 'vitest';
import { QuotaFiller, planQuotas } from './quotas.js';

const available = new Map([
  [0, 5],
  [1, 2],
  [2, 0],
]);

describe('quotas', () => {
  it('plans a cap, a uniform distribution and given counts', () => {
    expect([...planQuotas(available, { kind: 'cap', perClass: 3 })]).toEqual([
      [0, 3],
      [1, 2],
    ]);
    expect([...planQuotas(available, { kind: 'uniform' })]).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect([...planQuotas(available, { kind: 'uniform', perClass: 4 })]).toEqual([
      [0, 4],
      [1, 2],
    ]);
    expect([...planQuotas(available, { kind: 'counts', counts: new Map([[0, 1], [1, 5]]) })]).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(() => planQuotas(available, { kind: 'cap', perClass: -1 })).toThrow(/perClass must be a non-negative integer/);
  });

  it('fills each quota in score order from a stream, ties by id, NaN last', () => {
    const filler = new QuotaFiller(new Map([[0, 3], [1, 1]]));
    const items = [
      { id: 'e', classIndex: 0, score: 0.5 },
      { id: 'a', classIndex: 0, score: Number.NaN },
      { id: 'b', classIndex: 0, score: 0.9 },
      { id: 'd', classIndex: 0, score: 0.5 },
      { id: 'c', classIndex: 0, score: 0.1 },
      { id: 'x', classIndex: 1, score: 0.2 },
      { id: 'y', classIndex: 1, score: 0.7 },
      { id: 'z', classIndex: 2, score: 1.0 }, // no quota for class 2
    ];
    for (const item of items) filler.offer(item);
    const kept = filler.kept();
    expect(kept.get(0)!.map((i) => i.id)).toEqual(['b', 'd', 'e']);
    expect(kept.get(1)!.map((i) => i.id)).toEqual(['y']);
    expect(kept.has(2)).toBe(false);
    // the same items in another order give the same kept set
    const again = new QuotaFiller(new Map([[0, 3], [1, 1]]));
    for (const item of [...items].reverse()) again.offer(item);
    expect([...again.keptIds()].sort()).toEqual([...filler.keptIds()].sort());
  });
});
