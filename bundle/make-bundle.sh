#!/usr/bin/env bash
# make-bundle.sh BUNDLE CARGO_RELEASE_DIR ORT_DIR
# Lays out CorridorKey.ofx.bundle as OFX hosts expect (OFX packaging chapter):
#   Contents/Info.plist, Contents/Linux-x86-64/CorridorKey.ofx + ONNX Runtime beside it,
#   Contents/Resources/org.corridorkey.CorridorKey.png and models/.
set -euo pipefail
bundle=$1 rel=$2 ort=$3
here=$(cd "$(dirname "$0")" && pwd)
bin="$bundle/Contents/Linux-x86-64"
res="$bundle/Contents/Resources"
mkdir -p "$bin" "$res/models"
install -m 0755 "$rel/libcorridorkey.so" "$bin/CorridorKey.ofx"
# Debug info stays in target/; hosts load dozens of plugins, so ship the lean binary.
strip --strip-debug "$bin/CorridorKey.ofx"
# ONNX Runtime and (GPU builds) its providers side by side: ORT loads providers from its own folder.
rm -f "$bin"/libonnxruntime*
for f in "$ort"/libonnxruntime*; do install -m 0755 "$f" "$bin/"; done
install -m 0644 "$here/Info.plist" "$bundle/Contents/Info.plist"
# The shipped compact model (bundle/models) goes in unless an official export is already there.
if [ ! -f "$res/models/manifest.json" ] || grep -q '"variant": "compact"' "$res/models/manifest.json"; then
  rm -f "$res/models"/*
  install -m 0644 "$here/models"/* "$res/models/"
fi
install -m 0644 "$here/org.corridorkey.CorridorKey.png" "$res/org.corridorkey.CorridorKey.png"
# Only the OFX entry points may be exported (hosts dlopen many plugins into one process).
exported=$(nm -D --defined-only "$bin/CorridorKey.ofx" | awk '$2 ~ /^[TtWw]$/ {print $3}' | sort | tr '\n' ' ')
if [ "$exported" != "OfxGetNumberOfPlugins OfxGetPlugin OfxSetHost " ]; then
  echo "make-bundle: CorridorKey.ofx exports more than the OFX entry points: $exported" >&2
  exit 1
fi
echo "bundle: $bundle ($(du -sh "$bundle" | cut -f1))"
