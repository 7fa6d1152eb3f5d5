//! A failing GPU path falls back to the CPU path for the frame, with a warning (the failure is
//! injected through `RenderOptions::fail_gpu_path`, the engine's end of CORRIDORKEY_TEST_GPU_PATH_FAIL).

mod engine_common;

use corridorkey::engine::{
    Engine, FrameInput, HintSource, KeyParams, OutputMode, PathChoice, RenderOptions, RgbaImage,
};
use engine_common::*;

#[test]
fn gpu_path_failure_keys_the_frame_on_the_cpu_path() {
    let (w, h) = (160, 90);
    let mut src = RgbaImage::new(w, h);
    for (i, p) in src.data.chunks_mut(4).enumerate() {
        let subject = (i % w).abs_diff(80) < 30;
        p.copy_from_slice(&if subject {
            [0.5, 0.3, 0.25, 1.0]
        } else {
            [0.03, 0.4, 0.05, 1.0]
        });
    }
    let input = FrameInput {
        source: &src,
        hint: None,
        garbage: None,
        core: None,
    };
    let params = KeyParams {
        inference_size: 256,
        output: OutputMode::Premultiplied,
        hint_source: HintSource::ChromaKey,
        ..Default::default()
    };
    let rt = runtime(fixtures().join("uniform_s256"));
    let render = |path, fail_gpu_path| {
        Engine::new()
            .render_with(
                &input,
                &params,
                &rt,
                &RenderOptions {
                    use_cache: false,
                    path,
                    fail_gpu_path,
                    ..Default::default()
                },
                &|| false,
            )
            .unwrap()
    };
    let cpu = render(PathChoice::Cpu, false);
    // The test hook CORRIDORKEY_TEST_GPU_PATH_FAIL sets (ofx/config.rs).
    let fell_back = render(PathChoice::Gpu, true);
    assert!(
        fell_back
            .warnings
            .iter()
            .any(|w| w.contains("GPU frame path failed") && w.contains("injected")),
        "{:?}",
        fell_back.warnings
    );
    assert_eq!(cpu.image.data, fell_back.image.data);
    assert!(cpu.warnings.is_empty(), "{:?}", cpu.warnings);
}
