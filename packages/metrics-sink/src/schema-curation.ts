// The curation decisions table: one row per candidate and build in the end. Sized for pools of hundreds
// of millions of candidates: no envelope columns (the decision is identified by shift, source and seed,
// which is what makes a redone task's events collapse), small numeric types, and a sort key that keeps
// one build's rows together so strings repeat next to each other and compress to almost nothing.
// ReplacingMergeTree(stage): when a later step (a build-wide quota or gate) overrides a task's decision,
// the row with the higher stage wins; one partition, since a redone task's rows must meet the first
// ones (a time partition would keep a redo that crosses a month apart); equal stages (a redone task) are the same decision. Read with FINAL.
// Works on ClickHouse 18.16 (no LowCardinality, no codecs) and current versions.
import type { Migration } from '@select/metrics';

export const DECISION_COLUMNS = [
  'shift_id',
  'source_id',
  'seed',
  'step',
  'stage',
  'kept',
  'reason',
  'score',
  'class_index',
  'strategy',
  'source',
  'task_id',
  'event_time',
] as const;

export const LABEL_MAPPING_COLUMNS = ['shift_id', 'label', 'name', 'wnid', 'class_index', 'rule', 'synset', 'images', 'event_time'] as const;

export const CURATION_MIGRATIONS: readonly Migration[] = [
  {
    id: '0101_curation_decisions',
    sql: `CREATE TABLE IF NOT EXISTS curation_decisions
(
    shift_id String,
    source_id String,
    seed Int64,
    step String,
    stage UInt8,
    kept UInt8,
    reason String,
    score Float32,
    class_index Int16,
    strategy String,
    source String,
    task_id String,
    event_time DateTime('UTC')
)
ENGINE = ReplacingMergeTree(stage)
ORDER BY (shift_id, source_id, seed)
SETTINGS index_granularity = 8192`,
  },
  {
    // Kept samples per class, strategy and source of every build: "how many samples per class did each
    // strategy keep, from which sources".
    id: '0102_curation_kept_per_class_view',
    sql: `CREATE VIEW IF NOT EXISTS curation_kept_per_class AS
SELECT shift_id, strategy, class_index, source, count() AS samples
FROM curation_decisions FINAL
WHERE kept = 1
GROUP BY shift_id, strategy, class_index, source`,
  },
  {
    // Dropped candidates per build, step and reason: where a pool's candidates went.
    id: '0103_curation_drops_view',
    sql: `CREATE VIEW IF NOT EXISTS curation_drops AS
SELECT shift_id, step, reason, count() AS candidates
FROM curation_decisions FINAL
WHERE kept = 0
GROUP BY shift_id, step, reason`,
  },
  {
    // The label table of schema-mapping builds (OpenImages MID -> ImageNet class, and the unmapped labels).
    id: '0104_curation_label_mappings',
    sql: `CREATE TABLE IF NOT EXISTS curation_label_mappings
(
    shift_id String,
    label String,
    name String,
    wnid String,
    class_index Int16,
    rule String,
    synset String,
    images UInt64,
    event_time DateTime('UTC')
)
ENGINE = ReplacingMergeTree(event_time)
ORDER BY (shift_id, label)`,
  },
];
