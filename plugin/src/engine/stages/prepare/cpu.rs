//! Stage 1 on the CPU: the network input `[1,4,S,S]` in one fused banded pass.

use super::domain::{clamp_colour, clamp_hint};
use crate::engine::abort::Abort;
use crate::engine::contract::{InputColour, RgbaImage};
use crate::engine::error::EngineError;
use crate::engine::imaging::colour::{LinearToSrgb, IMAGENET_MEAN, IMAGENET_STD};
use crate::engine::imaging::resize::separable::{
    band_rows, bilinear_filter, horizontal_row4, resize_bands, Coefficients,
};
use crate::engine::limits::try_vec;

/// Resizes plate and hint to S x S (antialiased bilinear; linear plates resized in linear light,
/// then encoded to sRGB), brings colour and hint into the network's domain (`domain.rs`),
/// normalises RGB and packs planar R, G, B, hint. `abort` is polled between groups of bands.
///
/// One fused pass: the hint rides in the plate's (unused) alpha lane through one 4-channel
/// resize (each lane is resized independently, so this is the same as resizing it on its own),
/// and every finished row at S is encoded, normalised and written planar while in cache.
pub fn prepare_input(
    src: &RgbaImage,
    hint: &[f32],
    colour: InputColour,
    s: usize,
    abort: Abort<'_>,
) -> Result<Vec<f32>, EngineError> {
    let (w, h) = (src.width, src.height);
    if hint.len() != w * h || src.data.len() != w * h * 4 || w == 0 || h == 0 || s == 0 {
        return Err(EngineError::Internal(format!(
            "prepare: plate {w}x{h} ({} values), hint {} values, S {s}",
            src.data.len(),
            hint.len()
        )));
    }
    let horiz = Coefficients::new(w, s, bilinear_filter, 1.0);
    let vert = Coefficients::new(h, s, bilinear_filter, 1.0);
    let plane = s * s;
    let mut tensor = try_vec(4 * plane, 0.0f32, "the network input")?;
    let band = band_rows(s);
    let outputs: Vec<[&mut [f32]; 4]> = {
        let (rgb, hint_plane) = tensor.split_at_mut(3 * plane);
        let (r_plane, gb) = rgb.split_at_mut(plane);
        let (g_plane, b_plane) = gb.split_at_mut(plane);
        r_plane
            .chunks_mut(band * s)
            .zip(g_plane.chunks_mut(band * s))
            .zip(b_plane.chunks_mut(band * s))
            .zip(hint_plane.chunks_mut(band * s))
            .map(|(((r, g), b), a)| [r, g, b, a])
            .collect()
    };
    let to_srgb = LinearToSrgb::new();
    resize_bands(
        &vert,
        s,
        s * 4,
        band,
        outputs,
        |y, buf| {
            // The source row with the hint in the alpha lane, then the horizontal pass.
            thread_local! {
                static ROW: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
            }
            ROW.with_borrow_mut(|row| {
                row.clear();
                row.extend_from_slice(&src.data[y * w * 4..][..w * 4]);
                for (px, &a) in row.chunks_exact_mut(4).zip(&hint[y * w..][..w]) {
                    px[3] = a;
                }
                horizontal_row4(&horiz, row, buf);
            });
        },
        |out, yb, _y, row| {
            let [r, g, b, a] = out;
            let o = yb * s;
            let (r, g, b, a) = (
                &mut r[o..o + s],
                &mut g[o..o + s],
                &mut b[o..o + s],
                &mut a[o..o + s],
            );
            for (x, px) in row.chunks_exact(4).enumerate() {
                let mut c = [px[0], px[1], px[2]];
                if colour == InputColour::Linear {
                    c = c.map(|v| to_srgb.apply(v));
                }
                let c = c.map(clamp_colour);
                r[x] = (c[0] - IMAGENET_MEAN[0]) / IMAGENET_STD[0];
                g[x] = (c[1] - IMAGENET_MEAN[1]) / IMAGENET_STD[1];
                b[x] = (c[2] - IMAGENET_MEAN[2]) / IMAGENET_STD[2];
                a[x] = clamp_hint(px[3]);
            }
        },
        abort,
    )?;
    Ok(tensor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::imaging::colour::linear_to_srgb;
    use crate::engine::imaging::resize::{resize_plane_bilinear, resize_rgba_aa};

    /// The unfused path: `fast_image_resize` on the plate and on the hint, exact sRGB encoding, the
    /// domain roll-off (`domain.rs`) as a separate step.
    fn reference(src: &RgbaImage, hint: &[f32], colour: InputColour, s: usize) -> Vec<f32> {
        let (w, h) = (src.width, src.height);
        let rgba = resize_rgba_aa(&src.data, (w, h), (s, s)).unwrap();
        let hint_s = resize_plane_bilinear(hint, (w, h), (s, s)).unwrap();
        let plane = s * s;
        let mut t = vec![0.0f32; 4 * plane];
        for (i, px) in rgba.chunks_exact(4).enumerate() {
            for c in 0..3 {
                let v = match colour {
                    InputColour::Linear => linear_to_srgb(px[c]),
                    InputColour::Srgb => px[c],
                };
                let v = clamp_colour(v);
                t[c * plane + i] = (v - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
            }
            t[3 * plane + i] = clamp_hint(hint_s[i]);
        }
        t
    }

    #[test]
    fn values_beyond_the_domain_are_clamped_and_abort_stops_the_pass() {
        let (w, h, s) = (40, 30, 32);
        let mut src = RgbaImage::new(w, h);
        src.data.iter_mut().for_each(|v| *v = 3e38);
        let hint = vec![1e6f32; w * h];
        let t = prepare_input(&src, &hint, InputColour::Srgb, s, Abort::never()).unwrap();
        let plane = s * s;
        for c in 0..3 {
            let want = (1.0 + super::super::domain::HEADROOM - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
            assert!(t[c * plane..(c + 1) * plane].iter().all(|&v| v == want));
        }
        assert!(t[3 * plane..].iter().all(|&v| v == 1.0));
        let stopped = prepare_input(&src, &hint, InputColour::Srgb, s, Abort(&|| true));
        assert!(matches!(stopped, Err(EngineError::Aborted)));
    }

    #[test]
    fn fused_prepare_matches_the_unfused_path() {
        for (w, h, s) in [(97, 61, 32), (64, 48, 64), (40, 30, 72), (300, 17, 50)] {
            let mut src = RgbaImage::new(w, h);
            for (i, v) in src.data.iter_mut().enumerate() {
                *v = ((i * 7919) % 1013) as f32 / 1013.0 * 1.3 - 0.05;
            }
            let hint: Vec<f32> = (0..w * h).map(|i| ((i * 31) % 97) as f32 / 96.0).collect();
            for colour in [InputColour::Linear, InputColour::Srgb] {
                let got = prepare_input(&src, &hint, colour, s, Abort::never()).unwrap();
                let want = reference(&src, &hint, colour, s);
                let d = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                // only the sRGB table's interpolation differs (the resize is the same arithmetic)
                assert!(d <= 1e-5, "{w}x{h} -> {s} {colour:?}: {d}");
                if colour == InputColour::Srgb {
                    assert_eq!(got[3 * s * s..], want[3 * s * s..]);
                }
            }
        }
    }
}
