#!/usr/bin/env python3
"""Peer side of the datasets-read benchmark: Python webdataset + Pillow reading the same shards.

Decoding means the same as on the TypeScript side: every image fully decoded to an H x W x 3 uint8
array (`.decode('pil')`, then np.asarray), the .cls member parsed.

    python read_py.py '<dir>/{00000..00009}.tar' --mode serial            one process
    python read_py.py '<dir>/{00000..00009}.tar' --mode procs --workers N  shards split over N processes
        (multiprocessing.Pool, as a DataLoader with num_workers=N splits them); the arrays stay in the
        workers, so this is the cheapest parallel reading Python has
    python read_py.py '<dir>/{00000..00009}.tar' --mode dataloader --workers N   a torch DataLoader
        (num_workers=N, batch_size=None, webdataset splitting shards by worker); every array reaches the
        main process, as a training loop gets it

  -> prints one JSON line (samples, pixels, seconds, cpuSeconds of this process and its workers, errors)

    python read_py.py '<dir>/{00000..00009}.tar' --dump-digests OUT.json
        writes {key: [width, height, sha256 of the RGB bytes]} for every sample (the pixel-equality check)
"""
import argparse
import hashlib
import json
import multiprocessing
import resource
import time

import numpy as np
import webdataset as wds


def dataset(urls, **kwargs):
    return wds.WebDataset(urls, shardshuffle=False, empty_check=False, **kwargs).decode("pil")


def to_array(sample):
    image = sample["jpg"]
    if image.mode != "RGB":
        image = image.convert("RGB")
    array = np.asarray(image)
    int(sample["cls"])
    return array


def read(urls):
    samples = 0
    pixels = 0
    for sample in dataset(urls):
        array = to_array(sample)
        samples += 1
        pixels += array.shape[0] * array.shape[1]
    return samples, pixels


def read_dataloader(urls, workers):
    import warnings

    import torch

    torch.set_num_threads(1)
    # np.asarray(PIL image) is read-only; the DataLoader's default_convert turns it into a tensor anyway.
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    # webdataset.split_by_worker gives each DataLoader worker its share of the shards.
    ds = dataset(urls, workersplitter=wds.split_by_worker).map(to_array)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
    samples = 0
    pixels = 0
    for array in loader:
        samples += 1
        pixels += array.shape[0] * array.shape[1]
    del loader  # joins the workers, so that their CPU time counts in RUSAGE_CHILDREN
    return samples, pixels


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("pattern")
    parser.add_argument("--mode", choices=["serial", "procs", "dataloader"], default="serial")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--dump-digests")
    args = parser.parse_args()
    urls = list(wds.shardlists.expand_urls(args.pattern))
    if args.dump_digests:
        digests = {}
        for sample in dataset(urls):
            array = np.ascontiguousarray(to_array(sample))
            digests[sample["__key__"]] = [array.shape[1], array.shape[0], hashlib.sha256(array.tobytes()).hexdigest()]
        with open(args.dump_digests, "w") as out:
            json.dump(digests, out)
        return
    start = time.perf_counter()
    cpu_start = cpu_seconds()
    if args.mode == "serial":
        samples, pixels = read(urls)
    elif args.mode == "procs":
        # No more processes than shards: a pool of fewer shards than --workers (a small check run) leaves the
        # extra processes nothing to read.
        parts = [part for part in (urls[i :: args.workers] for i in range(args.workers)) if part]
        pool = multiprocessing.get_context("fork").Pool(len(parts))
        results = pool.map(read, parts)
        # Reaped workers only count in RUSAGE_CHILDREN once joined.
        pool.close()
        pool.join()
        samples = sum(r[0] for r in results)
        pixels = sum(r[1] for r in results)
    else:
        samples, pixels = read_dataloader(urls, args.workers)
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    print(json.dumps({"samples": samples, "pixels": pixels, "seconds": seconds, "cpuSeconds": cpu, "errors": 0}))


def cpu_seconds():
    """User + system time of this process and its joined worker processes."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


if __name__ == "__main__":
    main()
