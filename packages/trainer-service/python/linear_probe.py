#!/usr/bin/env python3
"""Linear probe on frozen features: multinomial logistic regression under two published protocols.

* clip — the CLIP paper (Radford et al. 2021, appendix A.3): L-BFGS logistic regression, the L2 regularisation
  chosen by a sweep on a validation split (10^-6..10^6, coarse-to-fine), then refitted on train + validation.
  Objective and optimiser = sklearn's LogisticRegression(lbfgs, C): mean cross-entropy + ||W||^2 / (2 C n), bias
  not penalised, scipy's L-BFGS-B stopping when max |gradient| <= tol, so a C means the same here and there.
* clip-benchmark — CLIP_benchmark's linear probe: one linear layer trained with AdamW (cosine schedule, batch 256),
  weight decay swept on the validation split, early stopping on validation loss, then refitted on train +
  validation for the best number of epochs.

Splits: a seeded permutation holds out --test-fraction (reported as held-out accuracy) and --val-fraction (the
sweeps). Prints JSON lines: {"metric": {...}} while working, {"result": {...}} at the end; writes
<out>/model.onnx (input `features` [batch, dim] -> `logits` [batch, classes]), <out>/config.json and
<out>/results.json.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def emit(kind, payload):
    print(json.dumps({kind: payload}), flush=True)


def metric(protocol, split, name, value, step, epoch=0):
    emit('metric', {'protocol': protocol, 'split': split, 'name': name, 'value': float(value), 'step': int(step),
                    'epoch': int(epoch)})


def split_indices(n, val_fraction, test_fraction, seed):
    perm = np.random.RandomState(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    if n - n_test - n_val < 1 or n_val < 1 or n_test < 1:
        raise SystemExit(f'{n} samples are too few for val {val_fraction} and test {test_fraction} splits')
    return perm[n_test + n_val:], perm[n_test:n_test + n_val], perm[:n_test]


def topk(logits, y, k):
    k = min(k, logits.shape[1])
    return (logits.topk(k, dim=1).indices == y[:, None]).any(dim=1).float().mean().item() * 100.0


def fit_lbfgs(X, y, num_classes, C, max_iter=1000, tol=1e-4, init=None):
    """scikit-learn's LogisticRegression(solver='lbfgs', C=C): the same objective (mean cross-entropy +
    ||W||^2 / (2 C n), bias not penalised), the same optimiser and stopping rule (scipy's L-BFGS-B, gtol = tol,
    ftol = 64 eps, maxls 50), so the iterations match; the objective and its gradient are computed here in float32:
    one GEMM for the logits, the softmax in place, one GEMM for the weight gradient, the GEMMs through numpy's
    OpenBLAS (faster than PyTorch's MKL on the AMD CPUs measured, tools/bench/linear-probe).
    Returns W [d, k], b [k] (torch float32) and the iterations.
    """
    from scipy.optimize import minimize
    n, d = X.shape
    k = num_classes
    Xn = np.ascontiguousarray(X.numpy(), dtype=np.float32)
    yt = y.view(-1, 1)
    rows = torch.arange(n)
    reg = 1.0 / (2.0 * C * n)
    Zn = np.empty((n, k), dtype=np.float32)
    Z = torch.from_numpy(Zn)
    gWn = np.empty((d, k), dtype=np.float32)
    grad = np.empty(d * k + k, dtype=np.float64)

    def fun(w):
        Wn = w[:d * k].reshape(d, k).astype(np.float32)
        bn = w[d * k:].astype(np.float32)
        np.matmul(Xn, Wn, out=Zn)                       # n x k logits
        Z.add_(torch.from_numpy(bn))
        picked = Z.gather(1, yt).double().sum().item()
        # log-sum-exp and softmax in place (torch.logsumexp is several times slower on a wide matrix)
        m = Z.amax(dim=1, keepdim=True)
        Z.sub_(m).exp_()
        s = Z.sum(dim=1, keepdim=True)
        lse_sum = (m.double() + s.double().log()).sum().item()
        loss = (lse_sum - picked) / n + reg * float(np.dot(Wn.ravel().astype(np.float64), Wn.ravel().astype(np.float64)))
        Z.div_(s)                                       # softmax
        Z[rows, y] -= 1.0
        Z.div_(n)
        np.matmul(Xn.T, Zn, out=gWn)
        grad[:d * k] = (gWn + (2.0 * reg) * Wn).ravel()
        grad[d * k:] = Z.sum(0).numpy()
        return loss, grad

    w0 = np.zeros(d * k + k, dtype=np.float64)
    if init is not None:
        w0[:d * k] = init[0].numpy().ravel()
        w0[d * k:] = init[1].numpy()
    res = minimize(fun, w0, method='L-BFGS-B', jac=True,
                   options={'maxiter': max_iter, 'maxls': 50, 'gtol': tol, 'ftol': 64 * np.finfo(float).eps})
    W = torch.from_numpy(res.x[:d * k].reshape(d, k).astype(np.float32))
    b = torch.from_numpy(res.x[d * k:].astype(np.float32))
    return W, b, int(res.nit)


def run_clip(Xtr, ytr, Xva, yva, num_classes, c_values, max_iter, tol):
    """Coarse-to-fine sweep of C on the validation split (warm-started along the sweep)."""
    tried = {}
    step = [0]

    def score(c, init=None):
        if c in tried:
            return tried[c][0]
        t = time.time()
        W, b, iters = fit_lbfgs(Xtr, ytr, num_classes, c, max_iter, tol, init)
        acc = topk(Xva @ W + b, yva, 1)
        step[0] += 1
        metric('clip', 'val', 'top1', acc, step[0])
        metric('clip', 'val', 'log10_c', math.log10(c), step[0])
        tried[c] = (acc, (W, b), iters, time.time() - t)
        return acc

    if c_values:
        for c in c_values:
            score(c)
    else:
        # coarse: 10^-6, 10^-4, ..., 10^6; then halve the step in log space around the best, twice
        grid = [10.0 ** e for e in range(-6, 7, 2)]
        prev = None
        for c in grid:
            score(c, prev)
            prev = tried[c][1]
        best = max(tried, key=lambda c: (tried[c][0], -abs(math.log10(c))))
        delta = 1.0
        for _ in range(3):
            lo, hi = best / 10 ** delta, best * 10 ** delta
            for c in (lo, hi):
                if 1e-6 <= c <= 1e6:
                    score(c, tried[best][1])
            best = max(tried, key=lambda c: (tried[c][0], -abs(math.log10(c))))
            delta /= 2
    best = max(tried, key=lambda c: (tried[c][0], -abs(math.log10(c))))
    return best, tried[best][0], len(tried)


def run_clip_benchmark(Xtr, ytr, Xva, yva, num_classes, wds, epochs, lr, batch, patience, seed):
    """AdamW linear layer; weight decay swept on validation; early stopping on validation loss."""
    results = {}
    for i, wd in enumerate(wds):
        torch.manual_seed(seed)
        layer = torch.nn.Linear(Xtr.shape[1], num_classes)
        opt = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=wd)
        steps = epochs * math.ceil(len(ytr) / batch)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
        g = torch.Generator().manual_seed(seed)
        best = (float('inf'), 0.0, 0)
        bad = 0
        for epoch in range(epochs):
            perm = torch.randperm(len(ytr), generator=g)
            total = 0.0
            for s in range(0, len(ytr), batch):
                idx = perm[s:s + batch]
                loss = F.cross_entropy(layer(Xtr[idx]), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * len(idx)
            with torch.no_grad():
                logits = layer(Xva)
                vloss = F.cross_entropy(logits, yva).item()
                vacc = topk(logits, yva, 1)
            step = i * epochs + epoch + 1
            metric('clip-benchmark', 'train', 'loss', total / len(ytr), step, epoch)
            metric('clip-benchmark', 'val', 'loss', vloss, step, epoch)
            metric('clip-benchmark', 'val', 'top1', vacc, step, epoch)
            if vloss < best[0] - 1e-6:
                best, bad = (vloss, vacc, epoch + 1), 0
            else:
                bad += 1
                if bad >= patience:
                    break
        results[wd] = best
    best_wd = max(results, key=lambda w: (results[w][1], -results[w][0]))
    return best_wd, results[best_wd][1], results[best_wd][2]


def train_adamw(X, y, num_classes, wd, epochs, lr, batch, seed):
    torch.manual_seed(seed)
    layer = torch.nn.Linear(X.shape[1], num_classes)
    opt = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=wd)
    steps = max(1, epochs * math.ceil(len(y) / batch))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=g)
        for s in range(0, len(y), batch):
            idx = perm[s:s + batch]
            loss = F.cross_entropy(layer(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return layer.weight.detach().t().contiguous(), layer.bias.detach()


def write_onnx(path, W, b):
    """A Gemm head: logits = features @ W + b, opset 17, batch dimension dynamic."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    d, c = W.shape
    graph = helper.make_graph(
        [helper.make_node('Gemm', ['features', 'W', 'b'], ['logits'])],
        'linear_probe',
        [helper.make_tensor_value_info('features', TensorProto.FLOAT, ['batch', d])],
        [helper.make_tensor_value_info('logits', TensorProto.FLOAT, ['batch', c])],
        [numpy_helper.from_array(W.numpy().astype(np.float32), 'W'), numpy_helper.from_array(b.numpy().astype(np.float32), 'b')],
    )
    # IR version 8 (what opset 17 needs): onnx 1.23 writes 14 by default, which onnxruntime-node 1.2x cannot load
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='select-trainer', ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--features', required=True)
    p.add_argument('--labels', required=True)
    p.add_argument('--num-classes', type=int, required=True)
    p.add_argument('--protocol', default='both', choices=['clip', 'clip-benchmark', 'both'])
    p.add_argument('--val-fraction', type=float, default=0.1)
    p.add_argument('--test-fraction', type=float, default=0.1)
    p.add_argument('--c-values', type=float, nargs='*', default=[])
    p.add_argument('--weight-decays', type=float, nargs='*', default=[0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2])
    p.add_argument('--max-iter', type=int, default=1000)
    p.add_argument('--tol', type=float, default=1e-6)
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--lr', type=float, default=0.1)
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--patience', type=int, default=3)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--out', required=True)
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    X = torch.from_numpy(np.load(args.features).astype(np.float32, copy=False))
    y = torch.from_numpy(np.load(args.labels).reshape(-1).astype(np.int64))
    if X.shape[0] != y.shape[0]:
        raise SystemExit(f'{X.shape[0]} feature rows but {y.shape[0]} labels')
    if int(y.max()) >= args.num_classes or int(y.min()) < 0:
        raise SystemExit(f'labels outside 0..{args.num_classes - 1}')
    tr, va, te = split_indices(len(y), args.val_fraction, args.test_fraction, args.seed)
    tr, va, te = (torch.from_numpy(i) for i in (tr, va, te))
    Xtr, ytr, Xva, yva, Xte, yte = X[tr], y[tr], X[va], y[va], X[te], y[te]
    Xtv, ytv = torch.cat([Xtr, Xva]), torch.cat([ytr, yva])
    emit('info', {'train': len(tr), 'val': len(va), 'test': len(te), 'dim': X.shape[1], 'classes': args.num_classes,
                  'threads': torch.get_num_threads()})

    results = {}
    heads = {}
    if args.protocol in ('clip', 'both'):
        t = time.time()
        best_c, val_acc, tried = run_clip(Xtr, ytr, Xva, yva, args.num_classes, args.c_values, args.max_iter, args.tol)
        W, b, iters = fit_lbfgs(Xtv, ytv, args.num_classes, best_c, args.max_iter, args.tol)
        logits = Xte @ W + b
        results['clip'] = {'c': best_c, 'val_top1': val_acc, 'test_top1': topk(logits, yte, 1),
                           'test_top5': topk(logits, yte, 5), 'sweep_fits': tried, 'final_iterations': iters,
                           'seconds': time.time() - t}
        heads['clip'] = (W, b)
        metric('clip', 'test', 'top1', results['clip']['test_top1'], 0)
        metric('clip', 'test', 'top5', results['clip']['test_top5'], 0)
    if args.protocol in ('clip-benchmark', 'both'):
        t = time.time()
        best_wd, val_acc, best_epochs = run_clip_benchmark(Xtr, ytr, Xva, yva, args.num_classes, args.weight_decays,
                                                           args.epochs, args.lr, args.batch_size, args.patience,
                                                           args.seed)
        W, b = train_adamw(Xtv, ytv, args.num_classes, best_wd, max(1, best_epochs), args.lr, args.batch_size, args.seed)
        logits = Xte @ W + b
        results['clip-benchmark'] = {'weight_decay': best_wd, 'epochs': best_epochs, 'val_top1': val_acc,
                                     'test_top1': topk(logits, yte, 1), 'test_top5': topk(logits, yte, 5),
                                     'seconds': time.time() - t}
        heads['clip-benchmark'] = (W, b)
        metric('clip-benchmark', 'test', 'top1', results['clip-benchmark']['test_top1'], 0)
        metric('clip-benchmark', 'test', 'top5', results['clip-benchmark']['test_top5'], 0)

    exported = max(results, key=lambda k: (results[k]['val_top1'], k == 'clip'))
    W, b = heads[exported]
    os.makedirs(args.out, exist_ok=True)
    tmp = os.path.join(args.out, 'model.onnx.tmp')
    write_onnx(tmp, W, b)
    import onnxruntime as ort
    got = ort.InferenceSession(tmp, providers=['CPUExecutionProvider']).run(None, {'features': Xte[:64].numpy()})[0]
    diff = float(np.abs(got - (Xte[:64] @ W + b).numpy()).max())
    if diff > 1e-3:
        raise SystemExit(f'ONNX head differs from the probe by {diff}')
    os.replace(tmp, os.path.join(args.out, 'model.onnx'))
    summary = {'protocols': results, 'exported': exported, 'seed': args.seed,
               'splits': {'train': len(tr), 'val': len(va), 'test': len(te)}}
    with open(os.path.join(args.out, 'results.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    emit('result', summary)


if __name__ == '__main__':
    main()
