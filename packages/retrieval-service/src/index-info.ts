import type { IndexStats, Metric, PersistentIndex, Quantization } from '@select/vector-index';
import { ServiceError } from '@select/platform';
import type { retrievalV1 } from '@select/contracts';

type MetricName = retrievalV1.Metric__Output;
type QuantizationName = retrievalV1.Quantization__Output;
type IndexInfo = retrievalV1.IndexInfo__Output;

const METRIC_TO_PROTO: Record<Metric, MetricName> = {
  cosine: 'METRIC_COSINE',
  'inner-product': 'METRIC_INNER_PRODUCT',
  l2: 'METRIC_L2',
};

const QUANTIZATION_TO_PROTO: Record<Quantization, QuantizationName> = {
  none: 'QUANTIZATION_NONE',
  f16: 'QUANTIZATION_F16',
  i8: 'QUANTIZATION_I8',
};

/** METRIC_UNSPECIFIED means the default (cosine). */
export function metricFromProto(name: MetricName | string): Metric {
  if (name === 'METRIC_UNSPECIFIED' || name === '') return 'cosine';
  const found = (Object.keys(METRIC_TO_PROTO) as Metric[]).find((m) => METRIC_TO_PROTO[m] === name);
  if (!found) throw ServiceError.invalidArgument(`unknown metric ${name}`);
  return found;
}

export function quantizationFromProto(name: QuantizationName | string): Quantization {
  if (name === '') return 'none';
  const found = (Object.keys(QUANTIZATION_TO_PROTO) as Quantization[]).find((q) => QUANTIZATION_TO_PROTO[q] === name);
  if (!found) throw ServiceError.invalidArgument(`unknown quantization ${name}`);
  return found;
}

export function indexInfoFromStats(stats: IndexStats): IndexInfo {
  return {
    name: stats.name,
    dimension: stats.spec.dimension,
    metric: METRIC_TO_PROTO[stats.spec.metric],
    ann: {
      connectivity: stats.spec.connectivity,
      efConstruction: stats.spec.efConstruction,
      efSearch: stats.spec.efSearch,
    },
    quantization: QUANTIZATION_TO_PROTO[stats.spec.quantization],
    size: String(stats.size),
    memoryBytes: String(stats.memoryBytes),
    logEntriesSinceSnapshot: String(stats.logEntriesSinceSnapshot),
    lastSnapshotUnixMs: String(stats.lastSnapshotUnixMs),
    loadError: '',
  };
}

export function indexInfo(index: PersistentIndex): IndexInfo {
  return indexInfoFromStats(index.stats());
}
