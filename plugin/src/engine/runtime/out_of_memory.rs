//! Which ONNX Runtime failures are the device running out of memory.
//!
//! ORT reports a failed CUDA, cuBLAS or cuDNN call, and a full arena, only as text (its C API gives
//! every one the same `ORT_RUNTIME_EXCEPTION`/`ORT_FAIL` code), for example
//! `... cuda_call.cc:154 ... CUBLAS failure 3: CUBLAS_STATUS_ALLOC_FAILED ; GPU=0 ; ...` when
//! the refiner cannot create its cuBLAS handle on a card another process fills (measured on the
//! H100, issue 22). The text is matched here, in one place, by the library's status *names* and
//! codes (which the CUDA libraries keep stable), never by the surrounding prose.

/// The library whose allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutOfMemory {
    /// `cudaMalloc` & co.: `CUDA failure 2: out of memory` / `cudaErrorMemoryAllocation`.
    Cuda,
    /// `CUBLAS_STATUS_ALLOC_FAILED` (cuBLAS status 3): no room for a handle or workspace.
    Cublas,
    /// `CUDNN_STATUS_ALLOC_FAILED` (cuDNN 8: 2) or cuDNN 9's `..._ALLOCATION_FAILED` statuses.
    Cudnn,
    /// ORT's own arena: `Failed to allocate memory for requested buffer of size ...`.
    Arena,
}

impl OutOfMemory {
    /// The library in words, for the log.
    pub fn label(self) -> &'static str {
        match self {
            OutOfMemory::Cuda => "CUDA",
            OutOfMemory::Cublas => "cuBLAS",
            OutOfMemory::Cudnn => "cuDNN",
            OutOfMemory::Arena => "ONNX Runtime's arena",
        }
    }
}

/// Whether ORT's error text says an allocation on the device failed, and whose.
pub fn classify(text: &str) -> Option<OutOfMemory> {
    let t = text.to_ascii_uppercase();
    let failure = |lib: &str, code: &str| t.contains(&format!("{lib} FAILURE {code}:"));
    if t.contains("CUBLAS_STATUS_ALLOC_FAILED") || failure("CUBLAS", "3") {
        return Some(OutOfMemory::Cublas);
    }
    let cudnn_alloc = t.contains("CUDNN_STATUS_ALLOC_FAILED")
        || (t.contains("CUDNN_STATUS_") && t.contains("ALLOCATION_FAILED"))
        || failure("CUDNN", "2");
    if cudnn_alloc {
        return Some(OutOfMemory::Cudnn);
    }
    if t.contains("CUDAERRORMEMORYALLOCATION")
        || (failure("CUDA", "2") && t.contains("OUT OF MEMORY"))
    {
        return Some(OutOfMemory::Cuda);
    }
    if t.contains("FAILED TO ALLOCATE MEMORY FOR REQUESTED BUFFER") {
        return Some(OutOfMemory::Arena);
    }
    None
}

/// The cuBLAS failure ORT gave on the H100 with 4 GB left (issue 22), for the test hook.
pub const CUBLAS_ALLOC_FAILED_TEXT: &str = "Non-zero status code returned while running MatMul \
node. Name:'/refiner/MatMul' Status Message: /onnxruntime_src/onnxruntime/core/providers/cuda/\
cuda_call.cc:154 std::conditional_t<THRW, void, common::Status> onnxruntime::CudaCall(ERRTYPE, \
const char*, const char*, SUCCTYPE, const char*, const char*, int) [with ERRTYPE = \
cublasStatus_t; bool THRW = true; SUCCTYPE = cublasStatus_t; std::conditional_t<THRW, void, \
common::Status> = void] CUBLAS failure 3: CUBLAS_STATUS_ALLOC_FAILED ; GPU=0 ; hostname=gpu ; \
file=/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_execution_provider.cc ; line=179 ; \
expr=cublasCreate(&cublas_handle_);";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_allocation_failures_are_told_apart_from_other_failures() {
        assert_eq!(
            classify(CUBLAS_ALLOC_FAILED_TEXT),
            Some(OutOfMemory::Cublas)
        );
        let cuda = "cuda_call.cc:154 ... CUDA failure 2: out of memory ; GPU=0 ; hostname=h ; \
                    file=cuda_allocator.cc ; line=47 ; expr=cudaMalloc((void**)&p, size);";
        assert_eq!(classify(cuda), Some(OutOfMemory::Cuda));
        assert_eq!(
            classify("CUDNN failure 4002: CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED"),
            Some(OutOfMemory::Cudnn)
        );
        assert_eq!(
            classify("CUDNN failure 2: CUDNN_STATUS_ALLOC_FAILED ; GPU=0"),
            Some(OutOfMemory::Cudnn)
        );
        let arena = "bfc_arena.cc:359 AllocateRawInternal Failed to allocate memory for \
                     requested buffer of size 1677721600";
        assert_eq!(classify(arena), Some(OutOfMemory::Arena));
        // Other CUDA failures, and codes that only look alike, are not memory.
        for other in [
            "CUDA failure 700: an illegal memory access was encountered",
            "CUDA failure 20: out of range",
            "CUBLAS failure 13: CUBLAS_STATUS_EXECUTION_FAILED",
            "CUBLAS failure 30: CUBLAS_STATUS_X",
            "Got invalid dimensions for input: image",
            "GPU path failure injected",
        ] {
            assert_eq!(classify(other), None, "{other}");
        }
    }
}
