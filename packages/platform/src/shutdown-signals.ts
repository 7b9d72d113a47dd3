import type { GrpcServer, ShutdownOptions } from './server.js';

export interface ShutdownOnSignalsOptions extends ShutdownOptions {
  /** @default ['SIGTERM', 'SIGINT'] */
  signals?: readonly NodeJS.Signals[];
  /** Runs after the server drained: close consumers, producers, pools. */
  afterShutdown?: () => Promise<void> | void;
}

/**
 * Drains `server` on the first SIGTERM/SIGINT, then runs `afterShutdown` and lets the process exit
 * by itself (exit code 1 if either failed). A second signal exits at once with code 130. Returns a
 * function that removes the listeners.
 */
export function shutdownOnSignals(server: GrpcServer, options: ShutdownOnSignalsOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let received = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received) {
      server.logger.warn({ signal }, 'second signal during shutdown: exiting now');
      process.exit(130);
    }
    received = true;
    server.logger.info({ signal }, 'shutdown requested');
    const { graceMs, drainDelayMs } = options;
    server
      .shutdown({ ...(graceMs !== undefined ? { graceMs } : {}), ...(drainDelayMs !== undefined ? { drainDelayMs } : {}) })
      .then(() => options.afterShutdown?.())
      .catch((error: unknown) => {
        server.logger.error({ err: error }, 'shutdown failed');
        process.exitCode = 1;
      })
      .finally(remove);
  };
  const remove = (): void => {
    for (const signal of signals) process.off(signal, onSignal);
  };
  for (const signal of signals) process.on(signal, onSignal);
  return remove;
}
