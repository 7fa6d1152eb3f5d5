#!/usr/bin/env bash
# system-deps.sh demo|test: what `make demo` / `make test` need from the system, checked by what the
# build actually calls (commands, libraries, Python modules), so the check costs a few
# milliseconds and a machine that already has them is never touched.
#
# Missing pieces are installed with apt-get (Debian/Ubuntu) when running as root or with
# password-less sudo; otherwise this stops, before anything is built, with the one command to run.
# SYSTEM_DEPS_NO_INSTALL=1 never installs (stop and print the command, even as root).
# rustfmt and clippy (`make test` lints) come through rustup when it is there.
set -euo pipefail
level=${1:-demo}

pkgs=()
need() { pkgs+=("$1"); }
has() { command -v "$1" >/dev/null 2>&1; }
libclang() {
  [ -n "${LIBCLANG_PATH:-}" ] && return 0
  { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q 'libclang[-.0-9]*\.so'
}

has cc || need gcc                        # linker for rustc, cc crate (the test host's C shim)
has strip && has nm || need binutils      # bundle/make-bundle.sh
has unzip || need unzip                   # bundle/fetch-ort.sh unpacks ONNX Runtime's wheel
libclang || need libclang-dev             # openfx-sys runs bindgen
# Python modules by lookup, not import (one interpreter start, a few ms).
missing_py=$(python3 -c 'import importlib.util as u
print(*[m for m in ("pip", "venv", "ensurepip") if u.find_spec(m) is None])' 2>/dev/null || echo pip venv)
[[ " $missing_py " == *" pip "* ]] && need python3-pip       # fetch-ort.sh: pip download
if [ "$level" = test ] && [[ " $missing_py " == *" ensurepip "* || " $missing_py " == *" venv "* ]]; then
  need python3-venv                                          # .venv for the exporter
fi

if [ "$level" = test ]; then
  has valgrind || need valgrind           # tests/tests/valgrind.rs: the test host under memcheck
fi

rust=()
if [ "$level" = test ]; then
  cargo fmt --version >/dev/null 2>&1 || rust+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || rust+=(clippy)
fi

[ ${#pkgs[@]} -eq 0 ] && [ ${#rust[@]} -eq 0 ] && exit 0
if [ -n "${SYSTEM_DEPS_RECHECK:-}" ]; then
  # Installed, yet still missing: a python3 or toolchain outside the system's (pyenv, ...).
  echo "make: still missing after installing: ${pkgs[*]} ${rust[*]} (is python3/cargo the system's?)" >&2
  exit 1
fi

if [ ${#pkgs[@]} -gt 0 ]; then
  apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
  if [ -n "${SYSTEM_DEPS_NO_INSTALL:-}" ]; then
    sudo=(none)
  elif [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif has sudo && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    sudo=(none)
  fi
  if ! has apt-get || [ "${sudo[0]:-}" = none ]; then
    echo "make: missing system packages: ${pkgs[*]}" >&2
    if has apt-get; then
      echo "make: run this once, then make again:" >&2
      extra=""
      [ ${#rust[@]} -gt 0 ] && extra=" && rustup component add ${rust[*]}"
      echo "  sudo apt-get install -y --no-install-recommends ${pkgs[*]}$extra" >&2
    else
      echo "make: install them with your package manager (Debian/Ubuntu names above), then make again" >&2
    fi
    exit 1
  fi
  echo "make: installing ${pkgs[*]} (apt-get)"
  "${sudo[@]}" "${apt[@]}" update -q
  "${sudo[@]}" "${apt[@]}" install -y -q --no-install-recommends "${pkgs[@]}"
fi

if [ ${#rust[@]} -gt 0 ]; then
  if has rustup && [ -z "${SYSTEM_DEPS_NO_INSTALL:-}" ]; then
    echo "make: adding Rust components ${rust[*]} (rustup)"
    rustup component add "${rust[@]}"
  else
    echo "make: missing Rust components ${rust[*]}; install them (rustup component add ${rust[*]})" >&2
    exit 1
  fi
fi

SYSTEM_DEPS_RECHECK=1 exec bash "$0" "$level"
