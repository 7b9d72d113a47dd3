"""The Python peers of the CLIP-score benchmark, one mode per process run:

- `pipeline`: what a careful Python user writes — a torch DataLoader (a pool of `--workers` preprocessing
  processes, each `--prefetch` batches ahead) doing JPEG decode + CLIP preprocessing with Pillow (shortest
  side 224 bicubic, center crop, rescale, normalise: the embedding benchmark's `preprocess`) and the
  caption tokenisation (transformers' CLIPTokenizer), while the main process runs the onnxruntime sessions
  with the embedding service's session options (intra-op threads, sequential executor, no spinning) and
  takes the cosine of each image with its caption. Writes the scores to --scores.
- `raw`: the same two sessions on pre-made tensors (one preprocessed batch and one tokenised batch run over
  and over): the ceiling every pipeline shares.

Prints one JSON line (seconds, pairs/s, versions).

  .work/py/bin/python tools/bench/curation/clip_score_peer.py pipeline --pairs 10000 --threads 2 --workers 2 --scores FILE
  .work/py/bin/python tools/bench/curation/clip_score_peer.py raw --pairs 10000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from transformers import CLIPTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'embedding'))
from python_peer import CACHE, preprocess  # noqa: E402  (the embedding benchmark's Pillow preprocessing)


def session(path: Path, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(str(path), so, providers=['CPUExecutionProvider'])


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class Batches:
    """Batch i of the pairs: (pixel tensor, input_ids, attention_mask); what each DataLoader worker computes."""

    def __init__(self, blobs, texts, pairs, batch, model_dir):
        self.blobs, self.texts, self.pairs, self.batch, self.model_dir = blobs, texts, pairs, batch, model_dir
        self.tok = None

    def __len__(self):
        return (self.pairs + self.batch - 1) // self.batch

    def __getitem__(self, i):
        if self.tok is None:
            self.tok = CLIPTokenizer.from_pretrained(self.model_dir)
        rows = range(i * self.batch, min(self.pairs, (i + 1) * self.batch))
        pixels = np.stack([preprocess(self.blobs[r % len(self.blobs)]) for r in rows])
        enc = self.tok([self.texts[r % len(self.texts)] for r in rows], padding=True, truncation=True, max_length=77, return_tensors='np')
        return pixels, enc['input_ids'], enc['attention_mask']


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('mode', choices=['pipeline', 'raw'])
    ap.add_argument('--pairs', type=int, default=10000)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--prefetch', type=int, default=2)
    ap.add_argument('--scores')
    ap.add_argument('--model-dir', default=str(CACHE / 'models' / 'clip-vit-b32'))
    ap.add_argument('--jpegs', default=str(CACHE / 'jpegs'))
    ap.add_argument('--texts', default=str(CACHE / 'texts.json'))
    a = ap.parse_args()
    model = Path(a.model_dir)
    blobs = [f.read_bytes() for f in sorted(Path(a.jpegs).glob('*.jpg'))]
    texts = json.loads(Path(a.texts).read_text())
    vision = session(model / 'onnx' / 'vision_model.onnx', a.threads)
    text = session(model / 'onnx' / 'text_model.onnx', a.threads)
    data = Batches(blobs, texts, a.pairs, a.batch, str(model))
    first = data[0]
    vision.run(['image_embeds'], {'pixel_values': first[0]})  # warm-up, both sessions
    text.run(['text_embeds'], {'input_ids': first[1], 'attention_mask': first[2]})
    out = {'mode': a.mode, 'pairs': a.pairs, 'batch': a.batch, 'threads': a.threads, 'versions': {'onnxruntime': ort.__version__, 'numpy': np.__version__}}

    if a.mode == 'pipeline':
        import torch
        from torch.utils.data import DataLoader

        torch.set_num_threads(1)  # the main process only runs onnxruntime; torch computes nothing here
        loader = DataLoader(data, batch_size=None, shuffle=False, num_workers=a.workers, prefetch_factor=a.prefetch if a.workers > 0 else None,
                            collate_fn=None, worker_init_fn=lambda _: torch.set_num_threads(1))
        scores = np.empty(a.pairs, dtype=np.float32)
        t0 = time.perf_counter()
        at = 0
        for pixels, ids, mask in loader:
            pixels, ids, mask = (np.asarray(v) for v in (pixels, ids, mask))
            img = unit(vision.run(['image_embeds'], {'pixel_values': pixels})[0])
            txt = unit(text.run(['text_embeds'], {'input_ids': ids, 'attention_mask': mask})[0])
            scores[at : at + len(img)] = (img * txt).sum(axis=1)
            at += len(img)
        seconds = time.perf_counter() - t0
        assert at == a.pairs, (at, a.pairs)
        if a.scores:
            scores.tofile(a.scores)
        out.update({'workers': a.workers, 'prefetch': a.prefetch, 'torch': torch.__version__})
    else:
        pixels, ids, mask = first
        n_batches = (a.pairs + a.batch - 1) // a.batch
        t0 = time.perf_counter()
        for _ in range(n_batches):
            vision.run(['image_embeds'], {'pixel_values': pixels})
            text.run(['text_embeds'], {'input_ids': ids, 'attention_mask': mask})
        seconds = time.perf_counter() - t0
        out['pairs'] = n_batches * len(pixels)
    out.update({'seconds': seconds, 'pairsPerS': out['pairs'] / seconds})
    print(json.dumps(out))


if __name__ == '__main__':
    main()
