import { createReadStream } from 'node:fs';
import { open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Candidate, TaskStats } from '../chain/step.js';
import type { TaskRange } from '../pool/pool-source.js';

/**
 * A build's working files live in `<shift folder>/.build/`:
 *   spec.json               the BuildSpec workers read
 *   plan.json               the task ranges
 *   tasks/<task>/           a committed task: kept.jsonl, images.bin, task.json (renamed from a .tmp
 *                           folder only when complete: a task's output is all there or not there)
 *   tasks/<task>.failed.json  why a task cannot be done (the build fails with it)
 *   tasks/<worker>.preparing.json  what a worker's set-up of the build's steps is doing (embedding the
 *                           pool, ...), refreshed while it lasts and removed after: the build's status shows it
 *   cancelled               written by CancelJob: workers skip the build's remaining tasks
 */
export function stagingPaths(outputDir: string) {
  const root = join(outputDir, '.build');
  return {
    root,
    spec: join(root, 'spec.json'),
    plan: join(root, 'plan.json'),
    tasks: join(root, 'tasks'),
    cancelled: join(root, 'cancelled'),
    published: join(root, 'published.json'),
    task: (taskId: string) => join(root, 'tasks', taskId),
    failed: (taskId: string) => join(root, 'tasks', `${taskId}.failed.json`),
  };
}

/** The `.build` folder of a task's spec (`<shift>/.build/spec.json`, a path or a file:// URI). */
export function buildRootOfSpec(specUri: string): string {
  return dirname(specUri.startsWith('file://') ? fileURLToPath(specUri) : specUri);
}

const PREPARING = '.preparing.json';

/** What one worker's set-up of a build's steps is doing (tasks/<worker>.preparing.json). */
export interface PreparationNote {
  worker: string;
  message: string;
  /** When the worker last wrote it (ms since the epoch). */
  at: number;
}

export interface PreparationReporter {
  /** The latest line of the set-up; written at once, then at most once per interval. */
  say(message: string): void;
  /** Removes the note (the set-up ended, done or failed); later lines are ignored. */
  clear(): Promise<void>;
}

/**
 * Writes a worker's preparation note of a build (`root`: its `.build` folder). A note is rewritten every
 * `heartbeatMs` while the set-up lasts, so one older than a few heartbeats is a dead worker's leftover.
 * A build folder that is gone (deleted) makes the writes no-ops.
 */
export function preparationReporter(
  root: string,
  workerId: string,
  options: { intervalMs?: number; heartbeatMs?: number; /** Written at once, without holding back the first line said. */ initial?: string } = {},
): PreparationReporter {
  const file = join(root, 'tasks', `${workerId.replace(/[^A-Za-z0-9_-]/g, '_')}${PREPARING}`);
  const intervalMs = options.intervalMs ?? 1000;
  let latest = '';
  let written = '';
  let lastWrite = 0;
  let closed = false;
  let trailing: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();
  const write = (): void => {
    trailing = undefined;
    if (closed || latest === '') return;
    lastWrite = Date.now();
    written = latest;
    const note: PreparationNote = { worker: workerId, message: latest, at: lastWrite };
    chain = chain.then(async () => {
      if (closed) return;
      const temp = `${file}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`;
      try {
        await writeFile(temp, `${JSON.stringify(note)}\n`);
        if (closed) await rm(temp, { force: true });
        else await rename(temp, file);
      } catch {
        await rm(temp, { force: true }).catch(() => undefined);
      }
    });
  };
  const heartbeat = setInterval(write, options.heartbeatMs ?? 10_000);
  heartbeat.unref();
  if (options.initial !== undefined && options.initial !== '') {
    latest = options.initial;
    write();
    lastWrite = 0;
  }
  return {
    say(message) {
      if (closed || message === written || message === latest) {
        latest = message;
        return;
      }
      latest = message;
      const wait = lastWrite + intervalMs - Date.now();
      if (wait <= 0) write();
      else trailing ??= setTimeout(write, wait).unref();
    },
    async clear() {
      closed = true;
      clearInterval(heartbeat);
      if (trailing !== undefined) clearTimeout(trailing);
      await chain;
      await rm(file, { force: true });
    },
  };
}

/** The notes of workers preparing the build now: those written within `maxAgeMs`, latest first. */
export async function readPreparationNotes(tasksDir: string, names: readonly string[], maxAgeMs = 30_000): Promise<PreparationNote[]> {
  const notes: PreparationNote[] = [];
  for (const name of names) {
    if (!isPreparationNote(name)) continue;
    try {
      const note = JSON.parse(await readFile(join(tasksDir, name), 'utf8')) as PreparationNote;
      if (Date.now() - note.at <= maxAgeMs) notes.push(note);
    } catch {
      // removed (the worker finished) or half-read: not preparing
    }
  }
  return notes.sort((a, b) => b.at - a.at);
}

/** Whether a tasks-folder entry is a preparation note (its temp files end in .tmp). */
export function isPreparationNote(name: string): boolean {
  return name.endsWith(PREPARING);
}

export interface PlannedTask extends TaskRange {
  taskId: string;
  index: number;
}

export interface BuildPlan {
  shiftId: string;
  tasks: PlannedTask[];
  records: number;
}

/** task.json of a committed task. */
export interface TaskSummary {
  taskId: string;
  records: number;
  kept: number;
  /** Dropped candidates by `step: reason` (reason cut at its first ':' so it groups). */
  dropped: Record<string, number>;
  stats: Record<string, TaskStats>;
  /** Kept candidates per wnid (absent in tasks committed by older workers). */
  perClass?: Record<string, number>;
  worker: string;
  seconds: number;
  /**
   * Wall milliseconds of the task's phases: read (pool reading and parsing), steps (the chain's per-task
   * steps), decisions (the dropped candidates' decision events, encoding included), kept (kept decisions
   * and kept.jsonl lines), flush (waiting for the broker's acks), commit (fsyncs and the rename: it ends after
   * task.json is written, so it is 0 there; the worker's 'task finished' log has it).
   */
  phases?: Record<string, number>;
}

/** One line of kept.jsonl: a candidate that survived the task's steps. */
export interface KeptRecord {
  sourceId: string;
  classIndex: number;
  wnid: string;
  score: number | null;
  caption?: string;
  seed?: number;
  prompt?: string;
  modelIds?: Record<string, string>;
  metadata?: Record<string, string>;
  image?: { path?: string; format?: string; blob?: [number, number] };
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export async function readTaskSummary(dir: string): Promise<TaskSummary> {
  return JSON.parse(await readFile(join(dir, 'task.json'), 'utf8')) as TaskSummary;
}

/** Committed task folders (no .tmp, no .failed.json), by task id. */
export async function committedTasks(tasksDir: string): Promise<Set<string>> {
  const names = await readdir(tasksDir).catch(() => [] as string[]);
  return new Set(names.filter((n) => !n.endsWith('.tmp') && !n.endsWith('.json')));
}

/** The kept candidates of one committed task, in the order the task wrote them, image bytes from images.bin. */
export async function* readKept(taskDir: string): AsyncGenerator<Candidate & { record: KeptRecord }> {
  const blob = await open(join(taskDir, 'images.bin'), 'r').catch(() => undefined);
  const lines = createInterface({ input: createReadStream(join(taskDir, 'kept.jsonl')), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line === '') continue;
      const record = JSON.parse(line) as KeptRecord;
      let bytes: Buffer | undefined;
      if (record.image?.blob !== undefined && blob !== undefined) {
        const [offset, length] = record.image.blob;
        bytes = Buffer.alloc(length);
        await blob.read(bytes, 0, length, offset);
      }
      yield {
        record,
        sourceId: record.sourceId,
        classIndex: record.classIndex,
        wnid: record.wnid,
        score: record.score ?? Number.NaN,
        ...(record.caption === undefined ? {} : { caption: record.caption }),
        ...(record.seed === undefined ? {} : { seed: record.seed }),
        ...(record.prompt === undefined ? {} : { prompt: record.prompt }),
        ...(record.modelIds === undefined ? {} : { modelIds: record.modelIds }),
        ...(record.metadata === undefined ? {} : { metadata: record.metadata }),
        ...(record.image === undefined ? {} : { image: { ...(bytes === undefined ? {} : { bytes }), ...(record.image.path === undefined ? {} : { path: record.image.path }), ...(record.image.format === undefined ? {} : { format: record.image.format }) } }),
      };
    }
  } finally {
    lines.close();
    await blob?.close();
  }
}
