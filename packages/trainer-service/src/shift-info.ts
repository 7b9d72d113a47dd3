import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHIFT_FILES } from '@select/datasets';
import { ServiceError } from '@select/platform';

/** What the trainer needs to know about a shift written by ShiftWriter. */
export interface ShiftInfo {
  dir: string;
  name: string;
  samples: number;
  /** Shards in order with their sample counts. */
  shards: Array<{ name: string; samples: number }>;
  /** The label space: wnids in class-index order (class_counts.json, empty classes included). */
  classes: string[];
  /** Samples per class index. */
  counts: number[];
}

/** An absolute directory from a path or file:// URI (relative ones against `root` when given). */
export function resolveShiftDir(uri: string, root: string | undefined, field = 'shift_uri'): string {
  if (!uri) throw ServiceError.invalidArgument(`${field} is required: the directory of a shift written by ShiftWriter`);
  const path = uri.startsWith('file://') ? fileURLToPath(uri) : uri;
  if (isAbsolute(path)) return resolve(path);
  if (!root) throw ServiceError.invalidArgument(`${field} "${uri}" must be absolute (TRAINER_SHIFT_ROOT is not set)`);
  return resolve(root, path);
}

async function readJson<T>(dir: string, file: string, field: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(join(dir, file), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw ServiceError.failedPrecondition(`${field} ${dir} has no ${file}: it is not a shift written by ShiftWriter (or not finished)`);
    }
    throw ServiceError.failedPrecondition(`${field} ${dir}: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw ServiceError.failedPrecondition(`${field} ${dir}: ${file} is not valid JSON`);
  }
}

/**
 * Reads and checks a shift: NOT_FOUND when the directory does not exist, FAILED_PRECONDITION when it is not a
 * complete shift, holds no samples, or (unless `allowMissingClasses`) has classes without samples.
 */
export async function readShiftInfo(dir: string, options: { allowMissingClasses: boolean; field?: string }): Promise<ShiftInfo> {
  const field = options.field ?? 'shift_uri';
  const st = await stat(dir).catch(() => null);
  if (!st) throw ServiceError.notFound(`${field} ${dir} does not exist`);
  if (!st.isDirectory()) throw ServiceError.invalidArgument(`${field} ${dir} is not a directory`);
  const summary = await readJson<{ name?: string; complete?: boolean; counts?: { samples?: number }; shards?: Array<{ name: string; samples: number }> }>(
    dir,
    SHIFT_FILES.summary,
    field,
  );
  if (summary.complete !== true) throw ServiceError.failedPrecondition(`${field} ${dir} is not complete (shift.json complete: false): the curation is still writing it`);
  const samples = Number(summary.counts?.samples ?? 0);
  const shards = (summary.shards ?? []).map((s) => ({ name: s.name, samples: Number(s.samples) }));
  if (samples === 0 || shards.length === 0) throw ServiceError.failedPrecondition(`${field} ${dir} is empty: the shift holds no samples`);
  const classCounts = await readJson<Array<{ class_index: number; wnid: string; count: number }>>(dir, SHIFT_FILES.classCounts, field);
  if (!Array.isArray(classCounts) || classCounts.length === 0) {
    throw ServiceError.failedPrecondition(`${field} ${dir}: class_counts.json lists no classes; the label space is unknown`);
  }
  const classes: string[] = [];
  const counts: number[] = [];
  for (const row of classCounts) {
    if (!Number.isInteger(row.class_index) || row.class_index < 0 || row.class_index >= classCounts.length || classes[row.class_index] !== undefined) {
      throw ServiceError.failedPrecondition(`${field} ${dir}: class_counts.json has a bad or repeated class_index ${row.class_index}`);
    }
    classes[row.class_index] = row.wnid;
    counts[row.class_index] = Number(row.count);
  }
  const missing = classes.filter((_w, i) => !(counts[i]! > 0));
  if (missing.length > 0 && !options.allowMissingClasses) {
    throw ServiceError.failedPrecondition(
      `${field} ${dir} has ${missing.length} of ${classes.length} classes without samples (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}); ` +
        'set allow_missing_classes to train anyway (those classes are then never learned), or curate them',
      { details: { missingClasses: missing.length } },
    );
  }
  return { dir, name: summary.name ?? '', samples, shards, classes, counts };
}
