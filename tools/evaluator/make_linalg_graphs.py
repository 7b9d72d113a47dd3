"""Writes the small ONNX graphs the evaluator runs its linear algebra through (onnxruntime's MLAS GEMM):

- knn_topk.onnx: queries [Q, D] x bank_t [D, N] -> the k largest similarities per query and their bank rows
  (MatMul, TopK sorted descending). Used by SELECT's weighted kNN and the near-duplicate search.
- rbf_sum.onnx: row sums of exp(-gamma * ||x_i - y_j||^2) - 1 over a block of x rows against all of y (Gemm,
  Add, Mul, Exp, Sub, ReduceSum). Subtracting 1 keeps float32 sums of values near 1 from losing CMMD's small
  differences; the caller adds the count back in float64.

Usage: .work/py/bin/python tools/evaluator/make_linalg_graphs.py packages/evaluator-service/models
Deterministic: the same onnx version writes the same bytes.
"""
import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper

OPSET = 17


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="select-evaluator")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def knn_topk():
    nodes = [
        helper.make_node("MatMul", ["queries", "bank_t"], ["sims"]),
        helper.make_node("TopK", ["sims", "k"], ["values", "indices"], axis=-1, largest=1, sorted=1),
    ]
    return helper.make_graph(
        nodes,
        "knn_topk",
        [
            helper.make_tensor_value_info("queries", TensorProto.FLOAT, ["q", "d"]),
            helper.make_tensor_value_info("bank_t", TensorProto.FLOAT, ["d", "n"]),
            helper.make_tensor_value_info("k", TensorProto.INT64, [1]),
        ],
        [
            helper.make_tensor_value_info("values", TensorProto.FLOAT, ["q", "k"]),
            helper.make_tensor_value_info("indices", TensorProto.INT64, ["q", "k"]),
        ],
    )


def rbf_sum():
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [
        # -2 x y^T + ||x||^2 + ||y||^2 = squared distances
        helper.make_node("Gemm", ["x", "y"], ["xy"], alpha=-2.0, transB=1),
        helper.make_node("Add", ["xy", "x_sq"], ["d1"]),
        helper.make_node("Add", ["d1", "y_sq"], ["d2"]),
        helper.make_node("Mul", ["d2", "neg_gamma"], ["e"]),
        helper.make_node("Exp", ["e"], ["k"]),
        helper.make_node("Sub", ["k", "one"], ["k1"]),
        helper.make_node("ReduceSum", ["k1", "axes"], ["row_sums"], keepdims=0),
    ]
    return helper.make_graph(
        nodes,
        "rbf_sum",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["r", "d"]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", "d"]),
            helper.make_tensor_value_info("x_sq", TensorProto.FLOAT, ["r", 1]),
            helper.make_tensor_value_info("y_sq", TensorProto.FLOAT, [1, "m"]),
            helper.make_tensor_value_info("neg_gamma", TensorProto.FLOAT, []),
        ],
        [helper.make_tensor_value_info("row_sums", TensorProto.FLOAT, ["r"])],
        initializer=[one, axes],
    )


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "packages/evaluator-service/models")
    out.mkdir(parents=True, exist_ok=True)
    save(knn_topk(), out / "knn_topk.onnx")
    save(rbf_sum(), out / "rbf_sum.onnx")
    print(f"wrote {out}/knn_topk.onnx and {out}/rbf_sum.onnx")


if __name__ == "__main__":
    main()
