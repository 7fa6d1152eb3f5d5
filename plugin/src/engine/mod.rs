//! The host-agnostic keying engine: prepare -> coarse -> refine -> finish.
//!
//! Nothing here knows about OFX. The OFX layer (`crate::ofx`) converts host images into
//! [`FrameInput`], calls [`Engine::render`], and writes [`FrameOutput`] back; the benchmark and tools
//! call the same function. See `../shared/docs/DESIGN.md` section 2.

pub mod types;

pub use types::*;

use std::path::PathBuf;

/// Where the models and the ONNX Runtime library live, and which device to run on. Sessions are
/// rebuilt when any of this (or the inference size) changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuntimeConfig {
    /// Folder with `manifest.json` and the graphs (docs/MODEL-FORMAT.md).
    pub model_dir: PathBuf,
    /// Absolute path of `libonnxruntime.so.1.31.1` (beside the .ofx in the bundle).
    pub ort_library: PathBuf,
    pub device: Device,
    /// CUDA `gpu_mem_limit` in MiB (0 = no limit).
    pub gpu_mem_limit_mb: usize,
    /// CUDA device index.
    pub gpu_index: i32,
    /// TensorRT engine cache folder (None = no cache).
    pub engine_cache_dir: Option<PathBuf>,
}

/// Everything that can stop a frame. The OFX layer shows these as persistent messages and passes
/// the source through; none of them may panic.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no CorridorKey model in {dir}: {detail}")]
    ModelMissing { dir: PathBuf, detail: String },
    #[error("model in {dir} is not usable: {detail}")]
    ModelInvalid { dir: PathBuf, detail: String },
    #[error("ONNX Runtime could not be loaded from {path}: {detail}")]
    Runtime { path: PathBuf, detail: String },
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("bad input: {0}")]
    BadInput(String),
    #[error("render aborted by the host")]
    Aborted,
}
