"""ONNX export of the two graphs (docs/MODEL-FORMAT.md): `coarse_<S>` (static) and `refiner` (dynamic B, T)."""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import onnx
import torch

from .attention import folded_attention
from .model import FusedDecoderHead, GreenFormer, check_size

OPSET = 18
MAX_IR_VERSION = 10
COARSE_INPUTS = ["image"]
COARSE_OUTPUTS = ["alpha_logits", "fg_logits"]
REFINER_INPUTS = ["refiner_input"]
REFINER_OUTPUTS = ["delta_logits"]


class _Coarse(torch.nn.Module):
    def __init__(self, model: GreenFormer):
        super().__init__()
        self.encoder = model.encoder
        self.alpha_decoder = FusedDecoderHead(model.alpha_decoder)
        self.fg_decoder = FusedDecoderHead(model.fg_decoder)

    def forward(self, image: torch.Tensor):
        features = self.encoder(image)
        return self.alpha_decoder(features), self.fg_decoder(features)


class _Refiner(torch.nn.Module):
    def __init__(self, model: GreenFormer):
        super().__init__()
        self.refiner = model.refiner

    def forward(self, refiner_input: torch.Tensor):
        return self.refiner.forward_packed(refiner_input)


@contextlib.contextmanager
def _quiet(verbose: bool):
    """The dynamo exporter prints progress lines; keep the CLI's output to what matters."""
    if verbose:
        yield
        return
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _finish(proto: onnx.ModelProto, dim_names: dict[str, str] | None = None) -> onnx.ModelProto:
    if proto.ir_version > MAX_IR_VERSION:
        proto.ir_version = MAX_IR_VERSION
    if dim_names:
        for vi in list(proto.graph.input) + list(proto.graph.output):
            for d in vi.type.tensor_type.shape.dim:
                if d.HasField("dim_param") and d.dim_param in dim_names:
                    d.dim_param = dim_names[d.dim_param]
    proto.producer_name = "corridorkey_export"
    return proto


def export_coarse_proto(model: GreenFormer, verbose: bool = False) -> onnx.ModelProto:
    """Trace (fake tensors, no real forward) the backbone + decoders at the model's img_size."""
    size = model.img_size
    check_size(size)
    example = torch.zeros(1, 4, size, size)
    with torch.no_grad(), folded_attention(model), _quiet(verbose):
        prog = torch.onnx.export(
            _Coarse(model).eval(),
            (example,),
            None,
            input_names=COARSE_INPUTS,
            output_names=COARSE_OUTPUTS,
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            optimize=True,
            verify=False,
        )
    return _finish(prog.model_proto)


def export_refiner_proto(model: GreenFormer, verbose: bool = False) -> onnx.ModelProto:
    example = torch.zeros(2, 7, 64, 64)
    b, t = torch.export.Dim("B", min=1, max=1024), torch.export.Dim("T", min=16, max=16384)
    with torch.no_grad(), _quiet(verbose):
        prog = torch.onnx.export(
            _Refiner(model).eval(),
            (example,),
            None,
            input_names=REFINER_INPUTS,
            output_names=REFINER_OUTPUTS,
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            dynamic_shapes={"refiner_input": {0: b, 2: t, 3: t}},
            optimize=True,
            verify=False,
        )
    return _finish(prog.model_proto, {"B": "B", "T": "T", "s0": "B", "s1": "T"})


def export_refiner_gpu_proto(model: GreenFormer, verbose: bool = False) -> onnx.ModelProto:
    """The refiner with GroupNorm as ORT's fused CUDA kernel (gpu_refiner.py); GPU providers only."""
    from .gpu_refiner import fused_groupnorm

    with fused_groupnorm(model):
        proto = export_refiner_proto(model, verbose)
    return proto


def to_fp16(proto: onnx.ModelProto) -> onnx.ModelProto:
    """fp16 weights and math, fp32 graph I/O (Casts at the edges)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    converted = convert_float_to_float16(proto, keep_io_types=True, disable_shape_infer=True)
    wrapped = OnnxModel(converted)
    wrapped.remove_cascaded_cast_nodes()
    wrapped.topological_sort()
    return _finish(wrapped.model)


def save(proto: onnx.ModelProto, path: Path) -> None:
    """Single-file graph (< 2 GB even at S=2048 fp32), written atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    onnx.save_model(proto, str(tmp))
    os.replace(tmp, path)
