//! What can stop a frame, typed: a missing model is not a broken one, bad input is not an engine
//! bug, and a failed ONNX Runtime call keeps ORT's own error as its source. The OFX layer shows
//! every one of them as a persistent message and passes the source through; none may panic.

use std::path::PathBuf;
use std::sync::Arc;

use super::runtime::cuda::error::CudaError;
use super::runtime::out_of_memory::{classify, OutOfMemory};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no CorridorKey model in {}: {detail}", dir.display())]
    ModelMissing {
        dir: PathBuf,
        detail: Box<ModelProblem>,
    },
    #[error("model in {} is not usable: {detail}", dir.display())]
    ModelInvalid {
        dir: PathBuf,
        detail: Box<ModelProblem>,
    },
    #[error("ONNX Runtime could not be loaded from {}: {detail}", path.display())]
    Runtime {
        path: PathBuf,
        detail: RuntimeProblem,
    },
    /// Every execution provider the device setting allows failed to build the sessions.
    #[error("no execution provider could load the model: {0}")]
    NoProvider(String),
    /// An ONNX Runtime call failed while keying (out of device memory, a CUDA error, ...).
    #[error("inference failed in {step}: {source}")]
    Inference {
        step: &'static str,
        #[source]
        source: ort::Error,
    },
    #[error("bad input: {0}")]
    BadInput(InputProblem),
    /// A buffer sized from outside (a host image, a model file) could not be allocated: an error
    /// here instead of Rust's allocation-failure abort of the whole host.
    #[error("not enough memory for {what} ({} MB)", bytes.div_ceil(1 << 20))]
    OutOfMemory { what: &'static str, bytes: usize },
    /// The engine disagrees with itself (a stage got what another stage did not promise, a panic):
    /// a bug to report, never the user's fault.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("render aborted by the host")]
    Aborted,
    /// The host handed images in CUDA memory, and there is no usable CUDA runtime or device here.
    #[error("the host's images are in CUDA memory, but CUDA is not usable here: {0}")]
    NoCuda(#[source] CudaError),
    /// The GPU ran out of memory while `step` ran.
    #[error("out of GPU memory while {step}: {source}")]
    DeviceOutOfMemory {
        step: &'static str,
        #[source]
        source: CudaError,
    },
    /// A device image is on another GPU than the one CorridorKey runs on (or than the others).
    #[error("device mismatch: {image} is on GPU {image_device}, {expected}")]
    DeviceMismatch {
        image: &'static str,
        image_device: i32,
        /// What it should match and how, in words ("but CorridorKey runs on GPU 0 (...)").
        expected: String,
    },
    /// A CUDA runtime call failed while `step` ran (not out of memory).
    #[error("CUDA failed while {step}: {source}")]
    Cuda {
        step: &'static str,
        #[source]
        source: CudaError,
    },
}

impl EngineError {
    /// An ONNX Runtime failure in `step`.
    pub fn ort(step: &'static str) -> impl Fn(ort::Error) -> EngineError + Copy {
        move |source| EngineError::Inference { step, source }
    }

    /// A CUDA failure in `step`, typed by its cause (no runtime, out of memory, other).
    pub fn cuda(step: &'static str) -> impl Fn(CudaError) -> EngineError + Copy {
        move |source| {
            if source.is_unavailable() {
                EngineError::NoCuda(source)
            } else if source.is_out_of_memory() {
                EngineError::DeviceOutOfMemory { step, source }
            } else {
                EngineError::Cuda { step, source }
            }
        }
    }

    /// Whether this is the device running out of memory (a CUDA, cuBLAS, cuDNN or arena allocation
    /// that failed inside ONNX Runtime, or one of the engine's own CUDA allocations), and whose:
    /// the cue for the degrade ladder (`engine::degrade`).
    pub fn device_out_of_memory(&self) -> Option<OutOfMemory> {
        match self {
            EngineError::Inference { source, .. } => classify(&source.to_string()),
            EngineError::DeviceOutOfMemory { .. } => Some(OutOfMemory::Cuda),
            _ => None,
        }
    }

    /// Whether the CPU path may still key the frame after the GPU path failed with this error:
    /// not when the host aborted or there is no model at all.
    pub fn falls_back(&self) -> bool {
        !matches!(
            self,
            EngineError::Aborted | EngineError::ModelMissing { .. }
        )
    }

    /// The same error again, for a model folder whose failed load is remembered until the folder
    /// changes (`slot.rs`). None for what is not worth remembering: an abort, a runtime library
    /// that may be fixed outside the folder, a failure while keying.
    pub fn replay(&self) -> Option<EngineError> {
        Some(match self {
            EngineError::ModelMissing { dir, detail } => EngineError::ModelMissing {
                dir: dir.clone(),
                detail: detail.clone(),
            },
            EngineError::ModelInvalid { dir, detail } => EngineError::ModelInvalid {
                dir: dir.clone(),
                detail: detail.clone(),
            },
            EngineError::NoProvider(e) => EngineError::NoProvider(e.clone()),
            _ => return None,
        })
    }
}

/// What is wrong with a model folder, its manifest or one of its graphs. Cloned when a failed load
/// is remembered, so OS and parser errors are shared.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ModelProblem {
    #[error("folder does not exist")]
    NoFolder,
    #[error("manifest.json not found")]
    NoManifest,
    #[error("cannot read {file}: {source}")]
    Unreadable {
        file: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("manifest.json: {0}")]
    Json(#[source] Arc<serde_json::Error>),
    #[error("manifest schema is {found:?}, expected {expected:?}")]
    Schema {
        found: String,
        expected: &'static str,
    },
    #[error("graph file name {0:?} must be a plain file name")]
    FileName(String),
    #[error("manifest lists no coarse graph")]
    NoCoarseGraph,
    #[error("graph {file}: screen {screen:?} is neither \"green\" nor \"blue\"")]
    Screen { file: String, screen: String },
    #[error("graph file {0} is missing")]
    GraphMissing(String),
    #[error("{file} is a {kind}, not a regular file")]
    NotRegular { file: String, kind: &'static str },
    #[error("manifest.json gives no \"bytes\" for {0} (the length is required before reading)")]
    NoLength(String),
    #[error("{file} is {bytes} bytes; the most the plugin reads is {max}")]
    TooLarge { file: String, bytes: u64, max: u64 },
    #[error("{0} changed while it was being read")]
    Changed(String),
    #[error("reading {} made no progress for {secs} s (a hung or very slow file system?)", path.display())]
    Stalled { path: PathBuf, secs: u64 },
    #[error("an earlier read in {} has not returned for over {secs} s; the file system is not responding", dir.display())]
    Hung { dir: PathBuf, secs: u64 },
    #[error("{file}: the manifest says size {manifest}, but the graph's input is {graph}x{graph}")]
    SizeMismatch {
        file: String,
        manifest: usize,
        graph: usize,
    },
    #[error("{file}: input image has shape {shape:?}; expected [1, 4, S, S] with S a multiple of 32 from {min} to {max}")]
    BadInputShape {
        file: String,
        shape: Vec<i64>,
        min: usize,
        max: usize,
    },
    #[error("{file} is {have} bytes, the manifest says {want}")]
    Length { file: String, have: u64, want: u64 },
    #[error("{file} has sha256 {have}, the manifest says {want} (corrupt or replaced file)")]
    Digest {
        file: String,
        have: String,
        want: String,
    },
    #[error("{file}: {side}s are {have:?}, the manifest says {want:?}")]
    IoNames {
        file: String,
        side: &'static str,
        have: Vec<String>,
        want: Vec<String>,
    },
    #[error("{file}: {side} {name} is not a tensor")]
    IoNotTensor {
        file: String,
        side: &'static str,
        name: String,
    },
    #[error("{file}: {side} {name} is {have}, the manifest says {want}")]
    IoType {
        file: String,
        side: &'static str,
        name: String,
        have: &'static str,
        want: String,
    },
    #[error("{file}: {side} {name} has shape {have:?} (-1 = dynamic), the manifest says {want}")]
    IoShape {
        file: String,
        side: &'static str,
        name: String,
        have: Vec<i64>,
        want: String,
    },
}

/// Why ONNX Runtime could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeProblem {
    #[error("the library path must be absolute")]
    NotAbsolute,
    #[error("file not found")]
    NotFound,
    #[error("{0}")]
    Load(String),
    #[error("{0}")]
    Environment(#[source] ort::Error),
}

/// What is wrong with the images or parameters a caller handed in.
#[derive(Debug, thiserror::Error)]
pub enum InputProblem {
    #[error("source has {have} values, expected {width}x{height}x4")]
    SourceLength {
        have: usize,
        width: usize,
        height: usize,
    },
    #[error("{name} matte is {width}x{height} ({len} values), the source is {source_width}x{source_height}")]
    MatteSize {
        name: &'static str,
        width: usize,
        height: usize,
        len: usize,
        source_width: usize,
        source_height: usize,
    },
    #[error("render scale {0} is not positive")]
    RenderScale(f64),
    /// A device image whose geometry or format the engine cannot take.
    #[error("{name} device image: {why}")]
    DeviceImage { name: &'static str, why: String },
    /// A device image whose address is not CUDA device memory.
    #[error("{name} is not CUDA device memory (the runtime says: {kind})")]
    NotDeviceMemory {
        name: &'static str,
        kind: &'static str,
    },
    #[error("the plate is {width}x{height}; the keyer takes at most {max_side} pixels a side and {max_pixels} pixels in all")]
    TooLarge {
        width: usize,
        height: usize,
        max_side: usize,
        max_pixels: usize,
    },
}
