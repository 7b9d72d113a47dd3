import type { commonV1, retrievalV1 } from '@select/contracts';
import { ServiceError, type CallContext } from '@select/platform';
import type { AddItem, IndexCatalog, PersistentIndex } from '@select/vector-index';
import { mapErrors } from './errors.js';
import { decodeVector } from './vector-codec.js';

export interface AddVectorsOptions {
  /** Vectors logged and inserted together. */
  batchSize: number;
}

/**
 * AddVectors: a client stream of (id, vector, metadata). Vectors are logged and inserted in batches
 * without waiting for the disk; one fsync at the end of the stream makes them all durable before the
 * response is sent, so an acknowledged add survives a crash. A bad item (wrong dimension, NaN, empty id)
 * is reported in `errors` and the stream goes on; a known id is replaced (upsert). A stream that fails
 * half-way is not rolled back: the batches before the failure stay applied.
 */
export function addVectorsHandler(catalog: IndexCatalog, options: AddVectorsOptions) {
  return (requests: AsyncIterable<retrievalV1.AddVectorRequest__Output>, ctx: CallContext): Promise<retrievalV1.AddVectorsResponse> =>
    mapErrors(async () => {
      let index: PersistentIndex | undefined;
      let pending: AddItem[] = [];
      let added = 0;
      let replaced = 0;
      let seen = 0;
      const errors: commonV1.ItemError[] = [];
      const flush = async () => {
        if (!index || pending.length === 0) return;
        const batch = pending;
        pending = [];
        const result = await index.add(batch, { sync: false });
        added += result.added;
        replaced += result.replaced;
        for (const problem of result.problems) {
          errors.push({ itemId: problem.id, code: 'INVALID_ARGUMENT', message: problem.message });
        }
      };
      for await (const request of requests) {
        ctx.signal.throwIfAborted();
        seen++;
        if (!index) {
          if (!request.index) throw ServiceError.invalidArgument('the first AddVectorRequest must name the index');
          index = catalog.get(request.index);
        } else if (request.index && request.index !== index.name) {
          throw ServiceError.invalidArgument(
            `one AddVectors stream adds to one index: got "${request.index}" after "${index.name}"`,
          );
        }
        const metadata = request.metadata ?? {};
        const vector = decodeVector(request);
        if (typeof vector === 'string') {
          errors.push({ itemId: request.id, code: 'INVALID_ARGUMENT', message: vector });
          continue;
        }
        pending.push({ id: request.id, vector, ...(Object.keys(metadata).length > 0 ? { metadata } : {}) });
        if (pending.length >= options.batchSize) await flush();
      }
      if (!index) throw ServiceError.invalidArgument('AddVectors received no vectors');
      await flush();
      await index.sync();
      ctx.logger.debug({ index: index.name, received: seen, added, replaced, rejected: errors.length }, 'vectors added');
      return { added: String(added), replaced: String(replaced), errors };
    });
}

/** RemoveIds: unknown ids are ignored; the removal is durable before the response. */
export function removeIdsHandler(catalog: IndexCatalog) {
  return (request: retrievalV1.RemoveIdsRequest__Output): Promise<retrievalV1.RemoveIdsResponse> =>
    mapErrors(async () => {
      const index = catalog.get(request.index);
      if (request.ids.length === 0) throw ServiceError.invalidArgument('ids must not be empty');
      return { removed: String(await index.remove(request.ids)) };
    });
}
