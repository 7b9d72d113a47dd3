/** A model directory that does not hold a layout this service understands, or holds it inconsistently. */
export class ModelLayoutError extends Error {
  override readonly name = 'ModelLayoutError';
  constructor(
    readonly dir: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${dir}: ${message}`, options);
  }
}

/** A request named a model the server does not have (NOT_FOUND). */
export class UnknownModelError extends Error {
  override readonly name = 'UnknownModelError';
  constructor(
    readonly model: string,
    readonly available: readonly string[],
  ) {
    super(`unknown model "${model}"; available: ${available.join(', ') || '(none)'}`);
  }
}

/** A request asked a model for something it cannot do, e.g. text vectors from an image-only model (INVALID_ARGUMENT). */
export class UnsupportedInputError extends Error {
  override readonly name = 'UnsupportedInputError';
}

/** A text that cannot be embedded (too long to even tokenise within the limits). */
export class TextInputError extends Error {
  override readonly name = 'TextInputError';
}

/** An image path outside the configured root, or no root configured (PERMISSION_DENIED / FAILED_PRECONDITION). */
export class ImagePathError extends Error {
  override readonly name = 'ImagePathError';
  constructor(
    readonly kind: 'no-root' | 'outside-root' | 'not-found' | 'too-large',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
