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
mkdir -p "$D/bin" "$D/bundle" "$D/fixtures"
cargo build --release --workspace
for t in render_cuda engine_device_frame; do
  exe=$(test_exe "$t")
  [ -x "$exe" ] || { echo "no test executable for --test $t" >&2; exit 1; }
  install -m 0755 "$exe" "$D/bin/$t"
done
install -m 0755 target/release/ck-bench "$D/bin/ck-bench"
strip --strip-debug "$D"/bin/*
cp -r build/CorridorKey.ofx.bundle "$D/bundle/"
rm -f "$D"/bundle/CorridorKey.ofx.bundle/Contents/Linux-x86-64/libonnxruntime*
cp -rL fixtures/small_s128 "$D/fixtures/"
du -sh "$D"/bin/* "$D/bundle" "$D/fixtures"
du -shc "$D/bin" "$D/bundle" "$D/fixtures" | tail -1
