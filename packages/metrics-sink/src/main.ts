// Entry point: `node packages/metrics-sink/dist/main.js`. Reads the config, starts the sink, and on
// SIGTERM/SIGINT finishes the batch in flight, commits it and exits 0. A second signal exits at once.
import { createLogger } from '@select/platform';
import { resolveMetricsSinkConfig } from './config.js';
import { createMetricsSink } from './sink.js';

const logger = createLogger({ service: 'metrics-sink' });

async function main(): Promise<void> {
  const config = resolveMetricsSinkConfig();
  const sink = createMetricsSink({ config, logger });

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.warn({ signal }, 'second signal during shutdown: exiting now');
      process.exit(130);
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

void main();
