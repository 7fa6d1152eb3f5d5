#!/usr/bin/env bash
# The GPU round on the lent NVIDIA H200 (kinds nvidia-h200 / nvidia-h200-x2), after ONNX Runtime's
# GPU build is staged (../shared/tools/ort-gpu-pack, four calls). Binaries are built on the CPU
# machine, stripped and carried in .device/bin with .device/fixtures (tests/stage-cuda-gpu.sh).
#
#   bash bench/gpu-h200.sh setup     # bundle from the carried plugin, seeded exports (S=2048, 1024)
#   bash bench/gpu-h200.sh parity    # fp16 (and the fused-GroupNorm GPU refiner) against fp32
#   bash bench/gpu-h200.sh main      # ck-bench --mode all + PyTorch, no skip and simulated skip
#   bash bench/gpu-h200.sh levers    # one lever off at a time, memory knobs, S=1024, CPU path
#   bash bench/gpu-h200.sh cuda      # CUDA-image tests
#   bash bench/gpu-h200.sh cuda-bench  # ck-bench --cuda-images beside CPU images (host mode)
#
# Results land in $OUT (files named by step); every step appends its summary to $OUT/log.txt.
# BENCH_GPU picks the GPU (default 0) and BENCH_CPUS the cores (default all), so a training job can
# run on another GPU of the same machine without sharing cores.
set -uo pipefail
. ~/ortgpu/env.sh
export PYTHONPATH=$HOME/ortgpu/py:$PWD/onnx-export:$PWD/bench
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
M=/tmp/models
M1024=/tmp/models1024
BUNDLE=/tmp/bundle/CorridorKey.ofx.bundle
export CUDA_VISIBLE_DEVICES=${BENCH_GPU:-0}
# libcudart.so.13 (CUDA images: the plugin's and the test host's CUDA runtime) on the loader's path.
if ! ldconfig -p | grep -q 'libcudart.so.13 '; then
  c=$(find / -name 'libcudart.so.13' -not -path '/proc/*' 2>/dev/null | head -1)
  [ -n "$c" ] && export LD_LIBRARY_PATH=$(dirname "$c"):${LD_LIBRARY_PATH:-}
fi
PIN=()
[ -n "${BENCH_CPUS:-}" ] && PIN=(taskset -c "$BENCH_CPUS")
log() { echo "== $*" | tee -a "$OUT/log.txt"; }
B() { "${PIN[@]}" .device/bin/ck-bench --ort-lib "$ORT_DYLIB_PATH" --device cuda --bundle "$BUNDLE" "$@"; }
# One ck-bench run: its JSON and markdown under $OUT, the summary lines in the log.
run() {
  local tag=$1; shift
  log "$tag: $*"
  B "$@" --json "$OUT/$tag.json" --md "$OUT/$tag.md" > "$OUT/$tag.err" 2>&1
  local rc=$?
  grep -E "median|peak|path check|error|Error" "$OUT/$tag.err" | tail -8 | tee -a "$OUT/log.txt"
  [ $rc = 0 ] || { echo "$tag exited $rc" | tee -a "$OUT/log.txt"; tail -20 "$OUT/$tag.err"; }
}

case "${1:-}" in
setup)
  nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
  python3 -c "import onnxruntime as o, torch; print('ort', o.__version__, o.get_available_providers()); print('torch', torch.__version__)" | tee -a "$OUT/log.txt"
  mkdir -p "$BUNDLE/Contents/Linux-x86-64" "$BUNDLE/Contents/Resources/models"
  install -m 0755 .device/bin/CorridorKey.ofx "$BUNDLE/Contents/Linux-x86-64/CorridorKey.ofx"
  install -m 0644 bundle/Info.plist "$BUNDLE/Contents/Info.plist"
  # ONNX Runtime's GPU build and its providers beside the plugin, as in a GPU bundle.
  for f in "$(dirname "$ORT_DYLIB_PATH")"/libonnxruntime*.so*; do ln -sf "$f" "$BUNDLE/Contents/Linux-x86-64/"; done
  cp bundle/models/* "$BUNDLE/Contents/Resources/models/"
  log "export S=2048 fp32+fp16 (seeded real architecture)"
  /usr/bin/time -v python3 -m corridorkey_export export --seed 0 --size 2048 --precision fp32,fp16 --out $M \
    > "$OUT/export_2048.log" 2>&1 || { tail -30 "$OUT/export_2048.log"; exit 1; }
  grep -E "Elapsed|Maximum resident" "$OUT/export_2048.log" | tee -a "$OUT/log.txt"
  python3 -m corridorkey_export export --seed 0 --size 1024 --precision fp16 --out $M1024 \
    > "$OUT/export_1024.log" 2>&1 || { tail -30 "$OUT/export_1024.log"; exit 1; }
  ls -la $M $M1024 | tee -a "$OUT/log.txt"
  ;;
parity)
  log "fp16 parity S=2048 (and the GPU refiner)"
  python3 bench/fp16_parity.py --model-dir $M --size 2048 > "$OUT/parity_2048.json" 2> "$OUT/parity.err"
  tail -3 "$OUT/parity.err"; cat "$OUT/parity_2048.json" | tee -a "$OUT/log.txt"
  ;;
main)
  # The issue 11 table, re-measured in one run: engine, the bundle through the test host, PyTorch.
  run all2048_noskip --mode all --frames 12 --size 2048 --model-dir $M --no-skip --torch eager-fp16,compile-fp16
  run all2048_sim --mode all --frames 12 --size 2048 --model-dir $M --simulate-trained
  ;;
levers)
  export CORRIDORKEY_MODEL_DIR=$M
  run eng_default --frames 8 --size 2048 --model-dir $M --no-skip
  CORRIDORKEY_GPU_REFINER=0 run eng_no_fused_gn --frames 8 --size 2048 --model-dir $M --no-skip
  CORRIDORKEY_COARSE_MEMORY_PATTERN=1 run eng_coarse_pattern --frames 8 --size 2048 --model-dir $M --no-skip
  CORRIDORKEY_ARENA_INITIAL_MB=2560 run eng_arena2560 --frames 8 --size 2048 --model-dir $M --no-skip
  CORRIDORKEY_ARENA_INITIAL_MB=2560 CORRIDORKEY_COARSE_MEMORY_PATTERN=1 run eng_arena_both --frames 8 --size 2048 --model-dir $M --no-skip
  run eng_cpu_path --frames 6 --size 2048 --model-dir $M --no-skip --cpu-path
  run host1024_sim --mode host --frames 10 --size 1024 --model-dir $M1024 --simulate-trained
  run host1024_noskip --mode host --frames 10 --size 1024 --model-dir $M1024 --no-skip
  ;;
cuda)
  # Issue 12: the CUDA-image tests (render_cuda, engine_device_frame, carried in .device/bin by
  # tests/stage-cuda-gpu.sh) on this bundle, then the CUDA-image bench beside CPU images.
  log "CUDA-image tests"
  CK_GPU_BUNDLE=$BUNDLE bash tests/cuda-images-gpu.sh tests > "$OUT/cuda_tests.log" 2>&1
  echo "rc=$?" | tee -a "$OUT/log.txt"
  grep -E "^test |test result|SKIPPED" "$OUT/cuda_tests.log" | tail -40 | tee -a "$OUT/log.txt"
  ;;
cuda-bench)
  run host2048_cuda --mode host --frames 10 --size 2048 --model-dir $M --cuda-images --simulate-trained
  run host2048_cpuimg --mode host --frames 10 --size 2048 --model-dir $M --simulate-trained
  ;;
*)
  echo "usage: bench/gpu-h200.sh setup|parity|main|levers|cuda|cuda-bench" >&2
  exit 2
  ;;
esac
