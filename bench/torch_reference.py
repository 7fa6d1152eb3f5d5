"""PyTorch reference for `make bench`: upstream CorridorKey's whole frame path on the same GPU.

One mode per process (so each device-memory peak is clean):
  eager-autocast  fp32 weights + torch.autocast(fp16)   (upstream before #172)
  eager-fp16      whole model in fp16                    (upstream's current default)
  compile-fp16    whole model in fp16 + torch.compile    (upstream on Linux; mode from --compile-mode)

Per frame: plate (host, float32 linear RGB + hint) -> GPU -> antialiased bilinear resize to S ->
linear->sRGB -> ImageNet -> model -> bilinear resize back -> despill -> sRGB->linear -> premultiply -> host.
Weights are onnx-export's seeded GreenFormer (same seed as the ONNX graphs the engine runs).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

import numpy as np
import torch
import torch.nn.functional as F

from corridorkey_export.model import IMAGENET_MEAN, IMAGENET_STD, seeded_model
from corridorkey_export.preprocess import linear_to_srgb, srgb_to_linear


class DevicePeak:
    """Device-level used memory (what nvidia-smi shows, CUDA context included), polled every 10 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        if not torch.cuda.is_available():
            return
        free, total = torch.cuda.mem_get_info()
        self.peak = max(self.peak, total - free)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def plate(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Green screen with a foreground ellipse covering ~30% of the frame (linear RGB, hint)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    fg = (((xx - width * 0.5) / (width * 0.28)) ** 2 + ((yy - height * 0.55) / (height * 0.42)) ** 2) < 1.0
    rgb = np.empty((height, width, 3), np.float32)
    rgb[...] = (0.05, 0.45, 0.08)
    rgb[fg] = (0.55, 0.35, 0.25)
    rgb += rng.normal(0.0, 0.01, rgb.shape).astype(np.float32)
    return np.clip(rgb, 0.0, None), fg.astype(np.float32)


def frame_path(model, rgb: torch.Tensor, hint: torch.Tensor, size: int, dtype, autocast: bool):
    h, w = rgb.shape[-2:]
    mean = torch.tensor(IMAGENET_MEAN, device=rgb.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=rgb.device).view(1, 3, 1, 1)
    x_rgb = linear_to_srgb(F.interpolate(rgb, size=(size, size), mode="bilinear", antialias=True))
    x_hint = F.interpolate(hint, size=(size, size), mode="bilinear", antialias=True)
    x = torch.cat([(x_rgb - mean) / std, x_hint], 1).to(dtype)
    with torch.autocast(rgb.device.type, dtype=torch.float16, enabled=autocast):
        out = model(x)
    alpha = F.interpolate(out["alpha"].float(), size=(h, w), mode="bilinear")
    fg = F.interpolate(out["fg"].float(), size=(h, w), mode="bilinear")
    limit = (fg[:, 0:1] + fg[:, 2:3]) * 0.5
    spill = (fg[:, 1:2] - limit).clamp(min=0.0)
    fg = torch.cat([fg[:, 0:1] + spill * 0.5, fg[:, 1:2] - spill, fg[:, 2:3] + spill * 0.5], 1)
    rgba = torch.cat([srgb_to_linear(fg) * alpha, alpha], 1)
    return rgba.cpu()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["eager-autocast", "eager-fp16", "compile-fp16"], required=True)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--height", type=int, default=2160)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compile-mode", default="default")
    ap.add_argument("--device", default="cuda", help="cpu only to smoke-test this script")
    args = ap.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = True
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    model = seeded_model("hiera_base_plus", args.size, args.seed).eval()
    fp16 = args.mode != "eager-autocast"
    model = model.to(dev, torch.float16 if fp16 else torch.float32)
    if args.mode == "compile-fp16":
        model = torch.compile(model, mode=args.compile_mode)
    rgb_np, hint_np = plate(args.height, args.width, args.seed)
    rgb_host = torch.from_numpy(rgb_np).permute(2, 0, 1)[None].contiguous()
    hint_host = torch.from_numpy(hint_np)[None, None].contiguous()

    times = []
    with DevicePeak() as peak, torch.inference_mode():
        for _ in range(args.frames + 1):
            sync()
            t0 = time.perf_counter()
            frame_path(model, rgb_host.to(dev), hint_host.to(dev), args.size,
                       torch.float16 if fp16 else torch.float32, autocast=not fp16)
            sync()
            times.append((time.perf_counter() - t0) * 1000.0)
    warm = sorted(times[1:])
    print(json.dumps({
        "mode": args.mode, "size": args.size, "plate": f"{args.width}x{args.height}",
        "frames": args.frames, "cold_ms": round(times[0], 1),
        "median_ms": round(statistics.median(warm), 1), "min_ms": round(warm[0], 1),
        "p99_ms": round(warm[min(len(warm) - 1, int(round(0.99 * (len(warm) - 1))))], 1),
        "device_peak_mb": round(peak.peak / 2**20),
        "torch_max_allocated_mb": round(torch.cuda.max_memory_allocated() / 2**20) if dev.type == "cuda" else None,
        "torch": torch.__version__, "gpu": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
    }))


if __name__ == "__main__":
    main()
