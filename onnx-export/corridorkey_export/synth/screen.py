"""Green and blue screens, in linear light: many shades, uneven, wrinkled and shadowed.

Training lighting model: a broad gradient, low-frequency unevenness, folds (ridges with a lit and a
shaded side), fine wrinkles, fabric weave, vignetting, a hot spot, a light colour. Held-out lighting
model (never in training): pools of light from two to four spotlights, panel seams with a brightness
step per panel, a bumpy texture from the held-out photographs, and a cyclorama floor.
"""

from __future__ import annotations

import math

import torch

from ..preprocess import srgb_to_linear
from .common import Rng, affine_sample, blur_per_plate, fractal_noise, grid, hsv_to_rgb, smooth_noise, v

# Screen paint in HSV (sRGB-encoded): hue range (degrees), saturation, value.
PAINT = {"green": ((95.0, 150.0), (0.45, 0.95), (0.3, 0.9)),
         "blue": ((205.0, 238.0), (0.5, 0.95), (0.3, 0.9))}


def paint(r: Rng, b: int, screen: str) -> torch.Tensor:
    (h0, h1), (s0, s1), (v0, v1) = PAINT[screen]
    rgb = hsv_to_rgb(r.u(b, lo=h0, hi=h1), r.u(b, lo=s0, hi=s1), r.u(b, lo=v0, hi=v1))
    return srgb_to_linear(rgb)


def _light_colour(r: Rng, b: int) -> torch.Tensor:
    """A mild colour temperature shift of the lights (tungsten to daylight), [B,3,1,1]."""
    t = r.u(b, lo=-1.0, hi=1.0) * 0.12
    return torch.stack([1 + t, torch.ones_like(t), 1 - t], 1).view(b, 3, 1, 1)


def _train_light(r: Rng, b: int, h: int, w: int) -> torch.Tensor:
    x, y = grid(h, w, r.device)
    m = float(min(h, w))
    light = v(r.u(b, lo=0.1, hi=0.55)) * smooth_noise(r, b, 1, h, w, 3)
    ga = v(r.u(b, lo=0, hi=2 * math.pi))
    light = light + v(r.u(b, lo=0, hi=0.7)) * ((x * torch.cos(ga) + y * torch.sin(ga)) / m - 0.5)
    for _ in range(5):
        on = v(r.p(b, 0.5))
        th = v(r.u(b, lo=0, hi=math.pi))
        pos = v(r.u(b, lo=0.05, hi=0.95) * m)
        width = v(r.u(b, lo=3.0, hi=0.08 * m + 4))
        d = x * torch.cos(th) + y * torch.sin(th) - pos
        d = d + v(r.u(b, lo=0, hi=0.03 * m)) * torch.sin((-x * torch.sin(th) + y * torch.cos(th)) / v(r.u(b, lo=0.05, hi=0.3) * m))
        t = d / width
        light = light + on * v(r.u(b, lo=-0.6, hi=0.6)) * t * torch.exp(-t * t)
    # Fine wrinkles: anisotropic fractal noise (stretched along a random axis).
    wr = fractal_noise(r, b, h, max(8, w // 4), max(2, int(m // 40)), 3)
    wr = torch.nn.functional.interpolate(wr, size=(h, w), mode="bilinear", align_corners=False)
    light = light + v(r.u(b, lo=0, hi=0.12)) * wr
    weave = v(r.u(b, lo=0, hi=0.04)) * smooth_noise(r, b, 1, h, w, max(4, int(m // 6)))
    # Vignette and a hot spot.
    cx, cy = v(r.u(b, lo=0.2, hi=0.8) * w), v(r.u(b, lo=0.2, hi=0.8) * h)
    d2 = ((x - cx) ** 2 + (y - cy) ** 2) / (m * m)
    light = light - v(r.u(b, lo=0, hi=0.6)) * d2 + v(r.u(b, lo=0, hi=0.35)) * torch.exp(-d2 / v(r.u(b, lo=0.01, hi=0.08)))
    return light + weave


def _holdout_light(r: Rng, b: int, h: int, w: int, photos: torch.Tensor) -> torch.Tensor:
    x, y = grid(h, w, r.device)
    m = float(min(h, w))
    lin = torch.full((b, 1, h, w), 0.0, device=r.device) + v(r.u(b, lo=0.15, hi=0.5))
    for _ in range(4):
        on = v(r.p(b, 0.75))
        cx, cy = v(r.u(b, lo=-0.1, hi=1.1) * w), v(r.u(b, lo=-0.1, hi=1.1) * h)
        sig = v(r.u(b, lo=0.15, hi=0.5) * m)
        sq = v(r.u(b, lo=0.6, hi=1.4))
        lin = lin + on * v(r.u(b, lo=0.3, hi=1.0)) * torch.exp(-(((x - cx) / sq) ** 2 + ((y - cy) * sq) ** 2) / (2 * sig * sig))
    light = torch.log(lin)
    # Panels: a brightness step per panel and a thin dark seam between them.
    period = v(r.u(b, lo=0.15, hi=0.5) * w)
    phase = v(r.u(b) * w)
    panel = torch.floor((x + phase) / period)
    light = light + v(r.u(b, lo=0, hi=0.08)) * torch.sin(panel * 2.7 + v(r.u(b, lo=0, hi=6.3)))
    seam = torch.exp(-(((torch.remainder(x + phase, period)) - 0.5) ** 2) / 2.0)
    light = light - v(r.p(b, 0.6) * r.u(b, lo=0.05, hi=0.4)) * seam
    # Bumpy surface from a held-out photograph's luminance (plaster, concrete, painted board).
    idx = r.i(b, 0, photos.shape[0])
    tex = affine_sample(photos[idx].mean(1, keepdim=True), h, w, r.u(b, lo=0.8, hi=3.0), r.u(b, lo=0, hi=6.3),
                        r.u(b, lo=-0.5, hi=0.5), r.u(b, lo=-0.5, hi=0.5))
    light = light + v(r.u(b, lo=0.0, hi=0.35)) * (tex - tex.mean((2, 3), keepdim=True))
    # Cyclorama floor: below a soft horizon the screen turns toward the camera and catches more light.
    horizon = v(r.u(b, lo=0.6, hi=1.2) * h)
    floor = torch.sigmoid((y - horizon) / v(r.u(b, lo=4.0, hi=0.08 * m + 5)))
    light = light + floor * v(r.u(b, lo=-0.3, hi=0.5))
    return light


def screen(r: Rng, b: int, h: int, w: int, screen_colour: str, holdout: bool, photos: torch.Tensor | None = None):
    """[B,3,H,W] linear screen light (0..1)."""
    col = paint(r, b, screen_colour).view(b, 3, 1, 1) * _light_colour(r, b)
    # Light is smooth (its sharpest features, folds and seams, are a few px wide): compute it at half
    # resolution on large plates.
    f = 2 if min(h, w) >= 384 else 1
    lh, lw = -(-h // f), -(-w // f)
    light = _holdout_light(r, b, lh, lw, photos) if holdout else _train_light(r, b, lh, lw)
    if f > 1:
        light = torch.nn.functional.interpolate(light, size=(h, w), mode="bilinear", align_corners=False)
    return (col * torch.exp(light)).clamp(0.0, 1.0)


def cast_shadow(r: Rng, scr: torch.Tensor, alpha: torch.Tensor, hard: bool) -> torch.Tensor:
    """The subject's shadow on the screen: its alpha offset, softened and darkening the screen.

    The shadow belongs to the background (ground-truth alpha stays 0 there), as on a real stage where
    the key should drop it.
    """
    b, _, h, w = alpha.shape
    m = float(min(h, w))
    on = r.p(b, 0.45)
    dx, dy = r.u(b, lo=-0.15, hi=0.15) * m, r.u(b, lo=-0.05, hi=0.15) * m
    theta = torch.zeros(b, 2, 3, device=alpha.device)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    theta[:, 0, 2] = -dx * 2 / w
    theta[:, 1, 2] = -dy * 2 / h
    g = torch.nn.functional.affine_grid(theta, [b, 1, h, w], align_corners=False)
    sh = torch.nn.functional.grid_sample(alpha, g, padding_mode="zeros", align_corners=False)
    soft = r.u(b, lo=0.5, hi=3.0) if hard else r.u(b, lo=3.0, hi=0.04 * m + 4)
    sh = blur_per_plate(sh, soft)
    depth = r.u(b, lo=0.15, hi=0.65) * on
    return scr * (1 - v(depth) * sh)
