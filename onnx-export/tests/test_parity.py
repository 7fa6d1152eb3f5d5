"""ORT (CPU) vs PyTorch on seeded weights of the real architecture: each graph and the composed forward."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from corridorkey_export.fixtures import synthetic_plate
from corridorkey_export.model import compose, upsample_logits
from corridorkey_export.preprocess import prepare

TOL = 1e-4


def _session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _sig(t):
    return torch.sigmoid(torch.as_tensor(t))


def _run_all(model, folder, size, precision):
    plate, hint = synthetic_plate(size * 9 // 16, size, seed=2, fg_box=(0.3, 0.2, 0.7, 0.9))
    x = torch.from_numpy(prepare(plate[..., :3], hint, size))
    with torch.no_grad():
        ref = model(x)
    coarse = _session(folder / f"coarse_{size}.{precision}.onnx")
    refiner = _session(folder / f"refiner.{precision}.onnx")
    a_log, f_log = coarse.run(["alpha_logits", "fg_logits"], {"image": x.numpy()})
    # refiner alone, on PyTorch's own refiner input
    delta_only = refiner.run(["delta_logits"], {"refiner_input": ref["refiner_input"].numpy()})[0]
    # composed: ORT coarse -> upsample -> ORT refiner
    out = compose(x, torch.from_numpy(a_log), torch.from_numpy(f_log),
                  lambda rin: torch.from_numpy(refiner.run(["delta_logits"], {"refiner_input": rin.numpy()})[0]))
    a_up, f_up = upsample_logits(ref["alpha_logits"], size), upsample_logits(ref["fg_logits"], size)
    d = torch.from_numpy(delta_only)
    return {
        "coarse_alpha": (_sig(a_log) - _sig(ref["alpha_logits"])).abs().max().item(),
        "coarse_fg": (_sig(f_log) - _sig(ref["fg_logits"])).abs().max().item(),
        "refiner_alpha": (torch.sigmoid(a_up + d[:, :1]) - ref["alpha"]).abs().max().item(),
        "refiner_fg": (torch.sigmoid(f_up + d[:, 1:]) - ref["fg"]).abs().max().item(),
        "refiner_delta": (d - ref["delta_logits"]).abs().max().item(),
        "composed_alpha": (out["alpha"] - ref["alpha"]).abs().max().item(),
        "composed_fg": (out["fg"] - ref["fg"]).abs().max().item(),
    }


@pytest.mark.parametrize("size", [256, 512])
def test_fp32_parity(real_exports, size):
    model, folder = real_exports(size)
    err = _run_all(model, folder, size, "fp32")
    print(f"\nfp32 S={size} max abs errors: {err}")
    for k, v in err.items():
        if k != "refiner_delta":
            assert v <= TOL, (k, v)


@pytest.mark.parametrize("size", [256, 512])
def test_fp16_runs_on_cpu_and_error_reported(real_exports, size):
    model, folder = real_exports(size)
    err = _run_all(model, folder, size, "fp16")
    print(f"\nfp16 S={size} max abs errors: {err}")
    # fp16 is reported, not held to fp32 parity; this only catches a broken conversion.
    for k in ("coarse_alpha", "coarse_fg", "composed_alpha", "composed_fg"):
        assert np.isfinite(err[k]) and err[k] < 0.05, (k, err[k])


def test_refiner_dynamic_batch_and_tile(small_export):
    model, folder = small_export
    rin = torch.randn(3, 7, 96, 96, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        want = model.refiner.forward_packed(rin)
    got = _session(folder / "refiner.fp32.onnx").run(None, {"refiner_input": rin.numpy()})[0]
    assert got.shape == (3, 4, 96, 96)
    assert np.abs(got - want.numpy()).max() <= 1e-4 * max(1.0, want.abs().max().item())
