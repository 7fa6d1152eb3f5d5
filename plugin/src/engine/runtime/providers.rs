//! Execution providers: which ones a device setting allows, in which order, and how each is set up
//! (CUDA arena and convolution search, TensorRT engine cache, farm-side CUDA option overrides).

use std::path::{Path, PathBuf};

use ort::ep::{self, ArbitrarilyConfigurableExecutionProvider, ExecutionProviderDispatch};

use crate::engine::contract::{Device, RuntimeConfig};

/// A tiny weight-free graph whose session proves an execution provider loads (`model_set::load`).
pub const PROBE_GRAPH: &[u8] = include_bytes!("../../../kernels/sigmoid.onnx");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    TensorRt,
    Cuda,
    Cpu,
}

impl Provider {
    pub fn label(self) -> &'static str {
        match self {
            Provider::TensorRt => "TensorRT",
            Provider::Cuda => "CUDA",
            Provider::Cpu => "CPU",
        }
    }

    /// The graph precision this provider prefers.
    pub fn precision(self) -> &'static str {
        match self {
            Provider::Cpu => "fp32",
            _ => "fp16",
        }
    }

    pub fn is_gpu(self) -> bool {
        self != Provider::Cpu
    }
}

/// What a session runs: the provider options and session settings differ per role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Coarse,
    Refiner,
    /// The GPU path's weight-free kernel graphs (`engine::gpu`).
    Kernel,
}

/// `libonnxruntime_providers_{name}.so` beside the ORT library (ORT loads providers from its folder).
pub fn provider_lib(ort_lib: &Path, name: &str) -> PathBuf {
    let real = std::fs::canonicalize(ort_lib).unwrap_or_else(|_| ort_lib.to_path_buf());
    real.parent()
        .unwrap_or(Path::new("/"))
        .join(format!("libonnxruntime_providers_{name}.so"))
}

/// The providers to try for `device`, in order. Auto tries TensorRT and CUDA only when their
/// provider libraries are in the bundle: a CPU-only bundle means CPU, without complaint.
pub fn candidates(device: Device, ort_lib: &Path) -> Vec<Provider> {
    match device {
        Device::Cpu => vec![Provider::Cpu],
        Device::Cuda => vec![Provider::Cuda, Provider::Cpu],
        Device::TensorRt => vec![Provider::TensorRt, Provider::Cuda, Provider::Cpu],
        Device::Auto => {
            let mut c = Vec::new();
            if provider_lib(ort_lib, "tensorrt").is_file() {
                c.push(Provider::TensorRt);
            }
            if provider_lib(ort_lib, "cuda").is_file() {
                c.push(Provider::Cuda);
            }
            c.push(Provider::Cpu);
            c
        }
    }
}

fn cuda_ep(rt: &RuntimeConfig, role: Role) -> ExecutionProviderDispatch {
    let mut cuda = ep::CUDA::default()
        .with_device_id(rt.gpu_index)
        // TF32 keeps 10 mantissa bits: fine inside the fp16 graphs, not for the kernels' fp32
        // resampling products (1e-3 errors).
        .with_tf32(role != Role::Kernel)
        .with_arena_extend_strategy(ep::ArenaExtendStrategy::SameAsRequested)
        .with_conv_algorithm_search(ep::cuda::ConvAlgorithmSearch::Heuristic)
        .with_conv_max_workspace(false);
    if rt.gpu_mem_limit_mb > 0 {
        cuda = cuda.with_memory_limit(rt.gpu_mem_limit_mb << 20);
    }
    // Pipeline TDs can tune the CUDA provider per farm without a rebuild, with ORT's own option
    // names: CORRIDORKEY_CUDA_OPTIONS="prefer_nhwc=1,cudnn_conv_algo_search=EXHAUSTIVE".
    for (key, value) in cuda_option_overrides(rt.tuning.cuda_options.as_deref()) {
        cuda = cuda.with_arbitrary_config(key, value);
    }
    cuda.build().error_on_failure()
}

/// Parses `key=value,key=value`; malformed items are ignored (and logged by ORT as unknown keys).
fn cuda_option_overrides(spec: Option<&str>) -> Vec<(String, String)> {
    spec.unwrap_or_default()
        .split(',')
        .filter_map(|item| item.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn trt_ep(rt: &RuntimeConfig) -> ExecutionProviderDispatch {
    let mut trt = ep::TensorRT::default()
        .with_device_id(rt.gpu_index)
        .with_fp16(true);
    if let Some(dir) = &rt.engine_cache_dir {
        let dir = dir.display().to_string();
        trt = trt
            .with_engine_cache(true)
            .with_engine_cache_path(dir.clone())
            .with_timing_cache(true)
            .with_timing_cache_path(dir);
    }
    trt.build().error_on_failure()
}

/// The execution providers of one session on provider `p`.
pub fn dispatch(p: Provider, rt: &RuntimeConfig, role: Role) -> Vec<ExecutionProviderDispatch> {
    match p {
        // The refiner's B and T are dynamic; TensorRT would need shape profiles sized for the
        // largest tile batch, so the refiner runs on the CUDA EP even when the coarse graph is on TRT.
        Provider::TensorRt if role == Role::Coarse => vec![trt_ep(rt), cuda_ep(rt, role)],
        Provider::TensorRt | Provider::Cuda => vec![cuda_ep(rt, role)],
        Provider::Cpu => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::cuda_option_overrides;

    #[test]
    fn cuda_option_overrides_parse_pairs() {
        assert!(cuda_option_overrides(None).is_empty());
        assert_eq!(
            cuda_option_overrides(Some(
                " prefer_nhwc=1, bad ,cudnn_conv_algo_search=EXHAUSTIVE,=x"
            )),
            vec![
                ("prefer_nhwc".to_string(), "1".to_string()),
                (
                    "cudnn_conv_algo_search".to_string(),
                    "EXHAUSTIVE".to_string()
                )
            ]
        );
    }
}
