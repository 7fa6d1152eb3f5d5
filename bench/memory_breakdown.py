"""Where the engine's device memory goes outside the ORT arena (issue 5): NVML-level used memory
(nvidia-smi) after each step of building the sessions the GPU path uses, each session with its own
CUDA provider instance as in the plugin.

  python bench/memory_breakdown.py --model-dir DIR --size S
Prints one JSON object: used MiB after each step and the increments.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

KERNELS = Path(__file__).resolve().parents[1] / "plugin" / "kernels"
CUDA = ("CUDAExecutionProvider", {"arena_extend_strategy": "kSameAsRequested",
                                  "cudnn_conv_algo_search": "HEURISTIC",
                                  "cudnn_conv_use_max_workspace": "0"})


def used_mib() -> int:
    time.sleep(0.3)
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", type=Path, required=True)
    ap.add_argument("--size", type=int, default=2048)
    a = ap.parse_args()
    steps = [("baseline", used_mib())]
    keep = []

    def session(path: Path) -> ort.InferenceSession:
        s = ort.InferenceSession(str(path), providers=[CUDA])
        keep.append(s)
        return s

    sig = session(KERNELS / "sigmoid.onnx")
    sig.run(None, {"up": np.zeros((1, 4, 8, 8), np.float32)})
    steps.append(("CUDA context + first session (elementwise kernel, run once)", used_mib()))
    fin = session(KERNELS / "refine_final.onnx")
    fin.run(None, {"up": np.zeros((1, 4, 8, 8), np.float32), "acc": np.zeros((1, 4, 8, 8), np.float32),
                   "wsum": np.ones((1, 1, 8, 8), np.float32)})
    steps.append(("second elementwise session", used_mib()))
    mm = session(KERNELS / "finish.onnx")
    mm.run(None, {"refined": np.zeros((1, 4, 8, 8), np.float32), "rv": np.zeros((9, 8), np.float32),
                  "rh": np.zeros((8, 11), np.float32), "params": np.zeros(4, np.float32)})
    steps.append(("third session, with MatMul (cuBLAS handle + workspace)", used_mib()))
    for name in ("tile_crop_b4", "tile_blend_b4", "refine_prep", "prepare_linear"):
        session(KERNELS / f"{name}.onnx")
    steps.append(("four more kernel sessions, not run", used_mib()))
    s = a.size
    coarse = session(a.model_dir / f"coarse_{s}.fp16.onnx")
    steps.append((f"coarse_{s} fp16 session created (weights)", used_mib()))
    coarse.run(None, {"image": np.zeros((1, 4, s, s), np.float32)})
    steps.append(("coarse run once (activations, cuDNN)", used_mib()))
    ref = session(a.model_dir / "refiner.fp16.onnx")
    ref.run(None, {"refiner_input": np.zeros((4, 7, 512, 512), np.float32)})
    steps.append(("refiner session, one [4,7,512,512] run", used_mib()))
    out = {"steps": [{"step": k, "used_mib": v} for k, v in steps],
           "increments_mib": [{"step": steps[i][0], "mib": steps[i][1] - steps[i - 1][1]}
                              for i in range(1, len(steps))]}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
