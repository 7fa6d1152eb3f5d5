"""Coarse hints for training: every quality of hint a user gives the keyer.

The keyer must work with whatever hint it gets, so a group of plates draws one source:

* the built-in key of the plate's screen colour (hint.key_params) with jittered thresholds, erode
  and blur (any render scale);
* the ground truth thresholded, eroded or dilated, blurred (a user's roto or core/garbage matte);
* a garbage matte: the ground truth grown a lot and blurred heavily;
* rarely, a flat hint (a white or grey clip connected by mistake);
* with `exact_fraction` (issue 23), a near-exact hint: the truth eroded by 0..3 px, lightly blurred and
  never damaged: a confident hint far from the screen colour must be trusted, never made worse.

Then each plate may get damage: an offset (a hint from another frame or a slipped roto), holes in the
foreground, blotches in the background, noise, and a lower-resolution round trip (a proxy matte).
Kernel sizes are drawn per group of plates (one conv call each).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from .common import Rng, odd, smooth_noise, v
from .hint import chroma_key, dilate, erode, gaussian_blur, key_params
from .plates import Plates


def _offset(hint: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    b, _, h, w = hint.shape
    theta = torch.zeros(b, 2, 3, device=hint.device)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    theta[:, 0, 2] = -dx * 2 / w
    theta[:, 1, 2] = -dy * 2 / h
    g = F.affine_grid(theta, [b, 1, h, w], align_corners=False)
    return F.grid_sample(hint, g, padding_mode="border", align_corners=False)


def _low_res(hint: torch.Tensor, factor: int) -> torch.Tensor:
    h, w = hint.shape[-2:]
    low = F.interpolate(hint, size=(max(4, h // factor), max(4, w // factor)), mode="bilinear", antialias=True,
                        align_corners=False)
    return F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)


def _group_hint(r: Rng, p: Plates, s: int, e: int, scale: float, gt_fraction: float) -> torch.Tensor:
    u = r.u(8).tolist()
    alpha = p.alpha[s:e]
    if u[0] < 0.03:
        return torch.full_like(alpha, 0.5 + 0.5 * u[1])
    if u[0] < 0.03 + gt_fraction:
        core = (alpha > 0.05 + 0.9 * u[1]).float()
        k = int(2 + u[2] * 16 * scale)
        core = dilate(core, k) if u[3] < 0.5 else erode(core, k)
        return gaussian_blur(core, odd(int(1 + u[4] * 45 * scale)))
    if u[0] < 0.13 + gt_fraction:
        grown = dilate((alpha > 0.02).float(), int(10 + u[2] * 40 * scale))
        return gaussian_blur(grown, odd(int(21 + u[4] * 60 * scale)))
    base = key_params(p.screen)
    params = replace(base, hue_min=base.hue_min + 12 * (u[1] - 0.5), hue_max=base.hue_max + 12 * (u[2] - 0.5),
                     sat_min=base.sat_min + 30 * (u[3] - 0.5), val_min=base.val_min + 20 * (u[4] - 0.5),
                     erode_px=int(u[5] * 14 * scale), blur_px=int(u[6] * 41 * scale))
    return chroma_key(p.srgb[s:e], params)


def near_exact(alpha: torch.Tensor, r: Rng) -> torch.Tensor:
    """The truth eroded by 0..3 px (grey-level min filter) and blurred by at most a 5 px Gaussian, per batch."""
    e = int(r.scalar(0, 4))
    out = -F.max_pool2d(-alpha, 2 * e + 1, stride=1, padding=e) if e else alpha
    return gaussian_blur(out, odd(int(r.scalar(1, 6))))


def training_hints(p: Plates, g: torch.Generator, group: int = 4, gt_fraction: float = 0.3,
                   exact_fraction: float = 0.0) -> torch.Tensor:
    b, _, h, w = p.alpha.shape
    r = Rng(g, p.alpha.device)
    scale = min(h, w) / 512.0
    hint = torch.cat([_group_hint(r, p, s, min(b, s + group), scale, gt_fraction) for s in range(0, b, group)], 0)
    m = float(min(h, w))
    shift = r.p(b, 0.3)
    hint = torch.where(v(shift) > 0, _offset(hint, r.u(b, lo=-0.04, hi=0.04) * m * shift,
                                             r.u(b, lo=-0.04, hi=0.04) * m * shift), hint)
    # Holes in the foreground and blotches in the background, from thresholded smooth noise.
    holes = (smooth_noise(r, b, 1, h, w, 6) > v(r.u(b, lo=0.55, hi=1.2))).float()
    blotch = (smooth_noise(r, b, 1, h, w, 6) > v(r.u(b, lo=0.7, hi=1.3))).float()
    hint = hint * (1 - holes * v(r.p(b, 0.3))) + (1 - hint) * blotch * v(r.p(b, 0.2))
    hint = hint + r.n(b, 1, h, w) * v(r.u(b, lo=0, hi=0.05)) * v(r.p(b, 0.3))
    factor = int(r.scalar(2, 9))
    low = v(r.p(b, 0.2))
    hint = low * _low_res(hint, factor) + (1 - low) * hint
    if exact_fraction > 0:
        # Drawn after everything else, so exact_fraction = 0 leaves the stream as it was.
        exact = v(r.p(b, exact_fraction))
        hint = exact * near_exact(p.alpha, r) + (1 - exact) * hint
    return hint.clamp(0.0, 1.0)
