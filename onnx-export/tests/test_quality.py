import json
import struct
import zlib

import numpy as np
import pytest
import torch

from corridorkey_export.cli import main
from corridorkey_export.metrics import sad
from corridorkey_export.quality import (HELDOUT, TILE_W, OnnxModel, TorchKeyer, builtin_hint, heldout_plate,
                                        near_exact_hint, summarise, write_png)
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
    # The training machine's PyTorch keyer takes the same path (any plate size).
    q = heldout_plate("green", "generator", 0, 72, 96)
    h = builtin_hint(q)
    diff = (TorchKeyer(model).alpha(q.plate, bool(q.is_linear[0]), h) - ort_model.alpha(q.plate, bool(q.is_linear[0]), h))
    assert diff.abs().max() < 1e-4


def test_summary_ratio():
    rows = [{"linear": True, "hint": {"sad": 10.0, "mse": 0.1, "grad": 2.0, "conn": 4.0},
             "model": {"sad": 2.0, "mse": 0.05, "grad": 1.0, "conn": 1.0}},
            {"linear": False, "hint": {"sad": 10.0, "mse": 0.1, "grad": 2.0, "conn": 4.0},
             "model": {"sad": 4.0, "mse": 0.05, "grad": 1.0, "conn": 3.0}}]
    s = summarise(rows)
    assert s["plates"] == 2 and s["linear"] == 1
    assert s["ratio"]["sad"] == pytest.approx(0.3) and s["ratio"]["conn"] == pytest.approx(0.5)
    assert "model" not in summarise([{"linear": True, "hint": rows[0]["hint"]}])


def test_heldout_sets_differ_by_generator_not_only_seed():
    assert HELDOUT["seed"][0] == "train" and HELDOUT["generator"][0] == "holdout"
    a, b = heldout_plate("blue", "seed", 0, 32, 48), heldout_plate("blue", "seed", 0, 32, 48)
    assert torch.equal(a.plate, b.plate) and a.screen == "blue"


def test_quality_cli_writes_report_and_sheets(small_export, tmp_path, capsys):
    _, folder = small_export
    out = tmp_path / "q"
    assert main(["quality", "--model-dir", str(folder), "--count", "2", "--height", "40", "--width", "72",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "green seed: SAD hint" in printed and "blue generator: SAD hint" in printed and "no model" in printed
    res = json.loads((out / "results.json").read_text())
    green, blue = res["screens"]["green"], res["screens"]["blue"]
    assert green["model"]["variant"] == "small" and blue["model"] is None
    for set_name in ("seed", "generator"):
        rows = green["sets"][set_name]["plates"]
        assert len(rows) == 2
        for r in rows:
            for who in ("hint", "model"):
                assert all(np.isfinite(r[who][m]) and r[who][m] >= 0 for m in ("sad", "mse", "grad", "conn"))
        assert "model" not in blue["sets"][set_name]["plates"][0]
        assert green["sets"][set_name]["summary"]["target_sad_ratio"] in (0.15, 0.25)
    # The hint's score is reproducible from the same held-out plate.
    p = heldout_plate("green", "generator", 1, 40, 72)
    assert sad(builtin_hint(p), p.alpha) == pytest.approx(green["sets"]["generator"]["plates"][1]["hint"]["sad"])
    text = (out / "report.md").read_text()
    assert "## Green screen" in text and "## Blue screen" in text and "No blue model" in text
    assert "contact_green_generator.png" in text and "target" in text
    sheet = _read_png(out / "contact_green_seed.png")
    assert sheet.shape[1] == 5 * TILE_W + 4 * 4 and sheet.shape[0] > 2 * 20
    assert _read_png(out / "contact_blue_seed.png").shape[1] == 3 * TILE_W + 2 * 4
    # Issue 23: the solid set, interior holes with both hints, the near-exact hint's run.
    solid = green["sets"]["solid"]["summary"]
    assert solid["target_sad_ratio"] is None and set(solid["issue23"]) == {"holes_builtin", "holes_exact", "exact_below_hint"}
    for who in ("hint", "model", "model_exact"):
        assert solid["interior"][who]["interior"] >= 0
    q = heldout_plate("green", "solid", 0, 40, 72)
    assert sad(near_exact_hint(q), q.alpha) == pytest.approx(green["sets"]["solid"]["plates"][0]["exact"]["hint"]["sad"])
    assert "Interior (issue 23)" in text and "near-exact" in text and "interior holes:" in printed
