"""Solid subject shapes as anti-aliased coverage [B,1,H,W].

Training family: superellipse bodies, panels and sticks, person-like figures (head, torso, limbs as
capsules), meshes. Held-out family (never in training): star and irregular polygons, the horse
silhouette from scikit-image's bundled data, rings with a hole, and its own meshes are diamonds.
"""

from __future__ import annotations

import math

import torch

from .common import Rng, affine_sample, coverage_from_distance, coverage_from_sdf, grid, v


def blob(r: Rng, b: int, h: int, w: int, scale=(0.15, 0.45)) -> torch.Tensor:
    """Rotated superellipse with a wobbly outline (bodies, heads, props)."""
    x, y = grid(h, w, r.device)
    m = float(min(h, w))
    cx, cy = v(r.u(b, lo=0.15, hi=0.85) * w), v(r.u(b, lo=0.15, hi=0.85) * h)
    rx, ry = v(r.u(b, lo=scale[0], hi=scale[1]) * m), v(r.u(b, lo=scale[0], hi=scale[1]) * m)
    th = v(r.u(b, lo=0, hi=math.pi))
    p = v(r.u(b, lo=1.6, hi=4.0))
    dx, dy = x - cx, y - cy
    u = (dx * torch.cos(th) + dy * torch.sin(th)) / rx
    vv = (-dx * torch.sin(th) + dy * torch.cos(th)) / ry
    f = (u.abs().pow(p) + vv.abs().pow(p) + 1e-12).pow(1.0 / p)
    ang = torch.atan2(vv, u)
    wob = 1.0 + v(r.u(b, lo=0, hi=0.12)) * torch.sin(v(r.u(b, lo=2, hi=7).floor()) * ang + v(r.u(b, lo=0, hi=6.3)))
    return coverage_from_sdf(f / wob)


def box(r: Rng, b: int, h: int, w: int) -> torch.Tensor:
    """Rotated rectangle, from wide panels to thin sticks (2-8 px)."""
    x, y = grid(h, w, r.device)
    m = float(min(h, w))
    cx, cy = v(r.u(b, lo=0.1, hi=0.9) * w), v(r.u(b, lo=0.1, hi=0.9) * h)
    hx = v(r.u(b, lo=0.05, hi=0.4) * m)
    thin = r.u(b) < 0.4
    hy = v(torch.where(thin, r.u(b, lo=1.0, hi=4.0), r.u(b, lo=0.03, hi=0.3) * m))
    th = v(r.u(b, lo=0, hi=math.pi))
    dx, dy = x - cx, y - cy
    u = (dx * torch.cos(th) + dy * torch.sin(th)).abs() - hx
    vv = (-dx * torch.sin(th) + dy * torch.cos(th)).abs() - hy
    sd = torch.sqrt(u.clamp(min=0) ** 2 + vv.clamp(min=0) ** 2) + torch.maximum(u, vv).clamp(max=0)
    return coverage_from_distance(sd)


def segment_distance(x, y, ax, ay, bx, by) -> torch.Tensor:
    px, py = x - ax, y - ay
    ex, ey = bx - ax, by - ay
    t = ((px * ex + py * ey) / (ex * ex + ey * ey).clamp(min=1e-6)).clamp(0.0, 1.0)
    qx, qy = px - t * ex, py - t * ey
    return torch.sqrt(qx * qx + qy * qy)


def _capsule(x, y, ax, ay, bx, by, rad) -> torch.Tensor:
    return segment_distance(x, y, ax, ay, bx, by) - rad


def figure(r: Rng, b: int, h: int, w: int) -> tuple[torch.Tensor, dict]:
    """A person-like silhouette: head, neck, torso and arms (capsules), often cut by the frame edge.

    Returns coverage and the head (cx, cy, radius) [B] each, where hair grows.
    """
    x, y = grid(h, w, r.device)
    m = float(min(h, w))
    s = r.u(b, lo=0.35, hi=0.9) * m  # figure height scale
    cx = r.u(b, lo=0.25, hi=0.75) * w
    top = r.u(b, lo=0.05, hi=0.45) * h
    head_r = s * r.u(b, lo=0.09, hi=0.13)
    hy = top + head_r
    lean = r.u(b, lo=-0.25, hi=0.25)
    # Torso: a capsule from the shoulders down (wide radius), shoulders as a horizontal capsule.
    sh_y = hy + head_r * 1.6
    torso_r = s * r.u(b, lo=0.12, hi=0.2)
    sd = _capsule(x, y, v(cx), v(sh_y + torso_r * 0.5), v(cx + lean * s * 0.3), v(sh_y + s), v(torso_r))
    shoulder = s * r.u(b, lo=0.18, hi=0.26)
    sd = torch.minimum(sd, _capsule(x, y, v(cx - shoulder), v(sh_y + torso_r * 0.3), v(cx + shoulder),
                                    v(sh_y + torso_r * 0.3), v(torso_r * 0.45)))
    # Head (ellipse-ish) and neck.
    hx_ = v(cx + lean * head_r)
    dh = torch.sqrt(((x - hx_) / 0.85) ** 2 + (y - v(hy)) ** 2) - v(head_r)
    sd = torch.minimum(sd, dh)
    sd = torch.minimum(sd, _capsule(x, y, hx_, v(hy), v(cx), v(sh_y), v(head_r * 0.45)))
    # Arms: upper and lower arm per side; angles from hanging straight down (0) outward and up.
    for side in (-1.0, 1.0):
        ax, ay = cx + side * shoulder, sh_y + torso_r * 0.3
        a1 = r.u(b, lo=-0.2, hi=2.2)
        l1 = s * r.u(b, lo=0.22, hi=0.32)
        ex, ey = ax + side * torch.sin(a1) * l1, ay + torch.cos(a1) * l1
        a2 = a1 + r.u(b, lo=-1.4, hi=1.4)
        l2 = s * r.u(b, lo=0.2, hi=0.3)
        fx, fy = ex + side * torch.sin(a2) * l2, ey + torch.cos(a2) * l2
        ar = s * r.u(b, lo=0.035, hi=0.06)
        on = v(r.p(b, 0.85))
        arm = torch.minimum(_capsule(x, y, v(ax), v(ay), v(ex), v(ey), v(ar)),
                            _capsule(x, y, v(ex), v(ey), v(fx), v(fy), v(ar * 0.85)))
        sd = torch.where(on > 0, torch.minimum(sd, arm), sd)
    return coverage_from_distance(sd), {"cx": cx + lean * head_r, "cy": hy, "r": head_r}


def net(r: Rng, b: int, h: int, w: int, diamond: bool = False) -> torch.Tensor:
    """A mesh (lace, fence, net) inside a box: many small holes with anti-aliased threads."""
    x, y = grid(h, w, r.device)
    m = float(min(h, w))
    period = v(r.u(b, lo=5.0, hi=0.06 * m + 6.0))
    thread = v(r.u(b, lo=0.6, hi=3.0))
    th = v(r.u(b, lo=0, hi=math.pi))
    skew = math.pi / 3 if diamond else math.pi / 2
    u = x * torch.cos(th) + y * torch.sin(th)
    vv = x * torch.cos(th + skew) + y * torch.sin(th + skew)

    def line(t):
        d = torch.abs(torch.remainder(t, period) - period / 2)
        return ((d + thread / 2).clamp(max=0.5) - (d - thread / 2).clamp(min=-0.5)).clamp(0, 1)

    mesh = 1 - (1 - line(u)) * (1 - line(vv))
    return mesh * box(r, b, h, w)


def polygon(r: Rng, b: int, h: int, w: int, vertices: int = 9) -> torch.Tensor:
    """Star or irregular polygon (held-out shapes): exact signed distance to its edges."""
    x, y = grid(h, w, r.device)
    m = float(min(h, w))
    n = vertices
    cx, cy = r.u(b, lo=0.2, hi=0.8) * w, r.u(b, lo=0.2, hi=0.8) * h
    rad = r.u(b, lo=0.12, hi=0.4) * m
    star = r.p(b, 0.5)
    k = torch.arange(n, device=r.device, dtype=torch.float32)
    ang = 2 * math.pi * k.view(1, n) / n + r.u(b, 1, lo=0, hi=2 * math.pi) + r.u(b, n, lo=-0.2, hi=0.2)
    inner = torch.where((k.view(1, n) % 2 == 1) & (star.view(b, 1) > 0), r.u(b, 1, lo=0.35, hi=0.6), 1.0)
    rr = rad.view(b, 1) * inner * r.u(b, n, lo=0.7, hi=1.1)
    px, py = cx.view(b, 1) + rr * torch.cos(ang), cy.view(b, 1) + rr * torch.sin(ang)
    dist = None
    inside = torch.zeros(b, 1, h, w, dtype=torch.bool, device=r.device)
    for i in range(n):
        ax, ay = px[:, i].view(b, 1, 1, 1), py[:, i].view(b, 1, 1, 1)
        bx, by = px[:, (i + 1) % n].view(b, 1, 1, 1), py[:, (i + 1) % n].view(b, 1, 1, 1)
        d = segment_distance(x, y, ax, ay, bx, by)
        dist = d if dist is None else torch.minimum(dist, d)
        # Even-odd crossing test of a horizontal ray.
        cross = ((ay > y) != (by > y)) & (x < (bx - ax) * (y - ay) / (by - ay + 1e-9) + ax)
        inside = inside ^ cross
    return coverage_from_distance(torch.where(inside, -dist, dist))


def ring(r: Rng, b: int, h: int, w: int) -> torch.Tensor:
    """An annulus, possibly squashed: a subject with a hole the screen shows through."""
    x, y = grid(h, w, r.device)
    m = float(min(h, w))
    cx, cy = v(r.u(b, lo=0.2, hi=0.8) * w), v(r.u(b, lo=0.2, hi=0.8) * h)
    rad = v(r.u(b, lo=0.1, hi=0.35) * m)
    thick = rad * v(r.u(b, lo=0.15, hi=0.5))
    sq = v(r.u(b, lo=0.5, hi=1.0))
    d = torch.sqrt((x - cx) ** 2 + ((y - cy) / sq) ** 2)
    return coverage_from_distance((d - rad).abs() - thick)


def silhouette(r: Rng, b: int, h: int, w: int, masks: torch.Tensor) -> torch.Tensor:
    """A bundled silhouette (held-out), scaled, rotated a little, mirrored, placed anywhere."""
    idx = r.i(b, 0, masks.shape[0])
    src = masks[idx]
    m = float(min(h, w))
    scale = r.u(b, lo=0.45, hi=1.1) * m / masks.shape[-1]
    ang = r.u(b, lo=-0.35, hi=0.35)
    return affine_sample(src, h, w, scale, ang, r.u(b, lo=-0.4, hi=0.4), r.u(b, lo=-0.3, hi=0.4),
                         r.p(b, 0.5), padding="zeros").clamp(0, 1)
