import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Candidate, TaskStats } from '../chain/step.js';
import type { TaskRange } from '../pool/pool-source.js';

/**
 * A build's working files live in `<shift folder>/.build/`:
 *   spec.json               the BuildSpec workers read
 *   plan.json               the task ranges
 *   tasks/<task>/           a committed task: kept.jsonl, images.bin, task.json (renamed from a .tmp
 *                           folder only when complete: a task's output is all there or not there)
 *   tasks/<task>.failed.json  why a task cannot be done (the build fails with it)
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
