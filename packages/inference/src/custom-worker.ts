// The main-thread side of a custom worker: a worker thread in which @select/inference opens the ONNX Runtime
// sessions (with the pool's session options) and then hands them to the caller's own loop module, for work
// that must run many model calls without a main-thread round trip each (a diffusion denoising loop). The
// loop module never imports the runtime: it gets sessions that take and give TensorData.
import type { Worker } from 'node:worker_threads';
import { ModelLoadError } from './errors.js';
import type { SessionSettings } from './session-options.js';
import type { ModelSignature } from './tensor.js';
import { resolveWorkerModule, startModuleWorker } from './worker-entry.js';

export interface CustomWorkerOptions<Data> {
  /** `import.meta.url` of the module next to the loop module. */
  base: string;
  /** The loop module's name without extension (`.js` when built, `.ts` from sources); its default export is a `CustomWorkerLoop`. */
  loop: string;
  /** Session name → path of its .onnx file; opened in this order before the loop starts. */
  models: Readonly<Record<string, string>>;
  /** Options of every session (see `ortSessionOptions`). */
  settings: SessionSettings;
  /** Handed to the loop as `context.data` (structured-cloned). */
  data: Data;
}

/** A started custom worker: its sessions are open and the loop is running. */
export interface CustomWorker {
  worker: Worker;
  /** Inputs and outputs of every session, by name. */
  signatures: Readonly<Record<string, ModelSignature>>;
}

/** Internal handshake of the custom worker entry; the loop's own messages follow it on the same port. */
export type CustomWorkerHandshake =
  | { type: 'custom-worker-ready'; signatures: Record<string, ModelSignature> }
  | { type: 'custom-worker-load-failed'; model: string; path: string; message: string };

export interface CustomWorkerInit<Data> {
  /** URL of the loop module. */
  loop: string;
  models: Record<string, string>;
  settings: SessionSettings;
  data: Data;
}

/**
 * Starts a worker thread that opens `models` with `settings`, then imports the loop module and runs its
 * default export with the sessions. Resolves once the sessions are open (the loop's first messages may already
 * be on their way); rejects with ModelLoadError naming the model that failed to open, after stopping the worker.
 */
export async function startCustomWorker<Data>(options: CustomWorkerOptions<Data>): Promise<CustomWorker> {
  const loop = resolveWorkerModule(options.base, options.loop);
  const init: CustomWorkerInit<Data> = { loop: loop.href, models: { ...options.models }, settings: options.settings, data: options.data };
  // A loop running from TypeScript sources needs tsx in the worker even when this package is built.
  const worker = startModuleWorker(import.meta.url, 'custom-worker-thread', { workerData: init }, { viaTsx: loop.typescript });
  const handlers: { message?: (m: CustomWorkerHandshake) => void; error?: (err: Error) => void; exit?: (code: number) => void } = {};
  try {
    const signatures = await new Promise<Record<string, ModelSignature>>((resolve, reject) => {
      handlers.message = (m) => {
        if (m.type === 'custom-worker-ready') resolve(m.signatures);
        else if (m.type === 'custom-worker-load-failed') reject(new ModelLoadError(m.model, m.path, m.message));
      };
      handlers.error = (cause) => reject(new ModelLoadError(Object.keys(options.models).join(', '), options.loop, `the worker failed to start: ${cause.message}`, { cause }));
      handlers.exit = (code) => reject(new ModelLoadError(Object.keys(options.models).join(', '), options.loop, `the worker exited with code ${code} while loading`));
      worker.on('message', handlers.message);
      worker.on('error', handlers.error);
      worker.on('exit', handlers.exit);
    });
    return { worker, signatures };
  } catch (err) {
    await worker.terminate();
    throw err;
  } finally {
    if (handlers.message) worker.off('message', handlers.message);
    if (handlers.error) worker.off('error', handlers.error);
    if (handlers.exit) worker.off('exit', handlers.exit);
  }
}
