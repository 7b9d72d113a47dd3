import type { generationV1 } from '@select/contracts';
import type { GenerationRequest } from '@select/diffusion';
import { ServiceError, type CallContext, type ServerStreamHandler } from '@select/platform';
import type { ModelRegistry } from './model-registry.js';
import { SCHEDULER_ENUM, samplingToRequest, toEventMessage, type SamplingParamsMessage } from './request-mapping.js';

export interface GenerateHandlerOptions {
  maxConcurrentCalls: number;
  maxImageBytes: number;
}

/**
 * TextToImage, ImageToImage and ImageVariation: validate, then stream the pipeline's events. The call's
 * signal (client cancel, deadline, shutdown) reaches the denoising loop, which stops before its next
 * UNet call; the latents of the abandoned run are dropped with the generator.
 */
export function generateHandlers(models: ModelRegistry, options: GenerateHandlerOptions) {
  let active = 0;
  const checkImage = (field: string, bytes: Buffer): void => {
    if (bytes.length > options.maxImageBytes) {
      throw ServiceError.invalidArgument(`${field} is ${bytes.length} bytes, above the limit of ${options.maxImageBytes}`);
    }
  };

  async function* run(sampling: SamplingParamsMessage | null, request: GenerationRequest, ctx: CallContext): AsyncGenerator<generationV1.GenerationEvent> {
    const pipeline = models.get(sampling?.model ?? '', request.mode === 'image-variation' ? 'image-variation' : 'text-to-image');
    pipeline.resolve(request); // INVALID_ARGUMENT before the call takes a slot
    if (active >= options.maxConcurrentCalls) {
      throw ServiceError.resourceExhausted(`${active} generations are running (limit ${options.maxConcurrentCalls}); retry later`);
    }
    active++;
    try {
      for await (const event of pipeline.generate(request, { signal: ctx.signal })) yield toEventMessage(event);
    } finally {
      active--;
    }
  }

  const TextToImage: ServerStreamHandler<generationV1.TextToImageRequest__Output, generationV1.GenerationEvent> = (req, ctx) =>
    run(req.sampling, { mode: 'text-to-image', prompt: req.prompt, negativePrompt: req.negativePrompt, ...samplingToRequest(req.sampling) }, ctx);

  const ImageToImage: ServerStreamHandler<generationV1.ImageToImageRequest__Output, generationV1.GenerationEvent> = (req, ctx) => {
    checkImage('init_image', req.initImage);
    return run(
      req.sampling,
      {
        mode: 'image-to-image',
        prompt: req.prompt,
        negativePrompt: req.negativePrompt,
        initImage: req.initImage,
        strength: req.strength,
        ...samplingToRequest(req.sampling),
      },
      ctx,
    );
  };

  const ImageVariation: ServerStreamHandler<generationV1.ImageVariationRequest__Output, generationV1.GenerationEvent> = (req, ctx) => {
    checkImage('reference_image', req.referenceImage);
    return run(req.sampling, { mode: 'image-variation', referenceImage: req.referenceImage, ...samplingToRequest(req.sampling) }, ctx);
  };

  const ListModels = (): generationV1.ListModelsResponse => ({
    models: models.list().map(({ info }) => ({
      name: info.name,
      pipeline: info.pipeline,
      defaultWidth: info.defaultWidth,
      defaultHeight: info.defaultHeight,
      defaultScheduler: SCHEDULER_ENUM[info.defaultScheduler],
    })),
  });

  return { TextToImage, ImageToImage, ImageVariation, ListModels };
}
