#!/usr/bin/env bash
# farm/gpu-check.sh [OUT_DIR]: which GPU a farm task keys on. A worker with several GPUs runs one
# task per GPU by giving each task's session CUDA_VISIBLE_DEVICES=<its GPU>; the plugin keys on CUDA
# device $CORRIDORKEY_GPU (default 0) of the devices the CUDA runtime lets it see, so device 0 is
# the GPU the worker assigned. This renders 3 frames with the job template's ofx-render command line
# (Device = CUDA) under several settings and shows, for each, the exit status, every frame's status,
# time and warnings, and which physical GPU (nvidia-smi UUID) the process used.
#
# On the lent GPU machine: `. farm/device-env.sh` first (it lays out the GPU bundle).
# Environment: OFX_RENDER (default target/release/ofx-render), CORRIDORKEY_BUNDLE (default
# build/CorridorKey.ofx.bundle, a GPU bundle: `make bundle GPU=1`), MODEL_DIR (default: the bundle's
# models), SIZE (default 1920x1080). OUT_DIR default: $OUT, else a temp dir.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
render=${OFX_RENDER:-$root/target/release/ofx-render}
bundle=${CORRIDORKEY_BUNDLE:-$root/build/CorridorKey.ofx.bundle}
size=${SIZE:-1920x1080}
out=${1:-${OUT:-$(mktemp -d)}}
mkdir -p "$out/in"
[ -x "$render" ] || { echo "gpu-check: no ofx-render at $render" >&2; exit 1; }
[ -d "$bundle" ] || { echo "gpu-check: no bundle at $bundle" >&2; exit 1; }
ls -L "$bundle"/Contents/Linux-x86-64/ | grep -q providers_cuda \
  || echo "gpu-check: WARNING: $bundle has no CUDA provider library (a CPU bundle?)"

echo "== GPUs (nvidia-smi -L)"
nvidia-smi -L 2>&1 || echo "(no nvidia-smi)"
for f in 1 2 3; do
  "$render" --write-sample-plate "$(printf '%s/in/plate.%04d.exr' "$out" "$f")" --size "$size" --frame "$f" >/dev/null
done
args=(--frames 1-3 --log-json - --bundle "$bundle" --param device=CUDA)
[ -n "${MODEL_DIR:-}" ] && args+=(--model-dir "$MODEL_DIR")

# case NAME VAR=VALUE...: one render with those variables (CUDA_VISIBLE_DEVICES=- : unset).
case_run() {
  local name=$1; shift
  local env_args=(env -u CUDA_VISIBLE_DEVICES -u CORRIDORKEY_GPU)
  for kv in "$@"; do [ "${kv#*=}" != "-" ] && env_args+=("$kv"); done
  echo
  echo "== $name: ${*:-no variables}"
  rm -rf "$out/$name"
  "${env_args[@]}" CORRIDORKEY_LOG=1 "$render" "$out/in/plate.####.exr" -o "$out/$name/k.####.exr" \
    "${args[@]}" > "$out/$name.jsonl" 2> "$out/$name.stderr" &
  local pid=$! gpus=""
  # Which physical GPUs the process holds memory on, sampled while it runs.
  while kill -0 "$pid" 2>/dev/null; do
    gpus+=$(nvidia-smi --query-compute-apps=pid,gpu_uuid --format=csv,noheader 2>/dev/null \
      | awk -F', ' -v p="$pid" '$1 == p { print $2 }')$'\n'
    sleep 0.3
  done
  wait "$pid"; local rc=$?
  echo "exit status: $rc"
  echo "GPUs the process used: $(printf '%s' "$gpus" | sort -u | grep . | tr '\n' ' ' || true)"
  sed -e 's/"input":"[^"]*",//' -e 's/"output":"[^"]*",//' "$out/$name.jsonl"
  echo "-- stderr (provider and device lines, errors):"
  grep -i -E "provider|cuda|gpu|device|fail|error|warn" "$out/$name.stderr" | head -20
}

case_run visible-0 CUDA_VISIBLE_DEVICES=0
case_run visible-0-gpu-1 CUDA_VISIBLE_DEVICES=0 CORRIDORKEY_GPU=1
case_run visible-99 CUDA_VISIBLE_DEVICES=99
case_run visible-none CUDA_VISIBLE_DEVICES=
if [ "$(nvidia-smi -L 2>/dev/null | wc -l)" -ge 2 ]; then
  case_run visible-1 CUDA_VISIBLE_DEVICES=1
fi
echo
echo "gpu-check: logs in $out"
