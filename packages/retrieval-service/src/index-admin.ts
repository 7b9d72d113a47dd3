import type { retrievalV1 } from '@select/contracts';
import type { CallContext } from '@select/platform';
import type { IndexCatalog } from '@select/vector-index';
import { mapErrors } from './errors.js';
import { indexInfo, metricFromProto, quantizationFromProto } from './index-info.js';

/** CreateIndex, GetStats, Snapshot, ListIndexes and DropIndex over one catalog. */
export function indexAdminHandlers(catalog: IndexCatalog) {
  return {
    CreateIndex: (request: retrievalV1.CreateIndexRequest__Output, ctx: CallContext): Promise<retrievalV1.IndexInfo> =>
      mapErrors(async () => {
        const ann = request.ann;
        const index = await catalog.create(request.name, {
          dimension: request.dimension,
          metric: metricFromProto(request.metric),
          quantization: quantizationFromProto(request.quantization),
          // 0 means "the default" in the proto.
          ...(ann?.connectivity ? { connectivity: ann.connectivity } : {}),
          ...(ann?.efConstruction ? { efConstruction: ann.efConstruction } : {}),
          ...(ann?.efSearch ? { efSearch: ann.efSearch } : {}),
        });
        ctx.logger.info({ index: index.name, spec: index.spec, simd: index.simd() }, 'index created');
        return indexInfo(index);
      }),

    GetStats: (request: retrievalV1.IndexRef__Output): Promise<retrievalV1.IndexInfo> => mapErrors(async () => indexInfo(catalog.get(request.name))),

    Snapshot: (request: retrievalV1.IndexRef__Output, ctx: CallContext): Promise<retrievalV1.IndexInfo> =>
      mapErrors(async () => {
        const started = Date.now();
        const stats = await catalog.get(request.name).snapshot();
        ctx.logger.info({ index: request.name, vectors: stats.size, ms: Date.now() - started }, 'snapshot written');
        return indexInfo(catalog.get(request.name));
      }),

    ListIndexes: (): Promise<retrievalV1.ListIndexesResponse> =>
      mapErrors(async () => {
        const healthy = catalog.list().map(indexInfo);
        // Indexes that failed to load are listed too, with the reason, so an operator sees them.
        const failed = catalog.failures().map(({ name, error }): retrievalV1.IndexInfo__Output => ({
          name,
          dimension: 0,
          metric: 'METRIC_UNSPECIFIED',
          ann: { connectivity: 0, efConstruction: 0, efSearch: 0 },
          quantization: 'QUANTIZATION_NONE',
          size: '0',
          memoryBytes: '0',
          logEntriesSinceSnapshot: '0',
          lastSnapshotUnixMs: '0',
          loadError: error.message,
        }));
        return { indexes: [...healthy, ...failed].sort((a, b) => a.name.localeCompare(b.name)) };
      }),

    DropIndex: (request: retrievalV1.IndexRef__Output, ctx: CallContext): Promise<retrievalV1.DropIndexResponse> =>
      mapErrors(async () => {
        const dropped = await catalog.drop(request.name);
        if (dropped) ctx.logger.info({ index: request.name }, 'index dropped');
        return { dropped };
      }),
  };
}
