"""Deterministic fixture sets for the Rust engine's tests (docs/MODEL-FORMAT.md, 'Fixtures').

Each set is a model folder (fp32 graphs of the `small` variant + manifest.json) plus golden arrays
from the PyTorch model with the same weights. `small_fp16_s128` holds the same seeded weights as
`small_s128` as fp16 graphs only (fp16 weights and math, fp32 I/O: what a GPU runs), for the tests
that out-of-range inputs stay finite through an fp16 graph. `uniform_s256` rigs the alpha decoder so the coarse alpha
is a steep function of the hint: exactly uniform (far below 0.05 / far above 0.95) where the hint is
0 / 1, which the sparse refiner skip needs; `regions.json` names those regions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from .model import GreenFormer, compose, seeded_model
from .pipeline import export_folder
from .preprocess import prepare

SKIP_LOW, SKIP_HIGH = 0.05, 0.95
# Regions are cut where alpha is much further out than the skip thresholds, so they are flat in practice.
REGION_LOW, REGION_HIGH = 1e-3, 1 - 1e-3


def synthetic_plate(height: int, width: int, seed: int, fg_box: tuple[float, float, float, float]):
    """Linear RGBA green-screen plate with a soft-edged, textured foreground ellipse, and its hint.

    fg_box = (x0, y0, x1, y1) as fractions of the frame: the ellipse's bounding box. The hint is 1 over
    the box shrunk by 10 %, 0 outside the box grown by 10 %, a linear ramp between (a rough garbage/core
    matte, as a user would draw it).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width, indexing="ij")
    x0, y0, x1, y1 = fg_box
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    r = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    edge_px = 3.0 / min(height, width) / min(rx, ry)
    coverage = np.clip((1.0 - r) / edge_px + 0.5, 0.0, 1.0)
    screen = np.array([0.04, 0.42, 0.07]) * (0.9 + 0.2 * yy[..., None]) + rng.normal(0, 0.004, (height, width, 3))
    subject = np.stack([0.55 + 0.3 * xx, 0.35 + 0.2 * yy, 0.25 + 0.1 * np.sin(12 * xx)], -1)
    subject = subject * (1.0 + 0.1 * np.sin(40 * xx + 25 * yy))[..., None]
    # Green spill on the subject's edge, as on a real plate.
    spill = np.array([0.0, 0.15, 0.0]) * np.clip(r, 0, 1)[..., None] ** 4
    rgb = coverage[..., None] * (subject + spill) + (1.0 - coverage[..., None]) * screen
    plate = np.concatenate([np.clip(rgb, 0.0, None), np.ones((height, width, 1))], -1).astype(np.float32)
    dx = np.maximum(np.maximum(x0 - xx, xx - x1) / (x1 - x0), np.maximum(y0 - yy, yy - y1) / (y1 - y0))
    hint = np.clip((0.1 - dx) / 0.2, 0.0, 1.0).astype(np.float32)
    return plate, hint


def _save(folder: Path, name: str, array) -> None:
    a = array.detach().numpy() if isinstance(array, torch.Tensor) else array
    np.save(folder / name, np.ascontiguousarray(a, dtype="<f4"))


def write_set(folder: Path, model: GreenFormer, seed: int, plate: np.ndarray, hint: np.ndarray) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    export_folder(model, folder, ["fp32"], seed=seed)
    size = model.img_size
    x = torch.from_numpy(prepare(plate[..., :3], hint, size))
    with torch.no_grad():
        a_log, f_log = model.coarse(x)
        out = compose(x, a_log, f_log, model.refiner.forward_packed)
    _save(folder, "plate.npy", plate)
    _save(folder, "hint.npy", hint)
    _save(folder, "input.npy", x)
    for name in ("alpha_logits", "fg_logits", "refiner_input", "delta_logits", "alpha", "fg"):
        _save(folder, f"{name}.npy", out[name])
    return out


def write_fp16_set(folder: Path, model: GreenFormer, seed: int, plate: np.ndarray, hint: np.ndarray) -> None:
    """fp16 graphs of `model` and the plate they are tested on (no goldens: fp16 differs by design)."""
    folder.mkdir(parents=True, exist_ok=True)
    export_folder(model, folder, ["fp16"], seed=seed)
    _save(folder, "plate.npy", plate)
    _save(folder, "hint.npy", hint)


def rig_uniform_alpha(model: GreenFormer, gain: float = 20.0) -> None:
    """Make alpha logits = gain * (local mean of the hint) - gain/2, independent of the RGB.

    Stage 0's residual branches are zeroed so its output (feature c1) is the patch embedding, which
    here only sees the hint channel (a 7x7 box mean times a fixed channel vector w). The alpha
    decoder reads c1 alone through w / |w|^2 and passes it straight through fuse/BN/ReLU to the
    classifier. A hint of exactly 0 gives exactly -gain/2; exactly 1 gives ~ +gain/2, in every pixel.
    The fg decoder, the other stages and the refiner keep their random weights.
    """
    enc = model.encoder.model
    d = model.alpha_decoder
    with torch.no_grad():
        enc.pos_embed.zero_()
        w = torch.linspace(-1.0, 1.0, enc.patch_embed.proj.out_channels) + 0.25
        k = enc.patch_embed.proj.kernel_size
        enc.patch_embed.proj.weight.zero_()
        enc.patch_embed.proj.weight[:, 3] = w.view(-1, 1, 1) / (k[0] * k[1])
        enc.patch_embed.proj.bias.zero_()
        for blk in enc.blocks[: enc.stage_ends[0] + 1]:
            for lin in (blk.attn.proj, blk.mlp.fc2):
                lin.weight.zero_()
                lin.bias.zero_()
        for lin in (d.linear_c2.proj, d.linear_c3.proj, d.linear_c4.proj, d.linear_c1.proj):
            lin.weight.zero_()
            lin.bias.zero_()
        d.linear_c1.proj.weight[0] = w / w.dot(w)
        dim = d.linear_c1.proj.out_features
        d.linear_fuse.weight.zero_()
        d.linear_fuse.weight[0, 3 * dim] = 1.0
        d.bn.weight.fill_(1.0)
        d.bn.bias.zero_()
        d.bn.running_mean.zero_()
        d.bn.running_var.fill_(1.0)
        d.classifier.weight.zero_()
        d.classifier.weight[0, 0] = gain
        d.classifier.bias.fill_(-gain / 2)


def _uniform_regions(alpha: np.ndarray, size: int, height: int, width: int) -> list[dict]:
    """Rectangles (x0, y0, x1, y1; ends exclusive) of the S x S coarse alpha that are uniform.

    The S x S probabilities are sigmoid(bilinear upsample of the S/4 logits); a region is kept in
    S/4 coarse pixels, S model pixels and plate pixels (the plate area it came from, rounded outwards).
    """
    q = size // 4
    inner = np.argwhere(alpha > REGION_HIGH)
    (fy0, fx0), (fy1, fx1) = inner.min(0).tolist(), (inner.max(0) + 1).tolist()
    # Shrink to whole coarse pixels (+1 of margin for the bilinear footprint) and keep only what holds.
    c_fg = [math.ceil(fx0 / 4) + 1, math.ceil(fy0 / 4) + 1, fx1 // 4 - 1, fy1 // 4 - 1]
    low = alpha < REGION_LOW
    outer = np.argwhere(~low)
    (by0, bx0), (by1, bx1) = outer.min(0).tolist(), (outer.max(0) + 1).tolist()
    c_out = [math.ceil(bx0 / 4) - 1, math.ceil(by0 / 4) - 1, bx1 // 4 + 2, by1 // 4 + 2]
    rects = [("foreground", "one", c_fg),
             ("background_left", "zero", [0, 0, c_out[0], q]),
             ("background_right", "zero", [c_out[2], 0, q, q]),
             ("background_top", "zero", [c_out[0], 0, c_out[2], c_out[1]]),
             ("background_bottom", "zero", [c_out[0], c_out[3], c_out[2], q])]
    regions = []
    for name, value, (x0, y0, x1, y1) in rects:
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        m = [4 * x0, 4 * y0, 4 * x1, 4 * y1]
        patch = alpha[m[1]:m[3], m[0]:m[2]]
        ok = patch.min() > REGION_HIGH if value == "one" else patch.max() < REGION_LOW
        if not ok:
            raise AssertionError(f"uniform fixture region {name} {m} is not uniform")
        plate = [math.floor(m[0] * width / size), math.floor(m[1] * height / size),
                 math.ceil(m[2] * width / size), math.ceil(m[3] * height / size)]
        regions.append({"name": name, "value": value, "coarse": [x0, y0, x1, y1], "model": m, "plate": plate,
                        "alpha_min": float(patch.min()), "alpha_max": float(patch.max()),
                        "exactly_uniform": bool(patch.min() == patch.max())})
    return regions


def write_all(out: Path) -> list[Path]:
    out = Path(out)
    written = []

    small = seeded_model("small", 128, seed=0)
    plate, hint = synthetic_plate(120, 200, seed=0, fg_box=(0.3, 0.15, 0.75, 0.95))
    write_set(out / "small_s128", small, 0, plate, hint)
    written.append(out / "small_s128")
    write_fp16_set(out / "small_fp16_s128", small, 0, plate, hint)
    written.append(out / "small_fp16_s128")

    size, height, width = 256, 144, 256
    uni = seeded_model("small", size, seed=1)
    rig_uniform_alpha(uni)
    plate, hint = synthetic_plate(height, width, seed=1, fg_box=(0.35, 0.3, 0.7, 0.85))
    folder = out / "uniform_s256"
    res = write_set(folder, uni, 1, plate, hint)
    alpha_coarse = torch.sigmoid(torch.nn.functional.interpolate(
        res["alpha_logits"], size=(size, size), mode="bilinear", align_corners=False))[0, 0].numpy()
    regions = _uniform_regions(alpha_coarse, size, height, width)
    (folder / "regions.json").write_text(json.dumps({
        "about": "coarse alpha = sigmoid(bilinear upsample of alpha_logits to S) is uniform inside each "
                 "rectangle [x0, y0, x1, y1) (ends exclusive): 'coarse' in S/4 logit pixels, 'model' in S "
                 "pixels (refiner_input grid), 'plate' in plate pixels (rounded outwards); 'one' regions are "
                 "> 0.999, 'zero' regions < 0.001 everywhere (far beyond skip_high / skip_low)",
        "size": size, "plate_height": height, "plate_width": width,
        "skip_low": SKIP_LOW, "skip_high": SKIP_HIGH,
        "regions": regions}, indent=2) + "\n")
    written.append(folder)
    return written
