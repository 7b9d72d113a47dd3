"""The Python SemDeDup the benchmark compares with: faiss k-means (spherical, as SemDeDup's clustering.py)
+ numpy per-cluster similarities with SemDeDup's code rule (semdedup.py: `triu(X Xᵀ, 1).max(0) > 1 - eps`,
members sorted farthest from the centroid first, SemDeDup's default "keep hard").

  python semdedup_peer.py DATA.f32 --n N --dim 512 --k 1000 --eps 0.05 --niter 20 --seed 0 --out DIR

The embeddings are memory-mapped, not loaded. Writes DIR/peer-assign.i32, DIR/peer-sim.f32 (cosine to the centroid) and DIR/peer-removed.i32 (row
numbers), prints one JSON line with the phase times (seconds).
"""

import argparse
import json
import os
import resource
import time

import faiss
import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument('data')
    p.add_argument('--n', type=int, required=True)
    p.add_argument('--dim', type=int, default=512)
    p.add_argument('--k', type=int, default=1000)
    p.add_argument('--eps', type=float, default=0.05)
    p.add_argument('--niter', type=int, default=20)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', required=True)
    a = p.parse_args()
    # mapped, not loaded (SemDeDup's own code memory-maps its embeddings): faiss and numpy read what they touch
    x = np.memmap(a.data, dtype=np.float32, mode='r', shape=(a.n, a.dim))
    times = {}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    t = time.perf_counter()
    km = faiss.Kmeans(a.dim, a.k, niter=a.niter, seed=a.seed, spherical=True, max_points_per_centroid=256, verbose=False)
    km.train(x)
    times['kmeans'] = time.perf_counter() - t
    t = time.perf_counter()
    index = faiss.IndexFlatIP(a.dim)
    index.add(km.centroids)
    sim, assign = index.search(x, 1)
    sim, assign = sim[:, 0], assign[:, 0].astype(np.int32)
    times['assign'] = time.perf_counter() - t
    t = time.perf_counter()
    order = np.lexsort((sim, assign))  # by cluster, then similarity ascending (farthest first)
    bounds = np.searchsorted(assign[order], np.arange(a.k + 1))
    removed = []
    threshold = 1 - a.eps
    for c in range(a.k):
        members = order[bounds[c] : bounds[c + 1]]
        if len(members) < 2:
            continue
        reps = x[members]
        s = reps @ reps.T
        np.fill_diagonal(s, 0.0)
        m = np.triu(s, k=1).max(axis=0)
        removed.append(members[m > threshold])
    removed = np.concatenate(removed) if removed else np.empty(0, dtype=np.int64)
    times['dedup'] = time.perf_counter() - t
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = usage.ru_utime + usage.ru_stime - cpu0
    os.makedirs(a.out, exist_ok=True)
    assign.tofile(os.path.join(a.out, 'peer-assign.i32'))
    sim.astype(np.float32).tofile(os.path.join(a.out, 'peer-sim.f32'))
    np.sort(removed).astype(np.int32).tofile(os.path.join(a.out, 'peer-removed.i32'))
    print(json.dumps({'times': times, 'cpuSeconds': cpu_seconds, 'removed': int(len(removed)), 'faiss': faiss.__version__, 'numpy': np.__version__, 'threads': faiss.omp_get_max_threads()}))


if __name__ == '__main__':
    main()
