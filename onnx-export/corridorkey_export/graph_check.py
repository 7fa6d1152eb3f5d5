"""Static checks on exported graphs: fused attention everywhere, no N x N score tensors."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import onnx


@dataclass
class AttentionReport:
    op_counts: Counter
    mha_nodes: int
    score_like: list[tuple[str, list[int]]]  # tensors with a (N|N/4) x N pair of axes
    unknown_shapes: int
    checked: int


def global_tokens(size: int) -> int:
    """Tokens entering the stage-3 global attention blocks: (S / 16)^2."""
    return (size // 16) ** 2


def attention_report(proto: onnx.ModelProto, n: int) -> AttentionReport:
    """Run ONNX shape inference and list every tensor that could be an attention score matrix.

    A score matrix of global attention has two axes (Nq, Nk) with Nk = N and Nq = N (or N/4 for the
    q-pooled block); any tensor with such a pair of axes is reported.
    """
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False, data_prop=True)
    g = inferred.graph
    values = list(g.value_info) + list(g.output) + list(g.input)
    bad, unknown, checked = [], 0, 0
    pairs = {(n, n), (n // 4, n), (n, n // 4)}
    for v in values:
        dims = v.type.tensor_type.shape.dim
        shape = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
        if any(s < 0 for s in shape):
            unknown += 1
        checked += 1
        if any((shape[i], shape[j]) in pairs for i in range(len(shape)) for j in range(i + 1, len(shape))):
            bad.append((v.name, shape))
    ops = Counter(node.op_type for node in g.node)
    return AttentionReport(ops, ops.get("MultiHeadAttention", 0), bad, unknown, checked)
