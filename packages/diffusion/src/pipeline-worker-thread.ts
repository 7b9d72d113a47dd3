// The pipeline's loop, run inside a custom worker of @select/inference, which opens one ONNX Runtime session
// per component (with the pool's session options) and hands them over: whole denoising loops (UNet +
// classifier-free guidance + scheduler step, then the VAE decode) run here without a round trip to the main
// thread per step. Sessions compute synchronously: they block this thread, never the service's event loop.
import type { MessagePort } from 'node:worker_threads';
import type { CustomWorkerContext, TensorData, WorkerSession } from '@select/inference';
import { createScheduler } from './create-scheduler.js';
import { gaussianNoise } from './philox-random.js';
import type { Component, DenoiseJob, FromPipelineWorker, ToPipelineWorker } from './pipeline-worker-protocol.js';

let port: MessagePort;
let sessions: ReadonlyMap<string, WorkerSession>;

function post(message: FromPipelineWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function session(component: Component): WorkerSession {
  const found = sessions.get(component);
  if (!found) throw new Error(`the ${component} model is not loaded`);
  return found;
}

function outputName(s: WorkerSession, preferred: string): string {
  return s.outputNames.includes(preferred) ? preferred : s.outputNames[0]!;
}

async function runOnce(message: Extract<ToPipelineWorker, { type: 'run' }>): Promise<void> {
  const s = session(message.component);
  const name = outputName(s, message.output);
  const output = (await s.run(message.feeds, [name]))[name]!;
  post({ type: 'result', id: message.id, output }, [output.data.buffer as ArrayBuffer]);
}

/**
 * One image: noise → denoising loop → VAE decode. The UNet's input and conditioning tensors are made
 * once and refilled in place each step; progress goes out as messages the loop never waits on.
 */
async function denoise(id: number, job: DenoiseJob, cancel: Int32Array): Promise<void> {
  const unet = session('unet');
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
  const timestepInput = unet.signature.inputs.find((m) => m.name === 'timestep');
  const timestepIsTensor = timestepInput !== undefined && timestepInput.type !== 'non-tensor';
  const timestepDims = timestepIsTensor && timestepInput.shape.length > 0 ? [1] : [];
  // optimum casts the scheduler's (possibly fractional) timestep to the input's dtype: truncation for int64.
  const int64Timestep = timestepIsTensor && timestepInput.type === 'int64';
  const timestep: TensorData = int64Timestep
    ? { type: 'int64', data: new BigInt64Array(1), dims: timestepDims }
    : { type: 'float32', data: new Float32Array(1), dims: timestepDims };
  // Made once; the loop refills `sample` and the timestep in place every step.
  const feeds: Record<string, TensorData> = {
    sample: { type: 'float32', data: sample, dims: [batch, ...shape.slice(1)] },
    timestep,
    encoder_hidden_states: job.conditioning,
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
  const decoder = session('vae_decoder');
  const scaled = latents.map((x) => x / job.scalingFactor);
  const decodedName = outputName(decoder, 'sample');
  const decoded = (await decoder.run({ [decoder.inputNames[0]!]: { type: 'float32', data: scaled, dims: shape } }, [decodedName]))[decodedName]!;
  const image = decoded.data as Float32Array;
  post({ type: 'decoded', id, image }, [image.buffer as ArrayBuffer]);
}

/** The loop module's entry (see @select/inference's startCustomWorker): serves the pipeline's messages. */
export default function pipelineLoop(context: CustomWorkerContext<undefined>): void {
  port = context.port;
  sessions = context.sessions;
  port.on('message', (message: ToPipelineWorker) => {
    if (message.type === 'close') {
      void (async () => {
        await context.release();
        post({ type: 'closed' });
        port.close();
      })();
      return;
    }
    const work = message.type === 'run' ? runOnce(message) : denoise(message.id, message.job, message.cancel);
    work.catch((err: unknown) => post({ type: 'failed', id: message.id, message: (err as Error).message }));
  });
}
