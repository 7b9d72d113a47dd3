import { packageDefinition } from '@select/contracts';
import {
  decodeQueryMatrix,
  encodeQueryField,
  encodeSearchResponse,
  type SearchResponseOut,
  type WithQueryVectors,
} from './search-codec.js';

export const SERVICE_NAME = 'select.retrieval.v1.RetrievalService';

type PackageDefinition = ReturnType<typeof packageDefinition>;

interface Method {
  requestSerialize: (value: unknown) => Buffer;
  requestDeserialize: (bytes: Buffer) => unknown;
}

/**
 * The retrieval package definition that the service and its client use: proto-loader's, with the fast
 * paths of search-codec.ts on Search and RangeSearch. The service decodes the queries into a matrix
 * (handlers receive `WithQueryMatrix` requests) and writes responses with encodeSearchResponse (or
 * sends the bytes a handler already wrote); the client writes the query vectors of `WithQueryVectors`
 * requests straight into the request bytes.
 */
export function retrievalPackageDefinition(): PackageDefinition {
  const base = packageDefinition('retrieval');
  const service: Record<string, object> = { ...(base[SERVICE_NAME] as Record<string, object>) };
  for (const name of ['Search', 'RangeSearch']) {
    const method = service[name] as Method;
    service[name] = {
      ...method,
      // Fields may come in any order and repeated ones concatenate, so the queries can follow the rest.
      requestSerialize: (value: WithQueryVectors<object>) =>
        Buffer.concat([method.requestSerialize({ ...value, queries: [] }), encodeQueryField(value.queries)]),
      requestDeserialize: (bytes: Buffer) => {
        const { queries, rest } = decodeQueryMatrix(bytes);
        return { ...(method.requestDeserialize(rest) as object), queries };
      },
      // Compact responses come from the handlers already encoded (encodeFlatResponse).
      responseSerialize: (value: SearchResponseOut | Buffer) => (Buffer.isBuffer(value) ? value : encodeSearchResponse(value)),
    };
  }
  return { ...base, [SERVICE_NAME]: service as PackageDefinition[string] };
}
