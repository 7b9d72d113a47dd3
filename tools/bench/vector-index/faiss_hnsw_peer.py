"""FAISS side of hnsw_inprocess.mjs: IndexHNSWFlat in-process, with the distances each search computes.

    python faiss_hnsw_peer.py BASE_F32 N QUERIES_F32 Q DIM M EF_CONSTRUCTION THREADS GT_OUT

Reads the first N rows of BASE_F32 and the first Q of QUERIES_F32, writes the exact top-10 ids
(IndexFlatIP) to GT_OUT (int32, Q x 10) for both sides' recall, builds IndexHNSWFlat (inner product),
prints one JSON line with the build facts, then answers `search EF` lines on stdin with one JSON line
each: QPS (all queries in one call), recall@10, CPU microseconds per query over all threads, and the
distances computed per query (faiss.cvar.hnsw_stats: ndis / n1, reset before each search).
"""

import json
import sys
import time

import faiss
import numpy as np

K = 10
base_file, n, queries_file, q, dim, m, ef_construction, threads, gt_out = sys.argv[1:10]
n, q, dim, m, ef_construction, threads = int(n), int(q), int(dim), int(m), int(ef_construction), int(threads)
faiss.omp_set_num_threads(threads)
xb = np.fromfile(base_file, dtype=np.float32, count=n * dim).reshape(n, dim)
xq = np.fromfile(queries_file, dtype=np.float32, count=q * dim).reshape(q, dim)

exact = faiss.IndexFlatIP(dim)
exact.add(xb)
_, truth = exact.search(xq, K)
truth = truth.astype(np.int32)
truth.tofile(gt_out)
del exact

index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
index.hnsw.efConstruction = ef_construction
started = time.perf_counter()
index.add(xb)
print(json.dumps({"faiss": faiss.__version__, "build_seconds": time.perf_counter() - started, "m": m, "ef_construction": ef_construction}), flush=True)

for line in sys.stdin:
    words = line.split()
    if words[:1] != ["search"]:
        print(json.dumps({"error": f"unknown command: {line.strip()}"}), flush=True)
        continue
    index.hnsw.efSearch = int(words[1])
    faiss.cvar.hnsw_stats.reset()
    wall, cpu = time.perf_counter(), time.process_time()
    _, found = index.search(xq, K)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = faiss.cvar.hnsw_stats
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    print(json.dumps({
        "seconds": wall,
        "qps": q / wall,
        "recall": hits / (q * K),
        "cpuMicrosPerQuery": cpu / q * 1e6,
        # n1: queries the stats cover (all of them: the per-thread stats are combined after the search)
        "distancesPerQuery": stats.ndis / max(stats.n1, 1),
        "statsQueries": stats.n1,
        "hopsPerQuery": stats.nhops / max(stats.n1, 1),
    }), flush=True)
