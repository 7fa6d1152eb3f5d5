#!/usr/bin/env bash
# demo.sh BUNDLE OUT_DIR SIZE OFX_RENDER: keys the demo plate (hair, motion blur, a veil, spill, an
# uneven screen; tests/src/demo_plate.rs) ONCE through the real bundle with ofx-render, and writes
# every view from that one render plus a contact sheet.
set -euo pipefail
bundle=$1 out=$2 size=$3 render=$4
models="$bundle/Contents/Resources/models"
start=$(date +%s.%N)
mkdir -p "$out"
rm -f "$out"/*.exr "$out"/*.png
case "$size" in 1024) q=0 ;; 1536) q=1 ;; *) q=2 ;; esac
"$render" --write-demo-plate "$out/plate.exr" --size 1920x1080
python3 - "$models/manifest.json" <<'PY' || true
import json, sys
m = json.load(open(sys.argv[1]))
src = m.get("source", {})
what = f"checkpoint {src['checkpoint']}" if src.get("checkpoint") else f"SEEDED RANDOM WEIGHTS (seed {src.get('seed')}): the matte is not meaningful"
if m.get("variant") == "compact":
    what = "the shipped compact model (bundle/models/recipe.json)"
sizes = sorted({g["size"] for g in m["graphs"] if g["role"] == "coarse"})
print(f"demo: model {m['model']} ({m['variant']}), coarse sizes {sizes}: {what}")
PY
# One keyed render: the EXR carries the key (RGBA) with matte and hint layers; --views writes the
# key, hint, matte, checkerboard composite and status PNGs and the contact sheet from it.
"$render" "$out/plate.exr" -o "$out/keyed.exr" --layers --views "$out" \
  --bundle "$bundle" --param quality=$q
secs=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
echo "demo: wrote $(cd "$out" && ls | tr '\n' ' ')in $out (${secs} s)"
echo "demo: open the contact sheet first: $out/contact-sheet.png"
