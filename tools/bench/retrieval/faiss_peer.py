"""FAISS peer of the retrieval benchmark: IndexFlatIP (exact, also the ground truth) and IndexHNSWFlat
with the same M / efConstruction, on the same files, driven by run.mjs in the same run.

Builds both indexes (only IndexFlatIP with --exact-only), writes the exact top-k ids to --gt (int32,
queries x k), prints one JSON line with the build facts and the BLAS this process loaded (threadpoolctl:
library, version, the kernel it picked, threads), then answers commands on stdin, one JSON line each,
so that the driver can interleave FAISS and service measurements (the machine is shared; interleaving
keeps both under the same load):
    flat          exact search of every query
    hnsw <ef>     HNSW search of every query with efSearch = ef

run.mjs starts it without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (see tools/bench/lib/bench-kit.mjs): with them
the bundled OpenBLAS runs a slower kernel than the CPU supports.
"""

import argparse
import json
import os
import sys
import time

import faiss
import numpy as np


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def recall_at(found, truth, k):
    hits = 0
    for f, t in zip(found, truth):
        hits += len(set(f[:k].tolist()) & set(t[:k].tolist()))
    return hits / (truth.shape[0] * k)


def blas_info():
    """The BLAS libraries loaded in this process, with the kernel each picked (threadpoolctl)."""
    try:
        import threadpoolctl
    except ImportError:
        return [{"error": "threadpoolctl is not installed in this environment"}]
    keys = ("internal_api", "version", "architecture", "threading_layer", "num_threads", "filepath")
    return [{k: i.get(k) for k in keys} for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--gt", required=True)
    p.add_argument("--exact-only", action="store_true", help="build no HNSW index (flat search only)")
    a = p.parse_args()

    faiss.omp_set_num_threads(a.threads)
    xq = np.fromfile(a.queries, dtype=np.float32).reshape(-1, a.dim)
    xb = np.fromfile(a.base, dtype=np.float32).reshape(-1, a.dim)
    out = {"faiss_version": faiss.__version__, "threads": a.threads, "n": xb.shape[0], "queries": xq.shape[0]}
    out["env"] = {name: os.environ.get(name) for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}

    hnsw = None
    if not a.exact_only:
        before = rss_bytes()
        hnsw = faiss.IndexHNSWFlat(a.dim, a.m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = a.ef_construction
        t = time.perf_counter()
        hnsw.add(xb)
        out["hnsw"] = {
            "m": a.m,
            "ef_construction": a.ef_construction,
            "build_seconds": time.perf_counter() - t,
            "memory_bytes": rss_bytes() - before,
        }

    flat = faiss.IndexFlatIP(a.dim)
    flat.add(xb)
    del xb
    t = time.perf_counter()
    _, truth = flat.search(xq, a.k)
    out["flat"] = {"ground_truth_qps": xq.shape[0] / (time.perf_counter() - t)}
    truth.astype(np.int32).tofile(a.gt)
    out["blas"] = blas_info()
    print(json.dumps(out), flush=True)

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "flat":
            t, cpu = time.perf_counter(), time.process_time()
            flat.search(xq, a.k)
            seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
            result = {"qps": xq.shape[0] / seconds, "search_seconds": seconds, "cpu_us_per_query": cpu / xq.shape[0] * 1e6}
            print(json.dumps(result), flush=True)
        elif words[0] == "hnsw" and hnsw is not None:
            ef = int(words[1])
            hnsw.hnsw.efSearch = ef
            t, cpu = time.perf_counter(), time.process_time()
            _, found = hnsw.search(xq, a.k)
            seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
            result = {"ef": ef, "recall": recall_at(found, truth, a.k), "qps": xq.shape[0] / seconds, "search_seconds": seconds}
            # CPU time per query over all of FAISS's threads, comparable with the service's and its client's.
            result["cpu_us_per_query"] = cpu / xq.shape[0] * 1e6
            print(json.dumps(result), flush=True)
        else:
            print(json.dumps({"error": f"unknown command {' '.join(words)}"}), flush=True)


if __name__ == "__main__":
    main()
