#!/usr/bin/env bash
# Stages what the GPU round needs on a GPU machine into .device/ (git-ignored), from a build here
# (`make bundle` first): the stripped plugin, ck-bench and the CUDA-image test executables in
# .device/bin, the small fixture model in .device/fixtures. Carry both, then run
# `bash bench/gpu-h200.sh ...` or `bash tests/cuda-images-gpu.sh` there (each lays out a bundle
# from the carried plugin with the GPU machine's ONNX Runtime).
#   bash tests/stage-cuda-gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
D=.device
[ -f build/CorridorKey.ofx.bundle/Contents/Linux-x86-64/CorridorKey.ofx ] || {
  echo "no bundle in build/ (run make bundle)" >&2; exit 1; }
# The executable cargo builds for a test target (a workspace-wide build, as `make test` does, so
# nothing is rebuilt with other features).
test_exe() {
  cargo test --release --workspace --test "$1" --no-run --message-format=json 2>/dev/null \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$1" | tail -1
}
rm -rf "$D/bin" "$D/bundle" "$D/fixtures"
mkdir -p "$D/bin" "$D/fixtures"
cargo build --release --workspace
for t in render_cuda engine_device_frame; do
  exe=$(test_exe "$t")
  [ -x "$exe" ] || { echo "no test executable for --test $t" >&2; exit 1; }
  install -m 0755 "$exe" "$D/bin/$t"
done
install -m 0755 target/release/ck-bench "$D/bin/ck-bench"
strip --strip-debug "$D"/bin/*
install -m 0755 build/CorridorKey.ofx.bundle/Contents/Linux-x86-64/CorridorKey.ofx "$D/bin/CorridorKey.ofx"
cp -rL fixtures/small_s128 "$D/fixtures/"
du -sh "$D"/bin/* "$D/fixtures"
du -shc "$D/bin" "$D/fixtures" | tail -1
