#!/usr/bin/env bash
# Install the collected trained models into bundle/models with one merged manifest.json (both screens):
#
#   bash onnx-export/gpu/install_models.sh DIR_GREEN DIR_BLUE [--fp32]
#
# Each DIR is what `train_ship.sh collect COLOUR DIR` wrote. Checks every file against its record,
# replaces that screen's model in bundle/models (other screens stay), writes train_<screen>.json.
# --fp32 also exports fp32 graphs here from the collected weights. Then regenerate the quality report:
#   cd onnx-export && ../.venv/bin/python -m corridorkey_export quality --model-dir ../bundle/models --out ../docs/quality
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
args=()
for a in "$@"; do
    if [[ "$a" == -* ]]; then args+=("$a"); else args+=("$(cd "$a" && pwd)"); fi
done
cd "$ROOT/onnx-export"
exec "$PY" -m corridorkey_export install --out "$ROOT/bundle/models" "${args[@]}"
