import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDirectory, writeFileAtomic, type Logger } from '@select/platform';
import { CorruptIndexError, VectorIndexError } from './errors.js';
import { addSpecDefaults, type IndexSpec } from './index-spec.js';
import { SerialQueue } from './serial-queue.js';
import { loadSnapshot, snapshotDir, writeSnapshot } from './snapshot.js';
import {
  VectorIndex,
  type AddItem,
  type FlatNeighbors,
  type ItemProblem,
  type QueryNeighbors,
  type RangeSearchOptions,
  type SearchOptions,
} from './vector-index.js';
import { WriteAheadLog, type LogRecord } from './write-ahead-log.js';

/**
 * A VectorIndex that survives crashes and restarts. Directory:
 *   meta.json         name and spec (written once, at creation)
 *   CURRENT           {"generation": n}: which snapshot and log are live
 *   snapshot-<n>/     the graph, the ids and a manifest with checksums (absent for generation 0)
 *   wal-<n>.log       every add and remove since snapshot n, fsynced before it is acknowledged
 * Start-up loads snapshot n (verified against its manifest) and replays wal-n; the graph is loaded,
 * never rebuilt. A snapshot is written next to the live files and made live by replacing CURRENT, so a
 * crash at any point leaves one complete generation.
 */

const META_FILE = 'meta.json';
const CURRENT_FILE = 'CURRENT';

export interface PersistentIndexOptions {
  /** Native threads per search or add. @default os.availableParallelism() */
  threads?: number;
  /** Write a snapshot (and start a new log) once the log passes this many bytes; 0 = never. @default 1073741824 */
  snapshotAfterLogBytes?: number;
  logger?: Logger;
}

export interface IndexStats {
  name: string;
  spec: IndexSpec;
  size: number;
  /** Bytes held by the graph and its vectors. */
  memoryBytes: number;
  logEntriesSinceSnapshot: number;
  /** 0 when the index has no snapshot yet. */
  lastSnapshotUnixMs: number;
  createdUnixMs: number;
}

export interface AddResult {
  added: number;
  replaced: number;
  problems: ItemProblem[];
}

interface Meta {
  format: 1;
  name: string;
  spec: IndexSpec;
  createdUnixMs: number;
}

function walPath(dir: string, generation: number): string {
  return join(dir, `wal-${generation}.log`);
}

async function readJson<T>(path: string): Promise<T> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (cause) {
    throw new CorruptIndexError(path, 'missing or not valid JSON', { cause });
  }
}

export class PersistentIndex {
  private readonly queue = new SerialQueue();
  private broken: Error | undefined;
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly meta: Meta,
    private readonly index: VectorIndex,
    private log: WriteAheadLog,
    private generation: number,
    private lastSnapshotUnixMs: number,
    private readonly options: PersistentIndexOptions,
  ) {}

  get name(): string {
    return this.meta.name;
  }

  get spec(): IndexSpec {
    return this.meta.spec;
  }

  get size(): number {
    return this.index.size;
  }

  /** Creates the directory of a new, empty index; `dir` must not exist. */
  static async create(
    dir: string,
    name: string,
    specInput: Parameters<typeof addSpecDefaults>[0],
    options: PersistentIndexOptions = {},
  ): Promise<PersistentIndex> {
    const spec = addSpecDefaults(specInput);
    const index = new VectorIndex(spec, { threads: options.threads });
    // Built aside and renamed into place: a crash never leaves a half-created index behind.
    const building = `${dir}.creating`;
    await rm(building, { recursive: true, force: true });
    await mkdir(building, { recursive: true });
    const meta: Meta = { format: 1, name, spec, createdUnixMs: Date.now() };
    await writeFileAtomic(join(building, META_FILE), JSON.stringify(meta, null, 2));
    const log = await WriteAheadLog.create(walPath(building, 0), spec.dimension);
    await log.close();
    await writeFileAtomic(join(building, CURRENT_FILE), JSON.stringify({ generation: 0 }));
    try {
      await rename(building, dir);
    } catch (cause) {
      await rm(building, { recursive: true, force: true });
      throw new VectorIndexError('ALREADY_EXISTS', `index "${name}" already exists`, { cause });
    }
    await syncDirectory(join(dir, '..'));
    const { log: live } = await WriteAheadLog.open(walPath(dir, 0), spec.dimension, async () => {}, () => {});
    return new PersistentIndex(dir, meta, index, live, 0, 0, options);
  }

  /** Loads an index: its snapshot (checksums verified), then its log. CorruptIndexError on damage. */
  static async open(dir: string, options: PersistentIndexOptions = {}): Promise<PersistentIndex> {
    const meta = await readJson<Meta>(join(dir, META_FILE));
    if (meta.format !== 1 || typeof meta.name !== 'string') throw new CorruptIndexError(join(dir, META_FILE), 'unknown format');
    const spec = addSpecDefaults(meta.spec);
    const current = await readJson<{ generation: number }>(join(dir, CURRENT_FILE));
    const generation = current.generation;
    if (!Number.isInteger(generation) || generation < 0) {
      throw new CorruptIndexError(join(dir, CURRENT_FILE), `bad generation ${String(generation)}`);
    }
    await removeStaleGenerations(dir, generation);

    const index = new VectorIndex(spec, { threads: options.threads });
    let lastSnapshotUnixMs = 0;
    if (generation > 0) lastSnapshotUnixMs = (await loadSnapshot(dir, generation, index)).createdUnixMs;
    const logger = options.logger;
    let log: WriteAheadLog;
    try {
      ({ log } = await WriteAheadLog.open(
        walPath(dir, generation),
        spec.dimension,
        (record) => applyRecord(index, record),
        (message, facts) => logger?.warn({ index: meta.name, ...facts }, message),
      ));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new CorruptIndexError(walPath(dir, generation), 'the write-ahead log is missing', { cause: error });
      }
      throw error;
    }
    return new PersistentIndex(dir, { ...meta, spec }, index, log, generation, lastSnapshotUnixMs, options);
  }

  /**
   * Validates, logs and applies a batch. With `sync` (the default) the batch is on disk before the
   * promise resolves; a stream of batches may pass `sync: false` and call `sync()` once at its end.
   * Bad items are returned as problems and the rest goes on; known ids are replaced (upsert).
   */
  add(items: readonly AddItem[], options: { sync?: boolean } = {}): Promise<AddResult> {
    return this.mutate(async () => {
      const { batch, problems } = this.index.prepareAdd(items);
      if (batch.keys.length === 0) return { added: 0, replaced: 0, problems };
      await this.appendToLog({ type: 'add', batch }, options.sync ?? true);
      const { added, replaced } = await this.applyOrBreak(() => this.index.apply(batch));
      this.snapshotIfLogIsLarge();
      return { added, replaced, problems };
    });
  }

  /** Removes ids (unknown ones are ignored), durably; resolves to how many were present. */
  remove(ids: readonly string[]): Promise<number> {
    return this.mutate(async () => {
      const present = [...new Set(ids)].filter((id) => this.index.has(id));
      if (present.length === 0) return 0;
      await this.appendToLog({ type: 'remove', ids: present }, true);
      return this.applyOrBreak(() => this.index.remove(present));
    });
  }

  /** Makes everything added so far durable. */
  sync(): Promise<void> {
    return this.mutate(() => this.log.sync());
  }

  search(queries: Float32Array, options: SearchOptions): Promise<QueryNeighbors[]> {
    this.assertUsable();
    return this.index.search(queries, options);
  }

  rangeSearch(queries: Float32Array, options: RangeSearchOptions): Promise<QueryNeighbors[]> {
    this.assertUsable();
    return this.index.rangeSearch(queries, options);
  }

  /** `search` with flat results (VectorIndex.searchFlat). */
  searchFlat(queries: Float32Array, options: SearchOptions): Promise<FlatNeighbors> {
    this.assertUsable();
    return this.index.searchFlat(queries, options);
  }

  /** `rangeSearch` with flat results (VectorIndex.rangeSearchFlat). */
  rangeSearchFlat(queries: Float32Array, options: RangeSearchOptions): Promise<FlatNeighbors> {
    this.assertUsable();
    return this.index.rangeSearchFlat(queries, options);
  }

  /** Writes a snapshot and starts an empty log; searches go on meanwhile, mutations wait. */
  snapshot(): Promise<IndexStats> {
    return this.mutate(async () => {
      await this.writeSnapshot();
      return this.stats();
    });
  }

  stats(): IndexStats {
    return {
      name: this.meta.name,
      spec: this.meta.spec,
      size: this.index.size,
      memoryBytes: this.index.memoryBytes(),
      logEntriesSinceSnapshot: this.log.entries,
      lastSnapshotUnixMs: this.lastSnapshotUnixMs,
      createdUnixMs: this.meta.createdUnixMs,
    };
  }

  simd(): { graph: string; exact: string } {
    return this.index.simd();
  }

  /** Waits for running mutations and closes the log; the files stay. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.run(() => this.log.close());
  }

  /** Closes the index and deletes its directory. */
  async drop(): Promise<void> {
    await this.close();
    const doomed = `${this.dir}.dropping-${Date.now()}`;
    await rename(this.dir, doomed);
    await syncDirectory(join(this.dir, '..'));
    await rm(doomed, { recursive: true, force: true });
  }

  private assertUsable(): void {
    if (this.closed) throw new VectorIndexError('FAILED_PRECONDITION', `index "${this.name}" is closed`);
    if (this.broken) {
      throw new VectorIndexError(
        'FAILED_PRECONDITION',
        `index "${this.name}" failed while applying a change and stopped serving; restart to recover it from its log`,
        { cause: this.broken },
      );
    }
  }

  private mutate<T>(task: () => Promise<T>): Promise<T> {
    this.assertUsable();
    return this.queue.run(async () => {
      this.assertUsable();
      return task();
    });
  }

  private async appendToLog(record: LogRecord, sync: boolean): Promise<void> {
    try {
      await this.log.append(record, sync);
    } catch (cause) {
      const full = (cause as NodeJS.ErrnoException).code === 'ENOSPC';
      throw new VectorIndexError(full ? 'RESOURCE_EXHAUSTED' : 'INTERNAL', `could not write the log of "${this.name}"`, {
        cause,
      });
    }
  }

  // A change that is in the log but failed half-way in memory leaves the index unlike its files: stop
  // serving it rather than answer from a state no restart would reproduce.
  private async applyOrBreak<T>(apply: () => Promise<T>): Promise<T> {
    try {
      return await apply();
    } catch (error) {
      this.broken = error as Error;
      this.options.logger?.error({ err: error, index: this.name }, 'applying a logged change failed; index stopped');
      throw error;
    }
  }

  private snapshotIfLogIsLarge(): void {
    const limit = this.options.snapshotAfterLogBytes ?? 1 << 30;
    if (limit <= 0 || this.log.bytes < limit) return;
    void this.queue
      .run(async () => {
        if (this.closed || this.log.bytes < limit) return;
        await this.writeSnapshot();
      })
      .catch((err: unknown) => this.options.logger?.error({ err, index: this.name }, 'automatic snapshot failed'));
  }

  private async writeSnapshot(): Promise<void> {
    const next = this.generation + 1;
    const facts = await writeSnapshot(this.dir, next, this.index);
    await rm(walPath(this.dir, next), { force: true });
    const log = await WriteAheadLog.create(walPath(this.dir, next), this.meta.spec.dimension);
    await syncDirectory(this.dir);
    await writeFileAtomic(join(this.dir, CURRENT_FILE), JSON.stringify({ generation: next }));
    const previous = this.generation;
    await this.log.close();
    this.log = log;
    this.generation = next;
    this.lastSnapshotUnixMs = facts.createdUnixMs;
    await rm(walPath(this.dir, previous), { force: true });
    await rm(snapshotDir(this.dir, previous), { recursive: true, force: true });
  }
}

async function applyRecord(index: VectorIndex, record: LogRecord): Promise<void> {
  if (record.type === 'add') await index.apply(record.batch);
  else await index.remove(record.ids);
}

/** Files of other generations are leftovers of a snapshot interrupted before or after CURRENT moved. */
async function removeStaleGenerations(dir: string, live: number): Promise<void> {
  for (const name of await readdir(dir)) {
    const m = /^(?:snapshot-(\d+)(?:\.tmp)?|wal-(\d+)\.log)$/.exec(name);
    if (!m) continue;
    const generation = Number(m[1] ?? m[2]);
    if (generation !== live || name.endsWith('.tmp')) await rm(join(dir, name), { recursive: true, force: true });
  }
}
