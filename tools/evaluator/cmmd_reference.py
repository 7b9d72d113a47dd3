"""CMMD written exactly as the reference implementation's `mmd` (google-research/cmmd, distance.py), in numpy:
Gaussian RBF kernel with sigma 10, scale 1000, the biased (minimum-variance) estimator over all pairs.

Usage: python cmmd_reference.py x.npy y.npy [--dtype float64|float32]
Prints one JSON line: {"cmmd": value, "seconds": time of the computation alone}.
The evaluator's test compares its blocked ONNX computation with this; tools/bench/cmmd times it as the peer.
"""
import json
import sys
import time

import numpy as np

_SIGMA = 10
_SCALE = 1000


def mmd(x, y):
    x_sqnorms = np.diag(np.matmul(x, x.T))
    y_sqnorms = np.diag(np.matmul(y, y.T))
    gamma = 1 / (2 * _SIGMA**2)
    k_xx = np.mean(np.exp(-gamma * (-2 * np.matmul(x, x.T) + np.expand_dims(x_sqnorms, 1) + np.expand_dims(x_sqnorms, 0))))
    k_xy = np.mean(np.exp(-gamma * (-2 * np.matmul(x, y.T) + np.expand_dims(x_sqnorms, 1) + np.expand_dims(y_sqnorms, 0))))
    k_yy = np.mean(np.exp(-gamma * (-2 * np.matmul(y, y.T) + np.expand_dims(y_sqnorms, 1) + np.expand_dims(y_sqnorms, 0))))
    return _SCALE * (k_xx + k_yy - 2 * k_xy)


def main():
    args = sys.argv[1:]
    dtype = "float64"
    if "--dtype" in args:
        i = args.index("--dtype")
        dtype = args[i + 1]
        del args[i : i + 2]
    x = np.load(args[0]).astype(dtype)
    y = np.load(args[1]).astype(dtype)
    start = time.perf_counter()
    value = float(mmd(x, y))
    print(json.dumps({"cmmd": value, "seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
