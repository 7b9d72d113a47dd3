// A custom worker's thread (see custom-worker.ts): opens the sessions with the pool's session options, wraps
// them as WorkerSessions and runs the caller's loop module. Besides session-worker.ts, the only module that
// imports onnxruntime-node.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { CustomWorkerHandshake, CustomWorkerInit } from './custom-worker.js';
import type { CustomWorkerLoop, WorkerSession } from './custom-worker-loop.js';
import { ortSessionOptions, signatureOf } from './session-options.js';
import type { ModelSignature, TensorArray, TensorData, TensorType } from './tensor.js';

const port = parentPort;
if (!port) throw new Error('custom-worker-thread must run as a worker thread');
const init = workerData as CustomWorkerInit<unknown>;

function wrap(session: ort.InferenceSession): WorkerSession {
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    signature: signatureOf(session),
    async run(feeds, outputs) {
      const tensors: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.type, t.data, t.dims);
      const results = await session.run(tensors, [...outputs]);
      const out: Record<string, TensorData> = {};
      for (const name of outputs) {
        const tensor = results[name]!;
        out[name] = { type: tensor.type as TensorType, data: tensor.data as TensorArray, dims: [...tensor.dims] };
      }
      return out;
    },
  };
}

async function main(): Promise<void> {
  const opened = new Map<string, ort.InferenceSession>();
  const signatures: Record<string, ModelSignature> = {};
  for (const [name, path] of Object.entries(init.models)) {
    try {
      const session = await ort.InferenceSession.create(path, ortSessionOptions(init.settings));
      opened.set(name, session);
      signatures[name] = signatureOf(session);
    } catch (err) {
      for (const session of opened.values()) await session.release();
      const failed: CustomWorkerHandshake = { type: 'custom-worker-load-failed', model: name, path, message: (err as Error).message };
      port!.postMessage(failed);
      return;
    }
  }
  let loop: CustomWorkerLoop<unknown>;
  try {
    loop = ((await import(init.loop)) as { default: CustomWorkerLoop<unknown> }).default;
    if (typeof loop !== 'function') throw new Error('its default export is not a function');
  } catch (err) {
    for (const session of opened.values()) await session.release();
    const failed: CustomWorkerHandshake = { type: 'custom-worker-load-failed', model: 'loop module', path: init.loop, message: (err as Error).message };
    port!.postMessage(failed);
    return;
  }
  const ready: CustomWorkerHandshake = { type: 'custom-worker-ready', signatures };
  port!.postMessage(ready);
  const sessions = new Map([...opened].map(([name, session]) => [name, wrap(session)] as const));
  await loop({
    port: port!,
    data: init.data,
    sessions,
    async release() {
      for (const session of opened.values()) await session.release();
      opened.clear();
    },
  });
}

void main();
