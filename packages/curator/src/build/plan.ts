import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@select/platform';
import { openPool } from '../pool/pool-source.js';
import type { BuildSpec } from './build-spec.js';
import { stagingPaths, type BuildPlan } from './staging.js';

/** The build's task plan: read from plan.json, or made once by reading the pool's index and saved. */
export async function planBuild(spec: BuildSpec, signal: AbortSignal): Promise<BuildPlan> {
  const existing = await readPlan(spec);
  if (existing !== undefined) return existing;
  const paths = stagingPaths(spec.outputDir);
  await mkdir(paths.tasks, { recursive: true });
  const ranges = await openPool(spec.pool, paths.root).plan(spec.taskSize, spec.limit, signal);
  const plan: BuildPlan = {
    shiftId: spec.shiftId,
    tasks: ranges.map((range, index) => ({ ...range, index, taskId: `${spec.shiftId}-t${String(index).padStart(5, '0')}` })),
    records: ranges.reduce((sum, r) => sum + r.records, 0),
  };
  await writeFileAtomic(paths.plan, `${JSON.stringify(plan)}\n`);
  return plan;
}

export async function readPlan(spec: BuildSpec): Promise<BuildPlan | undefined> {
  try {
    return JSON.parse(await readFile(stagingPaths(spec.outputDir).plan, 'utf8')) as BuildPlan;
  } catch {
    return undefined;
  }
}
