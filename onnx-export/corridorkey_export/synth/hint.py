"""The built-in chroma-key hint in torch, as the plugin computes it (plugin/src/engine/hint.rs).

CorridorKey's optimization suite keys the screen in OpenCV's 8-bit HSV (hue 35..85, sat > 40, val > 30
is background), erodes the foreground with a 7 px ellipse and blurs it with a 21 px Gaussian. This is
the same arithmetic (OpenCV's fixed-point HSV tables, MORPH_ELLIPSE kernel, BORDER_REFLECT_101 blur),
batched on any torch device so training can make hints on the GPU.

A blue screen is keyed the same way with hue 90..130 (OpenCV's 0..180 scale, i.e. 180..260 degrees:
cyan-blue to violet-blue; blue screen paint sits at 105..120): `SCREEN_KEYS` holds both rules, and
docs/MODEL-FORMAT.md states them for the plugin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_SHIFT = 12


@dataclass(frozen=True)
class KeyParams:
    hue_min: float = 35.0
    hue_max: float = 85.0
    sat_min: float = 40.0
    val_min: float = 30.0
    erode_px: int = 7
    blur_px: int = 21


SCREEN_KEYS = {
    "green": KeyParams(hue_min=35.0, hue_max=85.0),
    "blue": KeyParams(hue_min=90.0, hue_max=130.0),
}


def key_params(screen: str) -> KeyParams:
    """The built-in key's default rule for a screen colour."""
    if screen not in SCREEN_KEYS:
        raise ValueError(f"screen colour must be one of {', '.join(SCREEN_KEYS)}, got {screen!r}")
    return SCREEN_KEYS[screen]


def _tables(device) -> tuple[torch.Tensor, torch.Tensor]:
    # OpenCV's division tables; Python's round() is ties-to-even like its saturate_cast.
    sdiv = [0] + [round((255 << _SHIFT) / i) for i in range(1, 256)]
    hdiv = [0] + [round((180 << _SHIFT) / (6 * i)) for i in range(1, 256)]
    return (torch.tensor(sdiv, dtype=torch.int64, device=device),
            torch.tensor(hdiv, dtype=torch.int64, device=device))


def hsv_opencv_8bit(srgb: torch.Tensor) -> torch.Tensor:
    """[B,3,H,W] sRGB in 0..1 -> [B,3,H,W] (H 0..180, S 0..255, V 0..255) as OpenCV's RGB2HSV on uint8."""
    q = torch.floor(srgb.float().clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.int64)
    r, g, b = q[:, 0], q[:, 1], q[:, 2]
    v = torch.maximum(torch.maximum(r, g), b)
    diff = v - torch.minimum(torch.minimum(r, g), b)
    sdiv, hdiv = _tables(srgb.device)
    s = torch.div(diff * sdiv[v] + (1 << (_SHIFT - 1)), 1 << _SHIFT, rounding_mode="floor")
    h = torch.where(v == r, g - b, torch.where(v == g, b - r + 2 * diff, r - g + 4 * diff))
    h = torch.div(h * hdiv[diff] + (1 << (_SHIFT - 1)), 1 << _SHIFT, rounding_mode="floor")
    h = torch.where(h < 0, h + 180, h)
    return torch.stack([h, s, v], 1).float()


def screen_mask(srgb: torch.Tensor, p: KeyParams = KeyParams()) -> torch.Tensor:
    """[B,1,H,W] float, 1 where the pixel is screen background by rule p."""
    hsv = hsv_opencv_8bit(srgb)
    h, s, v = hsv[:, 0:1], hsv[:, 1:2], hsv[:, 2:3]
    return ((h >= p.hue_min) & (h <= p.hue_max) & (s > p.sat_min) & (v > p.val_min)).float()


def ellipse_kernel(k: int, device=None) -> torch.Tensor:
    """OpenCV's getStructuringElement(MORPH_ELLIPSE, (k, k)) as a [k,k] float 0/1 tensor."""
    ker = torch.zeros(k, k, device=device)
    r = c = k // 2
    for i in range(k):
        dy = i - r
        if abs(dy) > r:
            continue
        dx = round(c * math.sqrt((r * r - dy * dy) / (r * r))) if r > 0 else 0
        j1, j2 = max(c - dx, 0), min(c + dx + 1, k)
        ker[i, j1:j2] = 1.0
    return ker


def _count(mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Set pixels, and in-image pixels, under the kernel anchored at (k//2, k//2)."""
    ker = ellipse_kernel(k, mask.device).view(1, 1, k, k)
    lo, hi = k // 2, k - 1 - k // 2
    padded = F.pad(mask, (lo, hi, lo, hi))
    inside = F.pad(torch.ones_like(mask[:1, :1]), (lo, hi, lo, hi))
    return F.conv2d(padded, ker), F.conv2d(inside, ker)


def erode(mask: torch.Tensor, k: int) -> torch.Tensor:
    """Binary erosion of a [B,1,H,W] 0/1 mask; pixels outside the image never erode (OpenCV's default)."""
    if k < 2:
        return mask
    count, inside = _count(mask, k)
    return (count > inside - 0.5).float()


def dilate(mask: torch.Tensor, k: int) -> torch.Tensor:
    if k < 2:
        return mask
    count, _ = _count(mask, k)
    return (count > 0.5).float()


def gaussian_kernel1d(k: int, device=None) -> torch.Tensor:
    """OpenCV's getGaussianKernel(k, 0): fixed tables up to 7, else sigma = 0.3((k-1)/2 - 1) + 0.8."""
    fixed = {1: [1.0], 3: [0.25, 0.5, 0.25], 5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
             7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125]}
    if k in fixed:
        return torch.tensor(fixed[k], device=device)
    sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
    x = torch.arange(k, dtype=torch.float64, device=device) - (k - 1) / 2
    w = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (w / w.sum()).float()


def gaussian_blur(img: torch.Tensor, k: int) -> torch.Tensor:
    """Separable Gaussian of [B,C,H,W] with BORDER_REFLECT_101 (torch's 'reflect'); k made odd."""
    if k < 3:
        return img
    if k % 2 == 0:
        k += 1
    c = img.shape[1]
    w = gaussian_kernel1d(k, img.device).to(img.dtype)
    r = k // 2
    h_pad, w_pad = min(r, img.shape[2] - 1), min(r, img.shape[3] - 1)
    if h_pad < r or w_pad < r:
        # Image smaller than the kernel: reflect repeatedly via index arithmetic.
        return _blur_small(img, w, r)
    x = F.pad(img, (r, r, 0, 0), mode="reflect")
    x = F.conv2d(x, w.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    x = F.pad(x, (0, 0, r, r), mode="reflect")
    return F.conv2d(x, w.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def _reflect_index(n: int, r: int, device) -> torch.Tensor:
    i = torch.arange(-r, n + r, device=device)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * n - 2
    i = torch.remainder(i, period)
    return torch.where(i >= n, period - i, i)


def _blur_small(img: torch.Tensor, w: torch.Tensor, r: int) -> torch.Tensor:
    b, c, h, wd = img.shape
    k = 2 * r + 1
    x = img[..., _reflect_index(wd, r, img.device)]
    x = F.conv2d(x.reshape(b * c, 1, h, -1), w.view(1, 1, 1, k)).reshape(b, c, h, wd)
    x = x[:, :, _reflect_index(h, r, img.device)]
    return F.conv2d(x.reshape(b * c, 1, -1, wd), w.view(1, 1, k, 1)).reshape(b, c, h, wd)


def chroma_key(srgb: torch.Tensor, p: KeyParams = KeyParams()) -> torch.Tensor:
    """The built-in hint: 1 = foreground, 0 = screen; eroded and blurred. [B,3,H,W] -> [B,1,H,W].
    The default rule keys green; `key_params("blue")` keys blue."""
    fg = 1.0 - screen_mask(srgb, p)
    fg = erode(fg, int(p.erode_px))
    return gaussian_blur(fg, int(p.blur_px)).clamp(0.0, 1.0)
