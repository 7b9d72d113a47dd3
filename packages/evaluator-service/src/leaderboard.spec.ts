import { describe, expect, it } from 'vitest';
import { buildLeaderboard, type ScoreRow } from './leaderboard.js';

const score = (shiftId: string, metric: string, value: number, seed = 0, benchmark = 'imagenet-val'): ScoreRow => ({ shiftId, benchmark, metric, value, seed });

describe('buildLeaderboard', () => {
  it('summarises seeds with mean, sample std and a Student-t 95 % interval', () => {
    const [row] = buildLeaderboard([score('a', 'top1', 70, 0), score('a', 'top1', 72, 1), score('a', 'top1', 74, 2)]);
    expect(row!.n).toBe(3);
    expect(row!.seeds).toEqual([0, 1, 2]);
    expect(row!.mean).toBe(72);
    expect(row!.std).toBe(2); // sqrt((4 + 0 + 4) / 2)
    // t(0.975, 2) = 4.303: half width 4.303 * 2 / sqrt(3)
    expect(row!.ciLow).toBeCloseTo(72 - (4.303 * 2) / Math.sqrt(3), 10);
    expect(row!.ciHigh).toBeCloseTo(72 + (4.303 * 2) / Math.sqrt(3), 10);
  });

  it('ties shifts whose intervals overlap and ranks the rest, in the metric’s direction', () => {
    const rows = buildLeaderboard(
      [
        // a: 70..74 (mean 72 +- 4.97), b: 71 +- 0 (single run, inside a's interval), c: 50, 51 (well below)
        score('a', 'top1', 70, 0),
        score('a', 'top1', 72, 1),
        score('a', 'top1', 74, 2),
        score('b', 'top1', 71),
        score('c', 'top1', 50, 0),
        score('c', 'top1', 51, 1),
        // lower is better for NLL: c best
        score('a', 'nll', 2.0),
        score('b', 'nll', 1.5),
        score('c', 'nll', 1.0),
      ],
      { referenceShift: 'b' },
    );
    const top1 = Object.fromEntries(rows.filter((r) => r.metric === 'top1').map((r) => [r.shiftId, r]));
    expect(top1['a']!.rank).toBe(1);
    expect(top1['b']!.rank).toBe(1); // tied with a: the intervals overlap
    // c's interval (50.5 +- 12.7 * 0.5 = 44.15..56.85) lies wholly below a's and b's
    expect(top1['c']!.rank).toBe(3);
    expect(top1['a']!.gap).toBe(1);
    expect(top1['c']!.gap).toBe(-20.5);
    const nll = Object.fromEntries(rows.filter((r) => r.metric === 'nll').map((r) => [r.shiftId, r.rank]));
    expect(nll).toEqual({ c: 1, b: 2, a: 3 });
  });

  it('keeps the last score of a repeated seed and leaves out values that do not apply', () => {
    const rows = buildLeaderboard([score('a', 'top1', 10), score('a', 'top1', 20), score('a', 'ece', Number.NaN)]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.mean).toBe(20);
    expect(rows[0]!.gap).toBeNaN();
  });
});
