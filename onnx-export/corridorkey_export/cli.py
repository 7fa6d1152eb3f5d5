"""`python -m corridorkey_export export|fixtures|synth|train|ship|install|quality|import-graphs|cpu-precision ...`"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .checkpoint import CheckpointError
from .install import InstallError
from .manifest import ManifestError
from .synth.photos import PhotoError
from .train.ship import ShipError
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
    e.add_argument("--variant", choices=list(VARIANTS), default=None,
                   help="architecture (default: recognised from the checkpoint's shapes; hiera_base_plus for --seed)")
    e.add_argument("--screen", choices=["green", "blue"], default="green",
                   help="screen colour the weights key (recorded in manifest.json; default green)")
    e.add_argument("--replace", action="store_true",
                   help="replace the folder's model for this screen when it comes from other weights")
    e.add_argument("--verbose", action="store_true")
    f = sub.add_parser("fixtures", help="write the deterministic test fixture sets")
    f.add_argument("--out", type=Path, required=True)
    _add_synth_commands(sub)
    return p


def _add_synth_commands(sub) -> None:
    from .train.loop import Recipe
    from .train.ship import Plan

    d = Recipe()
    s = sub.add_parser("synth", help="write synthetic plates (plate, hint, GT alpha/FG) as PNG contact sheets + .npy")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--count", type=int, default=8)
    s.add_argument("--height", type=int, default=512)
    s.add_argument("--width", type=int, default=512)
    s.add_argument("--screen", choices=["green", "blue"], default="green")
    s.add_argument("--family", choices=["train", "holdout"], default="train", help="generator configuration")
    s.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("train", help="train a GreenFormer variant on synthetic plates for at most --minutes (resumable)")
    t.add_argument("--out", type=Path, required=True, help="run folder: recipe.json, train_state.pt*, <variant>.safetensors, train_log.jsonl")
    t.add_argument("--minutes", type=float, required=True, help="wall-clock limit of this call, setup and final save included")
    t.add_argument("--resume", action="store_true", help="continue from --out's own state (the recipe is read from it)")
    t.add_argument("--device", default="cuda")
    t.add_argument("--variant", choices=list(VARIANTS), default=d.variant)
    t.add_argument("--screen", choices=["green", "blue"], default=d.screen)
    t.add_argument("--size", type=_size, default=None, help=f"training plate/model size S (default {d.size}; "
                   "with --resume: continue at this size, pos_embed resized)")
    t.add_argument("--batch", type=int, default=None, help=f"batch size (default {d.batch}; with --resume: change it)")
    t.add_argument("--focus", choices=["", "transparent"], default=None,
                   help="plate emphasis ('transparent': more hair, smoke, cloth, blur); with --resume: change it")
    t.add_argument("--unknown-weight", type=float, default=None,
                   help="extra alpha L1 weight on the semi-transparent band; with --resume: change it")
    t.add_argument("--data", choices=["device", "workers"], default=d.data,
                   help="draw plates on the training device, or in CPU DataLoader workers")
    t.add_argument("--workers", type=int, default=0, help="DataLoader workers for --data workers (0: CPU count - 1)")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    t.add_argument("--budget-minutes", type=float, default=d.budget_minutes, help="total training time the cosine LR schedule spans")
    t.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in this call")
    t.add_argument("--log-every", type=int, default=25)
    t.add_argument("--save-every", type=float, default=180.0, help="seconds between checkpoints")
    p = Plan()
    sh = sub.add_parser("ship", help="the shipped model's whole job for one screen: train 512, fine-tune 1024, "
                        "export, evaluate, record (resumable; onnx-export/gpu/train_ship.sh runs it)")
    sh.add_argument("--screen", choices=["green", "blue"], required=True)
    sh.add_argument("--out", type=Path, required=True, help="job folder (ship.json, run/, export/, ship_<screen>.json)")
    sh.add_argument("--resume", action="store_true", help="continue the job in --out (its plan is read from it)")
    sh.add_argument("--device", default="cuda")
    sh.add_argument("--minutes", type=float, default=None, help=f"wall budget of the whole job (default {p.minutes})")
    sh.add_argument("--reserve-minutes", type=float, default=p.reserve_minutes, help="kept for export + evaluation")
    sh.add_argument("--variant", choices=list(VARIANTS), default=p.variant)
    sh.add_argument("--seed", type=int, default=p.seed)
    sh.add_argument("--size", type=_size, default=p.size)
    sh.add_argument("--batch", type=int, default=p.batch)
    sh.add_argument("--ft-size", type=_size, default=p.ft_size)
    sh.add_argument("--ft-batch", type=int, default=p.ft_batch)
    sh.add_argument("--ft-fraction", type=float, default=p.ft_fraction)
    sh.add_argument("--lr", type=float, default=p.lr)
    sh.add_argument("--warmup-steps", type=int, default=p.warmup_steps)
    sh.add_argument("--export-size", type=_size, default=p.export_size)
    sh.add_argument("--precision", type=_precisions, default=p.precisions)
    sh.add_argument("--eval-count", type=int, default=p.eval_count)
    sh.add_argument("--eval-height", type=int, default=p.eval_height)
    sh.add_argument("--eval-width", type=int, default=p.eval_width)
    sh.add_argument("--data", choices=["device", "workers"], default=p.data)
    sh.add_argument("--workers", type=int, default=p.workers)
    sh.add_argument("--save-every", type=float, default=p.save_every_s)
    sh.add_argument("--max-steps", type=int, default=None, help="at most this many steps per training phase (tests)")
    sh.add_argument("--init", default=p.init, help="start from these weights (safetensors) instead of random ones")
    sh.add_argument("--focus", default=p.focus, help="plate focus of the first phase; '+' joins several, taken in turn")
    sh.add_argument("--ft-focus", default=p.ft_focus, help="plate focus of the fine-tune phase")
    sh.add_argument("--interior-weight", type=float, default=p.interior_weight, help="weight of -log(alpha) in opaque interiors")
    sh.add_argument("--exact-hint", type=float, default=p.exact_hint, help="share of plates with a near-exact hint")
    sh.add_argument("--freeze-bn", action="store_true", help="BatchNorm in eval mode while training (fine-tunes)")
    sh.add_argument("--unknown-weight", type=float, default=p.unknown_weight)
    sh.add_argument("--ft-unknown-weight", type=float, default=p.ft_unknown_weight)
    i = sub.add_parser("install", help="install collected trained models (ship_<screen>.json + graphs + weights) "
                       "into a model folder, one merged manifest")
    i.add_argument("collected", type=Path, nargs="+", help="folders written by train_ship.sh collect")
    i.add_argument("--out", type=Path, required=True, help="model folder, e.g. ../bundle/models")
    i.add_argument("--fp32", action="store_true", help="also export fp32 graphs here from the collected weights")
    k = sub.add_parser("kernels", help="write the weight-free device-side refine graphs the plugin embeds")
    k.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "plugin" / "kernels")
    q = sub.add_parser("quality", help="SAD/MSE/gradient/connectivity of a model folder's models and of the built-in "
                       "hint on the held-out sets (by seed and by generator), per screen colour")
    q.add_argument("--model-dir", type=Path, required=True)
    q.add_argument("--count", type=int, default=16, help="plates per screen and set (about 20 s each on 2 cores)")
    q.add_argument("--height", type=int, default=576)
    q.add_argument("--width", type=int, default=1024)
    q.add_argument("--screens", default="green,blue", help="screen colours to score (default both)")
    q.add_argument("--sets", default="seed,generator,solid", help="held-out sets to score (default all three)")
    q.add_argument("--precision", choices=["fp32", "fp16"], default=None, help="default: fp32 if the folder has it")
    q.add_argument("--out", type=Path, required=True)
    ig = sub.add_parser("import-graphs", help="recover a model folder's weights (one screen) from its fp16 graphs "
                        "into a safetensors file, checked against the graphs (the start of a fine-tune)")
    ig.add_argument("--model-dir", type=Path, required=True)
    ig.add_argument("--screen", choices=["green", "blue"], default="green")
    ig.add_argument("--out", type=Path, required=True, help="safetensors file to write")
    c = sub.add_parser("cpu-precision", help="fp32 vs fp16 graphs on ONNX Runtime CPU: time per frame and alpha "
                       "difference (decides whether an fp32 copy helps CPU users)")
    c.add_argument("--checkpoint", type=Path, default=None, help="weights (default: seeded compact weights)")
    c.add_argument("--size", type=_size, default=512)
    c.add_argument("--count", type=int, default=4)
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("--out", type=Path, default=None, help="write results.json-style numbers here")


def _run_synth_command(args) -> None:
    if args.cmd == "train":
        from .train.loop import Recipe, train

        d = Recipe()
        recipe = Recipe(variant=args.variant, size=args.size or d.size, batch=args.batch or d.batch, seed=args.seed,
                        lr=args.lr, warmup_steps=args.warmup_steps, budget_minutes=args.budget_minutes,
                        screen=args.screen, focus=args.focus or "",
                        unknown_weight=args.unknown_weight if args.unknown_weight is not None else d.unknown_weight,
                        data=args.data, workers=args.workers)
        retarget = {k: v for k, v in (("size", args.size), ("batch", args.batch), ("focus", args.focus),
                                      ("unknown_weight", args.unknown_weight)) if v is not None}
        train(args.out, args.minutes, recipe, resume=args.resume, device=args.device, log_every=args.log_every,
              save_every_s=args.save_every, max_steps=args.max_steps, retarget=retarget if args.resume else None)
    elif args.cmd == "ship":
        from .train.ship import Plan, ship

        plan = Plan(screen=args.screen, variant=args.variant, seed=args.seed, size=args.size, batch=args.batch,
                    ft_size=args.ft_size, ft_batch=args.ft_batch, ft_fraction=args.ft_fraction, lr=args.lr,
                    warmup_steps=args.warmup_steps, export_size=args.export_size, precisions=args.precision,
                    eval_count=args.eval_count, eval_height=args.eval_height, eval_width=args.eval_width,
                    data=args.data, workers=args.workers, save_every_s=args.save_every,
                    reserve_minutes=args.reserve_minutes, init=args.init, focus=args.focus, ft_focus=args.ft_focus,
                    interior_weight=args.interior_weight, exact_hint=args.exact_hint, freeze_bn=args.freeze_bn,
                    unknown_weight=args.unknown_weight, ft_unknown_weight=args.ft_unknown_weight,
                    **({"minutes": args.minutes} if args.minutes else {}))
        ship(args.out, plan, resume=args.resume, device=args.device, max_steps=args.max_steps,
             minutes=args.minutes if args.resume else None)
    elif args.cmd == "install":
        from .install import install

        m = install(args.collected, args.out, fp32=args.fp32)
        print(f"{args.out}/manifest.json: " + ", ".join(g["file"] for g in m["graphs"]))
    elif args.cmd == "quality":
        from .quality import run_report

        screens = tuple(s.strip() for s in args.screens.split(",") if s.strip())
        sets = tuple(s.strip() for s in args.sets.split(",") if s.strip())
        res = run_report(args.model_dir, args.out, args.count, args.height, args.width, args.precision, screens,
                         echo=lambda *_: None, sets=sets)
        for screen, entry in res["screens"].items():
            for set_name, s in entry["sets"].items():
                summ = s["summary"]
                target = summ.get("target_sad_ratio")
                model = (f"model {summ['model']['sad']:.3f} (x{summ['ratio']['sad']:.3f}"
                         + (f", target x{target:.2f})" if target is not None else ")") if "model" in summ else "no model")
                inter = summ["interior"]
                holes = "".join(f" {who} {100 * inter[who]['holes']:.2f} %" for who in ("hint", "model", "model_exact")
                                if who in inter)
                exact = summ["exact"]
                near = (f"; near-exact hint SAD {exact['hint']['sad']:.3f} model {exact['model']['sad']:.3f}"
                        if "model" in exact else "")
                print(f"{screen} {set_name}: SAD hint {summ['hint']['sad']:.3f} {model}; interior holes:{holes}{near}")
        print(f"report in {args.out / 'report.md'}")
    elif args.cmd == "import-graphs":
        from .onnx_import import import_graphs

        res = import_graphs(args.model_dir, args.screen, args.out)
        print(f"{res['weights']}: max |alpha| difference to the graphs {res['max_abs_alpha_vs_graphs']:.5f}")
    elif args.cmd == "cpu-precision":
        from .precision import measure

        measure(args.checkpoint, args.size, args.count, args.threads, args.out)
    else:
        from .synth.dump import dump

        for path in dump(args.out, args.seed, args.count, args.height, args.width, args.screen, args.family):
            print(path)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.cmd == "export":
            from .pipeline import build_model, export_folder

            t0 = time.time()
            model = build_model(args.variant, args.size, args.checkpoint, args.seed)
            manifest = export_folder(model, args.out, args.precision, checkpoint=args.checkpoint,
                                     seed=args.seed, verbose=args.verbose, screen=args.screen, replace=args.replace)
            names = [g["file"] for g in manifest["graphs"] if g.get("screen", "green") == args.screen]
            print(f"exported {model.variant.name} ({args.screen} screen) to {args.out} in {time.time() - t0:.1f} s: "
                  f"{', '.join(names)}")
        elif args.cmd == "kernels":
            from .kernels import write_all as write_kernels

            paths = write_kernels(args.out)
            print(f"wrote {len(paths)} kernel graphs to {args.out}")
        elif args.cmd in ("synth", "train", "ship", "install", "quality", "import-graphs", "cpu-precision"):
            _run_synth_command(args)
        else:
            from .fixtures import write_all

            for path in write_all(args.out):
                print(f"fixture set {path}")
    except (CheckpointError, ManifestError, InstallError, ShipError, PhotoError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
