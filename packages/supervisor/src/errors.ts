/** The services config is unreadable or invalid; the message names every problem and where it is. */
export class SupervisorConfigError extends Error {
  override readonly name = 'SupervisorConfigError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** A request to the supervisor it cannot carry out (unknown service or replica, no log yet). */
export class SupervisorError extends Error {
  override readonly name = 'SupervisorError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}
