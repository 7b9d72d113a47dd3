// `select infra ...` is infra/infra.sh: the script stays the one implementation (CI and scripts/ call it too),
// the CLI finds it and hands the terminal over.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, EXIT_CODES } from './errors.js';

const INFRA_SCRIPT = join('infra', 'infra.sh');

/**
 * infra/infra.sh of the checkout this CLI was built in: the first folder above this file that holds it.
 * @param from where to start looking @default this module's folder
 */
export function findInfraScript(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, INFRA_SCRIPT);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) {
      throw new CliError(`cannot find ${INFRA_SCRIPT} in any folder above ${from}`, {
        hint: 'The infra commands run from a checkout of the select repository.',
      });
    }
  }
}

/** Runs `bash infra/infra.sh <args>` with the terminal attached; resolves to its exit code. */
export function runInfraScript(args: readonly string[]): Promise<number> {
  const script = findInfraScript();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], { stdio: 'inherit' });
    child.on('error', (cause) => reject(new CliError(`could not run ${script}: ${cause.message}`, { cause })));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + constants.signals[signal] : EXIT_CODES.failed)));
  });
}

