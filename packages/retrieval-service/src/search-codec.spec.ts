import { packageDefinition } from '@select/contracts';
import { describe, expect, it } from 'vitest';
import { SERVICE_NAME } from './retrieval-definition.js';
import {
  decodeQueryMatrix,
  encodeFlatResponse,
  encodeQueryField,
  encodeSearchResponse,
  type SearchResponseOut,
} from './search-codec.js';

interface ProtoLoaderMethod {
  requestSerialize: (value: object) => Buffer;
  requestDeserialize: (bytes: Buffer) => unknown;
  responseDeserialize: (bytes: Buffer) => unknown;
}

/** proto-loader's own codec of a method: what any other gRPC client or server sends and expects. */
function protoLoader(method: 'Search' | 'RangeSearch'): ProtoLoaderMethod {
  return (packageDefinition('retrieval')[SERVICE_NAME] as unknown as Record<string, ProtoLoaderMethod>)[method]!;
}

describe('encodeSearchResponse', () => {
  it('writes bytes that a client decodes to the same response, non-ASCII text, zero scores and all', () => {
    const response: SearchResponseOut = {
      results: [
        {
          neighbors: [
            { id: 'n01440764_10026', score: 0.75, metadata: { wnid: 'n01440764', caption: 'tench — Schleie 🐟' } },
            { id: 'bild-ä', score: 0, metadata: {} },
          ],
          truncated: true,
          ids: [],
          scores: [],
        },
        { neighbors: [], truncated: false, ids: ['a', 'ü'.repeat(200), ''], scores: [1, -2.5, 0] },
        { neighbors: [], truncated: false, ids: [], scores: [] },
      ],
    };
    expect(protoLoader('Search').responseDeserialize(encodeSearchResponse(response))).toEqual(response);
  });

  it('writes compact responses from flat results as a client reads them', () => {
    const bytes = encodeFlatResponse({
      ids: ['a', 'ü'.repeat(200), 'c', 'd'],
      scores: Float32Array.from([1, -2.5, 0.5, 0.25]),
      offsets: Uint32Array.from([0, 2, 2, 4]),
      truncated: Uint8Array.from([0, 0, 1]),
    });
    const response: SearchResponseOut = {
      results: [
        { neighbors: [], truncated: false, ids: ['a', 'ü'.repeat(200)], scores: [1, -2.5] },
        { neighbors: [], truncated: false, ids: [], scores: [] },
        { neighbors: [], truncated: true, ids: ['c', 'd'], scores: [0.5, 0.25] },
      ],
    };
    expect(protoLoader('Search').responseDeserialize(bytes)).toEqual(response);
  });
});

describe('query matrix', () => {
  it('reads queries sent by any client, packed bytes or floats, and keeps every other field', () => {
    const request = {
      index: 'pool',
      k: 7,
      efSearch: 40,
      filter: { allowIds: ['a', 'b'], denyIds: [], metadataEquals: { wnid: 'n01440764' } },
      queries: [{ vectorF32: Buffer.from(Float32Array.from([1.5, -2, 0.25]).buffer) }, { vector: [3, 4, 5e-7] }],
    };
    const bytes = protoLoader('Search').requestSerialize(request);
    const { queries, rest } = decodeQueryMatrix(bytes);
    expect(queries.problem).toBeUndefined();
    expect([...queries.lengths]).toEqual([3, 3]);
    expect([...queries.values]).toEqual([...Float32Array.from([1.5, -2, 0.25, 3, 4, 5e-7])]);
    expect(protoLoader('Search').requestDeserialize(rest)).toMatchObject({ index: 'pool', k: 7, efSearch: 40, filter: request.filter, queries: [] });
  });

  it('round-trips the vectors this client writes, whatever their dimension', () => {
    const vectors = [Float32Array.from([1, 2]), [3, 4, 5], new Float32Array(0)];
    const { queries } = decodeQueryMatrix(encodeQueryField(vectors));
    expect([...queries.lengths]).toEqual([2, 3, 0]);
    expect([...queries.values]).toEqual([1, 2, 3, 4, 5]);
  });

  it('names the first malformed query', () => {
    const bytes = protoLoader('RangeSearch').requestSerialize({
      index: 'pool',
      queries: [{ vector: [1] }, { vector: [1], vectorF32: Buffer.alloc(4) }, { vectorF32: Buffer.alloc(6) }],
    });
    expect(decodeQueryMatrix(bytes).queries.problem).toEqual({ query: 1, message: 'set either vector or vector_f32, not both' });
    expect(() => decodeQueryMatrix(bytes.subarray(0, bytes.length - 3))).toThrow(/truncated/);
  });
});
