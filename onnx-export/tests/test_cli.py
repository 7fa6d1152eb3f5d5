import pytest

from corridorkey_export.cli import main
from corridorkey_export.manifest import validate


def test_export_seeded_small(tmp_path, capsys):
    assert main(["export", "--seed", "1", "--size", "64", "--variant", "small", "--precision", "fp32",
                 "--out", str(tmp_path)]) == 0
    assert "coarse_64.fp32.onnx" in capsys.readouterr().out
    m = validate(tmp_path)
    assert [g["file"] for g in m["graphs"]] == ["coarse_64.fp32.onnx", "refiner.fp32.onnx"]


@pytest.mark.parametrize("args", [
    ["--seed", "1", "--size", "100"],
    ["--seed", "1", "--size", "64", "--precision", "bf16"],
    ["--size", "64"],
    ["--seed", "1", "--checkpoint", "x.pth", "--size", "64"],
    ["--seed", "1", "--size", "64", "--variant", "huge"],
    ["--seed", "1", "--size", "64", "--screen", "red"],
])
def test_bad_arguments_exit_2(tmp_path, args):
    with pytest.raises(SystemExit) as e:
        main(["export", *args, "--out", str(tmp_path)])
    assert e.value.code == 2


def test_missing_checkpoint_one_line(tmp_path, capsys):
    assert main(["export", "--checkpoint", str(tmp_path / "missing.pth"), "--size", "64", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: checkpoint not found")


def test_export_screen_and_replace_flags_parse():
    from corridorkey_export.cli import parser

    a = parser().parse_args(["export", "--checkpoint", "w.safetensors", "--size", "64", "--out", "o"])
    assert a.screen == "green" and a.variant is None and not a.replace  # variant recognised from the weights
    a = parser().parse_args(["export", "--seed", "1", "--size", "64", "--out", "o", "--screen", "blue", "--replace"])
    assert a.screen == "blue" and a.replace


def test_ship_and_install_errors_are_one_line(tmp_path, capsys):
    assert main(["ship", "--screen", "green", "--out", str(tmp_path / "none"), "--resume", "--device", "cpu"]) == 1
    assert capsys.readouterr().err.startswith("error: no ship.json")
    assert main(["install", str(tmp_path), "--out", str(tmp_path / "models")]) == 1
    assert "expected one ship_<screen>.json" in capsys.readouterr().err
