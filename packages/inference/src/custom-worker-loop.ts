// What a custom worker's loop module sees (see custom-worker.ts). Types only: the loop imports nothing of the
// runtime; @select/inference's worker entry wraps its sessions in this interface.
import type { MessagePort } from 'node:worker_threads';
import type { ModelSignature, TensorData } from './tensor.js';

/** One open ONNX Runtime session inside a custom worker. */
export interface WorkerSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly signature: ModelSignature;
  /**
   * Runs the model on `feeds` (their arrays are read in place, not copied, so a loop may refill the same
   * arrays every step) and returns the requested outputs; their arrays belong to the caller and may be
   * transferred. Computes synchronously on this worker's thread.
   */
  run(feeds: Readonly<Record<string, TensorData>>, outputs: readonly string[]): Promise<Record<string, TensorData>>;
}

export interface CustomWorkerContext<Data> {
  /** The port to the thread that started the worker (the loop's own protocol). */
  port: MessagePort;
  data: Data;
  sessions: ReadonlyMap<string, WorkerSession>;
  /** Releases every session; call before closing the port. */
  release(): Promise<void>;
}

/** The default export of a loop module: called once, after every session opened. */
export type CustomWorkerLoop<Data> = (context: CustomWorkerContext<Data>) => void | Promise<void>;
