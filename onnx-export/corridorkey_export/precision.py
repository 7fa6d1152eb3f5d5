"""fp32 vs fp16 graphs on ONNX Runtime's CPU provider: does an fp32 copy help CPU users?

Exports one model (a checkpoint, or seeded compact weights: speed and numerical error do not depend on
training) at `size` in both precisions, keys `count` held-out plates (quality.py's `seed` set, built-in
hint) through each with `threads` intra-op threads, and prints the median time per frame (coarse +
whole-frame refiner, after one warm-up) and the alpha difference between the two. Both graphs
compute in their own precision (fp16 graphs: fp16 weights and math, fp32 I/O).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from .metrics import sad


def measure(checkpoint: Path | None, size: int, count: int, threads: int, out: Path | None, echo=print) -> dict:
    from .model import seeded_model
    from .pipeline import build_model, export_folder
    from .quality import OnnxModel, builtin_hint, heldout_plate

    torch.set_num_threads(threads)
    model = build_model(None, size, checkpoint, None) if checkpoint else seeded_model("compact", size, 0)
    res: dict = {"variant": model.variant.name, "size": size, "threads": threads, "count": count,
                 "weights": checkpoint.name if checkpoint else "seeded(compact, 0)"}
    with tempfile.TemporaryDirectory() as tmp:
        export_folder(model, Path(tmp), ["fp32", "fp16"], checkpoint=checkpoint, seed=None if checkpoint else 0)
        keyers = {p: OnnxModel(Path(tmp), p, threads=threads) for p in ("fp32", "fp16")}
        res["bytes"] = {g["file"]: g["bytes"] for g in json.loads((Path(tmp) / "manifest.json").read_text())["graphs"]}
        times = {p: [] for p in keyers}
        diffs, sads = [], {p: [] for p in keyers}
        for i in range(count):
            p = heldout_plate("green", "seed", i, size, size)
            hint = builtin_hint(p)
            alphas = {}
            for prec, k in keyers.items():
                if i == 0:
                    k.alpha(p.plate, bool(p.is_linear[0]), hint)  # warm-up
                t0 = time.perf_counter()
                alphas[prec] = k.alpha(p.plate, bool(p.is_linear[0]), hint)
                times[prec].append(time.perf_counter() - t0)
                sads[prec].append(sad(alphas[prec], p.alpha))
            d = (alphas["fp16"] - alphas["fp32"]).abs()
            diffs.append((float(d.max()), float(d.mean())))
    res["seconds_per_frame"] = {p: round(statistics.median(t), 3) for p, t in times.items()}
    res["alpha_fp16_vs_fp32"] = {"max_abs": round(max(d[0] for d in diffs), 5),
                                 "mean_abs": round(statistics.mean(d[1] for d in diffs), 6)}
    res["sad"] = {p: round(statistics.mean(s), 4) for p, s in sads.items()}
    echo(json.dumps(res))
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(res, indent=2) + "\n")
    return res
