#!/usr/bin/env bash
# Issue 20's round on a lent H100/H200: the engine's step breakdown and the render action, before
# (main's binaries) and after (this branch), next to PyTorch, in one lease. ONNX Runtime's GPU build
# is staged first (.device/perf/ort/q1..q6: `sh .device/perf/ort/qN/stage.sh`, the last one
# reassembles). Binaries are built on the CPU machine, stripped and packed in .device/perf/bins.tar.xz
# (before/ and after/: ck-bench and CorridorKey.ofx).
#
#   bash bench/gpu-perf.sh setup   # bandwidths, bundles, seeded exports at S=2048 and S=1024
#   bash bench/gpu-perf.sh main    # before and after (--mode all, breakdown), PyTorch beside them
#   bash bench/gpu-perf.sh extra   # S=1024, batch sweep, 8 GB free, a second process's first frame, skip
#
# Results land in $OUT; every step appends its summary to $OUT/log.txt.
set -uo pipefail
. ~/ortgpu/env.sh
export PYTHONPATH=$HOME/ortgpu/py:$PWD/onnx-export:$PWD/bench
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
M=/tmp/models
M1024=/tmp/models1024
P=/tmp/perf
log() { echo "== $*" | tee -a "$OUT/log.txt"; }
bw() { cat /tmp/bw.txt 2>/dev/null; }
# One ck-bench run of binary set $1 (before|after) against its own bundle. A set without its own
# ck-bench drives its bundle with the other set's (host mode measures the bundle; the breakdown
# flags are dropped for a ck-bench that predates them).
run() {
  local set=$1 tag=$2; shift 2
  local ckb="$P/$set/ck-bench" args=()
  [ -x "$ckb" ] || ckb="$P/before/ck-bench"
  if [ "$ckb" = "$P/before/ck-bench" ]; then
    while [ $# -gt 0 ]; do
      case "$1" in --breakdown) ;; --bw-*) shift ;; *) args+=("$1") ;; esac; shift
    done
  else
    args=("$@")
  fi
  set -- "${args[@]}"
  log "$set $tag ($ckb): $*"
  "$ckb" --ort-lib "$ORT_DYLIB_PATH" --device cuda --bundle "/tmp/bundle-$set/CorridorKey.ofx.bundle" \
    "$@" --json "$OUT/$tag.json" --md "$OUT/$tag.md" > "$OUT/$tag.err" 2>&1
  local rc=$?
  grep -E "median|peak|path check|error|Error|^\|" "$OUT/$tag.err" | tail -40 | tee -a "$OUT/log.txt"
  [ $rc = 0 ] || { echo "$tag exited $rc" | tee -a "$OUT/log.txt"; tail -20 "$OUT/$tag.err"; }
}
bundle() {
  local set=$1 b=/tmp/bundle-$1/CorridorKey.ofx.bundle
  mkdir -p "$b/Contents/Linux-x86-64" "$b/Contents/Resources/models"
  install -m 0755 "$P/$set/CorridorKey.ofx" "$b/Contents/Linux-x86-64/CorridorKey.ofx"
  install -m 0644 bundle/Info.plist "$b/Contents/Info.plist"
  for f in "$(dirname "$ORT_DYLIB_PATH")"/libonnxruntime*.so*; do ln -sf "$f" "$b/Contents/Linux-x86-64/"; done
  cp bundle/models/* "$b/Contents/Resources/models/"
}

case "${1:-}" in
setup)
  mkdir -p $P && xz -d < .device/perf/bins.tar.xz | tar xf - -C $P
  nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt" | tee -a "$OUT/log.txt"
  python3 - <<'PY' | tee /tmp/bw.txt | tee -a "$OUT/log.txt"
import time, torch
torch.set_num_threads(16)
n = 1 << 30
def t(f, k=5):
    f(); torch.cuda.synchronize(); s = time.perf_counter()
    for _ in range(k): f()
    torch.cuda.synchronize(); return (time.perf_counter() - s) / k
a = torch.empty(n, dtype=torch.uint8, device="cuda"); b = torch.empty_like(a)
dev = 2 * n / t(lambda: b.copy_(a)) / 1e9
h = torch.empty(n, dtype=torch.uint8).pin_memory()
up = n / t(lambda: a.copy_(h)) / 1e9
down = n / t(lambda: h.copy_(a)) / 1e9
c = torch.empty(n, dtype=torch.uint8); d = torch.empty_like(c)
host = 2 * n / t(lambda: d.copy_(c)) / 1e9
print(f"--bw-device {dev:.0f} --bw-link {min(up, down):.1f} --bw-host {host:.1f}")
print(f"# pinned up {up:.1f} GB/s, down {down:.1f} GB/s; torch {torch.__version__}")
PY
  bundle before; bundle after
  log "export S=2048 and S=1024 fp16 (seeded real architecture)"
  python3 -m corridorkey_export export --seed 0 --size 2048 --precision fp16 --out $M > "$OUT/export_2048.log" 2>&1 || { tail -30 "$OUT/export_2048.log"; exit 1; }
  python3 -m corridorkey_export export --seed 0 --size 1024 --precision fp16 --out $M1024 > "$OUT/export_1024.log" 2>&1 || { tail -30 "$OUT/export_1024.log"; exit 1; }
  ls -la $M $M1024 >> "$OUT/log.txt"
  ;;
main)
  run before before2048 --mode all --frames 8 --size 2048 --model-dir $M --no-skip
  run after after2048 --mode all --frames 12 --size 2048 --model-dir $M --no-skip --breakdown $(head -1 /tmp/bw.txt) --torch eager-fp16,compile-fp16
  ;;
extra)
  run after after1024 --mode all --frames 12 --size 1024 --model-dir $M1024 --no-skip --breakdown $(head -1 /tmp/bw.txt)
  # Refine time and device peak per batch (the default at 6144 MiB is 9: three runs of 9).
  for b in 4 13 16; do run after batch$b --frames 6 --size 2048 --model-dir $M --no-skip --batch $b; done
  # The CUDA provider's options on every session (after ours): the refiner without NHWC, and the
  # exhaustive convolution search.
  CORRIDORKEY_CUDA_OPTIONS=prefer_nhwc=0 run after nhwc_off --frames 6 --size 2048 --model-dir $M --no-skip --breakdown
  CORRIDORKEY_CUDA_OPTIONS=cudnn_conv_algo_search=EXHAUSTIVE run after exhaustive --frames 6 --size 2048 --model-dir $M --no-skip --breakdown
  run after sim2048 --mode engine --frames 8 --size 2048 --model-dir $M --simulate-trained --breakdown $(head -1 /tmp/bw.txt)
  # A 4K frame at S=2048 with 8 GB of the device free: the rest held by another process.
  python3 -c "
import torch, time
free, total = torch.cuda.mem_get_info()
x = torch.empty(free - (8 << 30), dtype=torch.uint8, device='cuda')
print('holding', (free - (8 << 30)) >> 20, 'MiB; free now', torch.cuda.mem_get_info()[0] >> 20, 'MiB', flush=True)
open('/tmp/held', 'w').write('1'); time.sleep(300)" > "$OUT/hold.txt" 2>&1 &
  HOLD=$!
  for i in $(seq 60); do [ -e /tmp/held ] && break; sleep 1; done
  cat "$OUT/hold.txt" | tee -a "$OUT/log.txt"
  run after free8g --mode engine --frames 4 --size 2048 --model-dir $M --no-skip
  kill $HOLD
  # The first frame of a second process (model files in the OS cache from the runs above).
  run after second_process --mode host --frames 2 --size 2048 --model-dir $M --no-skip
  ;;
*)
  echo "usage: bench/gpu-perf.sh setup|main|extra" >&2
  exit 2
  ;;
esac
