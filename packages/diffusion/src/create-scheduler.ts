import { DdimScheduler } from './ddim-scheduler.js';
import { DiffusionInputError } from './errors.js';
import { EulerAncestralScheduler, EulerDiscreteScheduler } from './euler-discrete-scheduler.js';
import type { Scheduler } from './scheduler.js';
import { resolveSchedulerConfig, SCHEDULER_KINDS, type SchedulerKind } from './scheduler-config.js';
import { UniPcScheduler } from './unipc-scheduler.js';

export interface CreateSchedulerOptions {
  /** DDIM only: 0 is deterministic DDIM, 1 is DDPM-like. @default 0 */
  eta?: number;
}

/**
 * Builds a scheduler of `kind` from a model's raw `scheduler_config.json` (any diffusers scheduler
 * class; missing keys take `kind`'s defaults, as diffusers' `from_config` does) for `steps` steps.
 */
export function createScheduler(
  kind: SchedulerKind,
  rawConfig: Readonly<Record<string, unknown>>,
  steps: number,
  options: CreateSchedulerOptions = {},
): Scheduler {
  if (!Number.isInteger(steps) || steps < 1) throw new DiffusionInputError(`steps must be a positive integer, got ${steps}`);
  const config = resolveSchedulerConfig(kind, rawConfig);
  switch (kind) {
    case 'ddim':
      return new DdimScheduler(config, steps, options.eta ?? 0);
    case 'euler':
      return new EulerDiscreteScheduler(config, steps);
    case 'euler-ancestral':
      return new EulerAncestralScheduler(config, steps);
    case 'unipc':
      return new UniPcScheduler(config, steps);
    default:
      throw new DiffusionInputError(`unknown scheduler ${JSON.stringify(kind)}; expected one of ${SCHEDULER_KINDS.join(', ')}`);
  }
}
