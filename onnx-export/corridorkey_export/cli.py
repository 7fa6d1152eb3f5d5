"""`python -m corridorkey_export export|fixtures ...`"""

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
    return p


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
        else:
            from .fixtures import write_all

            for path in write_all(args.out):
                print(f"fixture set {path}")
    except (CheckpointError, ManifestError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
