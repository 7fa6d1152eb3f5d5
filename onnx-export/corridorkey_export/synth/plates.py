"""Procedural green-screen plates with known alpha and clean foreground, batched in torch.

Everything is drawn from one torch.Generator on the target device, so a (seed, device) pair always
gives the same plates and training makes its batches on the GPU. A plate is a composite

    I = alpha * F_spilled + (1 - alpha) * B            (linear light, or sRGB-encoded for 'srgb' plates)

of foreground layers (solid and textured shapes, thin strands with sub-pixel coverage, a net, a
semi-transparent veil; optional motion blur) over a green screen with uneven lighting, folds, fabric
texture and noise. Green spill tints the foreground near its edges and through its thin or
translucent parts; the ground-truth FG is the colour *before* spill (the keyer should remove it).
Sensor noise is added last; 'srgb' plates are also quantised to 8 bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..preprocess import linear_to_srgb, srgb_to_linear
from .hint import gaussian_blur


@dataclass
class Plates:
    plate: torch.Tensor       # [B,3,H,W] in the plate's own encoding (see is_linear)
    is_linear: torch.Tensor   # [B] bool: plate holds linear light (else sRGB-encoded)
    srgb: torch.Tensor        # [B,3,H,W] the plate in sRGB encoding (what the model and the key see)
    alpha: torch.Tensor       # [B,1,H,W] ground-truth alpha (linear coverage)
    fg: torch.Tensor          # [B,3,H,W] ground-truth straight FG, sRGB-encoded, 0 where alpha == 0
    bg: torch.Tensor          # [B,3,H,W] clean screen, sRGB-encoded


class _Rng:
    """Uniform/normal draws from one generator, shaped [B, ...] for per-plate parameters."""

    def __init__(self, g: torch.Generator, device):
        self.g, self.device = g, device

    def u(self, *shape, lo=0.0, hi=1.0) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=self.g, device=self.device)

    def n(self, *shape) -> torch.Tensor:
        return torch.randn(*shape, generator=self.g, device=self.device)

    def p(self, b: int, prob: float) -> torch.Tensor:
        return (self.u(b) < prob).float()


def _v(t: torch.Tensor) -> torch.Tensor:
    """[B] -> [B,1,1,1] for broadcasting over images."""
    return t.view(-1, 1, 1, 1)


def smooth_noise(r: _Rng, b: int, c: int, h: int, w: int, cells: int) -> torch.Tensor:
    """Zero-mean band-limited noise (bicubic upsampled random grid), roughly unit range."""
    grid = r.u(b, c, cells + 3, cells + 3, lo=-1.0, hi=1.0)
    up = F.interpolate(grid, size=(h + 3 * h // cells, w + 3 * w // cells), mode="bicubic", align_corners=False)
    return up[:, :, h // cells: h // cells + h, w // cells: w // cells + w]


def _grid(b: int, h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates in pixels, [1,1,H,W] each."""
    y = (torch.arange(h, device=device, dtype=torch.float32) + 0.5).view(1, 1, h, 1).expand(1, 1, h, w)
    x = (torch.arange(w, device=device, dtype=torch.float32) + 0.5).view(1, 1, 1, w).expand(1, 1, h, w)
    return x, y


def _coverage_from_sdf(f: torch.Tensor) -> torch.Tensor:
    """Implicit function (f < 1 inside) -> anti-aliased coverage via signed distance f-1 / |grad f|."""
    gx = torch.zeros_like(f)
    gy = torch.zeros_like(f)
    gx[..., 1:-1] = (f[..., 2:] - f[..., :-2]) * 0.5
    gy[..., 1:-1, :] = (f[..., 2:, :] - f[..., :-2, :]) * 0.5
    gx[..., 0], gx[..., -1] = gx[..., 1], gx[..., -2]
    gy[..., 0, :], gy[..., -1, :] = gy[..., 1, :], gy[..., -2, :]
    grad = torch.sqrt(gx * gx + gy * gy).clamp(min=1e-6)
    return (0.5 - (f - 1.0) / grad).clamp(0.0, 1.0)


def _random_colour(r: _Rng, b: int, sat_hi: float = 0.8) -> torch.Tensor:
    """Linear RGB [B,3] of non-green hue (skin, cloth, hair, grey), so the screen stays the only green."""
    hue = r.u(b)  # 0..1 mapped onto the hue circle minus yellow-green to cyan (55..170 deg)
    hue = torch.where(hue < 0.25, hue * 220.0, 170.0 + (hue - 0.25) * 253.3) % 360.0
    sat = r.u(b, lo=0.15, hi=sat_hi) * torch.where(r.u(b) < 0.15, 0.2, 1.0)
    val = r.u(b, lo=0.15, hi=0.95)
    c = val * sat
    hp = hue / 60.0
    x = c * (1 - torch.abs(hp % 2 - 1))
    zeros = torch.zeros_like(c)
    table = [(c, x, zeros), (x, c, zeros), (zeros, c, x), (zeros, x, c), (x, zeros, c), (c, zeros, x)]
    idx = hp.floor().clamp(0, 5).long()
    rgb = torch.zeros(b, 3, device=c.device)
    for i, (rr, gg, bb) in enumerate(table):
        m = idx == i
        rgb[m] = torch.stack([rr, gg, bb], 1)[m]
    rgb = rgb + (val - c).unsqueeze(1)
    return srgb_to_linear(rgb)


def _texture(r: _Rng, b: int, h: int, w: int, base: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Straight linear colour field: base colour, shading, noise, and stripes or checks on some plates."""
    x, y = _grid(1, h, w, base.device)
    m = float(min(h, w))
    col = base.view(b, 3, 1, 1) * (1.0 + _v(strength) * smooth_noise(r, b, 3, h, w, 6))
    col = col * (1.0 + 0.3 * smooth_noise(r, b, 1, h, w, 2))
    ang = r.u(b, lo=0, hi=math.pi)
    freq = r.u(b, lo=8, hi=60) * 2 * math.pi / m
    t = _v(freq) * (x * _v(torch.cos(ang)) + y * _v(torch.sin(ang)))
    stripes = 0.5 + 0.5 * torch.sin(t)
    checks = 0.5 + 0.5 * torch.sign(torch.sin(t) * torch.sin(_v(freq) * (y * _v(torch.cos(ang)) - x * _v(torch.sin(ang)))))
    kind = r.u(b)
    second = _random_colour(r, b).view(b, 3, 1, 1)
    pattern = torch.where(_v(kind) < 0.2, stripes, torch.where(_v(kind) < 0.3, checks, torch.zeros_like(stripes)))
    col = col * (1 - pattern) + second * pattern
    return col.clamp(0.0, 1.5)


def _blob(r: _Rng, b: int, h: int, w: int, device, scale=(0.15, 0.45)) -> torch.Tensor:
    """Rotated superellipse with a wobbly outline (bodies, heads, props)."""
    x, y = _grid(1, h, w, device)
    m = float(min(h, w))
    cx, cy = _v(r.u(b, lo=0.15, hi=0.85) * w), _v(r.u(b, lo=0.15, hi=0.85) * h)
    rx, ry = _v(r.u(b, lo=scale[0], hi=scale[1]) * m), _v(r.u(b, lo=scale[0], hi=scale[1]) * m)
    th = _v(r.u(b, lo=0, hi=math.pi))
    p = _v(r.u(b, lo=1.6, hi=4.0))
    dx, dy = x - cx, y - cy
    u = (dx * torch.cos(th) + dy * torch.sin(th)) / rx
    v = (-dx * torch.sin(th) + dy * torch.cos(th)) / ry
    f = (u.abs().pow(p) + v.abs().pow(p) + 1e-12).pow(1.0 / p)
    ang = torch.atan2(v, u)
    wob = 1.0 + _v(r.u(b, lo=0, hi=0.12)) * torch.sin(_v(r.u(b, lo=2, hi=7).floor()) * ang + _v(r.u(b, lo=0, hi=6.3)))
    return _coverage_from_sdf(f / wob)


def _box(r: _Rng, b: int, h: int, w: int, device) -> torch.Tensor:
    """Rotated rectangle, from wide panels to thin sticks (2-8 px)."""
    x, y = _grid(1, h, w, device)
    m = float(min(h, w))
    cx, cy = _v(r.u(b, lo=0.1, hi=0.9) * w), _v(r.u(b, lo=0.1, hi=0.9) * h)
    hx = _v(r.u(b, lo=0.05, hi=0.4) * m)
    thin = r.u(b) < 0.4
    hy = _v(torch.where(thin, r.u(b, lo=1.0, hi=4.0), r.u(b, lo=0.03, hi=0.3) * m))
    th = _v(r.u(b, lo=0, hi=math.pi))
    dx, dy = x - cx, y - cy
    u = (dx * torch.cos(th) + dy * torch.sin(th)).abs() - hx
    v = (-dx * torch.sin(th) + dy * torch.cos(th)).abs() - hy
    sd = torch.sqrt(u.clamp(min=0) ** 2 + v.clamp(min=0) ** 2) + torch.maximum(u, v).clamp(max=0)
    return (0.5 - sd).clamp(0.0, 1.0)


def _segment_distance(x, y, ax, ay, bx, by) -> torch.Tensor:
    px, py = x - ax, y - ay
    ex, ey = bx - ax, by - ay
    t = ((px * ex + py * ey) / (ex * ex + ey * ey).clamp(min=1e-6)).clamp(0.0, 1.0)
    qx, qy = px - t * ex, py - t * ey
    return torch.sqrt(qx * qx + qy * qy)


def _strands(r: _Rng, b: int, h: int, w: int, device, count: int, segments: int = 8, chunk: int = 8):
    """Thin curved strands (hair, fur, fibres): per-strand coverage of a line of width < 2 px.

    Coverage is the exact 1-D box-filtered width at the pixel's distance d to the curve:
    |[d - w/2, d + w/2] intersect [-1/2, 1/2]|, so sub-pixel strands give partial alpha. Strands
    sprout from a random root region outward with curl; each is composited 'over' the others.
    Returns premultiplied colour [B,3,H,W] and alpha [B,1,H,W] (linear).
    """
    x, y = _grid(1, h, w, device)
    m = float(min(h, w))
    cx, cy = r.u(b, 1, lo=0.2, hi=0.8) * w, r.u(b, 1, lo=0.2, hi=0.8) * h
    rad = r.u(b, 1, lo=0.05, hi=0.3) * m
    base = _random_colour(r, b, sat_hi=0.7)
    prem = torch.zeros(b, 3, h, w, device=device)
    alpha = torch.zeros(b, 1, h, w, device=device)
    for c0 in range(0, count, chunk):
        k = min(chunk, count - c0)
        ang = r.u(b, k, lo=0, hi=2 * math.pi)
        root = rad * r.u(b, k, lo=0.7, hi=1.05)
        length = r.u(b, k, lo=0.05, hi=0.35) * m
        curl = r.u(b, k, lo=-2.5, hi=2.5) / length.clamp(min=1.0)
        width = r.u(b, k, lo=0.25, hi=1.8)
        opacity = r.u(b, k, lo=0.5, hi=1.0)
        px, py = cx + root * torch.cos(ang), cy + root * torch.sin(ang)
        heading = ang + r.u(b, k, lo=-0.6, hi=0.6)
        step = length / segments
        dist = None
        for _ in range(segments):
            nx, ny = px + step * torch.cos(heading), py + step * torch.sin(heading)
            d = _segment_distance(x, y, px.view(b, k, 1, 1), py.view(b, k, 1, 1), nx.view(b, k, 1, 1), ny.view(b, k, 1, 1))
            dist = d if dist is None else torch.minimum(dist, d)
            px, py = nx, ny
            heading = heading + curl * step + r.u(b, k, lo=-0.15, hi=0.15)
        wv = width.view(b, k, 1, 1)
        cov = ((dist + wv / 2).clamp(max=0.5) - (dist - wv / 2).clamp(min=-0.5)).clamp(0.0, 1.0)
        cov = cov * opacity.view(b, k, 1, 1)
        tint = (base.view(b, 1, 3) * r.u(b, k, 1, lo=0.6, hi=1.4)).clamp(0, 1)
        for j in range(k):
            a = cov[:, j:j + 1]
            prem = tint[:, j].view(b, 3, 1, 1) * a + prem * (1 - a)
            alpha = a + alpha * (1 - a)
    return prem, alpha


def _net(r: _Rng, b: int, h: int, w: int, device) -> torch.Tensor:
    """A mesh (lace, fence, net) inside a box: many small holes with anti-aliased threads."""
    x, y = _grid(1, h, w, device)
    m = float(min(h, w))
    period = _v(r.u(b, lo=5.0, hi=0.06 * m + 6.0))
    thread = _v(r.u(b, lo=0.6, hi=3.0))
    th = _v(r.u(b, lo=0, hi=math.pi))
    u = x * torch.cos(th) + y * torch.sin(th)
    v = -x * torch.sin(th) + y * torch.cos(th)

    def line(t):
        d = torch.abs(torch.remainder(t, period) - period / 2)  # distance to the thread centre
        return ((d + thread / 2).clamp(max=0.5) - (d - thread / 2).clamp(min=-0.5)).clamp(0, 1)

    mesh = 1 - (1 - line(u)) * (1 - line(v))
    return mesh * _box(r, b, h, w, device)


def _motion_blur(imgs: torch.Tensor, length: torch.Tensor, angle: torch.Tensor, taps: int = 13) -> torch.Tensor:
    """Box blur along a per-plate direction of `length` px (0 leaves the plate sharp)."""
    b, _, h, w = imgs.shape
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=imgs.device)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=imgs.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack([gx, gy], -1).unsqueeze(0)
    out = torch.zeros_like(imgs)
    for i in range(taps):
        s = (i / (taps - 1) - 0.5) * length
        off = torch.stack([s * torch.cos(angle) * 2 / w, s * torch.sin(angle) * 2 / h], -1).view(b, 1, 1, 2)
        out = out + F.grid_sample(imgs, base + off, mode="bilinear", padding_mode="border", align_corners=False)
    return out / taps


def _screen(r: _Rng, b: int, h: int, w: int, device) -> torch.Tensor:
    """Linear RGB green screen: uneven light, a gradient, folds/wrinkles, fabric texture."""
    x, y = _grid(1, h, w, device)
    m = float(min(h, w))
    green = r.u(b, lo=0.18, hi=0.65)
    col = torch.stack([green * r.u(b, lo=0.03, hi=0.35), green, green * r.u(b, lo=0.05, hi=0.4)], 1).view(b, 3, 1, 1)
    light = _v(r.u(b, lo=0.1, hi=0.5)) * smooth_noise(r, b, 1, h, w, 3)
    ga = _v(r.u(b, lo=0, hi=2 * math.pi))
    light = light + _v(r.u(b, lo=0, hi=0.6)) * ((x * torch.cos(ga) + y * torch.sin(ga)) / m - 0.5)
    for _ in range(4):
        on = _v(r.p(b, 0.5))
        th = _v(r.u(b, lo=0, hi=math.pi))
        pos = _v(r.u(b, lo=0.1, hi=0.9) * m)
        width = _v(r.u(b, lo=3.0, hi=0.08 * m + 4))
        d = x * torch.cos(th) + y * torch.sin(th) - pos
        d = d + _v(r.u(b, lo=0, hi=0.03 * m)) * torch.sin((-x * torch.sin(th) + y * torch.cos(th)) / _v(r.u(b, lo=0.05, hi=0.3) * m))
        t = d / width
        light = light + on * _v(r.u(b, lo=-0.5, hi=0.5)) * t * torch.exp(-t * t)
    weave = _v(r.u(b, lo=0, hi=0.04)) * smooth_noise(r, b, 1, h, w, max(4, int(m // 6)))
    screen = col * torch.exp(light + weave)
    return screen.clamp(0.0, 1.0)


def make_plates(batch: int, height: int, width: int, g: torch.Generator, device=None, srgb_fraction: float = 0.5,
                empty_fraction: float = 0.03) -> Plates:
    """Draw `batch` plates of height x width from generator g (on `device`)."""
    device = torch.device(device) if device is not None else g.device
    r = _Rng(g, device)
    b, h, w = batch, height, width
    screen = _screen(r, b, h, w, device)

    # Foreground layers, back to front: premultiplied linear colour and alpha.
    prem = torch.zeros(b, 3, h, w, device=device)
    alpha = torch.zeros(b, 1, h, w, device=device)

    def over(cov: torch.Tensor, colour: torch.Tensor, on: torch.Tensor):
        nonlocal prem, alpha
        a = cov * _v(on)
        prem = colour * a + prem * (1 - a)
        alpha = a + alpha * (1 - a)

    present = 1.0 - r.p(b, empty_fraction)
    over(_box(r, b, h, w, device), _texture(r, b, h, w, _random_colour(r, b), r.u(b, lo=0, hi=0.4)), r.p(b, 0.5) * present)
    over(_blob(r, b, h, w, device), _texture(r, b, h, w, _random_colour(r, b), r.u(b, lo=0, hi=0.5)), r.p(b, 0.85) * present)
    over(_blob(r, b, h, w, device, (0.06, 0.2)), _texture(r, b, h, w, _random_colour(r, b), r.u(b, lo=0, hi=0.5)),
         r.p(b, 0.4) * present)
    over(_net(r, b, h, w, device), _random_colour(r, b).view(b, 3, 1, 1), r.p(b, 0.2) * present)
    # Strands are the costliest layer: draw them only for the plates that get them.
    idx = torch.nonzero((r.p(b, 0.6) * present) > 0).flatten()
    if idx.numel():
        s_prem, s_alpha = _strands(r, idx.numel(), h, w, device, count=24)
        prem[idx] = s_prem + prem[idx] * (1 - s_alpha)
        alpha[idx] = s_alpha + alpha[idx] * (1 - s_alpha)
    # Semi-transparent veil (smoke, glass, fabric): constant or textured opacity.
    veil_op = (_v(r.u(b, lo=0.1, hi=0.7)) * (1 + 0.6 * smooth_noise(r, b, 1, h, w, 4))).clamp(0.02, 0.95)
    veil = _blob(r, b, h, w, device, (0.1, 0.4)) * veil_op
    over(veil, _random_colour(r, b, sat_hi=0.4).view(b, 3, 1, 1) * 1.2, r.p(b, 0.3) * present)

    straight = prem / alpha.clamp(min=1e-6)
    # Spill: the screen's light on the subject near its edges and through thin/translucent parts.
    k = 2 * int(max(3, min(h, w) // 48)) + 1
    edge = gaussian_blur(1.0 - alpha, k) * (alpha > 0).float()
    spill = (_v(r.u(b, lo=0.0, hi=0.4)) * edge + _v(r.u(b, lo=0, hi=0.02))).clamp(0, 1)
    # Bounce light from the screen adds to the subject's own colour (and dims it a little).
    spilled = straight * (1 - 0.3 * spill) + spill * screen

    # Motion blur on some plates (subject moving, screen static): blur alpha and premultiplied colours.
    moving = r.p(b, 0.3)
    length = moving * r.u(b, lo=2.0, hi=0.04 * min(h, w) + 2.0)
    angle = r.u(b, lo=0, hi=math.pi)
    stack = _motion_blur(torch.cat([alpha, straight * alpha, spilled * alpha], 1), length, angle)
    alpha = stack[:, 0:1].clamp(0, 1)
    gt_fg = torch.where(alpha > 1e-4, stack[:, 1:4] / alpha.clamp(min=1e-4), torch.zeros_like(stack[:, 1:4]))
    obs_fg = torch.where(alpha > 1e-4, stack[:, 4:7] / alpha.clamp(min=1e-4), torch.zeros_like(stack[:, 4:7]))
    gt_fg, obs_fg = gt_fg.clamp(0, 1), obs_fg.clamp(0, 1)

    is_srgb = r.u(b) < srgb_fraction
    srgb_m = _v(is_srgb.float())
    # Linear plates composite in linear light; sRGB plates in sRGB encoding (as a display-referred comp).
    comp_lin = alpha * obs_fg + (1 - alpha) * screen
    comp_srgb = alpha * linear_to_srgb(obs_fg) + (1 - alpha) * linear_to_srgb(screen)
    # Sensor noise: shot + read noise in linear light.
    lin = torch.where(srgb_m > 0, srgb_to_linear(comp_srgb), comp_lin)
    shot, read = _v(r.u(b, lo=0, hi=0.004)), _v(r.u(b, lo=0, hi=0.006))
    noise = r.n(b, 3, h, w) * torch.sqrt(shot * lin.clamp(min=0) + read * read)
    lin_noisy = (lin + noise).clamp(0.0, 1.0)
    srgb = linear_to_srgb(lin_noisy)
    srgb = torch.where(srgb_m > 0, torch.round(srgb * 255) / 255, srgb)
    plate = torch.where(srgb_m > 0, srgb, lin_noisy)
    return Plates(plate=plate, is_linear=~is_srgb, srgb=srgb, alpha=alpha,
                  fg=linear_to_srgb(gt_fg) * (alpha > 0).float(), bg=linear_to_srgb(screen))
