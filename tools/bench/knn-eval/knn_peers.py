"""Peers of the kNN benchmark: SELECT's eval_knn formula (DINO's knn_classifier) in numpy and in PyTorch (CPU).

Both compute the similarities once with the largest k (SELECT's script recomputes them for every k; doing it once
is the peers' best case), then for each k: weights exp(sim / T), votes summed per class, top-1 and top-5.
Usage: python knn_peers.py <dir with bank.npy bank_labels.npy queries.npy query_labels.npy> <ks comma> <T> <chunk>
Prints one JSON line per contender: {"name", "seconds", "top1": {k: %}, "top5": {k: %}, "threads"}.
"""
import json
import sys
import time

import numpy as np


def votes_numpy(sims, idx, bank_labels, k, t, classes):
    b = sims.shape[0]
    w = np.exp(sims[:, :k] / t)
    flat = (np.arange(b)[:, None] * classes + bank_labels[idx[:, :k]]).ravel()
    return np.bincount(flat, weights=w.ravel(), minlength=b * classes).reshape(b, classes)


def run_numpy(bank, bank_labels, queries, labels, ks, t, chunk, classes):
    kmax = max(ks)
    top1 = {k: 0 for k in ks}
    top5 = {k: 0 for k in ks}
    for s in range(0, queries.shape[0], chunk):
        q = queries[s : s + chunk]
        y = labels[s : s + chunk]
        sims = q @ bank.T
        part = np.argpartition(-sims, kmax - 1, axis=1)[:, :kmax]
        psims = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-psims, axis=1)
        idx = np.take_along_axis(part, order, axis=1)
        top = np.take_along_axis(psims, order, axis=1)
        for k in ks:
            v = votes_numpy(top, idx, bank_labels, k, t, classes)
            pred = np.argsort(-v, axis=1, kind="stable")[:, : min(5, k)]
            top1[k] += int((pred[:, 0] == y).sum())
            top5[k] += int((pred == y[:, None]).any(axis=1).sum())
    n = queries.shape[0]
    return {k: 100 * v / n for k, v in top1.items()}, {k: 100 * v / n for k, v in top5.items()}


def run_torch(bank, bank_labels, queries, labels, ks, t, chunk, classes):
    import torch

    bank_t = torch.from_numpy(bank).t().contiguous()
    train_labels = torch.from_numpy(bank_labels.astype(np.int64))
    q_all = torch.from_numpy(queries)
    y_all = torch.from_numpy(labels.astype(np.int64))
    kmax = max(ks)
    top1 = {k: 0 for k in ks}
    top5 = {k: 0 for k in ks}
    with torch.no_grad():
        for s in range(0, q_all.shape[0], chunk):
            features = q_all[s : s + chunk]
            targets = y_all[s : s + chunk]
            batch = features.shape[0]
            similarity = torch.mm(features, bank_t)
            distances, indices = similarity.topk(kmax, largest=True, sorted=True)
            candidates = train_labels.view(1, -1).expand(batch, -1)
            retrieved = torch.gather(candidates, 1, indices)
            for k in ks:
                # DINO / SELECT eval_knn's knn_classifier, verbatim in its arithmetic
                retrieval_one_hot = torch.zeros(batch * k, classes)
                retrieval_one_hot.scatter_(1, retrieved[:, :k].reshape(-1, 1), 1)
                distances_transform = distances[:, :k].clone().div_(t).exp_()
                probs = torch.sum(torch.mul(retrieval_one_hot.view(batch, -1, classes), distances_transform.view(batch, -1, 1)), 1)
                _, predictions = probs.sort(1, True)
                correct = predictions.eq(targets.data.view(-1, 1))
                top1[k] += correct.narrow(1, 0, 1).sum().item()
                top5[k] += correct.narrow(1, 0, min(5, k)).sum().item()
    n = q_all.shape[0]
    return {k: 100 * v / n for k, v in top1.items()}, {k: 100 * v / n for k, v in top5.items()}, torch.get_num_threads()


def main():
    d, ks, t, chunk = sys.argv[1], [int(k) for k in sys.argv[2].split(",")], float(sys.argv[3]), int(sys.argv[4])
    bank = np.load(f"{d}/bank.npy").astype(np.float32)
    bank_labels = np.load(f"{d}/bank_labels.npy").reshape(-1).astype(np.int64)
    queries = np.load(f"{d}/queries.npy").astype(np.float32)
    labels = np.load(f"{d}/query_labels.npy").reshape(-1).astype(np.int64)
    classes = int(bank_labels.max()) + 1
    start = time.perf_counter()
    t1, t5 = run_numpy(bank, bank_labels, queries, labels, ks, t, chunk, classes)
    print(json.dumps({"name": "numpy", "seconds": time.perf_counter() - start, "top1": t1, "top5": t5}), flush=True)
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    start = time.perf_counter()
    t1, t5, threads = run_torch(bank, bank_labels, queries, labels, ks, t, chunk, classes)
    print(json.dumps({"name": "torch-cpu", "seconds": time.perf_counter() - start, "top1": t1, "top5": t5, "threads": threads}), flush=True)


if __name__ == "__main__":
    main()
