import { DiffusionInputError, type GenerationRequest, type GenerationEvent, type SchedulerKind } from '@select/diffusion';

// Proto messages as @grpc/proto-loader hands them over (longs and enums as strings, defaults filled).
export interface SamplingParamsMessage {
  model: string;
  width: number;
  height: number;
  steps: number;
  guidanceScale: number;
  scheduler: string;
  seeds: string[];
  numImages: number;
  format: string;
  previews: boolean;
}
export interface TextToImageMessage {
  prompt: string;
  negativePrompt: string;
  sampling: SamplingParamsMessage | null;
}
export interface ImageToImageMessage extends TextToImageMessage {
  initImage: Buffer;
  strength: number;
}
export interface ImageVariationMessage {
  referenceImage: Buffer;
  sampling: SamplingParamsMessage | null;
}

const SCHEDULERS: Readonly<Record<string, SchedulerKind | undefined>> = {
  SCHEDULER_UNSPECIFIED: undefined,
  SCHEDULER_DDIM: 'ddim',
  SCHEDULER_EULER: 'euler',
  SCHEDULER_EULER_ANCESTRAL: 'euler-ancestral',
  SCHEDULER_UNIPC: 'unipc',
};

export const SCHEDULER_ENUM: Readonly<Record<SchedulerKind, string>> = {
  ddim: 'SCHEDULER_DDIM',
  euler: 'SCHEDULER_EULER',
  'euler-ancestral': 'SCHEDULER_EULER_ANCESTRAL',
  unipc: 'SCHEDULER_UNIPC',
};

const EMPTY_SAMPLING: SamplingParamsMessage = {
  model: '',
  width: 0,
  height: 0,
  steps: 0,
  guidanceScale: 0,
  scheduler: 'SCHEDULER_UNSPECIFIED',
  seeds: [],
  numImages: 0,
  format: 'IMAGE_FORMAT_PNG',
  previews: false,
};

/** SamplingParams → the library's request fields. guidance_scale 0 means "the mode's default". */
export function samplingToRequest(sampling: SamplingParamsMessage | null): Omit<GenerationRequest, 'mode'> {
  const s = sampling ?? EMPTY_SAMPLING;
  if (!(s.scheduler in SCHEDULERS)) {
    throw new DiffusionInputError(`unknown scheduler ${s.scheduler}; expected one of ${Object.keys(SCHEDULERS).join(', ')}`);
  }
  const scheduler = SCHEDULERS[s.scheduler];
  let seeds: bigint[];
  try {
    seeds = s.seeds.map((x) => BigInt(x));
  } catch (cause) {
    throw new DiffusionInputError(`seeds must be integers, got ${JSON.stringify(s.seeds)}`, { cause });
  }
  return {
    width: s.width,
    height: s.height,
    steps: s.steps,
    ...(s.guidanceScale === 0 ? {} : { guidanceScale: s.guidanceScale }),
    ...(scheduler ? { scheduler } : {}),
    seeds,
    numImages: s.numImages,
    format: s.format === 'IMAGE_FORMAT_JPEG' ? 'jpeg' : 'png',
    previews: s.previews,
  };
}

/** A library event → GenerationEvent message (oneof by field presence). */
export function toEventMessage(event: GenerationEvent): Record<string, unknown> {
  switch (event.type) {
    case 'notice':
      return { notice: { message: event.message } };
    case 'progress':
      return {
        progress: {
          imageIndex: event.imageIndex,
          step: event.step,
          totalSteps: event.totalSteps,
          previewPng: event.previewPng ?? Buffer.alloc(0),
        },
      };
    case 'image':
      return {
        image: {
          imageIndex: event.imageIndex,
          seed: event.seed.toString(),
          image: event.image,
          mimeType: event.mimeType,
          parametersJson: event.parametersJson,
        },
      };
  }
}
