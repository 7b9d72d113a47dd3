/** Why an image could not be turned into a model input. Every reason is the caller's input, not a server fault. */
export type ImageErrorReason = 'empty' | 'unsupported-format' | 'corrupt' | 'too-many-pixels' | 'invalid-preprocessing';

/** An image that cannot be decoded or preprocessed; the message says what is wrong with it. */
export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';
  constructor(
    readonly reason: ImageErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Too many images are already waiting for preprocessing threads; retry later (RESOURCE_EXHAUSTED). */
export class PreprocessQueueFullError extends Error {
  override readonly name = 'PreprocessQueueFullError';
  constructor(readonly capacity: number) {
    super(`image preprocessing queue is full (${capacity} images in flight); retry with backoff`);
  }
}

/** The preprocessing pool was closed, or one of its threads died. */
export class PreprocessPoolError extends Error {
  override readonly name = 'PreprocessPoolError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
