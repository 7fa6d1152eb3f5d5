"""`synth` command: write plates of either generator family to disk for inspection or other tools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def dump(out: Path, seed: int, count: int, height: int, width: int, screen: str = "green",
         family: str = "train") -> list[Path]:
    """Per plate i: plate_i.npy ([H,W,3] in its encoding), hint/alpha ([H,W]), fg ([H,W,3] sRGB straight),
    meta in plates.json, and one contact PNG (plate | built-in hint | GT alpha | GT FG)."""
    from ..quality import _sheet, _tile, builtin_hint, plate_generator, write_png
    from .plates import make_plates

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written, meta, rows = [], [], []
    for i in range(count):
        p = make_plates(1, height, width, plate_generator(seed, i), "cpu", screen=screen, family=family)
        hint = builtin_hint(p)
        for name, t in (("plate", p.plate[0].permute(1, 2, 0)), ("hint", hint[0, 0]), ("alpha", p.alpha[0, 0]),
                        ("fg", p.fg[0].permute(1, 2, 0))):
            path = out / f"{name}_{i:03d}.npy"
            np.save(path, t.numpy().astype("<f4"))
            written.append(path)
        meta.append({"index": i, "encoding": "linear" if bool(p.is_linear[0]) else "srgb"})
        rows.append([_tile(p.srgb[0]), _tile(hint[0]), _tile(p.alpha[0]), _tile(p.fg[0])])
    info = {"seed": seed, "height": height, "width": width, "screen": screen, "family": family, "plates": meta}
    (out / "plates.json").write_text(json.dumps(info, indent=2) + "\n")
    sheet = out / "contact.png"
    write_png(sheet, _sheet(rows))
    return written + [out / "plates.json", sheet]
