"""manifest.json per docs/MODEL-FORMAT.md: written, merged and validated here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import onnx
import timm
import torch

from . import __version__
from .checkpoint import sha256_file
from .export import OPSET

SCHEMA = "corridorkey-model/1"
MANIFEST = "manifest.json"
_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16"}
ROLES = ("coarse", "refiner", "refiner_gpu")
PRECISIONS = ("fp32", "fp16")


class ManifestError(Exception):
    pass


def graph_file(role: str, precision: str, size: int | None) -> str:
    return f"coarse_{size}.{precision}.onnx" if role == "coarse" else f"{role}.{precision}.onnx"


def _io(values) -> list[dict]:
    out = []
    for v in values:
        t = v.type.tensor_type
        shape = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in t.shape.dim]
        out.append({"name": v.name, "dtype": _DTYPES.get(t.elem_type, str(t.elem_type)), "shape": shape})
    return out


def graph_entry(path: Path, role: str, precision: str, size: int | None) -> dict:
    proto = onnx.load(str(path), load_external_data=False)
    return {
        "role": role,
        "size": size,
        "precision": precision,
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "inputs": _io(proto.graph.input),
        "outputs": _io(proto.graph.output),
    }


def new_manifest(variant: str, checkpoint: Path | None, checkpoint_sha: str | None, seed: int | None) -> dict:
    return {
        "schema": SCHEMA,
        "model": "GreenFormer",
        "variant": variant,
        "source": {"checkpoint": checkpoint.name if checkpoint else None, "sha256": checkpoint_sha, "seed": seed},
        "exporter": {
            "version": __version__,
            "torch": torch.__version__.split("+")[0],
            "timm": timm.__version__,
            "onnx": onnx.__version__,
            "opset": OPSET,
        },
        "graphs": [],
    }


def merge(folder: Path, fresh: dict, entries: list[dict]) -> dict:
    """Add `entries` to the folder's manifest (replacing same-file entries); refuse mixing sources."""
    path = folder / MANIFEST
    manifest = fresh
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ManifestError(f"existing {path} is unreadable: {e}") from None
        if old.get("schema") == SCHEMA:
            for key in ("variant", "source"):
                if old.get(key) != fresh[key]:
                    raise ManifestError(
                        f"{path} describes graphs with {key}={old.get(key)!r}, not {fresh[key]!r}: use another --out folder"
                    )
            keep = {e["file"] for e in entries}
            manifest = dict(fresh, graphs=[g for g in old.get("graphs", []) if g["file"] not in keep])
    manifest["graphs"] = sorted(manifest["graphs"] + entries,
                                key=lambda g: (ROLES.index(g["role"]), g["size"] or 0, g["precision"]))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, path)
    return manifest


def expected_io(role: str, size: int | None) -> tuple[list[dict], list[dict]]:
    f = "float32"
    if role == "coarse":
        q = size // 4
        return ([{"name": "image", "dtype": f, "shape": [1, 4, size, size]}],
                [{"name": "alpha_logits", "dtype": f, "shape": [1, 1, q, q]},
                 {"name": "fg_logits", "dtype": f, "shape": [1, 3, q, q]}])
    return ([{"name": "refiner_input", "dtype": f, "shape": ["B", 7, "T", "T"]}],
            [{"name": "delta_logits", "dtype": f, "shape": ["B", 4, "T", "T"]}])


def validate(folder: Path) -> dict:
    """Check the manifest against the contract and the graph files on disk; returns it."""
    folder = Path(folder)
    m = json.loads((folder / MANIFEST).read_text())
    errors = []
    if m.get("schema") != SCHEMA or m.get("model") != "GreenFormer":
        errors.append("schema/model")
    if m.get("variant") not in ("hiera_base_plus", "compact", "small"):
        errors.append(f"variant {m.get('variant')!r}")
    src = m.get("source", {})
    if set(src) != {"checkpoint", "sha256", "seed"} or ((src["checkpoint"] is None) == (src["seed"] is None)):
        errors.append(f"source {src}")
    for g in m.get("graphs", []):
        p = folder / g["file"]
        if g["role"] not in ROLES or g["precision"] not in PRECISIONS:
            errors.append(f"{g['file']}: role/precision")
            continue
        if g["file"] != graph_file(g["role"], g["precision"], g["size"]):
            errors.append(f"{g['file']}: file name")
        if not p.is_file():
            errors.append(f"{g['file']}: missing")
            continue
        if sha256_file(p) != g["sha256"] or p.stat().st_size != g["bytes"]:
            errors.append(f"{g['file']}: sha256/bytes differ from the file")
            continue
        actual = graph_entry(p, g["role"], g["precision"], g["size"])
        exp_in, exp_out = expected_io(g["role"], g["size"])
        if (g["inputs"], g["outputs"]) != (exp_in, exp_out) or (actual["inputs"], actual["outputs"]) != (exp_in, exp_out):
            errors.append(f"{g['file']}: I/O {actual['inputs']} -> {actual['outputs']}")
        proto = onnx.load(str(p), load_external_data=False)
        if proto.ir_version > 10:
            errors.append(f"{g['file']}: ir_version {proto.ir_version}")
    if errors:
        raise ManifestError(f"{folder / MANIFEST}: " + "; ".join(errors))
    return m
