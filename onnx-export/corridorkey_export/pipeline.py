"""Export a model folder: graphs for one size and the requested precisions, merged into manifest.json."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import load_checkpoint, sha256_file
from .export import export_coarse_proto, export_refiner_gpu_proto, export_refiner_proto, save, to_fp16
from .manifest import graph_entry, graph_file, merge, new_manifest
from .model import GreenFormer, seeded_model


def build_model(variant: str, size: int, checkpoint: Path | None, seed: int | None) -> GreenFormer:
    if checkpoint is not None:
        return load_checkpoint(checkpoint, variant, size)
    return seeded_model(variant, size, seed)


def export_folder(model: GreenFormer, out: Path, precisions: list[str], checkpoint: Path | None = None,
                  checkpoint_sha: str | None = None, seed: int | None = None, verbose: bool = False,
                  gpu_refiner: bool = True) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    if checkpoint is not None and checkpoint_sha is None:
        checkpoint_sha = sha256_file(checkpoint)
    fresh = new_manifest(model.variant.name, checkpoint, checkpoint_sha, None if checkpoint else seed)
    size = model.img_size
    coarse = export_coarse_proto(model, verbose)
    refiner = export_refiner_proto(model, verbose)
    # GPU providers run fp16; the fused-GroupNorm refiner exists only there (gpu_refiner.py).
    refiner_gpu = export_refiner_gpu_proto(model, verbose) if gpu_refiner and "fp16" in precisions else None
    entries = []
    for precision in precisions:
        graphs = [("coarse", coarse, size), ("refiner", refiner, None)]
        if precision == "fp16" and refiner_gpu is not None:
            graphs.append(("refiner_gpu", refiner_gpu, None))
        for role, proto, s in graphs:
            if precision == "fp16":
                proto = to_fp16(proto)
            path = out / graph_file(role, precision, s)
            save(proto, path)
            entries.append(graph_entry(path, role, precision, s))
    return merge(out, fresh, entries)
