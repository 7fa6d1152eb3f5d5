"""The fixture sets: layout per docs/MODEL-FORMAT.md, ORT reproduces the goldens, uniform regions hold."""

import json
import math

import numpy as np
import onnxruntime as ort
import pytest
import torch

from corridorkey_export.checkpoint import sha256_file
from corridorkey_export.fixtures import write_all
from corridorkey_export.manifest import validate
from corridorkey_export.preprocess import linear_to_srgb, prepare


@pytest.fixture(scope="module")
def fixtures_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fixtures")
    write_all(out)
    return out


SHAPES = {
    "input.npy": lambda s: (1, 4, s, s), "alpha_logits.npy": lambda s: (1, 1, s // 4, s // 4),
    "fg_logits.npy": lambda s: (1, 3, s // 4, s // 4), "refiner_input.npy": lambda s: (1, 7, s, s),
    "delta_logits.npy": lambda s: (1, 4, s, s), "alpha.npy": lambda s: (1, 1, s, s), "fg.npy": lambda s: (1, 3, s, s),
}


@pytest.mark.parametrize("name,size", [("small_s128", 128), ("uniform_s256", 256)])
def test_set_layout_and_ort_reproduces_goldens(fixtures_dir, name, size):
    d = fixtures_dir / name
    m = validate(d)
    assert m["variant"] == "small" and {g["file"] for g in m["graphs"]} == {f"coarse_{size}.fp32.onnx", "refiner.fp32.onnx"}
    arrays = {f: np.load(d / f) for f in SHAPES}
    for f, shape in SHAPES.items():
        assert arrays[f].shape == shape(size) and arrays[f].dtype == np.dtype("<f4"), f
    plate, hint = np.load(d / "plate.npy"), np.load(d / "hint.npy")
    assert plate.ndim == 3 and plate.shape[2] == 4 and hint.shape == plate.shape[:2] and plate.shape[0] != plate.shape[1]
    np.testing.assert_array_equal(prepare(plate[..., :3], hint, size), arrays["input.npy"])

    coarse = ort.InferenceSession(str(d / f"coarse_{size}.fp32.onnx"), providers=["CPUExecutionProvider"])
    refiner = ort.InferenceSession(str(d / "refiner.fp32.onnx"), providers=["CPUExecutionProvider"])
    a, f = coarse.run(["alpha_logits", "fg_logits"], {"image": arrays["input.npy"]})
    np.testing.assert_allclose(a, arrays["alpha_logits.npy"], atol=1e-4)
    np.testing.assert_allclose(f, arrays["fg_logits.npy"], atol=1e-4)
    delta = refiner.run(["delta_logits"], {"refiner_input": arrays["refiner_input.npy"]})[0]
    np.testing.assert_allclose(delta, arrays["delta_logits.npy"], atol=1e-4 * max(1, np.abs(delta).max()))
    # refiner input = RGB channels of input + sigmoid of bilinearly upsampled logits
    up = torch.nn.functional.interpolate(torch.from_numpy(arrays["alpha_logits.npy"]), size=(size, size),
                                         mode="bilinear", align_corners=False)
    np.testing.assert_allclose(arrays["refiner_input.npy"][:, 3:4], torch.sigmoid(up).numpy(), atol=1e-6)
    np.testing.assert_array_equal(arrays["refiner_input.npy"][:, :3], arrays["input.npy"][:, :3])
    np.testing.assert_allclose(arrays["alpha.npy"], torch.sigmoid(up + torch.from_numpy(arrays["delta_logits.npy"][:, :1])).numpy(), atol=1e-6)
    assert 0.02 < arrays["alpha.npy"].std() and 0.0 <= arrays["fg.npy"].min() and arrays["fg.npy"].max() <= 1.0


def test_uniform_regions(fixtures_dir):
    d = fixtures_dir / "uniform_s256"
    spec = json.loads((d / "regions.json").read_text())
    size = spec["size"]
    alpha = torch.sigmoid(torch.nn.functional.interpolate(
        torch.from_numpy(np.load(d / "alpha_logits.npy")), size=(size, size), mode="bilinear",
        align_corners=False))[0, 0].numpy()
    values = {r["value"] for r in spec["regions"]}
    assert values == {"zero", "one"}
    covered = 0
    for r in spec["regions"]:
        x0, y0, x1, y1 = r["model"]
        assert [4 * v for v in r["coarse"]] == r["model"]
        patch = alpha[y0:y1, x0:x1]
        covered += patch.size
        if r["value"] == "one":
            assert patch.min() > spec["skip_high"] + 0.04
        else:
            assert patch.max() < spec["skip_low"] - 0.04
        px0, py0, px1, py1 = r["plate"]
        assert px0 == math.floor(x0 * spec["plate_width"] / size) and py1 == math.ceil(y1 * spec["plate_height"] / size)
    assert covered > 0.5 * size * size
    # regions do not depend on the refiner; the final alpha there is still a real refiner output
    assert np.load(d / "delta_logits.npy").std() > 0.01


def test_deterministic(fixtures_dir, tmp_path):
    write_all(tmp_path)
    for name in ("small_s128", "uniform_s256"):
        for f in sorted((fixtures_dir / name).iterdir()):
            assert sha256_file(f) == sha256_file(tmp_path / name / f.name), f"{name}/{f.name}"


def test_linear_to_srgb_matches_upstream_formula():
    x = torch.tensor([-1.0, 0.0, 0.002, 0.0031308, 0.5, 1.0, 2.0])
    want = [0.0, 0.0, 0.002 * 12.92, 0.0031308 * 12.92, 1.055 * 0.5 ** (1 / 2.4) - 0.055, 1.0, 1.055 * 2 ** (1 / 2.4) - 0.055]
    np.testing.assert_allclose(linear_to_srgb(x).numpy(), want, rtol=1e-6, atol=1e-7)


def test_prepare_constant_plate_is_exact():
    plate = np.full((50, 70, 3), 0.2, np.float32)
    hint = np.ones((50, 70), np.float32)
    x = prepare(plate, hint, 64)
    srgb = 1.055 * 0.2 ** (1 / 2.4) - 0.055
    want = (srgb - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(x[0, :3, 10, 20], want, atol=2e-6)
    np.testing.assert_allclose(x[0, 3], 1.0, atol=1e-6)


def test_fp16_set_is_the_small_model_in_fp16_and_overflows_on_raw_input(fixtures_dir):
    """`small_fp16_s128`: the seed-0 small model as fp16 graphs. It reproduces small_s128's goldens to
    fp16 precision, and a value fp16 cannot hold turns its whole output into NaN (what the plugin's
    input clamp must prevent; plugin/src/engine/stages/prepare/domain.rs)."""
    d, ref = fixtures_dir / "small_fp16_s128", fixtures_dir / "small_s128"
    m = validate(d)
    # The export also writes the fused-GroupNorm GPU refiner (fp16 only; GPU providers run it).
    assert {(g["file"], g["precision"]) for g in m["graphs"]} == {
        ("coarse_128.fp16.onnx", "fp16"), ("refiner.fp16.onnx", "fp16"), ("refiner_gpu.fp16.onnx", "fp16")}
    np.testing.assert_array_equal(np.load(d / "plate.npy"), np.load(ref / "plate.npy"))
    coarse = ort.InferenceSession(str(d / "coarse_128.fp16.onnx"), providers=["CPUExecutionProvider"])
    refiner = ort.InferenceSession(str(d / "refiner.fp16.onnx"), providers=["CPUExecutionProvider"])
    x = np.load(ref / "input.npy")
    a, f = coarse.run(["alpha_logits", "fg_logits"], {"image": x})
    for got, name in ((a, "alpha_logits.npy"), (f, "fg_logits.npy")):
        want = np.load(ref / name)
        np.testing.assert_allclose(got, want, atol=1e-2 * max(1.0, np.abs(want).max()))
    delta = refiner.run(["delta_logits"], {"refiner_input": np.load(ref / "refiner_input.npy")})[0]
    want = np.load(ref / "delta_logits.npy")
    np.testing.assert_allclose(delta, want, atol=1e-2 * max(1.0, np.abs(want).max()))
    bad = x.copy()
    bad[0, :3, 40, 50] = 1e10
    assert np.isnan(coarse.run(["alpha_logits"], {"image": bad})[0]).all()
