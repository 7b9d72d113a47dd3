import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { ClosedError, InferenceError, ModelLoadError } from './errors.js';
import type { ModelSignature, TensorData } from './tensor.js';
import { startModuleWorker } from './worker-entry.js';
import type { SessionSettings } from './session-options.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

export interface SessionPoolOptions {
  /**
   * Worker threads; each opens its own session of every model and runs one batch at a time.
   * @default 1 — one session per model in memory and the shortest latency for a lone batch. For throughput more
   * can be faster: the embedding service runs two (each with half the cores), which on the 2-core reference VM beat
   * one worker with both in 8 of 10 paired repeats (tools/bench/embedding/README.md)
   */
  workers?: number;
  /**
   * Threads ONNX Runtime uses inside one operator, per worker.
   * @default max(1, floor(availableParallelism() / workers))
   */
  intraOpThreads?: number;
  /** @default 1 — models run with the sequential executor */
  interOpThreads?: number;
  /** @default 'all' */
  graphOptimizationLevel?: SessionSettings['graphOptimizationLevel'];
  /**
   * Let idle intra-op threads spin briefly for work instead of sleeping at once. On the 2-core reference machine
   * the embedding service, its decoding threads sharing the cores, was faster with it in 6 of 8 paired repeats
   * over two A/B runs (off / on median 0.906; tools/bench/results/embedding-spin-ab*.json) and turns it on.
   * @default false — spinning threads take cycles from whatever else shares the cores, so each caller chooses
   */
  allowSpinning?: boolean;
}

/** @internal Options with every default filled in. */
export function addSessionPoolDefaults(options: SessionPoolOptions = {}): Required<SessionPoolOptions> {
  const workers = Math.max(1, options.workers ?? 1);
  return {
    workers,
    intraOpThreads: options.intraOpThreads ?? Math.max(1, Math.floor(availableParallelism() / workers)),
    interOpThreads: options.interOpThreads ?? 1,
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    allowSpinning: options.allowSpinning ?? false,
  };
}

interface Pending {
  resolve(outputs: Record<string, TensorData>): void;
  reject(err: Error): void;
  model: string;
}

interface Slot {
  worker: Worker;
  busy: boolean;
}

/**
 * ONNX Runtime sessions in worker threads. Sessions are created once when the pool starts and released when it
 * closes; `run` sends one ready-made batch to an idle worker (or waits for one) and never blocks the caller's
 * event loop. Batching across callers is the job of `DynamicBatcher`, on top.
 */
export class SessionPool {
  private readonly waiting: Array<() => void> = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly slots: Slot[],
    readonly signatures: Readonly<Record<string, ModelSignature>>,
    readonly options: Required<SessionPoolOptions>,
  ) {
    for (const slot of slots) {
      slot.worker.on('message', (m: FromWorker) => this.onMessage(m));
      slot.worker.on('error', (err) => this.failAll(new InferenceError('worker', err.message, { cause: err })));
    }
  }

  /** Open every model (name → .onnx path) in every worker; rejects with ModelLoadError if one fails. */
  static async open(models: Record<string, string>, options?: SessionPoolOptions): Promise<SessionPool> {
    const opts = addSessionPoolDefaults(options);
    const init: WorkerInit = {
      models,
      settings: {
        intraOpThreads: opts.intraOpThreads,
        interOpThreads: opts.interOpThreads,
        graphOptimizationLevel: opts.graphOptimizationLevel,
        allowSpinning: opts.allowSpinning,
      },
    };
    const workers = Array.from({ length: opts.workers }, () => startModuleWorker(import.meta.url, 'session-worker', { workerData: init }));
    try {
      const ready = await Promise.all(workers.map((w) => waitReady(w)));
      return new SessionPool(
        workers.map((worker) => ({ worker, busy: false })),
        ready[0]!,
        opts,
      );
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
  }

  /** Names of the loaded models. */
  get models(): string[] {
    return Object.keys(this.signatures);
  }

  /**
   * Run one batch on the first idle worker. `feeds` buffers are transferred to the worker: the caller must not
   * touch them afterwards. Feeds that view a SharedArrayBuffer are shared instead: the worker reads them in place,
   * and the caller may reuse the memory once the run settles (the embedding engine keeps its batch buffers so,
   * since every buffer that arrives by transfer counts as new memory for V8's garbage collector). Resolves with
   * the requested outputs.
   */
  async run(model: string, feeds: Record<string, TensorData>, outputs: string[]): Promise<Record<string, TensorData>> {
    if (this.closed) throw new ClosedError('the inference session pool');
    if (!this.signatures[model]) throw new InferenceError(model, 'model is not loaded');
    const slot = await this.acquire();
    try {
      const id = this.nextId++;
      const message: ToWorker = { type: 'run', id, model, feeds, outputs };
      // shared buffers cannot be transferred, and a buffer listed twice (two feeds viewing one) neither
      const transfer = [...new Set(Object.values(feeds).map((t) => t.data.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
      return await new Promise<Record<string, TensorData>>((resolve, reject) => {
        this.pending.set(id, { resolve, reject, model });
        slot.worker.postMessage(message, transfer);
      });
    } finally {
      this.release(slot);
    }
  }

  /** Batches running now and batches waiting for a worker. */
  get load(): { running: number; waiting: number } {
    return { running: this.slots.filter((s) => s.busy).length, waiting: this.waiting.length };
  }

  /** Wait for running batches, release every session, stop the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.slots.some((s) => s.busy)) await new Promise<void>((r) => this.waiting.push(r));
    await Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<void>((resolve) => {
            slot.worker.once('exit', () => resolve());
            slot.worker.on('message', (m: FromWorker) => {
              if (m.type === 'closed') void slot.worker.terminate();
            });
            slot.worker.postMessage({ type: 'close' } satisfies ToWorker);
          }),
      ),
    );
  }

  private acquire(): Promise<Slot> {
    const idle = this.slots.find((s) => !s.busy);
    if (idle) {
      idle.busy = true;
      return Promise.resolve(idle);
    }
    return new Promise<Slot>((resolve) => {
      this.waiting.push(() => {
        resolve(this.acquire());
      });
    });
  }

  private release(slot: Slot): void {
    slot.busy = false;
    this.waiting.shift()?.();
  }

  private onMessage(m: FromWorker): void {
    if (m.type !== 'result' && m.type !== 'failed') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.type === 'result') p.resolve(m.outputs);
    else p.reject(new InferenceError(p.model, m.message));
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

function waitReady(worker: Worker): Promise<Record<string, ModelSignature>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromWorker) => {
      if (m.type === 'ready') {
        cleanup();
        resolve(m.signatures);
      } else if (m.type === 'load-failed') {
        cleanup();
        reject(new ModelLoadError(m.model, m.path, m.message));
      }
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new ModelLoadError('*', '*', err.message, { cause: err }));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new ModelLoadError('*', '*', `worker exited with code ${code} while loading`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
