"""The shipped model's whole training job for one screen colour, sized for one lent H200.

Phases, each resumable (ship.json records the phase; the trainer resumes mid-phase from its own state):

1. `train`: the compact GreenFormer at 512 on the training generator (batch 32), plates drawn on the
   GPU (train/data.py), alpha loss with a small extra weight on the semi-transparent band;
2. `finetune`: continued at 1024 (pos_embed resized, batch 8) on plates with more hair, smoke, cloth,
   motion blur and defocus (focus "transparent"), the semi-transparent band weighted more. The cosine
   learning rate spans both phases (train/loop.py: time-based), so this is its low-rate tail;
3. `export`: the weights rounded to fp16 into `compact_<screen>.fp16.safetensors` (the checkpoint the
   graphs come from, so an fp32 export made later from it has the same source), then the fp16 graphs
   at 1024 into `export/` with their manifest (manifest.py: the screen's file names and record);
4. `eval`: the model in PyTorch on both held-out sets (quality.py) at 1024x576, plus, where the
   machine has ONNX Runtime, the exported fp16 graphs against PyTorch on one plate;
5. `record`: `ship_<screen>.json` (plan, recipe, train log, evaluation, manifest fragment, weights).

The wall budget (`minutes`) covers the whole job: training stops so that export and evaluation
(`reserve_minutes`) still fit. A killed job resumed with `resume=True` continues to the same training
totals (elapsed training time, not wall time) and redoes only unfinished phases.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..synth.common import check_screen
from .loop import LOG, RECIPE, Recipe, train

PHASES = ("train", "finetune", "export", "eval", "record", "done")
STATE = "ship.json"


@dataclass
class Plan:
    screen: str = "green"
    variant: str = "compact"
    seed: int = 0
    size: int = 512
    batch: int = 32
    ft_size: int = 1024
    ft_batch: int = 8
    minutes: float = 13.0          # wall budget of the whole job (python start-up excluded, ~0.5 min)
    reserve_minutes: float = 2.5   # kept for export + evaluation + record
    ft_fraction: float = 0.25      # share of the training time spent at ft_size
    lr: float = 1e-3
    warmup_steps: int = 200
    unknown_weight: float = 0.5
    ft_unknown_weight: float = 2.0
    data: str = "device"
    workers: int = 0
    export_size: int = 1024
    precisions: list[str] = field(default_factory=lambda: ["fp16"])
    eval_count: int = 8
    eval_height: int = 576
    eval_width: int = 1024
    save_every_s: float = 120.0
    # Issue 23's fine-tune (train/loop.py Recipe): start from trained weights, its plate focus(es), the
    # interior loss, near-exact hints, frozen BatchNorm. The defaults are the from-scratch recipe.
    init: str = ""
    focus: str = ""
    ft_focus: str = "transparent"
    interior_weight: float = 0.0
    exact_hint: float = 0.0
    freeze_bn: bool = False

    @property
    def train_s(self) -> float:
        return max(0.0, self.minutes - self.reserve_minutes) * 60.0


def weights_name(plan: Plan) -> str:
    return f"{plan.variant}_{plan.screen}.fp16.safetensors"


def record_name(screen: str) -> str:
    return f"ship_{screen}.json"


class ShipError(RuntimeError):
    pass


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def save_fp16_weights(src: Path, dst: Path, plan: Plan) -> str:
    """Float tensors rounded to fp16 (halves the file; the fp16 graphs round them anyway), others kept."""
    from safetensors.torch import load_file, save_file

    from ..checkpoint import sha256_file

    sd = load_file(str(src))
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in sd.items()}
    tmp = dst.with_name(dst.name + ".tmp")
    save_file(half, str(tmp), metadata={"format": "pt", "variant": plan.variant, "screen": plan.screen,
                                         "size": str(plan.ft_size)})
    os.replace(tmp, dst)
    return sha256_file(dst)


def _ort_check(folder: Path, model, screen: str, height: int, width: int, echo) -> dict:
    """Exported fp16 graphs vs the PyTorch model on one held-out plate (skipped without onnxruntime)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return {"skipped": "onnxruntime not installed"}
    from ..quality import OnnxModel, TorchKeyer, builtin_hint, heldout_plate

    p = heldout_plate(screen, "seed", 0, height, width)
    hint = builtin_hint(p)
    a_ort = OnnxModel(folder, "fp16", screen=screen).alpha(p.plate, bool(p.is_linear[0]), hint)
    a_pt = TorchKeyer(model, "cpu").alpha(p.plate, bool(p.is_linear[0]), hint)
    d = (a_ort - a_pt).abs()
    res = {"max_abs": round(float(d.max()), 5), "mean_abs": round(float(d.mean()), 6)}
    echo(json.dumps({"ort_fp16_vs_torch": res}))
    return res


def ship(out: Path, plan: Plan | None = None, resume: bool = False, device: str = "cuda",
         max_steps: int | None = None, minutes: float | None = None, echo=print) -> dict:
    t0 = time.monotonic()
    out = Path(out)
    state_path = out / STATE
    if resume:
        if not state_path.is_file():
            raise ShipError(f"no {STATE} in {out} to resume from")
        state = json.loads(state_path.read_text())
        plan = Plan(**state["plan"])
    else:
        if state_path.exists():
            raise ShipError(f"{out} already holds a job ({STATE}): resume it or use another folder")
        plan = plan or Plan()
        state = {"plan": asdict(plan), "phase": "train", "timings": {}}
    check_screen(plan.screen)
    out.mkdir(parents=True, exist_ok=True)
    wall = (minutes if minutes is not None else plan.minutes) * 60.0
    reserve = plan.reserve_minutes * 60.0
    ft_s = plan.train_s * plan.ft_fraction
    run = out / "run"

    def save_state(phase: str | None = None):
        if phase:
            state["phase"] = phase
        _write_json(state_path, state)

    def left(until: float) -> float:
        """Minutes of wall time from now to `until` seconds after this call's start."""
        return max(0.05, (until - (time.monotonic() - t0)) / 60.0)

    save_state()
    echo(json.dumps({"ship": plan.screen, "phase": state["phase"], "train_s": plan.train_s, "device": device}))
    if state["phase"] == "train":
        t = time.monotonic()
        recipe = Recipe(variant=plan.variant, size=plan.size, batch=plan.batch, seed=plan.seed, lr=plan.lr,
                        warmup_steps=plan.warmup_steps, budget_minutes=plan.train_s / 60.0, screen=plan.screen,
                        unknown_weight=plan.unknown_weight, data=plan.data, workers=plan.workers, focus=plan.focus,
                        interior_weight=plan.interior_weight, exact_hint=plan.exact_hint, freeze_bn=plan.freeze_bn,
                        init=plan.init)
        exists = (run / "train_state.pt").exists()
        train(run, left(wall - reserve - ft_s), recipe, resume=exists, device=device, max_steps=max_steps,
              save_every_s=plan.save_every_s, until_elapsed_s=plan.train_s - ft_s, echo=echo)
        state["timings"]["train_s"] = round(state["timings"].get("train_s", 0) + time.monotonic() - t, 1)
        save_state("finetune")
    if state["phase"] == "finetune":
        t = time.monotonic()
        retarget = {"size": plan.ft_size, "batch": plan.ft_batch, "focus": plan.ft_focus,
                    "unknown_weight": plan.ft_unknown_weight}
        train(run, left(wall - reserve), resume=True, device=device, max_steps=max_steps,
              save_every_s=plan.save_every_s, retarget=retarget, until_elapsed_s=plan.train_s, echo=echo)
        state["timings"]["finetune_s"] = round(state["timings"].get("finetune_s", 0) + time.monotonic() - t, 1)
        save_state("export")

    from ..pipeline import build_model, export_folder

    wpath = out / weights_name(plan)
    if state["phase"] == "export":
        t = time.monotonic()
        state["weights"] = {"file": wpath.name,
                            "sha256": save_fp16_weights(run / f"{plan.variant}.safetensors", wpath, plan)}
        try:
            model = build_model(plan.variant, plan.export_size, wpath, None)
            # The fused-GroupNorm GPU refiner is exported at install time, from the same weights
            # (it would make the collected files more than a transfer holds).
            export_folder(model, out / "export", list(plan.precisions), checkpoint=wpath, screen=plan.screen,
                          replace=True, gpu_refiner=False)
            state["export_error"] = None
        except Exception as e:  # a machine without onnxscript/onnxruntime: the weights still travel
            state["export_error"] = f"{type(e).__name__}: {e}"
            echo(json.dumps({"export_error": state["export_error"]}))
            traceback.print_exc()
        state["timings"]["export_s"] = round(time.monotonic() - t, 1)
        save_state("eval")
    if state["phase"] == "eval":
        t = time.monotonic()
        model = build_model(plan.variant, plan.export_size, wpath, None)
        try:
            state["eval"] = evaluate(model, plan, device, echo)
        except Exception as e:  # numbers are a courtesy here: never lose the trained model over them
            state["eval"] = {"error": f"{type(e).__name__}: {e}"}
            traceback.print_exc()
        if not state.get("export_error"):
            try:
                state["eval"]["ort_fp16_vs_torch"] = _ort_check(out / "export", model, plan.screen, plan.eval_height,
                                                                     plan.eval_width, echo)
            except Exception as e:
                state["eval"]["ort_fp16_vs_torch"] = {"error": f"{type(e).__name__}: {e}"}
        state["timings"]["eval_s"] = round(time.monotonic() - t, 1)
        save_state("record")
    if state["phase"] == "record":
        _write_json(out / record_name(plan.screen), make_record(out, plan, state))
        save_state("done")
    echo(json.dumps({"ship_done": plan.screen, "phase": state["phase"], "timings": state["timings"],
                     "export_error": state.get("export_error")}))
    return state


@torch.no_grad()
def evaluate(model, plan: Plan, device: str, echo=print) -> dict:
    """PyTorch numbers on both held-out sets (the same plates as the quality report's first ones)."""
    from ..quality import SETS, TARGETS, TorchKeyer, score_set, summarise

    keyer = TorchKeyer(model.to(device), device)
    res = {"count": plan.eval_count, "plate": [plan.eval_height, plan.eval_width]}
    for set_name in SETS:
        rows, _ = score_set(keyer, plan.screen, set_name, plan.eval_count, plan.eval_height, plan.eval_width,
                            sheet_rows=0, echo=lambda *_: None)
        s = summarise(rows)
        s["target_sad_ratio"] = TARGETS[plan.screen].get(set_name)
        res[set_name] = s
        echo(json.dumps({"eval": set_name, "hint_sad": round(s["hint"]["sad"], 3),
                         "model_sad": round(s["model"]["sad"], 3), "ratio": round(s["ratio"]["sad"], 3),
                         "target": s["target_sad_ratio"], "holes": round(s["interior"]["model"]["holes"], 5),
                         "holes_exact": round(s["interior"]["model_exact"]["holes"], 5),
                         "exact_hint_sad": round(s["exact"]["hint"]["sad"], 3),
                         "exact_model_sad": round(s["exact"]["model"]["sad"], 3)}))
    model.cpu()
    return res


def make_record(out: Path, plan: Plan, state: dict) -> dict:
    """Everything the install step and the docs need, in one file."""
    from ..synth import photos

    run = out / "run"
    manifest_path = out / "export" / "manifest.json"
    log = []
    if (run / LOG).is_file():
        log = [json.loads(line) for line in (run / LOG).read_text().splitlines() if line.strip()]
    return {
        "screen": plan.screen,
        "plan": asdict(plan),
        "recipe": json.loads((run / RECIPE).read_text()) if (run / RECIPE).is_file() else None,
        "weights": state.get("weights"),
        "manifest": json.loads(manifest_path.read_text()) if manifest_path.is_file() else None,
        "export_error": state.get("export_error"),
        "eval": state.get("eval"),
        "timings": state.get("timings"),
        "torch": torch.__version__,
        "photos": {"train": photos.available(photos.TRAIN_PHOTOS),
                   "holdout": photos.available(photos.HOLDOUT_PHOTOS + photos.HOLDOUT_SILHOUETTES)},
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "train_log": log,
    }

