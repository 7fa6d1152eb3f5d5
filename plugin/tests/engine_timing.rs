//! Stage timings of the CPU-side work at 4K (ignored by default; run with
//! `cargo test --release -p corridorkey --test engine_timing -- --ignored --nocapture`).
//! Each line is the minimum over `CK_TIMING_REPS` runs (default 3).

use std::time::Instant;

use corridorkey::engine::abort::Abort;
use corridorkey::engine::imaging::{morph, resize};
use corridorkey::engine::stages::finish::{cpu as finish, output};
use corridorkey::engine::stages::prepare::cpu as prepare;
use corridorkey::engine::stages::refine::Refined;
use corridorkey::engine::{hint, InputColour, KeyParams, RgbaImage, UpscaleFilter};

fn reps() -> usize {
    std::env::var("CK_TIMING_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// Minimum wall time of `f` over the repetitions, printed; returns the last result.
fn time<T>(label: &str, mut f: impl FnMut() -> T) -> T {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..reps() {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        out = Some(r);
    }
    eprintln!("{label:<40} {best:8.1} ms");
    out.expect("at least one repetition")
}

#[test]
#[ignore]
fn time_cpu_stages_4k() {
    let (w, h) = (4096, 2160);
    let s = 2048;
    let mut src = RgbaImage::new(w, h);
    for (i, p) in src.data.chunks_mut(4).enumerate() {
        let (x, y) = (i % w, i / w);
        // a subject in the middle third with a soft, noisy edge, on a green screen
        let t = ((x as f32 - w as f32 / 3.0) / 40.0).clamp(0.0, 1.0)
            * ((2.0 * w as f32 / 3.0 - x as f32) / 40.0).clamp(0.0, 1.0);
        let n = ((x * 7 + y * 13) % 17) as f32 / 17.0 * 0.02;
        let fg = [0.4 + n, 0.3, 0.2 + n];
        let bg = [0.03, 0.42 + n, 0.05];
        for c in 0..3 {
            p[c] = fg[c] * t + bg[c] * (1.0 - t);
        }
        p[3] = 1.0;
    }
    eprintln!("threads: {}", rayon::current_num_threads());
    let p = KeyParams::default();
    let c = &p.chroma;

    // prepare: chroma key
    let hint = time("chroma key (total)", || {
        hint::chroma_key(&src, InputColour::Linear, c, 1.0, Abort::never())
            .unwrap()
            .0
    });
    let mask = time("  key pass (sRGB8 + HSV + range)", || {
        hint::foreground_mask(&src, InputColour::Linear, c).unwrap()
    });
    time("  erode 7 + blur 21 + clamp (fused)", || {
        morph::erode_ellipse_blurred(&mask, w, h, 7, 21, true, Abort::never()).unwrap()
    });
    let eroded = time("    [part] erode 7 alone -> 0/1 floats", || {
        morph::erode_ellipse_to(&mask, w, h, 7, 1.0f32, 0.0)
    });
    time("    [part] blur 21 + clamp alone", || {
        morph::gaussian_blur_clamped(&eroded, w, h, 21)
    });

    // prepare: resize + pack
    let tensor = time("prepare_input (total)", || {
        prepare::prepare_input(&src, &hint, InputColour::Linear, s, Abort::never()).unwrap()
    });
    time("  [ref] fast_image_resize RGBA AA", || {
        resize::resize_rgba_aa(&src.data, (w, h), (s, s)).unwrap()
    });

    // finish
    let refined = Refined {
        s,
        alpha: tensor[3 * s * s..].to_vec(),
        fg: tensor[..3 * s * s].iter().map(|v| v * 0.2 + 0.45).collect(),
        ..Default::default()
    };
    let f = time("finish (total)", || {
        let never = Abort::never();
        finish::finish(
            &refined,
            (w, h),
            &p,
            None,
            None,
            UpscaleFilter::Lanczos3,
            never,
        )
        .unwrap()
    });
    let packed: Vec<f32> = (0..s * s)
        .flat_map(|i| {
            [
                refined.fg[i],
                refined.fg[s * s + i],
                refined.fg[2 * s * s + i],
                refined.alpha[i],
            ]
        })
        .collect();
    time("  [ref] fast_image_resize Lanczos3 S -> 4K", || {
        resize::resize_rgba(&packed, (s, s), (w, h), UpscaleFilter::Lanczos3).unwrap()
    });
    time("compose premultiplied (incl. clone)", || {
        output::compose(f.clone(), p.output)
    });
    time("  (clone of a finished frame)", || f.clone());
    time("content hash", || {
        corridorkey::engine::cache::hash_image(&src.data, src.width, 4)
    });
}
