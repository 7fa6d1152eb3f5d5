// Shared helpers for the engine integration tests (included with `mod engine_common;`).
#![allow(dead_code)]

use std::path::PathBuf;

use corridorkey::engine::{Device, RuntimeConfig};
use ndarray::ArrayD;

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn fixtures() -> PathBuf {
    let dir = std::env::var_os("CORRIDORKEY_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("fixtures"));
    assert!(
        dir.join("small_s128/manifest.json").is_file(),
        "fixtures missing in {} (run `make fixtures`)",
        dir.display()
    );
    dir
}

pub fn ort_lib() -> PathBuf {
    let lib = std::env::var_os("CORRIDORKEY_ORT_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".cache/ort-cpu-1.31.1/libonnxruntime.so.1.31.1"));
    assert!(
        lib.is_file(),
        "ONNX Runtime library missing at {} (run `make ort`)",
        lib.display()
    );
    lib
}

pub fn runtime(model_dir: PathBuf) -> RuntimeConfig {
    RuntimeConfig {
        model_dir,
        ort_library: ort_lib(),
        device: Device::Cpu,
        gpu_mem_limit_mb: 0,
        gpu_index: 0,
        engine_cache_dir: None,
        tuning: Default::default(),
    }
}

pub fn npy(set: &str, name: &str) -> ArrayD<f32> {
    let path = fixtures().join(set).join(format!("{name}.npy"));
    ndarray_npy::read_npy(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn vec_of(a: &ArrayD<f32>) -> Vec<f32> {
    a.as_standard_layout().iter().copied().collect()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A temporary copy of a fixture set that tests may break.
pub struct TempSet(pub PathBuf);

impl TempSet {
    pub fn copy(set: &str, tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ck-engine-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(fixtures().join(set)).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".onnx") || name == "manifest.json" {
                std::fs::copy(&p, dir.join(&name)).unwrap();
            }
        }
        TempSet(dir)
    }
}

impl Drop for TempSet {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
