"""Quality report: alpha error of an exported model folder on held-out synthetic plates.

For each plate (synth.plates, its own seed stream) the model runs the full upstream path through ONNX
Runtime: upstream pre-processing (bilinear antialiased resize to S; linear plates converted to sRGB
after the resize; ImageNet normalisation), the `coarse_<S>` graph, bilinear upsampling of the logits,
the `refiner` graph on the whole S x S frame, residual in logit space, sigmoid; the alpha is resized
back to the plate. The hint it is given is the plugin's built-in chroma key (HSV key, 7 px erode,
21 px blur, at plate resolution): exactly what a fresh install uses when no hint clip is connected.
Both that hint alone and the model's alpha are scored against the ground truth at plate resolution:

* SAD: sum over the plate of |alpha - alpha_gt|, divided by 1000 (the matting literature's unit),
  averaged over plates;
* MSE: mean over pixels of (alpha - alpha_gt)^2, averaged over plates.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .model import upsample_logits
from .preprocess import linear_to_srgb, resize_aa
from .synth.hint import chroma_key
from .synth.plates import make_plates
from .train.data import normalise

TILE_W = 256
ROWS_PER_SHEET = 6


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Minimal 8-bit RGB PNG writer (zlib only); rgb is [H,W,3] float 0..1 or uint8."""
    a = rgb if rgb.dtype == np.uint8 else (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    h, w, _ = a.shape
    raw = b"".join(b"\x00" + a[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    Path(path).write_bytes(png)


def plate_generator(seed: int, index: int) -> torch.Generator:
    """Held-out stream: separate from training's (seed * 1000003 + step * 7919) by construction."""
    return torch.Generator().manual_seed(((seed + 1) * 0x9E3779B97F4A7C15 + index * 0x632BE59BD9B4E019) % (2**63 - 1))


class OnnxModel:
    """The two graphs of a model folder, run the way the engine runs them (whole-frame refiner)."""

    def __init__(self, folder: Path, precision: str | None = None, threads: int = 0):
        import onnxruntime as ort

        manifest = json.loads((Path(folder) / "manifest.json").read_text())
        graphs = manifest["graphs"]
        have = {g["precision"] for g in graphs}
        self.precision = precision or ("fp32" if "fp32" in have else "fp16")
        coarse = sorted((g for g in graphs if g["role"] == "coarse" and g["precision"] == self.precision),
                        key=lambda g: g["size"])
        refiner = [g for g in graphs if g["role"] == "refiner" and g["precision"] == self.precision]
        if not coarse or not refiner:
            raise ValueError(f"{folder}: no {self.precision} coarse + refiner graphs in manifest.json")
        self.size = coarse[-1]["size"]
        self.manifest = manifest
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        self.coarse = ort.InferenceSession(str(Path(folder) / coarse[-1]["file"]), opts, providers=providers)
        self.refiner = ort.InferenceSession(str(Path(folder) / refiner[0]["file"]), opts, providers=providers)

    def alpha(self, plate: torch.Tensor, is_linear: bool, hint: torch.Tensor) -> torch.Tensor:
        """[1,3,H,W] plate (its own encoding), [1,1,H,W] hint -> [1,1,H,W] alpha."""
        s = self.size
        rgb = resize_aa(plate.float(), s)
        if is_linear:
            rgb = linear_to_srgb(rgb)
        x = torch.cat([normalise(rgb), resize_aa(hint.float(), s)], 1)
        a_log, f_log = self.coarse.run(None, {"image": x.numpy().astype(np.float32)})
        a_up = upsample_logits(torch.from_numpy(a_log), s)
        f_up = upsample_logits(torch.from_numpy(f_log), s)
        rin = torch.cat([x[:, :3], torch.sigmoid(a_up), torch.sigmoid(f_up)], 1)
        delta = torch.from_numpy(self.refiner.run(None, {"refiner_input": rin.numpy().astype(np.float32)})[0])
        alpha = torch.sigmoid(a_up + delta[:, 0:1])
        h, w = plate.shape[-2:]
        return F.interpolate(alpha, size=(h, w), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def sad(pred: torch.Tensor, gt: torch.Tensor) -> float:
    return float((pred - gt).abs().sum()) / 1000.0


def mse(pred: torch.Tensor, gt: torch.Tensor) -> float:
    return float(((pred - gt) ** 2).mean())


def _tile(img: torch.Tensor) -> np.ndarray:
    """[C,H,W] (C = 1 or 3) -> [h,TILE_W,3] uint8-ready float, aspect kept."""
    c, h, w = img.shape
    th = max(1, round(h * TILE_W / w))
    t = F.interpolate(img[None].float(), size=(th, TILE_W), mode="bilinear", antialias=True, align_corners=False)[0]
    if c == 1:
        t = t.expand(3, -1, -1)
    return t.permute(1, 2, 0).clamp(0, 1).numpy()


def _sheet(rows: list[list[np.ndarray]]) -> np.ndarray:
    gap = 4
    lines = []
    for tiles in rows:
        parts = []
        for t in tiles:
            parts += [t, np.ones((t.shape[0], gap, 3))]
        line = np.concatenate(parts[:-1], 1)
        lines += [line, np.ones((gap, line.shape[1], 3))]
    return np.concatenate(lines[:-1], 0)


def run_report(model_dir: Path, seed: int, count: int, out: Path, height: int = 576, width: int = 1024,
               precision: str | None = None, sheets: int = 2, echo=print) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = OnnxModel(model_dir, precision)
    rows, results = [], []
    t0 = time.time()
    for i in range(count):
        p = make_plates(1, height, width, plate_generator(seed, i), "cpu")
        hint = chroma_key(p.srgb)
        alpha = model.alpha(p.plate, bool(p.is_linear[0]), hint)
        r = {"index": i, "linear": bool(p.is_linear[0]),
             "hint_sad": sad(hint, p.alpha), "hint_mse": mse(hint, p.alpha),
             "model_sad": sad(alpha, p.alpha), "model_mse": mse(alpha, p.alpha)}
        results.append(r)
        echo(json.dumps(r))
        if len(rows) < sheets * ROWS_PER_SHEET:
            rows.append([_tile(p.srgb[0]), _tile(hint[0]), _tile(alpha[0]), _tile(p.alpha[0])])
    files = []
    for k in range(0, len(rows), ROWS_PER_SHEET):
        path = out / f"contact_{k // ROWS_PER_SHEET + 1:02d}.png"
        write_png(path, _sheet(rows[k:k + ROWS_PER_SHEET]))
        files.append(path.name)
    summary = summarise(results)
    summary.update({"seed": seed, "count": count, "plate": [height, width], "model_size": model.size,
                    "precision": model.precision, "variant": model.manifest.get("variant"),
                    "source": model.manifest.get("source"), "seconds": round(time.time() - t0, 1),
                    "contact_sheets": files})
    (out / "results.json").write_text(json.dumps({"summary": summary, "plates": results}, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(summary, model_dir))
    return summary


def summarise(results: list[dict]) -> dict:
    def mean(key, rows):
        return float(np.mean([r[key] for r in rows])) if rows else float("nan")

    out = {}
    for name, rows in (("all", results), ("linear", [r for r in results if r["linear"]]),
                       ("srgb", [r for r in results if not r["linear"]])):
        out[name] = {"plates": len(rows), **{k: mean(k, rows) for k in ("hint_sad", "hint_mse", "model_sad", "model_mse")}}
    a = out["all"]
    out["sad_reduction"] = 1.0 - a["model_sad"] / a["hint_sad"] if a["hint_sad"] > 0 else float("nan")
    out["mse_reduction"] = 1.0 - a["model_mse"] / a["hint_mse"] if a["hint_mse"] > 0 else float("nan")
    out["passes_30pct_sad"] = bool(out["sad_reduction"] >= 0.30)
    return out


def render_markdown(s: dict, model_dir: Path) -> str:
    lines = [
        "# Quality on held-out synthetic plates",
        "",
        f"Model folder `{Path(model_dir).name}` (variant `{s['variant']}`, source {json.dumps(s['source'])}), "
        f"graphs at S = {s['model_size']}, {s['precision']}, ONNX Runtime CPU, whole-frame refiner.",
        f"{s['count']} plates of {s['plate'][1]}x{s['plate'][0]} from `corridorkey_export.synth` with held-out "
        f"seed {s['seed']} (`python -m corridorkey_export quality --seed {s['seed']} --count {s['count']}`).",
        "The model is given the built-in chroma-key hint (HSV key, 7 px erode, 21 px blur); \"hint\" rows "
        "score that hint itself as an alpha.",
        "",
        "SAD = sum over the plate of |alpha - alpha_gt| / 1000 (matting papers' unit), mean over plates. "
        "MSE = mean over pixels of (alpha - alpha_gt)^2, mean over plates. Lower is better.",
        "",
        "| plates | n | hint SAD | model SAD | hint MSE | model MSE |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("all", "linear", "srgb"):
        r = s[name]
        lines.append(f"| {name} | {r['plates']} | {r['hint_sad']:.3f} | {r['model_sad']:.3f} | "
                     f"{r['hint_mse']:.5f} | {r['model_mse']:.5f} |")
    verdict = "meets" if s["passes_30pct_sad"] else "does NOT meet"
    lines += ["",
              f"SAD reduction against the hint: **{100 * s['sad_reduction']:.1f} %** ({verdict} the 30 % bar); "
              f"MSE reduction {100 * s['mse_reduction']:.1f} %.",
              "",
              "Contact sheets (plate | hint | model alpha | ground truth):", ""]
    lines += [f"![{f}]({f})" for f in s["contact_sheets"]]
    return "\n".join(lines) + "\n"
