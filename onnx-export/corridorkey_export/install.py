"""Install trained models collected from the training machine into a model folder (bundle/models).

A collected folder (onnx-export/gpu/train_ship.sh collect) holds `ship_<screen>.json`, the fp16 graphs
it lists and the fp16 weights. Each is checked (sha256 against the record), copied in under temporary
names and merged into the folder's manifest as that screen's model, replacing the screen's previous
model (its graphs are deleted once the new manifest is in place); other screens stay. `fp32` adds fp32
graphs exported here from the same weights (same source), and so is the fused-GroupNorm GPU refiner
(`refiner_gpu`). A record whose export failed on the training machine is exported here from its
weights. The training record goes to `train_<screen>.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .checkpoint import sha256_file
from .manifest import DEFAULT_SCREEN, ManifestError, commit, graph_entry, graphs_for, merged, model_for, validate

LEGACY = ("recipe.json", "train_log.jsonl")  # the single-model bundle's training files (green)


class InstallError(RuntimeError):
    pass


def _record(folder: Path) -> tuple[Path, dict]:
    found = sorted(Path(folder).glob("ship_*.json"))
    if len(found) != 1:
        raise InstallError(f"{folder}: expected one ship_<screen>.json, found {[p.name for p in found]}")
    return found[0], json.loads(found[0].read_text())


def _verified_graphs(folder: Path, rec: dict) -> list[dict] | None:
    """The record's graph entries if every file is there with its hash, else None."""
    m = rec.get("manifest")
    if not m:
        return None
    graphs = graphs_for(m, rec["screen"])
    for g in graphs:
        p = folder / g["file"]
        if not p.is_file() or sha256_file(p) != g["sha256"]:
            raise InstallError(f"{p}: missing or not the file the record lists (sha256)")
    return graphs


def _export_here(weights: Path, screen: str, size: int, precisions: list[str], tmp: Path) -> dict:
    from .pipeline import build_model, export_folder

    model = build_model(None, size, weights, None)
    return export_folder(model, tmp, precisions, checkpoint=weights, screen=screen)


def install(collected: list[Path], out: Path, fp32: bool = False, echo=print) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for folder in map(Path, collected):
        rec_path, rec = _record(folder)
        screen = rec["screen"]
        weights = folder / rec["weights"]["file"] if rec.get("weights") else None
        if weights is not None and (not weights.is_file() or sha256_file(weights) != rec["weights"]["sha256"]):
            raise InstallError(f"{weights}: missing or not the weights the record lists (sha256)")
        size = rec["plan"]["export_size"]
        with tempfile.TemporaryDirectory(dir=out, prefix=".install-") as tmp_name:
            tmp = Path(tmp_name)
            graphs = _verified_graphs(folder, rec)
            # The GPU refiner (fused GroupNorm) is always exported here from the weights: the fp16
            # export here brings it, and only it is taken when the graphs came from the GPU machine.
            gpu_only = graphs is not None and weights is not None and not any(
                g["role"] == "refiner_gpu" for g in graphs)
            here = (["fp16"] if graphs is None or gpu_only else []) + (["fp32"] if fp32 else [])
            if here and weights is None:
                raise InstallError(f"{folder}: no weights to export {', '.join(here)} graphs from")
            if graphs is None:
                echo(f"{screen}: no graphs from the training machine ({rec.get('export_error')}); exporting here")
            sources: list[tuple[Path, dict]] = [(folder / g["file"], g) for g in graphs or []]
            record = model_for(rec["manifest"], screen) if graphs is not None else None
            if here:
                m = _export_here(weights, screen, size, here, tmp)
                if record is not None and (model_for(m, screen) or {}).get("source") != record["source"]:
                    raise InstallError(f"{folder}: the weights are not the ones the graphs were exported from")
                record = record or model_for(m, screen)
                have = {g["file"] for _, g in sources}
                sources += [(tmp / g["file"], g) for g in graphs_for(m, screen)
                            if g["file"] not in have and (not gpu_only or g["role"] == "refiner_gpu" or g["precision"] == "fp32")]
            staged, entries = {}, []
            for src, g in sources:
                part = out / f".{g['file']}.partial"
                shutil.copyfile(src, part)
                staged[part] = g["file"]
                entries.append(graph_entry(part, g["role"], g["precision"], g["size"], screen, name=g["file"]))
            try:
                manifest, stale = merged(out, record, entries, replace=True)
                commit(out, manifest, staged, stale)
            finally:
                for part in staged:
                    if part.exists():
                        part.unlink()
        training = {k: v for k, v in rec.items() if k != "manifest"}
        tmp_rec = out / f".train_{screen}.json.tmp"
        tmp_rec.write_text(json.dumps(training, indent=2) + "\n")
        os.replace(tmp_rec, out / f"train_{screen}.json")
        if screen == DEFAULT_SCREEN:
            for name in LEGACY:
                if (out / name).is_file():
                    (out / name).unlink()
                    echo(f"removed {name} (the replaced green model's; train_green.json describes the new one)")
        echo(f"installed {screen} model from {rec_path.parent}: "
             + ", ".join(e["file"] for e in entries))
    try:
        return validate(out)
    except ManifestError as e:
        raise InstallError(str(e)) from None
