"""Time-boxed, resumable training of a GreenFormer variant on synthetic plates.

One call trains for at most `minutes` of wall time (setup and the final save included) and, with
`until_elapsed_s`, stops once the run's training time reaches that total (so a killed and resumed job
ends where an uninterrupted one would). It saves every `save_every_s` and at the end; `resume`
continues from the folder's own state, optionally retargeted (`retarget`: another size/batch, a data
focus, a loss weight, e.g. a fine-tune at the export size on semi-transparent plates; recipe.json
records each stage). A fresh run may start from trained weights (`init`: a safetensors file, e.g. the
shipped model's, recovered from its graphs by onnx_import.py) instead of random ones; `freeze_bn` then
keeps the decoders' BatchNorm in eval mode (its statistics come with the weights, and a fine-tune's
small batches would only add noise to them). The learning rate follows the *time* spent (warmup in steps, then cosine over
`budget_minutes` of total training), so a run split into several chunks follows the same schedule as
one long run.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..checkpoint import load_into, resize_pos_embed
from ..model import GreenFormer, compose
from .data import make_batch, worker_batches
from .losses import losses
from .state import load_state, save_state

LOG = "train_log.jsonl"
RECIPE = "recipe.json"


@dataclass
class Recipe:
    variant: str = "compact"
    size: int = 512
    batch: int = 16
    seed: int = 0
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 200
    budget_minutes: float = 18.0
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    screen: str = "green"
    focus: str = ""              # "" or "transparent" (more hair, smoke, cloth, blur: synth.plates)
    unknown_weight: float = 0.0  # extra alpha L1 inside the semi-transparent band (losses.py)
    data: str = "device"         # "device" (plates drawn on the training device) or "workers" (CPU DataLoader)
    workers: int = 0             # DataLoader workers for data="workers"
    interior_weight: float = 0.0  # -log(alpha) inside opaque subjects away from edges (losses.py, issue 23)
    exact_hint: float = 0.0       # share of plates given a near-exact hint (synth/perturb.py, issue 23)
    freeze_bn: bool = False       # BatchNorm in eval mode while training (fine-tunes from `init`)
    init: str = ""                # start a fresh run from these weights (safetensors); "" = random


STAGE_KEYS = ("size", "batch", "focus", "unknown_weight", "interior_weight", "exact_hint")
RETARGET_KEYS = STAGE_KEYS
OPTIONAL_STAGE_KEYS = ("interior_weight", "exact_hint")


def lr_at(r: Recipe, step: int, elapsed_s: float) -> float:
    warm = min(1.0, (step + 1) / max(1, r.warmup_steps))
    progress = min(1.0, elapsed_s / (r.budget_minutes * 60.0))
    cos = 0.5 * (1.0 + math.cos(math.pi * progress))
    return r.lr * warm * (r.min_lr_ratio + (1.0 - r.min_lr_ratio) * cos)


def forward(model: GreenFormer, x: torch.Tensor, amp: bool) -> dict[str, torch.Tensor]:
    """GreenFormer's forward with the networks in bf16 autocast but logits, sigmoids and the residual
    in fp32 (bf16 alpha would be quantised to 1/256 near 0 and 1, where mattes live)."""
    dt = x.device.type
    with torch.autocast(dt, dtype=torch.bfloat16, enabled=amp):
        a_log, f_log = model.coarse(x)

    def refiner(rin: torch.Tensor) -> torch.Tensor:
        with torch.autocast(dt, dtype=torch.bfloat16, enabled=amp):
            return model.refiner.forward_packed(rin).float()

    return compose(x, a_log.float(), f_log.float(), refiner)


def _retarget(model: GreenFormer, opt: torch.optim.Optimizer, r: Recipe, size: int, dev):
    """Continue at another training size (e.g. fine-tune at the export size): same weights with
    pos_embed resized as the checkpoint loader does, and the optimizer's pos_embed moments likewise."""
    new = GreenFormer(r.variant, size).to(dev)
    load_into(new, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    new_opt = _optimizer(new, r)
    sd = opt.state_dict()
    names = [n for n, _ in model.named_parameters()]
    ordered = [p for g in opt.param_groups for p in g["params"]]
    index = {id(p): i for i, p in enumerate(ordered)}
    pos = index[id(dict(model.named_parameters())["encoder.model.pos_embed"])] if "encoder.model.pos_embed" in names else None
    if pos is not None and pos in sd["state"]:
        tokens = new.encoder.model.pos_embed.shape[1]
        moments = sd["state"][pos]
        moments["exp_avg"] = resize_pos_embed(moments["exp_avg"].float().cpu(), tokens)
        moments["exp_avg_sq"] = resize_pos_embed(moments["exp_avg_sq"].float().cpu(), tokens).clamp(min=0)
    new_opt.load_state_dict(sd)
    return _train_mode(new, r), new_opt


def _train_mode(model: GreenFormer, r: Recipe) -> GreenFormer:
    model.train()
    if r.freeze_bn:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
    return model


def _optimizer(model: torch.nn.Module, r: Recipe) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and not name.endswith("pos_embed") else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": r.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=r.lr, betas=(0.9, 0.99))


def train(out: Path, minutes: float, recipe: Recipe | None = None, resume: bool = False, device: str = "cuda",
          log_every: int = 25, save_every_s: float = 180.0, max_steps: int | None = None,
          save_reserve_s: float = 20.0, retarget: dict | None = None, until_elapsed_s: float | None = None,
          echo=print) -> dict:
    t_start = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        # No cudnn.benchmark: plate shapes and hint kernels change from step to step (re-tuning each).

    if resume:
        saved = json.loads((out / RECIPE).read_text())
        stages = saved.pop("stages", [])
        r = Recipe(**saved)
    else:
        r, stages = recipe or Recipe(), []
    torch.manual_seed(r.seed)
    model = GreenFormer(r.variant, r.size)
    if r.init and not resume:
        from safetensors.torch import load_file

        load_into(model, {k: v.float() for k, v in load_file(r.init).items()})
    model = model.to(dev)
    opt = _optimizer(model, r)
    step, elapsed = 0, 0.0
    if resume:
        st = load_state(out, model, dev)
        opt.load_state_dict(st["optimizer"])
        step, elapsed = st["step"], st["elapsed_s"]
        torch.set_rng_state(st["rng_cpu"])
        if dev.type == "cuda" and st.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(st["rng_cuda"])
        retarget = {k: v for k, v in (retarget or {}).items() if k in RETARGET_KEYS}
        if retarget.get("size", r.size) != r.size:
            model, opt = _retarget(model, opt, r, retarget["size"], dev)
        r = replace(r, **retarget)
    if not stages or any(stages[-1].get(k, getattr(Recipe, k, None)) != getattr(r, k) for k in STAGE_KEYS):
        # The recipe records from which step each stage (size, batch, focus, weight) ran: replayable.
        # Issue 23's terms are recorded only when set, so recipes of runs without them read as before.
        stages.append({"from_step": step, **{k: getattr(r, k) for k in STAGE_KEYS
                                             if k not in OPTIONAL_STAGE_KEYS or getattr(r, k) != getattr(Recipe, k)}})
    (out / RECIPE).write_text(json.dumps({**asdict(r), "stages": stages}, indent=2) + "\n")
    _train_mode(model, r)
    weights_name = f"{r.variant}.safetensors"
    amp = dev.type == "cuda"

    def save():
        save_state(out, weights_name, model, {
            "step": step, "elapsed_s": elapsed, "optimizer": opt.state_dict(), "recipe": asdict(r),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state() if dev.type == "cuda" else None})

    limit = minutes * 60.0
    last_save = time.monotonic()
    acc: dict[str, torch.Tensor] = {}
    n_acc, t_log, steps_this_call, step_s, data_s = 0, time.monotonic(), 0, 0.0, 0.0
    feed = None
    if r.data == "workers":
        workers = r.workers or max(1, (torch.get_num_threads() or 2) - 1)
        feed = worker_batches(r.batch, r.size, r.seed, step, r.screen, r.focus, workers, dev.type == "cuda",
                              r.exact_hint)
    elif r.data != "device":
        raise ValueError(f"recipe data must be 'device' or 'workers', got {r.data!r}")
    log = open(out / LOG, "a")
    try:
        while True:
            now = time.monotonic()
            if max_steps is not None and steps_this_call >= max_steps:
                break
            if until_elapsed_s is not None and elapsed >= until_elapsed_s:
                break
            if now - t_start + 1.5 * step_s + save_reserve_s > limit:
                break
            t0 = time.monotonic()
            lr = lr_at(r, step, elapsed)
            for gr in opt.param_groups:
                gr["lr"] = lr
            if feed is not None:
                b = next(feed).to(dev, non_blocking=True)
            else:
                b = make_batch(r.batch, r.size, r.seed, step, dev, r.screen, r.focus, exact_fraction=r.exact_hint)
            data_s += time.monotonic() - t0
            res = forward(model, b.x, amp)
            terms = losses(res, b.alpha, b.fg, b.bg, r.unknown_weight, r.interior_weight)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), r.grad_clip)
            opt.step()
            for k, v in terms.items():
                acc[k] = acc.get(k, 0.0) + v.detach()
            acc["grad_norm"] = acc.get("grad_norm", 0.0) + gnorm.detach()
            n_acc += 1
            step += 1
            steps_this_call += 1
            if step % log_every == 0 or steps_this_call == 1:
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t1 = time.monotonic()
                rec = {"step": step, "elapsed_s": round(elapsed + (t1 - t0), 2), "lr": lr, "size": r.size,
                       "steps_per_s": round(n_acc / max(t1 - t_log, 1e-9), 3),
                       "data_s": round(data_s / n_acc, 4)}
                rec.update({k: round(float(v) / n_acc, 5) for k, v in acc.items()})
                log.write(json.dumps(rec) + "\n")
                log.flush()
                echo(json.dumps(rec))
                acc, n_acc, t_log, data_s = {}, 0, t1, 0.0
            t1 = time.monotonic()
            step_s = t1 - t0 if steps_this_call > 1 else step_s
            elapsed += t1 - t0
            if t1 - last_save > save_every_s:
                save()
                last_save = time.monotonic()
    finally:
        log.close()
        if feed is not None:
            feed.close()
    save()
    summary = {"step": step, "elapsed_s": round(elapsed, 1), "steps_this_call": steps_this_call,
               "wall_s": round(time.monotonic() - t_start, 1), "weights": str(out / weights_name)}
    if dev.type == "cuda":
        summary["max_memory_gib"] = round(torch.cuda.max_memory_allocated(dev) / 2**30, 2)
    echo(json.dumps({"done": summary}))
    return summary
