#!/usr/bin/env bash
# Issue 22 on a lent GPU: the per-S device peak table (what Quality Auto reads from the manifest's
# `device_peak_mib`), Quality Auto's choice, and "degrade, never fail" with the rest of the card held
# by another process (a python+torch allocation, as a host such as Resolve holds it).
#
#   bash bench/gpu-memory-pressure.sh BUNDLE MODEL_DIR [OFX_RENDER]
#
# BUNDLE: CorridorKey.ofx.bundle with ONNX Runtime's GPU build beside the plugin (bench/gpu-h200.sh
# setup makes /tmp/bundle/CorridorKey.ofx.bundle); MODEL_DIR: a model folder with one or more
# coarse sizes (e.g. /tmp/models from gpu-h200.sh setup, plus 1024/1536 exports for the ladder);
# OFX_RENDER: the ofx-render binary (default .device/bin/ofx-render). ONNX Runtime's environment as
# in bench/gpu-h200.sh (~/ortgpu/env.sh: ORT_DYLIB_PATH, CUDA libraries). Needs python3 with torch
# (CUDA) for the memory hog, and nvidia-smi.
#
# Prints, for free memory N = 8, 5, 4, 3 and ~1 GB: the exit status of ofx-render (0 keyed as asked,
# 2 degraded without --allow-degraded), the S and device the frame was keyed at, the node's warning
# and the frame time. Everything lands in $OUT (default /tmp/out/pressure) too.
set -uo pipefail
BUNDLE=${1:?bundle dir}
MODELS=${2:?model dir}
RENDER=${3:-.device/bin/ofx-render}
[ -f ~/ortgpu/env.sh ] && . ~/ortgpu/env.sh
OUT=${OUT:-/tmp/out}/pressure
mkdir -p "$OUT"
W=$(mktemp -d)
trap 'kill "${HOG:-0}" 2>/dev/null; rm -rf "$W"' EXIT
export CUDA_VISIBLE_DEVICES=${BENCH_GPU:-0} CORRIDORKEY_LOG=1
log() { echo "$*" | tee -a "$OUT/summary.txt"; }

nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv | tee "$OUT/gpu.txt"
"$RENDER" --write-sample-plate "$W/plate.exr" --size 4096x2160 >/dev/null || exit 1

# quality choice index of an S (docs/PARAMS.md: 1024, 1536, 2048, Auto).
qidx() { case $1 in 1024) echo 0;; 1536) echo 1;; 2048) echo 2;; auto) echo 3;; esac; }

# One 4K frame; $1 tag, $2 quality (S or auto), rest extra ofx-render args. Prints rc, S, warning.
frame() {
  local tag=$1 q=$2; shift 2
  local t0=$(date +%s%N)
  "$RENDER" "$W/plate.exr" -o "$W/$tag.exr" --model-dir "$MODELS" --bundle "$BUNDLE" \
    --param quality="$(qidx "$q")" --log-json "$OUT/$tag.json" "$@" > "$OUT/$tag.out" 2> "$OUT/$tag.err"
  local rc=$? ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  local used=$(grep -o 'keyed at S=[0-9]* [^|]*' "$OUT/$tag.err" | tail -1)
  local warn=$(python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; print('; '.join(w for x in r for w in x.get('warnings',[])) or '-')" "$OUT/$tag.json" 2>/dev/null)
  log "$tag | rc $rc | $used | ${ms} ms (process) | warning: $warn"
}

# Peak device memory of one frame at S (nvidia-smi polled every 20 ms, the process's own usage).
peak() {
  local s=$1 f="$W/peak$1.txt"; : > "$f"
  ( while :; do nvidia-smi --query-compute-apps=used_memory --format=csv,noheader,nounits >> "$f" 2>/dev/null; sleep 0.02; done ) &
  local poll=$!
  frame "peak_S$s" "$s" --allow-degraded > /dev/null
  kill $poll; wait $poll 2>/dev/null
  sort -n "$f" | tail -1
}

log "== device peak per S (one 4K frame, nothing else on the card)"
SIZES=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1]+'/manifest.json')); print(' '.join(str(s) for s in sorted({g['size'] for g in m['graphs'] if g['role']=='coarse'})))" "$MODELS")
PEAKS="{"
for s in $SIZES; do
  p=$(peak "$s"); log "S=$s device peak ${p:-?} MiB"; PEAKS="$PEAKS\"$s\": ${p:-null}, "
done
log "device_peak_mib per S (put in manifest.json's coarse entries): ${PEAKS%, }}"

log "== Quality Auto (card total, not free memory)"
frame auto auto
grep -o 'Auto[^;|]*' "$OUT/auto.err" | sort -u | tee -a "$OUT/summary.txt"

# Holds all but N GiB of the card's free memory until killed; ready when $W/hog.ready exists.
hog() {
  rm -f "$W/hog.ready"
  python3 - "$1" "$W/hog.ready" > "$W/hog.log" 2>&1 <<'EOF' &
import sys, time, torch
n_gib, ready = float(sys.argv[1]), sys.argv[2]
torch.cuda.init(); torch.empty(1, device="cuda")
free, total = torch.cuda.mem_get_info()
keep = int(free - n_gib * (1 << 30))
held = torch.empty(max(keep, 0), dtype=torch.uint8, device="cuda") if keep > 0 else None
free2, _ = torch.cuda.mem_get_info()
print(f"hog: total {total >> 20} MiB, holding {max(keep, 0) >> 20} MiB, free now {free2 >> 20} MiB", flush=True)
open(ready, "w").close()
time.sleep(3600)
EOF
  HOG=$!
  for _ in $(seq 300); do [ -e "$W/hog.ready" ] && break; sleep 0.1; done
  cat "$W/hog.log"
}

log "== degrade, never fail: 4K at Quality 2048 with N GiB left free"
for n in 8 5 4 3 1; do
  hog "$n" > "$W/hog.msg"; tee -a "$OUT/summary.txt" < "$W/hog.msg"
  frame "free${n}g" 2048
  kill "$HOG" 2>/dev/null; wait "$HOG" 2>/dev/null; HOG=
  sleep 1
done
log "== done: $OUT/summary.txt (rc 2 = degraded frame counted by ofx-render; --allow-degraded accepts it)"
