// The leaderboard: one row per shift and evaluation (benchmark, metric), the runs of different seeds summarised
// as mean, sample standard deviation and a 95 % Student-t interval; ranks per (benchmark, metric) in which
// shifts whose intervals overlap tie; the gap of each mean to a reference shift's.

/** Metrics where smaller is better; every other metric ranks larger-first. */
export const LOWER_IS_BETTER: ReadonlySet<string> = new Set([
  'nll',
  'ece',
  'cmmd',
  'gini',
  'ls5pct',
  'lt500',
  'lt500_nonempty',
  'near_duplicate_rate',
  'contamination',
]);

export function lowerIsBetter(metric: string): boolean {
  return LOWER_IS_BETTER.has(metric) || metric.startsWith('contamination:');
}

/** Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom; 1.96 beyond. */
export const T_975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086,
  2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
] as const;

export function tQuantile975(degreesOfFreedom: number): number {
  return degreesOfFreedom >= 1 && degreesOfFreedom <= T_975.length ? T_975[degreesOfFreedom - 1]! : 1.96;
}

/** One score of one run (a seed) of a shift. */
export interface ScoreRow {
  shiftId: string;
  benchmark: string;
  metric: string;
  value: number;
  seed: number;
}

export interface LeaderboardRow {
  shiftId: string;
  benchmark: string;
  metric: string;
  /** Runs (distinct seeds). */
  n: number;
  seeds: number[];
  mean: number;
  /** Sample standard deviation (n - 1); 0 for a single run. */
  std: number;
  ciLow: number;
  ciHigh: number;
  /** 1 + shifts whose interval lies wholly on the better side of this one's: overlapping intervals tie. */
  rank: number;
  /** mean - the reference shift's mean on the same benchmark and metric; NaN without one. */
  gap: number;
}

/**
 * Builds the leaderboard. Several scores of one (shift, benchmark, metric, seed) keep the last one given.
 * Non-finite values are left out (a metric that does not apply).
 */
export function buildLeaderboard(scores: readonly ScoreRow[], options: { referenceShift?: string } = {}): LeaderboardRow[] {
  const runs = new Map<string, { row: Omit<LeaderboardRow, 'n' | 'seeds' | 'mean' | 'std' | 'ciLow' | 'ciHigh' | 'rank' | 'gap'>; bySeed: Map<number, number> }>();
  for (const s of scores) {
    if (!Number.isFinite(s.value)) continue;
    const key = JSON.stringify([s.benchmark, s.metric, s.shiftId]);
    let entry = runs.get(key);
    if (!entry) runs.set(key, (entry = { row: { shiftId: s.shiftId, benchmark: s.benchmark, metric: s.metric }, bySeed: new Map() }));
    entry.bySeed.set(s.seed, s.value);
  }
  const rows: LeaderboardRow[] = [...runs.values()].map(({ row, bySeed }) => {
    const seeds = [...bySeed.keys()].sort((a, b) => a - b);
    const values = seeds.map((seed) => bySeed.get(seed)!);
    const n = values.length;
    const mean = values.reduce((a, b) => a + b, 0) / n;
    const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
    const half = n > 1 ? (tQuantile975(n - 1) * std) / Math.sqrt(n) : 0;
    return { ...row, n, seeds, mean, std, ciLow: mean - half, ciHigh: mean + half, rank: 0, gap: Number.NaN };
  });
  const groups = new Map<string, LeaderboardRow[]>();
  for (const row of rows) {
    const key = JSON.stringify([row.benchmark, row.metric]);
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  for (const group of groups.values()) {
    const lower = lowerIsBetter(group[0]!.metric);
    const reference = group.find((r) => r.shiftId === options.referenceShift);
    for (const row of group) {
      row.rank = 1 + group.filter((other) => (lower ? other.ciHigh < row.ciLow : other.ciLow > row.ciHigh)).length;
      row.gap = reference ? row.mean - reference.mean : Number.NaN;
    }
  }
  return rows.sort((a, b) => a.benchmark.localeCompare(b.benchmark) || a.metric.localeCompare(b.metric) || a.rank - b.rank || a.shiftId.localeCompare(b.shiftId));
}
