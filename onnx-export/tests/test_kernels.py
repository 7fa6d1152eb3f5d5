"""The device-side refine kernels: current on disk, and numerically what the engine's CPU path does."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from corridorkey_export import kernels

KERNEL_DIR = Path(__file__).resolve().parents[2] / "plugin" / "kernels"


def _session(name: str) -> ort.InferenceSession:
    return ort.InferenceSession(kernels.all_kernels()[name].SerializeToString(), providers=["CPUExecutionProvider"])


def test_committed_kernels_are_current():
    for name, model in kernels.all_kernels().items():
        path = KERNEL_DIR / f"{name}.onnx"
        assert path.is_file(), f"{path} missing: run `python -m corridorkey_export kernels`"
        assert path.read_bytes() == model.SerializeToString(deterministic=True), f"{path} is stale"


def test_refine_prep_matches_torch_upsample():
    rng = np.random.default_rng(0)
    s, q = 64, 16
    image = rng.normal(size=(1, 4, s, s)).astype(np.float32)
    a = rng.normal(size=(1, 1, q, q)).astype(np.float32) * 4
    f = rng.normal(size=(1, 3, q, q)).astype(np.float32) * 4
    up, up_alpha, rin, acc = _session("refine_prep").run(None, {"image": image, "alpha_logits": a, "fg_logits": f})
    want = F.interpolate(torch.from_numpy(np.concatenate([a, f], 1)), size=(s, s), mode="bilinear",
                         align_corners=False).numpy()
    np.testing.assert_allclose(up, want, atol=1e-5)
    np.testing.assert_array_equal(up_alpha, up[:, :1])
    np.testing.assert_array_equal(rin[:, :3], image[:, :3])
    np.testing.assert_allclose(rin[:, 3:], 1 / (1 + np.exp(-up)), atol=1e-6)
    assert acc.shape == up.shape and not acc.any()


@pytest.mark.parametrize("batch", [1, 3])
def test_crop_and_blend_follow_the_cpu_path(batch):
    rng = np.random.default_rng(batch)
    s, t = 48, 16
    rin = rng.normal(size=(1, 7, s, s)).astype(np.float32)
    origins = [(0, 0), (32, 8), (16, 32)][:batch]
    boxes = np.array([[y, x, y + t, x + t] for y, x in origins], np.int64)
    (tiles,) = _session(f"tile_crop_b{batch}").run(None, {"rin": rin, "boxes": boxes})
    for i, (y, x) in enumerate(origins):
        np.testing.assert_array_equal(tiles[i], rin[0, :, y:y + t, x:x + t])

    acc = rng.normal(size=(1, 4, s, s)).astype(np.float32)
    delta = rng.normal(size=(batch, 4, t, t)).astype(np.float32)
    wy = rng.uniform(size=(batch, t)).astype(np.float32)
    wx = rng.uniform(size=(batch, t)).astype(np.float32)
    pads = np.array([[0, 0, y, x, 0, 0, s - y - t, s - x - t] for y, x in origins], np.int64)
    strength = np.array([0.75], np.float32)
    (got,) = _session(f"tile_blend_b{batch}").run(
        None, {"acc": acc, "delta": delta, "pads": pads, "wy": wy, "wx": wx, "strength": strength})
    want = acc.copy()
    for i, (y, x) in enumerate(origins):
        w = wx[i][None, :] * wy[i][:, None]
        want[0, :, y:y + t, x:x + t] += (delta[i] * strength[0]) * w
    np.testing.assert_array_equal(got, want)


def test_final_and_sigmoid():
    rng = np.random.default_rng(3)
    up = rng.normal(size=(1, 4, 8, 8)).astype(np.float32) * 5
    acc = rng.normal(size=(1, 4, 8, 8)).astype(np.float32)
    wsum = rng.uniform(0.5, 2.0, size=(1, 1, 8, 8)).astype(np.float32)
    (out,) = _session("refine_final").run(None, {"up": up, "acc": acc, "wsum": wsum})
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-(up + acc / wsum))), atol=1e-6)
    (plain,) = _session("sigmoid").run(None, {"up": up})
    np.testing.assert_allclose(plain, 1 / (1 + np.exp(-up)), atol=1e-6)


def _srgb(x):
    x = np.maximum(x, 0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _lin(x):
    x = np.maximum(x, 0)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4))


@pytest.mark.parametrize("linear", [True, False])
def test_prepare_resamples_encodes_and_normalises(linear):
    rng = np.random.default_rng(4)
    h, w, s = 12, 20, 8
    plate = rng.uniform(-0.1, 1.5, size=(h, w, 4)).astype(np.float32)
    hint = rng.uniform(size=(h, w)).astype(np.float32)
    rh = rng.uniform(size=(w, s)).astype(np.float32) / w
    rv = rng.uniform(size=(s, h)).astype(np.float32) / h
    name = "prepare_linear" if linear else "prepare_srgb"
    (image,) = _session(name).run(None, {"plate": plate, "hint": hint, "rh": rh, "rv": rv})
    x = np.concatenate([plate[..., :3].transpose(2, 0, 1), hint[None]], 0)
    xs = np.einsum("sh,chw,wt->cst", rv, x, rh)
    rgb = _srgb(xs[:3]) if linear else xs[:3]
    mean = np.array(kernels.IMAGENET_MEAN).reshape(3, 1, 1)
    std = np.array(kernels.IMAGENET_STD).reshape(3, 1, 1)
    np.testing.assert_allclose(image[0, :3], (rgb - mean) / std, atol=1e-4)
    np.testing.assert_allclose(image[0, 3], xs[3], atol=1e-5)


@pytest.mark.parametrize("linear", [True, False])
def test_prepare_clamps_to_the_network_domain(linear):
    """Values fp16 cannot hold (1e10, 3e38) and hints far outside 0..1 come out inside the domain."""
    h, w, s = 6, 8, 4
    plate = np.full((h, w, 4), 0.3, np.float32)
    plate[1, 2, :3] = 1e10
    plate[4, 5, :3] = 3e38
    plate[0, 0, :3] = -3e38
    hint = np.full((h, w), 0.5, np.float32)
    hint[2, 3], hint[3, 6] = 1e6, -1e6
    rh = np.full((w, s), 1.0 / w, np.float32)
    rv = np.full((s, h), 1.0 / h, np.float32)
    name = "prepare_linear" if linear else "prepare_srgb"
    (image,) = _session(name).run(None, {"plate": plate, "hint": hint, "rh": rh, "rv": rv})
    assert np.isfinite(image).all()
    mean = np.array(kernels.IMAGENET_MEAN).reshape(3, 1, 1)
    std = np.array(kernels.IMAGENET_STD).reshape(3, 1, 1)
    enc = image[0, :3] * std + mean
    assert enc.max() <= 1 + kernels.HEADROOM + 1e-5 and enc.min() >= -kernels.HEADROOM - 1e-5
    assert 0.0 <= image[0, 3].min() and image[0, 3].max() <= 1.0
    # The roll-off itself: identity on 0..1, the tanh knees beyond (domain.rs clamp_colour).
    x = np.linspace(-3, 4, 29, dtype=np.float32)
    plate = np.zeros((1, x.size, 4), np.float32)
    plate[0, :, :3] = x[:, None]
    (image,) = _session("prepare_srgb").run(None, {
        "plate": plate, "hint": np.zeros((1, x.size), np.float32),
        "rh": np.eye(x.size, dtype=np.float32), "rv": np.ones((1, 1), np.float32)})
    got = image[0, 0, 0] * std[0, 0, 0] + mean[0, 0, 0]
    np.testing.assert_allclose(got, kernels.domain_colour(x), atol=1e-5)
    inside = (x >= 0) & (x <= 1)
    np.testing.assert_allclose(got[inside], x[inside], atol=1e-6)


@pytest.mark.parametrize("mattes", [False, True])
@pytest.mark.parametrize("params", [(0.0, 1.0, 1.0, 1.0), (0.2, 0.8, 0.5, 0.0), (0.5, 0.5, 0.0, 1.0)])
def test_finish_matches_the_cpu_formulas(mattes, params):
    rng = np.random.default_rng(5)
    s, h, w = 6, 9, 11
    refined = rng.uniform(size=(1, 4, s, s)).astype(np.float32)
    rv = rng.uniform(size=(h, s)).astype(np.float32) / s * 1.2
    rh = rng.uniform(size=(s, w)).astype(np.float32) / s * 1.2
    feeds = {"refined": refined, "rv": rv, "rh": rh, "params": np.array(params, np.float32)}
    garbage = rng.uniform(size=(h, w)).astype(np.float32)
    core = rng.uniform(size=(h, w)).astype(np.float32)
    if mattes:
        feeds |= {"garbage": garbage, "core": core}
    (rgba,) = _session("finish_mattes" if mattes else "finish").run(None, feeds)
    xs = np.einsum("hs,cst,tw->chw", rv, refined[0], rh)
    cb, cw, despill, pre = params
    a = np.clip(xs[0], 0, 1)
    if cw > cb:
        a = np.clip((a - cb) / (cw - cb), 0, 1)
    if mattes:
        a = a + (1 - a) * core
        a = a * (1 - garbage)
    r, g, b = xs[1:]
    spill = np.maximum(g - (r + b) * 0.5, 0)
    d = np.stack([r + spill * 0.5, g - spill, b + spill * 0.5])
    sd = min(max(despill, 0), 1)
    fg = _lin(xs[1:] * (1 - sd) + d * sd)
    if pre > 0.5:
        fg = fg * a
    np.testing.assert_allclose(rgba[..., 3], a, atol=1e-5)
    np.testing.assert_allclose(rgba[..., :3], fg.transpose(1, 2, 0), atol=1e-5)


def test_coarse_from_hint_is_the_logit_of_the_pooled_hint():
    rng = np.random.default_rng(5)
    s = 32
    image = rng.normal(size=(1, 4, s, s)).astype(np.float32)
    image[0, 3] = rng.uniform(size=(s, s)).astype(np.float32)
    image[0, 3, :8, :8] = 0.0
    image[0, 3, 8:16, :8] = 1.0
    (got,) = _session("coarse_from_hint").run(None, {"image": image})
    pooled = image[0, 3].reshape(s // 4, 4, s // 4, 4).mean(axis=(1, 3))
    p = np.clip(pooled, kernels.SIM_EPS, 1 - kernels.SIM_EPS)
    np.testing.assert_allclose(got[0, 0], np.log(p / (1 - p)), atol=1e-4)
    assert got.shape == (1, 1, s // 4, s // 4)
    assert (got[0, 0, :2, :2] < -9).all() and (got[0, 0, 2:4, :2] > 9).all()


def _run(name: str, feeds: dict) -> list:
    return _session(name).run(None, feeds)


def test_joined_kernels_equal_their_parts_run_in_turn():
    rng = np.random.default_rng(11)
    s, t, b = 48, 16, 3
    # tile_step = tile_blend then tile_crop
    acc = rng.normal(size=(1, 4, s, s)).astype(np.float32)
    delta = rng.normal(size=(b, 4, t, t)).astype(np.float32)
    pads = np.array([[0, 0, y, x, 0, 0, s - y - t, s - x - t] for y, x in [(0, 0), (32, 8), (16, 32)]], np.int64)
    wy = rng.uniform(size=(b, t)).astype(np.float32)
    wx = rng.uniform(size=(b, t)).astype(np.float32)
    strength = np.array([0.6], np.float32)
    rin = rng.normal(size=(1, 7, s, s)).astype(np.float32)
    boxes = np.array([[y, x, y + t, x + t] for y, x in [(8, 8), (0, 32), (32, 0)]], np.int64)
    blend_feeds = {"acc": acc, "delta": delta, "pads": pads, "wy": wy, "wx": wx, "strength": strength}
    acc_out, tiles = _run(f"tile_step_b{b}", dict(blend_feeds, rin=rin, boxes=boxes))
    np.testing.assert_array_equal(acc_out, _run(f"tile_blend_b{b}", blend_feeds)[0])
    np.testing.assert_array_equal(tiles, _run(f"tile_crop_b{b}", {"rin": rin, "boxes": boxes})[0])
    zeros = dict(blend_feeds, delta=np.zeros_like(delta), wy=np.zeros_like(wy), wx=np.zeros_like(wx))
    np.testing.assert_array_equal(_run(f"tile_step_b{b}", dict(zeros, rin=rin, boxes=boxes))[0], acc)

    # finish_refined = refine_final then finish
    h, w = 30, 50
    up = rng.normal(size=(1, 4, s, s)).astype(np.float32)
    wsum = rng.uniform(0.5, 2.0, size=(1, 1, s, s)).astype(np.float32)
    rv = rng.uniform(size=(h, s)).astype(np.float32) / s
    rh = rng.uniform(size=(s, w)).astype(np.float32) / s
    params = np.array([0.05, 0.9, 0.7, 1.0], np.float32)
    mattes = {"garbage": rng.uniform(size=(h, w)).astype(np.float32), "core": rng.uniform(size=(h, w)).astype(np.float32)}
    (refined,) = _run("refine_final", {"up": up, "acc": acc, "wsum": wsum})
    (want,) = _run("finish_mattes", dict(mattes, refined=refined, rv=rv, rh=rh, params=params))
    (got,) = _run("finish_refined_mattes", dict(mattes, up=up, acc=acc, wsum=wsum, rv=rv, rh=rh, params=params))
    np.testing.assert_array_equal(got, want)

    # prepare_keyed = chroma_key then prepare
    plate = rng.uniform(-0.1, 1.1, size=(h, w, 4)).astype(np.float32)
    plate[..., 1] += 0.3 * (rng.uniform(size=(h, w)) > 0.5)
    key = {"params": np.array([35, 85, 40, 30], np.float32),
           "erode": np.ones((1, 1, 3, 3), np.float32), "erode_pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
           "blur": np.array([[[[0.25, 0.5, 0.25]]]], np.float32), "blur_pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)}
    rh2 = rng.uniform(size=(w, 16)).astype(np.float32) / w
    rv2 = rng.uniform(size=(16, h)).astype(np.float32) / h
    for linear in (True, False):
        suffix = "linear" if linear else "srgb"
        (hint,) = _run(f"chroma_key_{suffix}", dict(key, plate=plate))
        (want,) = _run(f"prepare_{suffix}", {"plate": plate, "hint": hint, "rh": rh2, "rv": rv2})
        (got,) = _run(f"prepare_keyed_{suffix}", dict(key, plate=plate, rh=rh2, rv=rv2))
        np.testing.assert_array_equal(got, want)


def test_chroma_key_codes_and_hsv_follow_opencv():
    """Pure screen green keys out, a skin tone stays; an sRGB plate's codes round halves up; the
    erosion eats the ellipse's reach."""
    h, w = 12, 20
    plate = np.zeros((h, w, 4), np.float32)
    plate[..., :3] = [0.1, 0.7, 0.15]
    plate[3:9, 6:14, :3] = [0.6, 0.4, 0.3]
    one = {"erode": np.ones((1, 1, 1, 1), np.float32), "erode_pads": np.zeros(8, np.int64),
           "blur": np.ones((1, 1, 1, 1), np.float32), "blur_pads": np.zeros(8, np.int64),
           "params": np.array([35, 85, 40, 30], np.float32)}
    (hint,) = _run("chroma_key_srgb", dict(one, plate=plate))
    np.testing.assert_array_equal(hint, (plate[..., 0] > 0.5).astype(np.float32))
    ellipse = np.ones((1, 1, 3, 3), np.float32)
    (eroded,) = _run("chroma_key_srgb", dict(one, plate=plate, erode=ellipse,
                                              erode_pads=np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)))
    assert eroded.sum() == (6 - 2) * (8 - 2)
    bounds = kernels.srgb8_bounds()
    assert bounds.shape == (257,) and np.isneginf(bounds[0]) and np.isposinf(bounds[-1])
    assert np.all(np.diff(bounds[1:-1]) > 0)
