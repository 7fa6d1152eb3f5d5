"""The standard alpha-matting error measures (Rhemann et al., CVPR 2009; alphamatting.com's evaluation).

Mattes are float arrays in 0..1 of one plate. There is no trimap for our plates, so every pixel counts
(the hint is scored as an alpha too, and its errors far from the edges are real errors). As in the
matting literature's tables, SAD, gradient and connectivity errors are divided by 1000; MSE is the
plain mean.

* SAD: sum |alpha - gt|.
* MSE: mean (alpha - gt)^2.
* Gradient: sum (|grad alpha| - |grad gt|)^2, gradients by first-order Gaussian derivative filters
  with sigma 1.4 (the reference code's `gaussgradient`: a (2*half+1)^2 kernel, half =
  ceil(sigma * sqrt(-2 ln(sqrt(2 pi) sigma 0.01))), normalised to unit L2 norm, replicated borders).
* Connectivity: for thresholds t = 0.1 .. 1.0 (step 0.1), the largest 4-connected component of
  (alpha >= t) & (gt >= t) is the source region; each pixel's l is the last threshold before it left
  that region (1 if never); phi = 1 - d * (d >= 0.15) with d = alpha - l; error = sum |phi - phi_gt|.

Interior holes (issue 23; not a literature measure): SAD over the whole frame hides a few large grey
blotches inside an opaque subject, the one error a compositor cannot fix without a roto. The interior
is the pixels opaque in truth (gt >= OPAQUE) and at least INTERIOR_PX px (Euclidean distance, at plate
resolution) from the nearest pixel that is not; a hole is an interior pixel with alpha < HOLE_BELOW.
`interior_counts` gives per-plate sums so a set can be pooled (holes / interior over all its plates).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def _np(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(a.shape[-2], a.shape[-1])


def sad(pred, gt) -> float:
    return float(np.abs(_np(pred) - _np(gt)).sum()) / 1000.0


def mse(pred, gt) -> float:
    return float(((_np(pred) - _np(gt)) ** 2).mean())


def gauss_gradient_kernels(sigma: float = 1.4, epsilon: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    half = int(math.ceil(sigma * math.sqrt(-2.0 * math.log(math.sqrt(2 * math.pi) * sigma * epsilon))))
    t = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-t * t / (2 * sigma * sigma)) / (sigma * math.sqrt(2 * math.pi))
    dg = -t * g / (sigma * sigma)
    hx = g[:, None] * dg[None, :]  # rows: Gaussian, columns: derivative -> d/dx
    hx = hx / math.sqrt(float((hx * hx).sum()))
    return hx, hx.T


def gradient_magnitude(a: np.ndarray, sigma: float = 1.4) -> np.ndarray:
    hx, hy = gauss_gradient_kernels(sigma)
    gx = ndimage.convolve(a, hx, mode="nearest")
    gy = ndimage.convolve(a, hy, mode="nearest")
    return np.sqrt(gx * gx + gy * gy)


def gradient_error(pred, gt, sigma: float = 1.4) -> float:
    p, g = _np(pred), _np(gt)
    return float(((gradient_magnitude(p, sigma) - gradient_magnitude(g, sigma)) ** 2).sum()) / 1000.0


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)  # default structure: 4-connectivity
    if n == 0:
        return np.zeros_like(mask, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(sizes.argmax())


def connectivity_error(pred, gt, step: float = 0.1) -> float:
    p, g = _np(pred), _np(gt)
    steps = np.round(np.arange(0.0, 1.0 + step / 2, step), 10)
    level = np.full(p.shape, -1.0)
    for i in range(1, len(steps)):
        omega = _largest_component((p >= steps[i]) & (g >= steps[i]))
        level[(level == -1) & ~omega] = steps[i - 1]
    level[level == -1] = 1.0
    dp, dg = p - level, g - level
    phi_p = 1.0 - dp * (dp >= 0.15)
    phi_g = 1.0 - dg * (dg >= 0.15)
    return float(np.abs(phi_p - phi_g).sum()) / 1000.0


OPAQUE = 0.999
INTERIOR_PX = 8.0
HOLE_BELOW = 0.98


def interior_mask(gt, inset: float = INTERIOR_PX) -> np.ndarray:
    """Pixels opaque in truth and at least `inset` px from the nearest non-opaque pixel. The frame's
    border is not an edge: a subject cut by the frame goes on outside it."""
    opaque = _np(gt) >= OPAQUE
    if not opaque.any():
        return opaque
    if opaque.all():
        return opaque
    return ndimage.distance_transform_edt(opaque) >= inset


def interior_counts(pred, gt, inset: float = INTERIOR_PX, below: float = HOLE_BELOW) -> dict[str, float]:
    """{'interior': pixels in the interior, 'holes': of those with alpha < below, 'alpha_sum': their alpha sum}."""
    m = interior_mask(gt, inset)
    a = _np(pred)[m]
    return {"interior": int(m.sum()), "holes": int((a < below).sum()), "alpha_sum": float(a.sum())}


def pool_interior(counts: list[dict]) -> dict[str, float]:
    """A set's interior numbers from its plates' counts: hole fraction and mean alpha, pooled
    (NaN when no plate has an interior)."""
    n = sum(c["interior"] for c in counts)
    if n == 0:
        return {"interior": 0, "holes": float("nan"), "mean": float("nan")}
    return {"interior": n, "holes": sum(c["holes"] for c in counts) / n, "mean": sum(c["alpha_sum"] for c in counts) / n}


def all_metrics(pred, gt) -> dict[str, float]:
    return {"sad": sad(pred, gt), "mse": mse(pred, gt), "grad": gradient_error(pred, gt),
            "conn": connectivity_error(pred, gt)}
