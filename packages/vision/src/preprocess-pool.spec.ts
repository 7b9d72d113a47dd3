import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageDecodeError, PreprocessQueueFullError } from './errors.js';
import { fromHfImageProcessorConfig } from './model-configs.js';
import { nativeJpegDecoder } from './native-preprocess.js';
import { preprocessImage } from './preprocess.js';
import { PreprocessPool } from './preprocess-pool.js';

const FIXTURES = fileURLToPath(new URL('../../../tools/fixtures/embedding/', import.meta.url));
const spec = fromHfImageProcessorConfig(JSON.parse(readFileSync(join(FIXTURES, 'models/tiny-clip/preprocessor_config.json'), 'utf8')));

describe('PreprocessPool', () => {
  const pool = new PreprocessPool({ threads: 2, maxPending: 8 });
  afterAll(() => pool.close());

  it('gives the same tensors on worker threads as in-process', async () => {
    const names = ['landscape.jpg', 'cmyk.jpg', 'alpha.png', 'animated.gif'];
    const viaPool = await Promise.all(names.map((n) => pool.preprocess(readFileSync(join(FIXTURES, 'images', n)), spec)));
    for (const [i, n] of names.entries()) {
      const local = await preprocessImage(readFileSync(join(FIXTURES, 'images', n)), spec);
      expect(viaPool[i]!.tensor).toEqual(local.tensor);
      expect(viaPool[i]!.source.format).toBe(local.source.format);
    }
  });

  it('reports a bad image as ImageDecodeError and keeps working', async () => {
    await expect(pool.preprocess(new Uint8Array([1, 2, 3]), spec)).rejects.toBeInstanceOf(ImageDecodeError);
    const ok = await pool.preprocess(readFileSync(join(FIXTURES, 'images/wide.webp')), spec);
    expect(ok.tensor.length).toBe(3 * 224 * 224);
  });

  it('writes into shared memory with sharedTensors, reuses recycled tensors, and keeps a spare through a bad image', async () => {
    const shared = new PreprocessPool({ threads: 2, sharedTensors: true });
    try {
      const image = (n: string) => readFileSync(join(FIXTURES, 'images', n));
      const first = await shared.preprocess(image('landscape.jpg'), spec);
      expect(first.tensor.buffer).toBeInstanceOf(SharedArrayBuffer);
      // the native addon writes into shared memory as into any other (no detour through sharp)
      expect(first.pipeline).toBe(nativeJpegDecoder() ? 'native' : 'sharp');
      expect(first.tensor).toEqual((await preprocessImage(image('landscape.jpg'), spec)).tensor);
      shared.recycle(first.tensor);
      expect(shared.spareTensors).toBe(1);
      // the next image is written into the recycled memory: the old view now shows the new pixels
      const second = await shared.preprocess(image('cmyk.jpg'), spec);
      expect(shared.spareTensors).toBe(0);
      expect(second.tensor).toEqual((await preprocessImage(image('cmyk.jpg'), spec)).tensor);
      expect(first.tensor).toEqual(second.tensor);
      shared.recycle(second.tensor);
      // a failed image gives its buffer back
      await expect(shared.preprocess(new Uint8Array([1, 2, 3]), spec)).rejects.toBeInstanceOf(ImageDecodeError);
      expect(shared.spareTensors).toBe(1);
      // what the pool cannot reuse whole is ignored: a plain buffer, a view into a larger one
      shared.recycle(new Float32Array(3 * 224 * 224));
      shared.recycle(new Float32Array(new SharedArrayBuffer(8 * 3 * 224 * 224)).subarray(0, 3 * 224 * 224));
      expect(shared.spareTensors).toBe(1);
      // a pool without sharedTensors keeps nothing: its tensors come back by transfer either way
      pool.recycle(first.tensor);
      pool.recycle((await pool.preprocess(image('landscape.jpg'), spec)).tensor);
      expect(pool.spareTensors).toBe(0);
    } finally {
      await shared.close();
    }
  });

  it('refuses work past maxPending instead of queueing without bound', async () => {
    const bytes = readFileSync(join(FIXTURES, 'images/odd-portrait.png'));
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => pool.preprocess(bytes, spec)));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBe(4);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(PreprocessQueueFullError);
  });

  it.runIf(process.platform === 'linux')('runs its threads at the niceness asked for, on Linux, with the same tensors', async () => {
    /**
     * The niceness of each of this process's threads (field 19 of /proc/self/task/<tid>/stat). A thread that ends
     * between the listing and the read (a libuv or V8 helper: ENOENT, CI once) runs at no niceness and is left out.
     */
    const niceness = () =>
      readdirSync('/proc/self/task').flatMap((tid) => {
        let stat: string;
        try {
          stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
          throw error;
        }
        return [Number(stat.split(') ')[1]!.split(' ')[16])];
      });
    const before = niceness().filter((n) => n === 11).length;
    const nice = new PreprocessPool({ threads: 2, niceness: 11 });
    try {
      const bytes = readFileSync(join(FIXTURES, 'images/landscape.jpg'));
      const [fromNice, fromDefault] = await Promise.all([nice.preprocess(bytes, spec), pool.preprocess(bytes, spec)]);
      expect(fromNice.tensor).toEqual(fromDefault.tensor);
      expect(niceness().filter((n) => n === 11).length - before).toBe(2);
    } finally {
      await nice.close();
    }
  });
});
