import numpy as np
import pytest

from corridorkey_export import metrics


def _disc(h=40, w=50, r=10.0, soft=2.0):
    y, x = np.mgrid[0:h, 0:w] + 0.5
    d = np.sqrt((x - w / 2) ** 2 + (y - h / 2) ** 2)
    return np.clip((r - d) / soft + 0.5, 0, 1)


def test_perfect_matte_scores_zero_everywhere():
    gt = _disc()
    assert metrics.all_metrics(gt, gt) == {"sad": 0.0, "mse": 0.0, "grad": 0.0, "conn": 0.0}


def test_sad_and_mse_units():
    gt = np.ones((10, 10))
    assert metrics.sad(np.zeros((10, 10)), gt) == pytest.approx(0.1)  # sum / 1000
    assert metrics.mse(np.full((10, 10), 0.5), gt) == pytest.approx(0.25)


def test_gradient_kernel_is_the_reference_gaussgradient():
    hx, hy = metrics.gauss_gradient_kernels(1.4)
    assert hx.shape == (9, 9)  # half = ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) 1.4 0.01))) = 4
    assert np.sum(hx * hx) == pytest.approx(1.0)
    assert np.allclose(hx, -hx[:, ::-1]) and np.allclose(hy, hx.T)
    gt = _disc()
    # An offset matte has the same gradients: SAD sees it, the gradient error does not.
    assert metrics.gradient_error(gt * 0.5 + 0.2, gt * 0.5) == pytest.approx(0.0, abs=1e-12)
    # A blurred edge has other gradients.
    assert metrics.gradient_error(_disc(soft=6.0), gt) > 1e-4


def test_connectivity_charges_a_detached_blob():
    gt = _disc()
    pred = gt.copy()
    pred[2:5, 2:5] = 0.9  # a 3x3 island far from the subject
    # The island never joins the largest (gt & pred) component: l = 0, d = 0.9 >= 0.15, phi = 0.1 vs 1.
    assert metrics.connectivity_error(pred, gt) == pytest.approx(9 * 0.9 / 1000)
    # An island attached to the subject at full strength is connected at every threshold.
    attached = gt.copy()
    attached[18:22, 28:36] = np.maximum(attached[18:22, 28:36], 1.0)
    assert metrics.connectivity_error(attached, np.maximum(gt, attached)) == pytest.approx(0.0)


def test_metrics_take_torch_tensors():
    import torch

    gt = torch.from_numpy(_disc()).float()[None, None]
    assert metrics.sad(gt * 0, gt) == pytest.approx(float(gt.sum()) / 1000, rel=1e-6)
