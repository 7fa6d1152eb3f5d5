//! Whether the CUDA execution provider loads in this process: the probe session `model_set::load`
//! builds before it trusts a GPU provider, answered once per (ORT library, GPU) and remembered (the
//! OFX describe action asks before it offers CUDA render to the host).

use std::collections::HashMap;
use std::path::PathBuf;

use parking_lot::Mutex;

use super::environment::environment;
use super::providers::{provider_lib, Provider, Role, PROBE_GRAPH};
use super::session::{build, GraphSource};
use crate::engine::contract::RuntimeConfig;

/// Why the CUDA provider is not usable here.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// The bundle's ONNX Runtime has no CUDA provider beside it (a CPU-only bundle).
    #[error("no CUDA provider library ({} not found)", .0.display())]
    NoProviderLibrary(PathBuf),
    #[error("{0}")]
    Runtime(String),
    #[error("the CUDA provider does not load: {0}")]
    Session(String),
}

type Answers = HashMap<(PathBuf, i32), Result<(), ProbeError>>;

/// Ok when a session on the CUDA provider builds for `rt.ort_library` on GPU `rt.gpu_index`. The
/// first call per library and GPU loads ONNX Runtime and the provider (seconds); later calls answer
/// from memory. A CPU-only bundle answers without loading anything.
pub fn cuda_provider_loads(rt: &RuntimeConfig) -> Result<(), ProbeError> {
    static ANSWERS: Mutex<Option<Answers>> = parking_lot::const_mutex(None);
    let key = (rt.ort_library.clone(), rt.gpu_index);
    if let Some(a) = ANSWERS.lock().as_ref().and_then(|m| m.get(&key)) {
        return a.clone();
    }
    let answer = probe(rt);
    ANSWERS
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(key, answer.clone());
    answer
}

fn probe(rt: &RuntimeConfig) -> Result<(), ProbeError> {
    let lib = provider_lib(&rt.ort_library, "cuda");
    if !lib.is_file() {
        return Err(ProbeError::NoProviderLibrary(lib));
    }
    let (env, _) = environment(&rt.ort_library).map_err(|e| ProbeError::Runtime(e.to_string()))?;
    build(
        &env,
        GraphSource::Memory(PROBE_GRAPH),
        Provider::Cuda,
        rt,
        Role::Kernel,
    )
    .map(drop)
    .map_err(|e| ProbeError::Session(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::contract::Device;

    #[test]
    fn a_cpu_only_runtime_has_no_cuda_provider_and_loads_nothing() {
        let dir = std::env::temp_dir().join(format!("ck-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Not even a real ORT library: the answer must come before anything is loaded.
        let ort = dir.join("libonnxruntime.so.1.31.1");
        std::fs::write(&ort, b"").unwrap();
        let rt = RuntimeConfig {
            model_dir: dir.clone(),
            ort_library: ort,
            device: Device::Auto,
            gpu_mem_limit_mb: 0,
            gpu_index: 0,
            engine_cache_dir: None,
            tuning: Default::default(),
        };
        let first = cuda_provider_loads(&rt);
        let again = cuda_provider_loads(&rt);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            matches!(&first, Err(ProbeError::NoProviderLibrary(p)) if p.ends_with("libonnxruntime_providers_cuda.so")),
            "{first:?}"
        );
        assert_eq!(first, again);
    }
}
