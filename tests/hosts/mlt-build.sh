#!/usr/bin/env bash
# Builds the parts of MLT a CorridorKey host test needs (core, avformat, openfx, xine, melt) from the
# source tree in $1 into the prefix $2. Debian 12 packages: cmake, pkg-config, libavformat-dev,
# libavcodec-dev, libavutil-dev, libswscale-dev, libavfilter-dev, libavdevice-dev,
# libswresample-dev, libglib2.0-dev (openfx), libxine2-dev (xine).
# xine stays on: without its deinterlacer melt's normaliser converts every frame to YUV 4:2:2 before
# any filter, and the key would see a chroma-subsampled plate.
set -euo pipefail
src=${1:?MLT source tree}
prefix=${2:?install prefix}
build="$prefix/build"
[ -f "$src/src/modules/openfx/CMakeLists.txt" ] || {
    echo "mlt-build: $src has no src/modules/openfx (MLT before 2026 has no OpenFX host)" >&2
    exit 2
}
off=()
for m in DECKLINK FREI0R GDK GLAXNIMATE_QT6 JACKRACK KDENLIVE MOVIT NDI NORMALIZE OLDFILM OPENCV \
    PLACEBO PLUS PLUSGPL QT6 RESAMPLE RTAUDIO RUBBERBAND RNNOISE SDL1 SDL2 SOX SPATIALAUDIO \
    VIDSTAB VORBIS XML; do
    off+=("-DMOD_$m=OFF")
done
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DGPL=ON -DGPL3=OFF -DBUILD_TESTING=OFF -DBUILD_DOCS=OFF -DCLANG_FORMAT=OFF \
    -DMOD_AVFORMAT=ON -DUSE_AVDEVICE=OFF -DMOD_OPENFX=ON -DMOD_XINE=ON \
    -DUSE_LADSPA=OFF -DUSE_LV2=OFF -DUSE_VST2=OFF "${off[@]}" >"$prefix/cmake.log"
cmake --build "$build" -j "${MLT_JOBS:-2}" >"$prefix/build.log"
cmake --install "$build" >"$prefix/install.log"
for m in mltavformat mltopenfx mltxine; do
    ls "$prefix"/lib*/mlt*/lib$m.so >/dev/null 2>&1 || {
        echo "mlt-build: module $m was not built (see $prefix/cmake.log)" >&2
        exit 1
    }
done
echo "mlt-build: $prefix/bin/melt"
