import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from corridorkey_export.checkpoint import CheckpointError, load_checkpoint, read_state_dict, resize_pos_embed
from corridorkey_export.model import seeded_model


@pytest.fixture(scope="module")
def small():
    return seeded_model("small", 128, seed=11)


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize("form", ["flat", "wrapped_compiled", "safetensors"])
def test_formats_load_exactly(tmp_path, small, form):
    sd = small.state_dict()
    if form == "flat":
        path = tmp_path / "ck.pth"
        torch.save(sd, path)
    elif form == "wrapped_compiled":
        path = tmp_path / "ck.pth"
        torch.save({"state_dict": {"_orig_mod." + k: v for k, v in sd.items()}, "epoch": 3}, path)
    else:
        path = tmp_path / "ck.safetensors"
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    _same(load_checkpoint(path, "small", 128), small)


def test_pos_embed_resized_bicubic(tmp_path, small):
    path = tmp_path / "ck.pth"
    torch.save(small.state_dict(), path)
    big = load_checkpoint(path, "small", 256)
    src = small.encoder.model.pos_embed  # [1, 32*32, C]
    c = src.shape[-1]
    grid = src.reshape(1, 32, 32, c).permute(0, 3, 1, 2)
    want = F.interpolate(grid, size=(64, 64), mode="bicubic", align_corners=False).permute(0, 2, 3, 1).reshape(1, -1, c)
    assert torch.allclose(big.encoder.model.pos_embed, want)
    assert torch.equal(big.refiner.final.weight, small.refiner.final.weight)
    assert resize_pos_embed(src, 32 * 32).shape == src.shape


def test_wrong_and_missing_keys_listed(tmp_path, small):
    sd = dict(small.state_dict())
    sd["refiner.extra.weight"] = torch.zeros(1)
    del sd["fg_decoder.classifier.bias"]
    sd["alpha_decoder.classifier.bias"] = torch.zeros(2)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path, "small", 128)
    msg = str(e.value)
    assert "\n" not in msg
    assert "missing 1: fg_decoder.classifier.bias" in msg
    assert "unexpected 1: refiner.extra.weight" in msg
    assert "mis-shaped 1: alpha_decoder.classifier.bias [2]" in msg


def test_wrong_variant_rejected(tmp_path, small):
    path = tmp_path / "ck.pth"
    torch.save(small.state_dict(), path)
    with pytest.raises(CheckpointError, match="mis-shaped"):
        load_checkpoint(path, "hiera_base_plus", 128)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_file_one_line_error(tmp_path, small, suffix):
    good = tmp_path / f"good{suffix}"
    if suffix == ".pth":
        torch.save(small.state_dict(), good)
    else:
        save_file({k: v.contiguous() for k, v in small.state_dict().items()}, str(good))
    data = good.read_bytes()
    bad = tmp_path / f"trunc{suffix}"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        read_state_dict(bad)
    proc = subprocess.run(
        [sys.executable, "-m", "corridorkey_export", "export", "--checkpoint", str(bad), "--size", "64",
         "--variant", "small", "--precision", "fp32", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: cannot read checkpoint") and "Traceback" not in proc.stderr, proc.stderr


def test_garbage_and_missing_files(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        read_state_dict(junk)
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "nope.pth")
