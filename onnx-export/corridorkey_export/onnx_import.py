"""Recover a model's weights from its exported graphs (the shipped models' checkpoints stayed on the
training machine; the graphs in bundle/models are what we have).

The exporter keeps most parameters under their state-dict names; the rest are stored transformed:
Linear weights transposed for MatMul (`val_N`), GroupNorm affine parameters reshaped (`view_N`), and
each decoder's projections folded with its `linear_fuse` (model.FusedDecoderHead: `w_c*`, `b_c*`). The
names of the transformed ones are found by exporting a template model of the same variant and size
with seeded weights (every value distinct) and matching each unnamed initializer to the parameter it
holds. The fused decoder is unfolded exactly: projection i := W_i P_i (with bias), linear_fuse := [I I I I],
which computes the same function (BatchNorm and the classifier come by name).

The result carries the graphs' precision (fp16 rounding for fp16 graphs); `check` compares the
recovered model with the graphs on a held-out plate.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from .manifest import graphs_for, model_for
from .model import GreenFormer, seeded_model


class GraphImportError(ValueError):
    pass


def _inits(proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i).astype(np.float32) for i in proto.graph.initializer
            if i.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)}


def _template_names(template: GreenFormer, proto: onnx.ModelProto) -> dict[str, tuple[str, str]]:
    """Initializer name -> (state-dict key, 'T' | 'view') for the initializers not named after a key."""
    params = {k: v.detach().float().numpy() for k, v in template.state_dict().items() if v.is_floating_point()}
    by_shape: dict[tuple, list[str]] = {}
    for k, v in params.items():
        by_shape.setdefault(tuple(v.shape), []).append(k)
    found = {}
    for name, arr in _inits(proto).items():
        if name in params or arr.size < 2:
            continue
        hits = []
        if arr.ndim == 2:
            hits += [(k, "T") for k in by_shape.get((arr.shape[1], arr.shape[0]), []) if np.array_equal(params[k].T, arr)]
        hits += [(k, "view") for k, v in params.items() if v.ndim == 1 and v.size == arr.size and arr.ndim == 4
                 and np.array_equal(v, arr.reshape(-1))]
        if len(hits) > 1:
            raise GraphImportError(f"{name}: matches {len(hits)} parameters of the template")
        if hits:
            found[name] = hits[0]
    return found


def _unfuse(sd: dict[str, torch.Tensor], inits: dict[str, np.ndarray], head: str) -> None:
    dim = inits[f"{head}.b_c1"].shape[0]
    for c in ("c1", "c2", "c3", "c4"):
        sd[f"{head}.linear_{c}.proj.weight"] = torch.from_numpy(inits[f"{head}.w_{c}"][:, :, 0, 0].copy())
        sd[f"{head}.linear_{c}.proj.bias"] = torch.from_numpy(inits[f"{head}.b_{c}"].copy())
    # linear_fuse's input is cat[c4, c3, c2, c1]: an identity block per branch sums them.
    sd[f"{head}.linear_fuse.weight"] = torch.eye(dim).repeat(1, 4)[:, :, None, None].contiguous()


def state_from_graphs(folder: Path, screen: str = "green", precision: str = "fp16") -> tuple[dict, dict]:
    """(state dict of GreenFormer at the coarse graph's size, the manifest's model record)."""
    from .export import export_coarse_proto, export_refiner_proto

    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    record = model_for(manifest, screen)
    graphs = [g for g in graphs_for(manifest, screen) if g["precision"] == precision]
    coarse = max((g for g in graphs if g["role"] == "coarse"), key=lambda g: g["size"], default=None)
    refiner = next((g for g in graphs if g["role"] == "refiner"), None)
    if record is None or coarse is None or refiner is None:
        raise GraphImportError(f"{folder}: no {precision} {screen} coarse + refiner graphs")
    size = coarse["size"]
    template = seeded_model(record["variant"], size, 1234)
    names = _template_names(template, export_coarse_proto(template))
    names.update(_template_names(template, export_refiner_proto(template)))
    inits = _inits(onnx.load(str(folder / coarse["file"])))
    inits.update(_inits(onnx.load(str(folder / refiner["file"]))))
    expected = template.state_dict()
    sd: dict[str, torch.Tensor] = {}
    for k in expected:
        if k in inits:
            sd[k] = torch.from_numpy(inits[k].copy()).reshape(expected[k].shape)
    for name, (k, how) in names.items():
        if name not in inits:
            raise GraphImportError(f"{coarse['file']}/{refiner['file']}: no initializer {name} (another exporter version?)")
        a = inits[name]
        sd[k] = torch.from_numpy((a.T if how == "T" else a.reshape(-1)).copy()).reshape(expected[k].shape)
    for head in ("alpha_decoder", "fg_decoder"):
        _unfuse(sd, inits, head)
    for k, v in expected.items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.zeros_like(v)
    missing = [k for k in expected if k not in sd]
    if missing:
        raise GraphImportError(f"not recovered from the graphs: {', '.join(missing)}")
    return {k: sd[k].to(expected[k].dtype).contiguous() for k in expected}, record


def check(folder: Path, model: GreenFormer, screen: str, height: int = 72, width: int = 128) -> float:
    """Max |alpha| difference between the recovered model (PyTorch) and the folder's graphs (ORT) on a
    held-out plate."""
    from .quality import OnnxModel, TorchKeyer, builtin_hint, heldout_plate

    p = heldout_plate(screen, "generator", 0, height, width)
    hint = builtin_hint(p)
    a = OnnxModel(folder, "fp16", screen=screen).alpha(p.plate, bool(p.is_linear[0]), hint)
    b = TorchKeyer(model).alpha(p.plate, bool(p.is_linear[0]), hint)
    return float((a - b).abs().max())


def import_graphs(folder: Path, screen: str, out: Path, precision: str = "fp16") -> dict:
    """Write the recovered weights to `out` (safetensors, fp32 values of the graphs' precision)."""
    from safetensors.torch import save_file

    sd, record = state_from_graphs(folder, screen, precision)
    size = int(round(sd["encoder.model.pos_embed"].shape[1] ** 0.5)) * 4  # tokens = (S/4)^2
    model = GreenFormer(record["variant"], size)
    model.load_state_dict(sd, strict=True)
    diff = check(folder, model.eval(), screen)
    save_file(sd, str(out), metadata={"format": "pt", "variant": record["variant"], "screen": screen,
                                      "from_graphs": json.dumps(record.get("source"))})
    return {"weights": str(out), "max_abs_alpha_vs_graphs": diff, "source": record.get("source")}
