// The shape of a shift build: pool reader -> label strategy -> filters -> per-class quota ->
// contamination gate -> shift writer. Strategies and filters are chain steps; they register in one
// registry (chain/registry.ts) that ListStrategies, request validation and `select curate` read.
import type { GenericServiceClient, Logger } from '@select/platform';

/** One item of the pool as it travels through the chain. */
export interface Candidate {
  /** Stable id in the pool (the reader's key for the record); with the strategy it fixes the sample id. */
  sourceId: string;
  /** Free text of the record (LAION caption, openclipart title + keywords). */
  caption?: string;
  /**
   * The pixels, loaded lazily by steps that need them: `bytes` when the reader already holds them,
   * else `path` (a file) — call `loadImage(candidate)` from ctx to get bytes once and cache them here.
   */
  image?: { bytes?: Buffer; path?: string; format?: string };
  /** Foreign labels the pool carries (OpenImages MIDs with confidence and the file they came from). */
  labels?: Array<{ id: string; confidence: number; source?: string }>;
  /** Set by the label strategy: index into the build's label space (sorted wnids) and the wnid. */
  classIndex?: number;
  wnid?: string;
  /** The score of the step that ranks it last (similarity, confidence, CLIP score); NaN when none. */
  score?: number;
  embeddings?: { image?: Float32Array; text?: Float32Array };
  /** Models involved, by role: `{ text: 'all-minilm-l6-v2' }`; merged into the sample's provenance. */
  modelIds?: Record<string, string>;
  /** Generated images: the generator seed (part of the sample id) and the prompt. */
  seed?: number;
  prompt?: string;
  /**
   * Small string facts the strategy wants in provenance (`labels`, `rule`); `source` (where the
   * candidate came from, e.g. `openimages:machine`) also goes into its decision. Default source: the pool's name.
   */
  metadata?: Record<string, string>;
}

/** What a step decided about one candidate. Every candidate a step looks at gets one. */
export interface Decision {
  sourceId: string;
  /** The step's name (`substring-match`, `text-similarity`, `clip-score`, ...). */
  step: string;
  kept: boolean;
  /** Short, stable, machine-groupable reason (`no-lemma`, `several-synsets`, `below-threshold`,
   *  `bad-record: <detail>`); kept decisions use `kept`. */
  reason: string;
  /** The step's score for this candidate; NaN when it has none. */
  score: number;
  /** The class the candidate had (or was given) at this step; -1 when none. */
  classIndex: number;
  /** Generated images: the seed (with sourceId it identifies the candidate). */
  seed?: number;
}

/** gRPC clients of the services steps may call (select.embedding.v1 / retrieval.v1 / generation.v1). */
export interface ServiceClients {
  embedding?: GenericServiceClient;
  retrieval?: GenericServiceClient;
  generation?: GenericServiceClient;
}

/** The label space of the build: the wnids of the selected classes in class-index order. */
export interface LabelSpace {
  /** Sorted ImageNet-1k wnids (index = class index), all 1000 even when a subset is selected. */
  readonly wnids: readonly string[];
  /** Class indices the build selected (all when the request named none). */
  readonly selected: ReadonlySet<number>;
}

export interface StepContext {
  /** Cancel or shutdown: stop at the next candidate and throw signal.reason. */
  signal: AbortSignal;
  /** Build seed (request's, default 0); a step that samples derives its randomness from it. */
  seed: number;
  logger: Logger;
  services: ServiceClients;
  labels: LabelSpace;
  /** Id of the build (the job id) and the task (a shard of the pool) being processed. */
  buildId: string;
  taskId: string;
  /** Directory a step may write side files into that end up next to the shift (mapping tables). */
  sideDir: string;
  /** Reads a candidate's image bytes (from `image.bytes` or `image.path`), caching them on the candidate. */
  loadImage(candidate: Candidate): Promise<Buffer>;
}

export interface StepResult {
  kept: Candidate[];
  /** A decision for every candidate of the batch that is not in `kept`. */
  dropped: Decision[];
}

/**
 * A per-task step: sees one batch of one task (a shard of the pool) at a time, with no state across
 * batches that changes its output (determinism: same batch, params and seed -> same result).
 * Kept decisions are recorded by the chain for the survivors of the last step.
 */
export interface ChainStep {
  readonly scope: 'task';
  /** Registry name of the step. */
  readonly name: string;
  /** Canonical parameters (defaults filled in), hashed into every kept sample's provenance. */
  readonly params: Readonly<Record<string, unknown>>;
  process(batch: Candidate[], ctx: StepContext): Promise<StepResult>;
  /**
   * Called once per task after its last batch. What it returns (small JSON: counts) is committed with
   * the task's output and handed to finishBuild with every other task's; per-task state is reset here.
   */
  finishTask?(ctx: StepContext): Promise<TaskStats | void>;
  /**
   * Called once when every task is committed, with the stats of all tasks (in task order): side
   * tables for the shift folder (name -> content) and label-mapping rows for ClickHouse.
   */
  finishBuild?(stats: readonly TaskStats[], ctx: BuildContext): Promise<BuildOutputs | void>;
  dispose?(): Promise<void>;
}

/** JSON a step committed with one task. */
export type TaskStats = Record<string, unknown>;

export interface BuildContext {
  logger: Logger;
  labels: LabelSpace;
  buildId: string;
}

/** One row of a label table (schema mapping): a foreign label and the class it maps to. */
export interface LabelMappingRow {
  label: string;
  name: string;
  wnid: string;
  classIndex: number;
  rule: string;
  synset: string;
  images: number;
}

export interface BuildOutputs {
  /** Files written into the shift folder, by file name (e.g. `label_mapping.csv`). */
  files?: Record<string, string>;
  /** Published as LabelMapping events (ClickHouse table curation_label_mappings). */
  labelMappings?: LabelMappingRow[];
}

/**
 * A build-wide step (global quota, SemDeDup, contamination gate): runs once, after every task is
 * committed, over the committed candidates. `candidates()` streams them from disk in a fixed order
 * (task order, then order within the task) and may be called more than once (several passes);
 * the step never needs the whole pool in memory. It calls `drop` for each candidate it removes.
 */
export interface GlobalStep {
  readonly scope: 'build';
  readonly name: string;
  readonly params: Readonly<Record<string, unknown>>;
  run(candidates: () => AsyncIterable<Candidate>, ctx: StepContext, drop: (decision: Decision) => void): Promise<void>;
  dispose?(): Promise<void>;
}

export type AnyStep = ChainStep | GlobalStep;

/** One parameter of a registered step, with its default and range; validation and `--help` read it. */
export type ParamSpec =
  | { type: 'number'; description: string; default?: number; min?: number; max?: number; exclusiveMin?: boolean; required?: boolean }
  | { type: 'integer'; description: string; default?: number; min?: number; max?: number; required?: boolean }
  | { type: 'string'; description: string; default?: string; enum?: readonly string[]; required?: boolean }
  | { type: 'boolean'; description: string; default?: boolean }
  | { type: 'string-list'; description: string; default?: readonly string[] };

/** The pool of a build as the request gave it (paths absolute). */
export interface PoolInfo {
  format: string;
  uri: string;
  /** The pool's name, written as the `source` of its candidates' decisions. */
  name: string;
  labelUris: readonly string[];
  classDescriptionsUri: string;
  hierarchyUri: string;
  imagesUri: string;
}

export interface StepEnvironment {
  logger: Logger;
  services: ServiceClients;
  labels: LabelSpace;
  pool: PoolInfo;
  /** Records of the pool the build reads at most (its `limit`; absent or 0: all): the image strategies embed only those. */
  poolLimit?: number;
  /**
   * Long set-up work of `create` (embedding the pool, loading its retrieval index, embedding reference
   * images, a generation batch) says what it is doing here, a line a user reads (`embedding the pool:
   * 1200/7458 images`). A worker shows it in the build's status while it prepares; absent: not shown.
   */
  progress?: (message: string) => void;
}

/** A registry entry: a label strategy (first step, gives labels) or a filter (later steps). */
export interface StepDefinition {
  name: string;
  role: 'strategy' | 'filter';
  /** What it does, in one or two sentences (ListStrategies, `select curate strategies`). */
  description: string;
  /** The ImageNet++ shift it reproduces (`OI1000`, `LA1000 txt2img`, ...) or '' for filters. */
  paperShift: string;
  /** Pool formats a strategy reads (`openimages`, `openclipart`, `webdataset`, ...); [] for filters. */
  poolFormats: readonly string[];
  /** The parameters: defaults and ranges. Unknown keys are refused. */
  params: Readonly<Record<string, ParamSpec>>;
  /** Checks what the params schema cannot (files exist, wnids known). Throws ServiceError.invalidArgument. */
  validate?(params: Readonly<Record<string, unknown>>, env: StepEnvironment): Promise<void> | void;
  /** Builds the step from validated, defaulted params. */
  create(params: Readonly<Record<string, unknown>>, env: StepEnvironment): Promise<AnyStep> | AnyStep;
}
