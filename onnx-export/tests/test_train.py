import json

import pytest
import torch

from corridorkey_export.checkpoint import load_checkpoint
from corridorkey_export.model import GreenFormer
from corridorkey_export.train.data import make_batch
from corridorkey_export.train.loop import Recipe, lr_at, train
from corridorkey_export.train.losses import losses
from corridorkey_export.train.state import StateError


def test_batches_replay_by_seed_and_step():
    a, b = make_batch(2, 32, 0, 5, "cpu"), make_batch(2, 32, 0, 5, "cpu")
    c = make_batch(2, 32, 0, 6, "cpu")
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert a.x.shape == (2, 4, 32, 32) and torch.equal(a.x[:, 3:], a.hint)


def test_losses_vanish_at_ground_truth_only():
    b = make_batch(2, 32, 1, 0, "cpu")
    out = {"alpha": b.alpha, "fg": b.fg, "alpha_logits": torch.zeros(2, 1, 8, 8)}
    t = losses(out, b.alpha, b.fg, b.bg, unknown_weight=2.0)
    for k in ("alpha", "grad", "fg", "comp", "unknown"):
        assert float(t[k]) < 1e-6, k
    worse = losses({**out, "alpha": (b.alpha + 0.2).clamp(0, 1)}, b.alpha, b.fg, b.bg)
    assert float(worse["alpha"]) > 0.05 and float(worse["total"]) > float(t["total"])


def test_unknown_band_weights_only_the_semi_transparent_region():
    from corridorkey_export.train.losses import unknown_band

    gt = torch.zeros(1, 1, 16, 16)
    gt[..., :, 8:] = 1.0
    gt[..., 4, 2] = 0.5
    band = unknown_band(gt, grow=1)
    assert band[0, 0, 4, 2] == 1 and band[0, 0, 3, 1] == 1 and band[0, 0, 12, 12] == 0 and band[0, 0, 12, 4] == 0
    off = {"alpha": gt.clone(), "fg": torch.zeros(1, 3, 16, 16), "alpha_logits": torch.zeros(1, 1, 4, 4)}
    off["alpha"][..., 4, 2] = 0.0  # wrong only inside the band
    lo = losses(off, gt, torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16), unknown_weight=0.0)
    hi = losses(off, gt, torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16), unknown_weight=4.0)
    assert float(hi["unknown"]) > 0.01 and float(hi["total"] - lo["total"]) == pytest.approx(4.0 * float(hi["unknown"]))


def test_blue_batches_and_transparent_focus():
    g = make_batch(2, 48, 3, 1, "cpu", screen="green")
    b = make_batch(2, 48, 3, 1, "cpu", screen="blue")
    # Same draws, another screen: the ground truth is the same, the plate's background is blue.
    assert torch.equal(g.alpha, b.alpha) and not torch.equal(g.x, b.x)
    bg = (b.alpha == 0).expand_as(b.bg)
    assert b.bg[:, 2:3][bg[:, :1]].mean() > b.bg[:, 1:2][bg[:, :1]].mean()
    # The fine-tune's focus: clearly more semi-transparent coverage (hair, smoke, cloth, blur).
    plain, focus = (float(((make_batch(8, 48, 5, 0, "cpu", focus=f).alpha - 0.5).abs() < 0.49).float().mean())
                    for f in ("", "transparent"))
    assert focus > 1.3 * plain


def test_worker_batches_are_the_device_batches(tmp_path):
    from corridorkey_export.train.data import SyntheticBatches

    item = SyntheticBatches(2, 32, 4, 10, "blue", "")[3]
    ref = make_batch(2, 32, 4, 13, "cpu", "blue", "")
    assert torch.equal(item["x"], ref.x) and torch.equal(item["alpha"], ref.alpha)


def test_lr_warms_up_then_decays_with_time():
    r = Recipe(lr=1e-3, warmup_steps=10, budget_minutes=1.0)
    assert lr_at(r, 0, 0) == pytest.approx(1e-4)
    assert lr_at(r, 100, 0) == pytest.approx(1e-3)
    assert lr_at(r, 100, 30) < 1e-3 and lr_at(r, 100, 60) == pytest.approx(1e-3 * r.min_lr_ratio)


def test_train_two_steps_then_resume_on_cpu(tmp_path):
    recipe = Recipe(variant="small", size=32, batch=2, warmup_steps=2)
    s = train(tmp_path, 2.0, recipe, device="cpu", max_steps=2, log_every=1, echo=lambda *_: None)
    assert s["step"] == 2
    w1 = (tmp_path / "small.safetensors").read_bytes()
    s = train(tmp_path, 2.0, resume=True, device="cpu", max_steps=1, log_every=1, echo=lambda *_: None)
    assert s["step"] == 3 and (tmp_path / "small.safetensors").read_bytes() != w1
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and all(r["total"] > 0 for r in log)
    # The weights load through the normal checkpoint loader, at another size (pos_embed resized).
    model = load_checkpoint(tmp_path / "small.safetensors", "small", 128)
    assert model.img_size == 128
    # A weights file that does not belong to the state is refused.
    torch.manual_seed(9)
    from corridorkey_export.train.state import save_weights

    save_weights(GreenFormer("small", 32), tmp_path / "small.safetensors")
    with pytest.raises(StateError):
        train(tmp_path, 2.0, resume=True, device="cpu", max_steps=1, echo=lambda *_: None)


def test_train_cli_resume_without_state_fails_cleanly(tmp_path, capsys):
    from corridorkey_export.cli import main

    (tmp_path / "recipe.json").write_text(json.dumps({"variant": "small", "size": 64, "batch": 2}))
    assert main(["train", "--out", str(tmp_path), "--minutes", "1", "--resume", "--device", "cpu"]) == 1
    assert "no train_state.pt" in capsys.readouterr().err


def test_compact_variant_fits_the_size_budget():
    # fp16 at S=1024 incl. pos_embed must stay under 30 MB (issue #6): count parameters exactly.
    model = GreenFormer("compact", 1024)
    n = sum(p.numel() for p in model.parameters())
    assert n * 2 < 30e6 * 0.9


def test_training_forward_matches_model_and_keeps_fp32_alpha():
    from corridorkey_export.train.loop import forward

    torch.manual_seed(0)
    m = GreenFormer("small", 64).eval()
    x = make_batch(1, 64, 0, 0, "cpu").x
    with torch.no_grad():
        assert torch.allclose(forward(m, x, False)["alpha"], m(x)["alpha"], atol=1e-6)
        assert forward(m, x, True)["alpha"].dtype == torch.float32


def test_resume_at_another_size_keeps_training(tmp_path):
    recipe = Recipe(variant="small", size=32, batch=2, warmup_steps=1)
    train(tmp_path, 2.0, recipe, device="cpu", max_steps=1, echo=lambda *_: None)
    s = train(tmp_path, 2.0, resume=True, device="cpu", max_steps=1, echo=lambda *_: None,
              retarget={"size": 64, "batch": 1, "focus": "transparent", "unknown_weight": 2.0})
    assert s["step"] == 2
    r = json.loads((tmp_path / "recipe.json").read_text())
    assert r["size"] == 64 and r["batch"] == 1 and r["focus"] == "transparent"
    assert r["stages"] == [{"from_step": 0, "size": 32, "batch": 2, "focus": "", "unknown_weight": 0.0},
                           {"from_step": 1, "size": 64, "batch": 1, "focus": "transparent", "unknown_weight": 2.0}]
    assert load_checkpoint(tmp_path / "small.safetensors", "small", 64).img_size == 64
    # And it resumes again at the new size without a retarget.
    assert train(tmp_path, 2.0, resume=True, device="cpu", max_steps=1, echo=lambda *_: None)["step"] == 3


def test_train_cli_runs_one_step(tmp_path, capsys):
    from corridorkey_export.cli import main

    assert main(["train", "--out", str(tmp_path), "--minutes", "1", "--device", "cpu", "--variant", "small",
                 "--size", "32", "--batch", "1", "--max-steps", "1"]) == 0
    assert '"done"' in capsys.readouterr().out
    assert json.loads((tmp_path / "recipe.json").read_text())["size"] == 32
