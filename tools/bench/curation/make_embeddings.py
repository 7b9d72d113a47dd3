"""Synthetic CLIP-like embeddings with planted near-duplicates for the curation benchmarks.

Vectors: unit-norm, 512-d, low intrinsic dimension (x = normalize(W (center_c + z) + eps), as
tools/bench/retrieval/make_data.py), so that k-means clusters and similarities are CLIP-like.

  semdedup:       <out>/semdedup-<n>.f32 (n x dim float32); a fraction of the rows are near-copies
                  (cosine > 0.99) of other rows; <out>/semdedup-<n>.json lists them.
  contamination:  <out>/contam-pool-<n>.f32 and <out>/contam-eval-<m>.f32; `planted` pool rows are
                  edited copies of evaluation rows (cosine 0.96-0.995 to their source);
                  <out>/contam-<n>-<m>.json lists (pool row, eval row, cosine).

Same seed, same bytes: every contender reads exactly the same data.
"""

import argparse
import json
import os

import numpy as np


def clustered(rng, count, dim, latent=64, clusters=1000, spread=0.35, noise=0.02, chunk=100_000):
    centers = rng.standard_normal((clusters, latent), dtype=np.float32)
    proj = rng.standard_normal((dim, latent), dtype=np.float32) / np.sqrt(latent)
    out = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        labels = rng.integers(0, clusters, size=n)
        z = centers[labels] + spread * rng.standard_normal((n, latent), dtype=np.float32)
        x = z @ proj.T + noise * rng.standard_normal((n, dim), dtype=np.float32)
        out[start : start + n] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def near_copy(rng, rows, target_cos_low, target_cos_high):
    """Edited copies: x' = normalize(x + s * u) with u a random unit direction orthogonal to x and s set for a cosine in [low, high]."""
    n, dim = rows.shape
    u = rng.standard_normal((n, dim), dtype=np.float32)
    u -= (u * rows).sum(axis=1, keepdims=True) * rows
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    cos = rng.uniform(target_cos_low, target_cos_high, size=(n, 1)).astype(np.float32)
    s = np.sqrt(1.0 / cos**2 - 1.0)
    y = rows + s * u
    return y / np.linalg.norm(y, axis=1, keepdims=True), cos[:, 0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('kind', choices=['semdedup', 'contamination'])
    p.add_argument('--n', type=int, default=1_000_000)
    p.add_argument('--eval', type=int, default=50_000)
    p.add_argument('--planted', type=int, default=1_000)
    p.add_argument('--dup-fraction', type=float, default=0.05)
    p.add_argument('--dim', type=int, default=512)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', required=True)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    if a.kind == 'semdedup':
        x = clustered(rng, a.n, a.dim)
        dups = int(a.n * a.dup_fraction)
        target = rng.choice(a.n, size=2 * dups, replace=False)
        src, dst = target[:dups], target[dups:]
        x[dst], cos = near_copy(rng, x[src], 0.992, 0.999)
        x.tofile(os.path.join(a.out, f'semdedup-{a.n}.f32'))
        with open(os.path.join(a.out, f'semdedup-{a.n}.json'), 'w') as f:
            json.dump({'n': a.n, 'dim': a.dim, 'planted': [[int(s), int(d), float(c)] for s, d, c in zip(src, dst, cos)]}, f)
    else:
        pool = clustered(rng, a.n, a.dim)
        ev = clustered(np.random.default_rng(a.seed + 1), a.eval, a.dim)
        rows = rng.choice(a.n, size=a.planted, replace=False)
        sources = rng.choice(a.eval, size=a.planted, replace=False)
        pool[rows], cos = near_copy(rng, ev[sources], 0.96, 0.995)
        pool.tofile(os.path.join(a.out, f'contam-pool-{a.n}.f32'))
        ev.tofile(os.path.join(a.out, f'contam-eval-{a.eval}.f32'))
        with open(os.path.join(a.out, f'contam-{a.n}-{a.eval}.json'), 'w') as f:
            json.dump({'n': a.n, 'eval': a.eval, 'dim': a.dim, 'planted': [[int(r), int(s), float(c)] for r, s, c in zip(rows, sources, cos)]}, f)
    print(f'wrote {a.kind} data to {a.out}')


if __name__ == '__main__':
    main()
