//! One ONNX Runtime session on a provider, and the check of its inputs and outputs against the
//! manifest.

use ort::environment::Environment;
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::Session;
use ort::value::{TensorElementType, ValueType};

use super::manifest::{self, GraphEntry};
use super::providers::{dispatch, Provider, Role};
use super::shared_arena;
use crate::engine::contract::RuntimeConfig;
use crate::engine::error::ModelProblem;

/// Where a graph comes from: the bytes of a verified model file (read once, hashed, then handed to
/// ONNX Runtime, so the file cannot change between the check and the load) or bytes embedded in
/// the plugin.
pub enum GraphSource<'a> {
    Memory(&'a [u8]),
}

/// Why a session could not be built on its provider (the caller falls back to the next one).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    Ort(#[from] ort::Error),
    #[error("CUDA is not active in the session: {0}")]
    CudaInactive(ort::Error),
}

impl From<ort::Error<ort::session::builder::SessionBuilder>> for SessionError {
    fn from(e: ort::Error<ort::session::builder::SessionBuilder>) -> Self {
        SessionError::Ort(e.into())
    }
}

impl SessionError {
    /// ORT's own error, for callers that report it as an inference failure.
    pub fn into_ort(self) -> ort::Error {
        match self {
            SessionError::Ort(e) => e,
            SessionError::CudaInactive(e) => {
                ort::Error::new(format!("CUDA is not active in the session: {e}"))
            }
        }
    }
}

/// A session on provider `p` (TensorRT only for the coarse graph, see `providers::dispatch`).
pub fn build(
    env: &Environment,
    source: GraphSource<'_>,
    p: Provider,
    rt: &RuntimeConfig,
    role: Role,
) -> Result<Session, SessionError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let builder = Session::builder(env)?
        .with_intra_threads(threads)?
        // No busy-waiting: the host application shares these cores.
        .with_intra_op_spinning(false)?
        .with_execution_providers(dispatch(p, rt, role))?;
    // One arena for all GPU sessions when the environment has it (shared_arena.rs).
    let builder = if p.is_gpu() && shared_arena::is_registered(rt.gpu_index) {
        builder.with_env_allocators()?
    } else {
        builder
    };
    // The coarse graph allocates tensor by tensor from the shared arena by default: its memory
    // pattern (one planned block of 1.6 GB at S=2048) cost 1.6 GB of device peak for no speed on
    // the H200 (BENCHMARKS.md, 2026-11-30: 6195 -> 4595 MiB, 208 -> 209 ms).
    // `RuntimeTuning::coarse_memory_pattern` turns the planned block back on (a tuning knob).
    let mut builder = if role == Role::Coarse && rt.tuning.coarse_memory_pattern {
        builder
    } else {
        // Tile batches and sizes vary between frames: don't plan buffers per shape.
        builder.with_memory_pattern(false)?
    };
    let session = match source {
        GraphSource::Memory(bytes) => builder.commit_from_memory(bytes),
    }?;
    if p.is_gpu() {
        // Registration can succeed while the provider is unusable; only a CUDA allocator proves
        // the session really runs on the GPU.
        let info = MemoryInfo::new(
            AllocationDevice::CUDA,
            rt.gpu_index,
            AllocatorType::Arena,
            MemoryType::Default,
        )?;
        Allocator::new(&session, info).map_err(SessionError::CudaInactive)?;
    }
    Ok(session)
}

fn dtype_name(ty: TensorElementType) -> &'static str {
    match ty {
        TensorElementType::Float32 => "float32",
        TensorElementType::Float16 => "float16",
        TensorElementType::Float64 => "float64",
        TensorElementType::Int64 => "int64",
        TensorElementType::Int32 => "int32",
        _ => "other",
    }
}

/// Compares a session's inputs/outputs with the manifest entry; the problem says what differs.
pub fn check_io(session: &Session, g: &GraphEntry) -> Result<(), ModelProblem> {
    let sides = [
        ("input", session.inputs(), &g.inputs),
        ("output", session.outputs(), &g.outputs),
    ];
    for (side, outlets, specs) in sides {
        let names: Vec<String> = outlets.iter().map(|o| o.name().to_string()).collect();
        let want: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        if names != want {
            return Err(ModelProblem::IoNames {
                file: g.file.clone(),
                side,
                have: names,
                want,
            });
        }
        for (o, spec) in outlets.iter().zip(specs.iter()) {
            let ValueType::Tensor { ty, shape, .. } = o.dtype() else {
                return Err(ModelProblem::IoNotTensor {
                    file: g.file.clone(),
                    side,
                    name: spec.name.clone(),
                });
            };
            if dtype_name(*ty) != spec.dtype {
                return Err(ModelProblem::IoType {
                    file: g.file.clone(),
                    side,
                    name: spec.name.clone(),
                    have: dtype_name(*ty),
                    want: spec.dtype.clone(),
                });
            }
            let want: Vec<Option<i64>> = spec.shape.iter().map(manifest::dim_value).collect();
            let have: Vec<Option<i64>> = shape
                .iter()
                .map(|&d| Some(if d < 0 { -1 } else { d }))
                .collect();
            if have != want {
                return Err(ModelProblem::IoShape {
                    file: g.file.clone(),
                    side,
                    name: spec.name.clone(),
                    have: shape.iter().copied().collect(),
                    want: format!("{:?}", spec.shape),
                });
            }
        }
    }
    Ok(())
}
