// One contender run of the generation benchmark, in its own process so its peak RSS is its own.
//   node bench-ts.mjs pipeline|raw MODEL_DIR WIDTH HEIGHT STEPS THREADS [WARMUP]
// Prints one JSON line: per-step ms, whole-image ms, peak RSS.
import { resourceUsage } from 'node:process';

const [mode, modelDir, w, h, s, t, wu] = process.argv.slice(2);
const width = Number(w);
const height = Number(h);
const steps = Number(s);
const threads = Number(t);
// Whole generations before the timed one (raw: that many times `steps` session runs), the same for every contender.
const warmup = wu === undefined ? 1 : Number(wu);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
// The mean is the check on the median: progress messages that arrive back to back (the main thread was
// busy) shorten one gap and lengthen the next, which can move a median but never the mean.
const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

if (mode === 'raw') {
  // The floor: onnxruntime-node's UNet session alone (unet/model.onnx; no text encoder, scheduler, guidance,
  // VAE or worker thread), called in this process's main thread with the pipeline's shapes (CFG batch 2) and
  // the same session options. Each call gets input tensors built afresh (random data) before its clock starts;
  // the timed region is the `await session.run(feeds)` alone: N-API input binding, the UNet, the output tensor.
  const ort = (await import('onnxruntime-node')).default;
  const session = await ort.InferenceSession.create(`${modelDir}/unet/model.onnx`, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // As @select/inference's SessionPool sets it, so the comparison is of everything around the session.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const hidden = session.inputMetadata.find((m) => m.name === 'encoder_hidden_states').shape.at(-1);
  const latent = 4 * (height / 8) * (width / 8);
  const feeds = () => ({
    sample: new ort.Tensor('float32', new Float32Array(2 * latent).map(() => Math.random()), [2, 4, height / 8, width / 8]),
    timestep: new ort.Tensor('float32', Float32Array.of(500), []),
    encoder_hidden_states: new ort.Tensor('float32', new Float32Array(2 * 77 * hidden).map(() => Math.random() - 0.5), [2, 77, hidden]),
  });
  // Warm-up as long as the measured runs (`warmup` generations' worth): the first run allocates the arena.
  for (let i = 0; i < warmup * steps; i++) await session.run(feeds());
  const times = [];
  for (let i = 0; i < steps; i++) {
    const f = feeds();
    const t0 = performance.now();
    await session.run(f);
    times.push(performance.now() - t0);
  }
  console.log(JSON.stringify({ stepMs: median(times), stepMeanMs: mean(times), stepsMs: times, peakRssMiB: resourceUsage().maxRSS / 1024 }));
} else {
  const { StableDiffusionPipeline } = await import('@select/diffusion');
  const pipeline = await StableDiffusionPipeline.load(modelDir, { intraOpThreads: threads });
  const request = { mode: 'text-to-image', prompt: 'A photo of a tench', width, height, guidanceScale: 7.5, scheduler: 'unipc', seeds: [1n] };
  // Warm-up: `warmup` whole generations of the same request, as every contender gets. Besides ONNX Runtime's
  // arena they let V8 optimise the scheduler and guidance loops, which run interpreted at first and reach
  // V8's optimising tier only after some tens of steps (a cold first image is slower; a service generates thousands).
  for (let i = 0; i < warmup; i++) await pipeline.generateAll({ ...request, steps });
  const marks = [];
  const t0 = performance.now();
  let wholeMs = 0;
  for await (const event of pipeline.generate({ ...request, steps })) {
    if (event.type === 'progress') marks.push(performance.now());
    if (event.type === 'image') wholeMs = performance.now() - t0;
  }
  // Step k's time is the gap between progress events k-1 and k; step 1 also carries text encoding.
  const stepTimes = marks.slice(1).map((m, i) => m - marks[i]);
  await pipeline.dispose();
  const stepMs = median(stepTimes.length > 0 ? stepTimes : [marks[0] - t0]);
  // head: prompt encoding (first progress minus one step); tail: VAE decode + PNG encode.
  const phases = { headMs: marks[0] - t0 - stepMs, tailMs: t0 + wholeMs - marks.at(-1) };
  console.log(JSON.stringify({ stepMs, stepMeanMs: mean(stepTimes), stepsMs: stepTimes, wholeMs, ...phases, peakRssMiB: resourceUsage().maxRSS / 1024 }));
}
