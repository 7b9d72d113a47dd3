import { existsSync, readFileSync } from 'node:fs';
import { PersistentIndex } from './src/index.js';
const d = 512, n = 200_000, q = 10_000;
const dir = '/tmp/idx200k';
const queries = new Float32Array(readFileSync(`/work/main/tools/bench/.cache/retrieval/queries-${q}.f32`).buffer.slice(0));
const gt = new Int32Array(readFileSync(`/work/main/tools/bench/.cache/retrieval/gt-1000000-${q}-10.i32`).buffer.slice(0));
let index: PersistentIndex;
let t = performance.now();
if (existsSync(dir)) {
  index = await PersistentIndex.open(dir, { threads: 2 });
  console.log('loaded', (performance.now() - t) / 1000);
} else {
  index = await PersistentIndex.create(dir, 'x', { dimension: d, metric: 'inner-product' }, { threads: 2 });
  const { openSync, readSync } = await import('node:fs');
  const fd = openSync(`/work/main/tools/bench/.cache/retrieval/base-1000000.f32`, 'r');
  for (let s = 0; s < n; s += 10000) {
    const buf = new Float32Array(10000 * d);
    readSync(fd, new Uint8Array(buf.buffer), 0, buf.byteLength, s * d * 4);
    const items = []; for (let i = 0; i < 10000; i++) items.push({ id: String(s + i), vector: buf.subarray(i * d, (i + 1) * d) });
    await index.add(items, { sync: false });
  }
  await index.snapshot();
  console.log('built', (performance.now() - t) / 1000);
}
const efs = (process.argv[2] ?? '48').split(',').map(Number);
for (const ef of efs) {
  t = performance.now();
  const r = await index.search(queries, { k: 10, efSearch: ef });
  const s = (performance.now() - t) / 1000;
  let hit = 0; r.forEach((x, i) => { const w = new Set(Array.from(gt.subarray(i * 10, i * 10 + 10))); hit += x.neighbors.filter((nb) => w.has(Number(nb.id))).length; });
  console.log('ef', ef, 'qps', (q / s).toFixed(0), 'recall', (hit / q / 10).toFixed(4));
}
await index.close();
