import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { ClipTokenizer } from './clip-tokenizer.js';
import { createScheduler } from './create-scheduler.js';
import { DiffusionInputError, ModelLoadError } from './errors.js';
import { DEFAULT_LIMITS, resolveRequest, type GenerationLimits, type GenerationRequest, type ResolvedRequest } from './generation-request.js';
import { decodedToRgb, decodeInitImage, encodeImage, latentPreviewPng } from './image-codec.js';
import { gaussianNoise } from './philox-random.js';
import type { Scheduler } from './scheduler.js';
import { schedulerKindOfClass, type SchedulerKind } from './scheduler-config.js';
import { SessionPool, type TensorData, type ValueInfo } from '@select/inference';

export type PipelineKind = 'text-to-image' | 'image-variation';

/** ONNX files of an export, by their directory name. */
type Component = 'unet' | 'vae_decoder' | 'vae_encoder' | 'text_encoder' | 'image_encoder';

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
  /** Aborting stops the denoising loop before the next UNet call and ends the generator with the signal's reason. */
  signal?: AbortSignal;
  /** Replaces the seeded initial noise of image `imageIndex` (tests compare with diffusers this way). */
  initialNoise?: (imageIndex: number) => Float32Array;
  /** Replaces the seeded per-step noise of stochastic schedulers. */
  stepNoise?: (imageIndex: number, stepIndex: number) => Float32Array;
  /** Sees the latents after every step (tests, debugging). */
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

// CLIP image preprocessing constants (openai/clip-vit-large-patch14's preprocessor_config.json), used
// when an image-variation export has no feature_extractor/preprocessor_config.json.
const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/**
 * A Stable Diffusion ONNX export loaded from disk (the optimum layout: text_encoder/, unet/,
 * vae_decoder/, vae_encoder/, tokenizer/, scheduler/; or an image-variations export with image_encoder/
 * instead of the text encoder), ready to generate. Nothing is downloaded.
 */
export class StableDiffusionPipeline {
  private constructor(
    readonly info: ModelInfo,
    private readonly pool: SessionPool,
    private readonly tokenizer: ClipTokenizer | undefined,
    private readonly schedulerConfig: Record<string, unknown>,
    private readonly scalingFactor: number,
    private readonly clipPreprocess: { size: number; mean: number[]; std: number[] },
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
    let pool: SessionPool;
    try {
      // One worker: the components run one after another, and a step never blocks the event loop.
      pool = await SessionPool.open(
        Object.fromEntries(Object.entries(files).map(([name, rel]) => [name, join(directory, rel)])),
        { workers: 1, intraOpThreads: options.intraOpThreads ?? 2 },
      );
    } catch (cause) {
      throw new ModelLoadError(`cannot load the ONNX models of ${directory}: ${(cause as Error).message}`, { cause });
    }
    try {
      const tokenizer = isVariation ? undefined : await ClipTokenizer.load(join(directory, 'tokenizer'));
      const blocks = Array.isArray(vaeConfig['block_out_channels']) ? vaeConfig['block_out_channels'].length : 4;
      const vaeScale = 2 ** (blocks - 1);
      const sampleSize = typeof unetConfig['sample_size'] === 'number' ? unetConfig['sample_size'] : 64;
      const preprocessor = (await readJson('feature_extractor/preprocessor_config.json', false)) ?? {};
      const crop = preprocessor['crop_size'];
      const cropSize = typeof crop === 'number' ? crop : ((crop as { height?: number } | undefined)?.height ?? 224);
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
        pool,
        tokenizer,
        schedulerConfig,
        typeof vaeConfig['scaling_factor'] === 'number' ? vaeConfig['scaling_factor'] : 0.18215,
        {
          size: cropSize,
          mean: (preprocessor['image_mean'] as number[] | undefined) ?? CLIP_MEAN,
          std: (preprocessor['image_std'] as number[] | undefined) ?? CLIP_STD,
        },
        options.limits ?? DEFAULT_LIMITS,
      );
    } catch (err) {
      await pool.close();
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
   * and each image when it is done. Classifier-free guidance runs cond and uncond in one UNet batch.
   */
  async *generate(request: GenerationRequest, options: GenerateOptions = {}): AsyncGenerator<GenerationEvent> {
    const req = this.resolve(request);
    const { signal } = options;
    signal?.throwIfAborted();
    const guided = req.guidanceScale > 1;

    // Conditioning: [uncond; cond] along the batch, as diffusers concatenates them.
    let conditioning: TensorData;
    let initLatents: Float32Array | undefined;
    let width = req.width ?? this.info.defaultWidth;
    let height = req.height ?? this.info.defaultHeight;
    if (req.mode === 'image-variation') {
      conditioning = await this.encodeReferenceImage(request.referenceImage!, guided);
    } else {
      const cond = this.tokenizer!.encode(req.prompt);
      if (cond.truncation) yield { type: 'notice', message: cond.truncation };
      const uncond = this.tokenizer!.encode(req.negativePrompt);
      if (uncond.truncation) yield { type: 'notice', message: `negative ${uncond.truncation}` };
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
      initLatents = await this.encodeImage(init.tensor, width, height);
    }
    signal?.throwIfAborted();

    const latentShape = [1, 4, height / 8, width / 8];
    const latentSize = latentShape.reduce((a, b) => a * b, 1);
    for (let imageIndex = 0; imageIndex < req.seeds.length; imageIndex++) {
      const seed = req.seeds[imageIndex]!;
      const scheduler = createScheduler(req.scheduler, this.schedulerConfig, req.steps, { eta: req.eta });
      const n = scheduler.timesteps.length;
      const noise = options.initialNoise?.(imageIndex) ?? gaussianNoise(seed, 0, latentSize);
      let start = 0;
      let latents: Float32Array;
      if (initLatents) {
        // diffusers' get_timesteps: skip the first (1 − strength) of the schedule.
        start = n - Math.min(Math.floor(n * req.strength), n);
        latents = scheduler.addNoise(initLatents, noise, start);
      } else {
        latents = noise.map((x) => x * scheduler.initNoiseSigma);
      }
      for (let i = start; i < n; i++) {
        signal?.throwIfAborted();
        const modelOutput = await this.denoise(scheduler, latents, i, latentShape, conditioning, guided ? req.guidanceScale : undefined);
        const stepNoise = scheduler.stochastic ? (options.stepNoise?.(imageIndex, i) ?? gaussianNoise(seed, 1 + i, latentSize)) : undefined;
        latents = scheduler.step(modelOutput, i, latents, stepNoise);
        options.onLatents?.(imageIndex, i, latents);
        const progress: GenerationEvent = { type: 'progress', imageIndex, step: i - start + 1, totalSteps: n - start };
        if (req.previews) progress.previewPng = await latentPreviewPng(latents, width / 8, height / 8);
        yield progress;
      }
      signal?.throwIfAborted();
      const decoded = await this.decodeLatents(latents, latentShape);
      const parametersJson = JSON.stringify(this.parameters(req, imageIndex, seed, width, height));
      const encoded = await encodeImage(decodedToRgb(decoded, width, height), width, height, req.format, parametersJson);
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
    await this.pool.close();
  }

  /** Runs one component; feeds are transferred to the worker (pass copies of anything reused). */
  private async run(component: Component, feeds: Record<string, TensorData>, preferredOutput: string): Promise<TensorData> {
    const outputs = this.pool.signatures[component]!.outputs.map((o) => o.name);
    const name = outputs.includes(preferredOutput) ? preferredOutput : outputs[0]!;
    const out = await this.pool.run(component, feeds, [name]);
    return out[name]!;
  }

  private input(component: Component, index = 0): ValueInfo {
    return this.pool.signatures[component]!.inputs[index]!;
  }

  /** Text embeddings (last_hidden_state) of a batch of token-id rows. */
  async encodeText(rows: BigInt64Array[]): Promise<TensorData> {
    const length = rows[0]!.length;
    const ids = new BigInt64Array(rows.length * length);
    rows.forEach((r, i) => ids.set(r, i * length));
    const input = this.input('text_encoder');
    const dims = [rows.length, length];
    const feed: TensorData = input.type === 'int32' ? { type: 'int32', dims, data: Int32Array.from(ids, Number) } : { type: 'int64', dims, data: ids };
    const hidden = await this.run('text_encoder', { [input.name]: feed }, 'last_hidden_state');
    return { type: 'float32', dims: hidden.dims, data: hidden.data as Float32Array };
  }

  private async encodeReferenceImage(bytes: Uint8Array, guided: boolean): Promise<TensorData> {
    const { size, mean, std } = this.clipPreprocess;
    let raw: Buffer;
    try {
      // CLIPImageProcessor: shortest side to `size` (bicubic), centre crop size×size.
      raw = await sharp(bytes)
        .rotate()
        .flatten({ background: '#ffffff' })
        .toColourspace('srgb')
        .resize(size, size, { fit: 'cover', position: 'centre', kernel: 'cubic' })
        .removeAlpha()
        .raw()
        .toBuffer();
    } catch (cause) {
      throw new DiffusionInputError(`reference image cannot be decoded: ${(cause as Error).message}`, { cause });
    }
    const plane = size * size;
    const pixels = new Float32Array(3 * plane);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) pixels[c * plane + p] = (raw[p * 3 + c]! / 255 - mean[c]!) / std[c]!;
    const input = this.input('image_encoder');
    const embeds = (await this.run('image_encoder', { [input.name]: { type: 'float32', dims: [1, 3, size, size], data: pixels } }, 'image_embeds'))
      .data as Float32Array;
    // The UNet attends to one "token": the projected image embedding; unconditional is all zeros.
    const dim = embeds.length;
    const data = new Float32Array((guided ? 2 : 1) * dim);
    data.set(embeds, guided ? dim : 0);
    return { type: 'float32', dims: [guided ? 2 : 1, 1, dim], data };
  }

  private async encodeImage(pixels: Float32Array, width: number, height: number): Promise<Float32Array> {
    const input = this.input('vae_encoder');
    const params = (await this.run('vae_encoder', { [input.name]: { type: 'float32', dims: [1, 3, height, width], data: pixels } }, 'latent_parameters'))
      .data as Float32Array;
    // latent_parameters holds mean and log-variance; the posterior mean keeps image-to-image
    // deterministic without spending a noise stream on it.
    const size = 4 * (height / 8) * (width / 8);
    return params.subarray(0, size).map((x) => x * this.scalingFactor);
  }

  private async decodeLatents(latents: Float32Array, shape: number[]): Promise<Float32Array> {
    const scaled = latents.map((x) => x / this.scalingFactor);
    return (await this.run('vae_decoder', { [this.input('vae_decoder').name]: { type: 'float32', dims: shape, data: scaled } }, 'sample'))
      .data as Float32Array;
  }

  private async denoise(
    scheduler: Scheduler,
    latents: Float32Array,
    stepIndex: number,
    shape: number[],
    conditioning: TensorData,
    guidanceScale: number | undefined,
  ): Promise<Float32Array> {
    const input = scheduler.scaleModelInput(latents, stepIndex);
    const batch = guidanceScale === undefined ? 1 : 2;
    const sample = new Float32Array(batch * input.length);
    for (let b = 0; b < batch; b++) sample.set(input, b * input.length);
    const t = scheduler.timesteps[stepIndex]!;
    const timestepInfo = this.pool.signatures['unet']!.inputs.find((x) => x.name === 'timestep');
    const dims = timestepInfo && timestepInfo.shape.length > 0 ? [1] : [];
    // optimum casts the scheduler's (possibly fractional) timestep to the input's dtype: truncation for int64.
    const timestep: TensorData =
      timestepInfo?.type === 'int64'
        ? { type: 'int64', dims, data: BigInt64Array.of(BigInt(Math.trunc(t))) }
        : { type: 'float32', dims, data: Float32Array.of(t) };
    const out = await this.run(
      'unet',
      {
        sample: { type: 'float32', dims: [batch, ...shape.slice(1)], data: sample },
        timestep,
        // Copied: feeds are transferred to the worker, and the conditioning serves every step.
        encoder_hidden_states: { ...conditioning, data: conditioning.data.slice() },
      },
      'out_sample',
    );
    const pred = out.data as Float32Array;
    if (guidanceScale === undefined) return pred;
    const size = input.length;
    const guidedOut = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const u = pred[i]!;
      guidedOut[i] = u + guidanceScale * (pred[size + i]! - u);
    }
    return guidedOut;
  }

  private parameters(req: ResolvedRequest, imageIndex: number, seed: bigint, width: number, height: number): Record<string, unknown> {
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
      rng: 'philox4x32-10+box-muller (stream 0: initial noise, 1+k: step k noise)',
      software: '@select/diffusion',
    };
  }
}
