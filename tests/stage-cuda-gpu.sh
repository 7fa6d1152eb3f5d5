#!/usr/bin/env bash
# Stages what the CUDA-image tests and benchmark need on a GPU machine into .device/ (git-ignored),
# from a build here (`make bundle` first): the stripped test executables and ck-bench, the bundle
# without its CPU ONNX Runtime (the GPU machine links its GPU build in), and the small fixture
# model. Carry .device, then run `bash tests/cuda-images-gpu.sh` there.
#   bash tests/stage-cuda-gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
D=.device
[ -f build/CorridorKey.ofx.bundle/Contents/Linux-x86-64/CorridorKey.ofx ] || {
  echo "no bundle in build/ (run make bundle)" >&2; exit 1; }
# The test executable cargo builds for (package, test target).
test_exe() {
  cargo test --release -p "$1" --test "$2" --no-run --message-format=json 2>/dev/null \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$2" | tail -1
}
rm -rf "$D/bin" "$D/bundle" "$D/fixtures"
mkdir -p "$D/bin" "$D/bundle" "$D/fixtures"
cargo build --release -p ck-bench
for t in "ofx-test-host render_cuda" "corridorkey engine_device_frame"; do
  set -- $t
  exe=$(test_exe "$1" "$2")
  [ -x "$exe" ] || { echo "no test executable for $1 --test $2" >&2; exit 1; }
  install -m 0755 "$exe" "$D/bin/$2"
done
install -m 0755 target/release/ck-bench "$D/bin/ck-bench"
strip --strip-debug "$D"/bin/*
cp -r build/CorridorKey.ofx.bundle "$D/bundle/"
rm -f "$D"/bundle/CorridorKey.ofx.bundle/Contents/Linux-x86-64/libonnxruntime*
cp -rL fixtures/small_s128 "$D/fixtures/"
du -sh "$D"/bin/* "$D/bundle" "$D/fixtures"
du -shc "$D/bin" "$D/bundle" "$D/fixtures" | tail -1
