"""manifest.json per docs/MODEL-FORMAT.md: written, merged and validated here.

One folder can hold one model per screen colour (a green and a blue compact model side by side).
Each graph entry names its `screen` (absent = "green"), graph files of screens other than green carry
the screen in their name, and `models` lists one record (variant, source, exporter) per screen. The
top-level `variant`/`source`/`exporter` repeat the green model's record (or the only one), so a
reader that predates screens still finds a consistent single model in the green graphs.

Adding graphs is staged: graph files are written under temporary names, the merged manifest is built
from them, then the graphs are renamed into place and the manifest last (a crash in between leaves
graphs whose hashes the old manifest does not match: the plugin refuses them, it never runs a
half-updated model), and only then are replaced graphs deleted.
"""

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
SCREENS = ("green", "blue")
DEFAULT_SCREEN = "green"
VARIANT_NAMES = ("hiera_base_plus", "compact", "small")


class ManifestError(Exception):
    pass


def graph_file(role: str, precision: str, size: int | None, screen: str = DEFAULT_SCREEN) -> str:
    """coarse_<S>.<precision>[.<screen>].onnx / <role>.<precision>[.<screen>].onnx (green: no suffix)."""
    suffix = "" if screen == DEFAULT_SCREEN else f".{screen}"
    return f"coarse_{size}.{precision}{suffix}.onnx" if role == "coarse" else f"{role}.{precision}{suffix}.onnx"


def screen_of(entry: dict) -> str:
    return entry.get("screen", DEFAULT_SCREEN)


def _io(values) -> list[dict]:
    out = []
    for v in values:
        t = v.type.tensor_type
        shape = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in t.shape.dim]
        out.append({"name": v.name, "dtype": _DTYPES.get(t.elem_type, str(t.elem_type)), "shape": shape})
    return out


def graph_entry(path: Path, role: str, precision: str, size: int | None, screen: str = DEFAULT_SCREEN,
                name: str | None = None) -> dict:
    """The manifest entry of a graph file (`name`: its final file name when `path` is a staged copy)."""
    proto = onnx.load(str(path), load_external_data=False)
    return {
        "role": role,
        "size": size,
        "precision": precision,
        "screen": screen,
        "file": name or Path(path).name,
        "sha256": sha256_file(path),
        "bytes": Path(path).stat().st_size,
        "inputs": _io(proto.graph.input),
        "outputs": _io(proto.graph.output),
    }


def exporter_info() -> dict:
    return {"version": __version__, "torch": torch.__version__.split("+")[0], "timm": timm.__version__,
            "onnx": onnx.__version__, "opset": OPSET}


def model_record(variant: str, checkpoint: str | None, checkpoint_sha: str | None, seed: int | None,
                 screen: str = DEFAULT_SCREEN) -> dict:
    """What one model of a folder is: its screen colour, architecture variant, weights and exporter."""
    if screen not in SCREENS:
        raise ManifestError(f"screen colour must be one of {', '.join(SCREENS)}, got {screen!r}")
    return {"screen": screen, "variant": variant,
            "source": {"checkpoint": checkpoint, "sha256": checkpoint_sha, "seed": seed},
            "exporter": exporter_info()}


def new_manifest(variant: str, checkpoint: Path | None, checkpoint_sha: str | None, seed: int | None,
                 screen: str = DEFAULT_SCREEN) -> dict:
    """A one-model manifest with no graphs yet."""
    rec = model_record(variant, Path(checkpoint).name if checkpoint else None, checkpoint_sha, seed, screen)
    return _assemble([rec], [])


def models_of(manifest: dict) -> list[dict]:
    """The folder's model records; a manifest without `models` describes one green model."""
    if isinstance(manifest.get("models"), list):
        return manifest["models"]
    return [{"screen": DEFAULT_SCREEN, "variant": manifest.get("variant"), "source": manifest.get("source"),
             "exporter": manifest.get("exporter")}]


def model_for(manifest: dict, screen: str) -> dict | None:
    return next((m for m in models_of(manifest) if m.get("screen", DEFAULT_SCREEN) == screen), None)


def graphs_for(manifest: dict, screen: str) -> list[dict]:
    return [g for g in manifest.get("graphs", []) if screen_of(g) == screen]


def _assemble(records: list[dict], graphs: list[dict]) -> dict:
    records = sorted(records, key=lambda m: SCREENS.index(m["screen"]))
    head = next((m for m in records if m["screen"] == DEFAULT_SCREEN), records[0])
    graphs = sorted(graphs, key=lambda g: (SCREENS.index(screen_of(g)), ROLES.index(g["role"]), g["size"] or 0,
                                           g["precision"]))
    return {"schema": SCHEMA, "model": "GreenFormer", "variant": head["variant"], "source": head["source"],
            "exporter": head["exporter"], "models": records, "graphs": graphs}


def read(folder: Path) -> dict | None:
    """The folder's manifest of this schema, None when there is none (or one of another schema)."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"existing {path} is unreadable: {e}") from None
    return old if isinstance(old, dict) and old.get("schema") == SCHEMA else None


def merged(folder: Path, record: dict, entries: list[dict], replace: bool = False) -> tuple[dict, list[str]]:
    """The folder's manifest with `entries` (graphs of `record`'s screen) added, and the files of graphs
    it no longer lists. A screen holds one model: graphs from another source for the same screen are
    refused unless `replace`, which drops all of that screen's old graphs. Other screens are kept."""
    screen = record["screen"]
    if any(screen_of(e) != screen for e in entries):
        raise ManifestError(f"graphs for another screen than {screen!r} in one export")
    old = read(folder)
    if old is None:
        return _assemble([record], entries), []
    records = [dict(m, screen=m.get("screen", DEFAULT_SCREEN)) for m in models_of(old)]
    same = next((m for m in records if m["screen"] == screen), None)
    drop_screen = False
    if same is not None and (same.get("variant"), same.get("source")) != (record["variant"], record["source"]):
        if not replace:
            key = "variant" if same.get("variant") != record["variant"] else "source"
            raise ManifestError(
                f"{Path(folder) / MANIFEST} holds a {screen} model with {key}={same.get(key)!r}, not "
                f"{record[key]!r}: use another --out folder, or --replace to replace the {screen} model")
        drop_screen = True
    new_files = {e["file"] for e in entries}
    kept, gone = [], []
    for g in old.get("graphs", []):
        if screen_of(g) == screen and (drop_screen or g["file"] in new_files):
            if g["file"] not in new_files:
                gone.append(g["file"])
            continue
        kept.append(dict(g, screen=screen_of(g)))
    records = [m for m in records if m["screen"] != screen] + [record]
    return _assemble(records, kept + entries), gone


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def commit(folder: Path, manifest: dict, staged: dict[Path, str], stale: list[str]) -> dict:
    """Rename staged graph files (tmp path -> final name) into `folder`, write the manifest, then delete
    the files of graphs the manifest no longer lists."""
    folder = Path(folder)
    for tmp, name in staged.items():
        os.replace(tmp, folder / name)
    _atomic_text(folder / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    listed = {g["file"] for g in manifest["graphs"]}
    for name in stale:
        p = folder / name
        if name not in listed and p.is_file():
            p.unlink()
    return manifest


def merge(folder: Path, record: dict, entries: list[dict], replace: bool = False) -> dict:
    """Merge entries whose files are already in place (no staging) and write the manifest."""
    manifest, stale = merged(folder, record, entries, replace)
    return commit(folder, manifest, {}, stale)


def expected_io(role: str, size: int | None) -> tuple[list[dict], list[dict]]:
    f = "float32"
    if role == "coarse":
        q = size // 4
        return ([{"name": "image", "dtype": f, "shape": [1, 4, size, size]}],
                [{"name": "alpha_logits", "dtype": f, "shape": [1, 1, q, q]},
                 {"name": "fg_logits", "dtype": f, "shape": [1, 3, q, q]}])
    return ([{"name": "refiner_input", "dtype": f, "shape": ["B", 7, "T", "T"]}],
            [{"name": "delta_logits", "dtype": f, "shape": ["B", 4, "T", "T"]}])


def _check_record(m: dict, errors: list[str]) -> None:
    if m.get("variant") not in VARIANT_NAMES:
        errors.append(f"{m.get('screen', DEFAULT_SCREEN)} model: variant {m.get('variant')!r}")
    src = m.get("source") or {}
    if set(src) != {"checkpoint", "sha256", "seed"} or ((src["checkpoint"] is None) == (src["seed"] is None)):
        errors.append(f"{m.get('screen', DEFAULT_SCREEN)} model: source {src}")


def validate(folder: Path) -> dict:
    """Check the manifest against the contract and the graph files on disk; returns it."""
    folder = Path(folder)
    m = json.loads((folder / MANIFEST).read_text())
    errors = []
    if m.get("schema") != SCHEMA or m.get("model") != "GreenFormer":
        errors.append("schema/model")
    records = models_of(m)
    screens = [r.get("screen", DEFAULT_SCREEN) for r in records]
    if any(s not in SCREENS for s in screens) or len(set(screens)) != len(screens):
        errors.append(f"models: screens {screens} (one model per screen, of {', '.join(SCREENS)})")
    for r in records:
        _check_record(r, errors)
    if "models" in m:
        head = next((r for r in records if r.get("screen") == DEFAULT_SCREEN), records[0] if records else {})
        if (m.get("variant"), m.get("source")) != (head.get("variant"), head.get("source")):
            errors.append("top-level variant/source differ from the green (or only) model's")
    seen = set()
    for g in m.get("graphs", []):
        p = folder / g["file"]
        scr = screen_of(g)
        if g["role"] not in ROLES or g["precision"] not in PRECISIONS or scr not in SCREENS:
            errors.append(f"{g['file']}: role/precision/screen")
            continue
        if scr not in screens:
            errors.append(f"{g['file']}: no {scr} model in models")
        key = (scr, g["role"], g["size"], g["precision"])
        if key in seen:
            errors.append(f"{g['file']}: duplicate {key}")
        seen.add(key)
        if g["file"] != graph_file(g["role"], g["precision"], g["size"], scr):
            errors.append(f"{g['file']}: file name")
        if not p.is_file():
            errors.append(f"{g['file']}: missing")
            continue
        if sha256_file(p) != g["sha256"] or p.stat().st_size != g["bytes"]:
            errors.append(f"{g['file']}: sha256/bytes differ from the file")
            continue
        actual = graph_entry(p, g["role"], g["precision"], g["size"], scr)
        exp_in, exp_out = expected_io(g["role"], g["size"])
        if (g["inputs"], g["outputs"]) != (exp_in, exp_out) or (actual["inputs"], actual["outputs"]) != (exp_in, exp_out):
            errors.append(f"{g['file']}: I/O {actual['inputs']} -> {actual['outputs']}")
        proto = onnx.load(str(p), load_external_data=False)
        if proto.ir_version > 10:
            errors.append(f"{g['file']}: ir_version {proto.ir_version}")
    if errors:
        raise ManifestError(f"{folder / MANIFEST}: " + "; ".join(errors))
    return m
