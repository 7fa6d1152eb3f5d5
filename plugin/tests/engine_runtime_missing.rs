//! A missing ONNX Runtime library is an error, never a panic. Its own test binary (= process),
//! because a process that has loaded the library keeps it.

use corridorkey::engine::{
    Device, Engine, EngineError, FrameInput, KeyParams, RgbaImage, RuntimeConfig,
};

#[test]
fn missing_runtime_library_is_a_runtime_error() {
    // The fixtures as the other engine tests find them (engine_common::fixtures; this binary
    // stays apart from them, see above).
    let fixtures = std::env::var_os("CORRIDORKEY_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
        });
    let model_dir = fixtures.join("small_s128");
    assert!(
        model_dir.join("manifest.json").is_file(),
        "run `make fixtures`"
    );
    let rt = RuntimeConfig {
        model_dir,
        ort_library: "/nonexistent/libonnxruntime.so.1.31.1".into(),
        device: Device::Auto,
        gpu_mem_limit_mb: 0,
        gpu_index: 0,
        engine_cache_dir: None,
        tuning: Default::default(),
    };
    let src = RgbaImage::new(16, 16);
    let input = FrameInput {
        source: &src,
        hint: None,
        garbage: None,
        core: None,
    };
    let p = KeyParams {
        inference_size: 128,
        ..Default::default()
    };
    let err = Engine::new()
        .render(&input, &p, &rt, &|| false)
        .unwrap_err();
    assert!(matches!(err, EngineError::Runtime { .. }), "{err}");
    let rel = RuntimeConfig {
        ort_library: "libonnxruntime.so.1.31.1".into(),
        ..rt
    };
    let err = Engine::new()
        .render(&input, &p, &rel, &|| false)
        .unwrap_err();
    assert!(matches!(err, EngineError::Runtime { .. }), "{err}");
}
