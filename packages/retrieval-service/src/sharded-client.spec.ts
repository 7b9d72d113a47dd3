import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clustered, startTestServer, tempDir } from './fixtures.test-util.js';
import { RetrievalClient } from './retrieval-client.js';
import { ShardedRetrievalClient, shardOf } from './sharded-client.js';

const D = 24;
const cleanup: (() => Promise<void> | void)[] = [];
let dirs: { path: string; remove: () => Promise<void> }[] = [];

beforeEach(async () => {
  dirs = await Promise.all([tempDir('shard-a-'), tempDir('shard-b-'), tempDir('single-')]);
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await Promise.all(dirs.map((d) => d.remove()));
});

describe('ShardedRetrievalClient', () => {
  it('spreads one index over two real instances and answers exactly as one instance would', async () => {
    const servers = await Promise.all(dirs.map((d) => startTestServer(d.path)));
    cleanup.push(...servers.map((s) => () => s.close()));
    const sharded = new ShardedRetrievalClient([servers[0]!.address, servers[1]!.address]);
    const single = new RetrievalClient(servers[2]!.address);
    cleanup.push(() => sharded.close(), () => single.close());

    const vectors = clustered(3000, D, 21, 12);
    const items = vectors.map((vector, i) => ({ id: `doc-${i}`, vector, metadata: { group: `g${i % 4}` } }));
    await sharded.createIndex({ name: 'corpus', dimension: D });
    await single.createIndex({ name: 'corpus', dimension: D });
    const added = await sharded.addVectors('corpus', items, { chunkSize: 700 });
    await single.addVectors('corpus', items);
    expect(added).toEqual({ added: '3000', replaced: '0', errors: [] });

    // Both shards hold a real share, and each id sits where the hash says.
    const sizes = await Promise.all(sharded.shards.map((s) => s.getStats('corpus')));
    expect(sizes.map((s) => Number(s.size)).every((n) => n > 1200)).toBe(true);
    expect((await sharded.getStats('corpus')).size).toBe('3000');
    const onShard0 = await sharded.shards[0]!.search({ index: 'corpus', queries: [vectors[7]!], k: 1, exact: true });
    expect(onShard0.results[0]!.neighbors[0]!.id === 'doc-7').toBe(shardOf('doc-7', 2) === 0);

    const queries = clustered(40, D, 22, 12);
    const asOne = await single.search({ index: 'corpus', queries, k: 15, exact: true, includeMetadata: true });
    const asTwo = await sharded.search({ index: 'corpus', queries, k: 15, exact: true, includeMetadata: true });
    expect(asTwo).toEqual(asOne);
    expect(await sharded.search({ index: 'corpus', queries, k: 15, exact: true, compact: true })).toEqual(
      await single.search({ index: 'corpus', queries, k: 15, exact: true, compact: true }),
    );

    const filter = { metadataEquals: { group: 'g2' }, denyIds: ['doc-2', 'doc-6'] };
    expect(await sharded.search({ index: 'corpus', queries, k: 5, exact: true, filter })).toEqual(
      await single.search({ index: 'corpus', queries, k: 5, exact: true, filter }),
    );

    const range = { index: 'corpus', queries: queries.slice(0, 5), minSimilarity: 0.9, maxResults: 200, exact: true };
    expect(await sharded.rangeSearch(range)).toEqual(await single.rangeSearch(range));

    // Upserts and removes reach the shard that holds the id.
    const moved = { id: 'doc-11', vector: vectors[0]! };
    expect((await sharded.addVectors('corpus', [moved])).replaced).toBe('1');
    await single.addVectors('corpus', [moved]);
    expect(await sharded.removeIds('corpus', ['doc-1', 'doc-2', 'doc-3', 'missing'])).toBe(3);
    await single.removeIds('corpus', ['doc-1', 'doc-2', 'doc-3']);
    expect(await sharded.search({ index: 'corpus', queries, k: 10, exact: true })).toEqual(
      await single.search({ index: 'corpus', queries, k: 10, exact: true }),
    );

    // Approximate search over two graphs still finds what one exact index finds, nearly always.
    const approx = await sharded.search({ index: 'corpus', queries, k: 10 });
    const truth = await single.search({ index: 'corpus', queries, k: 10, exact: true });
    let hits = 0;
    approx.results.forEach((r, q) => {
      const want = new Set(truth.results[q]!.neighbors.map((n) => n.id));
      hits += r.neighbors.filter((n) => want.has(n.id)).length;
    });
    expect(hits / 400).toBeGreaterThan(0.95);

    expect(await sharded.dropIndex('corpus')).toBe(true);
    expect(await Promise.all(sharded.shards.map((s) => s.listIndexes()))).toEqual([[], []]);
  }, 120_000);
});
