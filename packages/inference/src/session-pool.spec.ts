import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClosedError, InferenceError, ModelLoadError } from './errors.js';
import { SessionPool } from './session-pool.js';
import { float32 } from './tensor.js';

const MODELS = fileURLToPath(new URL('../../../tools/fixtures/embedding/models/', import.meta.url));

describe('SessionPool', () => {
  let pool: SessionPool;
  beforeAll(async () => {
    pool = await SessionPool.open({ resnet: `${MODELS}tiny-resnet/model.onnx` }, { workers: 2, intraOpThreads: 1 });
  });
  afterAll(async () => {
    await pool.close();
  });

  it('reports the graph signature of each model', () => {
    expect(pool.signatures['resnet']?.inputs).toEqual([{ name: 'pixel_values', type: 'float32', shape: ['batch', 3, 224, 224] }]);
    expect(pool.signatures['resnet']?.outputs[0]).toMatchObject({ name: 'features', shape: ['batch', 256] });
  });

  it('runs batches in worker threads while the event loop keeps ticking', async () => {
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const batch = new Float32Array(8 * 3 * 224 * 224).fill(0.5);
    const runs = await Promise.all([0, 1, 2].map(() => pool.run('resnet', { pixel_values: float32(batch.slice(), [8, 3, 224, 224]) }, ['features'])));
    clearInterval(ticker);
    const first = runs[0]!['features']!.data as Float32Array;
    for (const out of runs) {
      expect(out['features']?.dims).toEqual([8, 256]);
      // identical inputs, identical rows, whichever worker ran them
      expect(Array.from((out['features']!.data as Float32Array).slice(0, 4))).toEqual(Array.from(first.slice(256, 260)));
    }
    expect(ticks).toBeGreaterThan(0);
  });

  it('reads feeds in shared memory in place, which the caller refills for the next batch', async () => {
    const per = 3 * 224 * 224;
    const shared = new Float32Array(new SharedArrayBuffer(4 * per * 4));
    const expected = async (fill: number) => (await pool.run('resnet', { pixel_values: float32(new Float32Array(2 * per).fill(fill), [2, 3, 224, 224]) }, ['features']))['features']!.data;
    for (const fill of [0.25, -0.75]) {
      shared.fill(fill);
      const out = await pool.run('resnet', { pixel_values: float32(shared.subarray(0, 2 * per), [2, 3, 224, 224]) }, ['features']);
      expect(out['features']?.dims).toEqual([2, 256]);
      expect(out['features']!.data).toEqual(await expected(fill));
    }
    // shared, not transferred: the caller's memory is still there
    expect(shared.length).toBe(4 * per);
  });

  it('turns a bad feed into an InferenceError and keeps serving', async () => {
    await expect(pool.run('resnet', { pixel_values: float32(new Float32Array(10), [1, 10]) }, ['features'])).rejects.toBeInstanceOf(InferenceError);
    const ok = await pool.run('resnet', { pixel_values: float32(new Float32Array(3 * 224 * 224), [1, 3, 224, 224]) }, ['features']);
    expect(ok['features']?.dims).toEqual([1, 256]);
  });

  it('close() lets a running batch finish, releases the sessions, and refuses work after', async () => {
    const own = await SessionPool.open({ resnet: `${MODELS}tiny-resnet/model.onnx` }, { workers: 1, intraOpThreads: 1 });
    const input = () => ({ pixel_values: float32(new Float32Array(4 * 3 * 224 * 224), [4, 3, 224, 224]) });
    const running = own.run('resnet', input(), ['features']);
    const closing = own.close();
    expect((await running)['features']?.dims).toEqual([4, 256]);
    await closing;
    await expect(own.run('resnet', input(), ['features'])).rejects.toBeInstanceOf(ClosedError);
  });

  it('refuses a model file that is not ONNX', async () => {
    await expect(SessionPool.open({ broken: `${MODELS}tiny-resnet/config.json` })).rejects.toBeInstanceOf(ModelLoadError);
  });
});
