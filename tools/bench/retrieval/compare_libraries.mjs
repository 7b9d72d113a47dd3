#!/usr/bin/env node
// Which native ANN library to build @select/vector-index on: usearch (its own Node binding),
// hnswlib-node, and @select/vector-index itself (usearch's C++ core with our f32 kernels, prefetching
// and blocked exact search), in-process, same data, same M / efConstruction, each in a fresh process so
// that memory is measured alone.
//
//   node tools/bench/retrieval/compare_libraries.mjs [--n 100000] [--queries 2000] [--ef 16,24,32,64,128]
//
// Reads the files run.mjs caches (run it once with the same --n / --queries first, for data and ground truth).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { wholeListOption, wholeOption } from '../lib/bench-kit.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');
const cache = join(repo, 'tools', 'bench', '.cache', 'retrieval');
const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '2000' },
    dim: { type: 'string', default: '512' },
    ef: { type: 'string', default: '16,24,32,64,128' },
    lib: { type: 'string' },
    out: { type: 'string', default: join(repo, 'tools', 'bench', 'results', 'retrieval-libraries.json') },
  },
});
const N = wholeOption('n', flags.n);
const Q = wholeOption('queries', flags.queries);
const D = wholeOption('dim', flags.dim);
const K = 10;
const M = 16;
const EFC = 128;
const EFS = wholeListOption('ef', flags.ef);
const THREADS = cpus().length;

function rss() {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
}

function recall(found, truth) {
  let hits = 0;
  found.forEach((ids, q) => {
    const want = new Set(truth.subarray(q * K, (q + 1) * K));
    hits += ids.filter((id) => want.has(id)).length;
  });
  return hits / (found.length * K);
}

/** Builds and sweeps one library; runs in its own process. */
async function measure(lib) {
  const base = new Float32Array(readFileSync(join(cache, `base-${N}.f32`)).buffer.slice(0));
  const queries = new Float32Array(readFileSync(join(cache, `queries-${Q}.f32`)).buffer.slice(0));
  const truth = new Int32Array(readFileSync(join(cache, `gt-${N}-${Q}-${K}.i32`)).buffer.slice(0));
  const require = createRequire(join(repo, 'package.json'));
  // Memory is measured from before the index exists (hnswlib allocates and clears all of its capacity
  // when it is created), with garbage collected on both sides (the data files' read buffers, a
  // library's batches), so that the difference is what the index keeps.
  globalThis.gc?.();
  const before = rss();
  let build;
  let search;
  if (lib === 'usearch') {
    const usearch = require('usearch');
    // expansion_search 1: the breadth is set per search through k' = max(k, ef), as usearch explores max(ef, k').
    const index = new usearch.Index({ dimensions: D, metric: 'ip', quantization: 'f32', connectivity: M, expansion_add: EFC, expansion_search: 1, multi: false });
    build = () => index.add(BigUint64Array.from({ length: N }, (_, i) => BigInt(i)), base, THREADS);
    search = (ef) => {
      const wanted = Math.max(K, ef);
      const r = index.search(queries, wanted, THREADS);
      return Array.from({ length: Q }, (_, q) => Array.from(r.keys.subarray(q * wanted, q * wanted + K), Number));
    };
  } else if (lib === 'hnswlib-node') {
    const { HierarchicalNSW } = require('hnswlib-node');
    const index = new HierarchicalNSW('ip', D);
    index.initIndex({ maxElements: N, m: M, efConstruction: EFC });
    build = () => {
      for (let i = 0; i < N; i++) index.addPoint(Array.from(base.subarray(i * D, (i + 1) * D)), i);
    };
    search = (ef) => {
      index.setEf(ef);
      return Array.from({ length: Q }, (_, q) => index.searchKnn(Array.from(queries.subarray(q * D, (q + 1) * D)), K).neighbors);
    };
  } else if (lib === '@select/vector-index') {
    const { VectorIndex, addSpecDefaults } = await import('@select/vector-index');
    const index = new VectorIndex(addSpecDefaults({ dimension: D, metric: 'inner-product', connectivity: M, efConstruction: EFC }), { threads: THREADS });
    build = async () => {
      for (let s = 0; s < N; s += 10_000) {
        const items = [];
        for (let i = s; i < Math.min(N, s + 10_000); i++) items.push({ id: String(i), vector: base.subarray(i * D, (i + 1) * D) });
        await index.apply(index.prepareAdd(items).batch);
      }
    };
    search = async (ef) => (await index.search(queries, { k: K, efSearch: ef })).map((r) => r.neighbors.map((n) => Number(n.id)));
  } else throw new Error(`unknown library ${lib}`);

  let t = performance.now();
  await build();
  const build_seconds = (performance.now() - t) / 1000;
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 500));
  const result = { lib, build_seconds, memory_bytes: rss() - before, sweep: [] };
  for (const ef of EFS) {
    t = performance.now();
    const found = await search(ef);
    const seconds = (performance.now() - t) / 1000;
    result.sweep.push({ ef, recall: recall(found, truth), qps: Q / seconds });
  }
  return result;
}

if (flags.lib) {
  process.stdout.write(JSON.stringify(await measure(flags.lib)));
} else {
  const results = [];
  for (const lib of ['usearch', '@select/vector-index', 'hnswlib-node']) {
    console.log(`measuring ${lib} ...`);
    const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--lib', lib, '--n', String(N), '--queries', String(Q), '--ef', EFS.join(',')], {
      maxBuffer: 1 << 24,
      cwd: repo,
    });
    results.push(JSON.parse(out.toString()));
  }
  console.log(`\n${N} x ${D}, ${Q} queries, M ${M}, efConstruction ${EFC}, ${THREADS} threads where the library can use them`);
  for (const r of results) {
    const at = r.sweep.find((s) => s.recall >= 0.95);
    console.log(
      `${r.lib.padEnd(22)} build ${r.build_seconds.toFixed(1).padStart(6)} s  memory ${(r.memory_bytes / 2 ** 20).toFixed(0).padStart(5)} MiB  ` +
        (at ? `QPS at recall ${at.recall.toFixed(3)} (ef ${at.ef}): ${at.qps.toFixed(0)}` : 'never reached recall 0.95'),
    );
    console.log(`${''.padEnd(22)} sweep ${r.sweep.map((s) => `ef ${s.ef}: ${s.recall.toFixed(3)} @ ${s.qps.toFixed(0)}`).join(' | ')}`);
  }
  mkdirSync(dirname(flags.out), { recursive: true });
  writeFileSync(flags.out, `${JSON.stringify({ when: new Date().toISOString(), n: N, queries: Q, dim: D, m: M, ef_construction: EFC, threads: THREADS, results }, null, 2)}\n`);
  console.log(`results: ${flags.out}`);
}
