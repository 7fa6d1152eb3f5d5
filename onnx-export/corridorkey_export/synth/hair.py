"""Hair and fur: hundreds of sub-pixel strands, splatted.

A strand is a smooth curve sampled every ~0.6 px; each sample deposits its area (width x arc length x
opacity) bilinearly into a density D, and colour likewise. Alpha is 1 - exp(-D): a single thin strand
gets its box-filtered coverage, overlapping strands combine like independent layers. Cost grows with
the number of samples, not strands x pixels, so a head of 400 strands is cheap on a CPU too.

Training family: clumps rooted on an arc (a head, a shoulder, a fur edge) growing outward with curl,
random waviness and some gravity, plus flyaways. Held-out family: long hair that falls (gravity
dominates) with regular waves, and short dense fur along a line; never seen in training.
"""

from __future__ import annotations

import math

import torch

from .common import Rng, grid, random_colour, skin_or_hair_colour

SPACING = 0.6


def splat(px: torch.Tensor, py: torch.Tensor, area: torch.Tensor, colour: torch.Tensor, h: int, w: int):
    """Samples [B,N,M] (positions in pixels, area in px^2), colour [B,N,3] -> premultiplied [B,3,H,W], alpha."""
    b = px.shape[0]
    dev = px.device
    x = px.reshape(b, -1) - 0.5
    y = py.reshape(b, -1) - 0.5
    a = area.reshape(b, -1)
    col = colour.unsqueeze(2).expand(-1, -1, px.shape[2], -1).reshape(b, -1, 3)
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0
    acc = torch.zeros(b * h * w, 4, device=dev)
    base = (torch.arange(b, device=dev) * (h * w)).view(b, 1)
    for dx, dy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        idx = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long() + base
        dep = a * wt * ok.float()
        acc.index_add_(0, idx.view(-1), torch.cat([dep.unsqueeze(-1), dep.unsqueeze(-1) * col], -1).view(-1, 4))
    acc = acc.view(b, h, w, 4).permute(0, 3, 1, 2)
    dens = acc[:, :1]
    alpha = 1.0 - torch.exp(-dens)
    prem = acc[:, 1:] / dens.clamp(min=1e-8) * alpha
    return prem, alpha


def _curves(x0, y0, heading, length, m_samples):
    """Integrate headings [B,N,M] (radians) from roots [B,N] over arc length -> sample positions."""
    ds = (length / m_samples).unsqueeze(-1)
    dx = torch.cos(heading) * ds
    dy = torch.sin(heading) * ds
    px = x0.unsqueeze(-1) + torch.cumsum(dx, -1) - dx * 0.5
    py = y0.unsqueeze(-1) + torch.cumsum(dy, -1) - dy * 0.5
    return px, py, ds.expand_as(px)


def _waves(r: Rng, b: int, n: int, t: torch.Tensor, amp: torch.Tensor, cycles=(0.5, 3.0), terms: int = 3):
    """Smooth random heading perturbation along t in 0..1: a few sinusoids, [B,N,M]."""
    out = torch.zeros(b, n, t.shape[-1], device=r.device)
    for _ in range(terms):
        f = r.u(b, n, 1, lo=cycles[0], hi=cycles[1])
        ph = r.u(b, n, 1, lo=0, hi=2 * math.pi)
        out = out + torch.sin(2 * math.pi * f * t + ph) * amp.unsqueeze(-1) / terms
    return out


def _hair_colours(r: Rng, b: int, n: int, screen: str) -> torch.Tensor:
    natural = r.p(b, 0.75).view(b, 1)
    base = natural * skin_or_hair_colour(r, b) + (1 - natural) * random_colour(r, b, screen, sat_hi=0.7)
    return (base.view(b, 1, 3) * r.u(b, n, 1, lo=0.6, hi=1.4)).clamp(0, 1)


def head_of_hair(r: Rng, b: int, h: int, w: int, screen: str, cx=None, cy=None, radius=None,
                 strands: int = 320, flyaways: int = 24):
    """Training family: clumps rooted on an arc growing outward with curl and waviness, plus flyaways."""
    dev = r.device
    m = float(min(h, w))
    px_scale = math.sqrt(m / 512.0)
    cx = r.u(b, lo=0.2, hi=0.8) * w if cx is None else cx
    cy = r.u(b, lo=0.2, hi=0.7) * h if cy is None else cy
    radius = r.u(b, lo=0.05, hi=0.18) * m if radius is None else radius
    n = strands + flyaways
    clumps = 12
    # Root angle: an arc centred on "up" (a head's crown) or anywhere (a fur edge).
    centre = torch.where(r.u(b) < 0.7, -math.pi / 2 + r.u(b, lo=-0.6, hi=0.6), r.u(b, lo=0, hi=2 * math.pi))
    span = r.u(b, lo=0.8, hi=3.6)
    cid = torch.randint(0, clumps, (b, n), generator=r.g, device=dev)
    clump_ang = centre.view(b, 1) + span.view(b, 1) * r.u(b, clumps, lo=-0.5, hi=0.5)
    root_ang = torch.gather(clump_ang, 1, cid) + r.u(b, n, lo=-0.12, hi=0.12)
    root_r = radius.view(b, 1) * r.u(b, n, lo=0.75, hi=1.0)
    x0 = cx.view(b, 1) + root_r * torch.cos(root_ang)
    y0 = cy.view(b, 1) + root_r * torch.sin(root_ang)
    length = m * r.u(b, 1, lo=0.06, hi=0.4) * r.u(b, n, lo=0.4, hi=1.0)
    is_fly = (torch.arange(n, device=dev) >= strands).view(1, n)
    length = torch.where(is_fly, length * r.u(b, n, lo=1.0, hi=1.6), length)
    m_samples = int(min(900, math.ceil(float(length.max()) / SPACING) + 1))
    t = (torch.arange(m_samples, device=dev, dtype=torch.float32) + 0.5).view(1, 1, -1) / m_samples
    clump_curl = r.u(b, clumps, lo=-3.0, hi=3.0)
    curl = torch.gather(clump_curl, 1, cid) + r.u(b, n, lo=-0.8, hi=0.8)
    # Most hair falls (gravity wins along the strand); some stands up or floats (fur, wind, static).
    gravity = r.u(b, 1, lo=0.3, hi=2.0) * r.p(b, 0.8).view(b, 1)
    h0 = root_ang + r.u(b, n, lo=-0.5, hi=0.5)
    wav = _waves(r, b, n, t, r.u(b, n, lo=0.0, hi=1.2))
    heading = h0.unsqueeze(-1) + curl.unsqueeze(-1) * t + wav
    # Gravity bends the heading toward +y (down) progressively along the strand.
    down = math.pi / 2
    diff = torch.atan2(torch.sin(down - heading), torch.cos(down - heading))
    heading = heading + diff * (gravity.unsqueeze(-1) * t).clamp(max=1.0)
    px, py, ds = _curves(x0, y0, heading, length, m_samples)
    width0 = r.u(b, 1, lo=0.25, hi=1.3) * r.u(b, n, lo=0.5, hi=1.2) * px_scale
    width0 = torch.where(is_fly, width0 * 0.35, width0)
    width = width0.unsqueeze(-1) * (1.0 - 0.75 * t)
    opacity = r.u(b, n, lo=0.55, hi=1.0)
    colour = _hair_colours(r, b, n, screen)
    return splat(px, py, width * ds * opacity.unsqueeze(-1), colour, h, w)


def falling_hair(r: Rng, b: int, h: int, w: int, screen: str, strands: int = 260):
    """Held-out family: long hair falling from a parting with regular waves (gravity dominates)."""
    dev = r.device
    m = float(min(h, w))
    px_scale = math.sqrt(m / 512.0)
    n = strands
    cx = r.u(b, lo=0.25, hi=0.75) * w
    top = r.u(b, lo=0.05, hi=0.4) * h
    half = r.u(b, lo=0.04, hi=0.15) * m
    side = torch.where(r.u(b, n) < 0.5, -1.0, 1.0)
    off = r.u(b, n) * half.view(b, 1)
    x0 = cx.view(b, 1) + side * off
    y0 = top.view(b, 1) + (off / half.view(b, 1)) ** 2 * half.view(b, 1) * 0.5
    length = m * r.u(b, 1, lo=0.2, hi=0.6) * r.u(b, n, lo=0.7, hi=1.0)
    m_samples = int(min(900, math.ceil(float(length.max()) / SPACING) + 1))
    t = (torch.arange(m_samples, device=dev, dtype=torch.float32) + 0.5).view(1, 1, -1) / m_samples
    spread = r.u(b, 1, lo=0.1, hi=0.6)
    h0 = math.pi / 2 - side * (math.pi / 2 - 0.15) * (1 - off / half.view(b, 1) * 0.5)
    settle = (1 - torch.exp(-t * r.u(b, 1, 1, lo=4, hi=12)))
    heading = h0.unsqueeze(-1) + (math.pi / 2 - h0.unsqueeze(-1)) * settle
    heading = heading + side.unsqueeze(-1) * spread.unsqueeze(-1) * t * 0.4
    cycles = r.u(b, 1, 1, lo=2.0, hi=7.0)
    phase = r.u(b, 1, 1, lo=0, hi=2 * math.pi) + r.u(b, n, 1, lo=-0.4, hi=0.4)
    heading = heading + r.u(b, 1, 1, lo=0.0, hi=0.6) * torch.sin(2 * math.pi * cycles * t + phase) * t.sqrt()
    px, py, ds = _curves(x0, y0, heading, length, m_samples)
    width = (r.u(b, 1, lo=0.2, hi=1.0) * r.u(b, n, lo=0.6, hi=1.3) * px_scale).unsqueeze(-1) * (1 - 0.5 * t)
    opacity = r.u(b, n, lo=0.5, hi=1.0)
    colour = _hair_colours(r, b, n, screen)
    return splat(px, py, width * ds * opacity.unsqueeze(-1), colour, h, w)


def fur_edge(r: Rng, b: int, h: int, w: int, screen: str, strands: int = 1200):
    """Held-out family: a pelt (a rotated slab) whose edge grows short dense fur along its normal."""
    dev = r.device
    m = float(min(h, w))
    px_scale = math.sqrt(m / 512.0)
    n = strands
    ang = r.u(b, lo=0, hi=2 * math.pi)
    cx, cy = r.u(b, lo=0.2, hi=0.8) * w, r.u(b, lo=0.2, hi=0.8) * h
    half = r.u(b, lo=0.15, hi=0.45) * m
    s = r.u(b, n, lo=-1, hi=1) * half.view(b, 1)
    x0 = cx.view(b, 1) + s * torch.cos(ang).view(b, 1)
    y0 = cy.view(b, 1) + s * torch.sin(ang).view(b, 1)
    normal = ang.view(b, 1) + math.pi / 2
    length = m * r.u(b, 1, lo=0.01, hi=0.06) * r.u(b, n, lo=0.5, hi=1.0)
    m_samples = int(min(300, math.ceil(float(length.max()) / SPACING) + 1))
    t = (torch.arange(m_samples, device=dev, dtype=torch.float32) + 0.5).view(1, 1, -1) / m_samples
    heading = (normal + r.u(b, n, lo=-0.5, hi=0.5)).unsqueeze(-1) + r.u(b, n, 1, lo=-1.0, hi=1.0) * t
    px, py, ds = _curves(x0, y0, heading, length, m_samples)
    width = (r.u(b, 1, lo=0.3, hi=1.2) * px_scale * r.u(b, n, lo=0.6, hi=1.2)).unsqueeze(-1) * (1 - 0.8 * t)
    colour = _hair_colours(r, b, n, screen)
    prem, alpha = splat(px, py, width * ds, colour, h, w)
    # The pelt behind the edge: |along| < half, 0 < depth < thickness on the side away from the normal.
    x, y = grid(h, w, dev)
    dx, dy = x - cx.view(b, 1, 1, 1), y - cy.view(b, 1, 1, 1)
    along = dx * torch.cos(ang).view(b, 1, 1, 1) + dy * torch.sin(ang).view(b, 1, 1, 1)
    depth = -(dx * torch.cos(normal).view(b, 1, 1, 1) + dy * torch.sin(normal).view(b, 1, 1, 1))
    thick = (r.u(b, lo=0.1, hi=0.5) * m).view(b, 1, 1, 1)
    sd = torch.maximum(torch.maximum(along.abs() - half.view(b, 1, 1, 1), -depth), depth - thick)
    body = (0.5 - sd).clamp(0, 1)
    body_col = colour.mean(1).view(b, 3, 1, 1)
    return prem + body_col * body * (1 - alpha), alpha + body * (1 - alpha)
