import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir } from './fixtures.test-util.js';
import { floatToHalfBits } from './float16.js';
import { NpyReader, NpyWriter, writeNpy } from './npy.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir()));
afterEach(() => cleanup());

// np.save of np.array([[1, -2.5, 0.1], [65504, 1e-5, -0.0]], dtype=...) with numpy 2.4.
const NUMPY_FLOAT16 =
  'k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAPADBZi7/e6gAAIA=';
const NUMPY_FLOAT32 =
  'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AAAgwM3MzD0A4H9HrMUnNwAAAIA=';

async function readAll(file: string): Promise<number[]> {
  const reader = await NpyReader.open(file);
  try {
    return [...(await reader.readRows(0, reader.rows))];
  } finally {
    await reader.close();
  }
}

describe('npy', () => {
  it('reads float16 and float32 files that numpy wrote', async () => {
    const f16 = join(dir, 'f16.npy');
    const f32 = join(dir, 'f32.npy');
    await writeFile(f16, Buffer.from(NUMPY_FLOAT16, 'base64'));
    await writeFile(f32, Buffer.from(NUMPY_FLOAT32, 'base64'));
    const reader = await NpyReader.open(f16);
    expect([reader.rows, reader.dim, reader.dtype]).toEqual([2, 3, 'float16']);
    await reader.close();
    // numpy's own float16 -> float32 values.
    expect(await readAll(f16)).toEqual([1, -2.5, 0.0999755859375, 65504, 1.0013580322265625e-5, -0]);
    expect(await readAll(f32)).toEqual([1, -2.5, Math.fround(0.1), 65504, Math.fround(1e-5), -0]);
  });

  it('rounds float32 to float16 exactly as numpy does', () => {
    const values = [1, -2, 0.1, 1 / 3, 65504, 65520, 1e-8, 6e-8, 2.9802322387695312e-8, 1e-5, Infinity, -0, 0.000061035156];
    // np.array(v, np.float32).astype(np.float16).view(np.uint16)
    expect(values.map(floatToHalfBits)).toEqual([15360, 49152, 11878, 13653, 31743, 31744, 0, 1, 0, 168, 31744, 32768, 1024]);
  });

  it('writes files byte-identical to numpy and streams rows back in batches', async () => {
    const values = Float32Array.from([1, -2.5, 0.1, 65504, 1e-5, -0]);
    const f16 = join(dir, 'out16.npy');
    const f32 = join(dir, 'out32.npy');
    await writeNpy(f16, values, { dim: 3, dtype: 'float16' });
    await writeNpy(f32, values, { dim: 3 });
    expect(await readFile(f16)).toEqual(Buffer.from(NUMPY_FLOAT16, 'base64'));
    expect(await readFile(f32)).toEqual(Buffer.from(NUMPY_FLOAT32, 'base64'));

    const streamed = join(dir, 'streamed.npy');
    const writer = await NpyWriter.create(streamed, { dim: 4, dtype: 'float16' });
    for (let batch = 0; batch < 5; batch++) {
      await writer.append(Float32Array.from({ length: 4 * 7 }, (_, i) => batch * 100 + i));
    }
    await writer.close();
    const reader = await NpyReader.open(streamed);
    expect(reader.rows).toBe(35);
    const starts: number[] = [];
    const rows: number[] = [];
    for await (const { start, values: batch } of reader.batches(8, 3)) {
      starts.push(start);
      rows.push(...Array.from({ length: batch.length / 4 }, (_, i) => batch[i * 4] ?? NaN));
    }
    await reader.close();
    expect(starts).toEqual([3, 11, 19, 27]);
    expect(rows.slice(0, 3)).toEqual([12, 16, 20]);
    expect(rows).toHaveLength(32);
  });

  it('rejects files it cannot read correctly with NPY_FORMAT naming the file', async () => {
    const truncated = join(dir, 'truncated.npy');
    await writeNpy(truncated, new Float32Array(30), { dim: 3 });
    await truncate(truncated, 128 + 50);
    await expect(NpyReader.open(truncated)).rejects.toMatchObject({ code: 'NPY_FORMAT', file: truncated, message: expect.stringContaining('truncated') });

    const fortran = join(dir, 'fortran.npy');
    const bytes = Buffer.from(NUMPY_FLOAT32, 'base64');
    bytes.write("'fortran_order': True, ", bytes.indexOf("'fortran_order'"), 'latin1');
    await writeFile(fortran, bytes);
    await expect(NpyReader.open(fortran)).rejects.toMatchObject({ code: 'NPY_FORMAT', message: expect.stringContaining('Fortran') });

    const float64 = join(dir, 'f8.npy');
    const f8 = Buffer.from(NUMPY_FLOAT32, 'base64');
    f8.write('<f8', f8.indexOf('<f4'), 'latin1');
    await writeFile(float64, f8);
    await expect(NpyReader.open(float64)).rejects.toMatchObject({ code: 'NPY_FORMAT', message: expect.stringContaining('<f8') });
  });
});
