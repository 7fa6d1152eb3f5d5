import math
from pathlib import Path

import pytest
import torch

from corridorkey_export.synth.hint import KeyParams, chroma_key, ellipse_kernel, gaussian_blur, hsv_opencv_8bit
from corridorkey_export.synth.perturb import training_hints
from corridorkey_export.synth.plates import make_plates


def _hsv(r, g, b):
    return tuple(hsv_opencv_8bit(torch.tensor([r, g, b]).view(1, 3, 1, 1)).view(3).tolist())


def test_hsv_matches_opencv_8bit():
    assert _hsv(0.0, 1.0, 0.0) == (60.0, 255.0, 255.0)
    assert _hsv(1.0, 0.0, 0.0) == (0.0, 255.0, 255.0)
    assert _hsv(0.0, 0.0, 1.0) == (120.0, 255.0, 255.0)
    assert _hsv(0.5, 0.5, 0.5) == (0.0, 0.0, 128.0)
    # cv2.cvtColor(uint8 [[[200, 100, 150]]], RGB2HSV) == (165, 127, 200)
    assert _hsv(200 / 255, 100 / 255, 150 / 255) == (165.0, 127.0, 200.0)


def test_ellipse_kernel_7_is_opencvs():
    rows = ["0001000", "0111110", "1111111", "1111111", "1111111", "0111110", "0001000"]
    expected = torch.tensor([[int(c) for c in row] for row in rows], dtype=torch.float32)
    assert torch.equal(ellipse_kernel(7), expected)


def test_chroma_key_matches_plugin_semantics():
    # Same scene as plugin/src/engine/hint.rs's test: subject columns 20..43 on a green screen.
    w, h = 64, 32
    img = torch.tensor([0.1, 0.7, 0.15]).view(1, 3, 1, 1).repeat(1, 1, h, w)
    img[:, :, :, 20:44] = torch.tensor([0.6, 0.4, 0.3]).view(1, 3, 1, 1)
    raw = chroma_key(img, KeyParams(erode_px=0, blur_px=0))[0, 0]
    assert raw[10, 5] == 0 and raw[10, 30] == 1
    eroded = chroma_key(img, KeyParams(erode_px=7, blur_px=0))[0, 0]
    assert eroded[10, 22] == 0 and eroded[10, 23] == 1 and eroded[10, 40] == 1 and eroded[10, 41] == 0
    # The image border never erodes (OpenCV's default border value for erode).
    assert eroded[0, 30] == 1
    blurred = chroma_key(img)[0, 0]
    assert 0 < blurred[10, 23] < 1 and blurred[10, 2] < 1e-6 and blurred[10, 32] > 0.95


def test_gaussian_blur_keeps_mass_and_constants():
    x = torch.zeros(1, 1, 40, 40)
    x[0, 0, 20, 20] = 1
    y = gaussian_blur(x, 21)
    assert abs(float(y.sum()) - 1.0) < 1e-5
    assert torch.allclose(gaussian_blur(torch.full((1, 1, 8, 9), 0.3), 21), torch.full((1, 1, 8, 9), 0.3), atol=1e-6)


def _plates(seed, b=3, h=48, w=64):
    return make_plates(b, h, w, torch.Generator().manual_seed(seed), "cpu")


def test_plates_are_deterministic_by_seed_and_well_formed():
    a, b, c = _plates(7), _plates(7), _plates(8)
    assert torch.equal(a.plate, b.plate) and torch.equal(a.alpha, b.alpha) and torch.equal(a.fg, b.fg)
    assert not torch.equal(a.plate, c.plate)
    for t in (a.plate, a.srgb, a.alpha, a.fg, a.bg):
        assert torch.isfinite(t).all() and t.min() >= 0 and t.max() <= 1
    assert a.alpha.shape == (3, 1, 48, 64) and a.fg.shape == (3, 3, 48, 64)
    # FG ground truth only where there is foreground.
    assert (a.fg[(a.alpha == 0).expand_as(a.fg)] == 0).all()


def test_plates_have_partial_alpha_and_a_green_background():
    p = _plates(1, b=8, h=96, w=96)
    partial = ((p.alpha > 0.02) & (p.alpha < 0.98)).float().mean()
    assert partial > 0.005
    bg = p.alpha == 0
    g = p.srgb[:, 1:2][bg].mean()
    r = p.srgb[:, 0:1][bg].mean()
    assert g > r + 0.15
    # Where alpha is 0 the plate is the screen plus sensor noise (and 8-bit rounding).
    diff = (p.srgb - p.bg).abs()[bg.expand_as(p.srgb)]
    assert diff.mean() < 0.03


def test_training_hints_are_bounded_deterministic_and_informative():
    p = _plates(3, b=4, h=64, w=64)
    h1 = training_hints(p, torch.Generator().manual_seed(1))
    h2 = training_hints(p, torch.Generator().manual_seed(1))
    assert torch.equal(h1, h2) and h1.shape == (4, 1, 64, 64)
    assert h1.min() >= 0 and h1.max() <= 1
    # A hint is a coarse alpha: better than chance against the ground truth.
    assert (h1 - p.alpha).abs().mean() < (0.5 - p.alpha).abs().mean()


def test_blue_key_rule_and_numbers():
    from corridorkey_export.synth.hint import key_params, screen_mask

    g, b = key_params("green"), key_params("blue")
    assert (g.hue_min, g.hue_max, g.sat_min, g.val_min, g.erode_px, g.blur_px) == (35, 85, 40, 30, 7, 21)
    assert (b.hue_min, b.hue_max, b.sat_min, b.val_min, b.erode_px, b.blur_px) == (90, 130, 40, 30, 7, 21)
    px = {"blue screen": (20, 60, 180), "green screen": (25, 180, 40), "skin": (200, 150, 120), "violet": (120, 40, 200)}
    img = torch.tensor([v for v in px.values()], dtype=torch.float32).T.reshape(1, 3, 1, 4) / 255
    assert screen_mask(img, b)[0, 0, 0].tolist() == [1, 0, 0, 0]
    assert screen_mask(img, g)[0, 0, 0].tolist() == [0, 1, 0, 0]
    with pytest.raises(ValueError):
        key_params("red")


def test_blue_plates_are_keyed_by_the_blue_rule():
    from corridorkey_export.synth.hint import key_params

    p = make_plates(4, 64, 96, torch.Generator().manual_seed(5), "cpu", screen="blue")
    bg = (p.alpha == 0)
    assert p.srgb[:, 2:3][bg].mean() > p.srgb[:, 1:2][bg].mean() + 0.1
    # Most of the clean screen is background to the blue key and not to the green one.
    blue = chroma_key(p.srgb, KeyParams(**{**key_params("blue").__dict__, "erode_px": 0, "blur_px": 0}))
    green = chroma_key(p.srgb, KeyParams(erode_px=0, blur_px=0))
    assert (blue[bg] < 0.5).float().mean() > 0.7 and (green[bg] < 0.5).float().mean() < 0.1


def test_holdout_family_is_another_generator():
    a = make_plates(3, 48, 64, torch.Generator().manual_seed(2), "cpu", family="train")
    b = make_plates(3, 48, 64, torch.Generator().manual_seed(2), "cpu", family="holdout")
    assert not torch.equal(a.alpha, b.alpha)
    for p in (a, b):
        assert torch.isfinite(p.plate).all() and p.alpha.min() >= 0 and p.alpha.max() <= 1
    with pytest.raises(ValueError):
        make_plates(1, 32, 32, torch.Generator(), "cpu", family="other")


def test_photos_come_from_the_installed_package_only():
    from corridorkey_export.synth import photos

    folder = photos.data_dir()
    import skimage

    assert folder.parent == Path(skimage.__file__).parent
    assert not set(photos.TRAIN_PHOTOS) & set(photos.HOLDOUT_PHOTOS)
    # The sets are what the wheel ships (nothing fetched): every name is a file in the package.
    assert photos.available(photos.TRAIN_PHOTOS) == list(photos.TRAIN_PHOTOS)
    assert photos.available(photos.HOLDOUT_PHOTOS + photos.HOLDOUT_SILHOUETTES) == list(
        photos.HOLDOUT_PHOTOS + photos.HOLDOUT_SILHOUETTES)
    bank = photos.bank(photos.HOLDOUT_PHOTOS, "cpu", size=64)
    assert bank.shape == (len(photos.HOLDOUT_PHOTOS), 3, 64, 64) and 0 <= bank.min() and bank.max() <= 1
    lin = photos.linear_bank(photos.TRAIN_PHOTOS, "cpu", "green", size=64)
    # Greens (grass, foliage) are desaturated on a green screen's plates.
    from corridorkey_export.synth.common import suppress_screen_hue

    grassy = torch.tensor([0.1, 0.5, 0.1]).view(1, 3, 1, 1)
    out = suppress_screen_hue(grassy, "green")
    assert float(out.max() - out.min()) < 1e-6 and lin.shape[1] == 3
    assert torch.allclose(suppress_screen_hue(grassy, "blue"), grassy)


def test_camera_blocking_quantises_8x8_blocks():
    from corridorkey_export.synth.camera import blocking
    from corridorkey_export.synth.common import Rng

    img = torch.rand(2, 3, 32, 40, generator=torch.Generator().manual_seed(0))
    out = blocking(Rng(torch.Generator().manual_seed(1), "cpu"), img, prob=1.0)
    assert out.shape == img.shape and 0 <= out.min() and out.max() <= 1
    err = (out - img).abs().mean()
    assert 0.01 < err < 0.3  # lossy, but the image survives


def test_hair_splat_coverage_of_a_thin_strand():
    from corridorkey_export.synth.hair import splat

    # A horizontal strand 0.5 px wide along row 10 (pixel centres at y = 10.5), 20 px long.
    xs = torch.arange(5, 25, 0.25).view(1, 1, -1) + 0.125
    ys = torch.full_like(xs, 10.5)
    area = torch.full_like(xs, 0.5 * 0.25)
    prem, alpha = splat(xs, ys, area, torch.tensor([[[0.2, 0.4, 0.6]]]), 20, 30)
    row = alpha[0, 0, 10, 8:22]
    assert torch.allclose(row, torch.full_like(row, 1 - math.exp(-0.5)), atol=1e-4)
    assert alpha[0, 0, 9].max() < 1e-6 and alpha[0, 0, 11].max() < 1e-6
    assert torch.allclose(prem[0, :, 10, 12] / alpha[0, 0, 10, 12], torch.tensor([0.2, 0.4, 0.6]), atol=1e-5)
