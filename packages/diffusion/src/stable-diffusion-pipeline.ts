import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TensorData, ValueInfo } from '@select/inference';
import { fromHfImageProcessorConfig, ImageDecodeError, preprocessImage, type ImagePreprocessing } from '@select/vision';
import { ClipTokenizer } from './clip-tokenizer.js';
import { createScheduler } from './create-scheduler.js';
import { DiffusionInputError, ModelLoadError } from './errors.js';
import { DEFAULT_LIMITS, resolveRequest, type GenerationLimits, type GenerationRequest, type ResolvedRequest } from './generation-request.js';
import { decodedToRgb, decodeInitImage, encodeImage, latentPreviewPng } from './image-codec.js';
import { gaussianNoise, POSTERIOR_NOISE_STREAM } from './philox-random.js';
import { PipelineWorker } from './pipeline-worker.js';
import type { Component } from './pipeline-worker-protocol.js';
import { schedulerKindOfClass, type SchedulerKind } from './scheduler-config.js';

export type PipelineKind = 'text-to-image' | 'image-variation';

/** What a loaded model can do and its defaults (ListModels). */
export interface ModelInfo {
  name: string;
  directory: string;
  pipeline: PipelineKind;
  defaultWidth: number;
  defaultHeight: number;
  defaultScheduler: SchedulerKind;
  /** Whether image-to-image works (the export has a vae_encoder). */
  supportsImageToImage: boolean;
}

export type GenerationEvent =
  | { type: 'notice'; message: string }
  | { type: 'progress'; imageIndex: number; step: number; totalSteps: number; previewPng?: Buffer }
  | {
      type: 'image';
      imageIndex: number;
      seed: bigint;
      image: Buffer;
      mimeType: string;
      /** Also embedded in the image metadata. */
      parametersJson: string;
      width: number;
      height: number;
    };

export interface GenerateOptions {
  /**
   * Aborting stops the denoising loop before its next UNet call (within one step) and ends the
   * generator with the signal's reason once the worker has left the loop.
   */
  signal?: AbortSignal;
  /** Replaces the seeded initial noise of image `imageIndex` (tests compare with diffusers this way). */
  initialNoise?: (imageIndex: number) => Float32Array;
  /** Replaces the seeded standard-normal sample of the image-to-image VAE posterior. */
  posteriorNoise?: (imageIndex: number) => Float32Array;
  /** Replaces the seeded per-step noise of stochastic schedulers. */
  stepNoise?: (imageIndex: number, stepIndex: number) => Float32Array;
  /**
   * Sees the latents after every step the worker ran, including steps finished after an abort that
   * were never yielded (tests, debugging).
   */
  onLatents?: (imageIndex: number, stepIndex: number, latents: Float32Array) => void;
}

export interface LoadModelOptions {
  /** Name the model is requested by. @default the directory's basename */
  name?: string;
  /**
   * ONNX Runtime threads per operator in the pipeline's worker. Pinned, never "all cores": the
   * partition of reductions across threads changes float rounding, and the same count is what makes
   * images bit-identical across runs and machines' restarts.
   * @default 2
   */
  intraOpThreads?: number;
  /** @default DEFAULT_LIMITS */
  limits?: GenerationLimits;
}

/**
 * A Stable Diffusion ONNX export loaded from disk (the optimum layout: text_encoder/, unet/,
 * vae_decoder/, vae_encoder/, tokenizer/, scheduler/; or an image-variations export with image_encoder/
 * instead of the text encoder), ready to generate. Nothing is downloaded.
 */
export class StableDiffusionPipeline {
  private constructor(
    readonly info: ModelInfo,
    private readonly worker: PipelineWorker,
    private readonly tokenizer: ClipTokenizer | undefined,
    private readonly schedulerConfig: Record<string, unknown>,
    private readonly scalingFactor: number,
    private readonly clipPreprocess: ImagePreprocessing,
    private readonly limits: GenerationLimits,
  ) {}

  static async load(directory: string, options: LoadModelOptions = {}): Promise<StableDiffusionPipeline> {
    const readJson = async (rel: string, required = true): Promise<Record<string, unknown> | undefined> => {
      try {
        return JSON.parse(await readFile(join(directory, rel), 'utf8')) as Record<string, unknown>;
      } catch (cause) {
        if (!required) return undefined;
        throw new ModelLoadError(`${directory} is not a Stable Diffusion ONNX export: cannot read ${rel}`, { cause });
      }
    };
    const exists = (rel: string): Promise<boolean> =>
      access(join(directory, rel)).then(
        () => true,
        () => false,
      );
    const schedulerConfig = (await readJson('scheduler/scheduler_config.json'))!;
    const unetConfig = (await readJson('unet/config.json', false)) ?? {};
    const vaeConfig = (await readJson('vae_decoder/config.json', false)) ?? {};
    const isVariation = await exists('image_encoder/model.onnx');
    if (!isVariation && !(await exists('text_encoder/model.onnx'))) {
      throw new ModelLoadError(`${directory} has neither text_encoder/model.onnx nor image_encoder/model.onnx`);
    }
    const files: Partial<Record<Component, string>> = { unet: 'unet/model.onnx', vae_decoder: 'vae_decoder/model.onnx' };
    if (await exists('vae_encoder/model.onnx')) files.vae_encoder = 'vae_encoder/model.onnx';
    if (isVariation) files.image_encoder = 'image_encoder/model.onnx';
    else files.text_encoder = 'text_encoder/model.onnx';
    let worker: PipelineWorker;
    try {
      // One worker per model: the components run one after another, and a step never blocks the event loop.
      worker = await PipelineWorker.open({
        models: Object.fromEntries(Object.entries(files).map(([name, rel]) => [name, join(directory, rel)])),
        intraOpThreads: options.intraOpThreads ?? 2,
      });
    } catch (cause) {
      throw new ModelLoadError(`cannot load the ONNX models of ${directory}: ${(cause as Error).message}`, { cause });
    }
    try {
      const tokenizer = isVariation ? undefined : await ClipTokenizer.load(join(directory, 'tokenizer'));
      const blocks = Array.isArray(vaeConfig['block_out_channels']) ? vaeConfig['block_out_channels'].length : 4;
      const vaeScale = 2 ** (blocks - 1);
      const sampleSize = typeof unetConfig['sample_size'] === 'number' ? unetConfig['sample_size'] : 64;
      // CLIPImageProcessor's defaults (openai/clip-vit-large-patch14) when the export has no feature_extractor/.
      const clipPreprocess = fromHfImageProcessorConfig((await readJson('feature_extractor/preprocessor_config.json', false)) ?? {});
      const className = typeof schedulerConfig['_class_name'] === 'string' ? schedulerConfig['_class_name'] : '';
      const info: ModelInfo = {
        name: options.name ?? directory.replace(/\/+$/, '').split('/').pop()!,
        directory,
        pipeline: isVariation ? 'image-variation' : 'text-to-image',
        defaultWidth: sampleSize * vaeScale,
        defaultHeight: sampleSize * vaeScale,
        // SD 1.5 ships a PNDM config, which is not implemented: UniPC is what SELECT's SD1000 used.
        defaultScheduler: schedulerKindOfClass(className) ?? 'unipc',
        supportsImageToImage: files.vae_encoder !== undefined && !isVariation,
      };
      return new StableDiffusionPipeline(
        info,
        worker,
        tokenizer,
        schedulerConfig,
        typeof vaeConfig['scaling_factor'] === 'number' ? vaeConfig['scaling_factor'] : 0.18215,
        clipPreprocess,
        options.limits ?? DEFAULT_LIMITS,
      );
    } catch (err) {
      await worker.close();
      throw err;
    }
  }

  /** Validates and fills a request's defaults without running anything (INVALID_ARGUMENT early). */
  resolve(request: GenerationRequest): ResolvedRequest {
    if (request.mode === 'image-variation' && this.info.pipeline !== 'image-variation') {
      throw new DiffusionInputError(`model ${this.info.name} is a text-to-image model; image variation needs an image-variations export`);
    }
    if (request.mode !== 'image-variation' && this.info.pipeline === 'image-variation') {
      throw new DiffusionInputError(`model ${this.info.name} is an image-variations model: it takes a reference image, not a prompt`);
    }
    if (request.mode === 'image-to-image' && !this.info.supportsImageToImage) {
      throw new DiffusionInputError(`model ${this.info.name} has no vae_encoder; image-to-image is not available`);
    }
    return resolveRequest(request, { scheduler: this.info.defaultScheduler }, this.limits);
  }

  /**
   * Generates the request's images one after another, yielding a progress event per denoising step
   * and each image when it is done. Each image's whole denoising loop (UNet with cond and uncond in
   * one batch, guidance, scheduler step) and VAE decode run in the pipeline's worker thread; progress
   * streams back without the loop ever waiting for this thread.
   */
  async *generate(request: GenerationRequest, options: GenerateOptions = {}): AsyncGenerator<GenerationEvent> {
    const req = this.resolve(request);
    const { signal } = options;
    signal?.throwIfAborted();
    const guided = req.guidanceScale > 1;

    // Conditioning: [uncond; cond] along the batch, as diffusers concatenates them.
    let conditioning: TensorData;
    let posterior: { mean: Float32Array; std: Float32Array } | undefined;
    // Also written into every image's parameters, so a batch job's provenance says what the model saw.
    const notices: string[] = [];
    let width = req.width ?? this.info.defaultWidth;
    let height = req.height ?? this.info.defaultHeight;
    if (req.mode === 'image-variation') {
      conditioning = await this.encodeReferenceImage(request.referenceImage!, guided);
    } else {
      const cond = this.tokenizer!.encode(req.prompt);
      const uncond = this.tokenizer!.encode(req.negativePrompt);
      if (cond.truncation) notices.push(cond.truncation);
      if (uncond.truncation) notices.push(`negative ${uncond.truncation}`);
      for (const message of notices) yield { type: 'notice', message };
      conditioning = await this.encodeText(guided ? [uncond.ids, cond.ids] : [cond.ids]);
    }
    if (req.mode === 'image-to-image') {
      const size = req.width !== undefined || req.height !== undefined ? { width, height } : undefined;
      const init = await decodeInitImage(request.initImage!, size);
      width = init.width;
      height = init.height;
      if (width > this.limits.maxSide || height > this.limits.maxSide) {
        throw new DiffusionInputError(`init image is ${width}×${height}, above the limit of ${this.limits.maxSide}; pass width and height`);
      }
      posterior = await this.encodeImage(init.tensor, width, height);
    }
    signal?.throwIfAborted();

    const latentShape = [1, 4, height / 8, width / 8];
    const latentSize = latentShape.reduce((a, b) => a * b, 1);
    for (let imageIndex = 0; imageIndex < req.seeds.length; imageIndex++) {
      const seed = req.seeds[imageIndex]!;
      // Built here too so that a scheduler the config cannot make fails before the worker is involved,
      // and to know which steps need injected noise.
      const scheduler = createScheduler(req.scheduler, this.schedulerConfig, req.steps, { eta: req.eta });
      const stepNoise =
        options.stepNoise && scheduler.stochastic ? Array.from(scheduler.timesteps, (_t, i) => options.stepNoise!(imageIndex, i).slice()) : undefined;
      let decoded: Float32Array | undefined;
      const events = this.worker.denoise(
        {
          scheduler: req.scheduler,
          schedulerConfig: this.schedulerConfig,
          steps: req.steps,
          eta: req.eta,
          seed,
          latentShape,
          conditioning: { ...conditioning, data: conditioning.data.slice() },
          guidanceScale: guided ? req.guidanceScale : undefined,
          initLatents: posterior && this.samplePosterior(posterior, options.posteriorNoise?.(imageIndex) ?? gaussianNoise(seed, POSTERIOR_NOISE_STREAM, latentSize)),
          strength: req.strength,
          initialNoise: options.initialNoise?.(imageIndex).slice(),
          stepNoise,
          reportLatents: req.previews || options.onLatents !== undefined,
          scalingFactor: this.scalingFactor,
        },
        { signal, onStep: (m) => options.onLatents?.(imageIndex, m.stepIndex, m.latents!) },
      );
      for await (const event of events) {
        if (event.type === 'decoded') {
          decoded = event.image;
          break;
        }
        const progress: GenerationEvent = { type: 'progress', imageIndex, step: event.step, totalSteps: event.totalSteps };
        if (req.previews) progress.previewPng = await latentPreviewPng(event.latents!, width / 8, height / 8);
        yield progress;
      }
      const parametersJson = JSON.stringify(this.parameters(req, imageIndex, seed, width, height, notices));
      const encoded = await encodeImage(decodedToRgb(decoded!, width, height), width, height, req.format, parametersJson);
      yield { type: 'image', imageIndex, seed, image: encoded.bytes, mimeType: encoded.mimeType, parametersJson, width, height };
    }
  }

  /** Runs the pipeline to the end and returns the images (convenience for batch jobs). */
  async generateAll(request: GenerationRequest, options: GenerateOptions = {}): Promise<Extract<GenerationEvent, { type: 'image' }>[]> {
    const images: Extract<GenerationEvent, { type: 'image' }>[] = [];
    for await (const event of this.generate(request, options)) if (event.type === 'image') images.push(event);
    return images;
  }

  /** Releases the ONNX sessions and stops the worker. */
  async dispose(): Promise<void> {
    await this.worker.close();
  }

  private input(component: Component, index = 0): ValueInfo {
    return this.worker.signatures[component]!.inputs[index]!;
  }

  /** Text embeddings (last_hidden_state) of a batch of token-id rows. */
  async encodeText(rows: BigInt64Array[]): Promise<TensorData> {
    const length = rows[0]!.length;
    const ids = new BigInt64Array(rows.length * length);
    rows.forEach((r, i) => ids.set(r, i * length));
    const input = this.input('text_encoder');
    const dims = [rows.length, length];
    const feed: TensorData = input.type === 'int32' ? { type: 'int32', dims, data: Int32Array.from(ids, Number) } : { type: 'int64', dims, data: ids };
    const hidden = await this.worker.run('text_encoder', { [input.name]: feed }, 'last_hidden_state');
    return { type: 'float32', dims: hidden.dims, data: hidden.data as Float32Array };
  }

  private async encodeReferenceImage(bytes: Uint8Array, guided: boolean): Promise<TensorData> {
    let pixels: Float32Array;
    try {
      // CLIPImageProcessor with Pillow's resampling, pixel for pixel (@select/vision).
      pixels = (await preprocessImage(bytes, this.clipPreprocess)).tensor;
    } catch (cause) {
      if (!(cause instanceof ImageDecodeError)) throw cause;
      throw new DiffusionInputError(`reference image cannot be decoded: ${cause.message}`, { cause });
    }
    const input = this.input('image_encoder');
    const { height, width } = this.clipPreprocess.crop ?? { height: pixels.length / 3, width: 1 };
    const embeds = (await this.worker.run('image_encoder', { [input.name]: { type: 'float32', dims: [1, 3, height, width], data: pixels } }, 'image_embeds'))
      .data as Float32Array;
    // The UNet attends to one "token": the projected image embedding; unconditional is all zeros.
    const dim = embeds.length;
    const data = new Float32Array((guided ? 2 : 1) * dim);
    data.set(embeds, guided ? dim : 0);
    return { type: 'float32', dims: [guided ? 2 : 1, 1, dim], data };
  }

  /** The VAE posterior of the init image: the encoder's mean and log-variance, as diffusers' DiagonalGaussianDistribution reads them. */
  private async encodeImage(pixels: Float32Array, width: number, height: number): Promise<{ mean: Float32Array; std: Float32Array }> {
    const input = this.input('vae_encoder');
    const params = (await this.worker.run('vae_encoder', { [input.name]: { type: 'float32', dims: [1, 3, height, width], data: pixels } }, 'latent_parameters'))
      .data as Float32Array;
    const size = 4 * (height / 8) * (width / 8);
    const std = params.subarray(size, 2 * size).map((logvar) => Math.exp(0.5 * Math.min(20, Math.max(-30, logvar))));
    return { mean: params.slice(0, size), std };
  }

  /**
   * A sample of the posterior, scaled: (mean + std·ε)·scaling_factor — what optimum's
   * ORTStableDiffusionImg2ImgPipeline (diffusers' retrieve_latents, sample_mode "sample") starts from.
   * float32 rounding after each operation, as torch computes it.
   */
  private samplePosterior(posterior: { mean: Float32Array; std: Float32Array }, epsilon: Float32Array): Float32Array {
    const { mean, std } = posterior;
    const out = new Float32Array(mean.length);
    for (let i = 0; i < out.length; i++) out[i] = Math.fround(mean[i]! + Math.fround(std[i]! * epsilon[i]!)) * this.scalingFactor;
    return out;
  }

  private parameters(req: ResolvedRequest, imageIndex: number, seed: bigint, width: number, height: number, notices: string[]): Record<string, unknown> {
    return {
      model: this.info.name,
      mode: req.mode,
      ...(req.mode === 'image-variation' ? {} : { prompt: req.prompt, negative_prompt: req.negativePrompt }),
      ...(req.mode === 'image-to-image' ? { strength: req.strength } : {}),
      width,
      height,
      steps: req.steps,
      guidance_scale: req.guidanceScale,
      scheduler: req.scheduler,
      ...(req.scheduler === 'ddim' && req.eta > 0 ? { eta: req.eta } : {}),
      seed: seed.toString(),
      image_index: imageIndex,
      ...(notices.length > 0 ? { notices } : {}),
      rng: 'philox4x32-10+box-muller (stream 0: initial noise, 1+k: step k noise, 2^32-1: image-to-image VAE posterior sample)',
      software: '@select/diffusion',
    };
  }
}
