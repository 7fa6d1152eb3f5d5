//! The output modes of stage 4.
//!
//! * Premultiplied: linear FG x alpha, alpha.
//! * Unpremultiplied: straight linear FG, alpha.
//! * Matte: alpha in R, G, B; A = 1.
//! * Foreground: straight linear FG (despilled), A = 1, so the colour is visible everywhere
//!   (Unpremultiplied is the same colour with the real alpha).
//! * Composite: linear FG over upstream's checkerboard (straight composite), A = 1.
//! * Status: black background, white foreground, grey transition; red where the garbage matte
//!   overrode, blue where the core matte did; tiles the refiner skipped are tinted violet and tiles
//!   it ran get a yellow outline.
//! * Hint: the conditioned hint as grey, A = 1.
//!
//! With the sRGB output colour, the picture views (Premultiplied, Unpremultiplied, Foreground,
//! Composite) are sRGB-encoded as the last step of either path ([`encode_output`]); premultiplied
//! RGB is encoded straight and multiplied again, as an 8-bit host premultiplies its own images.

use rayon::prelude::*;

use super::finished::{Finished, OVERRIDE_CORE, OVERRIDE_GARBAGE};
use crate::engine::contract::{OutputColour, OutputMode, RgbaImage};
use crate::engine::imaging::colour::{checkerboard_linear, LinearToSrgb};
use crate::engine::stages::refine::tiles::Tile;

/// Whether the image of `mode` is premultiplied (what the host is told).
pub fn is_premultiplied(mode: OutputMode) -> bool {
    matches!(mode, OutputMode::Premultiplied | OutputMode::Composite)
}

/// Turns a finished matte into the requested mode (Status and Hint are built elsewhere).
pub fn compose(f: Finished, mode: OutputMode) -> RgbaImage {
    let (w, h) = (f.width, f.height);
    let mut data = f.rgba;
    data.par_chunks_mut(4).enumerate().for_each(|(i, p)| {
        let a = p[3];
        match mode {
            OutputMode::Premultiplied => {
                p[0] *= a;
                p[1] *= a;
                p[2] *= a;
            }
            OutputMode::Unpremultiplied => {}
            OutputMode::Matte => {
                p[0] = a;
                p[1] = a;
                p[2] = a;
                p[3] = 1.0;
            }
            OutputMode::Foreground => p[3] = 1.0,
            OutputMode::Composite => {
                let bg = checkerboard_linear(i % w.max(1), i / w.max(1));
                for c in &mut p[..3] {
                    *c = *c * a + bg * (1.0 - a);
                }
                p[3] = 1.0;
            }
            OutputMode::Status | OutputMode::Hint => {}
        }
    });
    RgbaImage {
        width: w,
        height: h,
        data,
    }
}

/// Whether `mode` shows a picture (encoded for an sRGB output) rather than data (a matte, the Status
/// colours, the hint: the same numbers in every host).
pub fn is_picture(mode: OutputMode) -> bool {
    matches!(
        mode,
        OutputMode::Premultiplied
            | OutputMode::Unpremultiplied
            | OutputMode::Foreground
            | OutputMode::Composite
    )
}

/// The output's RGB in the requested encoding: linear stays as it is; sRGB encodes the picture
/// views (straight colour encoded, then premultiplied again for the Premultiplied view). Alpha is
/// never touched. The same step ends both paths, so they stay equal.
pub fn encode_output(image: &mut RgbaImage, mode: OutputMode, colour: OutputColour) {
    if colour == OutputColour::Linear || !is_picture(mode) {
        return;
    }
    let enc = LinearToSrgb::new();
    let premultiplied = mode == OutputMode::Premultiplied;
    image.data.par_chunks_mut(4).for_each(|p| {
        let a = p[3];
        if premultiplied {
            if a > 0.0 {
                for c in &mut p[..3] {
                    *c = enc.apply(*c / a) * a;
                }
            }
        } else {
            for c in &mut p[..3] {
                *c = enc.apply(*c);
            }
        }
    });
}

/// The hint as an opaque grey image.
pub fn hint_image(hint: &[f32], w: usize, h: usize) -> RgbaImage {
    let mut data = vec![0.0f32; w * h * 4];
    data.par_chunks_mut(4)
        .zip(hint.par_iter())
        .for_each(|(p, &v)| {
            p[0] = v;
            p[1] = v;
            p[2] = v;
            p[3] = 1.0;
        });
    RgbaImage {
        width: w,
        height: h,
        data,
    }
}

/// A tile's rectangle in plate pixels `[x0, y0, x1, y1)`.
pub fn tile_on_plate(t: &Tile, s: usize, w: usize, h: usize) -> [usize; 4] {
    let x0 = t.x * w / s;
    let y0 = t.y * h / s;
    let x1 = ((t.x + t.size) * w).div_ceil(s).min(w);
    let y1 = ((t.y + t.size) * h).div_ceil(s).min(h);
    [x0, y0, x1, y1]
}

/// The diagnostic view. `tiles` = (S, run, skipped) when the refiner ran.
pub fn status_image(f: &Finished, tiles: Option<(usize, &[Tile], &[Tile])>) -> RgbaImage {
    let (w, h) = (f.width, f.height);
    let mut data = vec![0.0f32; w * h * 4];
    data.par_chunks_mut(4).enumerate().for_each(|(i, p)| {
        let a = f.rgba[i * 4 + 3];
        let v = if a <= 0.004 {
            0.0
        } else if a >= 0.996 {
            1.0
        } else {
            0.5
        };
        let mut c = [v, v, v];
        match f.overrides[i] {
            OVERRIDE_GARBAGE => c = [0.6 * v + 0.4, 0.6 * v, 0.6 * v],
            OVERRIDE_CORE => c = [0.6 * v, 0.6 * v, 0.6 * v + 0.4],
            _ => {}
        }
        p[..3].copy_from_slice(&c);
        p[3] = 1.0;
    });
    if let Some((s, run, skipped)) = tiles {
        if run.len() + skipped.len() > 1 {
            for t in skipped {
                let [x0, y0, x1, y1] = tile_on_plate(t, s, w, h);
                for y in y0..y1 {
                    for p in data[(y * w + x0) * 4..(y * w + x1) * 4].chunks_exact_mut(4) {
                        p[0] = p[0] * 0.8 + 0.2 * 0.6;
                        p[1] *= 0.8;
                        p[2] = p[2] * 0.8 + 0.2 * 0.9;
                    }
                }
            }
            for t in run {
                let [x0, y0, x1, y1] = tile_on_plate(t, s, w, h);
                if x1 == x0 || y1 == y0 {
                    continue;
                }
                let mut put = |x: usize, y: usize| {
                    data[(y * w + x) * 4..][..3].copy_from_slice(&[1.0, 0.85, 0.0])
                };
                for x in x0..x1 {
                    put(x, y0);
                    put(x, y1 - 1);
                }
                for y in y0..y1 {
                    put(x0, y);
                    put(x1 - 1, y);
                }
            }
        }
    }
    RgbaImage {
        width: w,
        height: h,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::imaging::colour::linear_to_srgb;

    fn image(px: &[[f32; 4]]) -> RgbaImage {
        RgbaImage {
            width: px.len(),
            height: 1,
            data: px.concat(),
        }
    }

    #[test]
    fn srgb_encodes_pictures_straight_and_leaves_data_alone() {
        let px = [
            [0.2, 0.5, 0.01, 1.0],
            [0.1, 0.05, 0.0, 0.5],
            [0.0, 0.0, 0.0, 0.0],
        ];
        let mut straight = image(&px);
        encode_output(
            &mut straight,
            OutputMode::Unpremultiplied,
            OutputColour::Srgb,
        );
        let mut premult = image(&px);
        encode_output(&mut premult, OutputMode::Premultiplied, OutputColour::Srgb);
        for (i, p) in px.iter().enumerate() {
            for c in 0..3 {
                let s = straight.data[i * 4 + c];
                assert!((s - linear_to_srgb(p[c])).abs() < 1e-5, "{p:?}");
                let want = if p[3] > 0.0 {
                    linear_to_srgb(p[c] / p[3]) * p[3]
                } else {
                    0.0
                };
                assert!((premult.data[i * 4 + c] - want).abs() < 1e-5, "{p:?}");
            }
            assert_eq!(straight.data[i * 4 + 3], p[3]);
            assert_eq!(premult.data[i * 4 + 3], p[3]);
        }
        for mode in [OutputMode::Matte, OutputMode::Status, OutputMode::Hint] {
            let mut data = image(&px);
            encode_output(&mut data, mode, OutputColour::Srgb);
            assert_eq!(data, image(&px), "{mode:?}");
        }
        let mut linear = image(&px);
        encode_output(&mut linear, OutputMode::Premultiplied, OutputColour::Linear);
        assert_eq!(linear, image(&px));
    }
}
