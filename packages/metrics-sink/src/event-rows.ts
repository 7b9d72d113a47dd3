// One table row per event: the envelope columns, then the payload flattened into snake_case columns.
// Payloads arrive in proto-loader shape (camelCase, 64-bit integers as decimal strings, enums as names);
// 64-bit values stay strings, which JSONEachRow reads into (U)Int64 columns without losing precision.
import type {
  CandidateDecision__Output,
  CandidateDecisions__Output,
  EvaluationResult__Output,
  LabelMapping__Output,
  JobLifecycle__Output,
  JobProgress__Output,
  SampleCurated__Output,
  ShiftLifecycle__Output,
  TrainingMetric__Output,
} from '@select/contracts';
import { EVENT_TYPES, type ReceivedEvent } from '@select/events';
import { RowBinaryBytes } from '@select/metrics';
import { UnsupportedEventError } from './errors.js';
import type { SinkTable } from './schema.js';

export interface TableRow {
  table: SinkTable;
  row: Record<string, unknown>;
}

function envelopeColumns(event: ReceivedEvent, ingestedAt: Date): Record<string, unknown> {
  const time = event.envelope.time;
  return {
    event_id: event.envelope.id,
    event_time: time,
    event_time_ms: ((time.getTime() % 1000) + 1000) % 1000,
    source: event.envelope.source,
    kafka_partition: event.partition,
    kafka_offset: event.offset,
    ingested_at: ingestedAt,
  };
}

/** Decimal string of a 64-bit field; protobuf defaults make a missing one "0". */
const int64 = (value: string | number | undefined | null): string => (value == null || value === '' ? '0' : String(value));

/**
 * The whole samples row in one object literal (envelope columns included): samples are the high-volume table,
 * and V8 keeps a literal's properties fast, where merging two objects makes a slow dictionary object that
 * every later step (toJsonEachRow, JSON.stringify) pays for again.
 */
function sampleRow(event: ReceivedEvent, ingestedAt: Date, p: SampleCurated__Output): Record<string, unknown> {
  const time = event.envelope.time;
  const prov = p.provenance;
  return {
    event_id: event.envelope.id,
    event_time: time,
    event_time_ms: ((time.getTime() % 1000) + 1000) % 1000,
    source: event.envelope.source,
    kafka_partition: event.partition,
    kafka_offset: event.offset,
    ingested_at: ingestedAt,
    shift_id: p.shiftId,
    sample_id: p.sampleId,
    strategy: p.strategy,
    class_index: p.classIndex,
    wnid: p.wnid,
    source_id: p.sourceId,
    score: p.score,
    shard: p.shard,
    key: p.key,
    width: p.width,
    height: p.height,
    provenance_strategy: prov?.strategy ?? '',
    provenance_params_hash: prov?.paramsHash ?? '',
    provenance_source_id: prov?.sourceId ?? '',
    // NaN says "no provenance score", as the proto documents for a score that does not apply.
    provenance_score: prov ? prov.score : Number.NaN,
    provenance_model_ids: prov?.modelIds ?? [],
    provenance_prompt: prov?.prompt ?? '',
    provenance_seed: int64(prov?.seed),
    provenance_extra: JSON.stringify(prov?.extra ?? {}),
  };
}

/**
 * A samples row whose payload columns are already RowBinary (transcodeSampleCurated): the envelope columns,
 * then the bytes as the value of the first payload column, shift_id, covering all 19.
 */
function transcodedSampleRow(event: ReceivedEvent, ingestedAt: Date, payload: RowBinaryBytes): Record<string, unknown> {
  const row = envelopeColumns(event, ingestedAt);
  row.shift_id = payload;
  return row;
}

function shiftColumns(p: ShiftLifecycle__Output): Record<string, unknown> {
  return {
    shift_id: p.shiftId,
    name: p.name,
    strategy: p.strategy,
    phase: String(p.phase),
    params_json: p.paramsJson,
    params_hash: p.paramsHash,
    sample_count: int64(p.sampleCount),
    class_count: p.classCount,
    shard_count: p.shardCount,
    uri: p.uri,
    message: p.message,
  };
}

function jobLifecycleColumns(p: JobLifecycle__Output): Record<string, unknown> {
  return {
    event_type: 'JobLifecycle',
    job_id: p.jobId,
    kind: p.kind,
    state: String(p.state),
    message: p.message,
    params_json: p.paramsJson,
    done: '0',
    total: '0',
    unit: '',
    rate_per_s: 0,
  };
}

function jobProgressColumns(p: JobProgress__Output): Record<string, unknown> {
  return {
    event_type: 'JobProgress',
    job_id: p.jobId,
    kind: p.kind,
    state: '',
    message: p.message,
    params_json: '',
    done: int64(p.done),
    total: int64(p.total),
    unit: p.unit,
    rate_per_s: p.ratePerS,
  };
}

function trainingColumns(p: TrainingMetric__Output): Record<string, unknown> {
  return {
    run_id: p.runId,
    shift_id: p.shiftId,
    epoch: p.epoch,
    step: int64(p.step),
    split: p.split,
    name: p.name,
    value: p.value,
  };
}

function evaluationColumns(p: EvaluationResult__Output): Record<string, unknown> {
  return {
    eval_id: p.evalId,
    run_id: p.runId,
    shift_id: p.shiftId,
    model_id: p.modelId,
    benchmark: p.benchmark,
    metric: p.metric,
    value: p.value,
    num_samples: int64(p.numSamples),
    params_json: p.paramsJson,
  };
}

/**
 * The rows of one event: one for every event type, except CandidateDecisions (a batch of decisions in one
 * event), which lands one curation_decisions row per decision.
 */
export function eventToRows(event: ReceivedEvent, ingestedAt: Date): TableRow[] {
  if (event.envelope.type !== EVENT_TYPES.CandidateDecisions) return [eventToRow(event, ingestedAt)];
  const batch = event.payload as CandidateDecisions__Output;
  return batch.decisions.map((d) => ({ table: 'curation_decisions', row: decisionColumns(event, d, batch) }));
}

/** What a batch's decisions share; empty (proto default) where the batch does not say. */
type DecisionDefaults = Pick<CandidateDecisions__Output, 'shiftId' | 'strategy' | 'source' | 'taskId' | 'step'>;
const NO_DEFAULTS: DecisionDefaults = { shiftId: '', strategy: '', source: '', taskId: '', step: '' };

/**
 * Compact decision rows: no envelope columns (see schema-curation.ts); the event time stays. A decision's
 * empty shift, strategy, source, task or step is its batch's (a CandidateDecisions event carries those once
 * per event; events from before that carry them in every decision and have none in the batch).
 */
function decisionColumns(event: ReceivedEvent, p: CandidateDecision__Output, batch: DecisionDefaults = NO_DEFAULTS): Record<string, unknown> {
  return {
    shift_id: p.shiftId || batch.shiftId,
    source_id: p.sourceId,
    seed: int64(p.seed),
    step: p.step || batch.step,
    stage: p.stage,
    kept: p.kept ? 1 : 0,
    reason: p.reason,
    score: p.score,
    class_index: p.classIndex,
    strategy: p.strategy || batch.strategy,
    source: p.source || batch.source,
    task_id: p.taskId || batch.taskId,
    event_time: event.envelope.time,
  };
}

/**
 * The table and row of one event. Throws for an event type the sink has no table for; the consumer retries
 * and then dead-letters that event (the events library already dead-letters types a topic does not carry).
 */
export function eventToRow(event: ReceivedEvent, ingestedAt: Date): TableRow {
  // Object.assign, not `{ ...base, ...columns }`: V8 builds a two-spread literal of ~26 keys property by property,
  // ~20x slower, and this runs once per event the sink lands.
  const payload = event.payload;
  if (event.envelope.type === EVENT_TYPES.SampleCurated) {
    if (payload instanceof RowBinaryBytes) return { table: 'samples', row: transcodedSampleRow(event, ingestedAt, payload) };
    return { table: 'samples', row: sampleRow(event, ingestedAt, payload as SampleCurated__Output) };
  }
  const base = envelopeColumns(event, ingestedAt);
  switch (event.envelope.type) {
    case EVENT_TYPES.ShiftLifecycle:
      return { table: 'shifts', row: Object.assign(base, shiftColumns(payload as ShiftLifecycle__Output)) };
    case EVENT_TYPES.JobLifecycle:
      return { table: 'jobs', row: Object.assign(base, jobLifecycleColumns(payload as JobLifecycle__Output)) };
    case EVENT_TYPES.JobProgress:
      return { table: 'jobs', row: Object.assign(base, jobProgressColumns(payload as JobProgress__Output)) };
    case EVENT_TYPES.TrainingMetric:
      return { table: 'training_metrics', row: Object.assign(base, trainingColumns(payload as TrainingMetric__Output)) };
    case EVENT_TYPES.EvaluationResult:
      return { table: 'evaluation_results', row: Object.assign(base, evaluationColumns(payload as EvaluationResult__Output)) };
    case EVENT_TYPES.LabelMapping: {
      const p = payload as LabelMapping__Output;
      const row = { shift_id: p.shiftId, label: p.label, name: p.name, wnid: p.wnid, class_index: p.classIndex, rule: p.rule, synset: p.synset, images: int64(p.images), event_time: event.envelope.time };
      return { table: 'curation_label_mappings', row };
    }
    case EVENT_TYPES.CandidateDecision:
      return { table: 'curation_decisions', row: decisionColumns(event, payload as CandidateDecision__Output) };
    default:
      throw new UnsupportedEventError(`metrics-sink has no table for event type ${event.envelope.type} (event ${event.envelope.id})`);
  }
}
