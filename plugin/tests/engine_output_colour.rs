//! The output colour (Linear or sRGB): both paths give the same sRGB frame on ONNX Runtime's CPU
//! provider, sRGB is the linear frame encoded (picture views only; alpha, mattes and diagnostic views
//! untouched), and a premultiplied sRGB frame is the straight sRGB colour times alpha.

mod engine_common;

use corridorkey::engine::imaging::colour::linear_to_srgb;
use corridorkey::engine::{
    Engine, FrameInput, FrameOutput, HintSource, InputColour, KeyParams, OutputColour, OutputMode,
    PathChoice, RenderOptions, RgbaImage,
};
use engine_common::*;

const SET: &str = "uniform_s256";
const S: usize = 256;

/// An sRGB-encoded plate (what MLT hands over): a warm disc on green.
fn plate(w: usize, h: usize) -> RgbaImage {
    let mut src = RgbaImage::new(w, h);
    for (i, p) in src.data.chunks_mut(4).enumerate() {
        let (x, y) = (i % w, i / w);
        let r = (x as f32 - w as f32 / 2.0).hypot(y as f32 - h as f32 / 2.0);
        let grain = ((i * 7919) % 97) as f32 / 970.0;
        p.copy_from_slice(&if r < h as f32 / 3.0 {
            [0.8 + grain, 0.55, 0.45 - grain, 1.0]
        } else {
            [0.1, 0.7 + grain, 0.15, 1.0]
        });
    }
    src
}

fn render(params: &KeyParams, path: PathChoice) -> FrameOutput {
    let src = plate(96, 64);
    let input = FrameInput {
        source: &src,
        hint: None,
        garbage: None,
        core: None,
    };
    let rt = runtime(fixtures().join(SET));
    let opts = RenderOptions {
        use_cache: false,
        path,
        ..Default::default()
    };
    Engine::new()
        .render_with(&input, params, &rt, &opts, &|| false)
        .unwrap()
}

fn params(output: OutputMode, colour: OutputColour) -> KeyParams {
    KeyParams {
        inference_size: S,
        hint_source: HintSource::ChromaKey,
        input_colour: InputColour::Srgb,
        output,
        output_colour: colour,
        ..Default::default()
    }
}

#[test]
fn srgb_output_is_the_linear_output_encoded_on_both_paths() {
    let picture = [
        OutputMode::Premultiplied,
        OutputMode::Unpremultiplied,
        OutputMode::Foreground,
        OutputMode::Composite,
    ];
    for mode in picture.into_iter().chain([OutputMode::Matte]) {
        let lin = render(&params(mode, OutputColour::Linear), PathChoice::Cpu);
        let cpu = render(&params(mode, OutputColour::Srgb), PathChoice::Cpu);
        let gpu = render(&params(mode, OutputColour::Srgb), PathChoice::Gpu);
        let d = max_abs_diff(&cpu.image.data, &gpu.image.data);
        assert!(d < 2e-4, "{mode:?}: the paths differ by {d:e}");
        assert_eq!(cpu.premultiplied, lin.premultiplied, "{mode:?}");
        let encoded = picture.contains(&mode);
        let mut changed = 0;
        for (l, s) in lin.image.data.chunks(4).zip(cpu.image.data.chunks(4)) {
            assert_eq!(l[3], s[3], "{mode:?}: alpha must not be encoded");
            for c in 0..3 {
                let want = match (encoded, mode) {
                    (false, _) => l[c],
                    (true, OutputMode::Premultiplied) if l[3] > 0.0 => {
                        linear_to_srgb(l[c] / l[3]) * l[3]
                    }
                    (true, OutputMode::Premultiplied) => l[c],
                    (true, _) => linear_to_srgb(l[c]),
                };
                assert!(
                    (s[c] - want).abs() < 1e-4,
                    "{mode:?}: {} vs {want} (linear {})",
                    s[c],
                    l[c]
                );
                changed += usize::from((s[c] - l[c]).abs() > 1e-3);
            }
        }
        assert_eq!(changed > 0, encoded, "{mode:?}: {changed} values changed");
    }
}

#[test]
fn premultiplied_srgb_is_straight_srgb_times_alpha() {
    let straight = render(
        &params(OutputMode::Unpremultiplied, OutputColour::Srgb),
        PathChoice::Cpu,
    );
    let premult = render(
        &params(OutputMode::Premultiplied, OutputColour::Srgb),
        PathChoice::Gpu,
    );
    for (s, p) in straight
        .image
        .data
        .chunks(4)
        .zip(premult.image.data.chunks(4))
    {
        for c in 0..3 {
            assert!((s[c] * s[3] - p[c]).abs() < 2e-4, "{s:?} vs {p:?}");
        }
    }
}
