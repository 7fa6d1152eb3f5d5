"""`python -m corridorkey_export export|fixtures|synth|train|quality ...`"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .checkpoint import CheckpointError
from .manifest import ManifestError
from .model import VARIANTS, check_size


def _precisions(text: str) -> list[str]:
    items = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in items if p not in ("fp32", "fp16")]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"precisions are fp32 and/or fp16, got {text!r}")
    return list(dict.fromkeys(items))


def _size(text: str) -> int:
    try:
        s = int(text)
        check_size(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return s


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="corridorkey_export")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="export coarse_<S> and refiner graphs + manifest.json")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help=".pth or .safetensors CorridorKey checkpoint")
    src.add_argument("--seed", type=int, help="seeded random weights instead of a checkpoint")
    e.add_argument("--size", type=_size, required=True, help="model input size S (multiple of 32)")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--precision", type=_precisions, default=["fp32", "fp16"], help="fp32,fp16 (default both)")
    e.add_argument("--variant", choices=list(VARIANTS), default="hiera_base_plus")
    e.add_argument("--verbose", action="store_true")
    f = sub.add_parser("fixtures", help="write the deterministic test fixture sets")
    f.add_argument("--out", type=Path, required=True)
    _add_synth_commands(sub)
    return p


def _add_synth_commands(sub) -> None:
    from .train.loop import Recipe

    d = Recipe()
    s = sub.add_parser("synth", help="write synthetic plates (plate, hint, GT alpha/FG) as PNG contact sheets + .npy")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--count", type=int, default=8)
    s.add_argument("--height", type=int, default=512)
    s.add_argument("--width", type=int, default=512)
    s.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("train", help="train a GreenFormer variant on synthetic plates for at most --minutes (resumable)")
    t.add_argument("--out", type=Path, required=True, help="run folder: recipe.json, train_state.pt*, <variant>.safetensors, train_log.jsonl")
    t.add_argument("--minutes", type=float, required=True, help="wall-clock limit of this call, setup and final save included")
    t.add_argument("--resume", action="store_true", help="continue from --out's own state (the recipe is read from it)")
    t.add_argument("--device", default="cuda")
    t.add_argument("--variant", choices=list(VARIANTS), default=d.variant)
    t.add_argument("--size", type=_size, default=None, help=f"training plate/model size S (default {d.size}; "
                   "with --resume: continue at this size, pos_embed resized)")
    t.add_argument("--batch", type=int, default=None, help=f"batch size (default {d.batch}; with --resume: change it)")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    t.add_argument("--budget-minutes", type=float, default=d.budget_minutes, help="total training time the cosine LR schedule spans")
    t.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in this call")
    t.add_argument("--log-every", type=int, default=25)
    t.add_argument("--save-every", type=float, default=180.0, help="seconds between checkpoints")
    k = sub.add_parser("kernels", help="write the weight-free device-side refine graphs the plugin embeds")
    k.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "plugin" / "kernels")
    q = sub.add_parser("quality", help="SAD/MSE of a model folder and of the built-in hint on held-out synthetic plates")
    q.add_argument("--model-dir", type=Path, required=True)
    q.add_argument("--seed", type=int, required=True, help="held-out seed (use one not used for training)")
    q.add_argument("--count", type=int, default=24)
    q.add_argument("--height", type=int, default=576)
    q.add_argument("--width", type=int, default=1024)
    q.add_argument("--precision", choices=["fp32", "fp16"], default=None, help="default: fp32 if the folder has it")
    q.add_argument("--out", type=Path, required=True)


def _run_synth_command(args) -> None:
    if args.cmd == "train":
        from .train.loop import Recipe, train

        d = Recipe()
        recipe = Recipe(variant=args.variant, size=args.size or d.size, batch=args.batch or d.batch, seed=args.seed,
                        lr=args.lr, warmup_steps=args.warmup_steps, budget_minutes=args.budget_minutes)
        retarget = {k: v for k, v in (("size", args.size), ("batch", args.batch)) if v is not None}
        train(args.out, args.minutes, recipe, resume=args.resume, device=args.device, log_every=args.log_every,
              save_every_s=args.save_every, max_steps=args.max_steps, retarget=retarget if args.resume else None)
    elif args.cmd == "quality":
        from .quality import run_report

        s = run_report(args.model_dir, args.seed, args.count, args.out, args.height, args.width, args.precision)
        a = s["all"]
        print(f"SAD hint {a['hint_sad']:.3f} model {a['model_sad']:.3f} (reduction {100 * s['sad_reduction']:.1f} %), "
              f"MSE hint {a['hint_mse']:.5f} model {a['model_mse']:.5f}; report in {args.out / 'report.md'}")
    else:
        from .synth.dump import dump

        for path in dump(args.out, args.seed, args.count, args.height, args.width):
            print(path)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.cmd == "export":
            from .pipeline import build_model, export_folder

            t0 = time.time()
            model = build_model(args.variant, args.size, args.checkpoint, args.seed)
            manifest = export_folder(model, args.out, args.precision, checkpoint=args.checkpoint,
                                     seed=args.seed, verbose=args.verbose)
            names = [g["file"] for g in manifest["graphs"]]
            print(f"exported to {args.out} in {time.time() - t0:.1f} s: {', '.join(names)}")
        elif args.cmd == "kernels":
            from .kernels import write_all as write_kernels

            paths = write_kernels(args.out)
            print(f"wrote {len(paths)} kernel graphs to {args.out}")
        elif args.cmd in ("synth", "train", "quality"):
            _run_synth_command(args)
        else:
            from .fixtures import write_all

            for path in write_all(args.out):
                print(f"fixture set {path}")
    except (CheckpointError, ManifestError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
