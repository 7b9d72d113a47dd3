import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VectorIndexError } from './errors.js';
import type { IndexSpecInput } from './index-spec.js';
import { PersistentIndex, type PersistentIndexOptions } from './persistent-index.js';

/** Index names double as directory names: letters, digits, '.', '_' and '-', starting with a letter or digit. */
export const INDEX_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface IndexLoadFailure {
  name: string;
  error: Error;
}

/**
 * The indexes under one root directory (one sub-directory each). Opening the catalog loads every index;
 * one that fails to load (corrupt or truncated files) is kept as a failure that names the file and the
 * problem, and calls on it fail with FAILED_PRECONDITION, while the other indexes serve.
 */
export class IndexCatalog {
  private readonly indexes = new Map<string, PersistentIndex>();
  private readonly failed = new Map<string, Error>();
  /** Names being created or dropped, so that two calls cannot race on one directory. */
  private readonly busy = new Set<string>();

  private constructor(
    readonly root: string,
    private readonly options: PersistentIndexOptions,
  ) {}

  static async open(root: string, options: PersistentIndexOptions = {}): Promise<IndexCatalog> {
    await mkdir(root, { recursive: true });
    const catalog = new IndexCatalog(root, options);
    for (const entry of await readdir(root, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      if (/\.(creating|dropping-\d+)$/.test(entry.name)) {
        await rm(join(root, entry.name), { recursive: true, force: true });
        continue;
      }
      if (!INDEX_NAME_PATTERN.test(entry.name)) continue;
      try {
        catalog.indexes.set(entry.name, await PersistentIndex.open(join(root, entry.name), options));
      } catch (error) {
        catalog.failed.set(entry.name, error as Error);
        options.logger?.error({ err: error, index: entry.name }, 'index could not be loaded; it will not serve');
      }
    }
    return catalog;
  }

  async create(name: string, spec: IndexSpecInput): Promise<PersistentIndex> {
    checkName(name);
    if (this.indexes.has(name) || this.failed.has(name) || this.busy.has(name)) {
      throw new VectorIndexError('ALREADY_EXISTS', `index "${name}" already exists`, { details: { index: name } });
    }
    this.busy.add(name);
    try {
      const index = await PersistentIndex.create(join(this.root, name), name, spec, this.options);
      this.indexes.set(name, index);
      return index;
    } finally {
      this.busy.delete(name);
    }
  }

  /** The index, or NOT_FOUND; FAILED_PRECONDITION (carrying the load error) for one that failed to load. */
  get(name: string): PersistentIndex {
    const index = this.indexes.get(name);
    if (index) return index;
    const failure = this.failed.get(name);
    if (failure) {
      throw new VectorIndexError('FAILED_PRECONDITION', `index "${name}" could not be loaded: ${failure.message}`, {
        cause: failure,
        details: { index: name },
      });
    }
    throw new VectorIndexError('NOT_FOUND', `no index named "${name}"`, { details: { index: name } });
  }

  list(): PersistentIndex[] {
    return [...this.indexes.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  failures(): IndexLoadFailure[] {
    return [...this.failed].map(([name, error]) => ({ name, error }));
  }

  /** Deletes an index and its files (a failed one too); false when there was none. */
  async drop(name: string): Promise<boolean> {
    checkName(name);
    const index = this.indexes.get(name);
    if (index) {
      this.indexes.delete(name);
      this.busy.add(name);
      try {
        await index.drop();
      } finally {
        this.busy.delete(name);
      }
      return true;
    }
    if (this.failed.delete(name)) {
      await rm(join(this.root, name), { recursive: true, force: true });
      return true;
    }
    return false;
  }

  async close(): Promise<void> {
    await Promise.all([...this.indexes.values()].map((index) => index.close()));
  }
}

function checkName(name: string): void {
  if (!INDEX_NAME_PATTERN.test(name)) {
    throw new VectorIndexError(
      'INVALID_ARGUMENT',
      `index name "${name.slice(0, 200)}" must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      { details: { field: 'name' } },
    );
  }
}
