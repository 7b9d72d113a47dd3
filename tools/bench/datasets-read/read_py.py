#!/usr/bin/env python3
"""Peer side of the datasets-read benchmark: Python webdataset + Pillow reading the same shards.

Decoding means the same as on the TypeScript side: every image fully decoded to an H x W x 3 uint8
array (`.decode('pil')`, then np.asarray). With --workers N the shards are split over N processes,
as a torch DataLoader with num_workers=N would split them.

    python read_py.py --workers 1 '<dir>/{00000..00009}.tar'   -> prints one JSON line (samples,
    pixels, seconds, cpuSeconds of this process and its workers, errors)
"""
import argparse
import json
import multiprocessing
import resource
import time

import numpy as np
import webdataset as wds


def read(urls):
    samples = 0
    pixels = 0
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode("pil"):
        image = sample["jpg"]
        if image.mode != "RGB":
            image = image.convert("RGB")
        array = np.asarray(image)
        int(sample["cls"])
        samples += 1
        pixels += array.shape[0] * array.shape[1]
    return samples, pixels


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("pattern")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    urls = list(wds.shardlists.expand_urls(args.pattern))
    start = time.perf_counter()
    cpu_start = cpu_seconds()
    if args.workers == 1:
        samples, pixels = read(urls)
    else:
        parts = [urls[i :: args.workers] for i in range(args.workers)]
        pool = multiprocessing.get_context("fork").Pool(args.workers)
        results = pool.map(read, parts)
        # Reaped workers only count in RUSAGE_CHILDREN once joined.
        pool.close()
        pool.join()
        samples = sum(r[0] for r in results)
        pixels = sum(r[1] for r in results)
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
