//! The coarse alpha hint: from the AlphaHint clip, the source's alpha, or the built-in green key.

use std::borrow::Cow;

use rayon::prelude::*;

use super::abort::Abort;
use super::contract::{ChromaKeyParams, HintSource, InputColour, KeyParams, RgbaImage};
use super::error::EngineError;
use super::imaging::colour::LinearToSrgb8;
use super::imaging::morph::{erode_ellipse_blurred, scaled_kernel};
use super::limits::{try_vec, MAX_KERNEL_PX};
use super::report::FrameReport;

/// Where a frame's hint comes from, decided before any stage; each path computes the built-in key
/// and the source's alpha itself (the GPU path on the device, from the plate it already has).
pub enum HintPlan<'a> {
    /// The AlphaHint clip's pixels.
    Clip(Cow<'a, [f32]>),
    SourceAlpha,
    ChromaKey,
}

/// The hint a frame uses: the clip when the source setting asks for it and it is connected, the
/// source's alpha, else the built-in key (an unconnected clip is a note, not a warning).
pub fn plan<'a>(
    params: &KeyParams,
    clip: Option<Cow<'a, [f32]>>,
    report: &mut FrameReport,
) -> HintPlan<'a> {
    match (params.hint_source, clip) {
        (HintSource::Clip, Some(clip)) => HintPlan::Clip(clip),
        (HintSource::SourceAlpha, _) => HintPlan::SourceAlpha,
        (source, _) => {
            if source == HintSource::Clip {
                report.note("AlphaHint clip not connected; using the built-in chroma key");
            }
            if key_kernels(&params.chroma, params.render_scale).bounded {
                report.note(format!(
                    "the built-in key's erode/blur kernels are limited to {MAX_KERNEL_PX} pixels"
                ));
            }
            // An inverted window matches no hue (both paths test min <= h <= max): said, so a
            // hint that keys everything as foreground is not a silent mystery.
            let window = params.chroma.for_screen(params.screen);
            if window.hue_min > window.hue_max {
                report.note(inverted_hue_note(&params.chroma));
            }
            HintPlan::ChromaKey
        }
    }
}

/// The note for a built-in key whose hue window is inverted (hintHueMin > hintHueMax).
pub fn inverted_hue_note(p: &ChromaKeyParams) -> String {
    format!(
        "hintHueMin {:.0} > hintHueMax {:.0}: the built-in key's hue window is empty, so it finds \
         no screen and keys everything as foreground",
        p.hue_min, p.hue_max
    )
}

/// The planned hint on the CPU, polling the host's abort in the long loops.
pub fn compute(
    plan: &HintPlan<'_>,
    params: &KeyParams,
    src: &RgbaImage,
    abort: Abort<'_>,
) -> Result<Vec<f32>, EngineError> {
    match plan {
        HintPlan::Clip(c) => super::limits::try_copy(c, "the hint"),
        HintPlan::SourceAlpha => source_alpha(src),
        HintPlan::ChromaKey => chroma_key(
            src,
            params.input_colour,
            &params.chroma.for_screen(params.screen),
            params.render_scale,
            abort,
        )
        .map(|(hint, _)| hint),
    }
}

/// OpenCV's `COLOR_RGB2HSV` on 8-bit values (H 0..180, S and V 0..255), with its integer tables,
/// of 8-bit-equivalent sRGB values (0..1 scaled, rounded).
pub fn hsv_opencv_8bit(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    hsv_opencv_u8(q(r), q(g), q(b))
}

/// OpenCV's rounded reciprocal tables of its 8-bit `COLOR_RGB2HSV`: `(255 << 12) / i` for the
/// saturation, `(180 << 12) / (6 i)` for the hue, index 0 -> 0.
fn hsv_div_tables() -> &'static ([i32; 256], [i32; 256]) {
    const SHIFT: i32 = 12;
    static T: std::sync::OnceLock<([i32; 256], [i32; 256])> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut sdiv = [0i32; 256];
        let mut hdiv = [0i32; 256];
        for i in 1..256 {
            sdiv[i] = ((255 << SHIFT) as f64 / i as f64).round_ties_even() as i32;
            hdiv[i] = ((180 << SHIFT) as f64 / (6.0 * i as f64)).round_ties_even() as i32;
        }
        (sdiv, hdiv)
    })
}

/// OpenCV's 8-bit `COLOR_RGB2HSV` of one pixel.
#[inline]
pub fn hsv_opencv_u8(r: u8, g: u8, b: u8) -> (f32, f32, f32) {
    let (h, s, v) = hsv_opencv_u8_int(hsv_div_tables(), r, g, b);
    (h as f32, s as f32, v as f32)
}

/// [`hsv_opencv_u8`] in integers with the tables passed in (per-pixel loops fetch them once).
#[inline(always)]
fn hsv_opencv_u8_int(tables: &([i32; 256], [i32; 256]), r: u8, g: u8, b: u8) -> (i32, i32, i32) {
    const SHIFT: i32 = 12;
    let (sdiv, hdiv) = tables;
    let (r, g, b) = (r as i32, g as i32, b as i32);
    let v = r.max(g).max(b);
    let vmin = r.min(g).min(b);
    let diff = v - vmin;
    let vr = if v == r { -1 } else { 0 };
    let vg = if v == g { -1 } else { 0 };
    let s = (diff * sdiv[v as usize] + (1 << (SHIFT - 1))) >> SHIFT;
    let mut h = (vr & (g - b)) + (!vr & ((vg & (b - r + 2 * diff)) + (!vg & (r - g + 4 * diff))));
    h = (h * hdiv[diff as usize] + (1 << (SHIFT - 1))) >> SHIFT;
    if h < 0 {
        h += 180;
    }
    (h, s, v)
}

/// True where the pixel is green-screen background by the suite's HSV rule.
#[inline]
pub fn is_screen(hsv: (f32, f32, f32), p: &ChromaKeyParams) -> bool {
    let (h, s, v) = hsv;
    h >= p.hue_min && h <= p.hue_max && s > p.sat_min && v > p.val_min
}

/// The built-in key's erode and blur kernel sizes at a render scale, as both paths use them: scaled,
/// bounded by [`MAX_KERNEL_PX`], the blur made odd (OpenCV only takes odd Gaussian kernels;
/// MAX_KERNEL_PX is odd, so this stays in bounds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyKernels {
    pub erode: usize,
    pub blur: usize,
    /// A bound applied.
    pub bounded: bool,
}

pub fn key_kernels(p: &ChromaKeyParams, render_scale: f64) -> KeyKernels {
    let erode = scaled_kernel(p.erode_px, render_scale);
    let blur = scaled_kernel(p.blur_px, render_scale);
    let bounded = erode > MAX_KERNEL_PX || blur > MAX_KERNEL_PX;
    let mut blur = blur.min(MAX_KERNEL_PX);
    if blur.is_multiple_of(2) && blur > 0 {
        blur += 1;
    }
    KeyKernels {
        erode: erode.min(MAX_KERNEL_PX),
        blur,
        bounded,
    }
}

/// The built-in key: background 0, foreground 1, eroded (elliptical) and Gaussian-blurred. Kernel
/// sizes are bounded by [`MAX_KERNEL_PX`] (true in the result when a bound applied); `abort` is
/// polled between bands of the erode and blur.
pub fn chroma_key(
    src: &RgbaImage,
    colour: InputColour,
    p: &ChromaKeyParams,
    render_scale: f64,
    abort: Abort<'_>,
) -> Result<(Vec<f32>, bool), EngineError> {
    let (w, h) = (src.width, src.height);
    if w == 0 || h == 0 {
        return Ok((Vec::new(), false));
    }
    let fg = foreground_mask(src, colour, p)?;
    abort.check()?;
    let KeyKernels {
        erode: erode_k,
        blur: blur_k,
        bounded,
    } = key_kernels(p, render_scale);
    // Erosion (a kernel below 2 is none) to 0/1, then the blur; f32 kernel sums may exceed 1 by
    // an ulp and OpenCV's 8-bit result saturates, so clamp too.
    let hint = erode_ellipse_blurred(&fg, w, h, erode_k, blur_k, true, abort)?;
    Ok((hint, bounded))
}

/// The key before erosion and blur: true where the pixel is not screen. Per pixel: 8-bit sRGB
/// codes from the threshold table (no power function), OpenCV's integer HSV with its reciprocal
/// tables, the range test.
pub fn foreground_mask(
    src: &RgbaImage,
    colour: InputColour,
    p: &ChromaKeyParams,
) -> Result<Vec<bool>, EngineError> {
    let (w, h) = (src.width, src.height);
    if w == 0 || h == 0 {
        return Ok(Vec::new());
    }
    let tables = hsv_div_tables();
    let to8 = LinearToSrgb8::new();
    let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let mut fg = try_vec(w * h, false, "the built-in key")?;
    fg.par_chunks_mut(w)
        .zip(src.data.par_chunks(w * 4))
        .for_each(|(out, row)| {
            for (o, px) in out.iter_mut().zip(row.chunks_exact(4)) {
                let (r, g, b) = match colour {
                    InputColour::Linear => (to8.apply(px[0]), to8.apply(px[1]), to8.apply(px[2])),
                    InputColour::Srgb => (q(px[0]), q(px[1]), q(px[2])),
                };
                let (hh, ss, vv) = hsv_opencv_u8_int(tables, r, g, b);
                *o = !is_screen((hh as f32, ss as f32, vv as f32), p);
            }
        });
    Ok(fg)
}

/// The source's alpha channel as a hint (non-finite values already sanitised by the caller).
pub fn source_alpha(src: &RgbaImage) -> Result<Vec<f32>, EngineError> {
    let mut a = try_vec(src.width * src.height, 0.0f32, "the hint")?;
    a.par_iter_mut()
        .zip(src.data.par_chunks_exact(4))
        .for_each(|(a, px)| *a = px[3]);
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both paths take their kernel sizes here, so the GPU path is bounded as the CPU path is.
    #[test]
    fn key_kernels_are_scaled_bounded_and_odd() {
        let p = |erode_px, blur_px| ChromaKeyParams {
            erode_px,
            blur_px,
            ..Default::default()
        };
        let k = key_kernels(&p(7.0, 21.0), 1.0);
        assert_eq!((k.erode, k.blur, k.bounded), (7, 21, false));
        let k = key_kernels(&p(7.0, 21.0), 0.5);
        assert_eq!((k.erode, k.blur, k.bounded), (4, 11, false));
        let k = key_kernels(&p(2.0e9, 1.0e6), 1.0);
        assert_eq!(
            (k.erode, k.blur, k.bounded),
            (MAX_KERNEL_PX, MAX_KERNEL_PX, true)
        );
        let k = key_kernels(&p(0.0, 20.0), 1.0);
        assert_eq!((k.erode, k.blur, k.bounded), (0, 21, false));
    }

    #[test]
    fn hsv_matches_opencv_8bit() {
        // cv2.cvtColor(np.uint8([[[0,255,0]]]) RGB2HSV) -> (60, 255, 255)
        assert_eq!(hsv_opencv_8bit(0.0, 1.0, 0.0), (60.0, 255.0, 255.0));
        // pure red -> (0, 255, 255); pure blue -> (120, 255, 255)
        assert_eq!(hsv_opencv_8bit(1.0, 0.0, 0.0), (0.0, 255.0, 255.0));
        assert_eq!(hsv_opencv_8bit(0.0, 0.0, 1.0), (120.0, 255.0, 255.0));
        // grey: hue 0 sat 0
        assert_eq!(hsv_opencv_8bit(0.5, 0.5, 0.5), (0.0, 0.0, 128.0));
        // RGB (200, 100, 150): h = -50 * 1229 + 2048 >> 12 = -15 -> 165; s = 100 * 5222 + 2048 >> 12 = 127
        let (h, s, v) = hsv_opencv_8bit(200.0 / 255.0, 100.0 / 255.0, 150.0 / 255.0);
        assert_eq!((h, s, v), (165.0, 127.0, 200.0));
    }

    /// OpenCV's formula with its divisions written inline (the reference for the tables).
    fn hsv_reference(r: u8, g: u8, b: u8) -> (f32, f32, f32) {
        let (r, g, b) = (r as i32, g as i32, b as i32);
        let v = r.max(g).max(b);
        let diff = v - r.min(g).min(b);
        let div = |num: i32, i: i32| {
            if i == 0 {
                0
            } else {
                (num as f64 / i as f64).round_ties_even() as i32
            }
        };
        let s = (diff * div(255 << 12, v) + (1 << 11)) >> 12;
        let vr = if v == r { -1 } else { 0 };
        let vg = if v == g { -1 } else { 0 };
        let mut h =
            (vr & (g - b)) + (!vr & ((vg & (b - r + 2 * diff)) + (!vg & (r - g + 4 * diff))));
        h = (h * div(180 << 12, 6 * diff) + (1 << 11)) >> 12;
        if h < 0 {
            h += 180;
        }
        (h as f32, s as f32, v as f32)
    }

    #[test]
    fn tabled_hsv_and_mask_match_the_formulas() {
        for r in (0..=255u8).step_by(3) {
            for g in (0..=255u8).step_by(5) {
                for b in 0..=255u8 {
                    assert_eq!(
                        hsv_opencv_u8(r, g, b),
                        hsv_reference(r, g, b),
                        "{r} {g} {b}"
                    );
                }
            }
        }
        let (w, h) = (97, 41);
        let mut img = RgbaImage::new(w, h);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for v in img.data.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *v = (seed % 10_000) as f32 / 10_000.0 * 1.2 - 0.1;
        }
        img.data[5] = f32::NAN;
        let p = ChromaKeyParams::default();
        for colour in [InputColour::Linear, InputColour::Srgb] {
            let got = foreground_mask(&img, colour, &p).unwrap();
            for (i, px) in img.data.chunks_exact(4).enumerate() {
                let hsv = match colour {
                    InputColour::Linear => {
                        let c = [px[0], px[1], px[2]]
                            .map(crate::engine::imaging::colour::linear_to_srgb8);
                        hsv_reference(c[0], c[1], c[2])
                    }
                    InputColour::Srgb => hsv_opencv_8bit(px[0], px[1], px[2]),
                };
                assert_eq!(got[i], !is_screen(hsv, &p), "pixel {i}");
            }
        }
    }

    #[test]
    fn chroma_key_separates_screen_from_subject() {
        let (w, h) = (64, 32);
        let mut img = RgbaImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let px = &mut img.data[(y * w + x) * 4..][..4];
                if (20..44).contains(&x) {
                    px.copy_from_slice(&[0.6, 0.4, 0.3, 1.0]); // skin-ish subject
                } else {
                    px.copy_from_slice(&[0.1, 0.7, 0.15, 1.0]); // green screen (sRGB)
                }
            }
        }
        let p = ChromaKeyParams {
            erode_px: 0.0,
            blur_px: 0.0,
            ..Default::default()
        };
        let hint = chroma_key(&img, InputColour::Srgb, &p, 1.0, Abort::never())
            .unwrap()
            .0;
        assert_eq!(hint[10 * w + 5], 0.0);
        assert_eq!(hint[10 * w + 30], 1.0);
        // erosion by 7 eats 3 px on each side of the subject
        let p = ChromaKeyParams {
            erode_px: 7.0,
            blur_px: 0.0,
            ..Default::default()
        };
        let hint = chroma_key(&img, InputColour::Srgb, &p, 1.0, Abort::never())
            .unwrap()
            .0;
        assert_eq!(hint[10 * w + 22], 0.0);
        assert_eq!(hint[10 * w + 23], 1.0);
        assert_eq!(hint[10 * w + 40], 1.0);
        assert_eq!(hint[10 * w + 41], 0.0);
        // render scale 0.5 halves the kernels (7 -> 4 -> erodes 2 px)
        let hint = chroma_key(&img, InputColour::Srgb, &p, 0.5, Abort::never())
            .unwrap()
            .0;
        assert_eq!(hint[10 * w + 21], 0.0);
        assert_eq!(hint[10 * w + 22], 1.0);
        // blur softens the edge but keeps the far regions
        let p = ChromaKeyParams::default();
        let hint = chroma_key(&img, InputColour::Srgb, &p, 1.0, Abort::never())
            .unwrap()
            .0;
        assert!(hint[10 * w + 23] > 0.0 && hint[10 * w + 23] < 1.0);
        // (the subject is narrower than the blur, so its middle stays just below 1)
        assert!(hint[10 * w + 2] < 1e-6 && hint[10 * w + 32] > 0.95);
    }

    #[test]
    fn blue_screen_keys_blue_and_keeps_green() {
        use crate::engine::contract::ScreenColour;
        // Left third blue screen, middle a subject, right third green (a green prop on blue).
        let (w, h) = (48, 4);
        let mut img = RgbaImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let c = match x {
                    0..16 => [0.1, 0.2, 0.8, 1.0],
                    16..32 => [0.6, 0.4, 0.3, 1.0],
                    _ => [0.1, 0.7, 0.15, 1.0],
                };
                img.data[(y * w + x) * 4..][..4].copy_from_slice(&c);
            }
        }
        let p = ChromaKeyParams {
            erode_px: 0.0,
            blur_px: 0.0,
            ..Default::default()
        };
        let blue = p.for_screen(ScreenColour::Blue);
        // OpenCV hue of (0.1, 0.2, 0.8) sRGB is 116: inside 90..130; green (60) is not.
        assert_eq!((blue.hue_min, blue.hue_max), (90.0, 130.0));
        assert_eq!(p.for_screen(ScreenColour::Green), p);
        let hint = chroma_key(&img, InputColour::Srgb, &blue, 1.0, Abort::never())
            .unwrap()
            .0;
        assert_eq!(hint[w + 5], 0.0, "blue screen is background");
        assert_eq!(hint[w + 20], 1.0, "subject stays");
        assert_eq!(hint[w + 40], 1.0, "green is foreground on a blue screen");
        let hint = chroma_key(&img, InputColour::Srgb, &p, 1.0, Abort::never())
            .unwrap()
            .0;
        assert_eq!(
            (hint[w + 5], hint[w + 40]),
            (1.0, 0.0),
            "the green key is the other way round"
        );
        // Clamped to OpenCV's hue range.
        let wide = ChromaKeyParams {
            hue_max: 170.0,
            ..p
        };
        assert_eq!(wide.for_screen(ScreenColour::Blue).hue_max, 180.0);
    }

    #[test]
    fn an_inverted_hue_window_is_noted_and_keys_no_screen() {
        let note_of = |chroma: ChromaKeyParams| {
            let params = KeyParams {
                hint_source: HintSource::ChromaKey,
                chroma,
                ..Default::default()
            };
            let mut report = FrameReport::default();
            assert!(matches!(
                plan(&params, None, &mut report),
                HintPlan::ChromaKey
            ));
            report
                .into_output(
                    RgbaImage::new(1, 1),
                    crate::engine::contract::OutputMode::Premultiplied,
                )
                .notes
        };
        let ok = ChromaKeyParams::default();
        assert!(note_of(ok).is_empty());
        let inverted = ChromaKeyParams {
            hue_min: 100.0,
            hue_max: 40.0,
            ..ok
        };
        let notes = note_of(inverted);
        assert!(
            notes
                .iter()
                .any(|n| n.contains("hintHueMin 100 > hintHueMax 40")),
            "{notes:?}"
        );
        // What the note says is what happens: a green screen pixel is not keyed out.
        let mut img = RgbaImage::new(4, 1);
        for px in img.data.chunks_exact_mut(4) {
            px.copy_from_slice(&[0.1, 0.7, 0.15, 1.0]);
        }
        let screen = ChromaKeyParams {
            erode_px: 0.0,
            blur_px: 0.0,
            ..inverted
        };
        let hint = chroma_key(&img, InputColour::Srgb, &screen, 1.0, Abort::never())
            .unwrap()
            .0;
        assert!(hint.iter().all(|v| *v == 1.0), "{hint:?}");
    }
}
