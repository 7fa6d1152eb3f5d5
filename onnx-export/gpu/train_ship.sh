#!/usr/bin/env bash
# Train, export and check the shipped compact model for one screen colour on a lent GPU machine
# (python -m corridorkey_export ship: train 512 -> fine-tune 1024 -> export fp16 -> evaluate -> record).
#
#   setsid bash onnx-export/gpu/train_ship.sh start GPU_INDEX COLOUR >/dev/null 2>&1 &   # returns at once
#   bash onnx-export/gpu/train_ship.sh status COLOUR                                      # phase + log tail
#   bash onnx-export/gpu/train_ship.sh collect COLOUR DIR                                 # <= 4 files, < 16 MiB each
#
# Run from the repository root; COLOUR is green or blue. The job folder is $CK_TRAIN_HOME/COLOUR
# (default $HOME/ck-train/COLOUR): log.txt, ship.json (plan + phase), run/ (checkpoints every 2 min),
# export/, ship_COLOUR.json, the fp16 weights. `start` on a folder whose job was killed resumes it;
# on a finished job it does nothing. Two colours can run at once on two GPUs, or one after the other.
#
# Environment:
#   CK_TRAIN_CPUS     CPU threads (and DataLoader workers with --data workers) for this job; default: nproc,
#                     which honours taskset (e.g. taskset -c 0-15 ... start 0 green; taskset -c 16-31 ... start 1 blue)
#   CK_TRAIN_MINUTES  wall budget of the job in minutes (default 13: training 10.5, export + eval 2.5; + ~0.5 start-up)
#   CK_TRAIN_DEVICE   torch device (default cuda; GPU_INDEX is applied through CUDA_VISIBLE_DEVICES)
#   CK_TRAIN_ARGS     extra arguments for `ship` (e.g. "--batch 24"; the tests pass a tiny CPU plan)
#   CK_TRAIN_HOME     parent folder of the jobs (default $HOME/ck-train)
#   PYTHON            interpreter (default python3)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HOME_DIR=${CK_TRAIN_HOME:-$HOME/ck-train}
PY=${PYTHON:-python3}

die() { echo "train_ship.sh: $*" >&2; exit 2; }
colour_ok() { [[ "${1:-}" == green || "${1:-}" == blue ]] || die "COLOUR must be green or blue, got '${1:-}'"; }
phase_of() { sed -n 's/^ *"phase": "\([a-z]*\)".*/\1/p' "$1/ship.json" 2>/dev/null | head -n 1; }
alive() { [[ -f "$1/pid" ]] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

cmd=${1:-}
case "$cmd" in
start)
    gpu=${2:-}; colour=${3:-}
    [[ "$gpu" =~ ^[0-9]+$ ]] || die "usage: start GPU_INDEX COLOUR"
    colour_ok "$colour"
    dir=$HOME_DIR/$colour
    mkdir -p "$dir"
    log=$dir/log.txt
    if alive "$dir"; then echo "$(date -u +%FT%TZ) start refused: job already running (pid $(cat "$dir/pid"))" >>"$log"; exit 1; fi
    if [[ "$(phase_of "$dir")" == done ]]; then echo "$(date -u +%FT%TZ) start: job already done" >>"$log"; exit 0; fi
    echo $$ >"$dir/pid"
    trap 'rm -f "$dir/pid"' EXIT
    cpus=${CK_TRAIN_CPUS:-$(nproc)}
    resume=()
    [[ -f "$dir/ship.json" ]] && resume=(--resume)
    export CUDA_VISIBLE_DEVICES=$gpu PYTHONPATH="$ROOT/onnx-export${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    export OMP_NUM_THREADS=$cpus MKL_NUM_THREADS=$cpus NCCL_NVLS_ENABLE=0
    {
        echo "$(date -u +%FT%TZ) start gpu=$gpu colour=$colour cpus=$cpus ${resume[*]:-} host=$(hostname)"
        command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,memory.used,memory.total --format=csv,noheader || true
    } >>"$log" 2>&1
    set +e
    # shellcheck disable=SC2086
    "$PY" -m corridorkey_export ship --screen "$colour" --out "$dir" --device "${CK_TRAIN_DEVICE:-cuda}" \
        --workers "$((cpus > 1 ? cpus - 1 : 1))" ${CK_TRAIN_MINUTES:+--minutes "$CK_TRAIN_MINUTES"} \
        "${resume[@]}" ${CK_TRAIN_ARGS:-} >>"$log" 2>&1
    rc=$?
    set -e
    echo "$(date -u +%FT%TZ) exit $rc phase=$(phase_of "$dir")" >>"$log"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,memory.used --format=csv,noheader >>"$log" 2>&1 || true
    exit $rc
    ;;
status)
    colour=${2:-}; colour_ok "$colour"
    dir=$HOME_DIR/$colour
    [[ -d "$dir" ]] || { echo "$colour: no job in $dir"; exit 1; }
    state=stopped; alive "$dir" && state="running (pid $(cat "$dir/pid"))"
    echo "$colour: $state, phase $(phase_of "$dir")"
    tail -n "${LINES_SHOWN:-15}" "$dir/log.txt" 2>/dev/null | cut -c1-400
    ;;
collect)
    colour=${2:-}; dest=${3:-}
    colour_ok "$colour"; [[ -n "$dest" ]] || die "usage: collect COLOUR DIR"
    dir=$HOME_DIR/$colour
    [[ "$(phase_of "$dir")" == done ]] || die "$colour: job not done (phase '$(phase_of "$dir")'); see status"
    # What leaves the machine: the record, the graphs it lists, the weights (plain json, no torch import).
    mapfile -t files < <("$PY" -c '
import json, pathlib, sys
out, screen = pathlib.Path(sys.argv[1]), sys.argv[2]
rec = json.loads((out / f"ship_{screen}.json").read_text())
files = [out / f"ship_{screen}.json"]
files += [out / "export" / g["file"] for g in (rec.get("manifest") or {}).get("graphs", [])]
files += [out / rec["weights"]["file"]] if rec.get("weights") else []
print("\n".join(map(str, files)))' "$dir" "$colour")
    (( ${#files[@]} >= 1 && ${#files[@]} <= 4 )) || die "$colour: ${#files[@]} files to collect (expected 1..4)"
    mkdir -p "$dest"
    for f in "${files[@]}"; do
        [[ -f "$f" ]] || die "missing $f"
        size=$(stat -c %s "$f")
        (( size < 16 * 1024 * 1024 )) || die "$f is $size bytes (limit 16 MiB)"
        cp "$f" "$dest/"
        echo "$dest/$(basename "$f") $size"
    done
    ;;
*)
    die "usage: start GPU_INDEX COLOUR | status COLOUR | collect COLOUR DIR"
    ;;
esac
