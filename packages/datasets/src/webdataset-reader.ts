import { isAbsolute, resolve } from 'node:path';
import { expandShardPattern } from './brace-expansion.js';
import { DatasetError } from './errors.js';
import { errorRecord, sampleRecord, validateCursor, type Cursor, type PoolRecord, type ReadOptions } from './pool-record.js';
import { readTarMembers, type TarItem } from './tar-reader.js';

export interface WebDatasetOptions extends ReadOptions {
  /**
   * Shard files or brace patterns as webdataset and timm accept them: `{00000..00099}.tar`,
   * `a.tar::b.tar`, or a list of either.
   */
  readonly shards: string | readonly string[];
  /** Directory that relative shard paths are resolved against. @default process.cwd() */
  readonly root?: string;
}

/** The members of one WebDataset sample, grouped by key as webdataset groups them. */
export interface WebDatasetSample {
  /** Member name up to the first dot of its base name, e.g. `000123` or `dir/000123`. */
  readonly key: string;
  /** Path of the shard the sample came from. */
  readonly shard: string;
  /** Member contents by lower-cased extension: `jpg`, `txt`, `json`, `cls`, `seg.png`, … */
  readonly files: ReadonlyMap<string, Buffer>;
}

/** Expands patterns and resolves them against `root`, in the order given. */
export function resolveShards(shards: string | readonly string[], root = process.cwd()): string[] {
  const patterns = typeof shards === 'string' ? [shards] : shards;
  const out: string[] = [];
  for (const pattern of patterns) {
    for (const path of expandShardPattern(pattern)) out.push(isAbsolute(path) ? path : resolve(root, path));
  }
  if (out.length === 0) throw new DatasetError('INVALID_OPTION', 'no shards given');
  return out;
}

// webdataset's base_plus_ext: the key is everything before the first dot of the base name.
const KEY_AND_EXTENSION = /^((?:.*\/|)[^./]+)\.([^/]*)$/;

/**
 * Streams WebDataset / img2dataset tar shards sample by sample.
 *
 * Cursor: `shard` indexes the expanded shard list, `offset` is the byte offset of the next sample's
 * first tar header, so resuming seeks straight there instead of re-reading the shard.
 * A shard that is missing, truncated or corrupt yields one error record naming the shard and the last
 * member read; the incomplete sample at the cut is dropped and reading goes on with the next shard.
 */
export async function* readWebDataset(options: WebDatasetOptions): AsyncGenerator<PoolRecord<WebDatasetSample>> {
  const shards = resolveShards(options.shards, options.root);
  const from = validateCursor(options.resumeFrom, shards.length);
  for (let index = from.shard; index < shards.length; index++) {
    const shard = shards[index] ?? '';
    const nextShard: Cursor = { shard: index + 1, offset: 0 };
    let key: string | undefined;
    let files = new Map<string, Buffer>();
    let duplicate: string | undefined;
    const emit = (next: Cursor): PoolRecord<WebDatasetSample> => {
      const sampleKey = key ?? '';
      const record: PoolRecord<WebDatasetSample> =
        duplicate === undefined
          ? sampleRecord({ key: sampleKey, shard, files }, next)
          : errorRecord(new DatasetError('DUPLICATE_MEMBER', `sample has two .${duplicate} members`, { file: shard, key: sampleKey }), next);
      files = new Map();
      duplicate = undefined;
      return record;
    };
    let cut: Extract<TarItem, { kind: 'cut' }> | undefined;
    for await (const item of readTarMembers(shard, index === from.shard ? from.offset : 0)) {
      if (item.kind === 'cut') {
        cut = item;
        break;
      }
      const { member } = item;
      const match = KEY_AND_EXTENSION.exec(member.name);
      if (!match || isMetaFile(member.name)) continue;
      const memberKey = match[1] ?? '';
      const extension = (match[2] ?? '').toLowerCase();
      if (memberKey !== key) {
        if (key !== undefined) {
          options.signal?.throwIfAborted();
          yield emit({ shard: index, offset: member.start });
        }
        key = memberKey;
      }
      if (files.has(extension)) duplicate = extension;
      else files.set(extension, member.data);
    }
    options.signal?.throwIfAborted();
    if (cut !== undefined) {
      // The sample before the cut is known to be complete only when the cut member belongs to another key.
      const cutKey = cut.member === undefined ? undefined : KEY_AND_EXTENSION.exec(cut.member)?.[1];
      if (key !== undefined && cutKey !== undefined && cutKey !== key) yield emit({ shard: index, offset: cut.start });
      yield errorRecord(cut.error, nextShard);
    } else if (key !== undefined) {
      yield emit(nextShard);
    }
  }
}

/** webdataset skips top-level `__name__` members (shard-level metadata). */
function isMetaFile(name: string): boolean {
  return !name.includes('/') && name.startsWith('__') && name.endsWith('__');
}
