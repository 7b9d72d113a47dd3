// The tables the sink materialises, as ordered migrations. Every table is a ReplacingMergeTree whose sort key
// ends in event_id: a replayed event (same id) collapses into one row on merge or with FINAL, so replays and
// at-least-once redelivery never double count. Written for ClickHouse 18.16 and current versions alike:
// DateTime('UTC') with the milliseconds in their own column, no Nullable, no LowCardinality, no window functions.
// "Latest" in the views orders by (event_time, event_time_ms, kafka_offset): the offset breaks ties between
// events of one millisecond, and events of one entity share a partition because it is the Kafka key.
// Never edit an applied migration (the runner refuses it); add a new one.
import type { Migration } from '@select/metrics';
import { CURATION_MIGRATIONS, DECISION_COLUMNS, LABEL_MAPPING_COLUMNS } from './schema-curation.js';
import { EVALUATION_MIGRATIONS } from './schema-evaluation.js';

/** Columns every table starts with, taken from the event envelope. */
export const ENVELOPE_COLUMNS = [
  'event_id',
  'event_time',
  'event_time_ms',
  'source',
  'kafka_partition',
  'kafka_offset',
  'ingested_at',
] as const;

const ENVELOPE_DDL = `event_id String,
    event_time DateTime('UTC'),
    event_time_ms UInt16,
    source String,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')`;

const ENGINE = (sortKey: string): string => `ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (${sortKey})
SETTINGS index_granularity = 8192`;

/** Column lists the sink inserts, per table; they match the migrations below. */
export const TABLE_COLUMNS = {
  samples: [
    ...ENVELOPE_COLUMNS,
    'shift_id',
    'sample_id',
    'strategy',
    'class_index',
    'wnid',
    'source_id',
    'score',
    'shard',
    'key',
    'width',
    'height',
    'provenance_strategy',
    'provenance_params_hash',
    'provenance_source_id',
    'provenance_score',
    'provenance_model_ids',
    'provenance_prompt',
    'provenance_seed',
    'provenance_extra',
  ],
  shifts: [
    ...ENVELOPE_COLUMNS,
    'shift_id',
    'name',
    'strategy',
    'phase',
    'params_json',
    'params_hash',
    'sample_count',
    'class_count',
    'shard_count',
    'uri',
    'message',
  ],
  jobs: [
    ...ENVELOPE_COLUMNS,
    'event_type',
    'job_id',
    'kind',
    'state',
    'message',
    'params_json',
    'done',
    'total',
    'unit',
    'rate_per_s',
  ],
  training_metrics: [...ENVELOPE_COLUMNS, 'run_id', 'shift_id', 'epoch', 'step', 'split', 'name', 'value'],
  evaluation_results: [
    ...ENVELOPE_COLUMNS,
    'eval_id',
    'run_id',
    'shift_id',
    'model_id',
    'benchmark',
    'metric',
    'value',
    'num_samples',
    'params_json',
  ],
  curation_decisions: DECISION_COLUMNS,
  curation_label_mappings: LABEL_MAPPING_COLUMNS,
} as const;

export type SinkTable = keyof typeof TABLE_COLUMNS;

export const METRICS_SINK_MIGRATIONS: readonly Migration[] = [
  {
    id: '0001_samples',
    sql: `CREATE TABLE IF NOT EXISTS samples
(
    ${ENVELOPE_DDL},
    shift_id String,
    sample_id String,
    strategy String,
    class_index Int32,
    wnid String,
    source_id String,
    score Float64,
    shard String,
    key String,
    width Int32,
    height Int32,
    provenance_strategy String,
    provenance_params_hash String,
    provenance_source_id String,
    provenance_score Float64,
    provenance_model_ids Array(String),
    provenance_prompt String,
    provenance_seed Int64,
    provenance_extra String
)
${ENGINE('shift_id, event_id')}`,
  },
  {
    id: '0002_shifts',
    sql: `CREATE TABLE IF NOT EXISTS shifts
(
    ${ENVELOPE_DDL},
    shift_id String,
    name String,
    strategy String,
    phase String,
    params_json String,
    params_hash String,
    sample_count UInt64,
    class_count UInt32,
    shard_count UInt32,
    uri String,
    message String
)
${ENGINE('shift_id, event_id')}`,
  },
  {
    id: '0003_jobs',
    sql: `CREATE TABLE IF NOT EXISTS jobs
(
    ${ENVELOPE_DDL},
    event_type String,
    job_id String,
    kind String,
    state String,
    message String,
    params_json String,
    done UInt64,
    total UInt64,
    unit String,
    rate_per_s Float64
)
${ENGINE('job_id, event_id')}`,
  },
  {
    id: '0004_training_metrics',
    sql: `CREATE TABLE IF NOT EXISTS training_metrics
(
    ${ENVELOPE_DDL},
    run_id String,
    shift_id String,
    epoch UInt32,
    step UInt64,
    split String,
    name String,
    value Float64
)
${ENGINE('run_id, name, split, step, event_id')}`,
  },
  {
    id: '0005_evaluation_results',
    sql: `CREATE TABLE IF NOT EXISTS evaluation_results
(
    ${ENVELOPE_DDL},
    eval_id String,
    run_id String,
    shift_id String,
    model_id String,
    benchmark String,
    metric String,
    value Float64,
    num_samples UInt64,
    params_json String
)
${ENGINE('benchmark, metric, eval_id, event_id')}`,
  },
  {
    // The latest score of every (benchmark, metric, shift, run, model); re-evaluations replace older scores.
    id: '0006_leaderboard_view',
    sql: `CREATE VIEW IF NOT EXISTS leaderboard AS
SELECT
    benchmark,
    metric,
    shift_id,
    run_id,
    model_id,
    argMax(value, (event_time, event_time_ms, kafka_offset)) AS value,
    argMax(num_samples, (event_time, event_time_ms, kafka_offset)) AS num_samples,
    argMax(eval_id, (event_time, event_time_ms, kafka_offset)) AS eval_id,
    max(event_time) AS evaluated_at
FROM evaluation_results FINAL
GROUP BY benchmark, metric, shift_id, run_id, model_id`,
  },
  {
    // Samples per class of every shift: the class histogram behind Coverage, LT@500 and LS@5pct.
    id: '0007_shift_class_counts_view',
    sql: `CREATE VIEW IF NOT EXISTS shift_class_counts AS
SELECT shift_id, class_index, any(wnid) AS wnid, count() AS samples
FROM samples FINAL
GROUP BY shift_id, class_index`,
  },
  {
    // The latest lifecycle event of every shift.
    id: '0008_shift_status_view',
    sql: `CREATE VIEW IF NOT EXISTS shift_status AS
SELECT
    shift_id,
    argMax(name, (event_time, event_time_ms, kafka_offset)) AS name,
    argMax(strategy, (event_time, event_time_ms, kafka_offset)) AS strategy,
    argMax(phase, (event_time, event_time_ms, kafka_offset)) AS phase,
    argMax(sample_count, (event_time, event_time_ms, kafka_offset)) AS sample_count,
    argMax(class_count, (event_time, event_time_ms, kafka_offset)) AS class_count,
    argMax(uri, (event_time, event_time_ms, kafka_offset)) AS uri,
    max(event_time) AS updated_at
FROM shifts FINAL
GROUP BY shift_id`,
  },
  {
    // The latest state and progress of every job.
    id: '0009_job_status_view',
    sql: `CREATE VIEW IF NOT EXISTS job_status AS
SELECT
    job_id,
    any(kind) AS kind,
    argMaxIf(state, (event_time, event_time_ms, kafka_offset), event_type = 'JobLifecycle') AS state,
    argMaxIf(message, (event_time, event_time_ms, kafka_offset), event_type = 'JobLifecycle') AS message,
    argMaxIf(done, (event_time, event_time_ms, kafka_offset), event_type = 'JobProgress') AS done,
    argMaxIf(total, (event_time, event_time_ms, kafka_offset), event_type = 'JobProgress') AS total,
    argMaxIf(unit, (event_time, event_time_ms, kafka_offset), event_type = 'JobProgress') AS unit,
    max(event_time) AS updated_at
FROM jobs FINAL
GROUP BY job_id`,
  },
  ...CURATION_MIGRATIONS,
  ...EVALUATION_MIGRATIONS,
];
