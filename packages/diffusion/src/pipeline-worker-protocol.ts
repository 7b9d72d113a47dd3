import type { TensorData } from '@select/inference';
import type { SchedulerKind } from './scheduler-config.js';

/** ONNX files of an export, by their directory name. */
export type Component = 'unet' | 'vae_decoder' | 'vae_encoder' | 'text_encoder' | 'image_encoder';

export interface PipelineWorkerInit {
  /** Component → absolute path of its model.onnx. */
  models: Partial<Record<Component, string>>;
  intraOpThreads: number;
}

/**
 * One image's denoising loop and VAE decode. Everything the loop needs travels with the job, so the
 * worker never waits on the main thread between steps.
 */
export interface DenoiseJob {
  scheduler: SchedulerKind;
  schedulerConfig: Record<string, unknown>;
  steps: number;
  eta: number;
  seed: bigint;
  /** [1, 4, height / 8, width / 8] */
  latentShape: number[];
  /** [uncond; cond] when guided, else [cond]. */
  conditioning: TensorData;
  /** undefined: no classifier-free guidance (batch 1). */
  guidanceScale: number | undefined;
  /** Image-to-image: clean latents of the init image (scaled) and the strength that picks the start step. */
  initLatents: Float32Array | undefined;
  strength: number;
  /** Replacements of the seeded noise (tests compare with diffusers this way); stepNoise by step index. */
  initialNoise: Float32Array | undefined;
  stepNoise: (Float32Array | undefined)[] | undefined;
  /** Send a copy of the latents with every step (previews, onLatents). */
  reportLatents: boolean;
  scalingFactor: number;
}

export type ToPipelineWorker =
  | { type: 'run'; id: number; component: Component; feeds: Record<string, TensorData>; output: string }
  /** `cancel[0]` becomes non-zero when the caller gives up; the loop reads it before every UNet call. */
  | { type: 'denoise'; id: number; job: DenoiseJob; cancel: Int32Array }
  | { type: 'close' };

export interface DenoiseStep {
  type: 'step';
  id: number;
  /** Index into the scheduler's timesteps. */
  stepIndex: number;
  /** 1-based step of this run and the run's number of steps (image-to-image skips the first ones). */
  step: number;
  totalSteps: number;
  latents: Float32Array | undefined;
}

/** After @select/inference's custom worker opened the sessions (its own handshake), the loop's messages. */
export type FromPipelineWorker =
  | { type: 'result'; id: number; output: TensorData }
  | DenoiseStep
  /** The VAE decoder's output (NCHW, about [-1, 1]). */
  | { type: 'decoded'; id: number; image: Float32Array }
  | { type: 'cancelled'; id: number; stepsRun: number }
  | { type: 'failed'; id: number; message: string }
  | { type: 'closed' };
