"""Coarse hints for training: the built-in key with random settings and damage, or a rough GT matte.

The keyer must work with whatever hint it gets (the built-in key at any render scale, a user's rough
matte), so most hints are the suite's HSV key with jittered thresholds, erode and blur, then holes and
noise; the rest are the ground truth grown or shrunk, blurred heavily (a garbage/core-style matte).
Settings are drawn per group of plates (kernel sizes must be shared by one conv call).
"""

from __future__ import annotations

import torch

from .hint import KeyParams, chroma_key, dilate, erode, gaussian_blur
from .plates import Plates, _Rng, _v, smooth_noise


def _odd(k: int) -> int:
    return k + 1 if k % 2 == 0 else k


def training_hints(p: Plates, g: torch.Generator, group: int = 4, gt_fraction: float = 0.25) -> torch.Tensor:
    b, _, h, w = p.alpha.shape
    device = p.alpha.device
    r = _Rng(g, device)
    scale = min(h, w) / 512.0
    out = []
    for s in range(0, b, group):
        e = min(b, s + group)
        n = e - s
        u = r.u(6).tolist()
        if u[0] < gt_fraction:
            core = (p.alpha[s:e] > 0.5).float()
            k = int(2 + u[1] * 14 * scale)
            core = dilate(core, k) if u[2] < 0.5 else erode(core, k)
            hint = gaussian_blur(core, _odd(int(3 + u[3] * 40 * scale)))
        else:
            params = KeyParams(hue_min=35 + 10 * (u[1] - 0.5), hue_max=85 + 10 * (u[2] - 0.5),
                               sat_min=40 + 30 * (u[3] - 0.5), val_min=30 + 20 * (u[4] - 0.5),
                               erode_px=int(u[5] * 12 * scale), blur_px=int(r.u(1).item() * 31 * scale))
            hint = chroma_key(p.srgb[s:e], params)
        # Holes in the foreground and blotches in the background, from thresholded smooth noise.
        holes = (smooth_noise(r, n, 1, h, w, 6) > _v(r.u(n, lo=0.55, hi=1.2))).float()
        blotch = (smooth_noise(r, n, 1, h, w, 6) > _v(r.u(n, lo=0.7, hi=1.3))).float()
        hint = hint * (1 - holes * _v(r.p(n, 0.3))) + (1 - hint) * blotch * _v(r.p(n, 0.2))
        hint = hint + r.n(n, 1, h, w) * _v(r.u(n, lo=0, hi=0.05)) * _v(r.p(n, 0.3))
        out.append(hint.clamp(0.0, 1.0))
    return torch.cat(out, 0)
