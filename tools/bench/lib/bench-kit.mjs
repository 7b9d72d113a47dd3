// The preamble every benchmark shares: the repo root, the project's Python, a peer environment with its BLAS at
// full speed, the BLAS kernel a Python peer runs, machine facts with load averages before and after, interleaved
// repeats with paired ratios, checked command-line options, and the results file. Plain ESM so .mjs scripts and tsx-run .ts scripts both use it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is tools/bench/lib/bench-kit.mjs). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The project's Python interpreter (.work/py), made or updated by scripts/python-env.sh. */
export function projectPython() {
  return execFileSync('bash', ['scripts/python-env.sh'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop();
}

/** Variables some of these machines set that slow a current OpenBLAS (wrong core type, tiny L2): unset for peers. */
export const BLAS_HANDICAPS = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'];

/**
 * The environment a peer process runs in: this process's, without the BLAS handicaps, with every thread-count
 * variable a Python stack reads set to `threads`.
 * Caveat: an OpenBLAS older than the CPU (faiss-cpu 1.15.1 bundles 0.3.15, which does not know AMD family 26)
 * falls back to generic kernels when OPENBLAS_CORETYPE is unset; benches with such a peer probe the core types and
 * pass the fastest in `extra` (tools/bench/retrieval/peer-blas.mjs), recording the probe. numpy's own OpenBLAS
 * (0.3.31) picks SkylakeX here by itself.
 */
export function peerEnv(threads, extra = {}) {
  const env = { ...process.env };
  for (const name of BLAS_HANDICAPS) delete env[name];
  for (const name of ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS']) env[name] = String(threads);
  return { ...env, ...extra };
}

/**
 * The BLAS libraries a Python peer loads after importing `modules`, as threadpoolctl reports them (library,
 * version, kernel = internal_api + architecture, threads), run in `env` (normally peerEnv()).
 */
export function pythonBlasInfo(python, env, modules = ['numpy']) {
  const code = [
    ...modules.map((m) => `import ${m}`),
    'import json, threadpoolctl',
    "print(json.dumps([{k: i.get(k) for k in ('internal_api', 'version', 'architecture', 'num_threads', 'filepath')} for i in threadpoolctl.threadpool_info() if i.get('user_api') == 'blas']))",
  ].join('\n');
  try {
    return JSON.parse(execFileSync(python, ['-c', code], { env, encoding: 'utf8' }).trim().split('\n').pop());
  } catch (err) {
    return [{ error: String(err.message ?? err).split('\n')[0] }];
  }
}

/** `uptime` now (load averages over 1, 5 and 15 minutes), for the results' before/after. */
export function uptime() {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`;
  }
}

/** Facts about the machine a result was measured on. */
export function machineInfo() {
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {}
  return { cpu: cpus()[0]?.model, cores: availableParallelism(), memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, kernel, blasHandicapsInThisShell: Object.fromEntries(BLAS_HANDICAPS.map((n) => [n, process.env[n] ?? null])) };
}

/**
 * Runs a command to its end and returns its stdout; stderr goes to this process's, so progress stays visible.
 * The working directory is the repository root unless `options.cwd` says otherwise.
 */
export function runCommand(command, args, options = {}) {
  return execFileSync(command, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28, ...options });
}

/** The last line of a contender's stdout, parsed as JSON (contenders print their result as their last line). */
export function lastJsonLine(stdout) {
  return JSON.parse(stdout.trim().split('\n').pop());
}

/** User + system CPU seconds a live process has used so far, all its threads (Linux /proc; undefined elsewhere). */
export function processCpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Runs every contender once per repeat, the order rotating between repeats (A B C, B C A, C A B, ...) so that
 * drift in the machine's state falls on all of them. `contenders` maps a name to an async function returning
 * { seconds, ...anything }. Returns per-contender lists of those results.
 */
export async function interleave(contenders, repeats, log = console.error) {
  const names = Object.keys(contenders);
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < repeats; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]);
    for (const name of order) {
      const out = await contenders[name]();
      runs[name].push(out);
      log(`[bench] repeat ${r + 1}/${repeats} ${name}: ${out.seconds.toFixed(3)} s`);
    }
  }
  return runs;
}

/**
 * Paired time ratios peer / ours, one per repeat (> 1 means ours is faster), with their median, min and max.
 * `ours` and `peer` are lists of seconds from the same repeats.
 */
export function pairedRatios(ours, peer) {
  const perRepeat = ours.map((s, i) => peer[i] / s);
  return { perRepeat, median: median(perRepeat), min: Math.min(...perRepeat), max: Math.max(...perRepeat) };
}

/**
 * A whole-number command-line option: the text of `--flag` as a number of at least `min`. Anything else (a typo,
 * a fraction, a value below `min`, a missing value) stops the bench with a message and exit status 2 before it
 * measures anything, instead of a NaN that would silently run zero repeats.
 */
export function wholeOption(flag, text, min = 1) {
  const value = typeof text === 'string' && text.trim() !== '' ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < min) refuse(`--${flag} must be a whole number >= ${min}, got ${JSON.stringify(text ?? null)}`);
  return value;
}

/** A comma-separated list of whole numbers (`--sizes 8,24,40`), each at least `min`, checked as wholeOption does. */
export function wholeListOption(flag, text, min = 1) {
  const items = String(text ?? '').split(',');
  if (items.some((item) => item.trim() === '' || !Number.isInteger(Number(item)) || Number(item) < min)) {
    refuse(`--${flag} must be a comma-separated list of whole numbers >= ${min}, got ${JSON.stringify(text ?? null)}`);
  }
  return items.map(Number);
}

/** The results-file name (`--name`): a file name under tools/bench/results, checked before the bench runs. */
export function resultName(text) {
  if (typeof text !== 'string' || !/^[\w.-]+$/.test(text) || text.startsWith('.')) {
    refuse(`--name must be a file name under tools/bench/results (letters, digits, . _ -, not starting with .), got ${JSON.stringify(text ?? null)}`);
  }
  return text;
}

/** Stops the bench before it measures anything: `message` on stderr, exit status 2 (a refused option). */
export function refuse(message) {
  console.error(message);
  process.exit(2);
}

/** Writes tools/bench/results/<name>.json and prints it. */
export function writeResult(name, result) {
  const dir = join(ROOT, 'tools/bench/results');
  mkdirSync(dir, { recursive: true });
  const text = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(join(dir, `${name}.json`), text);
  process.stdout.write(text);
}
