# Sourced on the lent GPU machine before farm/gpu-check.sh or farm/chunk-cost.sh:
#   . farm/device-env.sh && bash farm/gpu-check.sh "$OUT/gpu-check"
# With .device/ staged by tests/stage-cuda-gpu.sh plus ofx-render (cp target/release/ofx-render
# .device/bin/) and ONNX Runtime's GPU build in ~/ortgpu (as tests/cuda-images-gpu.sh expects), it lays
# out a GPU bundle from the carried plugin and exports OFX_RENDER and CORRIDORKEY_BUNDLE.
. ~/ortgpu/env.sh
if ! ldconfig -p | grep -q 'libcudart.so.13 '; then
  _cudart=$(find / -name 'libcudart.so.13' -not -path '/proc/*' 2>/dev/null | head -1)
  [ -n "$_cudart" ] && export LD_LIBRARY_PATH=$(dirname "$_cudart"):${LD_LIBRARY_PATH:-}
fi
_b=/tmp/ck-farm-gpu/CorridorKey.ofx.bundle
rm -rf /tmp/ck-farm-gpu && mkdir -p "$_b/Contents/Linux-x86-64" "$_b/Contents/Resources/models"
install -m 0755 .device/bin/CorridorKey.ofx "$_b/Contents/Linux-x86-64/CorridorKey.ofx"
install -m 0644 bundle/Info.plist "$_b/Contents/Info.plist"
cp bundle/models/* "$_b/Contents/Resources/models/"
for _f in "$(dirname "$ORT_DYLIB_PATH")"/libonnxruntime*; do ln -sf "$_f" "$_b/Contents/Linux-x86-64/"; done
export CORRIDORKEY_BUNDLE=$_b OFX_RENDER=$PWD/.device/bin/ofx-render
unset _b _f _cudart
