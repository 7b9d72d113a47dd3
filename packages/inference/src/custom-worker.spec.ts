import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startCustomWorker, type CustomWorker } from './custom-worker.js';
import { ModelLoadError } from './errors.js';
import { SessionPool } from './session-pool.js';
import { float32 } from './tensor.js';

const MODELS = fileURLToPath(new URL('../../../tools/fixtures/embedding/models/', import.meta.url));
const RESNET = `${MODELS}tiny-resnet/model.onnx`;
const SETTINGS = { intraOpThreads: 1, interOpThreads: 1, graphOptimizationLevel: 'all' as const, allowSpinning: false };

function ask(worker: CustomWorker, message: object): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    worker.worker.once('message', (m: Record<string, unknown>) => resolve(m));
    worker.worker.postMessage(message);
  });
}

describe('startCustomWorker', () => {
  const started: CustomWorker[] = [];
  afterAll(async () => {
    for (const w of started) await w.worker.terminate();
  });

  it('runs a loop module over the sessions it opened, with the data it was given', async () => {
    const worker = await startCustomWorker({ base: import.meta.url, loop: 'custom-worker-loop.test-util', models: { resnet: RESNET }, settings: SETTINGS, data: { greeting: 'hi' } });
    started.push(worker);
    expect(worker.signatures['resnet']?.outputs[0]).toMatchObject({ name: 'features', shape: ['batch', 256] });

    const input = new Float32Array(3 * 224 * 224).fill(0.25);
    const once = await ask(worker, { type: 'loop', model: 'resnet', input: input.slice(), dims: [1, 3, 224, 224], times: 1 });
    expect(once).toMatchObject({ type: 'done', greeting: 'hi', runs: 1 });
    expect(once['signature']).toEqual(worker.signatures['resnet']);

    // The same session options as the pool: the same input gives the same bits.
    const pool = await SessionPool.open({ resnet: RESNET }, { workers: 1, intraOpThreads: 1 });
    try {
      const reference = await pool.run('resnet', { pixel_values: float32(input.slice(), [1, 3, 224, 224]) }, ['features']);
      expect(Array.from(once['output'] as Float32Array)).toEqual(Array.from(reference['features']!.data as Float32Array));
    } finally {
      await pool.close();
    }

    // Three runs chained inside the worker differ from one.
    const thrice = await ask(worker, { type: 'loop', model: 'resnet', input: input.slice(), dims: [1, 3, 224, 224], times: 3 });
    expect(thrice['runs']).toBe(3);
    expect(Array.from(thrice['output'] as Float32Array)).not.toEqual(Array.from(once['output'] as Float32Array));

    expect(await ask(worker, { type: 'close' })).toEqual({ type: 'closed' });
  });

  it('names the model that failed to open, and stops the worker', async () => {
    const attempt = startCustomWorker({
      base: import.meta.url,
      loop: 'custom-worker-loop.test-util',
      models: { resnet: RESNET, broken: `${MODELS}tiny-resnet/config.json` },
      settings: SETTINGS,
      data: { greeting: 'hi' },
    });
    await expect(attempt).rejects.toBeInstanceOf(ModelLoadError);
    await expect(attempt).rejects.toMatchObject({ model: 'broken', message: expect.stringContaining('tiny-resnet/config.json') });
  });

  it('refuses a loop module that does not exist', async () => {
    await expect(startCustomWorker({ base: import.meta.url, loop: 'no-such-loop', models: { resnet: RESNET }, settings: SETTINGS, data: {} })).rejects.toMatchObject({
      name: 'ModelLoadError',
      model: 'loop module',
    });
  });
});
