import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CurationTask, LabelMapping, SampleCurated, ShiftLifecycle } from '@select/contracts';
import { readShiftManifest, ShiftWriter, type ShiftSummary } from '@select/datasets';
import { EVENT_TYPES, type EventProducer } from '@select/events';
import { isServiceError, status, writeFileAtomic, type Logger } from '@select/platform';
import type { Candidate, Decision, GlobalStep, ServiceClients } from '../chain/step.js';
import type { StepRegistry } from '../chain/registry.js';
import { CONTAMINATION, generatedPool, rasterOf } from '../image/index.js';
import { GENERATING_STRATEGIES, gateOverrideOf, labelSpaceOf, type BuildSpec } from './build-spec.js';
import { createChain, loadImage, stepContext, type Chain } from './chain.js';
import { decisionPublisher } from './decision-events.js';
import { planBuild } from './plan.js';
import { balancedTaskKeys } from './task-keys.js';
import { committedTasks, exists, isPreparationNote, readKept, readPreparationNotes, readTaskSummary, stagingPaths, type BuildPlan, type TaskSummary } from './staging.js';

export interface BuildDeps {
  registry: StepRegistry;
  services: ServiceClients;
  logger: Logger;
  producer: EventProducer | undefined;
  /** Publishes the decision batches of build-wide steps and publishing. @default producer */
  decisionProducer?: EventProducer | undefined;
  signal: AbortSignal;
  progress(done: number, total?: number, message?: string): void;
  /** How often the coordinator looks for committed tasks. @default 100 */
  pollMs?: number;
  /** Partitions of the tasks topic the build's tasks are spread over. @default TOPICS.curationTasks.partitions (12) */
  taskPartitions?: number;
  /**
   * Members of the workers' consumer group (`workerGroup`) now. Asked when the tasks have waited
   * `noWorkerCheckMs` with none committed and no worker preparing; none: the build's status says so (the
   * build keeps waiting: its tasks stay in Kafka for a worker that starts later). Absent: never asked.
   */
  workerCount?: () => Promise<number>;
  workerGroup?: string;
  /** @default 20000 */
  noWorkerCheckMs?: number;
}

/** What a finished build reports (also written as build.json into the shift folder). */
export interface BuildReport {
  shiftId: string;
  name: string;
  strategy: string;
  dryRun: boolean;
  candidates: number;
  samples: number;
  classes: number;
  perClass: Record<string, number>;
  dropped: Record<string, number>;
  paramsHash: string;
  outputDir: string;
  /** Whether the contamination-gate step ran, and why not when it did not (the request's override). */
  contaminationGate: { applied: boolean; overrideReason: string };
}

/**
 * The coordinator of one build (the `curate` job's run): plans the pool into shard tasks, publishes
 * them to the workers' tasks topic, waits until every task is committed, then runs the build-wide
 * steps and publishes the shift. Every phase can be interrupted and run again: committed tasks are
 * never redone, a published shift is not rewritten, and the events it republishes have the ids they
 * had, so nothing is counted twice.
 */
export async function runBuild(requested: BuildSpec, deps: BuildDeps): Promise<BuildReport> {
  const paths = stagingPaths(requested.outputDir);
  await mkdir(paths.tasks, { recursive: true });
  // A resumed build: the workers may take its tasks again, and tasks that failed are tried again.
  await rm(paths.cancelled, { force: true });
  for (const name of await readdir(paths.tasks)) if (name.endsWith('.failed.json')) await rm(join(paths.tasks, name), { force: true });
  const spec = await withGeneratedPool(requested, deps);
  if (!(await exists(paths.spec))) await writeFileAtomic(paths.spec, `${JSON.stringify(spec, null, 2)}\n`);
  deps.progress(0, 0, 'planning shard tasks');
  // The coordinator's phases are logged with their wall time (ms): they are the build's serial part.
  let phaseStarted = performance.now();
  const phaseMs = (): number => {
    const now = performance.now();
    const ms = Math.round(now - phaseStarted);
    phaseStarted = now;
    return ms;
  };
  const plan = await planBuild(spec, deps.signal);
  deps.logger.info({ ms: phaseMs(), tasks: plan.tasks.length, records: plan.records }, 'build planned');
  await publishLifecycle(deps.producer, spec, 'SHIFT_PHASE_CREATED', { message: `${plan.tasks.length} tasks over ${plan.records} candidates` });
  const pending = await dispatchTasks(spec, plan, deps);
  deps.logger.info({ ms: phaseMs(), tasks: plan.tasks.length, pending }, 'shard tasks published');
  await waitForTasks(spec, plan, deps);
  deps.logger.info({ ms: phaseMs(), tasks: plan.tasks.length }, 'every task committed');
  try {
    const report = await publishShift(spec, plan, deps);
    deps.logger.info({ ms: phaseMs(), samples: report.samples }, 'build published');
    return report;
  } catch (error) {
    if (!deps.signal.aborted) await publishLifecycle(deps.producer, spec, 'SHIFT_PHASE_FAILED', { message: (error as Error).message });
    throw error;
  }
}

/**
 * A Stable Diffusion strategy's pool is the output of the generation service's batch job: run it (a
 * resumed build finds it done or resumes it), then the build reads the generated shift as a pool of
 * format `shift` like any other source. Other specs are returned as they are.
 */
async function withGeneratedPool(spec: BuildSpec, deps: BuildDeps): Promise<BuildSpec> {
  const strategy = spec.steps[0];
  if (strategy === undefined || !GENERATING_STRATEGIES.has(strategy.name) || spec.pool.uri !== '') return spec;
  deps.progress(0, 0, `generating the pool: ${strategy.name} batch job on the generation service`);
  const generated = await generatedPool(strategy.name, strategy.params, { services: deps.services, labels: labelSpaceOf(spec), logger: deps.logger, progress: (message) => deps.progress(0, 0, message) }, deps.signal);
  deps.logger.info({ step: strategy.name, pool: generated.uri }, 'generated pool ready');
  return { ...spec, pool: { ...generated, name: spec.pool.name || generated.name } };
}

function gateOf(spec: BuildSpec): { applied: boolean; overrideReason: string } {
  return { applied: spec.steps.some((s) => s.name === CONTAMINATION), overrideReason: spec.gateOverrideReason ?? '' };
}

/** Publishes the tasks not committed yet; returns how many. */
async function dispatchTasks(spec: BuildSpec, plan: BuildPlan, deps: BuildDeps): Promise<number> {
  if (deps.producer === undefined) throw new Error('curation builds need Kafka: the tasks go to the curator workers over it');
  const done = await committedTasks(stagingPaths(spec.outputDir).tasks);
  const pending = plan.tasks.filter((t) => !done.has(t.taskId));
  // Task i goes to partition i % partitions (task-keys.ts), so every worker gets its share of the tasks.
  const keys = balancedTaskKeys(pending.map((t) => t.taskId), deps.taskPartitions);
  // Republishing a task after a restart is harmless: a worker that finds it committed skips it.
  const sent = pending.map((t, i) => {
    const payload: CurationTask = {
      shiftId: spec.shiftId,
      taskId: t.taskId,
      taskIndex: t.index,
      taskCount: plan.tasks.length,
      specUri: stagingPaths(spec.outputDir).spec,
      startShard: t.start.shard,
      startOffset: t.start.offset,
      records: t.records,
      endShard: t.end.shard,
      endOffset: t.end.offset,
    };
    return deps.producer!.publish('curationTasks', EVENT_TYPES.CurationTask, payload, { key: keys[i]! });
  });
  const acknowledged = Promise.all(sent);
  // The workers wait for these: send them now rather than after the producer's linger.
  await deps.producer.flush();
  await acknowledged;
  return pending.length;
}

async function waitForTasks(spec: BuildSpec, plan: BuildPlan, deps: BuildDeps): Promise<void> {
  const paths = stagingPaths(spec.outputDir);
  const recordsOf = new Map(plan.tasks.map((t) => [t.taskId, t.records]));
  // A change in the tasks folder (a task renamed into place, a failure written) ends the wait at once; the
  // poll stays for filesystems without change notification. Waiting out the poll had added ~50 ms (half
  // the interval) to every build after its last task was committed.
  let changed = false;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(paths.tasks, () => {
      changed = true;
      wake?.();
    });
    watcher.on('error', () => undefined);
  } catch {
    watcher = undefined;
  }
  // When nothing happens (no task committed, no worker preparing), whether any worker is there at all.
  const checkMs = deps.noWorkerCheckMs ?? 20_000;
  let lastActivity = Date.now();
  let lastDone = -1;
  let lastRunning = -1;
  let checkedAt = 0;
  let noWorker = '';
  try {
    for (;;) {
      changed = false;
      if (deps.signal.aborted) {
        const reason: unknown = deps.signal.reason;
        if (isServiceError(reason) && reason.code === status.CANCELLED) await writeFile(paths.cancelled, `${new Date().toISOString()}\n`);
        throw reason;
      }
      const names = await readdir(paths.tasks);
      const failed = names.filter((n) => n.endsWith('.failed.json'));
      if (failed.length > 0) {
        const first = JSON.parse(await readFile(join(paths.tasks, failed[0]!), 'utf8')) as { reason: string };
        throw new Error(`${failed.length} task(s) failed; the committed tasks are kept. First: ${first.reason}`);
      }
      const done = names.filter((n) => recordsOf.has(n));
      const records = done.reduce((sum, n) => sum + (recordsOf.get(n) ?? 0), 0);
      const running = tasksInProgress(spec.shiftId, names, recordsOf, new Set(done));
      // Workers setting up the build's steps (embedding the pool can take minutes before a first task ends)
      const notes = done.length < plan.tasks.length ? await readPreparationNotes(paths.tasks, names) : [];
      const preparing = notes.length === 0 ? '' : `; preparing (${notes.length === 1 ? notes[0]!.worker : `${notes.length} workers`}): ${notes[0]!.message}`;
      const now = Date.now();
      if (done.length !== lastDone || running !== lastRunning || notes.length > 0) {
        lastActivity = now;
        lastDone = done.length;
        lastRunning = running;
        noWorker = '';
      } else if (deps.workerCount !== undefined && now - lastActivity >= checkMs && now - checkedAt >= checkMs) {
        checkedAt = now;
        const members = await deps.workerCount().catch((err: unknown) => {
          deps.logger.warn({ err }, 'cannot ask Kafka for the curator workers');
          return undefined;
        });
        const group = deps.workerGroup ?? 'select-curator-workers';
        if (members === 0 && noWorker === '') deps.logger.warn({ group, waitedMs: now - lastActivity }, 'no curator worker in the group: the build waits for one');
        noWorker =
          members === 0
            ? `; no curator worker is running (consumer group ${group} has no member): start one (select services up curator-worker, or CURATOR_LOCAL_WORKERS=1 in the curator); the tasks wait in Kafka`
            : members !== undefined && running === 0
              ? `; none of the ${members} worker(s) in group ${group} is running one of its tasks (busy with another build's, or rebalancing)`
              : '';
      }
      const inProgress = running > 0 ? `, ${running} running` : '';
      deps.progress(records, plan.records, `${done.length}/${plan.tasks.length} tasks committed${inProgress}${preparing}${noWorker}`);
      if (done.length === plan.tasks.length) return;
      if (changed) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deps.pollMs ?? 100);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    watcher?.close();
  }
}

/**
 * Tasks of the build a worker is running now: those with a private `.tmp` folder (`<task>.<worker>-<id>.tmp`,
 * task-runner.ts) that are not committed. A killed worker's leftover counts until its task is redone.
 */
function tasksInProgress(shiftId: string, names: readonly string[], planned: ReadonlyMap<string, number>, committed: ReadonlySet<string>): number {
  const prefix = `${shiftId}-t`;
  const running = new Set<string>();
  for (const name of names) {
    if (!name.endsWith('.tmp') || !name.startsWith(prefix)) continue;
    const digits = /^\d+/.exec(name.slice(prefix.length))?.[0];
    const taskId = digits === undefined ? undefined : `${prefix}${digits}`;
    if (taskId !== undefined && planned.has(taskId) && !committed.has(taskId)) running.add(taskId);
  }
  return running.size;
}

/** The request's max_per_class as a build-wide step: the N best-scored per class (ties: pool order). */
function maxPerClassStep(cap: number): GlobalStep {
  return {
    scope: 'build',
    name: 'max-per-class',
    params: { maxPerClass: cap },
    async run(candidates, _ctx, drop) {
      const perClass = new Map<number, Array<{ id: string; score: number; order: number; seed: number | undefined }>>();
      let order = 0;
      for await (const c of candidates()) {
        const list = perClass.get(c.classIndex ?? -1) ?? [];
        list.push({ id: c.sourceId, score: Number.isFinite(c.score) ? (c.score as number) : Number.NEGATIVE_INFINITY, order: order++, seed: c.seed });
        perClass.set(c.classIndex ?? -1, list);
      }
      for (const [classIndex, list] of perClass) {
        list.sort((a, b) => b.score - a.score || a.order - b.order);
        for (const extra of list.slice(cap)) {
          drop({ sourceId: extra.id, step: 'max-per-class', kept: false, reason: 'over-class-cap', score: extra.score, classIndex, ...(extra.seed === undefined ? {} : { seed: extra.seed }) });
        }
      }
    },
  };
}

const keyOf = (c: { sourceId: string; seed?: number | undefined }): string => `${c.sourceId}\u0000${c.seed ?? ''}`;

async function publishShift(spec: BuildSpec, plan: BuildPlan, deps: BuildDeps): Promise<BuildReport> {
  const paths = stagingPaths(spec.outputDir);
  // No shift is published without the contamination gate unless the request said why (checked up front
  // too; this holds for a build resumed from an older spec).
  gateOverrideOf(
    spec.steps.map((s) => s.name),
    spec.dryRun,
    spec.gateOverrideReason,
  );
  // The coordinator's own set-up of the steps (the build-wide ones run here), said in the build's status.
  const chain = await createChain(spec, deps.registry, deps.services, deps.logger, (message) => deps.progress(plan.records, plan.records, `preparing the build-wide steps: ${message}`));
  try {
    const summaries: TaskSummary[] = [];
    for (const task of plan.tasks) summaries.push(await readTaskSummary(paths.task(task.taskId)));
    // Leftovers of killed workers: folders nobody will rename, notes of set-ups that never ended.
    for (const name of await readdir(paths.tasks)) if (name.endsWith('.tmp') || isPreparationNote(name)) await rm(join(paths.tasks, name), { recursive: true, force: true });

    const ctx = stepContext({
      signal: deps.signal,
      seed: spec.seed,
      logger: deps.logger,
      services: deps.services,
      labels: labelSpaceOf(spec),
      buildId: spec.shiftId,
      taskId: 'build',
      sideDir: spec.outputDir,
    });
    const dropped = new Map<string, Decision>();
    const globalSteps = [...(spec.maxPerClass > 0 ? [maxPerClassStep(spec.maxPerClass)] : []), ...chain.globalSteps];
    const decisions = decisionPublisher(deps.decisionProducer ?? deps.producer, { shiftId: spec.shiftId, strategy: chain.strategy, taskId: 'build' });
    const sources = new Map<string, string>();
    async function* survivors(): AsyncGenerator<Candidate> {
      for (const task of plan.tasks) {
        for await (const candidate of readKept(paths.task(task.taskId))) {
          if (!dropped.has(keyOf(candidate))) yield candidate;
        }
      }
    }
    for (const [g, step] of globalSteps.entries()) {
      deps.progress(plan.records, plan.records, `build-wide step ${step.name}`);
      const stage = chain.taskSteps.length + 1 + g;
      await step.run(survivors, ctx, (decision) => {
        dropped.set(keyOf(decision), decision);
        decisions.add(decision, stage, sources.get(decision.sourceId) ?? spec.pool.name);
      });
    }
    await decisions.flush();

    const report: BuildReport = {
      shiftId: spec.shiftId,
      name: spec.name,
      strategy: chain.strategy,
      dryRun: spec.dryRun,
      candidates: plan.records,
      samples: 0,
      classes: 0,
      perClass: {},
      dropped: {},
      paramsHash: spec.paramsHash,
      outputDir: spec.outputDir,
      contaminationGate: gateOf(spec),
    };
    for (const summary of summaries) for (const [key, count] of Object.entries(summary.dropped)) report.dropped[key] = (report.dropped[key] ?? 0) + count;
    for (const decision of dropped.values()) report.dropped[`${decision.step}: ${decision.reason}`] = (report.dropped[`${decision.step}: ${decision.reason}`] ?? 0) + 1;

    if (spec.dryRun && dropped.size === 0 && summaries.every((s) => s.perClass !== undefined)) {
      // Nothing was dropped after the tasks: the tasks' own counts are the shift's (no kept.jsonl re-read).
      for (const summary of summaries) {
        for (const [wnid, count] of Object.entries(summary.perClass!)) {
          report.perClass[wnid] = (report.perClass[wnid] ?? 0) + count;
          report.samples += count;
        }
      }
    } else if (spec.dryRun) {
      for await (const c of survivors()) {
        const wnid = c.wnid ?? '';
        report.perClass[wnid] = (report.perClass[wnid] ?? 0) + 1;
        report.samples++;
      }
    } else {
      const written = await writeShift(spec, chain, plan, survivors, ctx.labels.wnids, deps);
      report.samples = written.summary.counts.samples;
      for (const [wnid, count] of Object.entries(written.perClass)) report.perClass[wnid] = count;
      for (const [key, count] of Object.entries(written.dropped)) report.dropped[key] = (report.dropped[key] ?? 0) + count;
    }
    report.classes = Object.values(report.perClass).filter((n) => n > 0).length;

    for (const step of chain.taskSteps) {
      const outputs = await step.finishBuild?.(
        summaries.map((s) => s.stats[step.name] ?? {}),
        { logger: deps.logger, labels: ctx.labels, buildId: spec.shiftId },
      );
      for (const [name, content] of Object.entries(outputs?.files ?? {})) await writeFileAtomic(join(spec.outputDir, name), content);
      if (outputs?.labelMappings !== undefined && deps.producer !== undefined) {
        await Promise.all(
          outputs.labelMappings.map((row) => {
            const payload: LabelMapping = { shiftId: spec.shiftId, ...row };
            const id = createHash('sha256').update(`${spec.shiftId}\u0000${row.label}`).digest('hex').slice(0, 32);
            return deps.producer!.publish('decisions', EVENT_TYPES.LabelMapping, payload, { id });
          }),
        );
      }
    }
    const perClassFile = spec.dryRun ? 'dry_run_counts.json' : 'build.json';
    await writeFileAtomic(join(spec.outputDir, perClassFile), `${JSON.stringify(report, null, 2)}\n`);
    await publishLifecycle(deps.producer, spec, 'SHIFT_PHASE_COMPLETED', { samples: report.samples, classes: report.classes, message: spec.dryRun ? 'dry run: counts only, no images written' : spec.gateOverrideReason ? `published without the ${CONTAMINATION}: ${spec.gateOverrideReason}` : '' });
    deps.progress(plan.records, plan.records, `${report.samples} samples in ${report.classes} classes`);
    return report;
  } finally {
    await chain.dispose();
  }
}

async function writeShift(
  spec: BuildSpec,
  chain: Chain,
  plan: BuildPlan,
  survivors: () => AsyncGenerator<Candidate>,
  wnids: readonly string[],
  deps: BuildDeps,
): Promise<{ summary: ShiftSummary; perClass: Record<string, number>; dropped: Record<string, number> }> {
  const paths = stagingPaths(spec.outputDir);
  const params = { steps: spec.steps, classes: spec.classes.length === wnids.length ? 'all' : spec.classes, maxPerClass: spec.maxPerClass, seed: spec.seed };
  const published = await readFile(paths.published, 'utf8').then(
    (text) => JSON.parse(text) as ShiftSummary,
    () => undefined,
  );
  const provenance = new Map<string, { modelIds: string[]; extra: Record<string, string>; prompt: string; seed: number }>();
  const dropped: Record<string, number> = {};
  let summary: ShiftSummary;
  const failures = decisionPublisher(deps.decisionProducer ?? deps.producer, { shiftId: spec.shiftId, strategy: chain.strategy, taskId: 'publish' });
  const publishStage = chain.taskSteps.length + chain.globalSteps.length + 2;
  const extraOf = (c: Candidate): Record<string, string> => ({
    source: c.metadata?.['source'] ?? spec.pool.name,
    ...(c.caption === undefined ? {} : { caption: c.caption.slice(0, 2000) }),
    ...Object.fromEntries(Object.entries(c.metadata ?? {}).filter(([k]) => k !== 'source')),
  });
  if (published === undefined) {
    const writer = await ShiftWriter.open(spec.outputDir, { name: spec.name, strategy: chain.strategy, params, classes: wnids });
    let done = 0;
    const total = plan.records;
    try {
      for await (const candidate of survivors()) {
        deps.signal.throwIfAborted();
        const extra = extraOf(candidate);
        provenance.set(writer.idFor(candidate), { modelIds: Object.entries(candidate.modelIds ?? {}).map(([role, id]) => `${role}:${id}`), extra, prompt: candidate.prompt ?? '', seed: candidate.seed ?? 0 });
        if (writer.has(writer.idFor(candidate))) continue;
        let image: Buffer;
        try {
          // SVG clip art rendered as the embedding and the contamination gate saw it (service-calls rasterOf)
          image = await rasterOf(candidate, await loadImage(candidate));
          await writer.add({
            sourceId: candidate.sourceId,
            classIndex: candidate.classIndex!,
            image,
            ...(Number.isFinite(candidate.score) ? { score: candidate.score! } : {}),
            ...(candidate.modelIds === undefined ? {} : { modelIds: candidate.modelIds }),
            ...(candidate.seed === undefined ? {} : { seed: candidate.seed }),
            ...(candidate.prompt === undefined ? {} : { prompt: candidate.prompt }),
            extra,
          });
        } catch (error) {
          if (deps.signal.aborted) throw error;
          // An image that cannot be read or encoded drops that sample, not the build.
          const reason = `bad-image: ${(error as Error).message}`.slice(0, 300);
          failures.add({ sourceId: candidate.sourceId, step: 'publish', kept: false, reason, score: Number.NaN, classIndex: candidate.classIndex ?? -1 }, publishStage, extra['source'] ?? spec.pool.name);
          dropped['publish: bad-image'] = (dropped['publish: bad-image'] ?? 0) + 1;
          provenance.delete(writer.idFor(candidate));
          continue;
        }
        done++;
        if (done % 200 === 0) deps.progress(total, total, `publishing: ${done} samples written`);
      }
      summary = await writer.close();
    } catch (error) {
      await writer.suspend().catch(() => undefined);
      throw error;
    }
    await failures.flush();
    await writeFileAtomic(paths.published, `${JSON.stringify(summary)}\n`);
  } else {
    summary = published;
    for await (const candidate of survivors()) {
      provenance.set(
        (await import('@select/datasets')).sampleId({ strategy: chain.strategy, sourceId: candidate.sourceId, ...(candidate.seed === undefined ? {} : { seed: candidate.seed }) }),
        { modelIds: Object.entries(candidate.modelIds ?? {}).map(([role, id]) => `${role}:${id}`), extra: extraOf(candidate), prompt: candidate.prompt ?? '', seed: candidate.seed ?? 0 },
      );
    }
  }
  // SampleCurated for every written sample, from the manifest (it knows each sample's shard); ids are
  // the sample ids, so a republish after a restart collapses in the sink.
  const perClass: Record<string, number> = {};
  const pending: Array<Promise<unknown>> = [];
  for await (const entry of readShiftManifest(spec.outputDir)) {
    perClass[entry.wnid] = (perClass[entry.wnid] ?? 0) + 1;
    if (deps.producer === undefined) continue;
    const prov = provenance.get(entry.id);
    const payload: SampleCurated = {
      sampleId: entry.id,
      shiftId: spec.shiftId,
      strategy: chain.strategy,
      classIndex: entry.class_index,
      wnid: entry.wnid,
      sourceId: entry.source_id,
      score: entry.score ?? Number.NaN,
      shard: entry.shard,
      key: entry.key,
      provenance: {
        strategy: chain.strategy,
        paramsHash: summary.params_hash,
        sourceId: entry.source_id,
        score: entry.score ?? Number.NaN,
        modelIds: prov?.modelIds ?? [],
        prompt: prov?.prompt ?? '',
        seed: prov?.seed ?? 0,
        extra: prov?.extra ?? {},
      },
    };
    const sent = deps.producer.publish('samples', EVENT_TYPES.SampleCurated, payload, { id: entry.id });
    sent.catch(() => undefined);
    pending.push(sent);
    if (pending.length >= 5000) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  return { summary, perClass, dropped };
}

async function publishLifecycle(
  producer: EventProducer | undefined,
  spec: BuildSpec,
  phase: string,
  extra: { samples?: number; classes?: number; message?: string },
): Promise<void> {
  if (producer === undefined) return;
  const payload: ShiftLifecycle = {
    shiftId: spec.shiftId,
    name: spec.name,
    strategy: spec.steps[0]?.name ?? '',
    phase: phase as ShiftLifecycle['phase'],
    paramsJson: JSON.stringify({ steps: spec.steps, maxPerClass: spec.maxPerClass, seed: spec.seed, dryRun: spec.dryRun, pool: spec.pool, contaminationGate: gateOf(spec) }),
    paramsHash: spec.paramsHash,
    sampleCount: extra.samples ?? 0,
    classCount: extra.classes ?? 0,
    uri: spec.outputDir,
    message: extra.message ?? '',
  };
  // One lifecycle event per phase and build: the id makes a republish after a restart collapse.
  const id = createHash('sha256').update(`${spec.shiftId}\u0000${phase}`).digest('hex').slice(0, 32);
  await producer.publish('shifts', EVENT_TYPES.ShiftLifecycle, payload, { id });
}
