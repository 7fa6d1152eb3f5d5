#!/usr/bin/env bash
# On the lent H100, after ORT GPU staging (../shared/tools/ort-gpu-pack): exports the real architecture
# with seeded weights, checks fp16 CUDA against fp32, and runs ck-bench (binaries carried in .device/bin).
#   bash bench/gpu-h100.sh engine|torch
set -uo pipefail
. ~/ortgpu/env.sh
export PYTHONPATH=$HOME/ortgpu/py:$PWD/onnx-export:$PWD/bench
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
M=/tmp/models
log() { echo "== $*" | tee -a "$OUT/log.txt"; }
# Device-level memory (CUDA context included), sampled every 20 ms while a command runs.
with_peak() {
  local tag=$1; shift
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 20 > "/tmp/mem_$tag.txt" &
  local mon=$!
  "$@"; local rc=$?
  kill $mon; wait $mon 2>/dev/null
  echo "$tag device_peak_mib=$(sort -n /tmp/mem_$tag.txt | tail -1) baseline_mib=$(head -1 /tmp/mem_$tag.txt)" | tee -a "$OUT/peaks.txt"
  return $rc
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
case "${1:-engine}" in
engine)
  for s in 2048 1536 1024; do
    log "export S=$s"
    /usr/bin/time -v python3 -m corridorkey_export export --seed 0 --size $s --precision fp32,fp16 --out $M \
      > "$OUT/export_$s.log" 2>&1 || { tail -30 "$OUT/export_$s.log"; exit 1; }
    grep -E "Elapsed|Maximum resident" "$OUT/export_$s.log" | tee -a "$OUT/log.txt"
  done
  ls -la $M | tee -a "$OUT/log.txt"
  log "fp16 parity S=2048"
  python3 bench/fp16_parity.py --model-dir $M --size 2048 > "$OUT/parity_2048.json" 2> "$OUT/parity.err"; tail -5 "$OUT/parity.err"
  cat "$OUT/parity_2048.json"
  B=".device/bin/ck-bench --model-dir $M --ort-lib $ORT_DYLIB_PATH --device cuda"
  with_peak s2048 $B --frames 20 --json "$OUT/s2048.json" --md "$OUT/s2048.md" 2>&1 | tail -25
  with_peak s2048_noskip $B --frames 10 --no-skip --json "$OUT/s2048_noskip.json" 2>&1 | tail -6
  with_peak s2048_full $B --frames 10 --tile full --json "$OUT/s2048_full.json" 2>&1 | tail -6
  with_peak s1536 $B --frames 10 --size 1536 --json "$OUT/s1536.json" 2>&1 | tail -6
  with_peak s1024 $B --frames 10 --size 1024 --json "$OUT/s1024.json" 2>&1 | tail -6
  with_peak s2048_cpu_fallback_check $B --frames 1 --device cpu --size 1024 --json "$OUT/s1024_cpu.json" 2>&1 | tail -4
  ;;
device)
  # Coarse + refine kept on the GPU (device_refine, the default on CUDA) against the host path.
  for s in 2048 1536 1024; do
    python3 -m corridorkey_export export --seed 0 --size $s --precision fp16 --out $M > "$OUT/export_$s.log" 2>&1 \
      || { tail -20 "$OUT/export_$s.log"; exit 1; }
  done
  B=".device/bin/ck-bench --model-dir $M --ort-lib $ORT_DYLIB_PATH --device cuda"
  run() { local tag=$1; shift; log "$tag: $*"
    with_peak "$tag" $B "$@" --json "$OUT/$tag.json" --md "$OUT/$tag.md" 2>&1 | tail -3 | tee -a "$OUT/log.txt"; }
  run dev2048 --frames 12
  run host2048 --frames 6 --host-refine
  run dev2048_noskip --frames 8 --no-skip
  run dev2048_b8 --frames 8 --batch 8
  run dev2048_full --frames 6 --tile full
  run dev1536 --frames 8 --size 1536
  run dev1024 --frames 8 --size 1024
  # The shipped (trained) compact model: real uniform regions, so the sparse skip has work.
  run shipped1024 --frames 8 --size 1024 --model-dir bundle/models
  run shipped1024_noskip --frames 8 --size 1024 --model-dir bundle/models --no-skip
  ;;
full)
  # The whole report: engine (device path) + bundle through the test host + PyTorch, side by side;
  # then the host path, no-skip, other sizes and the shipped (trained) model.
  for s in ${SIZES:-2048 1536 1024}; do
    python3 -m corridorkey_export export --seed 0 --size $s --precision fp16 --out $M > "$OUT/export_$s.log" 2>&1 \
      || { tail -20 "$OUT/export_$s.log"; exit 1; }
  done
  BUNDLE=$PWD/.device/bundle/CorridorKey.ofx.bundle
  # A GPU bundle carries ORT's provider libraries beside libonnxruntime (make bundle GPU=1):
  # ORT looks for them next to the path it was loaded from.
  for f in "$(dirname "$ORT_DYLIB_PATH")"/lib*.so*; do ln -sf "$f" "$BUNDLE/Contents/Linux-x86-64/"; done
  export CORRIDORKEY_MODEL_DIR=$M
  B=".device/bin/ck-bench --model-dir $M --ort-lib $ORT_DYLIB_PATH --device cuda"
  run() { local tag=$1; shift; log "$tag: $*"
    $B "$@" --json "$OUT/$tag.json" --md "$OUT/$tag.md" 2>&1 | tail -4 | tee -a "$OUT/log.txt"; }
  log "host mode alone (stderr kept)"
  RUST_BACKTRACE=1 $B --mode host --frames 8 --bundle "$BUNDLE" --json "$OUT/host2048.json" --md "$OUT/host2048.md" 2>&1 | tail -25 | tee -a "$OUT/log.txt"
  run all2048 --mode all --frames 12 --bundle "$BUNDLE" --torch eager-fp16,compile-fp16
  [ "${QUICK:-0}" = 1 ] && { (cd "$OUT" && tar czf results.tgz *.json *.md log.txt && rm -f *.json *.md export_*.log); exit 0; }
  run hostpath2048 --frames 6 --host-path
  run noskip2048 --frames 8 --no-skip
  run s1536 --frames 8 --size 1536
  run s1024 --frames 8 --size 1024
  run shipped1024 --frames 8 --size 1024 --model-dir bundle/models
  (cd "$OUT" && tar czf results.tgz *.json *.md log.txt && rm -f *.json *.md export_*.log)
  ;;
tune)
  # CUDA-provider options (CORRIDORKEY_CUDA_OPTIONS) and refiner batch, S=2048 fp16, same plates.
  python3 -m corridorkey_export export --seed 0 --size 2048 --precision fp16 --out $M > "$OUT/export.log" 2>&1 \
    || { tail -20 "$OUT/export.log"; exit 1; }
  B=".device/bin/ck-bench --model-dir $M --ort-lib $ORT_DYLIB_PATH --device cuda --frames 8"
  run() { local tag=$1 opts=$2; shift 2
    log "$tag: CORRIDORKEY_CUDA_OPTIONS='$opts' $*"
    CORRIDORKEY_CUDA_OPTIONS="$opts" with_peak "$tag" $B "$@" --json "$OUT/$tag.json" 2>&1 | tail -2 | tee -a "$OUT/log.txt"; }
  run base "" --batch 4
  run nhwc "prefer_nhwc=1" --batch 4
  run nhwc_b8 "prefer_nhwc=1" --batch 8
  run nhwc_b25 "prefer_nhwc=1" --batch 25
  run exhaustive "cudnn_conv_algo_search=EXHAUSTIVE" --batch 4
  run nhwc_full "prefer_nhwc=1" --tile full
  ;;
torch)
  for mode in eager-fp16 eager-autocast compile-fp16; do
    log "torch $mode"
    with_peak "torch_$mode" timeout 280 python3 bench/torch_reference.py --mode $mode --frames 10 \
      | tee -a "$OUT/torch.jsonl"
  done
  ;;
esac
