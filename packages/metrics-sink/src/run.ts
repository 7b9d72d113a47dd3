// The sink as a foreground process: config from the environment, JSON logs on stdout, and on SIGTERM/SIGINT
// the batch in flight is finished and committed before the process exits 0. A second signal exits at once.
// Shared by `node dist/main.js` and `select sink`, so both behave the same.
import { createLogger } from '@select/platform';
import { resolveMetricsSinkConfig } from './config.js';
import { createMetricsSink } from './sink.js';

/** Exit code after a second signal interrupted the shutdown (128 + SIGINT, as shells report it). */
export const INTERRUPTED_EXIT_CODE = 130;

/**
 * Runs the sink until a signal stops it, then exits the process: 0 after a clean stop, 1 when the start-up
 * failed for good (bad config, a migration refused) or the shutdown failed.
 */
export async function runMetricsSink(): Promise<void> {
  const logger = createLogger({ service: 'metrics-sink' });
  let sink: ReturnType<typeof createMetricsSink>;
  try {
    sink = createMetricsSink({ config: resolveMetricsSinkConfig(), logger });
  } catch (err) {
    logger.fatal({ err }, 'metrics-sink configuration is invalid');
    process.exit(1);
  }

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.warn({ signal }, 'second signal during shutdown: exiting now');
      process.exit(INTERRUPTED_EXIT_CODE);
    }
    signalled = true;
    logger.info({ signal }, 'shutdown requested');
    sink.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    await sink.start();
  } catch (err) {
    if (signalled) return; // stop() during start-up: the signal handler exits
    logger.fatal({ err }, 'metrics-sink failed to start');
    await sink.stop().catch(() => undefined);
    process.exit(1);
  }
}
