"""Random draws, coordinate grids, noise fields and colours shared by the plate generator's parts.

Every part draws from one `Rng` (one torch.Generator on the target device), so a (seed, device) pair
always gives the same plates. Per-plate parameters are [B] tensors; `v()` shapes them for images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..preprocess import srgb_to_linear

SCREENS = ("green", "blue")
# Hue (degrees, HSV) of each screen, and the band around it that foreground colours stay out of, so the
# screen is the only thing of its colour (the ground truth would be ambiguous otherwise). The bands
# hold the built-in key's hue range (green 70..170 deg, blue 180..260 deg) plus the +-12 deg training
# jitters it by: green 60..190, blue 170..270.
SCREEN_HUE = {"green": 125.0, "blue": 220.0}
AVOID_HALF_WIDTH = {"green": 65.0, "blue": 50.0}


def check_screen(screen: str) -> str:
    if screen not in SCREENS:
        raise ValueError(f"screen colour must be one of {', '.join(SCREENS)}, got {screen!r}")
    return screen


class Rng:
    """Uniform/normal draws from one generator, shaped [B, ...] for per-plate parameters."""

    def __init__(self, g: torch.Generator, device):
        self.g, self.device = g, device

    def u(self, *shape, lo=0.0, hi=1.0) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=self.g, device=self.device)

    def n(self, *shape) -> torch.Tensor:
        return torch.randn(*shape, generator=self.g, device=self.device)

    def p(self, b: int, prob: float) -> torch.Tensor:
        """[B] float 0/1, 1 with probability prob."""
        return (self.u(b) < prob).float()

    def i(self, b: int, lo: int, hi: int) -> torch.Tensor:
        """[B] int64 in lo..hi-1."""
        return torch.randint(lo, hi, (b,), generator=self.g, device=self.device)

    def scalar(self, lo=0.0, hi=1.0) -> float:
        """One draw as a Python float (for kernel sizes and counts shared by a batch)."""
        return float(self.u(1, lo=lo, hi=hi)[0])


def v(t: torch.Tensor) -> torch.Tensor:
    """[B] -> [B,1,1,1] for broadcasting over images."""
    return t.view(-1, 1, 1, 1)


def grid(h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates in pixels, [1,1,H,W] each."""
    y = (torch.arange(h, device=device, dtype=torch.float32) + 0.5).view(1, 1, h, 1).expand(1, 1, h, w)
    x = (torch.arange(w, device=device, dtype=torch.float32) + 0.5).view(1, 1, 1, w).expand(1, 1, h, w)
    return x, y


def smooth_noise(r: Rng, b: int, c: int, h: int, w: int, cells: int) -> torch.Tensor:
    """Zero-mean band-limited noise (bicubic upsampled random grid), roughly unit range.

    Coarse noise is upsampled bicubically to a quarter of the size and bilinearly from there: the
    same field to the eye at a fraction of the cost at 1024 px and more."""
    cells = max(1, int(cells))
    grid_ = r.u(b, c, cells + 3, cells + 3, lo=-1.0, hi=1.0)
    full = (h + 3 * h // cells, w + 3 * w // cells)
    if cells * 16 <= min(h, w):
        mid = F.interpolate(grid_, size=(full[0] // 4 + 1, full[1] // 4 + 1), mode="bicubic", align_corners=False)
        up = F.interpolate(mid, size=full, mode="bilinear", align_corners=False)
    else:
        up = F.interpolate(grid_, size=full, mode="bicubic", align_corners=False)
    return up[:, :, h // cells: h // cells + h, w // cells: w // cells + w]


def fractal_noise(r: Rng, b: int, h: int, w: int, base_cells: int, octaves: int = 4, gain: float = 0.55) -> torch.Tensor:
    """Sum of octaves of smooth noise (smoke, clouds, fabric folds), roughly unit range."""
    out = torch.zeros(b, 1, h, w, device=r.device)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = base_cells * (2 ** o)
        if cells > max(h, w) // 2:
            break
        out = out + amp * smooth_noise(r, b, 1, h, w, cells)
        total += amp
        amp *= gain
    return out / max(total, 1e-6)


def coverage_from_sdf(f: torch.Tensor) -> torch.Tensor:
    """Implicit function (f < 1 inside) -> anti-aliased coverage via signed distance (f-1)/|grad f|."""
    gx = torch.zeros_like(f)
    gy = torch.zeros_like(f)
    gx[..., 1:-1] = (f[..., 2:] - f[..., :-2]) * 0.5
    gy[..., 1:-1, :] = (f[..., 2:, :] - f[..., :-2, :]) * 0.5
    gx[..., 0], gx[..., -1] = gx[..., 1], gx[..., -2]
    gy[..., 0, :], gy[..., -1, :] = gy[..., 1, :], gy[..., -2, :]
    grad = torch.sqrt(gx * gx + gy * gy).clamp(min=1e-6)
    return (0.5 - (f - 1.0) / grad).clamp(0.0, 1.0)


def coverage_from_distance(sd: torch.Tensor) -> torch.Tensor:
    """Signed distance in pixels (negative inside) -> box-filtered coverage."""
    return (0.5 - sd).clamp(0.0, 1.0)


def hsv_to_rgb(hue_deg: torch.Tensor, sat: torch.Tensor, val: torch.Tensor) -> torch.Tensor:
    """[B] hue (degrees), saturation, value -> [B,3] (in whatever encoding val is in)."""
    c = val * sat
    hp = (hue_deg % 360.0) / 60.0
    x = c * (1 - torch.abs(hp % 2 - 1))
    zeros = torch.zeros_like(c)
    table = [(c, x, zeros), (x, c, zeros), (zeros, c, x), (zeros, x, c), (x, zeros, c), (c, zeros, x)]
    idx = hp.floor().clamp(0, 5).long()
    rgb = torch.zeros(c.shape[0], 3, device=c.device)
    for i, (rr, gg, bb) in enumerate(table):
        m = idx == i
        rgb[m] = torch.stack([rr, gg, bb], 1)[m]
    return rgb + (val - c).unsqueeze(1)


def hue_outside_screen(r: Rng, b: int, screen: str) -> torch.Tensor:
    """[B] hues (degrees) uniformly on the circle minus the screen's band."""
    centre, half = SCREEN_HUE[screen], AVOID_HALF_WIDTH[screen]
    return (centre + half + r.u(b) * (360.0 - 2 * half)) % 360.0


def random_colour(r: Rng, b: int, screen: str, sat_hi: float = 0.8, val=(0.2, 0.95)) -> torch.Tensor:
    """Linear RGB [B,3] of a hue away from the screen's (skin, cloth, hair, props); some near-grey."""
    hue = hue_outside_screen(r, b, screen)
    sat = r.u(b, lo=0.1, hi=sat_hi) * torch.where(r.u(b) < 0.2, 0.15, 1.0)
    return srgb_to_linear(hsv_to_rgb(hue, sat, r.u(b, lo=val[0], hi=val[1])))


def skin_or_hair_colour(r: Rng, b: int) -> torch.Tensor:
    """Linear RGB [B,3] from the warm band real skin and natural hair live in (hue 5..45 deg), dark to fair."""
    hue = r.u(b, lo=5.0, hi=45.0)
    sat = r.u(b, lo=0.15, hi=0.75)
    val = r.u(b, lo=0.08, hi=0.95)
    grey = r.p(b, 0.12)  # grey/white hair
    sat = sat * (1 - grey) + 0.05 * grey
    return srgb_to_linear(hsv_to_rgb(hue, sat, val))


def suppress_screen_hue(lin: torch.Tensor, screen: str) -> torch.Tensor:
    """Desaturate pixels of a [B,3,H,W] linear image whose hue is within the screen's band.

    Photographs have greens (grass, foliage) and blues (sky, jeans); on a plate they would be the
    screen's colour with alpha 1. Those pixels keep their luminance and lose their chroma smoothly.
    """
    mx, _ = lin.max(1, keepdim=True)
    mn, _ = lin.min(1, keepdim=True)
    d = (mx - mn).clamp(min=1e-6)
    r_, g_, b_ = lin[:, 0:1], lin[:, 1:2], lin[:, 2:3]
    hue = torch.where(mx == r_, ((g_ - b_) / d) % 6, torch.where(mx == g_, (b_ - r_) / d + 2, (r_ - g_) / d + 4)) * 60.0
    dist = torch.abs(((hue - SCREEN_HUE[screen]) + 180.0) % 360.0 - 180.0)
    half = AVOID_HALF_WIDTH[screen]
    keep = ((dist - half) / 25.0).clamp(0, 1)  # 0 inside the band, full chroma 25 deg outside it
    sat = (mx - mn) / mx.clamp(min=1e-6)
    keep = torch.where(sat < 0.08, torch.ones_like(keep), keep)
    luma = (0.2126 * r_ + 0.7152 * g_ + 0.0722 * b_)
    return luma + (lin - luma) * keep


def odd(k: int) -> int:
    k = max(1, int(k))
    return k + 1 if k % 2 == 0 else k


def _blur_direct(img: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    b, c, h, w = img.shape
    smax = float(sigma.max())
    rad = max(1, min(int(math.ceil(3 * smax)), min(h, w) - 1))
    t = torch.arange(-rad, rad + 1, device=img.device, dtype=torch.float32)
    s = sigma.clamp(min=1e-3).view(b, 1)
    k = torch.exp(-(t.view(1, -1) ** 2) / (2 * s * s))
    k = torch.where(sigma.view(b, 1) < 0.3, (t.view(1, -1) == 0).float(), k)
    k = k / k.sum(1, keepdim=True)
    kk = k.repeat_interleave(c, 0)  # [B*C, K]
    x = img.reshape(1, b * c, h, w)
    mode = "reflect" if rad < min(h, w) else "replicate"
    x = F.conv2d(F.pad(x, (rad, rad, 0, 0), mode=mode), kk.view(b * c, 1, 1, -1), groups=b * c)
    x = F.conv2d(F.pad(x, (0, 0, rad, rad), mode=mode), kk.view(b * c, 1, -1, 1), groups=b * c)
    return x.view(b, c, h, w)


def blur_per_plate(img: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur of [B,C,H,W] with a per-plate sigma [B] in pixels (below 0.3: unchanged).

    Plates with sigma > 6 are blurred at a lower resolution (box-downsampled, blurred, bilinear back up),
    so the cost stays flat however wide the blur."""
    b, _, h, w = img.shape
    if not sigma.numel() or float(sigma.max()) < 0.3:
        return img
    big = sigma > 6.0
    if not bool(big.any()):
        return _blur_direct(img, sigma)
    out = img.clone()
    small_i, big_i = torch.nonzero(~big).flatten(), torch.nonzero(big).flatten()
    if small_i.numel():
        out[small_i] = _blur_direct(img[small_i], sigma[small_i])
    f = max(2, int(float(sigma[big_i].min()) // 3))
    low = F.avg_pool2d(img[big_i], f, ceil_mode=True)
    low = _blur_direct(low, sigma[big_i] / f)
    out[big_i] = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    return out


def local_mean(img: torch.Tensor, radius: float) -> torch.Tensor:
    """A cheap wide blur (box-downsample by ~radius, bilinear back up): the light around a pixel."""
    f = max(1, int(radius))
    h, w = img.shape[-2:]
    low = F.avg_pool2d(img, f, ceil_mode=True)
    return F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)


def affine_sample(src: torch.Tensor, h: int, w: int, scale: torch.Tensor, angle: torch.Tensor, tx: torch.Tensor,
                  ty: torch.Tensor, flip: torch.Tensor | None = None, padding: str = "reflection") -> torch.Tensor:
    """Sample [B,C,Hs,Ws] sources into [B,C,h,w] through a per-plate similarity transform.

    scale: output pixels per source pixel (> 1 magnifies); angle radians; tx, ty: source centre offset
    in normalised source units (-1..1); flip: mirror horizontally where 1.
    """
    b, _, hs, ws = src.shape
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Output pixel (normalised over the output) -> source normalised coordinates.
    sx = (w / ws) / scale
    sy = (h / hs) / scale
    f = torch.ones_like(scale) if flip is None else 1.0 - 2.0 * flip
    theta = torch.zeros(b, 2, 3, device=src.device)
    theta[:, 0, 0] = cos * sx * f
    theta[:, 0, 1] = -sin * sy * (hs / ws)
    theta[:, 1, 0] = sin * sx * (ws / hs) * f
    theta[:, 1, 1] = cos * sy
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    grid_ = F.affine_grid(theta, [b, src.shape[1], h, w], align_corners=False)
    return F.grid_sample(src, grid_, mode="bilinear", padding_mode=padding, align_corners=False)
