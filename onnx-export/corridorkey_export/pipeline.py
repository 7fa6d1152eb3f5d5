"""Export a model folder: graphs for one size and the requested precisions, merged into manifest.json."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import infer_variant, load_checkpoint, read_state_dict, sha256_file
from .export import export_coarse_proto, export_refiner_gpu_proto, export_refiner_proto, save, to_fp16
from .manifest import DEFAULT_SCREEN, commit, graph_entry, graph_file, merged, model_record
from .model import GreenFormer, seeded_model


def build_model(variant: str | None, size: int, checkpoint: Path | None, seed: int | None) -> GreenFormer:
    """A checkpoint's model (variant None: recognised from the weights' shapes) or seeded weights."""
    if checkpoint is not None:
        if variant is None:
            variant = infer_variant(read_state_dict(checkpoint))
        return load_checkpoint(checkpoint, variant, size)
    return seeded_model(variant or "hiera_base_plus", size, seed)


def export_folder(model: GreenFormer, out: Path, precisions: list[str], checkpoint: Path | None = None,
                  checkpoint_sha: str | None = None, seed: int | None = None, verbose: bool = False,
                  screen: str = DEFAULT_SCREEN, replace: bool = False, gpu_refiner: bool = True) -> dict:
    """Write the graphs under temporary names, merge the manifest (refusing a mix of sources for one
    screen unless `replace`), then move everything into place (manifest.commit). With fp16, also
    the fused-GroupNorm refiner for GPU providers (`refiner_gpu`, gpu_refiner.py)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if checkpoint is not None and checkpoint_sha is None:
        checkpoint_sha = sha256_file(checkpoint)
    record = model_record(model.variant.name, Path(checkpoint).name if checkpoint else None, checkpoint_sha,
                          None if checkpoint else seed, screen)
    # Refuse before the (slow) export when the folder holds another model for this screen.
    merged(out, record, [], replace)
    size = model.img_size
    coarse = export_coarse_proto(model, verbose)
    refiner = export_refiner_proto(model, verbose)
    refiner_gpu = export_refiner_gpu_proto(model, verbose) if gpu_refiner and "fp16" in precisions else None
    entries, staged = [], {}
    try:
        for precision in precisions:
            graphs = [("coarse", coarse, size), ("refiner", refiner, None)]
            if precision == "fp16" and refiner_gpu is not None:
                graphs.append(("refiner_gpu", refiner_gpu, None))
            for role, proto, s in graphs:
                if precision == "fp16":
                    proto = to_fp16(proto)
                name = graph_file(role, precision, s, screen)
                tmp = out / f".{name}.partial"
                save(proto, tmp)
                staged[tmp] = name
                entries.append(graph_entry(tmp, role, precision, s, screen, name=name))
        manifest, stale = merged(out, record, entries, replace)
        return commit(out, manifest, staged, stale)
    finally:
        for tmp in staged:
            if tmp.exists():
                tmp.unlink()
