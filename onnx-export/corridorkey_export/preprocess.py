"""Upstream's pre-processing (GREENFORMER.md 'Pre-processing'), used to make golden inputs."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .model import IMAGENET_MEAN, IMAGENET_STD


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(min=0.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.pow(1.0 / 2.4) - 0.055)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(min=0.0)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055).pow(2.4))


def resize_aa(x: torch.Tensor, size: int) -> torch.Tensor:
    """torchvision's default resize: bilinear, antialias on, half-pixel centres."""
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def prepare(plate_rgb_linear: np.ndarray, hint: np.ndarray, size: int) -> np.ndarray:
    """[H,W,3] linear RGB + [H,W] hint -> [1,4,S,S] ImageNet-normalised sRGB + raw hint (float32)."""
    rgb = torch.from_numpy(np.ascontiguousarray(plate_rgb_linear, dtype=np.float32)).permute(2, 0, 1)[None]
    h = torch.from_numpy(np.ascontiguousarray(hint, dtype=np.float32))[None, None]
    rgb = linear_to_srgb(resize_aa(rgb, size))
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    rgb = (rgb - mean) / std
    return torch.cat([rgb, resize_aa(h, size)], 1).numpy().astype(np.float32)
