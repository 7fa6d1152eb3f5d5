#!/usr/bin/env bash
# demo.sh BUNDLE OUT_DIR SIZE: keys a synthetic 1920x1080 green-screen plate through the real bundle
# with ofx-render (the Rust OFX host), writing linear half-float EXRs and sRGB PNG previews.
set -euo pipefail
bundle=$1 out=$2 size=$3
render="$(cd "$(dirname "$0")/.." && pwd)/target/release/ofx-render"
models="$bundle/Contents/Resources/models"
mkdir -p "$out"
case "$size" in 1024) q=0 ;; 1536) q=1 ;; *) q=2 ;; esac
"$render" --write-sample-plate "$out/plate.exr" --size 1920x1080
echo "demo: model folder $models"
python3 - "$models/manifest.json" <<'PY' || true
import json, sys
m = json.load(open(sys.argv[1]))
src = m.get("source", {})
what = f"checkpoint {src['checkpoint']}" if src.get("checkpoint") else f"SEEDED RANDOM WEIGHTS (seed {src.get('seed')}): the matte is not meaningful"
sizes = sorted({g["size"] for g in m["graphs"] if g["role"] == "coarse"})
print(f"demo: model {m['model']} ({m['variant']}), coarse sizes {sizes}, {what}")
PY
for show in Premultiplied Matte Composite Hint Status; do
  lower=$(echo "$show" | tr 'A-Z' 'a-z')
  "$render" "$out/plate.exr" -o "$out/$lower.exr" --preview "$out/$lower.png" \
    --bundle "$bundle" --param quality=$q --param "show=$show"
done
echo "demo: wrote $(ls "$out" | tr '\n' ' ') in $out"
