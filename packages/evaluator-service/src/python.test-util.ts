// The project's Python environment (.work/py, made by scripts/python-env.sh, which is idempotent and prints the
// interpreter) for tests that compare against numpy reference scripts in tools/.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let interpreter: Promise<string> | undefined;

export function pythonInterpreter(): Promise<string> {
  interpreter ??= run('bash', ['scripts/python-env.sh'], { cwd: REPO_ROOT, maxBuffer: 1 << 24 }).then((r) => r.stdout.trim().split('\n').pop()!);
  return interpreter;
}

/** Runs a tools/ script with the project's Python and parses its last stdout line as JSON. */
export async function runPythonJson<T>(script: string, args: string[]): Promise<T> {
  const python = await pythonInterpreter();
  const { stdout } = await run(python, [script, ...args], { cwd: REPO_ROOT, maxBuffer: 1 << 26 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}
