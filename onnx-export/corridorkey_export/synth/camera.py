"""What the camera and the delivery chain do to a plate: blur, noise, grain, compression, encoding."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .common import Rng, blur_per_plate, v


def motion_blur(imgs: torch.Tensor, length: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Box blur along a per-plate direction of `length` px (0 leaves the plate sharp)."""
    b, _, h, w = imgs.shape
    lmax = float(length.max()) if length.numel() else 0.0
    if lmax < 0.5:
        return imgs
    taps = int(min(31, max(5, math.ceil(lmax) + 1)))
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


def defocus(imgs: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Out-of-focus subject: a per-plate Gaussian (sigma px, 0 = sharp)."""
    return blur_per_plate(imgs, sigma)


def sensor_noise(r: Rng, lin: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """Shot + read noise in linear light, the blue channel noisier (as on Bayer sensors)."""
    b = lin.shape[0]
    shot = v(r.u(b, lo=0, hi=0.004 * strength))
    read = v(r.u(b, lo=0, hi=0.006 * strength))
    chan = torch.tensor([1.0, 0.85, 1.3], device=lin.device).view(1, 3, 1, 1)
    noise = r.n(*lin.shape) * torch.sqrt(shot * lin.clamp(min=0) + read * read) * chan
    return lin + noise


def grain(r: Rng, srgb: torch.Tensor, prob: float = 0.4) -> torch.Tensor:
    """Film/digital grain in the encoded image: spatially correlated, mono or colour, 0-3 % amplitude."""
    b, _, h, w = srgb.shape
    on = v(r.p(b, prob))
    n = r.n(b, 3, h, w)
    mono = v(r.p(b, 0.5))
    n = mono * n[:, :1].expand(-1, 3, -1, -1) + (1 - mono) * n
    n = blur_per_plate(n, r.u(b, lo=0.0, hi=1.2))
    amp = v(r.u(b, lo=0.004, hi=0.03)) * on
    # Grain is strongest in the mid-tones.
    return srgb + n * amp * (0.4 + 2.4 * srgb * (1 - srgb))


def _dct_matrix(device) -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float32, device=device)
    d = torch.cos((2 * k.view(1, 8) + 1) * k.view(8, 1) * math.pi / 16) * math.sqrt(2 / 8)
    d[0] = d[0] / math.sqrt(2)
    return d


# JPEG's base quantisation tables (Annex K).
_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
         14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
         49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
_CHROMA = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
           47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32


def blocking(r: Rng, srgb: torch.Tensor, prob: float = 0.3) -> torch.Tensor:
    """JPEG-like compression on some plates: YCbCr, 4:2:0 chroma on half of them, 8x8 DCT quantised
    with the standard tables at quality 30-92 (IJG scaling)."""
    b, _, h, w = srgb.shape
    on = r.p(b, prob)
    quality = r.u(b, lo=30, hi=92)
    sub = r.p(b, 0.5)
    if float(on.sum()) == 0:
        return srgb
    x = srgb.clamp(0, 1) * 255.0
    rr, gg, bb = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    y = 0.299 * rr + 0.587 * gg + 0.114 * bb
    cb = -0.168736 * rr - 0.331264 * gg + 0.5 * bb
    cr = 0.5 * rr - 0.418688 * gg - 0.081312 * bb
    chroma = torch.cat([cb, cr], 1)
    half = F.interpolate(F.avg_pool2d(chroma, 2, ceil_mode=True), size=(h, w), mode="bilinear", align_corners=False)
    chroma = torch.where(v(sub) > 0, half, chroma)
    ycc = torch.cat([y - 128.0, chroma], 1)
    ph, pw = (-h) % 8, (-w) % 8
    ycc = F.pad(ycc, (0, pw, 0, ph), mode="replicate")
    hh, ww = ycc.shape[-2:]
    blocks = ycc.view(b, 3, hh // 8, 8, ww // 8, 8).permute(0, 1, 2, 4, 3, 5)
    d = _dct_matrix(srgb.device)
    coef = d @ blocks @ d.T
    s = torch.where(quality < 50, 5000.0 / quality, 200.0 - 2.0 * quality).view(b, 1, 1)
    base = torch.stack([torch.tensor(_LUMA, device=srgb.device, dtype=torch.float32).view(8, 8),
                        torch.tensor(_CHROMA, device=srgb.device, dtype=torch.float32).view(8, 8)])
    q = torch.floor((base.view(1, 2, 8, 8) * s.view(b, 1, 1, 1) + 50.0) / 100.0).clamp(min=1.0)
    q = torch.stack([q[:, 0], q[:, 1], q[:, 1]], 1).view(b, 3, 1, 1, 8, 8)
    back = d.T @ (torch.round(coef / q) * q) @ d
    ycc = back.permute(0, 1, 2, 4, 3, 5).reshape(b, 3, hh, ww)[:, :, :h, :w]
    y, cb, cr = ycc[:, 0:1] + 128.0, ycc[:, 1:2], ycc[:, 2:3]
    rgb = torch.cat([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], 1) / 255.0
    return torch.where(v(on) > 0, rgb.clamp(0, 1), srgb)


def exposure(r: Rng, b: int) -> torch.Tensor:
    """Per-plate exposure gain (-0.7 to +0.5 stops), [B,1,1,1]."""
    return v(torch.exp2(r.u(b, lo=-0.7, hi=0.5)))


def unsharp(r: Rng, srgb: torch.Tensor, prob: float = 0.2) -> torch.Tensor:
    """In-camera sharpening on some plates: halos at edges that a keyer must not take for detail."""
    b = srgb.shape[0]
    amt = v(r.p(b, prob) * r.u(b, lo=0.2, hi=1.0))
    blurred = blur_per_plate(srgb, torch.full((b,), 1.2, device=srgb.device))
    return srgb + amt * (srgb - blurred)

