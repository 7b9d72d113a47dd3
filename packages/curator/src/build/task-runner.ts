import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventProducer } from '@select/events';
import { syncDirectory, type Logger } from '@select/platform';
import type { Candidate, ServiceClients, TaskStats } from '../chain/step.js';
import { openPool, type PoolItem, type TaskRange } from '../pool/pool-source.js';
import type { BuildSpec } from './build-spec.js';
import { labelSpaceOf } from './build-spec.js';
import { stepContext, type Chain } from './chain.js';
import { decisionPublisher } from './decision-events.js';
import { buildRootOfSpec, exists, stagingPaths, type KeptRecord, type TaskSummary } from './staging.js';

export interface TaskRef {
  taskId: string;
  range: TaskRange;
}

export interface TaskDeps {
  producer: EventProducer | undefined;
  services: ServiceClients;
  logger: Logger;
  signal: AbortSignal;
  workerId: string;
  /** Candidates per step call. @default 256 */
  batchSize?: number;
  /** Test hook: called after each batch with the records read so far. */
  onBatch?: (records: number) => Promise<void> | void;
  /** Called once the task is committed, with its summary (phases include the commit itself). */
  onCommitted?: (summary: TaskSummary) => void;
}

export type TaskOutcome = 'done' | 'already-committed' | 'cancelled';

/**
 * Runs one shard task: reads its slice of the pool, sends candidates through the per-task steps in
 * batches, publishes a decision for every candidate, writes the survivors to a private .tmp folder and
 * commits it by renaming it to the task's folder. Only a complete task is ever committed; a task that
 * dies half-way leaves a .tmp folder that nobody reads, and whoever redoes it publishes the same
 * decision ids again. A second worker racing on the same task loses the rename and discards its copy.
 */
export async function runTask(spec: BuildSpec, chain: Chain, task: TaskRef, deps: TaskDeps): Promise<TaskOutcome> {
  const paths = stagingPaths(spec.outputDir);
  const finalDir = paths.task(task.taskId);
  if (await exists(finalDir)) return 'already-committed';
  if (await exists(paths.cancelled)) return 'cancelled';
  const started = Date.now();
  const tmp = join(paths.tasks, `${task.taskId}.${deps.workerId}-${randomUUID().slice(0, 8)}.tmp`);
  await mkdir(tmp, { recursive: true });
  const decisions = decisionPublisher(deps.producer, { shiftId: spec.shiftId, strategy: chain.strategy, taskId: task.taskId });
  const kept = await open(join(tmp, 'kept.jsonl'), 'w');
  const images = await open(join(tmp, 'images.bin'), 'w');
  let imageBytes = 0;
  let records = 0;
  let keptCount = 0;
  const labels = labelSpaceOf(spec);
  const ctx = stepContext({
    signal: deps.signal,
    seed: spec.seed,
    logger: deps.logger,
    services: deps.services,
    labels,
    buildId: spec.shiftId,
    taskId: task.taskId,
    sideDir: tmp,
  });
  const sourceOf = (c: Candidate): string => c.metadata?.['source'] ?? spec.pool.name;
  const lastStage = chain.taskSteps.length;
  const lastStep = chain.taskSteps[lastStage - 1]?.name ?? 'read';

  // Wall milliseconds per phase of the task (task.json `phases`): where a task's time goes.
  const phases = { read: 0, steps: 0, decisions: 0, kept: 0, flush: 0, commit: 0 };
  const perClass: Record<string, number> = {};
  const processBatch = async (items: PoolItem[]): Promise<void> => {
    let batch: Candidate[] = [];
    for (const item of items) {
      if (item.ok) batch.push(item.candidate);
      else decisions.add({ sourceId: item.sourceId, step: 'read', kept: false, reason: item.reason, score: Number.NaN, classIndex: -1 }, 0, spec.pool.name);
    }
    for (const [index, step] of chain.taskSteps.entries()) {
      if (batch.length === 0) break;
      deps.signal.throwIfAborted();
      // Candidates carry their own source only in some pools (openimages:machine, ...): no map otherwise.
      const sources = batch.some((c) => c.metadata?.['source'] !== undefined) ? new Map(batch.map((c) => [c.sourceId, sourceOf(c)])) : undefined;
      const stepStarted = performance.now();
      const result = await step.process(batch, ctx);
      phases.steps += performance.now() - stepStarted;
      const decided = performance.now();
      for (const dropped of result.dropped) decisions.add(dropped, index + 1, sources?.get(dropped.sourceId) ?? spec.pool.name);
      phases.decisions += performance.now() - decided;
      batch = result.kept;
    }
    let lines = '';
    const keptStarted = performance.now();
    for (const candidate of batch) {
      const wnid = candidate.wnid ?? labels.wnids[candidate.classIndex ?? -1] ?? '';
      perClass[wnid] = (perClass[wnid] ?? 0) + 1;
      decisions.add(
        { sourceId: candidate.sourceId, step: lastStep, kept: true, reason: 'kept', score: candidate.score ?? Number.NaN, classIndex: candidate.classIndex ?? -1, ...(candidate.seed === undefined ? {} : { seed: candidate.seed }) },
        lastStage,
        sourceOf(candidate),
      );
      const record: KeptRecord = {
        sourceId: candidate.sourceId,
        classIndex: candidate.classIndex ?? -1,
        wnid,
        score: Number.isFinite(candidate.score) ? (candidate.score as number) : null,
        ...(candidate.caption === undefined ? {} : { caption: candidate.caption }),
        ...(candidate.seed === undefined ? {} : { seed: candidate.seed }),
        ...(candidate.prompt === undefined ? {} : { prompt: candidate.prompt }),
        ...(candidate.modelIds === undefined ? {} : { modelIds: candidate.modelIds }),
        ...(candidate.metadata === undefined ? {} : { metadata: candidate.metadata }),
      };
      if (candidate.image !== undefined) {
        if (candidate.image.path !== undefined) {
          record.image = { path: candidate.image.path, ...(candidate.image.format === undefined ? {} : { format: candidate.image.format }) };
        } else if (candidate.image.bytes !== undefined && !spec.dryRun) {
          // Pixels that live only inside the pool's shards are kept with the task, so publishing never re-reads the pool.
          await images.write(candidate.image.bytes, 0, candidate.image.bytes.length, imageBytes);
          record.image = { blob: [imageBytes, candidate.image.bytes.length], ...(candidate.image.format === undefined ? {} : { format: candidate.image.format }) };
          imageBytes += candidate.image.bytes.length;
        }
      }
      lines += `${JSON.stringify(record)}\n`;
      keptCount++;
    }
    phases.kept += performance.now() - keptStarted;
    if (lines !== '') await kept.write(lines);
  };

  try {
    const pool = openPool(spec.pool, paths.root);
    const batchSize = deps.batchSize ?? 256;
    let items: PoolItem[] = [];
    let readFrom = performance.now();
    for await (const chunk of pool.readChunks?.(task.range, deps.signal) ?? oneByOne(pool.read(task.range, deps.signal))) {
      for (const item of chunk) {
        items.push(item);
        records++;
        if (items.length >= batchSize) {
          phases.read += performance.now() - readFrom;
          await processBatch(items);
          items = [];
          await deps.onBatch?.(records);
          readFrom = performance.now();
        }
      }
    }
    phases.read += performance.now() - readFrom;
    if (items.length > 0) {
      await processBatch(items);
      await deps.onBatch?.(records);
    }
    const stats: Record<string, TaskStats> = {};
    for (const step of chain.taskSteps) {
      const out = await step.finishTask?.(ctx);
      if (out) stats[step.name] = out;
    }
    const flushStarted = performance.now();
    await decisions.flush();
    phases.flush = performance.now() - flushStarted;
    const commitStarted = performance.now();
    await kept.sync();
    if (imageBytes > 0) await images.sync();
    await kept.close();
    await images.close();
    const dropped = Object.fromEntries([...decisions.counts].filter(([key]) => key !== 'kept'));
    const summary: TaskSummary = {
      taskId: task.taskId,
      records,
      kept: keptCount,
      dropped,
      perClass,
      stats,
      worker: deps.workerId,
      seconds: (Date.now() - started) / 1000,
      phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v)])),
    };
    const summaryFile = await open(join(tmp, 'task.json'), 'w');
    await summaryFile.writeFile(`${JSON.stringify(summary)}\n`);
    await summaryFile.sync();
    await summaryFile.close();
    await syncDirectory(tmp);
    try {
      await rename(tmp, finalDir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        await rm(tmp, { recursive: true, force: true });
        return 'already-committed';
      }
      throw error;
    }
    await syncDirectory(paths.tasks);
    phases.commit = performance.now() - commitStarted;
    deps.onCommitted?.({ ...summary, phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v)])) });
    return 'done';
  } catch (error) {
    await kept.close().catch(() => undefined);
    await images.close().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }
}

/** A pool's items as chunks of one (pools without `readChunks`). */
async function* oneByOne(items: AsyncIterable<PoolItem>): AsyncGenerator<readonly PoolItem[]> {
  for await (const item of items) yield [item];
}

/**
 * Records that a task cannot be done, so the coordinator fails the build with the reason instead of
 * waiting forever. Takes the task's spec path (`<shift>/.build/spec.json`), not the spec: a spec that
 * cannot be read is a failure like any other. False when the build's folder no longer exists.
 */
export async function markTaskFailed(specUri: string, taskId: string, reason: string): Promise<boolean> {
  const root = buildRootOfSpec(specUri);
  const file = join(root, 'tasks', `${taskId}.failed.json`);
  try {
    // A temp name of its own: two workers may give up on the same task (redelivered) at once.
    const temp = `${file}.${randomUUID().slice(0, 8)}.tmp`;
    await writeFile(temp, `${JSON.stringify({ taskId, reason, at: new Date().toISOString() })}\n`);
    await rename(temp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
