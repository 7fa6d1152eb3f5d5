#!/usr/bin/env bash
# farm/chunk-cost.sh [OUT_DIR]: what one farm task pays once (process start, plugin load, model
# load and the first frame's warm-up) against what each further frame costs, for a few chunk sizes,
# with the command line the job template (farm/corridorkey-key.yaml) runs. It picks ChunkSize
# (README, "Render farm"). Each chunk size is a fresh ofx-render process, as a farm task is.
#
# Environment (all optional):
#   OFX_RENDER          ofx-render (default target/release/ofx-render)
#   CORRIDORKEY_BUNDLE  the bundle (default build/CorridorKey.ofx.bundle)
#   MODEL_DIR           the node's model folder (default: the bundle's models)
#   DEVICE              the node's Device: Auto, CUDA, TensorRT or CPU (default Auto)
#   SIZE                plate size (default 1920x1080)
#   CHUNKS              chunk sizes (default "1 2 4 8")
#   THREADS             CPU workers: ofx-render --threads (default: every CPU)
#   PARAMS              more node params, "NAME=VALUE;NAME=VALUE"
# Prints a markdown table and writes it to OUT_DIR/chunk-cost.md (OUT_DIR default: a temp dir).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
render=${OFX_RENDER:-$root/target/release/ofx-render}
bundle=${CORRIDORKEY_BUNDLE:-$root/build/CorridorKey.ofx.bundle}
size=${SIZE:-1920x1080}
chunks=${CHUNKS:-1 2 4 8}
out=${1:-$(mktemp -d)}
mkdir -p "$out/in"
[ -x "$render" ] || { echo "chunk-cost: no ofx-render at $render (make bundle)" >&2; exit 1; }
[ -d "$bundle" ] || { echo "chunk-cost: no bundle at $bundle (make bundle)" >&2; exit 1; }

args=(--bundle "$bundle" --param "device=${DEVICE:-Auto}")
[ -n "${MODEL_DIR:-}" ] && args+=(--model-dir "$MODEL_DIR")
[ -n "${THREADS:-}" ] && args+=(--threads "$THREADS")
IFS=';' read -r -a extra <<< "${PARAMS:-}"
for p in "${extra[@]}"; do [ -n "${p// /}" ] && args+=(--param "$p"); done

most=0
for c in $chunks; do [ "$c" -gt "$most" ] && most=$c; done
for ((f = 1; f <= most; f++)); do
  "$render" --write-sample-plate "$(printf '%s/in/plate.%04d.exr' "$out" "$f")" --size "$size" --frame "$f" >/dev/null
done

echo "chunk-cost: $size plates, device ${DEVICE:-Auto}, threads ${THREADS:-all}, $(nproc) CPUs," \
     "$(uname -n); bundle $bundle" >&2
rows=()
for c in $chunks; do
  rm -rf "$out/c$c"
  t0=$(date +%s%N)
  if ! "$render" "$out/in/plate.####.exr" -o "$out/c$c/k.####.exr" --frames "1-$c" \
       --log-json "$out/c$c.jsonl" "${args[@]}" > "$out/c$c.log" 2>&1; then
    echo "chunk-cost: chunk of $c failed:" >&2; tail -5 "$out/c$c.log" >&2; exit 1
  fi
  t1=$(date +%s%N)
  wall_ms=$(( (t1 - t0) / 1000000 ))
  # Frame times from the JSON log (the node's render action; frame 1 includes the model load).
  ms=$(grep -o '"ms":[0-9.]*' "$out/c$c.jsonl" | cut -d: -f2 | tr '\n' ' ')
  rows+=("$c $wall_ms $ms")
  echo "  chunk $c: ${wall_ms} ms wall, frames (ms): $ms" >&2
done

# wall(c) = L + c * p, least squares over the chunk sizes: L is what a task pays once (process
# start, plugin and model load, first-frame warm-up), p what each frame costs (its render action,
# reading the plate, writing the EXR). The first and later frames' render-action times (the JSON
# log) show the same split from inside the process.
printf '%s\n' "${rows[@]}" | awk -v size="$size" -v dev="${DEVICE:-Auto}" '
  { c[NR] = $1; wall[NR] = $2 / 1000; first[NR] = $3 / 1000; n = NR; sum = 0
    for (i = 4; i <= NF; i++) sum += $i
    later[NR] = (NF > 3) ? sum / (NF - 3) / 1000 : -1
    sx += $1; sy += $2 / 1000; sxx += $1 * $1; sxy += $1 * $2 / 1000 }
  END {
    d = n * sxx - sx * sx
    p = (d > 0) ? (n * sxy - sx * sy) / d : sy / sx
    L = (sy - p * sx) / n
    printf "| frames per task | task wall time | per frame | first frame (render action) | later frames (mean) | fixed cost share |\n"
    printf "|---|---|---|---|---|---|\n"
    for (i = 1; i <= n; i++)
      printf "| %d | %.2f s | %.3f s | %.3f s | %s | %s |\n", c[i], wall[i], wall[i] / c[i], first[i],
        (later[i] < 0) ? "-" : sprintf("%.3f s", later[i]), (L > 0) ? sprintf("%.0f%%", 100 * L / wall[i]) : "-"
    printf "\nfit wall = L + frames * p: L = %.2f s per task (process, plugin and model load, warm-up), p = %.3f s per frame (%s plates, device %s)%s\n",
      L, p, size, dev, (L <= 0) ? "; L is below the noise of the measurement" : ""
  }' | tee "$out/chunk-cost.md"
