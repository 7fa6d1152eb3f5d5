#!/usr/bin/env bash
# Issue 23's fine-tune of the shipped models: green and blue side by side on one GPU (half the CPU
# cores each), each from weights recovered from bundle/models' graphs, on plates that alternate large
# multicoloured subjects in near-screen colours (focus "solid") with hair/smoke/cloth ("transparent")
# and plain ones, with the interior log loss, near-exact hints on a quarter of the plates and frozen
# BatchNorm; then each job exports its fp16 graphs, evaluates, and the files are collected.
#
#   cd onnx-export && python -m corridorkey_export import-graphs --model-dir ../bundle/models --screen green \
#       --out INIT/compact_green.shipped.safetensors          # and --screen blue (on any machine, ~3 min CPU)
#   bash onnx-export/gpu/finetune_solid.sh INIT OUT           # on the GPU machine, from the repository root
#   bash onnx-export/gpu/install_models.sh OUT/green OUT/blue # back here, only if the quality report says better
#
# Environment: CK_TRAIN_MINUTES (wall budget of each job, default 6), CK_TRAIN_HOME (default
# $HOME/ck-train; must not hold a finished job of the same colour), PYTHON, EXTRA (more `ship` arguments).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
init=$(cd "${1:?usage: finetune_solid.sh INIT_DIR OUT_DIR}" && pwd)
out=${2:?usage: finetune_solid.sh INIT_DIR OUT_DIR}
export CK_TRAIN_MINUTES=${CK_TRAIN_MINUTES:-6} PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
args="--size 1024 --batch 8 --ft-size 1024 --ft-batch 8 --ft-fraction 0 --lr 3e-4 --warmup-steps 10
 --reserve-minutes 1.0 --eval-count 2 --freeze-bn --interior-weight 2.0 --exact-hint 0.25
 --focus solid+transparent+solid+ --ft-focus solid+transparent+solid+ --unknown-weight 1.0 --ft-unknown-weight 1.0
 --save-every 600 ${EXTRA:-}"
n=$(nproc); half=$(( n > 1 ? n / 2 : 1 ))
for c in green blue; do
    if [[ $c == green || $n -lt 2 ]]; then cpus="0-$((half - 1))"; else cpus="$half-$((n - 1))"; fi
    CK_TRAIN_CPUS=$half CK_TRAIN_ARGS="$args --init $init/compact_$c.shipped.safetensors" \
        taskset -c "$cpus" bash "$ROOT/onnx-export/gpu/train_ship.sh" start 0 "$c" &
done
wait
rc=0
for c in green blue; do
    bash "$ROOT/onnx-export/gpu/train_ship.sh" status "$c"
    mkdir -p "$out/$c" && bash "$ROOT/onnx-export/gpu/train_ship.sh" collect "$c" "$out/$c" || rc=1
done
exit $rc
