import json
import shutil

import pytest
import torch

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


def _as_screen(src_folder, dst, screen, seed):
    """Graph files of a seeded export renamed as another screen's model (no new export needed)."""
    from corridorkey_export.manifest import graph_entry, graph_file, model_record

    m = json.loads((src_folder / MANIFEST).read_text())
    entries = []
    for g in m["graphs"]:
        name = graph_file(g["role"], g["precision"], g["size"], screen)
        shutil.copyfile(src_folder / g["file"], dst / name)
        entries.append(graph_entry(dst / name, g["role"], g["precision"], g["size"], screen))
    return model_record(m["variant"], None, None, seed, screen), entries


def test_one_folder_holds_a_green_and_a_blue_model(small_export, tmp_path):
    from corridorkey_export.manifest import graphs_for, merge, model_for, models_of

    _, folder = small_export
    out = tmp_path / "m"
    shutil.copytree(folder, out)
    record, entries = _as_screen(folder, out, "blue", seed=44)
    m = merge(out, record, entries)
    validate(out)
    assert [r["screen"] for r in m["models"]] == ["green", "blue"]
    assert model_for(m, "blue")["source"]["seed"] == 44 and m["source"] == model_for(m, "green")["source"]
    assert [g["file"] for g in graphs_for(m, "blue")] == ["coarse_128.fp16.blue.onnx", "coarse_128.fp32.blue.onnx",
                                                         "refiner.fp16.blue.onnx", "refiner.fp32.blue.onnx",
                                                         "refiner_gpu.fp16.blue.onnx"]
    # Green graphs first (a reader that predates screens takes the first match), each graph names its screen.
    assert m["graphs"][0]["screen"] == "green" and m["graphs"][0]["file"] == "coarse_128.fp16.onnx"
    # A manifest from before screens (no `models`, no per-graph `screen`) is one green model.
    old = json.loads((folder / MANIFEST).read_text())
    old.pop("models", None)
    for g in old["graphs"]:
        g.pop("screen", None)
    legacy = tmp_path / "legacy"
    shutil.copytree(folder, legacy)
    (legacy / MANIFEST).write_text(json.dumps(old))
    assert validate(legacy)["variant"] == "small"
    assert [r["screen"] for r in models_of(old)] == ["green"] and len(graphs_for(old, "green")) == 5
    # Adding blue to that legacy folder keeps its green model.
    m2 = merge(legacy, record, _as_screen(folder, legacy, "blue", seed=44)[1])
    assert len(graphs_for(m2, "green")) == 5 and len(graphs_for(m2, "blue")) == 5
    validate(legacy)


def test_a_screen_holds_one_model_and_replace_swaps_it_whole(small_export, tmp_path):
    from corridorkey_export.manifest import commit, graphs_for, merge, merged

    _, folder = small_export
    out = tmp_path / "m"
    shutil.copytree(folder, out)
    merge(out, *_as_screen(folder, out, "blue", seed=44))
    other = tmp_path / "other"
    other.mkdir()
    record, entries = _as_screen(folder, other, "blue", seed=45)
    with pytest.raises(ManifestError, match="blue model.*--replace"):
        merged(out, record, entries)
    # Replace with only an fp16 pair: the old blue fp32 graphs go, green stays untouched.
    keep = [e for e in entries if e["precision"] == "fp16"]
    staged = {}
    for e in keep:
        part = out / f".{e['file']}.partial"
        shutil.copyfile(other / e["file"], part)
        staged[part] = e["file"]
    manifest, stale = merged(out, record, keep, replace=True)
    assert sorted(stale) == ["coarse_128.fp32.blue.onnx", "refiner.fp32.blue.onnx"]
    commit(out, manifest, staged, stale)
    m = validate(out)
    assert [g["file"] for g in graphs_for(m, "blue")] == ["coarse_128.fp16.blue.onnx", "refiner.fp16.blue.onnx",
                                                         "refiner_gpu.fp16.blue.onnx"]
    assert not (out / "coarse_128.fp32.blue.onnx").exists() and len(graphs_for(m, "green")) == 5
    assert not list(out.glob(".*partial")) and not list(out.glob("*.tmp"))


def test_validate_rejects_a_graph_without_its_model_and_misnamed_screens(small_export, tmp_path):
    _, folder = small_export
    out = tmp_path / "m"
    shutil.copytree(folder, out)
    m = json.loads((out / MANIFEST).read_text())
    m["graphs"][0]["screen"] = "blue"
    (out / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ManifestError, match="no blue model.*|file name"):
        validate(out)


def test_variant_is_recognised_from_the_weights():
    from corridorkey_export.checkpoint import CheckpointError, infer_variant
    from corridorkey_export.model import GreenFormer

    for name in ("small", "compact"):
        assert infer_variant(GreenFormer(name, 64).state_dict()) == name
    with pytest.raises(CheckpointError, match="not a GreenFormer"):
        infer_variant({"x": torch.zeros(1)})
