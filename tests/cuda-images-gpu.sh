#!/usr/bin/env bash
# On a GPU machine, with .device/ staged by tests/stage-cuda-gpu.sh and ONNX Runtime's GPU build in
# ~/ortgpu (env.sh sets ORT_DYLIB_PATH and LD_LIBRARY_PATH): the CUDA-image tests, then the
# CUDA-image benchmark beside CPU images and the engine alone. Results in $OUT (default /tmp/out).
#   bash tests/cuda-images-gpu.sh [tests|bench|all]
# Bench settings: FRAMES (default 10), SIZE (default 2048; a seeded fp16 export is made for it).
set -uo pipefail
. ~/ortgpu/env.sh
D=$PWD/.device
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
# libcudart.so.13 (the plugin's and the test host's CUDA) normally sits beside cuBLAS on the path.
have_cudart() {
  ldconfig -p | grep -q 'libcudart.so.13 ' && return 0
  local IFS=:; for d in ${LD_LIBRARY_PATH:-}; do [ -e "$d/libcudart.so.13" ] && return 0; done
  return 1
}
if ! have_cudart; then
  c=$(find / -name 'libcudart.so.13' -not -path '/proc/*' 2>/dev/null | head -1)
  [ -n "$c" ] && export LD_LIBRARY_PATH=$(dirname "$c"):$LD_LIBRARY_PATH
fi
# A bundle from the carried plugin with the GPU build of ONNX Runtime and its providers beside it
# (CK_GPU_BUNDLE: one already laid out, as bench/gpu-h200.sh setup makes).
B=${CK_GPU_BUNDLE:-/tmp/ck-gpu/CorridorKey.ofx.bundle}
if [ -z "${CK_GPU_BUNDLE:-}" ]; then
  rm -rf /tmp/ck-gpu && mkdir -p "$B/Contents/Linux-x86-64" "$B/Contents/Resources/models"
  install -m 0755 "$D/bin/CorridorKey.ofx" "$B/Contents/Linux-x86-64/CorridorKey.ofx"
  install -m 0644 bundle/Info.plist "$B/Contents/Info.plist"
  cp bundle/models/* "$B/Contents/Resources/models/"
  for f in "$(dirname "$ORT_DYLIB_PATH")"/libonnxruntime*; do ln -sf "$f" "$B/Contents/Linux-x86-64/"; done
fi
export CORRIDORKEY_BUNDLE=$B CORRIDORKEY_FIXTURES=$D/fixtures
export CORRIDORKEY_TEST_MODEL_DIR=$D/fixtures/small_s128
export CORRIDORKEY_ORT_LIB=$ORT_DYLIB_PATH CORRIDORKEY_ORT_GPU_LIB=$ORT_DYLIB_PATH
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
rc=0
case "${1:-all}" in tests|all)
  for t in render_cuda engine_device_frame; do
    echo "== $t" | tee -a "$OUT/log.txt"
    "$D/bin/$t" --test-threads=1 --nocapture 2>&1 | tee "$OUT/$t.txt"
    rc=$((rc | PIPESTATUS[0]))
  done
  if grep -h SKIPPED "$OUT/render_cuda.txt" "$OUT/engine_device_frame.txt"; then
    echo "CUDA-image tests skipped on a GPU machine: see the lines above" | tee -a "$OUT/log.txt"; rc=1
  fi
  ;;
esac
case "${1:-all}" in bench|all)
  S=${SIZE:-2048}; M=/tmp/models
  if [ ! -f "$M/manifest.json" ]; then
    PYTHONPATH=$HOME/ortgpu/py:$PWD/onnx-export python3 -m corridorkey_export export --seed 0 --size "$S" \
      --precision fp16 --out "$M" > "$OUT/export.log" 2>&1 || { tail -20 "$OUT/export.log"; exit 1; }
  fi
  export CORRIDORKEY_MODEL_DIR=$M
  bench() { local tag=$1; shift; echo "== bench $tag: $*" | tee -a "$OUT/log.txt"
    "$D/bin/ck-bench" --model-dir "$M" --ort-lib "$ORT_DYLIB_PATH" --device cuda --bundle "$B" \
      --size "$S" --frames "${FRAMES:-10}" "$@" --json "$OUT/$tag.json" --md "$OUT/$tag.md" 2>&1 \
      | tail -6 | tee -a "$OUT/log.txt"
    rc=$((rc | PIPESTATUS[0])); }
  bench host_cuda_images --mode host --cuda-images
  bench host_cpu_images --mode host
  bench engine --mode engine
  ;;
esac
exit $rc
