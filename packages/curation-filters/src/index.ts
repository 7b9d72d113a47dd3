// Public entry of @select/curation-filters: the curation algorithms behind the curator's image steps.
export { CurationFilterError, type CurationFilterErrorCode } from './errors.js';
export { matrix, stack, normalizeRows, normalized, cosine, dot, row, type Matrix } from './vectors.js';
export { SeededRandom, Reservoir, sampleIndices } from './random.js';
export { JsSimilarityKernel, type EarlierMax, type Neighbours, type PairBlock, type SimilarityKernel } from './similarity-kernel.js';
export { OnnxSimilarityKernel, type OnnxSimilarityKernelOptions } from './onnx-similarity-kernel.js';
export { KMeans, KMEANS_DEFAULTS, trainKMeans, type Assignment, type KMeansOptions, type KMeansTraining } from './kmeans.js';
export {
  SEMDEDUP_DEFAULTS,
  SEMDEDUP_ORDERS,
  SEMDEDUP_RULES,
  checkSemDeDupOptions,
  dedupCluster,
  keepOrder,
  type ClusterDedupResult,
  type ClusterMembers,
  type DuplicateRemoval,
  type SemDeDupOptions,
  type SemDeDupOrder,
  type SemDeDupRule,
} from './semdedup.js';
export { semDeDupPool, type EmbeddingRow, type PoolSemDeDupHooks, type PoolSemDeDupOptions, type PoolSemDeDupSummary } from './semdedup-pool.js';
export {
  ContaminationGate,
  DEFAULT_NEAR_DUPLICATE_THRESHOLD,
  sha256Hex,
  summarizeMatches,
  type ContaminationGateOptions,
  type ContaminationMatch,
  type EvaluationSetSummary,
  type GateItem,
} from './contamination.js';
export {
  DATACOMP_CLIP_SCORE_BASELINES,
  TopFractionFilter,
  checkClipScoreRule,
  clipScores,
  topFractionCut,
  type ClipScoreRule,
  type TopFractionCut,
} from './clip-score.js';
export { QuotaFiller, checkQuotaTarget, planQuotas, type QuotaItem, type QuotaTarget } from './quotas.js';
export { CLIP_IMAGENET_TEMPLATES, PROMPT_MODES, SINGLE_TEMPLATE, averagePromptEmbeddings, classPrompts, type PromptMode } from './prompt-templates.js';
export { CLAIM_RULES, ClaimResolver, type Claim, type ClaimOutcome, type ClaimRule } from './claims.js';
