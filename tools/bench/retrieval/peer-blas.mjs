// The FAISS peer's BLAS at full speed. bench-kit's peerEnv removes OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set
// on some of these machines; they hold a current OpenBLAS back), but that alone is not full speed for
// faiss-cpu 1.15.1: it bundles OpenBLAS 0.3.15, which does not know AMD family 26 (Zen 5) and, left to
// detect the CPU itself, falls back to its generic 'Barcelona' (SSE) kernels — measured here at a third of
// its speed with OPENBLAS_CORETYPE=SkylakeX. So the peer's environment is chosen by measurement: the
// handicaps removed, then each core type the CPU can run (SkylakeX with AVX-512, Haswell with AVX2+FMA) is
// tried on a short IndexFlatIP search, and the fastest (GFLOP per CPU-second, which a shared machine
// disturbs far less than wall time) is used. Every probe is recorded with the kernel
// threadpoolctl saw.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { peerEnv } from '../lib/bench-kit.mjs';

const PROBE = `
import json, sys, time
import numpy as np, faiss, threadpoolctl
threads = int(sys.argv[1])
faiss.omp_set_num_threads(threads)
rng = np.random.default_rng(0)
xb = rng.standard_normal((32768, 512), dtype=np.float32)
xq = rng.standard_normal((1024, 512), dtype=np.float32)
flat = faiss.IndexFlatIP(512)
flat.add(xb)
flat.search(xq[:64], 10)
best = 1e9
for _ in range(3):
    # CPU seconds of all threads, not wall time: on a shared machine that is what the kernel costs.
    t = time.process_time()
    flat.search(xq, 10)
    best = min(best, time.process_time() - t)
blas = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")} for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
print(json.dumps({"gflops_per_cpu_second": 2 * 1024 * 32768 * 512 / best / 1e9, "blas": blas}))
`;

function cpuFlags() {
  try {
    const line = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
    return new Set(line.trim().split(/\s+/));
  } catch {
    return new Set();
  }
}

/**
 * The environment the FAISS peer runs in, chosen as described above. `coretype`: 'auto' (measure), 'unset'
 * (peerEnv alone) or an OpenBLAS core type name to force. Returns { env, choice, probes }.
 */
export function fastestPeerEnv(python, threads, coretype = 'auto', log = console.error) {
  if (coretype === 'unset') return { env: peerEnv(threads), choice: 'unset', probes: [] };
  if (coretype !== 'auto') return { env: peerEnv(threads, { OPENBLAS_CORETYPE: coretype }), choice: coretype, probes: [] };
  const flags = cpuFlags();
  const candidates = ['unset'];
  if (['avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512cd'].every((f) => flags.has(f))) candidates.push('SkylakeX');
  if (flags.has('avx2') && flags.has('fma')) candidates.push('Haswell');
  const probes = [];
  for (const candidate of candidates) {
    const env = candidate === 'unset' ? peerEnv(threads) : peerEnv(threads, { OPENBLAS_CORETYPE: candidate });
    try {
      const out = JSON.parse(execFileSync(python, ['-c', PROBE, String(threads)], { env, encoding: 'utf8' }).trim().split('\n').pop());
      probes.push({ coretype: candidate, ...out });
      log(`peer BLAS probe, OPENBLAS_CORETYPE ${candidate}: ${out.gflops_per_cpu_second.toFixed(1)} GFLOP per CPU-second (${out.blas.map((b) => `${b.version} ${b.architecture}`).join(', ')})`);
    } catch (err) {
      probes.push({ coretype: candidate, error: String(err.message ?? err).split('\n')[0] });
    }
  }
  const best = probes
    .filter((p) => p.gflops_per_cpu_second)
    .reduce((a, b) => (b.gflops_per_cpu_second > a.gflops_per_cpu_second ? b : a), { gflops_per_cpu_second: 0, coretype: 'unset' });
  const env = best.coretype === 'unset' ? peerEnv(threads) : peerEnv(threads, { OPENBLAS_CORETYPE: best.coretype });
  return { env, choice: best.coretype, probes };
}
