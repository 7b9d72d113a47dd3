import { readFile } from 'node:fs/promises';
import type { Logger } from '@select/platform';
import type { AnyStep, Candidate, ChainStep, GlobalStep, ServiceClients, StepContext } from '../chain/step.js';
import type { StepRegistry } from '../chain/registry.js';
import { labelSpaceOf, type BuildSpec } from './build-spec.js';

/** The steps of a build, instantiated: per-task ones (stages 1..n) and build-wide ones (after every task). */
export interface Chain {
  spec: BuildSpec;
  taskSteps: ChainStep[];
  globalSteps: GlobalStep[];
  /** The strategy: the first step's name (decisions' `strategy`). */
  strategy: string;
  dispose(): Promise<void>;
}

/**
 * Instantiates a spec's steps in chain order; task steps must come before build-wide ones. `progress`
 * hears what the steps' set-up is doing (StepEnvironment.progress).
 */
export async function createChain(spec: BuildSpec, registry: StepRegistry, services: ServiceClients, logger: Logger, progress?: (message: string) => void): Promise<Chain> {
  const env = { logger, services, labels: labelSpaceOf(spec), pool: spec.pool, poolLimit: spec.limit, ...(progress === undefined ? {} : { progress }) };
  const steps: AnyStep[] = [];
  try {
    for (const step of spec.steps) steps.push(await registry.get(step.name).create(step.params, env));
  } catch (error) {
    await Promise.all(steps.map((s) => s.dispose?.()));
    throw error;
  }
  const taskSteps = steps.filter((s): s is ChainStep => s.scope === 'task');
  const globalSteps = steps.filter((s): s is GlobalStep => s.scope === 'build');
  const firstGlobal = steps.findIndex((s) => s.scope === 'build');
  if (firstGlobal !== -1 && steps.slice(firstGlobal).some((s) => s.scope === 'task')) {
    throw new Error('build-wide steps (quota, de-duplication, contamination gate) must come after every per-task step');
  }
  return {
    spec,
    taskSteps,
    globalSteps,
    strategy: spec.steps[0]?.name ?? '',
    dispose: async () => {
      await Promise.all(steps.map((s) => s.dispose?.()));
    },
  };
}

/** Reads a candidate's image bytes once (from `bytes` or `path`). */
export async function loadImage(candidate: Candidate): Promise<Buffer> {
  const image = candidate.image;
  if (image?.bytes !== undefined) return image.bytes;
  if (image?.path === undefined) throw new Error(`candidate ${candidate.sourceId} has no image`);
  const bytes = await readFile(image.path);
  image.bytes = bytes;
  return bytes;
}

export function stepContext(base: Omit<StepContext, 'loadImage'>): StepContext {
  return { ...base, loadImage };
}
