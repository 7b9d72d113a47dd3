import { setMaxListeners } from 'node:events';
import type { CallContext } from '@select/platform';
import { ServiceError } from '@select/platform';
import type { EmbeddingEngine } from './embedding-engine.js';
import { classify, itemError } from './item-errors.js';
import { readImageFile } from './image-source.js';
import type { embeddingV1 } from '@select/contracts';

export interface EmbedImagesSettings {
  defaultModel: string;
  imageRoot: string | undefined;
  maxImageBytes: number;
  /** Items of one stream in flight at once. */
  window: number;
}

type EmbedImageRequest = embeddingV1.EmbedImageRequest__Output;
type EmbedImageResponse = embeddingV1.EmbedImageResponse;

async function embedOne(engine: EmbeddingEngine, req: EmbedImageRequest, settings: EmbedImagesSettings, ctx: CallContext): Promise<EmbedImageResponse> {
  const itemId = req.itemId;
  try {
    const model = req.model || settings.defaultModel;
    let bytes: Uint8Array;
    if (req.source === 'image' && req.image) bytes = req.image;
    else if (req.source === 'path' && req.path) bytes = await readImageFile(settings.imageRoot, req.path, settings.maxImageBytes);
    else throw ServiceError.invalidArgument('item has no image: set `image` (bytes) or `path`');
    if (bytes.byteLength > settings.maxImageBytes) {
      throw ServiceError.invalidArgument(`image has ${bytes.byteLength} bytes, more than the limit of ${settings.maxImageBytes}`);
    }
    const vector = await engine.embedImage(model, bytes, { deadline: ctx.deadline, signal: ctx.signal });
    return { itemId, embedding: { vector: Array.from(vector) } };
  } catch (err) {
    if (!classify(err).expected) ctx.logger.error({ err, itemId }, 'image item failed');
    return { itemId, error: itemError(itemId, err) };
  }
}

/**
 * EmbedImages: answers in request order, each answer tagged with its item id; a failed item is answered with
 * its error and the stream goes on. At most `window` items are in flight: past that the server stops reading
 * the stream (grpc flow control pushes back on the client) until the oldest answer is written.
 */
export function embedImagesHandler(engine: EmbeddingEngine, settings: EmbedImagesSettings) {
  return async function* embedImages(requests: AsyncIterable<EmbedImageRequest>, ctx: CallContext): AsyncGenerator<EmbedImageResponse> {
    // every queued item listens for the call's abort; a full window is legitimately that many listeners
    setMaxListeners(settings.window + 16, ctx.signal);
    const inFlight: Array<Promise<EmbedImageResponse>> = [];
    let readerDone = false;
    let readerError: unknown = null;
    let wake: (() => void) | null = null;
    let slotFreed: (() => void) | null = null;
    let stopped = false;
    const notify = () => {
      wake?.();
      wake = null;
    };

    const reader = (async () => {
      for await (const req of requests) {
        while (inFlight.length >= settings.window && !stopped) await new Promise<void>((r) => (slotFreed = r));
        if (stopped) break;
        inFlight.push(embedOne(engine, req, settings, ctx));
        notify();
      }
    })().then(
      () => {
        readerDone = true;
        notify();
      },
      (err: unknown) => {
        readerError = err;
        readerDone = true;
        notify();
      },
    );

    try {
      for (;;) {
        const head = inFlight[0];
        if (head) {
          const response = await head;
          void inFlight.shift();
          const freed = slotFreed as (() => void) | null;
          slotFreed = null;
          freed?.();
          yield response;
          continue;
        }
        if (readerDone) break;
        await new Promise<void>((r) => (wake = r));
      }
      if (readerError) throw readerError;
    } finally {
      // the call ended (done, failed or cancelled): release a reader parked on a full window; it settles alone
      stopped = true;
      (slotFreed as (() => void) | null)?.();
      void reader;
    }
  };
}
