"""Export-time attention for timm's Hiera `MaskUnitAttention`.

Stock timm builds 5-D q/k/v `[B, heads, windows, tokens, head_dim]` for mask-unit blocks, which the
dynamo exporter cannot lower to a fused op. This forward folds the windows into the batch axis
(exact: windows never attend to each other) and emits `com.microsoft.MultiHeadAttention` on 3-D
`[B*windows, tokens, heads*head_dim]` tensors, so no graph tensor holds an N x N score matrix.
Eagerly it computes the same thing with SDPA, which lets tests compare it with timm's forward.
"""

from __future__ import annotations

import contextlib
import types

import torch
import torch.nn.functional as F
from timm.models.hiera import MaskUnitAttention


def _mha(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, scale: float) -> torch.Tensor:
    if torch.onnx.is_in_onnx_export():
        return torch.onnx.ops.symbolic(
            "com.microsoft::MultiHeadAttention",
            [q, k, v],
            {"num_heads": heads, "scale": float(scale)},
            dtype=q.dtype,
            shape=q.shape,
            version=1,
        )
    b, tq, c = q.shape
    hd = c // heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(b, t.shape[1], heads, hd).transpose(1, 2)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v), scale=scale)
    return out.transpose(1, 2).reshape(b, tq, c)


def folded_forward(self: MaskUnitAttention, x: torch.Tensor) -> torch.Tensor:
    b, n, _ = x.shape
    c = self.dim_out
    windows = n // (self.q_stride * self.window_size) if self.use_mask_unit_attn else 1
    # timm's channel split is (3, heads, head_dim) and its token axis is (tokens, windows), windows fastest.
    qkv = self.qkv(x).reshape(b, n // windows, windows, 3, c)
    q, k, v = qkv.unbind(3)
    if self.q_stride > 1:
        # timm views each window's tokens as [q_stride, tokens/q_stride] and takes the max over q_stride.
        q = q.reshape(b, self.q_stride, -1, windows, c).amax(dim=1)

    def fold(t: torch.Tensor) -> torch.Tensor:
        return t.transpose(1, 2).reshape(b * windows, -1, c) if windows > 1 else t.reshape(b, -1, c)

    out = _mha(fold(q), fold(k), fold(v), self.heads, self.scale)
    if windows > 1:
        out = out.reshape(b, windows, -1, c).transpose(1, 2)
    return self.proj(out.reshape(b, -1, c))


@contextlib.contextmanager
def folded_attention(model: torch.nn.Module):
    """Temporarily switch every MaskUnitAttention in `model` to the folded forward."""
    patched = []
    for m in model.modules():
        if isinstance(m, MaskUnitAttention):
            patched.append(m)
            m.forward = types.MethodType(folded_forward, m)
    try:
        yield model
    finally:
        for m in patched:
            del m.forward
