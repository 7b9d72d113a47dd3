import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '@select/inference';
import sharp from 'sharp';
import { addDecodeDefaults } from './decode.js';
import { ImageDecodeError, PreprocessPoolError, PreprocessQueueFullError } from './errors.js';
import { tensorLength, type ImagePreprocessing, type PreprocessedImage, type PreprocessMode } from './preprocess.js';
import type { PreprocessReply, PreprocessRequest, PreprocessWorkerInit } from './preprocess-protocol.js';

export interface PreprocessPoolOptions {
  /**
   * Preprocessing threads.
   * @default availableParallelism() — decoding and resizing share the cores with inference; on the 2-core
   * reference machine two threads kept the inference worker fed (tools/bench/embedding/README.md)
   */
  threads?: number;
  /**
   * Images accepted and not yet answered (waiting or on a thread) past which `preprocess` refuses more.
   * @default 256
   */
  maxPending?: number;
  /**
   * Images one thread works on at once: one decoding on libuv's pool while another is resized keeps a thread
   * busy; more only oversubscribes the cores that inference needs.
   * @default 2
   */
  perThread?: number;
  /** Largest accepted image, in pixels. @default 40_000_000 */
  maxPixels?: number;
  /**
   * `'exact'`: Pillow's pixels, bit for bit; `'fast'`: JPEGs decoded with libjpeg-turbo's DCT scaling to the
   * smallest size that covers the resize, then resampled exactly (not Pillow's pixels; see the README).
   * @default 'exact'
   */
  mode?: PreprocessMode;
  /**
   * `'auto'`: the native addon for the JPEGs it takes, sharp for the rest; `'sharp'`: sharp for everything.
   * @default 'auto'
   */
  decoder?: 'auto' | 'sharp';
  /**
   * Scheduling niceness of the preprocessing threads (Linux `nice`, 0–19; other platforms ignore it): above 0,
   * threads at the default priority on the same cores — inference's — go first, and preprocessing takes the time
   * they leave. 0 leaves the threads at the process's priority.
   * @default 0
   */
  niceness?: number;
  /**
   * Tensors in SharedArrayBuffers: the threads write into memory the caller's thread sees, so nothing is
   * transferred back. V8 counts every buffer that arrives by transfer as newly allocated memory (~600 KB per 224²
   * image), and at full load that made it mark the whole heap about once a second; a shared buffer sent again
   * costs nothing. Worth it with `recycle`, which gives the buffers back for later images. Such a tensor cannot be
   * transferred onwards (copy it, or send it shared).
   * @default false
   */
  sharedTensors?: boolean;
}

/** @internal Options with every default filled in. */
export function addPreprocessPoolDefaults(options: PreprocessPoolOptions = {}): Required<PreprocessPoolOptions> {
  return {
    threads: Math.max(1, options.threads ?? availableParallelism()),
    maxPending: options.maxPending ?? 256,
    perThread: Math.max(1, options.perThread ?? 2),
    maxPixels: addDecodeDefaults({ maxPixels: options.maxPixels }).maxPixels,
    mode: options.mode ?? 'exact',
    decoder: options.decoder ?? 'auto',
    niceness: Math.min(19, Math.max(0, Math.floor(options.niceness ?? 0))),
    sharedTensors: options.sharedTensors ?? false,
  };
}

interface Thread {
  worker: Worker;
  inFlight: number;
}

interface Pending {
  resolve(value: PreprocessedImage): void;
  reject(err: Error): void;
  thread: Thread | null;
  request: PreprocessRequest;
}

/** Recycled tensor buffers a pool keeps at most, all sizes together (64 of 224² are ~38 MB). */
export const MAX_SPARE_TENSORS = 64;

/**
 * Decode + preprocess images on worker threads, least-loaded thread first. Bytes are copied once into the
 * message (the caller's buffer may be a slice of a larger one); tensors come back by transfer, or with
 * `sharedTensors` in shared memory that `recycle` gives back to be written into again.
 */
export class PreprocessPool {
  private readonly threads: Thread[];
  private readonly pending = new Map<number, Pending>();
  private readonly waiting: Pending[] = [];
  /** Recycled shared tensor buffers by length, MAX_SPARE_TENSORS at most. */
  private readonly spares = new Map<number, Float32Array[]>();
  private spareCount = 0;
  private nextId = 1;
  private closed = false;
  readonly options: Required<PreprocessPoolOptions>;

  constructor(options?: PreprocessPoolOptions) {
    this.options = addPreprocessPoolDefaults(options);
    // sharp must be loaded by the main thread before any worker loads it (libvips initialises once per process)
    void sharp.versions;
    const init: PreprocessWorkerInit = { maxPixels: this.options.maxPixels, mode: this.options.mode, decoder: this.options.decoder, niceness: this.options.niceness };
    this.threads = Array.from({ length: this.options.threads }, () => {
      const thread: Thread = { worker: startModuleWorker(import.meta.url, 'preprocess-worker', { workerData: init }), inFlight: 0 };
      thread.worker.on('message', (reply: PreprocessReply) => this.onReply(reply));
      thread.worker.on('error', (err) => this.failThread(thread, err));
      return thread;
    });
  }

  /** Images being preprocessed now. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Decode and preprocess one encoded image; rejects with ImageDecodeError for bad images. */
  preprocess(bytes: Uint8Array, spec: ImagePreprocessing): Promise<PreprocessedImage> {
    if (this.closed) return Promise.reject(new PreprocessPoolError('the image preprocessing pool is shut down'));
    if (this.pending.size >= this.options.maxPending) return Promise.reject(new PreprocessQueueFullError(this.options.maxPending));
    const id = this.nextId++;
    // a fresh buffer: Buffer#slice shares memory, and transferring would detach the caller's bytes
    const request: PreprocessRequest = { id, bytes: new Uint8Array(bytes), spec };
    return new Promise<PreprocessedImage>((resolve, reject) => {
      const p: Pending = { resolve, reject, thread: null, request };
      this.pending.set(id, p);
      this.waiting.push(p);
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      const thread = this.threads.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
      if (thread.inFlight >= this.options.perThread) return;
      const p = this.waiting.shift()!;
      p.thread = thread;
      thread.inFlight++;
      // a shared tensor buffer is sent along, not transferred: the thread writes into memory this thread sees
      const into = this.tensorFor(p.request.spec);
      thread.worker.postMessage(into ? { ...p.request, into } : p.request, [p.request.bytes.buffer as ArrayBuffer]);
    }
  }

  /**
   * With `sharedTensors`, give back a tensor this pool returned, once nothing reads it any more: a later image of
   * the same size is written into it instead of into a new buffer (an image of 224² is 600 KB). The pool keeps
   * MAX_SPARE_TENSORS at most and ignores what it cannot reuse whole (a view into a larger buffer, one not in
   * shared memory); without `sharedTensors` it keeps nothing, since a transferred buffer counts as new memory anyway.
   */
  recycle(tensor: Float32Array): void {
    if (this.closed || !this.options.sharedTensors || this.spareCount >= MAX_SPARE_TENSORS) return;
    const buffer = tensor.buffer;
    if (!(buffer instanceof SharedArrayBuffer) || tensor.byteOffset !== 0 || tensor.byteLength !== buffer.byteLength || tensor.length === 0) return;
    const list = this.spares.get(tensor.length);
    if (list?.includes(tensor)) return;
    if (list) list.push(tensor);
    else this.spares.set(tensor.length, [tensor]);
    this.spareCount++;
  }

  /** Recycled tensors held now (for tests and metrics). */
  get spareTensors(): number {
    return this.spareCount;
  }

  /** With `sharedTensors`, the shared buffer an image's tensor is written into: a spare or a new one; else none. */
  private tensorFor(spec: ImagePreprocessing): Float32Array | undefined {
    if (!this.options.sharedTensors) return undefined;
    let length: number;
    try {
      length = tensorLength(spec);
    } catch {
      return undefined; // a bad spec fails in the worker, with its own message
    }
    const spare = this.spares.get(length)?.pop();
    if (spare) {
      this.spareCount--;
      return spare;
    }
    return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
  }

  /** Stop the threads once in-flight images are answered. */
  async close(): Promise<void> {
    this.closed = true;
    this.spares.clear();
    this.spareCount = 0;
    while (this.pending.size > 0) await new Promise((r) => setTimeout(r, 5));
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  private onReply(reply: PreprocessReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    p.thread!.inFlight--;
    if (!reply.ok && reply.spare) this.recycle(reply.spare);
    this.dispatch();
    if (reply.ok) p.resolve({ tensor: reply.tensor, source: reply.source, pipeline: reply.pipeline });
    else if (reply.reason) p.reject(new ImageDecodeError(reply.reason, reply.message));
    else p.reject(new PreprocessPoolError(`image preprocessing failed: ${reply.message}`));
  }

  private failThread(thread: Thread, err: Error): void {
    for (const [id, p] of this.pending) {
      if (p.thread !== thread) continue;
      this.pending.delete(id);
      p.reject(new PreprocessPoolError(`a preprocessing thread died: ${err.message}`, { cause: err }));
    }
    thread.inFlight = 0;
  }
}
