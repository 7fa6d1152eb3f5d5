//! The GPU path's hints against the CPU's: the built-in chroma key (8-bit codes, OpenCV's integer
//! HSV, ellipse erosion, Gaussian blur) and the source's alpha, on ONNX Runtime's CPU provider.

mod engine_common;

use corridorkey::engine::abort::Abort;
use corridorkey::engine::gpu::GpuKernels;
use corridorkey::engine::inputs;
use corridorkey::engine::report::FrameReport;
use corridorkey::engine::runtime::environment::environment;
use corridorkey::engine::runtime::Provider;
use corridorkey::engine::stages::prepare::gpu::hint;
use corridorkey::engine::{
    ChromaKeyParams, FrameInput, HintSource, InputColour, KeyParams, RgbaImage,
};
use engine_common::*;

/// A plate with a screen in several greens, a subject, strands, noise around the HSV thresholds,
/// negative and over-range values.
fn plate(w: usize, h: usize, seed: u64) -> RgbaImage {
    let mut img = RgbaImage::new(w, h);
    let mut state = seed | 1;
    let mut rnd = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 100_000) as f32 / 100_000.0
    };
    for y in 0..h {
        for x in 0..w {
            let p = &mut img.data[(y * w + x) * 4..][..4];
            let subject =
                ((x as f32 - w as f32 * 0.5).powi(2) + (y as f32 - h as f32 * 0.55).powi(2)).sqrt()
                    < h as f32 * 0.3;
            let strand = x % 17 == 0 && y > h / 4;
            let n = rnd();
            let c = if subject || strand {
                [0.45 + 0.2 * n, 0.3 + 0.1 * rnd(), 0.25 * rnd()]
            } else if n < 0.05 {
                // Random colours, out of range included.
                [rnd() * 1.4 - 0.2, rnd() * 1.4 - 0.2, rnd() * 1.4 - 0.2]
            } else {
                [0.03 + 0.1 * rnd(), 0.25 + 0.5 * rnd(), 0.04 + 0.1 * rnd()]
            };
            p[..3].copy_from_slice(&c);
            p[3] = rnd();
        }
    }
    img
}

fn gpu_hint(k: &mut GpuKernels, src: &RgbaImage, params: &KeyParams) -> (Vec<f32>, Vec<f32>) {
    let input = FrameInput {
        source: src,
        hint: None,
        garbage: None,
        core: None,
    };
    let frame = inputs::clean(&input, params, &mut FrameReport::default(), Abort::never()).unwrap();
    let plate = k
        .place()
        .upload(&[src.height, src.width, 4], &src.data)
        .unwrap();
    let dev = hint(k, &plate, &frame, params).unwrap();
    let (_, data) = dev.try_extract_tensor::<f32>().unwrap();
    (data.to_vec(), frame.hint().unwrap().to_vec())
}

#[test]
fn gpu_chroma_key_matches_the_cpu_key() {
    let rt = runtime(fixtures().join("small_s128"));
    let (env, _) = environment(&rt.ort_library).unwrap();
    let mut k = GpuKernels::new(&env, Provider::Cpu, &rt);
    for (i, (w, h)) in [(160, 90), (97, 61), (64, 200)].into_iter().enumerate() {
        let src = plate(w, h, 7 + i as u64);
        for colour in [InputColour::Linear, InputColour::Srgb] {
            for (erode_px, blur_px, scale) in [
                (7.0, 21.0, 1.0),
                (0.0, 0.0, 1.0),
                (12.0, 8.0, 0.5),
                (3.0, 35.0, 1.0),
            ] {
                let params = KeyParams {
                    hint_source: HintSource::ChromaKey,
                    input_colour: colour,
                    chroma: ChromaKeyParams {
                        erode_px,
                        blur_px,
                        ..Default::default()
                    },
                    render_scale: scale,
                    ..Default::default()
                };
                let (gpu, cpu) = gpu_hint(&mut k, &src, &params);
                let d = max_abs_diff(&gpu, &cpu);
                let what =
                    format!("{w}x{h} {colour:?} erode {erode_px} blur {blur_px} scale {scale}");
                assert!(d < 1e-5, "{what}: hints differ by {d:e}");
                assert!(
                    cpu.iter().any(|&v| v > 0.99) && cpu.iter().any(|&v| v < 0.01),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn gpu_source_alpha_is_the_plate_alpha() {
    let rt = runtime(fixtures().join("small_s128"));
    let (env, _) = environment(&rt.ort_library).unwrap();
    let mut k = GpuKernels::new(&env, Provider::Cpu, &rt);
    let src = plate(33, 21, 3);
    let params = KeyParams {
        hint_source: HintSource::SourceAlpha,
        ..Default::default()
    };
    let (gpu, cpu) = gpu_hint(&mut k, &src, &params);
    assert_eq!(gpu, cpu);
}
