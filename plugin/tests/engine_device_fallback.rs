//! A failing device path falls back to the host path for the frame, with a warning (its own test
//! binary: the failure is injected through the environment).

mod engine_common;

use corridorkey::engine::{
    Engine, FrameInput, HintSource, KeyParams, OutputMode, RenderOptions, RgbaImage,
};
use engine_common::*;

#[test]
fn device_path_failure_keys_the_frame_on_the_host_path() {
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
    let render = |device_path| {
        Engine::new()
            .render_with(
                &input,
                &params,
                &rt,
                &RenderOptions {
                    use_cache: false,
                    device_path: Some(device_path),
                    ..Default::default()
                },
                &|| false,
            )
            .unwrap()
    };
    let host = render(false);
    std::env::set_var("CORRIDORKEY_TEST_DEVICE_PATH_FAIL", "1");
    let fell_back = render(true);
    std::env::remove_var("CORRIDORKEY_TEST_DEVICE_PATH_FAIL");
    assert!(
        fell_back
            .warnings
            .iter()
            .any(|w| w.contains("GPU frame path failed") && w.contains("injected")),
        "{:?}",
        fell_back.warnings
    );
    assert_eq!(host.image.data, fell_back.image.data);
    assert!(host.warnings.is_empty(), "{:?}", host.warnings);
}
