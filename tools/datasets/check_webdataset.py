#!/usr/bin/env python3
"""Reads a shift written by @select/datasets' ShiftWriter back with Python's webdataset and Pillow, the
way timm's wds reader (timm/data/readers/reader_wds.py) trains on it, and checks it against the
shift's manifest.

    python3 -m venv tools/datasets/.venv
    tools/datasets/.venv/bin/pip install -r tools/datasets/requirements.txt
    tools/datasets/.venv/bin/python tools/datasets/check_webdataset.py <shift-dir>

Checks, per sample: the webdataset key, shard (__url__), .cls (int, as timm reads it), .json (id, key,
wnid, class index) and that the .jpg decodes to an RGB image; for the shift: sample order and count
against manifest.jsonl, no duplicate ids, class_counts.json against the manifest, and _info.json in the
layout timm's `_parse_split_info` reads for `--train-split train`.

`--write-python-shards DIR` instead writes a few shards with webdataset's own TarWriter (pax headers,
float mtimes, as img2dataset writes them), for the TypeScript reader to read.
"""
import argparse
import collections
import io
import json
import os
import sys

import numpy as np
import webdataset as wds
from PIL import Image


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def load_json(path):
    with open(path, "rb") as f:
        return json.load(f)


def check_shift(shift_dir):
    summary = load_json(os.path.join(shift_dir, "shift.json"))
    with open(os.path.join(shift_dir, "manifest.jsonl"), "rb") as f:
        manifest = [json.loads(line) for line in f if line.strip()]
    if not summary["complete"]:
        fail("shift.json says the shift is not complete")
    shard_names = [shard["name"] for shard in summary["shards"]]
    if len(manifest) != summary["counts"]["samples"]:
        fail(f"manifest has {len(manifest)} lines, shift.json counts {summary['counts']['samples']}")
    ids = [entry["id"] for entry in manifest]
    if len(set(ids)) != len(ids):
        fail("manifest holds duplicate sample ids")

    # timm's _parse_split_info(split='train', info) reads exactly these fields.
    info = load_json(os.path.join(shift_dir, "_info.json"))
    train = info["splits"]["train"]
    if train["num_samples"] != len(manifest) or list(train["filenames"]) != shard_names:
        fail("_info.json does not describe the shards")
    per_shard = collections.Counter(entry["shard"] for entry in manifest)
    if list(train["shard_lengths"]) != [per_shard[name] for name in shard_names]:
        fail("_info.json shard_lengths do not match the manifest")

    counts = {row["class_index"]: row for row in load_json(os.path.join(shift_dir, "class_counts.json"))}
    by_class = collections.Counter(entry["class_index"] for entry in manifest)
    for class_index, row in counts.items():
        if row["count"] != by_class.get(class_index, 0):
            fail(f"class_counts.json says class {class_index} has {row['count']}, manifest has {by_class.get(class_index, 0)}")

    # The brace pattern timm and webdataset take: {00000..NNNNN}.tar
    last = len(shard_names) - 1
    width = len(shard_names[0]) - len(".tar")
    pattern = os.path.join(shift_dir, "{" + "0" * width + ".." + str(last).zfill(width) + "}.tar")
    dataset = wds.WebDataset(pattern, shardshuffle=False, empty_check=False)
    seen = 0
    pixels = 0
    for sample, entry in zip(dataset, manifest):
        where = f"{sample['__url__']} [{sample['__key__']}]"
        if sample["__key__"] != entry["key"]:
            fail(f"{where}: expected key {entry['key']} (manifest order)")
        if os.path.basename(sample["__url__"]) != entry["shard"]:
            fail(f"{where}: manifest puts it in {entry['shard']}")
        target = int(sample["cls"])  # what timm's _decode does with the .cls bytes
        if target != entry["class_index"]:
            fail(f"{where}: .cls is {target}, manifest says {entry['class_index']}")
        meta = json.loads(sample["json"])
        for field in ("id", "key", "wnid", "class_index", "source_id"):
            if meta[field] != entry[field]:
                fail(f"{where}: json {field} {meta[field]!r} != manifest {entry[field]!r}")
        with io.BytesIO(sample["jpg"]) as b:
            img = Image.open(b)
            if img.format != "JPEG":
                fail(f"{where}: .jpg holds {img.format}")
            img.load()
        rgb = np.asarray(img.convert("RGB"))
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
            fail(f"{where}: decoded to shape {rgb.shape}")
        pixels += rgb.shape[0] * rgb.shape[1]
        seen += 1
    if seen != len(manifest):
        fail(f"webdataset yielded {seen} samples, the manifest lists {len(manifest)}")
    print(
        f"OK: {seen} samples in {len(shard_names)} shards read with webdataset {wds.__version__} + Pillow; "
        f"keys, .cls, .json and shards match manifest.jsonl; {len(by_class)} classes; "
        f"{pixels / max(seen, 1):.0f} pixels per image on average"
    )


def write_python_shards(out_dir):
    """Shards as Python's webdataset writes them, for the TypeScript reader's compatibility check."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    for shard in range(2):
        with wds.TarWriter(os.path.join(out_dir, f"{shard:05d}.tar")) as sink:
            for i in range(5):
                key = f"{shard:05d}{i:04d}"
                array = rng.integers(0, 255, size=(12, 16, 3), dtype=np.uint8)
                buf = io.BytesIO()
                Image.fromarray(array).save(buf, format="JPEG", quality=90)
                sink.write({"__key__": key, "jpg": buf.getvalue(), "txt": f"caption {key} caf\u00e9", "json": {"i": i}})
    print(f"wrote 2 shards of 5 samples to {out_dir}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shift_dir", nargs="?")
    parser.add_argument("--write-python-shards", metavar="DIR")
    args = parser.parse_args()
    if args.write_python_shards:
        write_python_shards(args.write_python_shards)
    elif args.shift_dir:
        check_shift(args.shift_dir)
    else:
        parser.error("give a shift directory or --write-python-shards DIR")


if __name__ == "__main__":
    main()
