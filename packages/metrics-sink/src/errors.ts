// Errors of the metrics-sink.

/** An event type the sink has no table for; the consumer retries it, then dead-letters it. */
export class UnsupportedEventError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnsupportedEventError';
  }
}

/** `stop()` was called while the sink was still starting; start() gives up instead of consuming. */
export class SinkStoppedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SinkStoppedError';
  }
}
