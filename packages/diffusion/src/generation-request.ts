import { randomBytes } from 'node:crypto';
import { DiffusionInputError } from './errors.js';
import type { OutputFormat } from './image-codec.js';
import { SCHEDULER_KINDS, type SchedulerKind } from './scheduler-config.js';

export type GenerationMode = 'text-to-image' | 'image-to-image' | 'image-variation';

/** One call's worth of images. Unset fields take the defaults named here (see `resolveRequest`). */
export interface GenerationRequest {
  mode: GenerationMode;
  /** Text prompt (text-to-image, image-to-image). Longer than 77 CLIP tokens: truncated, with a notice. */
  prompt?: string;
  /** @default '' */
  negativePrompt?: string;
  /** Encoded image (PNG, JPEG, WebP…) to start from (image-to-image). */
  initImage?: Uint8Array;
  /** How much of the init image to noise away, in (0, 1]. @default 0.8 */
  strength?: number;
  /** Encoded image whose CLIP embedding conditions the UNet (image-variation). */
  referenceImage?: Uint8Array;
  /** Multiple of 8. @default the model's (UNet sample_size × 8); image-to-image: the init image's size rounded down to 8 */
  width?: number;
  height?: number;
  /** @default 50 */
  steps?: number;
  /** Classifier-free guidance; ≤ 1 turns guidance off (one UNet pass per step). @default 7.5; image-variation 3 */
  guidanceScale?: number;
  /** @default the model's scheduler_config.json class when implemented, else 'unipc' */
  scheduler?: SchedulerKind;
  /** One seed per image; when fewer than numImages, seeds continue +1 from the last. @default one random seed */
  seeds?: readonly bigint[];
  /** @default max(1, seeds.length) */
  numImages?: number;
  /** @default 'png' */
  format?: OutputFormat;
  /** Attach a latent-resolution PNG preview to each progress event. @default false */
  previews?: boolean;
  /** DDIM only. @default 0 */
  eta?: number;
}

/** Upper bounds a service puts on requests; a request outside them gets INVALID_ARGUMENT. */
export interface GenerationLimits {
  /** Largest width or height. @default 1024 */
  maxSide: number;
  /** @default 150 */
  maxSteps: number;
  /** @default 8 */
  maxImages: number;
}

export const DEFAULT_LIMITS: GenerationLimits = { maxSide: 1024, maxSteps: 150, maxImages: 8 };

export interface ResolvedRequest {
  mode: GenerationMode;
  prompt: string;
  negativePrompt: string;
  width: number | undefined;
  height: number | undefined;
  steps: number;
  guidanceScale: number;
  scheduler: SchedulerKind;
  seeds: bigint[];
  strength: number;
  format: OutputFormat;
  previews: boolean;
  eta: number;
}

/** Validates a request against the limits and fills its defaults; every problem is a DiffusionInputError. */
export function resolveRequest(
  request: GenerationRequest,
  defaults: { scheduler: SchedulerKind },
  limits: GenerationLimits = DEFAULT_LIMITS,
): ResolvedRequest {
  const problems: string[] = [];
  for (const [field, value] of [
    ['width', request.width],
    ['height', request.height],
  ] as const) {
    if (value === undefined || value === 0) continue;
    if (!Number.isInteger(value) || value < 8 || value % 8 !== 0) problems.push(`${field} must be a positive multiple of 8, got ${value}`);
    else if (value > limits.maxSide) problems.push(`${field} ${value} is above the limit of ${limits.maxSide}`);
  }
  const steps = request.steps === undefined || request.steps === 0 ? 50 : request.steps;
  if (!Number.isInteger(steps) || steps <= 0) problems.push(`steps must be a positive integer, got ${steps}`);
  else if (steps > limits.maxSteps) problems.push(`steps ${steps} is above the limit of ${limits.maxSteps}`);
  const guidanceScale = request.guidanceScale ?? (request.mode === 'image-variation' ? 3 : 7.5);
  if (!Number.isFinite(guidanceScale) || guidanceScale < 0) problems.push(`guidance_scale must be a finite number ≥ 0, got ${guidanceScale}`);
  const scheduler = request.scheduler ?? defaults.scheduler;
  if (!SCHEDULER_KINDS.includes(scheduler)) problems.push(`unknown scheduler ${JSON.stringify(scheduler)}; expected one of ${SCHEDULER_KINDS.join(', ')}`);
  const strength = request.strength ?? 0.8;
  if (request.mode === 'image-to-image') {
    if (!(strength > 0 && strength <= 1)) problems.push(`strength must be in (0, 1], got ${strength}`);
    else if (Math.floor(steps * strength) < 1) problems.push(`strength ${strength} × steps ${steps} leaves no denoising step; raise either`);
    if (!request.initImage || request.initImage.length === 0) problems.push('image-to-image needs an init image');
  }
  if (request.mode === 'image-variation' && (!request.referenceImage || request.referenceImage.length === 0)) {
    problems.push('image variation needs a reference image');
  }
  if (request.mode !== 'image-variation' && typeof request.prompt !== 'string') problems.push('prompt is required');
  const given = request.seeds ?? [];
  const numImages = request.numImages === undefined || request.numImages === 0 ? Math.max(1, given.length) : request.numImages;
  if (!Number.isInteger(numImages) || numImages < 1) problems.push(`num_images must be a positive integer, got ${numImages}`);
  else if (numImages > limits.maxImages) problems.push(`num_images ${numImages} is above the limit of ${limits.maxImages}`);
  if (given.length > numImages) problems.push(`${given.length} seeds given for ${numImages} images`);
  const eta = request.eta ?? 0;
  if (!(eta >= 0 && eta <= 1)) problems.push(`eta must be in [0, 1], got ${eta}`);
  if (problems.length > 0) throw new DiffusionInputError(problems.join('; '), { details: { problems } });

  const seeds: bigint[] = [...given];
  if (seeds.length === 0) seeds.push(randomBytes(8).readBigInt64BE() & 0x7fffffffffffffffn);
  while (seeds.length < numImages) seeds.push(BigInt.asIntN(64, seeds[seeds.length - 1]! + 1n));
  return {
    mode: request.mode,
    prompt: request.prompt ?? '',
    negativePrompt: request.negativePrompt ?? '',
    width: request.width || undefined,
    height: request.height || undefined,
    steps,
    guidanceScale,
    scheduler,
    seeds,
    strength,
    format: request.format ?? 'png',
    previews: request.previews ?? false,
    eta,
  };
}
