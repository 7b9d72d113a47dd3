// The pipeline's worker thread: opens one ONNX Runtime session per component and runs whole denoising
// loops (UNet + classifier-free guidance + scheduler step, then the VAE decode) without a round trip to
// the main thread per step. The only module of this package that imports onnxruntime-node, whose
// session.run() computes synchronously: here it blocks this thread, never the service's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { signatureOf, type ModelSignature, type TensorArray, type TensorData, type TensorType } from '@select/inference';
import { createScheduler } from './create-scheduler.js';
import { gaussianNoise } from './philox-random.js';
import type { Component, DenoiseJob, FromPipelineWorker, PipelineWorkerInit, ToPipelineWorker } from './pipeline-worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('pipeline-worker-thread must run as a worker thread');
const { models, intraOpThreads } = workerData as PipelineWorkerInit;
const sessions = new Map<Component, ort.InferenceSession>();

function post(message: FromPipelineWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

async function open(): Promise<void> {
  const signatures: Partial<Record<Component, ModelSignature>> = {};
  for (const [component, path] of Object.entries(models) as [Component, string][]) {
    try {
      const session = await ort.InferenceSession.create(path, {
        // Pinned and sequential: the partition of reductions across threads changes float rounding,
        // and a fixed count is what keeps images bit-identical across runs and restarts.
        intraOpNumThreads: intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      });
      sessions.set(component, session);
      signatures[component] = signatureOf(session);
    } catch (err) {
      post({ type: 'load-failed', component, message: (err as Error).message });
      return;
    }
  }
  post({ type: 'ready', signatures });
}

function outputName(session: ort.InferenceSession, preferred: string): string {
  return session.outputNames.includes(preferred) ? preferred : session.outputNames[0]!;
}

async function runOnce(message: Extract<ToPipelineWorker, { type: 'run' }>): Promise<void> {
  const session = sessions.get(message.component)!;
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(message.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  const name = outputName(session, message.output);
  const tensor = (await session.run(feeds, [name]))[name]!;
  const output: TensorData = { type: tensor.type as TensorType, data: tensor.data as TensorArray, dims: [...tensor.dims] };
  post({ type: 'result', id: message.id, output }, [output.data.buffer as ArrayBuffer]);
}

/**
 * One image: noise → denoising loop → VAE decode. The UNet's input and conditioning tensors are made
 * once and refilled in place each step; progress goes out as messages the loop never waits on.
 */
async function denoise(id: number, job: DenoiseJob, cancel: Int32Array): Promise<void> {
  const unet = sessions.get('unet')!;
  const scheduler = createScheduler(job.scheduler, job.schedulerConfig, job.steps, { eta: job.eta });
  const n = scheduler.timesteps.length;
  const shape = job.latentShape;
  const size = shape.reduce((a, b) => a * b, 1);
  const noise = job.initialNoise ?? gaussianNoise(job.seed, 0, size);
  let start = 0;
  let latents: Float32Array;
  if (job.initLatents) {
    // diffusers' get_timesteps: skip the first (1 − strength) of the schedule.
    start = n - Math.min(Math.floor(n * job.strength), n);
    latents = scheduler.addNoise(job.initLatents, noise, start);
  } else {
    latents = noise.map((x) => x * scheduler.initNoiseSigma);
  }

  const guidance = job.guidanceScale;
  const batch = guidance === undefined ? 1 : 2;
  const sample = new Float32Array(batch * size);
  const timestepInput = unet.inputMetadata.find((m) => m.name === 'timestep');
  const timestepDims = timestepInput?.isTensor && timestepInput.shape.length > 0 ? [1] : [];
  // optimum casts the scheduler's (possibly fractional) timestep to the input's dtype: truncation for int64.
  const int64Timestep = timestepInput?.isTensor === true && timestepInput.type === 'int64';
  const timestep = int64Timestep ? new ort.Tensor('int64', new BigInt64Array(1), timestepDims) : new ort.Tensor('float32', new Float32Array(1), timestepDims);
  const c = job.conditioning;
  const feeds = {
    sample: new ort.Tensor('float32', sample, [batch, ...shape.slice(1)]),
    timestep,
    encoder_hidden_states: new ort.Tensor(c.type, c.data, c.dims),
  };
  const output = outputName(unet, 'out_sample');
  const guided = new Float32Array(size);

  for (let i = start; i < n; i++) {
    if (Atomics.load(cancel, 0) !== 0) {
      post({ type: 'cancelled', id, stepsRun: i - start });
      return;
    }
    const input = scheduler.scaleModelInput(latents, i);
    sample.set(input);
    if (batch === 2) sample.set(input, size);
    const t = scheduler.timesteps[i]!;
    if (int64Timestep) (timestep.data as BigInt64Array)[0] = BigInt(Math.trunc(t));
    else (timestep.data as Float32Array)[0] = t;
    const prediction = (await unet.run(feeds, [output]))[output]!.data as Float32Array;
    let modelOutput = prediction;
    if (guidance !== undefined) {
      for (let k = 0; k < size; k++) {
        const u = prediction[k]!;
        guided[k] = u + guidance * (prediction[size + k]! - u);
      }
      modelOutput = guided;
    }
    const stepNoise = scheduler.stochastic ? (job.stepNoise?.[i] ?? gaussianNoise(job.seed, 1 + i, size)) : undefined;
    latents = scheduler.step(modelOutput, i, latents, stepNoise);
    // A copy: the scheduler may keep `latents` for its next step (UniPC's corrector does).
    const report = job.reportLatents ? latents.slice() : undefined;
    post({ type: 'step', id, stepIndex: i, step: i - start + 1, totalSteps: n - start, latents: report }, report ? [report.buffer as ArrayBuffer] : []);
  }
  if (Atomics.load(cancel, 0) !== 0) {
    post({ type: 'cancelled', id, stepsRun: n - start });
    return;
  }
  const decoder = sessions.get('vae_decoder')!;
  const scaled = latents.map((x) => x / job.scalingFactor);
  const decodedName = outputName(decoder, 'sample');
  const decoded = (await decoder.run({ [decoder.inputNames[0]!]: new ort.Tensor('float32', scaled, shape) }, [decodedName]))[decodedName]!;
  const image = decoded.data as Float32Array;
  post({ type: 'decoded', id, image }, [image.buffer as ArrayBuffer]);
}

port.on('message', (message: ToPipelineWorker) => {
  if (message.type === 'close') {
    void (async () => {
      for (const session of sessions.values()) await session.release();
      sessions.clear();
      post({ type: 'closed' });
      port.close();
    })();
    return;
  }
  const work = message.type === 'run' ? runOnce(message) : denoise(message.id, message.job, message.cancel);
  work.catch((err: unknown) => post({ type: 'failed', id: message.id, message: (err as Error).message }));
});

void open();
