// Names and sizes that servers and clients of this platform must agree on.

/** Metadata key carrying a request id from caller to callee (and back, as a trailer). */
export const REQUEST_ID_HEADER = 'x-request-id';

/** Trailer that carries `ServiceError.details` as JSON, so clients can act on structured failure data. */
export const ERROR_DETAILS_TRAILER = 'x-error-details';

/** Default limit for one message in either direction: room for a batch of images or embeddings. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
