import { DiffusionInputError } from './errors.js';
import { interpolateAt, linspaceAt, noiseSchedule, roundHalfEven } from './noise-schedule.js';
import type { Scheduler } from './scheduler.js';
import type { SchedulerConfig, SchedulerKind } from './scheduler-config.js';

/**
 * Euler's method on the probability-flow ODE in σ-space (Karras et al. 2022, "Elucidating the Design
 * Space of Diffusion-Based Generative Models", Algorithm 2 without churn): x ← x + (x − x̂₀)/σ · (σ' − σ).
 */
export class EulerDiscreteScheduler implements Scheduler {
  readonly kind: SchedulerKind = 'euler';
  readonly timesteps: Float64Array;
  readonly sigmas: Float64Array;
  readonly initNoiseSigma: number;
  readonly stochastic: boolean = false;

  constructor(
    protected readonly config: SchedulerConfig,
    numInferenceSteps: number,
  ) {
    const { timesteps, sigmas } = sigmaTimesteps(config, numInferenceSteps);
    this.timesteps = timesteps;
    this.sigmas = sigmas;
    const maxSigma = Math.max(...sigmas);
    // Mirrors diffusers: with 'leading' spacing the first sigma is below the maximum, so the
    // initial latents are scaled by sqrt(σ²+1) instead.
    this.initNoiseSigma =
      config.timestep_spacing === 'linspace' || config.timestep_spacing === 'trailing' ? maxSigma : Math.sqrt(maxSigma * maxSigma + 1);
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    const scale = 1 / Math.sqrt(this.sigmas[stepIndex]! ** 2 + 1);
    return sample.map((x) => x * scale);
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): Float32Array {
    const sigma = this.sigmas[stepIndex]!;
    const dt = this.sigmas[stepIndex + 1]! - sigma;
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const x0 = predictOriginal(this.config, modelOutput[i]!, x, sigma);
      out[i] = x + ((x - x0) / sigma) * dt;
    }
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    const sigma = this.sigmas[stepIndex]!;
    return original.map((x, i) => x + noise[i]! * sigma);
  }
}

/**
 * Euler ancestral sampling (k-diffusion's `sample_euler_ancestral`): an Euler step down to σ_down,
 * then fresh noise of σ_up so that σ_down² + σ_up² = σ'², as in DDPM ancestral sampling.
 */
export class EulerAncestralScheduler extends EulerDiscreteScheduler {
  override readonly kind: SchedulerKind = 'euler-ancestral';
  override readonly stochastic = true;

  override step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: Float32Array): Float32Array {
    if (!noise) throw new Error('Euler ancestral needs step noise');
    const sigmaFrom = this.sigmas[stepIndex]!;
    const sigmaTo = this.sigmas[stepIndex + 1]!;
    const sigmaUp = Math.sqrt((sigmaTo ** 2 * (sigmaFrom ** 2 - sigmaTo ** 2)) / sigmaFrom ** 2);
    const sigmaDown = Math.sqrt(sigmaTo ** 2 - sigmaUp ** 2);
    const dt = sigmaDown - sigmaFrom;
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const x0 = predictOriginal(this.config, modelOutput[i]!, x, sigmaFrom);
      out[i] = x + ((x - x0) / sigmaFrom) * dt + noise[i]! * sigmaUp;
    }
    return out;
  }
}

function predictOriginal(config: SchedulerConfig, m: number, x: number, sigma: number): number {
  switch (config.prediction_type) {
    case 'epsilon':
      return x - sigma * m;
    case 'v_prediction':
      return m * (-sigma / Math.sqrt(sigma * sigma + 1)) + x / (sigma * sigma + 1);
    case 'sample':
      return m;
  }
}

/** Fractional timesteps and their interpolated σ (diffusers EulerDiscreteScheduler.set_timesteps). */
export function sigmaTimesteps(config: SchedulerConfig, n: number): { timesteps: Float64Array; sigmas: Float64Array } {
  const T = config.num_train_timesteps;
  if (n > T) throw new DiffusionInputError(`steps (${n}) cannot exceed the model's ${T} training timesteps`);
  const timesteps = new Float64Array(n);
  if (config.timestep_spacing === 'linspace') {
    for (let i = 0; i < n; i++) timesteps[i] = Math.fround(linspaceAt(0, T - 1, n, n - 1 - i));
  } else if (config.timestep_spacing === 'leading') {
    const ratio = Math.floor(T / n);
    for (let i = 0; i < n; i++) timesteps[i] = (n - 1 - i) * ratio + config.steps_offset;
  } else {
    const ratio = T / n;
    for (let i = 0; i < n; i++) timesteps[i] = roundHalfEven(T - i * ratio) - 1;
  }
  const { trainSigmas, alphasCumprod } = noiseSchedule(config);
  const sigmas = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) sigmas[i] = Math.fround(interpolateAt(trainSigmas, timesteps[i]!));
  sigmas[n] = config.final_sigmas_type === 'zero' ? 0 : Math.fround(Math.sqrt((1 - alphasCumprod[0]!) / alphasCumprod[0]!));
  return { timesteps, sigmas };
}
