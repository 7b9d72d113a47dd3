// Ctrl-C while a command follows work that runs in a service (a build, a training run, the main job): the work
// goes on there, so the command says so and how to pick it up again, instead of vanishing without a word.
import { EXIT_CODES } from './errors.js';

/** Exit codes after SIGINT (Ctrl-C) and SIGTERM: 128 + the signal's number, as shells report them. */
export const SIGNAL_EXIT_CODES = { SIGINT: EXIT_CODES.interrupted, SIGTERM: 143 } as const;

/**
 * Runs `follow`; a SIGINT or SIGTERM meanwhile ends the process at once with 130 / 143 after printing `note()` on
 * stderr (on a line of its own, below a progress bar). The handlers are removed when `follow` settles.
 */
export async function followUntilInterrupted<T>(note: () => string, follow: () => Promise<T>): Promise<T> {
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${note()}\n`);
    process.exit(signal === 'SIGINT' ? SIGNAL_EXIT_CODES.SIGINT : SIGNAL_EXIT_CODES.SIGTERM);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await follow();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `--address <a>` when the command was given one, so the printed commands reach the same service. */
export function addressArgument(address: string | undefined): string {
  return address === undefined ? '' : ` --address ${address}`;
}
