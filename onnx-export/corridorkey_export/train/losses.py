"""Matting losses: alpha L1 + alpha-gradient L1, FG L1 where alpha > 0, composite L1, coarse-head L1,
(weighted by the recipe's `unknown_weight`) alpha L1 inside the semi-transparent band, and (weighted by
`interior_weight`, issue 23) -log(alpha) inside opaque subjects away from their edges.

The interior term is a log loss, not L1: L1 on a sigmoid output has a gradient of a(1-a) in logit
space, so a grey blotch at 0.9 in a mostly-right plate barely moves the weights, and the frame-wide
mean divides it further by the plate's size. -log(a) pulls with (1-a) per pixel, averaged over the
interior only, so a few large holes cost what they cost a compositor."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..preprocess import srgb_to_linear

WEIGHTS = {"alpha": 1.0, "grad": 1.0, "fg": 0.5, "comp": 0.5, "coarse": 0.5}


def _grad(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return a[..., :, 1:] - a[..., :, :-1], a[..., 1:, :] - a[..., :-1, :]


def gradient_l1(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    px, py = _grad(pred)
    gx, gy = _grad(gt)
    return (px - gx).abs().mean() + (py - gy).abs().mean()


def unknown_band(alpha: torch.Tensor, grow: int = 3) -> torch.Tensor:
    """1 where the ground truth is partial (hair, smoke, blur) or within `grow` px of it."""
    partial = ((alpha > 0.01) & (alpha < 0.99)).float()
    return F.max_pool2d(partial, 2 * grow + 1, stride=1, padding=grow)


def interior(alpha: torch.Tensor, inset: int = 4) -> torch.Tensor:
    """1 where the ground truth is opaque and at least `inset` px (square distance) from any pixel that is not."""
    opaque = (alpha >= 0.999).float()
    return -F.max_pool2d(-opaque, 2 * inset + 1, stride=1, padding=inset)


def losses(out: dict[str, torch.Tensor], alpha: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor,
           unknown_weight: float = 0.0, interior_weight: float = 0.0) -> dict[str, torch.Tensor]:
    """All terms in fp32. `out` is GreenFormer's compose() dict (alpha, fg in (0,1); coarse logits)."""
    a = out["alpha"].float()
    f = out["fg"].float()
    s = alpha.shape[-1]
    terms = {"alpha": (a - alpha).abs().mean(), "grad": gradient_l1(a, alpha)}
    mask = (alpha > 0).float()
    terms["fg"] = ((f - fg).abs() * mask).sum() / (mask.sum() * 3 + 1.0)
    # Composite over the clean screen in linear light: ties alpha and FG together where alpha is partial.
    lin_bg = srgb_to_linear(bg)
    comp_pred = a * srgb_to_linear(f) + (1 - a) * lin_bg
    comp_gt = alpha * srgb_to_linear(fg) + (1 - alpha) * lin_bg
    terms["comp"] = (comp_pred - comp_gt).abs().mean()
    # Deep supervision of the coarse head (the refiner starts near zero, so this drives the backbone early).
    coarse = torch.sigmoid(F.interpolate(out["alpha_logits"].float(), size=(s, s), mode="bilinear", align_corners=False))
    terms["coarse"] = (coarse - alpha).abs().mean()
    band = unknown_band(alpha)
    terms["unknown"] = ((a - alpha).abs() * band).sum() / (band.sum() + 1.0)
    inner = interior(alpha)
    terms["interior"] = (-torch.log(a.clamp(min=1e-6)) * inner).sum() / (inner.sum() + 1.0)
    weights = dict(WEIGHTS, unknown=unknown_weight, interior=interior_weight)
    terms["total"] = sum(weights[k] * v for k, v in terms.items())
    return terms
