import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { syncDirectory, writeFileAtomic } from '@select/platform';
import { CorruptIndexError } from './errors.js';
import type { Metadata } from './metadata-store.js';
import type { VectorIndex } from './vector-index.js';

/**
 * A snapshot is a directory `snapshot-<generation>/` holding
 *   graph.usearch  the HNSW graph with its vectors (usearch's format)
 *   ids.bin        key → id and metadata, plus the next key to assign
 *   manifest.json  size and CRC-32 of both files, written last
 * It is built under a temporary name and renamed into place, so a snapshot directory is complete or
 * absent; the manifest's checksums catch damage that happens afterwards.
 */

const GRAPH_FILE = 'graph.usearch';
const IDS_FILE = 'ids.bin';
const MANIFEST_FILE = 'manifest.json';
const IDS_MAGIC = Buffer.from('SVIIDS01', 'ascii');

interface FileFacts {
  bytes: number;
  crc32: number;
}

interface Manifest {
  format: 1;
  generation: number;
  vectors: number;
  nextKey: number;
  createdUnixMs: number;
  files: Record<string, FileFacts>;
}

export interface SnapshotFacts {
  generation: number;
  vectors: number;
  createdUnixMs: number;
}

export function snapshotDir(root: string, generation: number): string {
  return join(root, `snapshot-${generation}`);
}

async function fileFacts(path: string): Promise<FileFacts> {
  let crc = 0;
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 8 << 20 }) as AsyncIterable<Buffer>) {
    crc = crc32(chunk, crc);
    bytes += chunk.length;
  }
  return { bytes, crc32: crc };
}

async function writeIds(path: string, index: VectorIndex): Promise<void> {
  const handle = await open(path, 'w');
  try {
    const chunks: Buffer[] = [];
    let pending = 0;
    let position = 0;
    const flush = async () => {
      const data = Buffer.concat(chunks);
      chunks.length = 0;
      pending = 0;
      await handle.write(data, 0, data.length, position);
      position += data.length;
    };
    const head = Buffer.alloc(IDS_MAGIC.length + 8);
    IDS_MAGIC.copy(head);
    head.writeUInt32LE(index.size, IDS_MAGIC.length);
    head.writeUInt32LE(0, IDS_MAGIC.length + 4);
    chunks.push(head);
    for (const { key, id, metadata } of index.entries()) {
      const idBytes = Buffer.from(id, 'utf8');
      const meta = metadata ? Buffer.from(JSON.stringify(metadata), 'utf8') : Buffer.alloc(0);
      const fixed = Buffer.alloc(14);
      fixed.writeDoubleLE(key, 0);
      fixed.writeUInt16LE(idBytes.length, 8);
      fixed.writeUInt32LE(meta.length, 10);
      chunks.push(fixed, idBytes, meta);
      pending += 14 + idBytes.length + meta.length;
      if (pending > 4 << 20) await flush();
    }
    await flush();
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function* readIds(data: Buffer, file: string): Generator<{ key: number; id: string; metadata: Metadata | undefined }> {
  if (data.length < IDS_MAGIC.length + 8 || !data.subarray(0, IDS_MAGIC.length).equals(IDS_MAGIC)) {
    throw new CorruptIndexError(file, 'not an id file of this index (bad magic)');
  }
  const count = data.readUInt32LE(IDS_MAGIC.length);
  let at = IDS_MAGIC.length + 8;
  for (let i = 0; i < count; i++) {
    if (at + 14 > data.length) throw new CorruptIndexError(file, `ends inside entry ${i}`, { offset: at });
    const key = data.readDoubleLE(at);
    const idLen = data.readUInt16LE(at + 8);
    const metaLen = data.readUInt32LE(at + 10);
    at += 14;
    if (at + idLen + metaLen > data.length) throw new CorruptIndexError(file, `ends inside entry ${i}`, { offset: at });
    const id = data.toString('utf8', at, at + idLen);
    at += idLen;
    const metadata = metaLen > 0 ? (JSON.parse(data.toString('utf8', at, at + metaLen)) as Metadata) : undefined;
    at += metaLen;
    yield { key, id, metadata };
  }
  if (at !== data.length) throw new CorruptIndexError(file, 'has bytes after its last entry', { offset: at });
}

/** Writes snapshot `generation` of `index` under `root` and returns its facts. */
export async function writeSnapshot(root: string, generation: number, index: VectorIndex): Promise<SnapshotFacts> {
  const final = snapshotDir(root, generation);
  const tmp = `${final}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const graphPath = join(tmp, GRAPH_FILE);
  await index.saveGraph(graphPath);
  const graph = await open(graphPath, 'r+');
  try {
    await graph.sync();
  } finally {
    await graph.close();
  }
  await writeIds(join(tmp, IDS_FILE), index);
  const manifest: Manifest = {
    format: 1,
    generation,
    vectors: index.size,
    nextKey: index.nextKey,
    createdUnixMs: Date.now(),
    files: {
      [GRAPH_FILE]: await fileFacts(graphPath),
      [IDS_FILE]: await fileFacts(join(tmp, IDS_FILE)),
    },
  };
  await writeFileAtomic(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await syncDirectory(root);
  return { generation, vectors: manifest.vectors, createdUnixMs: manifest.createdUnixMs };
}

/** Checks snapshot `generation` against its manifest and loads it into `index`; CorruptIndexError on any mismatch. */
export async function loadSnapshot(root: string, generation: number, index: VectorIndex): Promise<SnapshotFacts> {
  const dir = snapshotDir(root, generation);
  const manifestPath = join(dir, MANIFEST_FILE);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
  } catch (cause) {
    throw new CorruptIndexError(manifestPath, 'missing or unreadable snapshot manifest', { cause });
  }
  if (manifest.format !== 1 || manifest.generation !== generation || typeof manifest.files !== 'object') {
    throw new CorruptIndexError(manifestPath, `is not the manifest of snapshot ${generation}`);
  }
  for (const name of [GRAPH_FILE, IDS_FILE]) {
    const path = join(dir, name);
    const expected = manifest.files[name];
    if (!expected) throw new CorruptIndexError(manifestPath, `does not list ${name}`);
    let actualBytes: number;
    try {
      actualBytes = (await stat(path)).size;
    } catch (cause) {
      throw new CorruptIndexError(path, 'is missing', { cause });
    }
    if (actualBytes !== expected.bytes) {
      throw new CorruptIndexError(path, `has ${actualBytes} bytes, the manifest says ${expected.bytes} (truncated or overwritten)`);
    }
    const actual = await fileFacts(path);
    if (actual.crc32 !== expected.crc32) {
      throw new CorruptIndexError(path, `checksum mismatch (crc32 ${actual.crc32} != ${expected.crc32}): the file is corrupt`);
    }
  }
  const idsPath = join(dir, IDS_FILE);
  const entries = [...readIds(await readFile(idsPath), idsPath)];
  if (entries.length !== manifest.vectors) {
    throw new CorruptIndexError(idsPath, `holds ${entries.length} ids, the manifest says ${manifest.vectors}`);
  }
  try {
    await index.loadGraph(join(dir, GRAPH_FILE), entries, manifest.nextKey);
  } catch (cause) {
    throw new CorruptIndexError(join(dir, GRAPH_FILE), 'could not be loaded', { cause });
  }
  return { generation, vectors: manifest.vectors, createdUnixMs: manifest.createdUnixMs };
}
