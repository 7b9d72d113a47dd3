// One worker thread: opens a session per model once, then runs batches sent by the pool. ONNX Runtime's
// Node binding computes synchronously, so this thread blocks while the main thread keeps serving.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { ortSessionOptions, signatureOf } from './session-options.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';
import type { ModelSignature, TensorArray, TensorData, TensorType } from './tensor.js';

const port = parentPort;
if (!port) throw new Error('session-worker must run as a worker thread');
const { models, settings } = workerData as WorkerInit;
const sessions = new Map<string, ort.InferenceSession>();

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

async function open(): Promise<void> {
  const signatures: Record<string, ModelSignature> = {};
  for (const [name, path] of Object.entries(models)) {
    try {
      const session = await ort.InferenceSession.create(path, ortSessionOptions(settings));
      sessions.set(name, session);
      signatures[name] = signatureOf(session);
    } catch (err) {
      post({ type: 'load-failed', model: name, path, message: (err as Error).message });
      return;
    }
  }
  post({ type: 'ready', signatures });
}

function toOutput(tensor: ort.Tensor): TensorData {
  // copy out of the runtime's buffer so that the copy can be transferred without detaching runtime memory
  const data = (tensor.data as TensorArray).slice();
  return { type: tensor.type as TensorType, data, dims: [...tensor.dims] };
}

/** Per feed name, this thread's own buffer that shared feeds are copied into (grown when a batch needs more). */
const scratch = new Map<string, TensorArray>();

/**
 * The data ONNX Runtime gets for a feed. The Node binding takes only typed arrays over an ArrayBuffer, so a feed
 * in a SharedArrayBuffer (the sender reuses it) is copied into this thread's scratch buffer; others as they are.
 */
function feedData(name: string, t: TensorData): TensorArray {
  if (!(t.data.buffer instanceof SharedArrayBuffer)) return t.data;
  const Ctor = t.data.constructor as new (length: number) => TensorArray;
  let local = scratch.get(name);
  if (!local || local.constructor !== Ctor || local.length < t.data.length) {
    local = new Ctor(t.data.length);
    scratch.set(name, local);
  }
  const view = local.subarray(0, t.data.length) as TensorArray;
  (view as Float32Array).set(t.data as Float32Array);
  return view;
}

async function run(message: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  const session = sessions.get(message.model);
  if (!session) {
    post({ type: 'failed', id: message.id, message: `model ${message.model} is not loaded in this worker` });
    return;
  }
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(message.feeds)) feeds[name] = new ort.Tensor(t.type, feedData(name, t), t.dims);
    const results = await session.run(feeds, message.outputs);
    const outputs: Record<string, TensorData> = {};
    const transfer: ArrayBuffer[] = [];
    for (const name of message.outputs) {
      const out = toOutput(results[name]!);
      outputs[name] = out;
      transfer.push(out.data.buffer as ArrayBuffer);
    }
    post({ type: 'result', id: message.id, outputs }, transfer);
  } catch (err) {
    post({ type: 'failed', id: message.id, message: (err as Error).message });
  }
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'run') {
    void run(message);
    return;
  }
  void (async () => {
    for (const session of sessions.values()) await session.release();
    sessions.clear();
    post({ type: 'closed' });
    port.close();
  })();
});

void open();
