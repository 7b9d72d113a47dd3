"""The Python peer of the CLIP-score benchmark: onnxruntime + Pillow, what a careful Python user would
write — images preprocessed (CLIP's: shortest side 224 bicubic, center crop, rescale, normalise) on a
thread pool one batch ahead of the vision session, captions tokenised with transformers' CLIPTokenizer,
the same session options as the embedding service (intra-op threads, sequential executor, no spinning);
then the cosine of each image with its caption. Also times the raw sessions on pre-made tensors (the
ceiling both pipelines share). Prints one JSON line; writes the scores to --scores.

  .work/py/bin/python tools/bench/curation/clip_score_peer.py --pairs 10000 --threads 2 --scores FILE
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
from transformers import CLIPTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'embedding'))
from python_baseline import CACHE, preprocess  # noqa: E402  (the embedding benchmark's Pillow preprocessing)


def session(path: Path, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(str(path), so, providers=['CPUExecutionProvider'])


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--pairs', type=int, default=10000)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--scores', required=True)
    ap.add_argument('--model-dir', default=str(CACHE / 'models' / 'clip-vit-b32'))
    ap.add_argument('--jpegs', default=str(CACHE / 'jpegs'))
    ap.add_argument('--texts', default=str(CACHE / 'texts.json'))
    a = ap.parse_args()
    model = Path(a.model_dir)
    files = sorted(Path(a.jpegs).glob('*.jpg'))
    blobs = [f.read_bytes() for f in files]
    texts = json.loads(Path(a.texts).read_text())
    pairs = [(blobs[i % len(blobs)], texts[i % len(texts)]) for i in range(a.pairs)]
    vision = session(model / 'onnx' / 'vision_model.onnx', a.threads)
    text = session(model / 'onnx' / 'text_model.onnx', a.threads)
    tok = CLIPTokenizer.from_pretrained(model)
    b = a.batch

    def prep(start: int) -> np.ndarray:
        return np.stack([preprocess(x) for x, _ in pairs[start : start + b]])

    vision.run(['image_embeds'], {'pixel_values': prep(0)})  # warm-up
    scores = np.empty(a.pairs, dtype=np.float32)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(prep, 0)
        for start in range(0, a.pairs, b):
            batch = pending.result()
            if start + b < a.pairs:
                pending = pool.submit(prep, start + b)
            img = unit(vision.run(['image_embeds'], {'pixel_values': batch})[0])
            enc = tok([t for _, t in pairs[start : start + b]], padding=True, truncation=True, max_length=77, return_tensors='np')
            txt = unit(text.run(['text_embeds'], {'input_ids': enc['input_ids'], 'attention_mask': enc['attention_mask']})[0])
            scores[start : start + len(batch)] = (img * txt).sum(axis=1)
    e2e = time.perf_counter() - t0
    scores.tofile(a.scores)

    # the ceiling: both sessions on pre-made tensors, as many batches
    tensors = prep(0)
    enc = tok([t for _, t in pairs[:b]], padding=True, truncation=True, max_length=77, return_tensors='np')
    feeds = {'input_ids': enc['input_ids'], 'attention_mask': enc['attention_mask']}
    n_batches = (a.pairs + b - 1) // b
    t0 = time.perf_counter()
    for _ in range(n_batches):
        vision.run(['image_embeds'], {'pixel_values': tensors})
        text.run(['text_embeds'], feeds)
    raw = time.perf_counter() - t0
    print(json.dumps({
        'pairs': a.pairs,
        'pairsPerS': a.pairs / e2e,
        'rawSessionsPairsPerS': n_batches * b / raw,
        'versions': {'onnxruntime': ort.__version__, 'numpy': np.__version__},
    }))


if __name__ == '__main__':
    main()
