import json
import struct
import zlib

import numpy as np
import torch

from corridorkey_export.cli import main
from corridorkey_export.quality import OnnxModel, sad, summarise, write_png
from corridorkey_export.synth.hint import chroma_key
from corridorkey_export.synth.plates import make_plates


def _read_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h = ihdr[0], ihdr[1]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, 3)


def test_png_round_trip(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", img)
    assert np.array_equal(_read_png(tmp_path / "a.png"), img)


def test_onnx_path_matches_pytorch_forward(small_export):
    model, folder = small_export
    ort_model = OnnxModel(folder, "fp32")
    p = make_plates(1, 128, 128, torch.Generator().manual_seed(2), "cpu")
    hint = chroma_key(p.srgb)
    a_ort = ort_model.alpha(p.plate, bool(p.is_linear[0]), hint)
    # Same input through PyTorch (plate already S x S: resize is the identity).
    from corridorkey_export.preprocess import linear_to_srgb
    from corridorkey_export.train.data import normalise

    rgb = linear_to_srgb(p.plate) if bool(p.is_linear[0]) else p.plate
    with torch.no_grad():
        a_pt = model(torch.cat([normalise(rgb), hint], 1))["alpha"]
    assert (a_ort - a_pt).abs().max() < 1e-4


def test_summary_reduction_and_bar():
    rows = [{"linear": True, "hint_sad": 10.0, "hint_mse": 0.1, "model_sad": 6.0, "model_mse": 0.05},
            {"linear": False, "hint_sad": 10.0, "hint_mse": 0.1, "model_sad": 8.0, "model_mse": 0.05}]
    s = summarise(rows)
    assert abs(s["sad_reduction"] - 0.3) < 1e-9 and s["passes_30pct_sad"]
    assert s["linear"]["model_sad"] == 6.0 and s["srgb"]["plates"] == 1
    assert not summarise([{**rows[1]}])["passes_30pct_sad"]


def test_quality_cli_writes_report_and_sheets(small_export, tmp_path, capsys):
    _, folder = small_export
    out = tmp_path / "q"
    assert main(["quality", "--model-dir", str(folder), "--seed", "11", "--count", "2", "--height", "40",
                 "--width", "72", "--out", str(out)]) == 0
    assert "SAD hint" in capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    assert res["summary"]["count"] == 2 and len(res["plates"]) == 2
    for r in res["plates"]:
        for k in ("hint_sad", "model_sad", "hint_mse", "model_mse"):
            assert np.isfinite(r[k]) and r[k] >= 0
    # The hint's score is reproducible from the same held-out plate.
    from corridorkey_export.quality import plate_generator

    p = make_plates(1, 40, 72, plate_generator(11, 0), "cpu")
    assert abs(sad(chroma_key(p.srgb), p.alpha) - res["plates"][0]["hint_sad"]) < 1e-9
    text = (out / "report.md").read_text()
    assert "SAD" in text and "contact_01.png" in text
    sheet = _read_png(out / "contact_01.png")
    assert sheet.shape[1] == 4 * 256 + 3 * 4 and sheet.shape[0] > 2 * 40
