// The evaluator's views over evaluation_results (owned by @select/evaluator-service; spread into schema.ts's
// migration list). EvaluationResult rows carry the run's seed and, for per-class rows, the class in params_json
// (flat JSON without spaces, which visitParamExtract* reads on ClickHouse 18.16 and current versions alike).
// No window functions: ranks come from arrays (groupArray + arrayCount + ARRAY JOIN).
// Never edit an applied migration; add a new one.
import type { Migration } from '@select/metrics';

/** Metrics where smaller is better (kept equal to @select/evaluator-service's LOWER_IS_BETTER). */
export const LOWER_IS_BETTER_METRICS = [
  'nll',
  'ece',
  'cmmd',
  'gini',
  'ls5pct',
  'lt500',
  'lt500_nonempty',
  'near_duplicate_rate',
  'contamination',
] as const;

const LATEST = '(event_time, event_time_ms, kafka_offset)';

/** Two-sided 97.5 % Student-t quantiles for 1..30 degrees of freedom (1.96 beyond). */
const T_975 =
  '[12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042]';

export const EVALUATION_MIGRATIONS: readonly Migration[] = [
  {
    // The latest score of every (shift, benchmark, metric, seed), per-class rows left out.
    id: '0201_evaluation_scores_view',
    sql: `CREATE VIEW IF NOT EXISTS evaluation_scores AS
SELECT
    shift_id,
    benchmark,
    metric,
    visitParamExtractInt(params_json, 'seed') AS seed,
    argMax(value, ${LATEST}) AS value,
    argMax(num_samples, ${LATEST}) AS num_samples,
    argMax(eval_id, ${LATEST}) AS eval_id,
    argMax(run_id, ${LATEST}) AS run_id,
    argMax(model_id, ${LATEST}) AS model_id,
    max(event_time) AS evaluated_at
FROM evaluation_results FINAL
WHERE visitParamHas(params_json, 'class_index') = 0
GROUP BY shift_id, benchmark, metric, seed`,
  },
  {
    // One row per shift and evaluation: seeds summarised as mean, sample std and a 95 % Student-t interval.
    id: '0202_evaluation_leaderboard_view',
    sql: `CREATE VIEW IF NOT EXISTS evaluation_leaderboard AS
SELECT
    benchmark,
    metric,
    shift_id,
    n,
    seeds,
    mean,
    std,
    mean - half_width AS ci_low,
    mean + half_width AS ci_high,
    if(metric IN (${LOWER_IS_BETTER_METRICS.map((m) => `'${m}'`).join(', ')}) OR metric LIKE 'contamination:%', 1, 0) AS lower_is_better
FROM
(
    SELECT
        benchmark,
        metric,
        shift_id,
        count() AS n,
        arraySort(groupArray(seed)) AS seeds,
        avg(value) AS mean,
        if(count() > 1, stddevSamp(value), 0) AS std,
        if(count() > 1, if(count() - 1 <= 30, arrayElement(${T_975}, toUInt32(count() - 1)), 1.96) * stddevSamp(value) / sqrt(count()), 0) AS half_width
    FROM evaluation_scores
    WHERE isFinite(value)
    GROUP BY benchmark, metric, shift_id
)`,
  },
  {
    // Ranks per (benchmark, metric): 1 + the shifts whose interval lies wholly on the better side, so shifts
    // whose 95 % intervals overlap tie.
    id: '0203_evaluation_leaderboard_ranked_view',
    sql: `CREATE VIEW IF NOT EXISTS evaluation_leaderboard_ranked AS
SELECT
    benchmark,
    metric,
    shift_id,
    n,
    mean,
    std,
    ci_low,
    ci_high,
    lower_is_better,
    1 + if(lower_is_better = 1, arrayCount(x -> x < ci_low, highs), arrayCount(x -> x > ci_high, lows)) AS rank
FROM
(
    SELECT
        benchmark,
        metric,
        any(lower_is_better) AS lower_is_better,
        groupArray(shift_id) AS shifts,
        groupArray(n) AS ns,
        groupArray(mean) AS means,
        groupArray(std) AS stds,
        groupArray(ci_low) AS lows,
        groupArray(ci_high) AS highs
    FROM evaluation_leaderboard
    GROUP BY benchmark, metric
)
ARRAY JOIN shifts AS shift_id, ns AS n, means AS mean, stds AS std, lows AS ci_low, highs AS ci_high`,
  },
  {
    // Per-class rows (class_accuracy, class_precision, class_recall, class_count, ...), the latest per seed.
    id: '0204_evaluation_class_results_view',
    sql: `CREATE VIEW IF NOT EXISTS evaluation_class_results AS
SELECT
    shift_id,
    benchmark,
    metric,
    toInt32(visitParamExtractInt(params_json, 'class_index')) AS class_index,
    visitParamExtractString(params_json, 'class_name') AS class_name,
    visitParamExtractInt(params_json, 'seed') AS seed,
    argMax(value, ${LATEST}) AS value,
    argMax(num_samples, ${LATEST}) AS num_samples,
    argMax(eval_id, ${LATEST}) AS eval_id
FROM evaluation_results FINAL
WHERE visitParamHas(params_json, 'class_index') = 1
GROUP BY shift_id, benchmark, metric, class_index, class_name, seed`,
  },
];

/** The evaluator README's example queries (its SQL section shows these texts; a test runs them on both servers). */
export const EVALUATION_EXAMPLE_QUERIES = {
  /** Top-1 of every shift on every evaluation set, ranked (seeds averaged, overlapping intervals tie). */
  top1EveryShift: `SELECT benchmark, shift_id, round(mean, 2) AS top1, round(ci_low, 2) AS ci_low, round(ci_high, 2) AS ci_high, n AS seeds, rank
FROM evaluation_leaderboard_ranked
WHERE metric = 'top1'
ORDER BY benchmark, rank, shift_id`,
  /** Per-class accuracy on ImageNet val against the class's training count, for OI1000. */
  perClassAccuracyVsCountOi1000: `SELECT class_index, class_name, class_count, accuracy
FROM
(
    SELECT class_index, any(class_name) AS class_name, avg(value) AS accuracy
    FROM evaluation_class_results
    WHERE shift_id = 'oi1000' AND benchmark = 'imagenet-val' AND metric = 'class_accuracy'
    GROUP BY class_index
) AS accuracies
ALL INNER JOIN
(
    SELECT class_index, any(value) AS class_count
    FROM evaluation_class_results
    WHERE shift_id = 'oi1000' AND benchmark = 'shift-analytics' AND metric = 'class_count'
    GROUP BY class_index
) AS counts USING class_index
ORDER BY class_count DESC, class_index`,
  /** Every shift's gap to IN1000 on each evaluation set's top-1. */
  gapToIn1000: `SELECT benchmark, shift_id, round(mean, 2) AS top1, round(mean - reference, 2) AS gap_to_in1000
FROM evaluation_leaderboard
ALL INNER JOIN
(
    SELECT benchmark, metric, mean AS reference FROM evaluation_leaderboard WHERE shift_id = 'in1000'
) AS reference USING benchmark, metric
WHERE metric = 'top1'
ORDER BY benchmark, gap_to_in1000 DESC, shift_id`,
} as const;
