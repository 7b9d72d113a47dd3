import { spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, open, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptIndexError, VectorIndexError } from './errors.js';
import { IndexCatalog } from './index-catalog.js';
import { capturingLogger, vectorFor } from './persistence-fixtures.test-util.js';
import { PersistentIndex } from './persistent-index.js';

const D = 16;

function items(from: number, count: number, prefix = 'id') {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}${from + i}`,
    vector: vectorFor(from + i, D),
    metadata: { wnid: `n${(from + i) % 5}` },
  }));
}

async function flipByte(path: string, offset: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await handle.read(b, 0, 1, offset);
    b[0] = b[0]! ^ 0xff;
    await handle.write(b, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

async function topIds(index: PersistentIndex, n: number, k = 5): Promise<string[]> {
  const [result] = await index.search(vectorFor(n, D), { k, exact: true });
  return result!.neighbors.map((x) => x.id);
}

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'vector-index-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('PersistentIndex', () => {
  it('comes back after a restart with every vector, from the snapshot and the log, without re-adding', async () => {
    const dir = join(root, 'pets');
    const index = await PersistentIndex.create(dir, 'pets', { dimension: D, metric: 'cosine' });
    await index.add(items(0, 300));
    await index.snapshot();
    await index.add(items(300, 100));
    await index.remove(['id5', 'id305']);
    await index.add([{ id: 'id7', vector: vectorFor(9999, D) }]); // upsert after the snapshot
    const before = await Promise.all([1, 150, 350, 9999].map((n) => topIds(index, n)));
    const stats = index.stats();
    expect(stats.size).toBe(398);
    expect(stats.logEntriesSinceSnapshot).toBe(3);
    await index.close();

    const reopened = await PersistentIndex.open(dir);
    expect(reopened.size).toBe(398);
    expect(await Promise.all([1, 150, 350, 9999].map((n) => topIds(reopened, n)))).toEqual(before);
    expect((await reopened.search(vectorFor(9999, D), { k: 1 }))[0]!.neighbors[0]).toMatchObject({ id: 'id7', metadata: undefined });
    expect((await reopened.search(vectorFor(5, D), { k: 400, exact: true }))[0]!.neighbors.map((n) => n.id)).not.toContain('id5');
    expect(reopened.stats()).toMatchObject({ logEntriesSinceSnapshot: 3, lastSnapshotUnixMs: stats.lastSnapshotUnixMs });
    expect(reopened.stats().lastSnapshotUnixMs).toBeGreaterThan(0);
    await reopened.close();
  });

  it('keeps every acknowledged add when the process is killed mid-write (SIGKILL), snapshots included', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./crash-child.test-util.ts', import.meta.url)), root, String(D)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let acked = -1;
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        for (const m of chunk.toString().matchAll(/ack (\d+)/g)) acked = Number(m[1]);
        // Well past two snapshots, then kill without warning at an arbitrary point.
        if (acked >= 24 && !child.killed) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', (code) => (code === null ? resolve() : reject(new Error(`child exited with ${code}: ${stderr}`))));
    });
    await new Promise((resolve) => child.once('close', resolve));

    const catalog = await IndexCatalog.open(root);
    expect(catalog.failures()).toEqual([]);
    const index = catalog.get('crash');
    expect(index.size).toBeGreaterThanOrEqual((acked + 1) * 20);
    for (let batch = 0; batch <= acked; batch++) {
      const n = batch * 20 + 7;
      const [hit] = await index.search(vectorFor(n, D), { k: 1, exact: true });
      expect(hit!.neighbors[0]!.id).toBe(`b${batch}-7`);
    }
    // Still writable after recovery.
    await index.add(items(0, 10, 'after'));
    await catalog.close();
  }, 60_000);

  it('drops a torn last log record with a warning and keeps everything before it', async () => {
    const dir = join(root, 'torn');
    const index = await PersistentIndex.create(dir, 'torn', { dimension: D });
    await index.add(items(0, 50));
    await index.add(items(50, 50));
    await index.close();
    // A crash in the middle of appending: the header promises 4000 bytes, 100 made it to disk.
    const head = Buffer.alloc(12);
    head.writeUInt32LE(4000, 0);
    await appendFile(join(dir, 'wal-0.log'), Buffer.concat([head, Buffer.alloc(100, 7)]));

    const { logger, lines } = capturingLogger();
    const reopened = await PersistentIndex.open(dir, { logger });
    expect(reopened.size).toBe(100);
    expect(lines()).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: expect.stringContaining('torn last record'), bytes: 112 }),
    );
    await reopened.add(items(100, 5));
    await reopened.close();
    const again = await PersistentIndex.open(dir);
    expect(again.size).toBe(105);
    await again.close();
  });

  it('refuses to load a log damaged in the middle, naming the file and offset', async () => {
    const dir = join(root, 'middle');
    const index = await PersistentIndex.create(dir, 'middle', { dimension: D });
    await index.add(items(0, 50));
    await index.add(items(50, 50));
    await index.close();
    await flipByte(join(dir, 'wal-0.log'), 8 + 12 + 40); // inside the first record's payload

    const error = await PersistentIndex.open(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptIndexError);
    expect((error as CorruptIndexError).file).toBe(join(dir, 'wal-0.log'));
    expect((error as Error).message).toMatch(/record 1 at byte 8 is damaged and intact records follow it/);
  });

  it('detects a corrupt or truncated snapshot instead of loading part of it', async () => {
    const make = async (name: string) => {
      const index = await PersistentIndex.create(join(root, name), name, { dimension: D });
      await index.add(items(0, 200));
      await index.snapshot();
      await index.close();
      return join(root, name, 'snapshot-1');
    };
    await flipByte(join(await make('flipped'), 'graph.usearch'), 5000);
    const idsFile = join(await make('cut'), 'ids.bin');
    await truncate(idsFile, 1000);
    await make('healthy');

    await expect(PersistentIndex.open(join(root, 'flipped'))).rejects.toThrow(/graph\.usearch: checksum mismatch/);
    await expect(PersistentIndex.open(join(root, 'cut'))).rejects.toThrow(/ids\.bin: has 1000 bytes, the manifest says \d+/);

    // In a catalog the damaged indexes are reported and refuse calls; the healthy one serves.
    const { logger, lines } = capturingLogger();
    const catalog = await IndexCatalog.open(root, { logger });
    expect(catalog.failures().map((f) => f.name).sort()).toEqual(['cut', 'flipped']);
    expect(() => catalog.get('flipped')).toThrow(
      expect.objectContaining({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/could not be loaded: .*checksum mismatch/) }),
    );
    expect(catalog.get('healthy').size).toBe(200);
    expect(lines().filter((l) => l.level === 'error').map((l) => l.index)).toEqual(expect.arrayContaining(['cut', 'flipped']));
    // A damaged index can still be dropped to make room for a rebuild.
    expect(await catalog.drop('flipped')).toBe(true);
    await catalog.create('flipped', { dimension: D });
    await catalog.close();
  });

  it('finishes or forgets a snapshot interrupted by a crash', async () => {
    const dir = join(root, 'half');
    const index = await PersistentIndex.create(dir, 'half', { dimension: D });
    await index.add(items(0, 30));
    await index.snapshot();
    await index.add(items(30, 30));
    await index.close();
    // Leftovers of a crash while writing snapshot 2, before CURRENT moved to it.
    await writeFile(join(dir, 'wal-2.log'), 'partial');
    await mkdir(join(dir, 'snapshot-2.tmp'));
    await writeFile(join(dir, 'snapshot-2.tmp', 'graph.usearch'), 'partial');

    const reopened = await PersistentIndex.open(dir);
    expect(reopened.size).toBe(60);
    expect((await readdir(dir)).filter((f) => /^(wal|snapshot)-/.test(f)).sort()).toEqual(['snapshot-1', 'wal-1.log']);
    expect(JSON.parse(await readFile(join(dir, 'CURRENT'), 'utf8'))).toEqual({ generation: 1 });
    await reopened.close();
  });
});

describe('IndexCatalog', () => {
  it('creates, lists, refuses duplicates and bad names, and drops', async () => {
    const catalog = await IndexCatalog.open(root);
    await catalog.create('a', { dimension: 4 });
    await catalog.create('b.v2', { dimension: 8, metric: 'l2' });
    await expect(catalog.create('a', { dimension: 4 })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(catalog.create('../escape', { dimension: 4 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(catalog.create('c', { dimension: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(catalog.create('c', { dimension: 8, metric: 'l2', quantization: 'i8' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(catalog.list().map((i) => i.name)).toEqual(['a', 'b.v2']);
    expect(() => catalog.get('nope')).toThrow(VectorIndexError);
    expect(await catalog.drop('a')).toBe(true);
    expect(await catalog.drop('a')).toBe(false);
    await catalog.close();

    const reopened = await IndexCatalog.open(root);
    expect(reopened.list().map((i) => [i.name, i.spec.metric])).toEqual([['b.v2', 'l2']]);
    await reopened.close();
  });
});
