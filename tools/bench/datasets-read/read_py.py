#!/usr/bin/env python3
"""Peer side of the datasets-read benchmark: Python webdataset + Pillow reading the same shards.

Decoding means the same as on the TypeScript side: every image fully decoded to an H x W x 3 uint8
array (`.decode('pil')`, then np.asarray). With --workers N the shards are split over N processes,
as a torch DataLoader with num_workers=N would split them.

    python read_py.py --workers 1 '<dir>/{00000..00009}.tar'   -> prints one JSON line
"""
import argparse
import json
import multiprocessing
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
    if args.workers == 1:
        samples, pixels = read(urls)
    else:
        parts = [urls[i :: args.workers] for i in range(args.workers)]
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            results = pool.map(read, parts)
        samples = sum(r[0] for r in results)
        pixels = sum(r[1] for r in results)
    seconds = time.perf_counter() - start
    print(json.dumps({"samples": samples, "pixels": pixels, "seconds": seconds, "errors": 0}))


if __name__ == "__main__":
    main()
