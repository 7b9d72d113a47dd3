import { DiffusionInputError } from './errors.js';
import { noiseSchedule, linspaceAt, roundHalfEven } from './noise-schedule.js';
import type { Scheduler } from './scheduler.js';
import type { SchedulerConfig } from './scheduler-config.js';

/**
 * DDIM (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models"), eq. 12: deterministic for
 * eta = 0, DDPM-like ancestral noise for eta = 1.
 */
export class DdimScheduler implements Scheduler {
  readonly kind = 'ddim' as const;
  readonly timesteps: Float64Array;
  readonly sigmas = undefined;
  readonly initNoiseSigma = 1;
  readonly stochastic: boolean;
  readonly #alphasCumprod: Float64Array;
  readonly #finalAlphaCumprod: number;
  readonly #stepRatio: number;

  constructor(
    private readonly config: SchedulerConfig,
    numInferenceSteps: number,
    private readonly eta = 0,
  ) {
    const trainSteps = config.num_train_timesteps;
    if (numInferenceSteps > trainSteps) {
      throw new DiffusionInputError(`steps (${numInferenceSteps}) cannot exceed the model's ${trainSteps} training timesteps`);
    }
    this.#alphasCumprod = noiseSchedule(config).alphasCumprod;
    this.#finalAlphaCumprod = config.set_alpha_to_one ? 1 : this.#alphasCumprod[0]!;
    this.#stepRatio = Math.floor(trainSteps / numInferenceSteps);
    this.stochastic = eta > 0;
    this.timesteps = integerTimesteps(config, numInferenceSteps);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: Float32Array): Float32Array {
    const t = this.timesteps[stepIndex]!;
    const prevT = t - this.#stepRatio;
    const alphaT = this.#alphasCumprod[t]!;
    const alphaPrev = prevT >= 0 ? this.#alphasCumprod[prevT]! : this.#finalAlphaCumprod;
    const betaT = 1 - alphaT;
    const variance = ((1 - alphaPrev) / betaT) * (1 - alphaT / alphaPrev);
    const std = this.eta * Math.sqrt(variance);
    if (this.stochastic && !noise) throw new Error('DDIM with eta > 0 needs step noise');
    const sqrtAlphaT = Math.sqrt(alphaT);
    const sqrtBetaT = Math.sqrt(betaT);
    const sqrtAlphaPrev = Math.sqrt(alphaPrev);
    const dirCoef = Math.sqrt(1 - alphaPrev - std * std);
    const { prediction_type: prediction, clip_sample: clip, clip_sample_range: range } = this.config;
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const m = modelOutput[i]!;
      let x0: number;
      let eps: number;
      if (prediction === 'epsilon') {
        x0 = (x - sqrtBetaT * m) / sqrtAlphaT;
        eps = m;
      } else if (prediction === 'sample') {
        x0 = m;
        eps = (x - sqrtAlphaT * x0) / sqrtBetaT;
      } else {
        x0 = sqrtAlphaT * x - sqrtBetaT * m;
        eps = sqrtAlphaT * m + sqrtBetaT * x;
      }
      // diffusers keeps the unclipped epsilon for the direction term (use_clipped_model_output=False).
      if (clip) x0 = Math.min(range, Math.max(-range, x0));
      let prev = sqrtAlphaPrev * x0 + dirCoef * eps;
      if (noise) prev += std * noise[i]!;
      out[i] = prev;
    }
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    const alpha = this.#alphasCumprod[this.timesteps[stepIndex]!]!;
    const a = Math.sqrt(alpha);
    const b = Math.sqrt(1 - alpha);
    return original.map((x, i) => a * x + b * noise[i]!);
  }
}

/**
 * Integer timesteps for DDIM-style schedulers (diffusers `set_timesteps`), descending.
 * `extra` asks for n+extra points of which the last `extra` are dropped (UniPC spaces n+1 points).
 */
export function integerTimesteps(config: SchedulerConfig, n: number, extra = 0): Float64Array {
  const T = config.num_train_timesteps;
  const out = new Float64Array(n);
  if (config.timestep_spacing === 'linspace') {
    for (let i = 0; i < n; i++) out[i] = roundHalfEven(linspaceAt(0, T - 1, n + extra, n + extra - 1 - i));
  } else if (config.timestep_spacing === 'leading') {
    const ratio = Math.floor(T / (n + extra));
    for (let i = 0; i < n; i++) out[i] = (n + extra - 1 - i) * ratio + config.steps_offset;
  } else {
    // trailing: arange(T, 0, -T/n).round() - 1
    const ratio = T / n;
    for (let i = 0; i < n; i++) out[i] = roundHalfEven(T - i * ratio) - 1;
  }
  return out;
}
