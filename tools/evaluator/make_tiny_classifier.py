"""Writes the evaluator's test classifiers: ONNX graphs in the trainer's export layout (model.onnx + config.json),
small enough to commit, whose decisions can be worked out by hand.

Graph: pixel_values [N, 3, H, W] -> GlobalAveragePool -> Flatten -> Gemm -> logits [N, C]. Output c in {0, 1, 2}
is 10 x the mean of colour channel c (after ImageNet normalisation); every other output is a constant -30. So a
red image is class 0 (tench, n01440764), green class 1 (goldfish, n01443537), blue class 2 (great white shark,
n01484850) with near certainty.

- tiny-classifier/: 1000 outputs (ImageNet-1k order), config.json with a timm pretrained_cfg (64x64 input).
- tiny-classifier-7/: 7 outputs and no label names: neither 1000 nor a subset's size (a refused model).
- tiny-probe-head/: a linear-probe head as the trainer exports one (input "features" [N, 256] of the embedding
  fixture tiny-resnet, output "logits" [N, 3], label_names = the three wnids); logit c = feature c, so its
  decisions can be recomputed from the features.

Usage: .work/py/bin/python tools/evaluator/make_tiny_classifier.py packages/evaluator-service/test/fixtures
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def classifier(classes):
    w = np.zeros((classes, 3), dtype=np.float32)
    b = np.full((classes,), -30.0, dtype=np.float32)
    for c in range(3):
        w[c, c] = 10.0
        b[c] = 0.0
    nodes = [
        helper.make_node("GlobalAveragePool", ["pixel_values"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_classifier",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="select-evaluator-fixture")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def probe_head(dim, classes):
    w = np.zeros((classes, dim), dtype=np.float32)
    for c in range(classes):
        w[c, c] = 1.0
    b = np.zeros((classes,), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["features", "w", "b"], ["logits"], transB=1)],
        "tiny_probe_head",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", dim])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="select-evaluator-fixture")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "packages/evaluator-service/test/fixtures")
    d = out / "tiny-classifier"
    d.mkdir(parents=True, exist_ok=True)
    onnx.save(classifier(1000), d / "model.onnx")
    config = {
        "architecture": "tiny_classifier",
        "num_classes": 1000,
        "pretrained_cfg": {
            "input_size": [3, 64, 64],
            "crop_pct": 1.0,
            "interpolation": "bilinear",
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
        },
    }
    (d / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    d7 = out / "tiny-classifier-7"
    d7.mkdir(parents=True, exist_ok=True)
    onnx.save(classifier(7), d7 / "model.onnx")
    dh = out / "tiny-probe-head"
    dh.mkdir(parents=True, exist_ok=True)
    onnx.save(probe_head(256, 3), dh / "model.onnx")
    head_config = {
        "type": "linear-probe-head",
        "input": "features",
        "output": "logits",
        "dimension": 256,
        "num_classes": 3,
        "label_names": ["n01440764", "n01443537", "n01484850"],
        "features": {"embedding_model": "tiny-resnet", "l2_normalized": True},
    }
    (dh / "config.json").write_text(json.dumps(head_config, indent=2) + "\n")
    print(f"wrote {d}, {d7} and {dh}")


if __name__ == "__main__":
    main()
