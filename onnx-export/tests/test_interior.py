"""Interior-hole metric (issue 23) on small arrays with answers worked out independently."""

import math

import numpy as np
import pytest

from corridorkey_export import metrics


def test_square_interior_and_a_hole():
    gt = np.zeros((100, 100))
    gt[20:80, 20:80] = 1.0  # opaque square, rows/cols 20..79
    # Distance of (r, c) to the nearest background pixel is min(r-19, 80-r, c-19, 80-c): >= 8 for 27..72.
    assert metrics.interior_mask(gt).sum() == 46 * 46
    pred = gt.copy()
    pred[48:53, 48:53] = 0.5  # a 5x5 grey blotch in the middle
    pred[20:27, 20:80] = 0.0  # damage within 8 px of the edge does not count
    c = metrics.interior_counts(pred, gt)
    assert c == {"interior": 2116, "holes": 25, "alpha_sum": pytest.approx(2116 - 25 * 0.5)}
    pooled = metrics.pool_interior([c, metrics.interior_counts(gt, gt)])
    assert pooled["interior"] == 2 * 2116
    assert pooled["holes"] == pytest.approx(25 / (2 * 2116))
    assert pooled["mean"] == pytest.approx(1 - 12.5 / (2 * 2116))


def test_disk_with_a_hole_by_brute_force():
    h = w = 48
    y, x = np.mgrid[0:h, 0:w]
    gt = (((x - 23.5) ** 2 + (y - 23.5) ** 2) <= 18.0 ** 2).astype(float)
    gt[gt == 0] = 0.0
    # The truth's own hole (a ring, partial alpha): its surroundings are not interior either.
    gt[22:26, 22:26] = 0.3
    bg = np.argwhere(gt < metrics.OPAQUE)
    expect = np.zeros_like(gt, dtype=bool)
    for r, c in np.argwhere(gt >= metrics.OPAQUE):
        d = math.sqrt(float(((bg - [r, c]) ** 2).sum(1).min()))
        expect[r, c] = d >= 8.0
    assert np.array_equal(metrics.interior_mask(gt), expect)
    assert expect.sum() > 0
    pred = np.clip(gt, 0, 1).copy()
    pred[expect] = 0.97  # just below the threshold everywhere inside
    c = metrics.interior_counts(pred, gt)
    assert c["holes"] == int(expect.sum()) and c["alpha_sum"] == pytest.approx(0.97 * expect.sum())
    pred[expect] = 0.98  # at the threshold: not a hole
    assert metrics.interior_counts(pred, gt)["holes"] == 0


def test_no_interior_pools_to_nan_and_full_frame_counts():
    empty = metrics.interior_counts(np.zeros((20, 20)), np.zeros((20, 20)))
    assert empty == {"interior": 0, "holes": 0, "alpha_sum": 0.0}
    assert math.isnan(metrics.pool_interior([empty])["holes"])
    # A 14-row bar: no pixel is 8 px from both of its edges.
    gt = np.zeros((40, 40))
    gt[10:24, :] = 1.0
    assert metrics.interior_mask(gt).sum() == 0
    # An all-opaque frame: the frame border is not an edge.
    assert metrics.interior_mask(np.ones((12, 12))).sum() == 144


# ---- the solid held-out family, the training focus and the training side of issue 23 ----

import torch  # noqa: E402

from corridorkey_export.synth import solid  # noqa: E402
from corridorkey_export.synth.common import Rng  # noqa: E402
from corridorkey_export.synth.hint import hsv_opencv_8bit, key_params, screen_mask  # noqa: E402
from corridorkey_export.synth.plates import make_plates  # noqa: E402


def test_solid_family_is_deterministic_and_has_large_opaque_interiors():
    def draw(seed):
        return make_plates(2, 96, 128, torch.Generator().manual_seed(seed), "cpu", screen="blue", family="solid")

    a, b, c = draw(4), draw(4), draw(5)
    assert torch.equal(a.plate, b.plate) and torch.equal(a.alpha, b.alpha) and torch.equal(a.fg, b.fg)
    assert not torch.equal(a.alpha, c.alpha)
    for t in (a.plate, a.srgb, a.alpha, a.fg, a.bg):
        assert torch.isfinite(t).all() and t.min() >= 0 and t.max() <= 1
    inner = sum(int(metrics.interior_mask(a.alpha[i, 0], inset=4).sum()) for i in range(2))
    assert inner > 0.1 * 2 * 96 * 128


@pytest.mark.parametrize("screen", ["green", "blue"])
def test_hard_colours_are_near_the_screen_but_not_keyed_as_it(screen):
    lin = solid.hard_colours(Rng(torch.Generator().manual_seed(0), "cpu"), 400, screen)
    from corridorkey_export.preprocess import linear_to_srgb

    srgb = linear_to_srgb(lin).view(400, 3, 1, 1)
    hsv = hsv_opencv_8bit(srgb).view(400, 3)
    assert float(screen_mask(srgb, key_params(screen)).sum()) == 0  # none is the screen by the key's rule
    lo, hi = key_params(screen).hue_min, key_params(screen).hue_max
    near = ((hsv[:, 0] >= lo - 20) & (hsv[:, 0] <= hi + 20)) | (hsv[:, 1] < 40)
    assert float(near.float().mean()) > 0.5  # most are close to it: desaturated or just outside its hues


def test_training_solid_focus_leaves_the_default_stream_alone():
    from corridorkey_export.train.data import make_batch

    plain = make_batch(2, 64, 3, 0, "cpu")
    again = make_batch(2, 64, 3, 0, "cpu", focus="solid+transparent")  # step 0 -> "solid"
    assert not torch.equal(plain.alpha, again.alpha)
    assert torch.equal(make_batch(2, 64, 3, 1, "cpu", focus="transparent").x,
                       make_batch(2, 64, 3, 1, "cpu", focus="solid+transparent").x)
    assert torch.equal(plain.x, make_batch(2, 64, 3, 0, "cpu", exact_fraction=0.0).x)


def test_near_exact_training_hints_sit_inside_the_truth():
    from corridorkey_export.synth.perturb import training_hints

    p = make_plates(4, 64, 64, torch.Generator().manual_seed(1), "cpu", family="train", focus="solid")
    h = training_hints(p, torch.Generator().manual_seed(2), exact_fraction=1.0)
    assert h.shape == p.alpha.shape
    # Eroded (<= 3 px) then blurred by <= 5 px: never far above the truth, and close to it overall.
    assert float((h - p.alpha).clamp(min=0).mean()) < 0.02
    assert float((h - p.alpha).abs().mean()) < 0.1


def test_interior_loss_charges_only_holes_inside_opaque_subjects():
    from corridorkey_export.train.losses import interior, losses

    gt = torch.zeros(1, 1, 32, 32)
    gt[..., 4:28, 4:28] = 1.0
    inner = interior(gt, inset=4)
    assert int(inner.sum()) == 16 * 16  # rows/cols 8..23
    out = {"alpha": gt.clamp(1e-6, 1 - 1e-6), "fg": torch.zeros(1, 3, 32, 32), "alpha_logits": torch.zeros(1, 1, 8, 8)}
    z = torch.zeros(1, 3, 32, 32)
    base = losses(out, gt, z, z, interior_weight=3.0)
    assert float(base["interior"]) < 1e-5
    holed = {**out, "alpha": out["alpha"].clone()}
    holed["alpha"][..., 14:18, 14:18] = 0.5  # a 4x4 grey blotch in the middle
    t = losses(holed, gt, z, z, interior_weight=3.0)
    assert float(t["interior"]) == pytest.approx(16 * math.log(2) / (256 + 1), rel=1e-4)
    edge = {**out, "alpha": out["alpha"].clone()}
    edge["alpha"][..., 4:6, 4:28] = 0.5  # wrong only near the edge: not the interior's business
    assert float(losses(edge, gt, z, z, interior_weight=3.0)["interior"]) < 1e-5
