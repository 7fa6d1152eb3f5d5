"""Photographs for textures and silhouettes: only the sample images scikit-image ships in its wheel.

scikit-image's `skimage/data/` folder holds a few dozen sample images inside the installed package;
others in its data set are fetched on first use, and those are never used here: files are read from the
package folder by name, nothing is downloaded. Which names exist depends on the installed version, so
each set keeps what is present (with a warning) and needs at least one.

The sets are disjoint: training textures, held-out textures (the held-out generator's texture source)
and the held-out generator's silhouettes (the horse).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# Colour photographs and grey textures for training. The two motorcycle frames are one scene (a
# stereo pair): both stay on the same side of the split.
TRAIN_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png",
                "hubble_deep_field.jpg", "brick.png", "camera.png", "grass.png", "coins.png", "clock_motion.png",
                "cell.png", "page.png", "text.png")
# The held-out generator's texture source: none of these is ever seen in training.
HOLDOUT_PHOTOS = ("rocket.jpg", "retina.jpg", "ihc.png", "gravel.png", "moon.png")
# Silhouettes (dark figure on light ground) for the held-out generator's shapes.
HOLDOUT_SILHOUETTES = ("horse.png",)
BANK_SIZE = 512


class PhotoError(RuntimeError):
    pass


def data_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def available(names: tuple[str, ...]) -> list[str]:
    folder = data_dir()
    return [n for n in names if (folder / n).is_file()]


def _read(name: str) -> np.ndarray:
    """A bundled image as float32 [H,W,C] sRGB 0..1 (grey -> 3 channels, alpha dropped)."""
    from skimage import io

    a = io.imread(str(data_dir() / name))
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    else:
        a = a.astype(np.float32)
        a = a / max(float(a.max()), 1e-6)
    if a.ndim == 2:
        a = np.stack([a] * 3, -1)
    return a[..., :3]


def _square(img: torch.Tensor, size: int) -> torch.Tensor:
    """[3,H,W] -> [3,size,size]: centre crop to a square, antialiased resize."""
    _, h, w = img.shape
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    crop = img[:, y0:y0 + s, x0:x0 + s][None]
    return F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]


@functools.lru_cache(maxsize=8)
def _bank_cpu(names: tuple[str, ...], size: int) -> torch.Tensor:
    present = available(names)
    if not present:
        raise PhotoError(f"none of {list(names)} in scikit-image's bundled data ({data_dir()})")
    if len(present) < len(names):
        # Another scikit-image version may ship fewer sample images: train with what is there, say so.
        warnings.warn(f"scikit-image's bundled data lacks {sorted(set(names) - set(present))}; using {present}")
    imgs = [_square(torch.from_numpy(_read(n)).permute(2, 0, 1).contiguous(), size) for n in present]
    return torch.stack(imgs).clamp(0, 1)


_DEVICE_BANKS: dict[tuple, torch.Tensor] = {}


def bank(names: tuple[str, ...], device, size: int = BANK_SIZE) -> torch.Tensor:
    """[N,3,size,size] sRGB photos on `device` (loaded once per process and device)."""
    key = (names, size, str(torch.device(device)))
    if key not in _DEVICE_BANKS:
        _DEVICE_BANKS[key] = _bank_cpu(names, size).to(device)
    return _DEVICE_BANKS[key]


def linear_bank(names: tuple[str, ...], device, screen: str, size: int = BANK_SIZE) -> torch.Tensor:
    """The bank in linear light with the screen's hue band desaturated (common.suppress_screen_hue)."""
    from ..preprocess import srgb_to_linear
    from .common import suppress_screen_hue

    key = (names, size, str(torch.device(device)), "linear", screen)
    if key not in _DEVICE_BANKS:
        lin = srgb_to_linear(_bank_cpu(names, size))
        _DEVICE_BANKS[key] = suppress_screen_hue(lin, screen).clamp(0, 1).to(device)
    return _DEVICE_BANKS[key]


def greyness(names: tuple[str, ...], device, size: int = BANK_SIZE) -> torch.Tensor:
    """[N] 1.0 for the grey photographs of a bank (they get tinted), else 0.0."""
    key = (names, size, str(torch.device(device)), "grey")
    if key not in _DEVICE_BANKS:
        _DEVICE_BANKS[key] = (_bank_cpu(names, size).std(1).mean((1, 2)) < 0.02).float().to(device)
    return _DEVICE_BANKS[key]


def silhouettes(device, size: int = BANK_SIZE) -> torch.Tensor:
    """[N,1,size,size] coverage (1 = figure) of the held-out silhouettes, letterboxed into a square."""
    key = (HOLDOUT_SILHOUETTES, size, str(torch.device(device)), "mask")
    if key not in _DEVICE_BANKS:
        masks = []
        for n in available(HOLDOUT_SILHOUETTES):
            a = torch.from_numpy(_read(n)).mean(-1)  # dark figure on light ground
            m = (1.0 - a).clamp(0, 1)
            h, w = m.shape
            s = max(h, w)
            pad = torch.zeros(s, s)
            pad[(s - h) // 2:(s - h) // 2 + h, (s - w) // 2:(s - w) // 2 + w] = m
            masks.append(F.interpolate(pad[None, None], size=(size, size), mode="bilinear", antialias=True,
                                       align_corners=False)[0])
        if not masks:
            raise PhotoError(f"none of {HOLDOUT_SILHOUETTES} in {data_dir()}")
        _DEVICE_BANKS[key] = torch.stack(masks).clamp(0, 1).to(device)
    return _DEVICE_BANKS[key]
