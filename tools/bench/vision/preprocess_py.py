"""The Python peer of tools/bench/vision/preprocess.mjs: CLIP preprocessing with Pillow and numpy, lean (no
transformers overhead): Image.open, convert RGB, resize shortest edge bicubic, center crop (floor), rescale and
normalise in float32, HWC -> CHW. With --draft, JPEGs are first put in Pillow's draft mode (libjpeg DCT scaling to
the smallest power-of-two reduction that still covers the resize target), the peer of our 'fast' mode.

  python preprocess_py.py --list files.txt --size 224 --crop 224 --mean r g b --std r g b [--draft] [--dump crops.u8]

Reads every file into memory first, then times one pass over them (time.process_time and perf_counter) after a
warm-up pass over the first --warmup images, and prints one JSON line: {"cpu": s, "wall": s, "images": n}.
--dump writes the uint8 crops (n x crop x crop x 3, the order of the list) instead of timing.

  python preprocess_py.py --make-variants DIR --count 120

writes photo-like JPEGs in the layouts libjpeg decodes differently (chroma subsampling 4:4:4 / 4:2:2 / 4:2:0,
progressive, restart markers, optimised Huffman tables, grey, odd sizes, portraits, panoramas), for the exactness
check.
"""

from __future__ import annotations

import argparse
import io
import json
import time

import numpy as np
from PIL import Image


def plan(width: int, height: int, size: int) -> tuple[int, int]:
    # transformers' get_resize_output_image_size: the short side to `size`, int() of the long side
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def crop_rgb(data: bytes, size: int, crop: int, draft: bool) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    rw, rh = plan(im.width, im.height, size)
    if draft:
        im.draft("RGB", (rw, rh))
    im = im.convert("RGB")
    im = im.resize((rw, rh), Image.Resampling.BICUBIC)
    left, top = (rw - crop) // 2, (rh - crop) // 2
    return im.crop((left, top, left + crop, top + crop))


def tensor(data: bytes, size: int, crop: int, draft: bool, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    a = np.asarray(crop_rgb(data, size, crop, draft), dtype=np.float32)
    a = a * np.float32(1 / 255)
    a = (a - mean) / std
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def make_variants(out: str, count: int) -> None:
    import os

    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(2024)
    sizes = [(500, 375), (375, 500), (640, 427), (333, 501), (1024, 683), (97, 61), (1200, 90), (224, 224), (801, 599), (257, 1031)]
    for i in range(count):
        w, h = sizes[i % len(sizes)]
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        u, v = x / w, y / h
        img = np.stack([128 + 100 * np.sin(6 * u + i) * np.cos(4 * v), 110 + 90 * np.cos(5 * v + 3 * u + i), 90 + 80 * np.sin(9 * u * v + i)], -1)
        img = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
        im = Image.fromarray(img)
        options = dict(quality=int(rng.choice([75, 90, 95])), subsampling=int(i % 3), progressive=bool(i % 4 == 1),
                       optimize=bool(i % 5 == 2), restart_marker_rows=int([0, 0, 1, 3][i % 4]))
        if i % 7 == 3:
            im = im.convert("L")
        im.save(os.path.join(out, f"v{i:03d}.jpg"), **options)
    print(json.dumps({"variants": count}))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--make-variants")
    p.add_argument("--count", type=int, default=120)
    p.add_argument("--list")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--mean", type=float, nargs=3, default=[0.48145466, 0.4578275, 0.40821073])
    p.add_argument("--std", type=float, nargs=3, default=[0.26862954, 0.26130258, 0.27577711])
    p.add_argument("--draft", action="store_true")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--dump")
    args = p.parse_args()
    if args.make_variants:
        make_variants(args.make_variants, args.count)
        return
    files = [line for line in open(args.list).read().splitlines() if line]
    blobs = [open(f, "rb").read() for f in files]
    if args.dump:
        with open(args.dump, "wb") as out:
            for b in blobs:
                out.write(np.asarray(crop_rgb(b, args.size, args.crop, args.draft), dtype=np.uint8).tobytes())
        print(json.dumps({"dumped": len(blobs)}))
        return
    mean = np.array(args.mean, dtype=np.float32)
    std = np.array(args.std, dtype=np.float32)
    for b in blobs[: args.warmup]:
        tensor(b, args.size, args.crop, args.draft, mean, std)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    checksum = 0.0
    for b in blobs:
        checksum += float(tensor(b, args.size, args.crop, args.draft, mean, std)[0, 0, 0])
    print(json.dumps({"cpu": time.process_time() - cpu0, "wall": time.perf_counter() - wall0, "images": len(blobs), "checksum": checksum}))


if __name__ == "__main__":
    main()
