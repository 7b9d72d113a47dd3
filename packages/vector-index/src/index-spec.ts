import { invalidArgument } from './errors.js';

/** How neighbours are scored; every score is "larger is nearer". */
export type Metric =
  /** Cosine similarity in [-1, 1]; vectors are L2-normalised on the way in. */
  | 'cosine'
  /** Raw dot product. */
  | 'inner-product'
  /** Negative squared Euclidean distance (so that larger is nearer, like the others). */
  | 'l2';

/**
 * How the graph stores vectors. `f16` halves memory; `i8` quarters it and needs `cosine` (it maps
 * [-1, 1] onto [-127, 127]). Exact search on a quantised index decodes the stored vectors, so its
 * scores are those of the quantised vectors.
 */
export type Quantization = 'none' | 'f16' | 'i8';

export const METRICS: readonly Metric[] = ['cosine', 'inner-product', 'l2'];
export const QUANTIZATIONS: readonly Quantization[] = ['none', 'f16', 'i8'];

/** Shape and graph parameters of an index; fixed at creation. */
export interface IndexSpec {
  /** Components per vector, 1..4096. */
  readonly dimension: number;
  /** @default 'cosine' */
  readonly metric: Metric;
  /** @default 'none' */
  readonly quantization: Quantization;
  /** HNSW M: links per node and layer (twice that on the base layer), 4..64. @default 16 */
  readonly connectivity: number;
  /** Candidates explored while inserting (efConstruction), 8..4096. @default 128 */
  readonly efConstruction: number;
  /** Candidates explored per query (efSearch) unless a search says otherwise, 1..4096. @default 64 */
  readonly efSearch: number;
}

export type IndexSpecInput = Pick<IndexSpec, 'dimension'> & Partial<Omit<IndexSpec, 'dimension'>>;

export const SPEC_LIMITS = {
  maxDimension: 4096,
  minConnectivity: 4,
  maxConnectivity: 64,
  minEfConstruction: 8,
  maxEf: 4096,
} as const;

function intIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`${name} must be an integer from ${min} to ${max}, got ${value}`, { field: name });
  }
  return value;
}

/** The full spec with defaults filled in; throws INVALID_ARGUMENT naming the first bad field. */
export function addSpecDefaults(input: IndexSpecInput): IndexSpec {
  const metric = input.metric ?? 'cosine';
  const quantization = input.quantization ?? 'none';
  if (!METRICS.includes(metric)) throw invalidArgument(`metric must be one of ${METRICS.join(', ')}`);
  if (!QUANTIZATIONS.includes(quantization)) {
    throw invalidArgument(`quantization must be one of ${QUANTIZATIONS.join(', ')}`);
  }
  if (quantization === 'i8' && metric !== 'cosine') {
    throw invalidArgument('i8 quantization needs the cosine metric: it maps [-1, 1] onto [-127, 127]');
  }
  return {
    dimension: intIn('dimension', input.dimension, 1, SPEC_LIMITS.maxDimension),
    metric,
    quantization,
    connectivity: intIn('connectivity', input.connectivity ?? 16, SPEC_LIMITS.minConnectivity, SPEC_LIMITS.maxConnectivity),
    efConstruction: intIn('efConstruction', input.efConstruction ?? 128, SPEC_LIMITS.minEfConstruction, SPEC_LIMITS.maxEf),
    efSearch: intIn('efSearch', input.efSearch ?? 64, 1, SPEC_LIMITS.maxEf),
  };
}
