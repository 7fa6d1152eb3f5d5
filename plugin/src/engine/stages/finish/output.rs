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

use rayon::prelude::*;

use super::finished::{Finished, OVERRIDE_CORE, OVERRIDE_GARBAGE};
use crate::engine::contract::{OutputMode, RgbaImage};
use crate::engine::imaging::colour::checkerboard_linear;
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
