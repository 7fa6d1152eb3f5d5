"""The refiner graph for GPU providers: GroupNorm as ONNX Runtime's fused `com.microsoft.GroupNorm`.

The shipped refiner takes GroupNorm means axis by axis (model.GroupNorm), which keeps fp32 accuracy
on the CPU but runs as many small reductions on the GPU: half of each refiner run (16.3 of 8.0 ms
without GroupNorm per 4x512x512 batch on an H100, BENCHMARKS.md). ORT's CUDA GroupNorm kernel (from
TensorRT's plugin, `contrib_ops/cuda/diffusion/`) computes the statistics in one fused pass in fp32
on NHWC data; it has no CPU kernel, so this graph is an extra `refiner_gpu` entry beside the
portable `refiner` (docs/MODEL-FORMAT.md) and the plugin uses it only on a GPU provider.

Same inputs and outputs as the refiner: `refiner_input` [B,7,T,T] -> `delta_logits` [B,4,T,T]. After the
fp16 conversion gamma and beta reach the kernel as fp32 (the converter keeps GroupNorm's inputs 1-2
float), the form measured on the H200.
"""

from __future__ import annotations

import contextlib
import types

import onnx
import torch

from .model import GroupNorm

CONTRIB = "com.microsoft"


def _fused_forward(self: GroupNorm, x: torch.Tensor) -> torch.Tensor:
    if not torch.onnx.is_in_onnx_export():
        return torch.nn.GroupNorm.forward(self, x)
    nhwc = x.permute(0, 2, 3, 1)
    y = torch.onnx.ops.symbolic(
        f"{CONTRIB}::GroupNorm",
        [nhwc, self.weight, self.bias],
        {"epsilon": float(self.eps), "groups": int(self.num_groups), "activation": 0, "channels_last": 1},
        dtype=nhwc.dtype,
        shape=nhwc.shape,
        version=1,
    )
    return y.permute(0, 3, 1, 2)


@contextlib.contextmanager
def fused_groupnorm(model: torch.nn.Module):
    """Temporarily export every refiner GroupNorm in `model` as the fused contrib op."""
    patched = [m for m in model.modules() if isinstance(m, GroupNorm)]
    for m in patched:
        m.forward = types.MethodType(_fused_forward, m)
    try:
        yield model
    finally:
        for m in patched:
            del m.forward


def groupnorm_nodes(proto: onnx.ModelProto) -> int:
    return sum(1 for n in proto.graph.node if n.domain == CONTRIB and n.op_type == "GroupNorm")
