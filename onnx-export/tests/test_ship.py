"""The GPU training job end to end at toy scale on the CPU: the device script (start, status,
collect), the install into a model folder beside another screen's model, and the quality run on it.
One real export (the slow part); everything else is sized to seconds."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from corridorkey_export.install import InstallError, install
from corridorkey_export.manifest import graphs_for, model_for, validate
from corridorkey_export.quality import run_report
from corridorkey_export.train.ship import Plan, ShipError, ship

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "onnx-export" / "gpu" / "train_ship.sh"
TINY = ("--variant small --size 32 --batch 2 --ft-size 32 --ft-batch 1 --export-size 32 --eval-count 1 "
        "--eval-height 32 --eval-width 48 --max-steps 1 --warmup-steps 1")


def _sh(env, *args, check=True):
    r = subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_device_job_trains_exports_collects_installs_and_scores(small_export, tmp_path):
    env = dict(os.environ, CK_TRAIN_HOME=str(tmp_path / "jobs"), CK_TRAIN_DEVICE="cpu", CK_TRAIN_CPUS="2",
               PYTHON=sys.executable, CK_TRAIN_ARGS=TINY)
    # `start` runs the job (the lead puts it in the background with setsid ... &).
    _sh(env, "start", "0", "blue")
    status = _sh(env, "status", "blue").stdout
    assert "blue: stopped, phase done" in status and "ship_done" in status and "exit 0" in status
    _sh(env, "start", "0", "blue")  # a finished job is left alone
    assert "job already done" in (tmp_path / "jobs" / "blue" / "log.txt").read_text()

    col = tmp_path / "collected" / "blue"
    _sh(env, "collect", "blue", str(col))
    names = sorted(p.name for p in col.iterdir())
    assert names == ["coarse_32.fp16.blue.onnx", "refiner.fp16.blue.onnx", "ship_blue.json",
                     "small_blue.fp16.safetensors"]
    assert all(p.stat().st_size < 16 * 1024 * 1024 for p in col.iterdir())
    rec = json.loads((col / "ship_blue.json").read_text())
    stages = rec["recipe"]["stages"]
    assert [(s["size"], s["focus"]) for s in stages] == [(32, ""), (32, "transparent")]
    assert rec["recipe"]["screen"] == "blue" and len(rec["train_log"]) == 2 and rec["export_error"] is None
    assert rec["eval"]["generator"]["model"]["sad"] >= 0 and rec["eval"]["ort_fp16_vs_torch"]["max_abs"] < 1e-3
    assert rec["manifest"]["models"][0]["screen"] == "blue"

    # Install beside a green model; the green model and its files stay.
    models = tmp_path / "models"
    shutil.copytree(small_export[1], models)
    (models / "recipe.json").write_text("{}\n")
    install([col], models, echo=lambda *_: None)
    m = validate(models)
    assert [r["screen"] for r in m["models"]] == ["green", "blue"]
    # The fused-GroupNorm GPU refiner is exported here from the collected weights (install.py).
    assert [g["file"] for g in graphs_for(m, "blue")] == ["coarse_32.fp16.blue.onnx", "refiner.fp16.blue.onnx",
                                                         "refiner_gpu.fp16.blue.onnx"]
    assert model_for(m, "blue")["source"]["checkpoint"] == "small_blue.fp16.safetensors"
    assert len(graphs_for(m, "green")) == 5 and (models / "recipe.json").exists()
    assert json.loads((models / "train_blue.json").read_text())["screen"] == "blue"
    assert not [p for p in models.iterdir() if p.name.startswith(".")]

    res = run_report(models, tmp_path / "q", count=1, height=32, width=48, screens=("blue",), echo=lambda *_: None)
    assert res["screens"]["blue"]["model"]["screen"] == "blue"
    assert res["screens"]["blue"]["sets"]["generator"]["summary"]["model"]["sad"] >= 0

    # A graph that is not the one the record lists is refused; the folder is unchanged.
    before = (models / "manifest.json").read_text()
    (col / "refiner.fp16.blue.onnx").write_bytes(b"not a graph")
    with pytest.raises(InstallError, match="sha256"):
        install([col], models, echo=lambda *_: None)
    assert (models / "manifest.json").read_text() == before


def test_ship_refuses_a_second_job_and_resumes_a_finished_one_as_a_no_op(tmp_path):
    (tmp_path / "ship.json").write_text(json.dumps({"plan": {"screen": "green"}, "phase": "done", "timings": {}}))
    with pytest.raises(ShipError, match="already holds a job"):
        ship(tmp_path, Plan(), device="cpu", echo=lambda *_: None)
    assert ship(tmp_path, resume=True, device="cpu", echo=lambda *_: None)["phase"] == "done"
    with pytest.raises(ShipError, match="no ship.json"):
        ship(tmp_path / "none", resume=True, device="cpu")


def test_device_script_rejects_bad_arguments(tmp_path):
    env = dict(os.environ, CK_TRAIN_HOME=str(tmp_path))
    assert _sh(env, "start", "x", "green", check=False).returncode == 2
    assert "green or blue" in _sh(env, "start", "0", "red", check=False).stderr
    assert _sh(env, "collect", "green", str(tmp_path / "d"), check=False).returncode == 2
    assert "no job" in _sh(env, "status", "blue", check=False).stdout
