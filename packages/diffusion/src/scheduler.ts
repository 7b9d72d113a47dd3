import type { SchedulerKind } from './scheduler-config.js';

/**
 * One denoising run's scheduler: the timesteps to visit and the update rule between them. Instances
 * are stateful (multistep solvers remember earlier model outputs), so make one per image and call
 * `step` once per timestep, in order, starting at any index (image-to-image starts part-way).
 *
 * All tensors are flat Float32Arrays in the latent layout (batch 1, NCHW); the update math runs in
 * float64 per element and is stored back as float32, like diffusers' float32 tensors.
 */
export interface Scheduler {
  readonly kind: SchedulerKind;
  /** Timesteps the UNet is evaluated at, in denoising order (integers, or fractional for Euler). */
  readonly timesteps: Float64Array;
  /** Noise level before each step and after the last (length timesteps+1), for sigma-parameterised schedulers. */
  readonly sigmas: Float64Array | undefined;
  /** Standard deviation the initial Gaussian latents are scaled by. */
  readonly initNoiseSigma: number;
  /** Whether `step` consumes fresh Gaussian noise (ancestral sampling, DDIM with eta > 0). */
  readonly stochastic: boolean;
  /** Scales the latents before they enter the UNet at step `stepIndex` (identity for DDPM-style schedulers). */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array;
  /**
   * Computes the latents after step `stepIndex` from the (guided) model output. `noise` — standard
   * normal, same length as the sample — is required when `stochastic` is true and ignored otherwise.
   */
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: Float32Array): Float32Array;
  /** Noises clean latents to the level of step `stepIndex` (image-to-image start). */
  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array;
}
