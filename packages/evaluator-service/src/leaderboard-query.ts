// GetLeaderboard: the scores the sink landed in ClickHouse (view evaluation_scores, one row per shift, benchmark,
// metric and seed), summarised and ranked by buildLeaderboard. The same statistics exist as the views
// evaluation_leaderboard and evaluation_leaderboard_ranked for SQL users; this path adds the reference gap.
import type { ClickHouse } from '@select/metrics';
import { sql } from '@select/metrics';
import { buildLeaderboard, type LeaderboardRow } from './leaderboard.js';

export interface LeaderboardQuery {
  benchmark?: string;
  metric?: string;
  referenceShift?: string;
}

export async function queryLeaderboard(ch: ClickHouse, query: LeaderboardQuery): Promise<LeaderboardRow[]> {
  const where = [sql`1 = 1`];
  if (query.benchmark) where.push(sql`benchmark = ${query.benchmark}`);
  if (query.metric) where.push(sql`metric = ${query.metric}`);
  const rows = await ch.query<{ shift_id: string; benchmark: string; metric: string; seed: string | number; value: number | string }>(
    sql`SELECT shift_id, benchmark, metric, seed, value FROM evaluation_scores WHERE ${sql.join(where, ' AND ')} ORDER BY benchmark, metric, shift_id, seed`,
  );
  return buildLeaderboard(
    rows.map((r) => ({ shiftId: r.shift_id, benchmark: r.benchmark, metric: r.metric, seed: Number(r.seed), value: Number(r.value) })),
    query.referenceShift ? { referenceShift: query.referenceShift } : {},
  );
}
