import type { generationV1 } from '@select/contracts';
import { DiffusionInputError, type GenerationRequest, type GenerationEvent, type SchedulerKind } from '@select/diffusion';

/** SamplingParams as the server receives it (longs and enums as strings, defaults filled). */
export type SamplingParamsMessage = generationV1.SamplingParams__Output;

const SCHEDULERS: Readonly<Record<generationV1.Scheduler__Output, SchedulerKind | undefined>> = {
  SCHEDULER_UNSPECIFIED: undefined,
  SCHEDULER_DDIM: 'ddim',
  SCHEDULER_EULER: 'euler',
  SCHEDULER_EULER_ANCESTRAL: 'euler-ancestral',
  SCHEDULER_UNIPC: 'unipc',
};

export const SCHEDULER_ENUM: Readonly<Record<SchedulerKind, generationV1.Scheduler__Output>> = {
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
export function toEventMessage(event: GenerationEvent): generationV1.GenerationEvent {
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
