#!/usr/bin/env python3
"""Linear-probe benchmark: the trainer's L-BFGS probe (packages/trainer-service/python/linear_probe.py, PyTorch
float32) against scikit-learn's LogisticRegression(solver='lbfgs') on the same features, with the same
regularisation C, in the same run.

Data: N x D float32 features of K classes (a Gaussian mixture, L2-normalised rows like CLIP features), plus a
held-out set of N/5; seeded, cached under tools/bench/.cache/linear-probe. Each peer runs in a subprocess of its own
with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (the CPU's own OpenBLAS kernels: scikit-learn's best setup),
all cores, the same convergence rule (max |gradient| of the mean-scaled objective <= tol, at most max_iter
iterations). Reports wall time to convergence (fit only; loading excluded), iterations, held-out top-1 and the
BLAS kernels (threadpoolctl), and writes tools/bench/results/linear-probe.json.

  .work/py/bin/python tools/bench/linear-probe/bench.py                     # 100,000 x 512, 1,000 classes
  .work/py/bin/python tools/bench/linear-probe/bench.py --n 20000 --classes 200   # quick
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
PROBE_DIR = os.path.join(REPO, 'packages', 'trainer-service', 'python')


def make_data(dir_, n, d, k, seed, spread):
    os.makedirs(dir_, exist_ok=True)
    tag = f'{n}x{d}x{k}-s{seed}-r{spread}'
    paths = {name: os.path.join(dir_, f'{tag}-{name}.npy') for name in ('xtr', 'ytr', 'xte', 'yte')}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((k, d)).astype(np.float32)

    def draw(m):
        y = rng.integers(0, k, m)
        x = means[y] + spread * rng.standard_normal((m, d)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32), y.astype(np.int64)

    xtr, ytr = draw(n)
    xte, yte = draw(n // 5)
    for name, arr in (('xtr', xtr), ('ytr', ytr), ('xte', xte), ('yte', yte)):
        np.save(paths[name], arr)
    return paths


def peer_sklearn(paths, c, max_iter, tol):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info
    xtr, ytr, xte, yte = (np.load(paths[k]) for k in ('xtr', 'ytr', 'xte', 'yte'))
    clf = LogisticRegression(C=c, solver='lbfgs', max_iter=max_iter, tol=tol)
    t = time.perf_counter()
    clf.fit(xtr, ytr)
    seconds = time.perf_counter() - t
    acc = float((clf.predict(xte) == yte).mean() * 100)
    import sklearn
    return {'peer': f'scikit-learn {sklearn.__version__} LogisticRegression(lbfgs)', 'seconds': seconds,
            'iterations': int(np.max(clf.n_iter_)), 'test_top1': acc, 'dtype': str(xtr.dtype),
            'blas': [{k: i.get(k) for k in ('internal_api', 'version', 'architecture', 'num_threads', 'threading_layer')}
                     for i in threadpool_info() if i.get('user_api') == 'blas']}


def peer_select(paths, c, max_iter, tol):
    import torch
    sys.path.insert(0, PROBE_DIR)
    from linear_probe import fit_lbfgs
    xtr, ytr, xte, yte = (torch.from_numpy(np.load(paths[k])) for k in ('xtr', 'ytr', 'xte', 'yte'))
    k = int(ytr.max()) + 1
    t = time.perf_counter()
    W, b, iters = fit_lbfgs(xtr, ytr, k, c, max_iter=max_iter, tol=tol)
    seconds = time.perf_counter() - t
    acc = float(((xte @ W + b).argmax(1) == yte).float().mean() * 100)
    import scipy
    return {'peer': f'select linear probe (scipy {scipy.__version__} L-BFGS-B, float32 loss/gradient: OpenBLAS GEMMs + torch {torch.__version__})', 'seconds': seconds,
            'iterations': iters, 'test_top1': acc, 'dtype': 'float32',
            'blas': [{k: i.get(k) for k in ('internal_api', 'version', 'architecture', 'num_threads', 'threading_layer')}
                     for i in __import__('threadpoolctl').threadpool_info() if i.get('user_api') == 'blas'],
            'torch_threads': torch.get_num_threads()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--n', type=int, default=100_000)
    p.add_argument('--dim', type=int, default=512)
    p.add_argument('--classes', type=int, default=1000)
    p.add_argument('--c', type=float, default=1.0, help='inverse regularisation, sklearn meaning (both peers)')
    p.add_argument('--max-iter', type=int, default=1000)
    p.add_argument('--tol', type=float, default=1e-6, help='gradient tolerance (both); 1e-4 (sklearn default) stops at the start on normalised features of 1,000 classes')
    p.add_argument('--spread', type=float, default=6.0, help='noise std around the class means (harder when larger)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--repeats', type=int, default=3, help='runs of each peer, interleaved (order alternating per repeat); ratios paired per repeat')
    p.add_argument('--peer', choices=['sklearn', 'select'], help=argparse.SUPPRESS)
    p.add_argument('--paths', help=argparse.SUPPRESS)
    p.add_argument('--out', default=os.path.join(REPO, 'tools', 'bench', 'results', 'linear-probe.json'))
    args = p.parse_args()
    if args.peer:
        paths = json.loads(args.paths)
        fn = peer_sklearn if args.peer == 'sklearn' else peer_select
        print(json.dumps(fn(paths, args.c, args.max_iter, args.tol)))
        return
    paths = make_data(os.path.join(REPO, 'tools', 'bench', '.cache', 'linear-probe'), args.n, args.dim, args.classes, args.seed, args.spread)
    env = {k: v for k, v in os.environ.items() if k not in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')}
    uptime_before = subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()
    runs = {'sklearn': [], 'select': []}
    for rep in range(args.repeats):
        for peer in (('sklearn', 'select') if rep % 2 == 0 else ('select', 'sklearn')):
            cmd = [sys.executable, __file__, '--peer', peer, '--paths', json.dumps(paths), '--c', str(args.c),
                   '--max-iter', str(args.max_iter), '--tol', str(args.tol)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f'{peer} failed:\n{out.stderr[-3000:]}')
            r = json.loads(out.stdout.strip().splitlines()[-1])
            runs[peer].append(r)
            print(f"repeat {rep + 1}/{args.repeats} {r['peer']}: {r['seconds']:.1f} s, {r['iterations']} iterations, held-out top-1 {r['test_top1']:.2f}%", flush=True)
    uptime_after = subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()
    ratios = [se['seconds'] / sk['seconds'] for sk, se in zip(runs['sklearn'], runs['select'])]
    gaps = [se['test_top1'] - sk['test_top1'] for sk, se in zip(runs['sklearn'], runs['select'])]
    med = lambda xs: sorted(xs)[len(xs) // 2]
    summary = {
        'config': {'n': args.n, 'dim': args.dim, 'classes': args.classes, 'held_out': args.n // 5, 'c': args.c,
                   'max_iter': args.max_iter, 'tol': args.tol, 'spread': args.spread, 'seed': args.seed, 'repeats': args.repeats},
        'machine': {'cpus': os.cpu_count(), 'load_average': list(os.getloadavg()), 'uptime_before': uptime_before, 'uptime_after': uptime_after},
        'time': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'order': 'interleaved: sklearn, select in odd repeats; select, sklearn in even ones',
        'peers': [runs['sklearn'][-1], runs['select'][-1]],
        'runs': runs,
        'time_ratio_per_repeat': ratios,
        'time_ratio': med(ratios),
        'time_ratio_max': max(ratios),
        'accuracy_gap_points_per_repeat': gaps,
        'accuracy_gap_points': med(gaps),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(summary, f, indent=1)
    print(f"time {summary['time_ratio']:.2f}x scikit-learn (median of {args.repeats} paired, max {summary['time_ratio_max']:.2f}; target <= 1.0x); accuracy {summary['accuracy_gap_points']:+.2f} points "
          f"(target within 0.5); load average {summary['machine']['load_average'][0]:.1f}")


if __name__ == '__main__':
    main()
