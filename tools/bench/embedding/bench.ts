// End-to-end embedding benchmark: JPEG bytes -> L2-normalised vectors through the embedding service over gRPC,
// against the raw ONNX Runtime session on pre-made tensors (the ceiling, measured from Node and from Python, with
// and without spinning) and the Python pipelines a user would write (a prefetching pool of Pillow workers feeding
// onnxruntime, and the plain serial loop), all with the service's session options, interleaved over repeats with
// paired ratios per repeat; texts: EmbedTexts against transformers' fast CLIP tokenizer + onnxruntime.
// See README.md beside this file.
//
//   npx tsc -b packages/embedding-service/tsconfig.lib.json
//   npx tsx tools/bench/embedding/bench.ts [--images 1000] [--repeats 5] [--preprocessing exact|fast]
//        [--workers min(2, cores)] [--intra cores/workers] [--preprocess <cores>] [--batch 32] [--py-workers <cores>]
//        [--py-procs <workers>]
//        [--py-pool dataloader|mp] [--skip-raw] [--skip-grpc] [--skip-service-proc] [--skip-engine] [--skip-python]
//        [--skip-python-serial] [--skip-texts] [--skip-images: texts only] [--text-window 8] [--text-passes 3] [--name embedding]
//        [--service-spinning on|off] [--preprocess-niceness 0] [--ab-spinning on|off] [--ab-niceness N]
//        [--ab-workers N] [--ab-intra N] [--ab-preprocess N] [--recycle-buffers on|off] [--ab-recycle on|off]
//        [--balance-batches on|off] [--ab-balance on|off] [--stream-window 128] [--ab-stream-window N]
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { EmbeddingEngine, defaultInferenceWorkers, scanModels } from '@select/embedding-service';
import { SessionPool, float32 } from '@select/inference';
import { BENCH_CACHE, benchJpegs, embedImagesStream, startBenchService, startBenchServiceProcess } from './service-client.js';
// @ts-expect-error plain ESM module without types
import { ROOT, interleave, machineInfo, median, pairedRatios, peerEnv, projectPython, pythonBlasInfo, resultName, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const uptimeBefore: string = uptime();
const cores = availableParallelism();
const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '1000' },
    repeats: { type: 'string', default: '5' },
    preprocessing: { type: 'string', default: 'exact' },
    // the service's defaults (defaultInferenceWorkers; intra-op threads = cores / workers)
    workers: { type: 'string', default: String(defaultInferenceWorkers()) },
    intra: { type: 'string' },
    preprocess: { type: 'string', default: String(cores) },
    batch: { type: 'string', default: '32' },
    'per-thread': { type: 'string', default: '2' },
    'stream-window': { type: 'string', default: '128' },
    'text-window': { type: 'string', default: '8' },
    'text-passes': { type: 'string', default: '3' },
    'py-workers': { type: 'string', default: String(cores) },
    'py-procs': { type: 'string' },
    'py-pool': { type: 'string', default: 'dataloader' },
    'py-prefetch': { type: 'string', default: '2' },
    'py-chunk': { type: 'string', default: '8' },
    'skip-raw': { type: 'boolean', default: false },
    'skip-grpc': { type: 'boolean', default: false },
    'skip-service-proc': { type: 'boolean', default: false },
    'skip-engine': { type: 'boolean', default: false },
    'skip-python': { type: 'boolean', default: false },
    'skip-python-serial': { type: 'boolean', default: false },
    'skip-python-pool-alt': { type: 'boolean', default: false },
    'skip-python-procs': { type: 'boolean', default: false },
    'skip-images': { type: 'boolean', default: false },
    'skip-texts': { type: 'boolean', default: false },
    'preprocess-niceness': { type: 'string', default: '0' },
    'service-spinning': { type: 'string', default: 'on' },
    'recycle-buffers': { type: 'string', default: 'on' },
    'balance-batches': { type: 'string', default: 'on' },
    'ab-niceness': { type: 'string' },
    'ab-spinning': { type: 'string' },
    'ab-workers': { type: 'string' },
    'ab-intra': { type: 'string' },
    'ab-preprocess': { type: 'string' },
    'ab-recycle': { type: 'string' },
    'ab-balance': { type: 'string' },
    'ab-stream-window': { type: 'string' },
    name: { type: 'string', default: 'embedding' },
  },
});
const whole = (flag: keyof typeof args, min = 1): number => wholeOption(flag, args[flag], min);
const n = whole('images');
const repeats = whole('repeats');
const workers = whole('workers');
const intra = args.intra === undefined ? Math.max(1, Math.floor(cores / workers)) : whole('intra');
const preprocessThreads = whole('preprocess');
const batch = whole('batch');
/** Times each timed text run goes through the captions (one pass of 1,000 is ~7 s: too short to average out the VM's swings). */
const textPasses = whole('text-passes');
const perThread = whole('per-thread');
const streamWindow = whole('stream-window');
const textWindow = whole('text-window');
const preprocessNiceness = whole('preprocess-niceness', 0);
const pyWorkers = whole('py-workers', 0);
const pyPrefetch = whole('py-prefetch');
const pyChunk = whole('py-chunk');
resultName(args.name);
const mode = args.preprocessing as 'exact' | 'fast';
if (mode !== 'exact' && mode !== 'fast') throw new Error(`--preprocessing must be exact or fast, not ${args.preprocessing}`);
if (args['py-pool'] !== 'dataloader' && args['py-pool'] !== 'mp') throw new Error(`--py-pool must be dataloader or mp`);
const onOff = (flag: string, value: string) => {
  if (value !== 'on' && value !== 'off') throw new Error(`--${flag} must be on or off, not ${value}`);
  return value === 'on';
};
const serviceSpinning = onOff('service-spinning', args['service-spinning']);
/** The service's recycleBuffers: tensors and batches in reused shared memory (the default) or fresh transferred buffers. */
const serviceRecycle = onOff('recycle-buffers', args['recycle-buffers']);
/** The service's balanceBatches: a queue too short for both workers split evenly between them (the default), or full batches. */
const serviceBalance = onOff('balance-batches', args['balance-batches']);
/** images-procs: data-parallel Python processes, as many as the service has inference workers, cores / procs threads each. */
const pyProcs = args['py-procs'] === undefined ? workers : whole('py-procs');
/** The B service of an A/B run: the first service's settings with --ab-niceness / --ab-spinning / --ab-workers / --ab-intra / --ab-preprocess / --ab-recycle / --ab-balance / --ab-stream-window applied. */
const abService = (['ab-niceness', 'ab-spinning', 'ab-workers', 'ab-intra', 'ab-preprocess', 'ab-recycle', 'ab-balance', 'ab-stream-window'] as const).every((k) => args[k] === undefined)
    ? null
    : {
        niceness: args['ab-niceness'] === undefined ? preprocessNiceness : whole('ab-niceness', 0),
        spinning: args['ab-spinning'] === undefined ? serviceSpinning : onOff('ab-spinning', args['ab-spinning']),
        workers: args['ab-workers'] === undefined ? workers : whole('ab-workers'),
        intra: args['ab-intra'] === undefined ? intra : whole('ab-intra'),
        preprocessThreads: args['ab-preprocess'] === undefined ? preprocessThreads : whole('ab-preprocess'),
        recycle: args['ab-recycle'] === undefined ? serviceRecycle : onOff('ab-recycle', args['ab-recycle']),
        balance: args['ab-balance'] === undefined ? serviceBalance : onOff('ab-balance', args['ab-balance']),
        streamWindow: args['ab-stream-window'] === undefined ? streamWindow : whole('ab-stream-window'),
      };

const MODELS = join(BENCH_CACHE, 'models');
const MODEL = 'clip-vit-b32'; // the service serves every directory under models/; prepare.py puts exactly this one there
const modelDir = join(MODELS, MODEL);
const VECTORS = join(BENCH_CACHE, 'python-vectors');

const jpegs = benchJpegs(n);
const texts = (JSON.parse(readFileSync(join(BENCH_CACHE, 'texts.json'), 'utf8')) as string[]).slice(0, n);
/** What a timed text run embeds: the captions textPasses times over (the service keeps no cache, so every pass costs the same). */
const passTexts = Array.from({ length: textPasses }, () => texts).flat();
const mb = jpegs.reduce((s, b) => s + b.length, 0) / 1e6;
console.error(
  `[bench] ${jpegs.length} JPEGs (${mb.toFixed(1)} MB), ${texts.length} texts x ${textPasses} passes; repeats=${repeats} preprocessing=${mode} workers=${workers} intra=${intra} preprocess=${preprocessThreads} batch=${batch} py-workers=${args['py-workers']} py-pool=${args['py-pool']}`,
);

type Run = { seconds: number; cpuSeconds?: number; images?: number; texts?: number };

/** Seconds and CPU seconds (every thread of this process) of `fn`. */
async function measured(fn: () => Promise<unknown>): Promise<Run> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { seconds, cpuSeconds: (c.user + c.system) / 1e6 };
}

/** Run `count` tasks with at most `window` in flight. */
async function windowed(count: number, window: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(window, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/** The Python peer process (python_peer.py): sessions opened once, one contender per command. */
class PythonPeer {
  private constructor(
    private readonly proc: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
  ) {}

  static async start(python: string, env: NodeJS.ProcessEnv): Promise<PythonPeer> {
    const proc = spawn(
      python,
      [join(ROOT, 'tools/bench/embedding/python_peer.py'), '--threads', String(cores), '--procs', String(pyProcs), '--workers', String(pyWorkers), '--pool', String(args['py-pool']),
        '--prefetch', String(pyPrefetch), '--chunk', String(pyChunk), '--batch', String(batch), '--images', String(n), '--vectors', VECTORS, '--text-passes', String(textPasses),
        '--spinning', serviceSpinning ? 'on' : 'off'],
      { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'inherit'] },
    ) as unknown as ChildProcessWithoutNullStreams;
    const peer = new PythonPeer(proc, createInterface({ input: proc.stdout })[Symbol.asyncIterator]());
    await peer.next();
    return peer;
  }

  private async next(): Promise<Record<string, unknown>> {
    for (;;) {
      const { value, done } = await this.lines.next();
      if (done) throw new Error('the Python peer exited early (its stderr is above)');
      if (value.startsWith('{')) return JSON.parse(value) as Record<string, unknown>;
    }
  }

  async run(command: string): Promise<Record<string, unknown>> {
    this.proc.stdin.write(`${command}\n`);
    return this.next();
  }

  async close(): Promise<void> {
    this.proc.stdin.end('quit\n');
    await new Promise((resolve) => (this.proc.exitCode !== null ? resolve(null) : this.proc.once('exit', resolve)));
  }
}

const python: string = projectPython();
const env = peerEnv(cores);
const pythonBlas = args['skip-python'] ? null : pythonBlasInfo(python, env, ['numpy', 'onnxruntime']);

const contenders: Record<string, () => Promise<Run>> = {};
const closers: Array<() => Promise<void>> = [];
const D = 512;
/** The service's vectors from its latest timed run, for the agreement checks. */
const collected: { images?: Float32Array; texts?: Float32Array } = {};

// raw session from Node: @select/inference's SessionPool (the service's own session options), pre-made
// [batch, 3, 224, 224] tensors, one batch after another, exactly n images (the last batch n % batch)
// With several inference workers (--workers, or --ab-workers for the B service) the raw session runs the same way:
// that many workers, batches one after another in each (raw-node-spin-<workers>x<intra>, spinning as that service's).
// One worker with every core (raw-node-spin / raw-node-nospin, as the Python raw sessions) always runs too.
if (!args['skip-raw']) {
  const tensor = new Float32Array(batch * 3 * 224 * 224).map((_, i) => Math.sin(i) * 1.5);
  const sizes = [...Array<number>(Math.floor(n / batch)).fill(batch), ...(n % batch ? [n % batch] : [])];
  // by contender name, so a layout asked for twice (the B service's may be one of the others) runs once
  const layouts = new Map<string, { workers: number; intra: number; spinning: boolean }>();
  // with one intra-op thread ONNX Runtime makes no thread pool, so spinning is moot: one contender, raw-node-Wx1
  // (until 2026-12-07 it ran twice, as -spin-Wx1 and -nospin-Wx1, and the faster of the two identical runs counted)
  const addLayout = (w: number, t: number, spinning: boolean) =>
    layouts.set(
      t === 1 ? `raw-node-${w}x1` : `raw-node-${spinning ? 'spin' : 'nospin'}${w === 1 && t === cores ? '' : `-${w}x${t}`}`,
      { workers: w, intra: t, spinning: t === 1 ? serviceSpinning : spinning },
    );
  for (const [w, t] of [[1, cores], [workers, intra]]) for (const spinning of [true, false]) addLayout(w!, t!, spinning);
  if (abService) addLayout(abService.workers, abService.intra, abService.spinning);
  for (const [name, layout] of layouts) {
    const pool = await SessionPool.open({ vision: join(modelDir, 'onnx/vision_model.onnx') }, { workers: layout.workers, intraOpThreads: layout.intra, allowSpinning: layout.spinning });
    closers.push(() => pool.close());
    const run = (k: number) => pool.run('vision', { pixel_values: float32(tensor.slice(0, k * 3 * 224 * 224), [k, 3, 224, 224]) }, ['image_embeds']);
    contenders[name] = async () => {
      await windowed(layout.workers, layout.workers, () => run(batch));
      const r = await measured(() => windowed(sizes.length, layout.workers, (i) => run(sizes[i]!)));
      return { ...r, images: n };
    };
  }
}

// the service over gRPC: an EmbedImages stream of all n JPEGs (client and server in this process), then
// EmbedTexts calls of `batch` texts with `text-window` calls in flight
type ServiceLayout = { workers: number; intra: number; preprocessThreads: number; recycle: boolean; balance: boolean; streamWindow: number };
const serviceLayout: ServiceLayout = { workers, intra, preprocessThreads, recycle: serviceRecycle, balance: serviceBalance, streamWindow: streamWindow };
/** The service's settings (preprocessing threads at `niceness`, intra-op threads spinning or not) and the options a build must have for them. */
function serviceSettings(niceness: number, spinning: boolean, layout: ServiceLayout) {
  return {
    settings: {
      modelsDir: MODELS, inferenceWorkers: layout.workers, intraOpThreads: layout.intra, preprocessThreads: layout.preprocessThreads, maxBatch: batch,
      streamWindow: layout.streamWindow, preprocessMode: mode, preprocessNiceness: niceness,
      allowSpinning: spinning, recycleBuffers: layout.recycle, balanceBatches: layout.balance,
    },
    asked: [
      { key: 'preprocessMode', wanted: mode, without: 'exact' },
      { key: 'preprocessNiceness', wanted: niceness, without: 0 },
      { key: 'allowSpinning', wanted: spinning, without: false },
      { key: 'recycleBuffers', wanted: layout.recycle, without: false },
      { key: 'balanceBatches', wanted: layout.balance, without: false },
    ],
  };
}

/** Starts a service (client and server in this process) with serviceSettings. */
async function startService(niceness: number, spinning: boolean, layout = serviceLayout) {
  const { settings, asked } = serviceSettings(niceness, spinning, layout);
  const { client, close } = await startBenchService(settings, asked);
  closers.push(close);
  const stream = (items: Buffer[], into?: Float32Array) => embedImagesStream(client, MODEL, items, into, D);
  return { client, stream };
}

if (!args['skip-grpc']) {
  const { client, stream } = await startService(preprocessNiceness, serviceSpinning);
  contenders['service-grpc'] = async () => {
    await stream(jpegs.slice(0, batch));
    const vectors = new Float32Array(n * D);
    const r = await measured(() => stream(jpegs, vectors));
    collected.images = vectors;
    return { ...r, images: n };
  };
  if (abService) {
    // the same service but for the B settings (niceness, spinning, inference workers × intra-op threads, preprocess threads), interleaved with the first
    const b = await startService(abService.niceness, abService.spinning, abService);
    contenders['service-grpc-b'] = async () => {
      await b.stream(jpegs.slice(0, batch));
      const r = await measured(() => b.stream(jpegs));
      return { ...r, images: n };
    };
  }
  if (!args['skip-service-proc']) {
    // the same service in its own process, as users run it (node dist/main.js), the client in this one: the
    // client's allocations and collections no longer share the service's heap; CPU counts both processes
    const { settings, asked } = serviceSettings(preprocessNiceness, serviceSpinning, serviceLayout);
    const proc = await startBenchServiceProcess(settings, asked);
    closers.push(() => proc.close());
    contenders['service-proc'] = async () => {
      await embedImagesStream(proc.client, MODEL, jpegs.slice(0, batch));
      const serviceCpu = proc.cpuSeconds();
      const r = await measured(() => embedImagesStream(proc.client, MODEL, jpegs));
      const serviceCpuAfter = proc.cpuSeconds();
      const cpuSeconds = serviceCpu === undefined || serviceCpuAfter === undefined ? undefined : r.cpuSeconds! + serviceCpuAfter - serviceCpu;
      return { ...r, cpuSeconds, images: n };
    };
  }
  if (!args['skip-texts']) {
    const embedTexts = (slice: string[], into?: Float32Array, at = 0) =>
      new Promise<void>((resolve, reject) =>
        client.embedTexts({ model: MODEL, texts: slice }, (err: Error | null, res?: { embeddings: Array<{ vector: number[]; error?: unknown }> }) => {
          if (err || !res) return reject(err ?? new Error('no response'));
          if (res.embeddings.some((e) => e.error)) return reject(new Error('a text failed'));
          res.embeddings.forEach((e, i) => into?.set(e.vector, (at + i) * D));
          resolve();
        }),
      );
    contenders['service-texts'] = async () => {
      await embedTexts(texts.slice(0, batch));
      const vectors = new Float32Array(passTexts.length * D);
      const r = await measured(() =>
        windowed(Math.ceil(passTexts.length / batch), textWindow, (i) => embedTexts(passTexts.slice(i * batch, (i + 1) * batch), vectors, i * batch)),
      );
      collected.texts = vectors.subarray(0, texts.length * D); // the first pass, for the agreement check
      return { ...r, texts: passTexts.length };
    };
  }
}

// the service's engine in-process (no gRPC), same settings, 128 images in flight
const engineOptions = (m: 'exact' | 'fast') => ({
  sessions: { workers, intraOpThreads: intra, allowSpinning: serviceSpinning },
  preprocess: { threads: preprocessThreads, perThread: perThread, mode: m },
  batching: { maxBatch: batch, maxWaitMs: 5, maxQueue: 1024, balance: serviceBalance },
  recycleBuffers: serviceRecycle,
});
if (!args['skip-engine']) {
  const engine = await EmbeddingEngine.start(await scanModels(MODELS), engineOptions(mode));
  closers.push(() => engine.close());
  contenders['engine'] = async () => {
    await Promise.all(jpegs.slice(0, batch).map((b) => engine.embedImage(MODEL, b)));
    const r = await measured(() => windowed(jpegs.length, 128, (i) => engine.embedImage(MODEL, jpegs[i]!)));
    return { ...r, images: n };
  };
}

let peer: PythonPeer | null = null;
let peerInfo: Record<string, unknown> | null = null;
if (!args['skip-python']) {
  rmSync(VECTORS, { recursive: true, force: true });
  peer = await PythonPeer.start(python, env);
  const p = peer;
  closers.push(() => p.close());
  peerInfo = await p.run('info');
  const pyRun = (command: string) => async () => (await p.run(command)) as unknown as Run;
  contenders['python-pool'] = pyRun('images-pool');
  if (!args['skip-python-pool-alt']) contenders['python-pool-alt'] = pyRun('images-pool-alt');
  if (!args['skip-python-serial']) contenders['python-serial'] = pyRun('images-serial');
  if (!args['skip-python-procs']) contenders['python-procs'] = pyRun('images-procs');
  if (!args['skip-raw']) {
    contenders['raw-python-spin'] = pyRun('raw-spin');
    contenders['raw-python-nospin'] = pyRun('raw-nospin');
  }
  if (!args['skip-texts']) contenders['python-texts'] = pyRun('texts');
}

if (args['skip-images']) for (const name of Object.keys(contenders)) if (!name.endsWith('-texts')) delete contenders[name];
const runs = (await interleave(contenders, repeats)) as Record<string, Run[]>;
const seconds = (name: string) => runs[name]?.map((r) => r.seconds);
/**
 * The peer a target is judged against: of the named contenders present, the one with the highest median throughput
 * over the run, its seconds paired with ours repeat by repeat. Not the fastest per repeat: on this VM two runs of
 * the very same session differ by up to 14% within a repeat, so the per-repeat maximum of k contenders is mostly
 * the luckiest run (reported as well, as the stricter `...FastestPerRepeat` ratios).
 */
const bestByMedian = (names: string[]) => {
  const present = names.filter((x) => runs[x]);
  if (present.length === 0) return undefined;
  const name = present.reduce((a, b) => (median(seconds(b)!) < median(seconds(a)!) ? b : a));
  return { name, seconds: seconds(name)! };
};
/** Per repeat, the fastest of the named contenders present. */
const fastest = (names: string[]) => {
  const present = names.filter((x) => runs[x]);
  if (present.length === 0) return undefined;
  return Array.from({ length: repeats }, (_, r) => {
    const best = present.reduce((a, b) => (runs[b]![r]!.seconds < runs[a]![r]!.seconds ? b : a));
    return { name: best, seconds: runs[best]![r]!.seconds };
  });
};
const rawNames = Object.keys(runs).filter((name) => name.startsWith('raw-'));
const pythonNames = ['python-pool', 'python-pool-alt', 'python-serial', 'python-procs'];
const rawBest = bestByMedian(rawNames);
const pythonBest = bestByMedian(pythonNames);
const rawFastest = fastest(rawNames);
const pythonFastest = fastest(pythonNames);

/** Cosine of row i of a and b (rows of D). */
function cosines(a: Float32Array, b: Float32Array, rows: number): { min: number; p01: number; median: number; mean: number } {
  const cs: number[] = [];
  for (let i = 0; i < rows; i++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let j = 0; j < D; j++) {
      const x = a[i * D + j]!;
      const y = b[i * D + j]!;
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    cs.push(dot / Math.sqrt(na * nb));
  }
  const sorted = [...cs].sort((x, y) => x - y);
  return { min: sorted[0]!, p01: sorted[Math.floor(0.01 * (rows - 1))]!, median: median(cs), mean: cs.reduce((s, x) => s + x, 0) / rows };
}
/** The Python peer's vectors from this run (none when it did not run: the directory may hold an earlier run's). */
const readVectors = (name: string) => {
  if (!peer) return null;
  try {
    const buf = readFileSync(join(VECTORS, name));
    return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  } catch {
    return null;
  }
};

const agreement: Record<string, unknown> = {};
const pyImageVectors = readVectors('images-pool.f32');
if (collected.images && pyImageVectors) agreement['serviceVsPythonImages'] = { note: `service (${mode}) vs Pillow-exact Python, last repeat`, ...cosines(collected.images, pyImageVectors, n) };
const pyProcsVectors = readVectors('images-procs.f32');
// python-procs must compute what the pool computes: same preprocessing, same graph, its own sessions
if (pyProcsVectors && pyImageVectors) agreement['pythonProcsVsPythonPoolImages'] = cosines(pyProcsVectors, pyImageVectors, n);
const pyTextVectors = readVectors('texts.f32');
if (collected.texts && pyTextVectors) agreement['serviceVsPythonTexts'] = cosines(collected.texts, pyTextVectors, texts.length);
if (mode === 'fast' && collected.images) {
  // untimed: the same images through an exact engine, against the fast service's vectors from the last repeat
  console.error('[bench] exact reference pass for the fast-vs-exact agreement (untimed)');
  const exact = await EmbeddingEngine.start(await scanModels(MODELS), engineOptions('exact'));
  const vectors = new Float32Array(n * D);
  await windowed(n, 128, async (i) => vectors.set(await exact.embedImage(MODEL, jpegs[i]!), i * D));
  await exact.close();
  agreement['fastVsExactImages'] = cosines(collected.images, vectors, n);
}

for (const close of closers.reverse()) await close();

const perSecond = (name: string) => runs[name]?.map((r) => (r.images ?? r.texts ?? n) / r.seconds);
const cpuPerItem = (name: string) => runs[name]?.map((r) => (r.cpuSeconds === undefined ? null : (1000 * r.cpuSeconds) / (r.images ?? r.texts ?? n)));
const ratio = (ours: string, peerSeconds: number[] | undefined) => (runs[ours] && peerSeconds ? pairedRatios(seconds(ours), peerSeconds) : null);
const ratios = {
  serviceVsRawSession: ratio('service-grpc', rawBest?.seconds),
  serviceVsBestPython: ratio('service-grpc', pythonBest?.seconds),
  serviceVsPythonPool: ratio('service-grpc', seconds('python-pool')),
  serviceVsRawFastestPerRepeat: ratio('service-grpc', rawFastest?.map((x) => x.seconds)),
  serviceVsPythonFastestPerRepeat: ratio('service-grpc', pythonFastest?.map((x) => x.seconds)),
  serviceBVsRawSession: ratio('service-grpc-b', rawBest?.seconds),
  serviceBVsBestPython: ratio('service-grpc-b', pythonBest?.seconds),
  serviceBVsService: ratio('service-grpc-b', seconds('service-grpc')),
  serviceProcVsRawSession: ratio('service-proc', rawBest?.seconds),
  serviceProcVsBestPython: ratio('service-proc', pythonBest?.seconds),
  serviceProcVsService: ratio('service-proc', seconds('service-grpc')),
  engineVsRawSession: ratio('engine', rawBest?.seconds),
  engineVsBestPython: ratio('engine', pythonBest?.seconds),
  textsServiceVsPython: ratio('service-texts', seconds('python-texts')),
};
const targets = [
  ['serviceVsRawSession', 0.9],
  ['serviceVsBestPython', 1.05],
  ['serviceProcVsRawSession', 0.9],
  ['serviceProcVsBestPython', 1.05],
  ['textsServiceVsPython', 1.2],
] as const;

const uptimeAfter: string = uptime();
console.error('[bench] per contender: items/s per repeat (CPU ms per item)');
for (const name of Object.keys(runs)) {
  const cpu = cpuPerItem(name)!;
  console.error(`  ${name.padEnd(18)} ${perSecond(name)!.map((x, i) => `${x.toFixed(1)} (${cpu[i]?.toFixed(0) ?? '?'})`).join('  ')}`);
}
if (rawBest) console.error(`  ceiling (highest median): ${rawBest.name}; fastest per repeat: ${rawFastest!.map((x) => x.name).join(', ')}`);
if (pythonBest) console.error(`  best Python (highest median): ${pythonBest.name}; fastest per repeat: ${pythonFastest!.map((x) => x.name).join(', ')}`);
console.error('[bench] paired ratios, ours / peer throughput per repeat (targets: service >= 0.9x raw session, >= 1.05x best Python; texts >= 1.2x Python)');
for (const [k, v] of Object.entries(ratios)) {
  if (!v) continue;
  const target = targets.find(([t]) => t === k)?.[1];
  const verdict = target === undefined ? '' : v.median >= target ? `  target ${target}x: met (median)` : `  target ${target}x: NOT met (median)`;
  console.error(`  ${k.padEnd(22)} median ${v.median.toFixed(3)}  [${v.perRepeat.map((x: number) => x.toFixed(3)).join(', ')}]${verdict}`);
}
for (const [k, v] of Object.entries(agreement)) console.error(`  cosine ${k}: ${JSON.stringify(v)}`);
console.error(`[bench] uptime before: ${uptimeBefore}\n[bench] uptime after:  ${uptimeAfter}`);

writeResult(args.name, {
  benchmark: 'embedding',
  date: new Date().toISOString(),
  command: `npx tsx tools/bench/embedding/bench.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machineInfo(),
  uptimeBefore,
  uptimeAfter,
  model: 'CLIP ViT-B/32 architecture, random weights, HF split-tower ONNX (opset 17), generated by prepare.py',
  inputs: { images: jpegs.length, jpegMB: Number(mb.toFixed(1)), texts: texts.length, textPasses },
  settings: {
    repeats,
    preprocessing: mode,
    inferenceWorkers: workers,
    intraOpThreads: intra,
    interOpThreads: 1,
    graphOptimizationLevel: 'all',
    serviceAllowSpinning: serviceSpinning,
    serviceRecycleBuffers: serviceRecycle,
    serviceBalanceBatches: serviceBalance,
    preprocessThreads,
    preprocessNiceness: preprocessNiceness,
    abService,
    perThread: perThread,
    maxBatch: batch,
    streamWindow: streamWindow,
    textCallsInFlight: textWindow,
    pythonPool: args['py-pool'],
    pythonWorkers: pyWorkers,
    pythonPrefetch: pyPrefetch,
    pythonChunk: pyChunk,
    pythonProcs: pyProcs,
    pythonThreads: cores,
  },
  python: peerInfo ? { ...peerInfo, command: undefined, blas: pythonBlas } : null,
  runs,
  perSecond: Object.fromEntries(Object.keys(runs).map((k) => [k, perSecond(k)])),
  cpuMsPerItem: Object.fromEntries(Object.keys(runs).map((k) => [k, cpuPerItem(k)])),
  ceiling: rawBest ? { name: rawBest.name, rule: 'highest median throughput of the raw-* contenders' } : null,
  bestPython: pythonBest ? { name: pythonBest.name, rule: 'highest median throughput of the Python pipelines' } : null,
  ceilingFastestPerRepeat: rawFastest ?? null,
  bestPythonFastestPerRepeat: pythonFastest ?? null,
  ratios,
  targets: Object.fromEntries(targets.map(([k, t]) => [k, { target: t, median: ratios[k]?.median ?? null, met: ratios[k] ? ratios[k]!.median >= t : null }])),
  agreement,
});
