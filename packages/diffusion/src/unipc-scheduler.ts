import { integerTimesteps } from './ddim-scheduler.js';
import { DiffusionInputError } from './errors.js';
import { interpolateAt, noiseSchedule } from './noise-schedule.js';
import type { Scheduler } from './scheduler.js';
import type { SchedulerConfig } from './scheduler-config.js';

/**
 * UniPC multistep (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast
 * Sampling of Diffusion Models"): the UniP predictor of order p (data prediction, B(h) = e^h − 1 for
 * "bh2") and the UniC corrector that reuses the model output of the next step at no extra cost.
 * Follows diffusers' UniPCMultistepScheduler step for step, including lower-order warm-up and
 * lower-order final steps, so SD1000's "UniPC, 20 steps" is reproduced.
 */
export class UniPcScheduler implements Scheduler {
  readonly kind = 'unipc' as const;
  readonly timesteps: Float64Array;
  readonly sigmas: Float64Array;
  readonly initNoiseSigma = 1;
  readonly stochastic = false;
  /** Converted (x0 or ε) model outputs of the latest steps, oldest first. */
  readonly #modelOutputs: (Float32Array | undefined)[];
  #lowerOrderNums = 0;
  #lastSample: Float32Array | undefined;
  #thisOrder = 0;
  #previousStepIndex: number | undefined;

  constructor(
    private readonly config: SchedulerConfig,
    numInferenceSteps: number,
  ) {
    const T = config.num_train_timesteps;
    if (numInferenceSteps > T) throw new DiffusionInputError(`steps (${numInferenceSteps}) cannot exceed the model's ${T} training timesteps`);
    this.timesteps = integerTimesteps(config, numInferenceSteps, config.timestep_spacing === 'trailing' ? 0 : 1);
    const { trainSigmas, alphasCumprod } = noiseSchedule(config);
    this.sigmas = new Float64Array(numInferenceSteps + 1);
    for (let i = 0; i < numInferenceSteps; i++) this.sigmas[i] = Math.fround(interpolateAt(trainSigmas, this.timesteps[i]!));
    this.sigmas[numInferenceSteps] =
      config.final_sigmas_type === 'zero' ? 0 : Math.fround(Math.sqrt((1 - alphasCumprod[0]!) / alphasCumprod[0]!));
    this.#modelOutputs = new Array<Float32Array | undefined>(config.solver_order).fill(undefined);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): Float32Array {
    if (this.#previousStepIndex !== undefined && stepIndex !== this.#previousStepIndex + 1) {
      throw new Error(`UniPC steps must be taken in order: step ${stepIndex} after ${this.#previousStepIndex}`);
    }
    const { solver_order: order, lower_order_final: lowerOrderFinal, disable_corrector: noCorrector } = this.config;
    const converted = this.#convertModelOutput(modelOutput, sample, stepIndex);
    let current = sample;
    if (this.#lastSample !== undefined && !noCorrector.includes(stepIndex - 1)) {
      current = this.#correct(converted, this.#lastSample, sample, stepIndex, this.#thisOrder);
    }
    this.#modelOutputs.shift();
    this.#modelOutputs.push(converted);
    let thisOrder = lowerOrderFinal ? Math.min(order, this.timesteps.length - stepIndex) : order;
    thisOrder = Math.min(thisOrder, this.#lowerOrderNums + 1);
    this.#thisOrder = thisOrder;
    this.#lastSample = current;
    const next = this.#predict(current, stepIndex, thisOrder);
    if (this.#lowerOrderNums < order) this.#lowerOrderNums++;
    this.#previousStepIndex = stepIndex;
    return next;
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    const { alpha, sigma } = alphaSigma(this.sigmas[stepIndex]!);
    return original.map((x, i) => alpha * x + sigma * noise[i]!);
  }

  #convertModelOutput(modelOutput: Float32Array, sample: Float32Array, stepIndex: number): Float32Array {
    const { alpha, sigma } = alphaSigma(this.sigmas[stepIndex]!);
    // Config fields read once: a lookup per element on the config object costs more than the math.
    const prediction = this.config.prediction_type;
    const predictX0 = this.config.predict_x0;
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const m = modelOutput[i]!;
      const x = sample[i]!;
      let x0: number;
      if (prediction === 'epsilon') x0 = (x - sigma * m) / alpha;
      else if (prediction === 'sample') x0 = m;
      else x0 = alpha * x - sigma * m;
      out[i] = predictX0 ? x0 : (x - alpha * x0) / sigma;
    }
    return out;
  }

  /** log(α/σ) at step index i: the half log-SNR the solver integrates over. */
  #lambda(i: number): number {
    const { alpha, sigma } = alphaSigma(this.sigmas[i]!);
    return Math.log(alpha) - Math.log(sigma);
  }

  /** The φ-function coefficients R (rows r_k^(i-1)) and b shared by predictor and corrector. */
  #coefficients(hh: number, rks: number[], order: number): { R: number[][]; b: number[]; hPhi1: number; Bh: number } {
    const hPhi1 = Math.expm1(hh);
    let hPhiK = hPhi1 / hh - 1;
    let factorial = 1;
    const Bh = this.config.solver_type === 'bh1' ? hh : Math.expm1(hh);
    const R: number[][] = [];
    const b: number[] = [];
    for (let i = 1; i <= order; i++) {
      R.push(rks.map((r) => r ** (i - 1)));
      b.push((hPhiK * factorial) / Bh);
      factorial *= i + 1;
      hPhiK = hPhiK / hh - 1 / factorial;
    }
    return { R, b, hPhi1, Bh };
  }

  #predict(x: Float32Array, stepIndex: number, order: number): Float32Array {
    const m0 = this.#modelOutputs[this.#modelOutputs.length - 1]!;
    const { alpha: alphaT, sigma: sigmaT } = alphaSigma(this.sigmas[stepIndex + 1]!);
    const { sigma: sigmaS0 } = alphaSigma(this.sigmas[stepIndex]!);
    const lambdaS0 = this.#lambda(stepIndex);
    const h = Math.log(alphaT) - Math.log(sigmaT) - lambdaS0;
    const rks: number[] = [];
    const D1s: Float32Array[] = [];
    for (let i = 1; i < order; i++) {
      const mi = this.#modelOutputs[this.#modelOutputs.length - 1 - i]!;
      const rk = (this.#lambda(stepIndex - i) - lambdaS0) / h;
      rks.push(rk);
      D1s.push(m0.map((v, j) => (mi[j]! - v) / rk));
    }
    rks.push(1);
    const predictX0 = this.config.predict_x0;
    const hh = predictX0 ? -h : h;
    const { R, b, hPhi1, Bh } = this.#coefficients(hh, rks, order);
    let rhosP: number[] = [];
    if (D1s.length > 0) rhosP = order === 2 ? [0.5] : solveLinear(R.slice(0, -1).map((row) => row.slice(0, -1)), b.slice(0, -1));
    const { alpha: alphaS0 } = alphaSigma(this.sigmas[stepIndex]!);
    const out = new Float32Array(x.length);
    for (let j = 0; j < x.length; j++) {
      let predRes = 0;
      for (let k = 0; k < D1s.length; k++) predRes += rhosP[k]! * D1s[k]![j]!;
      out[j] = predictX0
        ? (sigmaT / sigmaS0) * x[j]! - alphaT * hPhi1 * m0[j]! - alphaT * Bh * predRes
        : (alphaT / alphaS0) * x[j]! - sigmaT * hPhi1 * m0[j]! - sigmaT * Bh * predRes;
    }
    return out;
  }

  #correct(modelT: Float32Array, lastSample: Float32Array, thisSample: Float32Array, stepIndex: number, order: number): Float32Array {
    // The history still ends with the previous step's output: the corrector runs before the shift.
    const m0 = this.#modelOutputs[this.#modelOutputs.length - 1]!;
    const { alpha: alphaT, sigma: sigmaT } = alphaSigma(this.sigmas[stepIndex]!);
    const { alpha: alphaS0, sigma: sigmaS0 } = alphaSigma(this.sigmas[stepIndex - 1]!);
    const lambdaS0 = this.#lambda(stepIndex - 1);
    const h = Math.log(alphaT) - Math.log(sigmaT) - lambdaS0;
    const rks: number[] = [];
    const D1s: Float32Array[] = [];
    for (let i = 1; i < order; i++) {
      const mi = this.#modelOutputs[this.#modelOutputs.length - 1 - i]!;
      const rk = (this.#lambda(stepIndex - (i + 1)) - lambdaS0) / h;
      rks.push(rk);
      D1s.push(m0.map((v, j) => (mi[j]! - v) / rk));
    }
    rks.push(1);
    const predictX0 = this.config.predict_x0;
    const hh = predictX0 ? -h : h;
    const { R, b, hPhi1, Bh } = this.#coefficients(hh, rks, order);
    const rhosC = order === 1 ? [0.5] : solveLinear(R, b);
    const rhoLast = rhosC[rhosC.length - 1]!;
    const out = new Float32Array(thisSample.length);
    for (let j = 0; j < thisSample.length; j++) {
      let corrRes = 0;
      for (let k = 0; k < D1s.length; k++) corrRes += rhosC[k]! * D1s[k]![j]!;
      const d1t = modelT[j]! - m0[j]!;
      out[j] = predictX0
        ? (sigmaT / sigmaS0) * lastSample[j]! - alphaT * hPhi1 * m0[j]! - alphaT * Bh * (corrRes + rhoLast * d1t)
        : (alphaT / alphaS0) * lastSample[j]! - sigmaT * hPhi1 * m0[j]! - sigmaT * Bh * (corrRes + rhoLast * d1t);
    }
    return out;
  }
}

/** VP coefficients of a Karras σ: x_t = α_t x₀ + σ_t ε with α_t = 1/sqrt(σ²+1). */
function alphaSigma(sigma: number): { alpha: number; sigma: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return { alpha, sigma: sigma * alpha };
}

/** Gaussian elimination with partial pivoting for the ≤ 3×3 systems of the UniPC coefficients. */
function solveLinear(A: number[][], b: number[]): number[] {
  const n = b.length;
  const m = A.map((row, i) => [...row, b[i]!]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    for (let r = col + 1; r < n; r++) {
      const f = m[r]![col]! / m[col]![col]!;
      for (let c = col; c <= n; c++) m[r]![c]! -= f * m[col]![c]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r]![n]!;
    for (let c = r + 1; c < n; c++) s -= m[r]![c]! * x[c]!;
    x[r] = s / m[r]![r]!;
  }
  return x;
}
