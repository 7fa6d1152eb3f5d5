"""fp16 graphs on ORT's CUDA provider against the fp32 reference (ORT CUDA, TF32 off), whole forward.

    python bench/fp16_parity.py --model-dir DIR --size 2048

Runs coarse_<S> and the full-frame refiner in both precisions (and the fused-GroupNorm GPU refiner
when the folder has one) on a synthetic green-screen plate
prepared the upstream way, composes alpha/fg as upstream does, and prints mean/max abs errors per
output as JSON (coarse logits, delta logits, final alpha and fg).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

from corridorkey_export.fixtures import synthetic_plate
from corridorkey_export.preprocess import prepare


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    cuda = ("CUDAExecutionProvider", {"use_tf32": "0", "cudnn_conv_algo_search": "HEURISTIC"})
    return ort.InferenceSession(str(path), opts, providers=[cuda, "CPUExecutionProvider"])


def forward(model_dir: Path, size: int, precision: str, x: np.ndarray, refiner_role: str = "refiner") -> dict[str, np.ndarray]:
    coarse = session(model_dir / f"coarse_{size}.{precision}.onnx")
    refiner = session(model_dir / f"{refiner_role}.{precision}.onnx")
    t0 = time.perf_counter()
    a_log, f_log = coarse.run(["alpha_logits", "fg_logits"], {"image": x})
    t1 = time.perf_counter()
    up = lambda t: F.interpolate(torch.from_numpy(t), size=(size, size), mode="bilinear", align_corners=False)
    a_up, f_up = up(a_log), up(f_log)
    rin = torch.cat([torch.from_numpy(x[:, :3]), torch.sigmoid(a_up), torch.sigmoid(f_up)], 1).numpy()
    t2 = time.perf_counter()
    (delta,) = refiner.run(["delta_logits"], {"refiner_input": rin})
    t3 = time.perf_counter()
    d = torch.from_numpy(delta)
    return {
        "alpha_logits": a_log, "fg_logits": f_log, "delta_logits": delta,
        "alpha": torch.sigmoid(a_up + d[:, 0:1]).numpy(), "fg": torch.sigmoid(f_up + d[:, 1:4]).numpy(),
        "_ms": {"coarse_first_run": round((t1 - t0) * 1e3, 1), "refiner_first_run": round((t3 - t2) * 1e3, 1)},
        "_providers": coarse.get_providers(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", type=Path, required=True)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    plate, hint = synthetic_plate(1080, 1920, args.seed, (0.3, 0.15, 0.7, 0.95))
    x = prepare(plate[..., :3], hint, args.size)
    ref = forward(args.model_dir, args.size, "fp32", x)
    half = forward(args.model_dir, args.size, "fp16", x)
    report = {"size": args.size, "providers": half["_providers"], "timing_fp32": ref["_ms"], "timing_fp16": half["_ms"]}
    for k in ("alpha_logits", "fg_logits", "delta_logits", "alpha", "fg"):
        err = np.abs(ref[k].astype(np.float64) - half[k].astype(np.float64))
        report[k] = {"mean_abs": float(err.mean()), "max_abs": float(err.max())}
    # The GPU refiner (fused GroupNorm, refiner_gpu.fp16) against the same fp32 reference.
    if (args.model_dir / "refiner_gpu.fp16.onnx").is_file():
        gpu = forward(args.model_dir, args.size, "fp16", x, "refiner_gpu")
        report["refiner_gpu"] = {"timing": gpu["_ms"]}
        for k in ("delta_logits", "alpha", "fg"):
            err = np.abs(ref[k].astype(np.float64) - gpu[k].astype(np.float64))
            report["refiner_gpu"][k] = {"mean_abs": float(err.mean()), "max_abs": float(err.max())}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
