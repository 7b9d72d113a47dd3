"""Clustered synthetic embeddings for the retrieval benchmark, written once and read by every peer.

CLIP-like: unit-norm 512-d vectors with low intrinsic dimension, grouped into clusters, so that
nearest neighbours are meaningful and recall@10 separates good from bad ANN settings (i.i.d. Gaussian
vectors have no structure: every point is about equally far from every other).

    x = normalize(W @ (center_c + z) + eps)
    W: 512 x 64 random projection, center_c ~ N(0, I_64) for c in 1..clusters,
    z ~ N(0, spread^2 I_64), eps ~ N(0, noise^2 I_512)

Writes <out>/base-<n>.f32 (n x dim, row-major float32), <out>/queries-<q>.f32 and a json header.
Same seed, same files: the Node and the FAISS runs read exactly the same bytes.
"""

import argparse
import json
import os

import numpy as np


def generate(rng, count, dim, latent, centers, proj, spread, noise, chunk=100_000):
    out = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        labels = rng.integers(0, centers.shape[0], size=n)
        z = centers[labels] + spread * rng.standard_normal((n, latent), dtype=np.float32)
        x = z @ proj.T + noise * rng.standard_normal((n, dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + n] = x
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--latent", type=int, default=64)
    p.add_argument("--clusters", type=int, default=1000)
    p.add_argument("--spread", type=float, default=1.0)
    p.add_argument("--noise", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=20240605)
    p.add_argument("--out", required=True)
    a = p.parse_args()

    os.makedirs(a.out, exist_ok=True)
    base_path = os.path.join(a.out, f"base-{a.n}.f32")
    query_path = os.path.join(a.out, f"queries-{a.queries}.f32")
    header_path = os.path.join(a.out, f"data-{a.n}-{a.queries}.json")
    header = {k: getattr(a, k) for k in ("n", "queries", "dim", "latent", "clusters", "spread", "noise", "seed")}
    if os.path.exists(header_path):
        with open(header_path) as f:
            if json.load(f) == header:
                print(f"cached: {base_path}")
                return

    rng = np.random.default_rng(a.seed)
    centers = rng.standard_normal((a.clusters, a.latent), dtype=np.float32)
    proj = rng.standard_normal((a.dim, a.latent), dtype=np.float32) / np.sqrt(a.latent)
    # Queries first, from their own stream, so that the query set does not depend on n.
    qrng = np.random.default_rng(a.seed + 1)
    generate(qrng, a.queries, a.dim, a.latent, centers, proj, a.spread, a.noise).tofile(query_path)
    generate(rng, a.n, a.dim, a.latent, centers, proj, a.spread, a.noise).tofile(base_path)
    with open(header_path, "w") as f:
        json.dump(header, f)
    print(f"wrote {base_path} and {query_path}")


if __name__ == "__main__":
    main()
