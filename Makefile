# CorridorKey OFX. `make demo` keys a sample plate through the real plugin; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := demo

ROOT        := $(abspath .)
VENV        := $(ROOT)/.venv
PY          := $(VENV)/bin/python
ORT_VERSION := 1.31.1
CACHE       := $(ROOT)/.cache
ORT_CPU_DIR := $(CACHE)/ort-cpu-$(ORT_VERSION)
ORT_GPU_DIR := $(CACHE)/ort-gpu-$(ORT_VERSION)
ORT_LIB     := $(ORT_CPU_DIR)/libonnxruntime.so.$(ORT_VERSION)
BUILD       := $(ROOT)/build
BUNDLE      := $(BUILD)/CorridorKey.ofx.bundle
FIXTURES    := $(ROOT)/fixtures
DEMO_OUT    := $(ROOT)/out/demo
# The shipped compact model (bundle/models) is exported at 1024.
DEMO_SIZE   ?= 1024
SEED        ?= 0
SIZE        ?= 2048
CHECKPOINT  ?=
GPU         ?= 0

ORT_GPU_LIB := $(ORT_GPU_DIR)/libonnxruntime.so.$(ORT_VERSION)
export CORRIDORKEY_ORT_LIB := $(ORT_LIB)
export CORRIDORKEY_ORT_GPU_LIB := $(ORT_GPU_LIB)
export CORRIDORKEY_FIXTURES := $(FIXTURES)
export CORRIDORKEY_BUNDLE := $(BUNDLE)
# Open Job Description's runner (openjd-cli, requirements.txt) for the farm job's test: set, it
# must exist, so the test never skips under make.
export CORRIDORKEY_OPENJD := $(VENV)/bin/openjd

.PHONY: demo test lint build bundle fixtures export bench venv ort pytest cargo-test clean system-deps

## ---- set-up (idempotent) ----
# System packages (apt, as root or with password-less sudo; otherwise it stops with the command to
# run): checked once per make run before anything builds, by what the build calls, so it costs a
# few milliseconds on a machine that has them. `make test` also needs python3-venv and the
# rustfmt/clippy components; every other target needs what `make demo` does.
SYSTEM_DEPS := $(if $(filter test lint pytest cargo-test venv fixtures export,$(MAKECMDGOALS)),test,demo)
system-deps:
	@bash tools/system-deps.sh $(SYSTEM_DEPS)
# Order-only: the check runs first without making the files below out of date.
build lint $(ORT_LIB) $(ORT_GPU_LIB) $(VENV)/.installed: | system-deps

venv: $(VENV)/.installed
$(VENV)/.installed: onnx-export/requirements.txt onnx-export/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r onnx-export/requirements.txt
	$(PY) -m pip install -q --no-deps -e onnx-export
	touch $@

ort: $(ORT_LIB)
$(ORT_LIB):
	bash bundle/fetch-ort.sh cpu $(ORT_VERSION) $(ORT_CPU_DIR)

$(ORT_GPU_LIB):
	bash bundle/fetch-ort.sh gpu $(ORT_VERSION) $(ORT_GPU_DIR)

## ---- build ----
# The test host's FFI is its own crate (ofx-bindings/host), so a workspace build is the plugin that
# ships: one build, one target dir.
build:
	cargo build --release --workspace

# The stamp (build/.bundle-built) says when the bundle and ofx-render were last built (`make demo`).
BUNDLE_STAMP := $(BUILD)/.bundle-built
bundle: build $(ORT_LIB) $(if $(filter 1,$(GPU)),$(ORT_GPU_LIB))
	bash bundle/make-bundle.sh $(BUNDLE) $(ROOT)/target/release $(if $(filter 1,$(GPU)),$(ORT_GPU_DIR),$(ORT_CPU_DIR))
	@touch $(BUNDLE_STAMP)

## ---- models ----
fixtures: venv
	$(PY) -m corridorkey_export fixtures --out $(FIXTURES)

# make export CHECKPOINT=path/to/CorridorKey_v1.0.pth SIZE=2048  (no CHECKPOINT: seeded weights)
export: venv
	$(PY) -m corridorkey_export export $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT),--seed $(SEED)) \
	    --size $(SIZE) --out $(BUILD)/models

## ---- the two commands ----
# `make demo` rebuilds only when a source is newer than the last bundle, so a demo right after
# `make test` starts keying at once.
BUNDLE_SOURCES := $(shell find plugin/src plugin/kernels plugin/build.rs plugin/Cargo.toml ofx-bindings \
	tests/src bundle/models -type f 2>/dev/null) \
	Cargo.toml Cargo.lock tests/Cargo.toml bundle/make-bundle.sh bundle/Info.plist \
	bundle/org.corridorkey.CorridorKey.png
$(BUNDLE_STAMP): $(BUNDLE_SOURCES) | system-deps
	$(MAKE) bundle
RENDER := $(ROOT)/target/release/ofx-render
$(RENDER): | system-deps
	$(MAKE) bundle
demo: system-deps $(BUNDLE_STAMP) $(RENDER)
	bash bundle/demo.sh $(BUNDLE) $(DEMO_OUT) $(DEMO_SIZE) $(RENDER)

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

pytest: venv
	cd onnx-export && $(PY) -m pytest -q

# The GPU build of ONNX Runtime too: a test checks that a CUDA fallback names the missing library.
cargo-test: bundle fixtures $(ORT_GPU_LIB)
	cargo test --release --workspace --all-targets

test: system-deps lint pytest cargo-test

# The benchmark crate (bench/): engine and/or bundle via the test host, NVML memory, ORT arena
# statistics, the PyTorch reference (--torch); `ck-bench --help`. Built by `make build`.
bench: bundle
	target/release/ck-bench $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(FIXTURES) out target
