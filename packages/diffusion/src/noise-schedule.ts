import type { SchedulerConfig } from './scheduler-config.js';

/**
 * The training noise schedule shared by every scheduler: betas, their cumulative alpha product and the
 * matching "Karras" sigmas σ_t = sqrt((1 − ᾱ_t) / ᾱ_t) (DDPM, Ho et al. 2020; EDM, Karras et al. 2022).
 * Values are rounded through float32 where diffusers keeps them as float32 tensors, so timesteps
 * and sigmas match its own within float32 rounding.
 */
export interface NoiseSchedule {
  readonly alphasCumprod: Float64Array;
  /** σ of each training timestep, ascending with t. */
  readonly trainSigmas: Float64Array;
}

export function noiseSchedule(config: SchedulerConfig): NoiseSchedule {
  const n = config.num_train_timesteps;
  const betas = new Float64Array(n);
  if (config.trained_betas) {
    config.trained_betas.forEach((b, i) => (betas[i] = Math.fround(b)));
  } else if (config.beta_schedule === 'linear') {
    for (let i = 0; i < n; i++) betas[i] = Math.fround(linspaceAt(config.beta_start, config.beta_end, n, i));
  } else if (config.beta_schedule === 'scaled_linear') {
    // "this schedule is very specific to the latent diffusion model": linear in sqrt(beta).
    const a = Math.sqrt(config.beta_start);
    const b = Math.sqrt(config.beta_end);
    for (let i = 0; i < n; i++) betas[i] = Math.fround(Math.fround(linspaceAt(a, b, n, i)) ** 2);
  } else {
    // Improved DDPM (Nichol & Dhariwal 2021) cosine schedule, betas capped at 0.999.
    const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * Math.PI * 0.5) ** 2;
    for (let i = 0; i < n; i++) betas[i] = Math.fround(Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999));
  }
  const alphasCumprod = new Float64Array(n);
  let product = 1;
  for (let i = 0; i < n; i++) {
    // torch.cumprod on a float32 tensor rounds after every multiply.
    product = Math.fround(product * Math.fround(1 - betas[i]!));
    alphasCumprod[i] = product;
  }
  const trainSigmas = alphasCumprod.map((a) => Math.sqrt((1 - a) / a));
  return { alphasCumprod, trainSigmas };
}

/** The i-th of `count` evenly spaced values from `start` to `end` inclusive (numpy.linspace). */
export function linspaceAt(start: number, end: number, count: number, i: number): number {
  if (count === 1) return start;
  const step = (end - start) / (count - 1);
  // numpy computes start + i*step and pins the last value to `end` exactly.
  return i === count - 1 ? end : start + i * step;
}

/** Round half to even, as numpy.round does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Linear interpolation of `values` (given at integer positions 0..n-1) at fractional position `x`,
 * clamped at the ends (numpy.interp with xp = arange(n)).
 */
export function interpolateAt(values: ArrayLike<number>, x: number): number {
  const last = values.length - 1;
  if (x <= 0) return values[0]!;
  if (x >= last) return values[last]!;
  const lo = Math.floor(x);
  const frac = x - lo;
  const a = values[lo]!;
  const b = values[lo + 1]!;
  return frac === 0 ? a : a + (b - a) * frac;
}
