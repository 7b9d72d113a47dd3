import type { Worker } from 'node:worker_threads';
import { ModelLoadError as InferenceModelLoadError, startCustomWorker, type ModelSignature, type TensorData } from '@select/inference';
import { GenerationFailedError, ModelLoadError } from './errors.js';
import type { Component, DenoiseJob, DenoiseStep, FromPipelineWorker, PipelineWorkerInit, ToPipelineWorker } from './pipeline-worker-protocol.js';

type Listener = (message: FromPipelineWorker) => void;

/** What `denoise` yields: every step as the worker finishes it, then the decoded image. */
export type DenoiseEvent = DenoiseStep | { type: 'decoded'; image: Float32Array };

/**
 * The main-thread side of a pipeline's worker thread (pipeline-worker-thread.ts). A one-off component
 * run is one message each way; a whole image is one message out and a stream of step messages back,
 * so a denoising step never waits for the main thread. Jobs sent while another runs interleave with
 * it step by step (each UNet call yields the worker's event loop).
 */
export class PipelineWorker {
  private readonly listeners = new Map<number, Listener>();
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    readonly signatures: Readonly<Partial<Record<Component, ModelSignature>>>,
  ) {
    worker.on('message', (m: FromPipelineWorker) => {
      if ('id' in m) this.listeners.get(m.id)?.(m);
    });
    const failAll = (message: string) => {
      for (const [id, listener] of this.listeners) listener({ type: 'failed', id, message });
    };
    worker.on('error', (err) => failAll(`the pipeline worker crashed: ${err.message}`));
    worker.on('exit', (code) => {
      if (!this.closed) failAll(`the pipeline worker exited with code ${code}`);
    });
  }

  /** Starts the worker and opens every component's session in it; ModelLoadError if one fails. */
  static async open(init: PipelineWorkerInit): Promise<PipelineWorker> {
    try {
      const { worker, signatures } = await startCustomWorker({
        base: import.meta.url,
        loop: 'pipeline-worker-thread',
        models: init.models as Record<string, string>,
        // Pinned and sequential: the partition of reductions across threads changes float rounding, and a
        // fixed count is what keeps images bit-identical across runs and restarts.
        settings: { intraOpThreads: init.intraOpThreads, interOpThreads: 1, graphOptimizationLevel: 'all', allowSpinning: false },
        data: undefined,
      });
      return new PipelineWorker(worker, signatures as Partial<Record<Component, ModelSignature>>);
    } catch (cause) {
      if (cause instanceof InferenceModelLoadError) throw new ModelLoadError(cause.message, { cause });
      throw new ModelLoadError(`the pipeline worker failed to start: ${(cause as Error).message}`, { cause });
    }
  }

  /** Runs one component once; `feeds`' buffers are transferred (the caller must not reuse them). */
  run(component: Component, feeds: Record<string, TensorData>, preferredOutput: string): Promise<TensorData> {
    const id = this.nextId++;
    return new Promise<TensorData>((resolve, reject) => {
      this.listeners.set(id, (m) => {
        this.listeners.delete(id);
        if (m.type === 'result') resolve(m.output);
        else if (m.type === 'failed') reject(new GenerationFailedError(`${component}: ${m.message}`));
      });
      this.post(
        { type: 'run', id, component, feeds, output: preferredOutput },
        Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer),
      );
    });
  }

  /**
   * Runs one image's denoising loop and VAE decode in the worker. The job's arrays are transferred.
   * An abort sets a flag the loop reads before every UNet call; the generator then waits for the worker
   * to leave the loop (at most one step) and throws the signal's reason. `onStep` sees every step the
   * worker ran, including those finished after the abort and never yielded.
   */
  async *denoise(job: DenoiseJob, options: { signal?: AbortSignal; onStep?: (step: DenoiseStep) => void } = {}): AsyncGenerator<DenoiseEvent> {
    const { signal, onStep } = options;
    signal?.throwIfAborted();
    const id = this.nextId++;
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const inbox: FromPipelineWorker[] = [];
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    const onAbort = () => {
      Atomics.store(cancel, 0, 1);
      notify();
    };
    this.listeners.set(id, (m) => {
      inbox.push(m);
      notify();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    const transfer = [job.conditioning.data, job.initLatents, job.initialNoise, ...(job.stepNoise ?? [])]
      .filter((a) => a !== undefined)
      .map((a) => a.buffer as ArrayBuffer);
    try {
      this.post({ type: 'denoise', id, job, cancel }, [...new Set(transfer)]);
      for (;;) {
        const m = inbox.shift();
        if (m === undefined) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        if (m.type === 'step') {
          onStep?.(m);
          if (!signal?.aborted) yield m;
        } else if (m.type === 'decoded') {
          signal?.throwIfAborted();
          yield { type: 'decoded', image: m.image };
          return;
        } else if (m.type === 'cancelled') {
          throw signal?.reason ?? new GenerationFailedError('the denoising loop was cancelled');
        } else if (m.type === 'failed') {
          throw new GenerationFailedError(`denoising failed: ${m.message}`);
        }
      }
    } finally {
      // Also when the consumer stops early (generator return): the loop stops before its next step.
      Atomics.store(cancel, 0, 1);
      signal?.removeEventListener('abort', onAbort);
      this.listeners.delete(id);
    }
  }

  /** Releases the sessions and stops the worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      this.worker.on('message', (m: FromPipelineWorker) => {
        if (m.type === 'closed') void this.worker.terminate();
      });
      this.post({ type: 'close' });
    });
  }

  private post(message: ToPipelineWorker, transfer: ArrayBuffer[] = []): void {
    if (this.closed && message.type !== 'close') throw new GenerationFailedError('the pipeline is disposed');
    this.worker.postMessage(message, transfer);
  }
}
