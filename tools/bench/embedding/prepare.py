"""Benchmark inputs, generated (never committed): a CLIP ViT-B/32-architecture model with random weights in the
same HF split-tower ONNX layout as the test fixtures, 1,000 photo-sized JPEGs and 1,000 captions.

  "$(bash scripts/python-env.sh)" tools/bench/embedding/prepare.py   # writes tools/bench/.cache/embedding/

The model uses the full CLIP BPE vocabulary (49,408 tokens) from open_clip's package data.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tools" / "fixtures" / "embedding"))
import generate as fx  # noqa: E402  (the fixture generator's tokenizer, tower wrappers and exporter)

from transformers import CLIPConfig, CLIPTextModelWithProjection, CLIPVisionModelWithProjection  # noqa: E402
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil  # noqa: E402

CACHE = ROOT / "tools" / "bench" / ".cache" / "embedding"
N_IMAGES = 1000
N_TEXTS = 1000

WORDS = ("photo picture drawing painting dog cat fish bird car house tree river mountain city street beach red blue "
         "green small large old young happy running sitting flying close-up of a the on in with at near under over "
         "tench goldfish shark hen ostrich kite eagle owl frog turtle lizard snake spider crab lobster flamingo").split()


def make_model(out: Path) -> None:
    if (out / "onnx" / "text_model.onnx").exists():
        print(f"model: {out} exists")
        return
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    fx.CLIP_MERGES = 48894  # the whole table: 49,408 tokens
    tok = fx.build_clip_tokenizer(out, 77)
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                         num_attention_heads=8, max_position_embeddings=77, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, projection_dim=512),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=32, projection_dim=512),
        projection_dim=512,
    )
    config.save_pretrained(out)
    CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}, resample=3).save_pretrained(out)
    vision = CLIPVisionModelWithProjection(config.vision_config).eval()
    text = CLIPTextModelWithProjection(config.text_config).eval()
    fx.export(fx.VisionTower(vision), (torch.zeros(1, 3, 224, 224),), out / "onnx" / "vision_model.onnx",
              ["pixel_values"], ["image_embeds", "last_hidden_state"],
              {"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}, "last_hidden_state": {0: "batch"}})
    ids = torch.tensor([tok("a photo").input_ids])
    fx.export(fx.TextTower(text), (ids, torch.ones_like(ids)), out / "onnx" / "text_model.onnx",
              ["input_ids", "attention_mask"], ["text_embeds", "last_hidden_state"],
              {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
               "text_embeds": {0: "batch"}, "last_hidden_state": {0: "batch", 1: "sequence"}})
    print(f"model: wrote {out}")


def make_images(out: Path) -> None:
    if out.exists() and len(list(out.glob("*.jpg"))) == N_IMAGES:
        print(f"images: {out} exists")
        return
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rng = np.random.default_rng(42)
    # ImageNet-like sizes: mostly 500 px on the long side, some larger photos
    for i in range(N_IMAGES):
        long = int(rng.choice([500, 500, 500, 640, 800, 1024]))
        aspect = float(rng.choice([4 / 3, 3 / 2, 1.0, 16 / 9]))
        w, h = (long, int(long / aspect)) if rng.random() < 0.75 else (int(long / aspect), long)
        img = fx.smooth_field(h, w, seed=1000 + i)
        noise = rng.normal(0, 12, img.shape)  # sensor-like noise: JPEGs of realistic size
        Image.fromarray(np.clip(img + noise, 0, 255).astype(np.uint8)).save(out / f"{i:04d}.jpg", quality=90)
    total = sum(p.stat().st_size for p in out.glob("*.jpg"))
    print(f"images: wrote {N_IMAGES} JPEGs, {total / 1e6:.1f} MB")


def make_texts(out: Path) -> None:
    rng = np.random.default_rng(7)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 24)))) for _ in range(N_TEXTS)]
    out.write_text(json.dumps(texts))
    print(f"texts: wrote {out}")


if __name__ == "__main__":
    CACHE.mkdir(parents=True, exist_ok=True)
    make_model(CACHE / "models" / "clip-vit-b32")
    make_images(CACHE / "jpegs")
    make_texts(CACHE / "texts.json")
