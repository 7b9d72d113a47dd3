import { DiffusionInputError } from './errors.js';

/** The scheduler families this package implements, by the name a request uses. */
export const SCHEDULER_KINDS = ['ddim', 'euler', 'euler-ancestral', 'unipc'] as const;
export type SchedulerKind = (typeof SCHEDULER_KINDS)[number];

/** diffusers `_class_name` of each kind, for reading and writing `scheduler_config.json`. */
export const SCHEDULER_CLASS_NAMES: Readonly<Record<SchedulerKind, string>> = {
  ddim: 'DDIMScheduler',
  euler: 'EulerDiscreteScheduler',
  'euler-ancestral': 'EulerAncestralDiscreteScheduler',
  unipc: 'UniPCMultistepScheduler',
};

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

/**
 * The subset of a diffusers `scheduler_config.json` that the implemented schedulers read. Field names
 * are diffusers' own so a config file maps one to one; unknown fields are ignored, as diffusers'
 * `from_config` does when one scheduler is built from another's config.
 */
export interface SchedulerConfig {
  /** @default 1000 */
  num_train_timesteps: number;
  /** @default 0.0001 */
  beta_start: number;
  /** @default 0.02 */
  beta_end: number;
  /** @default 'linear' */
  beta_schedule: BetaSchedule;
  /** Explicit betas, overriding the schedule. @default null */
  trained_betas: number[] | null;
  /** @default 'epsilon' */
  prediction_type: PredictionType;
  /**
   * How inference timesteps are spread over the training range. The default is per scheduler, as in
   * diffusers: DDIM 'leading', the others 'linspace' — so a config without the key (SD 1.5's PNDM
   * config) gives each scheduler the spacing diffusers would give it.
   */
  timestep_spacing: TimestepSpacing;
  /** Added to 'leading' timesteps. @default 0 */
  steps_offset: number;
  /** DDIM: the alpha product after the last step is 1 instead of alphas_cumprod[0]. @default true */
  set_alpha_to_one: boolean;
  /** DDIM: clip the predicted x0 to ±clip_sample_range. @default true (SD configs set false) */
  clip_sample: boolean;
  /** @default 1.0 */
  clip_sample_range: number;
  /** UniPC: order of the multistep solver. @default 2 */
  solver_order: number;
  /** UniPC: 'bh1' or 'bh2'. @default 'bh2' */
  solver_type: 'bh1' | 'bh2';
  /** UniPC: use lower-order steps at the end (stabilises < 15 steps). @default true */
  lower_order_final: boolean;
  /** UniPC: steps (indices) whose corrector is skipped. @default [] */
  disable_corrector: number[];
  /** UniPC: predict the data (x0) rather than the noise. @default true */
  predict_x0: boolean;
  /** Euler: how training sigmas are interpolated at fractional timesteps; only 'linear' is implemented. @default 'linear' */
  interpolation_type: 'linear';
  /** Sigma appended after the last step: 'zero' or the smallest training sigma. @default 'zero' */
  final_sigmas_type: 'zero' | 'sigma_min';
}

const COMMON_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  prediction_type: 'epsilon',
  steps_offset: 0,
  set_alpha_to_one: true,
  clip_sample: true,
  clip_sample_range: 1.0,
  solver_order: 2,
  solver_type: 'bh2',
  lower_order_final: true,
  disable_corrector: [],
  predict_x0: true,
  interpolation_type: 'linear',
  final_sigmas_type: 'zero',
} as const satisfies Omit<SchedulerConfig, 'timestep_spacing'>;

const DEFAULT_SPACING: Readonly<Record<SchedulerKind, TimestepSpacing>> = {
  ddim: 'leading',
  euler: 'linspace',
  'euler-ancestral': 'linspace',
  unipc: 'linspace',
};

/**
 * Fills a raw `scheduler_config.json` object with the defaults of `kind` (diffusers' `from_config`
 * semantics) and validates the fields this package reads.
 */
export function resolveSchedulerConfig(kind: SchedulerKind, raw: Readonly<Record<string, unknown>> = {}): SchedulerConfig {
  // diffusers writes null for "not set" in many fields; only trained_betas uses null as a value.
  const pick = <K extends keyof SchedulerConfig>(key: K, fallback: SchedulerConfig[K]): SchedulerConfig[K] =>
    raw[key] === undefined || raw[key] === null ? fallback : (raw[key] as SchedulerConfig[K]);
  const config: SchedulerConfig = {
    num_train_timesteps: pick('num_train_timesteps', COMMON_DEFAULTS.num_train_timesteps),
    beta_start: pick('beta_start', COMMON_DEFAULTS.beta_start),
    beta_end: pick('beta_end', COMMON_DEFAULTS.beta_end),
    beta_schedule: pick('beta_schedule', COMMON_DEFAULTS.beta_schedule),
    trained_betas: pick('trained_betas', COMMON_DEFAULTS.trained_betas),
    prediction_type: pick('prediction_type', COMMON_DEFAULTS.prediction_type),
    timestep_spacing: pick('timestep_spacing', DEFAULT_SPACING[kind]),
    steps_offset: pick('steps_offset', COMMON_DEFAULTS.steps_offset),
    set_alpha_to_one: pick('set_alpha_to_one', COMMON_DEFAULTS.set_alpha_to_one),
    clip_sample: pick('clip_sample', COMMON_DEFAULTS.clip_sample),
    clip_sample_range: pick('clip_sample_range', COMMON_DEFAULTS.clip_sample_range),
    solver_order: pick('solver_order', COMMON_DEFAULTS.solver_order),
    solver_type: pick('solver_type', COMMON_DEFAULTS.solver_type),
    lower_order_final: pick('lower_order_final', COMMON_DEFAULTS.lower_order_final),
    disable_corrector: pick('disable_corrector', [...COMMON_DEFAULTS.disable_corrector]),
    predict_x0: pick('predict_x0', COMMON_DEFAULTS.predict_x0),
    interpolation_type: pick('interpolation_type', COMMON_DEFAULTS.interpolation_type),
    final_sigmas_type: pick('final_sigmas_type', COMMON_DEFAULTS.final_sigmas_type),
  };
  checkOneOf('beta_schedule', config.beta_schedule, ['linear', 'scaled_linear', 'squaredcos_cap_v2']);
  checkOneOf('timestep_spacing', config.timestep_spacing, ['linspace', 'leading', 'trailing']);
  checkOneOf('prediction_type', config.prediction_type, ['epsilon', 'v_prediction', 'sample']);
  checkOneOf('solver_type', config.solver_type, ['bh1', 'bh2']);
  checkOneOf('interpolation_type', config.interpolation_type, ['linear']);
  checkOneOf('final_sigmas_type', config.final_sigmas_type, ['zero', 'sigma_min']);
  if (!Number.isInteger(config.num_train_timesteps) || config.num_train_timesteps < 2) {
    throw new DiffusionInputError(`scheduler config: num_train_timesteps must be an integer ≥ 2, got ${String(config.num_train_timesteps)}`);
  }
  if (kind === 'unipc' && config.solver_type === 'bh1' && config.final_sigmas_type === 'zero') {
    // B(h) = h is infinite at σ = 0: diffusers returns NaN latents on the last step; refuse up front.
    throw new DiffusionInputError("scheduler config: UniPC solver_type 'bh1' needs final_sigmas_type 'sigma_min'");
  }
  for (const flag of ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'thresholding', 'rescale_betas_zero_snr'] as const) {
    if (raw[flag] === true) throw new DiffusionInputError(`scheduler config: ${flag}=true is not implemented`);
  }
  if (!Number.isInteger(config.solver_order) || config.solver_order < 1 || config.solver_order > 3) {
    throw new DiffusionInputError(`scheduler config: solver_order must be 1, 2 or 3, got ${String(config.solver_order)}`);
  }
  return config;
}

function checkOneOf(field: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== 'string' || !allowed.includes(value)) {
    throw new DiffusionInputError(`scheduler config: ${field} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
}

/** Maps a diffusers `_class_name` to the kind implemented here, or undefined for other classes (e.g. PNDM). */
export function schedulerKindOfClass(className: string): SchedulerKind | undefined {
  return SCHEDULER_KINDS.find((kind) => SCHEDULER_CLASS_NAMES[kind] === className);
}
