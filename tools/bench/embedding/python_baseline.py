"""The pipeline a Python user would write for the same job: Pillow + numpy preprocessing (CLIP's: shortest side
224 bicubic, center crop 224, rescale, normalise) and onnxruntime from PyPI, batches of 32, on the same model
and images as the Node benchmark. Prints one JSON object.

  tools/.venv/bin/python tools/bench/embedding/python_baseline.py --threads 2
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image
from transformers import CLIPTokenizer

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "embedding"
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def preprocess(data: bytes) -> np.ndarray:
    im = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = im.size
    nw, nh = (224, int(224 * h / w)) if w <= h else (int(224 * w / h), 224)
    im = im.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - 224) // 2, (nh - 224) // 2
    im = im.crop((left, top, left + 224, top + 224))
    a = (np.asarray(im, dtype=np.float32) / 255.0 - MEAN) / STD
    return a.transpose(2, 0, 1)


def session(path: Path, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--images", type=int, default=1000)
    args = ap.parse_args()
    model = CACHE / "models" / "clip-vit-b32"
    files = sorted((CACHE / "jpegs").glob("*.jpg"))[: args.images]
    blobs = [f.read_bytes() for f in files]
    vision = session(model / "onnx" / "vision_model.onnx", args.threads)
    text = session(model / "onnx" / "text_model.onnx", args.threads)
    b = args.batch

    # warm-up
    vision.run(["image_embeds"], {"pixel_values": np.stack([preprocess(x) for x in blobs[:b]])})

    t0 = time.perf_counter()
    for i in range(0, len(blobs), b):
        batch = np.stack([preprocess(x) for x in blobs[i : i + b]])
        out = vision.run(["image_embeds"], {"pixel_values": batch})[0]
        out /= np.linalg.norm(out, axis=1, keepdims=True)
    e2e = time.perf_counter() - t0

    t0 = time.perf_counter()
    for x in blobs:
        preprocess(x)
    pre = time.perf_counter() - t0

    tensors = np.stack([preprocess(x) for x in blobs[:b]])
    n_batches = (len(blobs) + b - 1) // b
    t0 = time.perf_counter()
    for _ in range(n_batches):
        vision.run(["image_embeds"], {"pixel_values": tensors})
    raw = time.perf_counter() - t0

    tok = CLIPTokenizer.from_pretrained(model)
    texts = json.loads((CACHE / "texts.json").read_text())
    text.run(["text_embeds"], dict(tok(texts[:b], padding=True, truncation=True, max_length=77, return_tensors="np")))
    t0 = time.perf_counter()
    for i in range(0, len(texts), b):
        enc = tok(texts[i : i + b], padding=True, truncation=True, max_length=77, return_tensors="np")
        out = text.run(["text_embeds"], {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})[0]
        out /= np.linalg.norm(out, axis=1, keepdims=True)
    texts_s = time.perf_counter() - t0

    print(json.dumps({
        "images": len(blobs),
        "imagesPerS": len(blobs) / e2e,
        "preprocessOnlyImagesPerS": len(blobs) / pre,
        "rawSessionImagesPerS": n_batches * b / raw,
        "texts": len(texts),
        "textsPerS": len(texts) / texts_s,
        "versions": {"onnxruntime": ort.__version__, "pillow": Image.__version__, "numpy": np.__version__},
    }))


if __name__ == "__main__":
    main()
