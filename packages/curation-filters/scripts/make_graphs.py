"""Writes the small ONNX graphs @select/curation-filters runs through @select/inference (MLAS GEMM kernels).

Usage: .work/py/bin/python packages/curation-filters/scripts/make_graphs.py
Each graph is a few hundred bytes and committed under packages/curation-filters/graphs/; rerunning this
script rewrites them byte-identically. All inputs are float32 row-major; B is never transposed in memory
(Gemm transB=1 reads it as it is).
"""
import os

import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'graphs')
OPSET = 17


def value(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def save(name, nodes, inputs, outputs):
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, producer_name='select-curation-filters', opset_imports=[helper.make_opsetid('', OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(OUT, f'{name}.onnx')
    with open(path, 'wb') as f:
        f.write(model.SerializeToString())
    print(f'wrote {path} ({os.path.getsize(path)} bytes)')


os.makedirs(OUT, exist_ok=True)

# nearest: for every row of A [n, d], the best row of B [m, d] by dot product (ties: the lower index).
save(
    'nearest',
    [
        helper.make_node('Gemm', ['a', 'b'], ['s'], transB=1),
        helper.make_node('ReduceMax', ['s'], ['best_score'], axes=[1], keepdims=0),
        helper.make_node('ArgMax', ['s'], ['best_index'], axis=1, keepdims=0, select_last_index=0),
    ],
    [value('a', TensorProto.FLOAT, ['n', 'd']), value('b', TensorProto.FLOAT, ['m', 'd'])],
    [value('best_score', TensorProto.FLOAT, ['n']), value('best_index', TensorProto.INT64, ['n'])],
)

# nearest_normalized: `nearest` with the rows of A L2-normalised first (streaming k-means assignment of raw
# embeddings without a pass over them in JavaScript); `norm` gives each row's L2 norm so that the caller
# can refuse zero and non-finite rows (LpNormalization leaves a zero row at zero).
save(
    'nearest_normalized',
    [
        helper.make_node('ReduceL2', ['a'], ['norm'], axes=[1], keepdims=0),
        helper.make_node('LpNormalization', ['a'], ['unit'], axis=1, p=2),
        helper.make_node('Gemm', ['unit', 'b'], ['s'], transB=1),
        helper.make_node('ReduceMax', ['s'], ['best_score'], axes=[1], keepdims=0),
        helper.make_node('ArgMax', ['s'], ['best_index'], axis=1, keepdims=0, select_last_index=0),
    ],
    [value('a', TensorProto.FLOAT, ['n', 'd']), value('b', TensorProto.FLOAT, ['m', 'd'])],
    [value('best_score', TensorProto.FLOAT, ['n']), value('best_index', TensorProto.INT64, ['n']), value('norm', TensorProto.FLOAT, ['n'])],
)

# similarities: the whole product A·Bᵀ (k-means++ seeding reads the Gram matrix of its seeding rows).
save(
    'similarities',
    [helper.make_node('Gemm', ['a', 'b'], ['s'], transB=1)],
    [value('a', TensorProto.FLOAT, ['n', 'd']), value('b', TensorProto.FLOAT, ['m', 'd'])],
    [value('s', TensorProto.FLOAT, ['n', 'm'])],
)

# top_k: the k best rows of B for every row of A, best first (ties: the lower index first).
save(
    'top_k',
    [
        helper.make_node('Gemm', ['a', 'b'], ['s'], transB=1),
        helper.make_node('TopK', ['s', 'k'], ['scores', 'indices'], axis=1, largest=1, sorted=1),
    ],
    [value('a', TensorProto.FLOAT, ['n', 'd']), value('b', TensorProto.FLOAT, ['m', 'd']), value('k', TensorProto.INT64, [1])],
    [value('scores', TensorProto.FLOAT, ['n', 'k']), value('indices', TensorProto.INT64, ['n', 'k'])],
)

# pairs: S = A B^T with every entry below diagonal `offset` set to 0 (Trilu upper: keeps j - i >= offset),
# then per column its best row (SemDeDup's max over earlier points) and every entry strictly above
# `threshold` as [i, j] pairs with their scores. Masked entries are 0, so a threshold >= 0 never sees them.
save(
    'pairs',
    [
        helper.make_node('Gemm', ['a', 'b'], ['s'], transB=1),
        helper.make_node('Trilu', ['s', 'offset'], ['u'], upper=1),
        helper.make_node('ReduceMax', ['u'], ['column_max'], axes=[0], keepdims=0),
        helper.make_node('ArgMax', ['u'], ['column_argmax'], axis=0, keepdims=0, select_last_index=0),
        helper.make_node('Greater', ['u', 'threshold'], ['mask']),
        helper.make_node('NonZero', ['mask'], ['nz']),
        helper.make_node('Transpose', ['nz'], ['pair_index'], perm=[1, 0]),
        helper.make_node('GatherND', ['u', 'pair_index'], ['pair_score']),
    ],
    [
        value('a', TensorProto.FLOAT, ['n', 'd']),
        value('b', TensorProto.FLOAT, ['m', 'd']),
        value('offset', TensorProto.INT64, []),
        value('threshold', TensorProto.FLOAT, []),
    ],
    [
        value('column_max', TensorProto.FLOAT, ['m']),
        value('column_argmax', TensorProto.INT64, ['m']),
        value('pair_index', TensorProto.INT64, ['p', 2]),
        value('pair_score', TensorProto.FLOAT, ['p']),
    ],
)

# earlier_max_self: per member j, its best earlier member i < j under X·Xᵀ (SemDeDup's `triu(S, 1).max(0)`).
# S is symmetric, so the column maxima of the upper triangle are the row maxima of the lower one: row
# reductions run over contiguous memory, column reductions would stride.
save(
    'earlier_max_self',
    [
        helper.make_node('Gemm', ['x', 'x'], ['s'], transB=1),
        helper.make_node('Constant', [], ['minus_one'], value=helper.make_tensor('minus_one', TensorProto.INT64, [], [-1])),
        helper.make_node('Trilu', ['s', 'minus_one'], ['l'], upper=0),
        helper.make_node('ReduceMax', ['l'], ['column_max'], axes=[1], keepdims=0),
        helper.make_node('ArgMax', ['l'], ['column_argmax'], axis=1, keepdims=0, select_last_index=0),
    ],
    [value('x', TensorProto.FLOAT, ['n', 'd'])],
    [value('column_max', TensorProto.FLOAT, ['n']), value('column_argmax', TensorProto.INT64, ['n'])],
)

# earlier_max: per row j of B, its best row of A (every row of A earlier than every row of B), computed
# as B·Aᵀ with row reductions.
save(
    'earlier_max',
    [
        helper.make_node('Gemm', ['b', 'a'], ['s'], transB=1),
        helper.make_node('ReduceMax', ['s'], ['column_max'], axes=[1], keepdims=0),
        helper.make_node('ArgMax', ['s'], ['column_argmax'], axis=1, keepdims=0, select_last_index=0),
    ],
    [value('a', TensorProto.FLOAT, ['n', 'd']), value('b', TensorProto.FLOAT, ['m', 'd'])],
    [value('column_max', TensorProto.FLOAT, ['m']), value('column_argmax', TensorProto.INT64, ['m'])],
)


def earlier_max_parts(parts):
    """`earlier_max_self` computing only the lower triangle, in `parts` row bands: band p (rows [s_p, e_p),
    s_p = floor(p n / parts)) is multiplied by the rows before its end only (x[0:e_p]), then masked below its
    own diagonal (Trilu k = s_p - 1) and reduced per row. (parts + 1) / (2 parts) of the full product's
    multiply-adds; needs n >= parts (every band non-empty)."""
    c = lambda name, values: helper.make_node('Constant', [], [name], value=helper.make_tensor(name, TensorProto.INT64, [len(values)], values))
    nodes = [
        helper.make_node('Shape', ['x'], ['shape']),
        c('zero', [0]),
        c('one', [1]),
        c('parts', [parts]),
        helper.make_node('Slice', ['shape', 'zero', 'one'], ['n']),
        helper.make_node('Constant', [], ['one_scalar'], value=helper.make_tensor('one_scalar', TensorProto.INT64, [], [1])),
    ]
    for p in range(parts + 1):
        nodes += [c(f'p{p}', [p]), helper.make_node('Mul', ['n', f'p{p}'], [f'np{p}']), helper.make_node('Div', [f'np{p}', 'parts'], [f'b{p}'])]
    maxes, argmaxes = [], []
    for p in range(parts):
        nodes += [
            helper.make_node('Slice', ['x', f'b{p}', f'b{p + 1}', 'zero'], [f'x{p}']),
            helper.make_node('Slice', ['x', 'zero', f'b{p + 1}', 'zero'], [f'prefix{p}']),
            helper.make_node('Gemm', [f'x{p}', f'prefix{p}'], [f's{p}'], transB=1),
            helper.make_node('Squeeze', [f'b{p}', 'zero'], [f'start{p}']),
            helper.make_node('Sub', [f'start{p}', 'one_scalar'], [f'k{p}']),
            helper.make_node('Trilu', [f's{p}', f'k{p}'], [f'l{p}'], upper=0),
            helper.make_node('ReduceMax', [f'l{p}'], [f'max{p}'], axes=[1], keepdims=0),
            helper.make_node('ArgMax', [f'l{p}'], [f'argmax{p}'], axis=1, keepdims=0, select_last_index=0),
        ]
        maxes.append(f'max{p}')
        argmaxes.append(f'argmax{p}')
    nodes += [helper.make_node('Concat', maxes, ['column_max'], axis=0), helper.make_node('Concat', argmaxes, ['column_argmax'], axis=0)]
    save(
        f'earlier_max_self_{parts}',
        nodes,
        [value('x', TensorProto.FLOAT, ['n', 'd'])],
        [value('column_max', TensorProto.FLOAT, ['n']), value('column_argmax', TensorProto.INT64, ['n'])],
    )


# earlier_max_self_4 / _8: earlier_max_self on the lower triangle only (5/8 and 9/16 of the multiply-adds).
earlier_max_parts(4)
earlier_max_parts(8)
