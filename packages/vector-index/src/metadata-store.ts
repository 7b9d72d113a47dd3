import { invalidArgument } from './errors.js';

/** Small string metadata kept per vector (wnid, source, …), filterable by equality. */
export type Metadata = Readonly<Record<string, string>>;

export const METADATA_LIMITS = {
  maxEntries: 16,
  maxKeyLength: 64,
  maxValueLength: 1024,
} as const;

/** The reason `metadata` is not acceptable, or undefined when it is. */
export function metadataProblem(metadata: Metadata): string | undefined {
  const entries = Object.entries(metadata);
  if (entries.length > METADATA_LIMITS.maxEntries) {
    return `metadata has ${entries.length} entries; at most ${METADATA_LIMITS.maxEntries} are kept per vector`;
  }
  for (const [key, value] of entries) {
    if (key.length === 0 || key.length > METADATA_LIMITS.maxKeyLength) {
      return `metadata key "${key.slice(0, 80)}" must have 1 to ${METADATA_LIMITS.maxKeyLength} characters`;
    }
    if (typeof value !== 'string' || value.length > METADATA_LIMITS.maxValueLength) {
      return `metadata value of "${key}" must be a string of at most ${METADATA_LIMITS.maxValueLength} characters`;
    }
  }
  return undefined;
}

function posting(key: string, value: string): string {
  return `${key}\u0000${value}`;
}

/**
 * Metadata by vector key, with an inverted index (field = value → keys) so that an equality filter
 * costs the size of its answer, not a scan of the whole index.
 */
export class MetadataStore {
  private readonly byKey = new Map<number, Metadata>();
  private readonly postings = new Map<string, Set<number>>();

  get(key: number): Metadata | undefined {
    return this.byKey.get(key);
  }

  set(key: number, metadata: Metadata | undefined): void {
    this.delete(key);
    if (!metadata || Object.keys(metadata).length === 0) return;
    this.byKey.set(key, metadata);
    for (const [field, value] of Object.entries(metadata)) {
      const p = posting(field, value);
      let keys = this.postings.get(p);
      if (!keys) this.postings.set(p, (keys = new Set()));
      keys.add(key);
    }
  }

  delete(key: number): void {
    const old = this.byKey.get(key);
    if (!old) return;
    this.byKey.delete(key);
    for (const [field, value] of Object.entries(old)) {
      const p = posting(field, value);
      const keys = this.postings.get(p);
      keys?.delete(key);
      if (keys?.size === 0) this.postings.delete(p);
    }
  }

  /** Keys whose metadata has every given field = value (smallest posting list first). */
  matching(equals: Metadata): Set<number> {
    const lists: Set<number>[] = [];
    for (const [field, value] of Object.entries(equals)) {
      const keys = this.postings.get(posting(field, value));
      if (!keys) return new Set();
      lists.push(keys);
    }
    if (lists.length === 0) throw invalidArgument('metadata filter must name at least one field');
    lists.sort((a, b) => a.size - b.size);
    const [smallest, ...rest] = lists as [Set<number>, ...Set<number>[]];
    const out = new Set<number>();
    for (const key of smallest) if (rest.every((s) => s.has(key))) out.add(key);
    return out;
  }

  entries(): IterableIterator<[number, Metadata]> {
    return this.byKey.entries();
  }

  get size(): number {
    return this.byKey.size;
  }
}
