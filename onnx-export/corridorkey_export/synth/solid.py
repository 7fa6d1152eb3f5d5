"""Large, opaque, multicoloured, textured subjects whose colours sit near the screen's (issue 23).

A keyer that learned "far from the screen colour = foreground" punches grey holes into an opaque
subject wherever its surface is desaturated, grey-green or cyan-ish: colours that are still clearly
not the screen (the built-in key's saturation or hue rule rejects them) but close to it. These parts
draw such subjects:

* `hard_colours`: ordinary colours mixed with desaturated ones of any hue, greys tinted toward the
  screen's hue (saturation below the key's 40/255), and saturated hues just outside the key's range
  (green screen: cyan 180..205 and yellow-green 45..60 degrees; blue screen: teal 148..172 and violet
  268..290 degrees);
* training (`focus="solid"` of the training family): a large superellipse or a person-like figure
  covered with soft patches of such colours (noise-weighted blends), shading and fine texture;
* held out (family `solid`, never trained on): a large irregular polygon or the horse silhouette
  covered with a hard-edged patchwork (Voronoi cells) of such colours, shaded, textured and blurred.
"""

from __future__ import annotations

import math

import torch

from ..preprocess import srgb_to_linear
from .common import SCREEN_HUE, Rng, blur_per_plate, coverage_from_distance, fractal_noise, grid, hsv_to_rgb, \
    random_colour, smooth_noise, v
from .shapes import segment_distance

# Saturated hues just outside the built-in key's hue range (green 70..170, blue 180..260 degrees).
EDGE_HUES = {"green": ((180.0, 205.0), (45.0, 60.0)), "blue": ((148.0, 172.0), (268.0, 290.0))}
KEY_SAT = 40.0 / 255.0


def hard_colours(r: Rng, b: int, screen: str) -> torch.Tensor:
    """[B,3] linear colours: a quarter ordinary, the rest desaturated, screen-tinted grey or edge hues."""
    kind = r.u(b)
    ordinary = random_colour(r, b, screen)
    val = r.u(b, lo=0.25, hi=0.95)
    desat = hsv_to_rgb(r.u(b, lo=0, hi=360), r.u(b, lo=0.0, hi=0.12), val)
    tinted = hsv_to_rgb(SCREEN_HUE[screen] + r.u(b, lo=-35, hi=35), r.u(b, lo=0.03, hi=KEY_SAT * 0.85), val)
    (a0, a1), (b0, b1) = EDGE_HUES[screen]
    hue = torch.where(r.u(b) < 0.65, r.u(b, lo=a0, hi=a1), r.u(b, lo=b0, hi=b1))
    edge = hsv_to_rgb(hue, r.u(b, lo=0.2, hi=0.55), val)
    k = v(kind).view(b, 1)
    srgb = torch.where(k < 0.45, desat, torch.where(k < 0.7, tinted, edge))
    return torch.where(k < 0.25, ordinary, srgb_to_linear(srgb))


def _shade(r: Rng, b: int, h: int, w: int, m: float) -> torch.Tensor:
    """Brightness variation of a surface: broad shading and fine texture (cloth, skin, paint)."""
    broad = 1.0 + v(r.u(b, lo=0.1, hi=0.4)) * smooth_noise(r, b, 1, h, w, 4)
    fine = 1.0 + v(r.u(b, lo=0.0, hi=0.25)) * fractal_noise(r, b, h, w, max(4, int(m // 24)), 3)
    return (broad * fine).clamp(min=0.05)


def soft_patches(r: Rng, b: int, h: int, w: int, screen: str, colours: int = 4) -> torch.Tensor:
    """Training texture: `colours` hard colours blended by softmax of smooth noise fields, shaded. [B,3,H,W]."""
    m = float(min(h, w))
    cols = torch.stack([hard_colours(r, b, screen) for _ in range(colours)], 1)  # [B,K,3]
    sharp = v(r.u(b, lo=2.0, hi=14.0))
    weights = torch.softmax(sharp * smooth_noise(r, b, colours, h, w, int(r.scalar(2, 6))), 1)  # [B,K,H,W]
    col = torch.einsum("bkhw,bkc->bchw", weights, cols)
    return (col * _shade(r, b, h, w, m)).clamp(0, 1)


def patchwork(r: Rng, b: int, h: int, w: int, screen: str) -> torch.Tensor:
    """Held-out texture: Voronoi cells of hard colours, shaded, textured, blurred. [B,3,H,W]."""
    m = float(min(h, w))
    n = int(r.scalar(5, 14))
    x, y = grid(h, w, r.device)
    sx, sy = r.u(b, n) * w, r.u(b, n) * h
    d = (x - sx.view(b, n, 1, 1)) ** 2 + (y - sy.view(b, n, 1, 1)) ** 2  # [B,n,H,W]
    cell = d.argmin(1, keepdim=True)  # [B,1,H,W]
    cols = torch.stack([hard_colours(r, b, screen) for _ in range(n)], 1)  # [B,n,3]
    col = torch.gather(cols.permute(0, 2, 1).unsqueeze(-1), 2, cell.expand(b, 3, h, w).reshape(b, 3, -1, 1))
    col = col.view(b, 3, h, w) * _shade(r, b, h, w, m)
    return blur_per_plate(col.clamp(0, 1), r.u(b, lo=0.5, hi=0.006 * m + 1.0))


def big_polygon(r: Rng, b: int, h: int, w: int, vertices: int = 12) -> torch.Tensor:
    """A large irregular (not star) polygon: exact signed distance to its edges."""
    x, y = grid(h, w, r.device)
    m = float(min(h, w))
    cx, cy = r.u(b, lo=0.3, hi=0.7) * w, r.u(b, lo=0.3, hi=0.7) * h
    k = torch.arange(vertices, device=r.device, dtype=torch.float32)
    ang = 2 * math.pi * k.view(1, -1) / vertices + r.u(b, 1, lo=0, hi=2 * math.pi) + r.u(b, vertices, lo=-0.15, hi=0.15)
    rr = (r.u(b, lo=0.3, hi=0.55) * m).view(b, 1) * r.u(b, vertices, lo=0.8, hi=1.1)
    px, py = cx.view(b, 1) + rr * torch.cos(ang), cy.view(b, 1) + rr * torch.sin(ang)
    dist, inside = None, torch.zeros(b, 1, h, w, dtype=torch.bool, device=r.device)
    for i in range(vertices):
        ax, ay = px[:, i].view(b, 1, 1, 1), py[:, i].view(b, 1, 1, 1)
        bx, by = px[:, (i + 1) % vertices].view(b, 1, 1, 1), py[:, (i + 1) % vertices].view(b, 1, 1, 1)
        dd = segment_distance(x, y, ax, ay, bx, by)
        dist = dd if dist is None else torch.minimum(dist, dd)
        inside = inside ^ (((ay > y) != (by > y)) & (x < (bx - ax) * (y - ay) / (by - ay + 1e-9) + ax))
    return coverage_from_distance(torch.where(inside, -dist, dist))
