"""Semi-transparent layers: sheer cloth, smoke, veils and glass, as (coverage, linear colour).

Training family: sheer cloth (a woven thread pattern whose opacity grows where the fabric folds over
itself), fractal smoke plumes, a veil of smooth varying opacity. Held-out family: a striped curtain
of vertical folds, domain-warped smoke, a glass pane (faint body, stronger rim).
"""

from __future__ import annotations

import math

import torch

from .common import Rng, fractal_noise, grid, random_colour, smooth_noise, v
from .shapes import blob, box


def _weave(r: Rng, b: int, h: int, w: int) -> torch.Tensor:
    """Woven thread density 0..1 at a 2-5 px period, rotated."""
    x, y = grid(h, w, r.device)
    period = v(r.u(b, lo=2.0, hi=5.0))
    th = v(r.u(b, lo=0, hi=math.pi))
    u = x * torch.cos(th) + y * torch.sin(th)
    vv = -x * torch.sin(th) + y * torch.cos(th)
    a = 0.5 + 0.5 * torch.cos(2 * math.pi * u / period)
    c = 0.5 + 0.5 * torch.cos(2 * math.pi * vv / period)
    return 1 - (1 - a * v(r.u(b, lo=0.3, hi=1.0))) * (1 - c * v(r.u(b, lo=0.3, hi=1.0)))


def sheer_cloth(r: Rng, b: int, h: int, w: int, screen: str):
    """Chiffon/tulle: base opacity 0.1-0.6, layered where it folds (1 - (1-a)^layers), woven texture."""
    region = blob(r, b, h, w, (0.15, 0.45))
    base = v(r.u(b, lo=0.1, hi=0.6))
    folds = 1.0 + 1.5 * (0.5 + 0.5 * fractal_noise(r, b, h, w, 2, 3)).clamp(0, 1) * v(r.u(b, lo=0.3, hi=1.0))
    op = 1 - (1 - base) ** folds
    op = op * (0.75 + 0.25 * _weave(r, b, h, w))
    colour = random_colour(r, b, screen, sat_hi=0.6).view(b, 3, 1, 1)
    shade = (1.0 + 0.35 * smooth_noise(r, b, 1, h, w, 4)).clamp(0.3, 1.6)
    return (region * op).clamp(0, 1), (colour * shade).clamp(0, 1)


def smoke(r: Rng, b: int, h: int, w: int, warped: bool = False):
    """A plume: fractal density inside a soft envelope, opacity up to 0.2-0.9; grey to warm white."""
    x, y = grid(h, w, r.device)
    m = float(min(h, w))
    cx = v(r.u(b, lo=0.2, hi=0.8) * w)
    base_y = v(r.u(b, lo=0.5, hi=1.1) * h)
    width = v(r.u(b, lo=0.08, hi=0.3) * m)
    height = v(r.u(b, lo=0.3, hi=0.9) * m)
    rise = ((base_y - y) / height).clamp(0, 1.5)
    spread = width * (0.4 + rise)
    drift = v(r.u(b, lo=-0.4, hi=0.4)) * rise * height * 0.5
    env = torch.exp(-((x - cx - drift) / spread) ** 2) * torch.exp(-((rise - 0.6) / 0.55) ** 2) * (y < base_y).float()
    if warped:
        # Domain warping: the noise field sampled at displaced positions (curlier, held-out look).
        wx = fractal_noise(r, b, h, w, 3, 3)
        wy = fractal_noise(r, b, h, w, 3, 3)
        n = fractal_noise(r, b, h, w, 4, 5)
        gx = (x / w * 2 - 1 + 0.25 * wx).clamp(-1, 1)
        gy = (y / h * 2 - 1 + 0.25 * wy).clamp(-1, 1)
        dens = torch.nn.functional.grid_sample(n, torch.cat([gx, gy], 1).permute(0, 2, 3, 1), align_corners=False)
    else:
        dens = fractal_noise(r, b, h, w, int(r.scalar(3, 8)), 5)
    dens = ((dens * 0.5 + 0.5) * 1.6 - 0.3).clamp(0, 1)
    op = (env * dens * v(r.u(b, lo=0.25, hi=0.95))).clamp(0, 0.97)
    grey = r.u(b, lo=0.25, hi=0.95)
    warm = r.u(b, lo=0.9, hi=1.1)
    colour = torch.stack([grey * warm, grey, grey / warm], 1).clamp(0, 1).view(b, 3, 1, 1) ** 2.2
    return op, colour.expand(b, 3, h, w)


def veil(r: Rng, b: int, h: int, w: int, screen: str):
    """Smooth varying opacity inside a blob (tinted plastic, thin fabric seen from afar)."""
    op = (v(r.u(b, lo=0.1, hi=0.7)) * (1 + 0.6 * smooth_noise(r, b, 1, h, w, 4))).clamp(0.02, 0.95)
    cov = blob(r, b, h, w, (0.1, 0.4)) * op
    return cov, (random_colour(r, b, screen, sat_hi=0.4).view(b, 3, 1, 1) * 1.2).clamp(0, 1).expand(b, 3, h, w)


def curtain(r: Rng, b: int, h: int, w: int, screen: str):
    """Held-out: a sheer curtain of vertical folds (opacity follows the fold slope) with stripes."""
    x, y = grid(h, w, r.device)
    region = box(r, b, h, w)
    freq = v(r.u(b, lo=3, hi=14)) * 2 * math.pi / w
    phase = v(r.u(b, lo=0, hi=2 * math.pi))
    sway = 0.3 * smooth_noise(r, b, 1, h, w, 2) * w * 0.05
    fold = torch.cos(freq * (x + sway) + phase)
    base = v(r.u(b, lo=0.12, hi=0.5))
    op = 1 - (1 - base) ** (1.0 + 1.2 * (1 - fold.abs()))
    stripes = (torch.sin(v(r.u(b, lo=0.05, hi=0.3)) * x) > 0.6).float() * v(r.u(b, lo=0, hi=0.3))
    colour = random_colour(r, b, screen, sat_hi=0.5).view(b, 3, 1, 1).expand(b, 3, h, w)
    return (region * (op + stripes).clamp(0, 0.95)), colour


def glass(r: Rng, b: int, h: int, w: int):
    """Held-out: a glass pane or bottle: faint body (0.03-0.2), a stronger rim, a specular streak."""
    region = blob(r, b, h, w, (0.1, 0.35))
    inner = blob(r, b, h, w, (0.1, 0.35))
    rim = (region - region * inner).clamp(0, 1)
    body = v(r.u(b, lo=0.03, hi=0.2))
    op = region * body + rim * v(r.u(b, lo=0.2, hi=0.6))
    x, y = grid(h, w, r.device)
    th = v(r.u(b, lo=0, hi=math.pi))
    streak = torch.exp(-((x * torch.cos(th) + y * torch.sin(th) - v(r.u(b) * min(h, w))) / 4.0) ** 2)
    op = (op + region * streak * 0.5).clamp(0, 0.9)
    tint = r.u(b, 3, lo=0.7, hi=1.0).view(b, 3, 1, 1).expand(b, 3, h, w)
    return op, tint
