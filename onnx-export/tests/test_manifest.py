import json
import shutil

import pytest

from corridorkey_export.checkpoint import sha256_file
from corridorkey_export.manifest import MANIFEST, ManifestError, validate
from corridorkey_export.model import seeded_model
from corridorkey_export.pipeline import export_folder


def test_manifest_matches_graphs(small_export):
    _, folder = small_export
    m = validate(folder)
    assert m["schema"] == "corridorkey-model/1" and m["model"] == "GreenFormer" and m["variant"] == "small"
    assert m["source"] == {"checkpoint": None, "sha256": None, "seed": 3}
    assert set(m["exporter"]) >= {"version", "torch", "timm", "onnx", "opset"} and m["exporter"]["opset"] == 18
    files = {g["file"]: g for g in m["graphs"]}
    assert set(files) == {"coarse_128.fp32.onnx", "coarse_128.fp16.onnx", "refiner.fp32.onnx", "refiner.fp16.onnx",
                          "refiner_gpu.fp16.onnx"}
    for name, g in files.items():
        assert g["sha256"] == sha256_file(folder / name)
        assert g["bytes"] == (folder / name).stat().st_size
    assert files["coarse_128.fp16.onnx"]["inputs"] == [{"name": "image", "dtype": "float32", "shape": [1, 4, 128, 128]}]
    assert files["coarse_128.fp16.onnx"]["outputs"][1] == {"name": "fg_logits", "dtype": "float32", "shape": [1, 3, 32, 32]}
    assert files["refiner.fp32.onnx"]["size"] is None
    assert files["refiner.fp32.onnx"]["inputs"][0]["shape"] == ["B", 7, "T", "T"]
    gpu = files["refiner_gpu.fp16.onnx"]
    assert gpu["role"] == "refiner_gpu" and gpu["precision"] == "fp16"
    assert (gpu["inputs"], gpu["outputs"]) == (files["refiner.fp16.onnx"]["inputs"], files["refiner.fp16.onnx"]["outputs"])


def test_validate_catches_tampering(small_export, tmp_path):
    _, folder = small_export
    copy = tmp_path / "m"
    shutil.copytree(folder, copy)
    with open(copy / "refiner.fp32.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ManifestError, match="refiner.fp32.onnx: sha256"):
        validate(copy)
    m = json.loads((copy / MANIFEST).read_text())
    m["graphs"][0]["outputs"][0]["name"] = "alpha"
    (copy / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ManifestError, match="I/O"):
        validate(copy)


def test_sizes_merge_into_one_folder_and_sources_do_not_mix(tmp_path):
    out = tmp_path / "models"
    export_folder(seeded_model("small", 64, seed=7), out, ["fp32"], seed=7)
    m = export_folder(seeded_model("small", 96, seed=7), out, ["fp32"], seed=7)
    assert [g["file"] for g in m["graphs"]] == ["coarse_64.fp32.onnx", "coarse_96.fp32.onnx", "refiner.fp32.onnx"]
    validate(out)
    with pytest.raises(ManifestError, match="source"):
        export_folder(seeded_model("small", 64, seed=8), out, ["fp32"], seed=8)
