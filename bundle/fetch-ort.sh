#!/usr/bin/env bash
# fetch-ort.sh cpu|gpu VERSION DEST: takes ONNX Runtime's shared libraries out of the PyPI wheel
# (onnxruntime or onnxruntime-gpu). pip's own cache makes the second run free.
set -euo pipefail
kind=$1 ver=$2 dest=$3
case "$kind" in
  cpu) pkg="onnxruntime==$ver"; libs=("libonnxruntime.so.$ver") ;;
  gpu) pkg="onnxruntime-gpu==$ver"
       libs=("libonnxruntime.so.$ver" libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so) ;;
  *) echo "usage: $0 cpu|gpu VERSION DEST" >&2; exit 2 ;;
esac
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 -d "$work" "$pkg"
mkdir -p "$dest"
( cd "$work" && unzip -q -o ./*.whl 'onnxruntime/capi/*.so*' )
for l in "${libs[@]}"; do install -m 0755 "$work/onnxruntime/capi/$l" "$dest/$l"; done
# TensorRT's provider is optional: take it when the wheel has it.
[ "$kind" = gpu ] && [ -f "$work/onnxruntime/capi/libonnxruntime_providers_tensorrt.so" ] && \
  install -m 0755 "$work/onnxruntime/capi/libonnxruntime_providers_tensorrt.so" "$dest/"
echo "ONNX Runtime $ver ($kind) in $dest:"; ls -la "$dest"
