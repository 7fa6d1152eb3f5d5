//! Device CUDA with ONNX Runtime's GPU build on a machine without the CUDA libraries: the frame still
//! renders (on the CPU) and the warning names the library that failed to load. Its own test binary
//! (= process), because a process keeps the first ONNX Runtime library it loads.

mod engine_common;

use corridorkey::engine::{Device, Engine, FrameInput, KeyParams, OutputMode, RgbaImage};
use engine_common::{fixtures, runtime, workspace};

#[test]
fn cuda_fallback_names_the_missing_library() {
    let gpu_lib = std::env::var_os("CORRIDORKEY_ORT_GPU_LIB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace().join(".cache/ort-gpu-1.31.1/libonnxruntime.so.1.31.1"));
    assert!(
        gpu_lib.is_file(),
        "GPU ONNX Runtime missing at {} (make fetches it)",
        gpu_lib.display()
    );
    let mut rt = runtime(fixtures().join("small_s128"));
    rt.ort_library = gpu_lib;
    rt.device = Device::Cuda;
    let mut src = RgbaImage::new(64, 48);
    for px in src.data.chunks_exact_mut(4) {
        px.copy_from_slice(&[0.05, 0.45, 0.08, 1.0]);
    }
    let input = FrameInput {
        source: &src,
        hint: None,
        garbage: None,
        core: None,
    };
    let params = KeyParams {
        inference_size: 128,
        output: OutputMode::Matte,
        ..Default::default()
    };
    let engine = Engine::new();
    let out = engine
        .render(&input, &params, &rt, &|| false)
        .expect("falls back, never fails");
    let described = engine.describe(&rt, 128);
    if described.contains("CPU") {
        let w = out.warnings.join("; ");
        assert!(w.contains("CUDA"), "fallback must say CUDA failed: {w:?}");
        assert!(
            w.contains(".so"),
            "fallback must name the library that failed: {w:?}"
        );
    } else {
        // A machine with working CUDA: no fallback, no warning.
        assert!(described.contains("CUDA"), "{described}");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }
}
