#!/usr/bin/env bash
# tests/hosts/mlt.sh: keys a PNG plate through MLT's `melt` (the engine of Kdenlive and Shotcut) with
# the built bundle, and checks matte, colour, alpha convention and log (tests/hosts/mlt_check.py).
#
#   MLT_SRC=/path/to/mlt bash tests/hosts/mlt.sh
#
# MLT_SRC: an MLT source tree from 2026 or later (it has src/modules/openfx); fetch it yourself
# (git clone https://github.com/mltframework/mlt). Unset: the test says so and exits 0 (CI has no
# network). The needed modules are built once into $MLT_PREFIX (default target/mlt) by
# tests/hosts/mlt-build.sh; Debian 12 packages it needs are listed there.
# Other variables: CORRIDORKEY_BUNDLE (default build/CorridorKey.ofx.bundle, `make bundle`),
# MLT_WORK (where plate, frames and log go; default a new temporary folder).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -z "${MLT_SRC:-}" ]; then
    echo "mlt.sh: SKIPPED: MLT_SRC is not set (an MLT source tree with src/modules/openfx, 2026+)"
    exit 0
fi
bundle=${CORRIDORKEY_BUNDLE:-$root/build/CorridorKey.ofx.bundle}
prefix=${MLT_PREFIX:-$root/target/mlt}
work=${MLT_WORK:-$(mktemp -d /tmp/ck-mlt.XXXXXX)}
[ -f "$bundle/Contents/Linux-x86-64/CorridorKey.ofx" ] || {
    echo "mlt.sh: no bundle at $bundle (run make bundle)" >&2
    exit 1
}
stamp="$prefix/.built-from"
if [ ! -x "$prefix/bin/melt" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$MLT_SRC" ]; then
    mkdir -p "$prefix"
    bash "$here/mlt-build.sh" "$MLT_SRC" "$prefix"
    echo "$MLT_SRC" >"$stamp"
fi
export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
melt="$prefix/bin/melt"
mkdir -p "$work/ofx"
rm -f "$work"/key_*.png
ln -sfn "$bundle" "$work/ofx/CorridorKey.ofx.bundle"
export OFX_PLUGIN_PATH="$work/ofx" CORRIDORKEY_LOG=1

python3 "$here/mlt_check.py" plate "$work/plate.png" 320 180
cat >"$work/profile" <<'PROFILE'
description=CorridorKey MLT host test 320x180
frame_rate_num=25
frame_rate_den=1
width=320
height=180
progressive=1
sample_aspect_num=1
sample_aspect_den=1
display_aspect_num=16
display_aspect_den=9
colorspace=709
PROFILE
filter=openfx.org.corridorkey.CorridorKey
filters=$("$melt" -query filters 2>/dev/null || true)
grep -q "$filter" <<<"$filters" || {
    echo "mlt.sh: FAIL: melt does not list $filter (OFX_PLUGIN_PATH=$OFX_PLUGIN_PATH)" >&2
    exit 1
}
# Three frames, one render each (real_time=0: no read-ahead, no dropped frames); the settings an
# MLT user sets: sRGB in and out. Straight alpha comes from the host (followHostAlpha default).
"$melt" -profile "$work/profile" "$work/plate.png" out=2 \
    -attach "$filter" inputColour=sRGB outputColour=sRGB \
    -consumer "avformat:$work/key_%d.png" vcodec=png pix_fmt=rgba real_time=0 \
    >"$work/melt.log" 2>&1 || {
    tail -20 "$work/melt.log" >&2
    echo "mlt.sh: FAIL: melt failed (log: $work/melt.log)" >&2
    exit 1
}
python3 "$here/mlt_check.py" check "$work/plate.png" "$work"/key_1.png "$work"/key_2.png \
    "$work"/key_3.png "$work/melt.log"
echo "mlt.sh: PASS ($work)"
