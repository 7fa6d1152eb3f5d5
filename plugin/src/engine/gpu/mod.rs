//! The GPU path's toolbox: the weight-free kernel graphs (`plugin/kernels/`, written by
//! `python -m corridorkey_export kernels`) as sessions on the model's execution provider, device
//! constants (resampling matrices, blend weights) cached across frames, and tensor moves between the
//! CPU memory and the device. The stages' GPU forms (`stages/*/gpu.rs`) are built from these.
//!
//! The kernels reproduce the CPU path operation for operation: same tile plan, skip rule, batch
//! padding, blend weights and order, same resampling taps (`matrices.rs`). On the CPU provider both
//! paths agree to float rounding (tests/engine_gpu_path.rs); on a GPU `ck-bench` reports the
//! difference.

pub mod graphs;
pub mod kernels;
pub mod matrices;
pub mod staging;
pub mod tensors;

pub use graphs::{Kernel, MAX_BATCH};
pub use kernels::{ConstKey, GpuKernels};
