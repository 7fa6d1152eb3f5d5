//! What a CUDA runtime call can fail with, typed: no runtime at all is not a failed call, and an
//! out-of-memory failure is told apart so callers can name it.

/// `cudaErrorInvalidValue`.
pub const INVALID_VALUE: i32 = 1;
/// `cudaErrorMemoryAllocation`: the device is out of memory.
pub const OUT_OF_MEMORY: i32 = 2;
/// `cudaErrorInsufficientDriver`: the installed driver is older than the runtime.
pub const INSUFFICIENT_DRIVER: i32 = 35;
/// `cudaErrorNoDevice`.
pub const NO_DEVICE: i32 = 100;
/// `cudaErrorNotReady`: queued work has not finished (an answer, not a failure, for queries).
pub const NOT_READY: i32 = 600;
/// `cudaErrorNotSupported` (for example stream-ordered allocation on a device without pools).
pub const NOT_SUPPORTED: i32 = 801;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CudaError {
    /// No candidate library could be loaded; one entry per attempt, each naming the file and why.
    #[error("the CUDA runtime could not be loaded ({})", .attempts.join("; "))]
    Unavailable { attempts: Vec<String> },
    /// The library loaded but is not a usable CUDA runtime (too old, or not libcudart at all).
    #[error("{origin} is not a usable CUDA runtime: {symbol} is missing ({detail})")]
    MissingSymbol {
        origin: String,
        symbol: &'static str,
        detail: String,
    },
    /// A runtime call returned an error code.
    #[error("{call} failed: {name} ({code}): {message}")]
    Call {
        call: &'static str,
        code: i32,
        name: String,
        message: String,
    },
    /// A 2D region or copy that does not fit its memory (caught before any call).
    #[error("bad device region: {0}")]
    Region(String),
}

impl CudaError {
    /// The device ran out of memory.
    pub fn is_out_of_memory(&self) -> bool {
        matches!(self, CudaError::Call { code, .. } if *code == OUT_OF_MEMORY)
    }

    /// There is no working CUDA here: no runtime library, or no device / driver for it.
    pub fn is_unavailable(&self) -> bool {
        match self {
            CudaError::Unavailable { .. } | CudaError::MissingSymbol { .. } => true,
            CudaError::Call { code, .. } => *code == NO_DEVICE || *code == INSUFFICIENT_DRIVER,
            CudaError::Region(_) => false,
        }
    }
}
