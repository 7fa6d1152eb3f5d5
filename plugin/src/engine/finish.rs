//! Stage 4a: back to the plate: resize alpha/FG from S, despeckle, clip, garbage/core, despill,
//! sRGB -> linear. The result is straight (unpremultiplied) linear FG and the final alpha.

use rayon::prelude::*;

use super::colour::{despill_average, srgb_to_linear_fast};
use super::despeckle::despeckle_mask;
use super::refine::Refined;
use super::resize::{resize_rgba, UpscaleFilter};
use super::types::KeyParams;

/// Where a garbage or core matte overrode the network (for the status view).
pub const OVERRIDE_GARBAGE: u8 = 1;
pub const OVERRIDE_CORE: u8 = 2;

/// The finished matte at plate size.
#[derive(Clone, Debug, Default)]
pub struct Finished {
    pub width: usize,
    pub height: usize,
    /// Interleaved R, G, B (straight linear FG, despilled) and A (final alpha).
    pub rgba: Vec<f32>,
    /// Per pixel: 0, OVERRIDE_GARBAGE or OVERRIDE_CORE.
    pub overrides: Vec<u8>,
}

/// Garbage/core mattes and the clip range applied to one alpha value; returns (alpha, override).
#[inline]
pub fn apply_mattes(
    a: f32,
    clip_black: f32,
    clip_white: f32,
    garbage: Option<f32>,
    core: Option<f32>,
) -> (f32, u8) {
    let mut a = a.clamp(0.0, 1.0);
    if clip_white > clip_black {
        a = ((a - clip_black) / (clip_white - clip_black)).clamp(0.0, 1.0);
    }
    let mut flag = 0;
    if let Some(c) = core {
        let c = c.clamp(0.0, 1.0);
        a = a + (1.0 - a) * c;
        if c > 0.5 {
            flag = OVERRIDE_CORE;
        }
    }
    if let Some(g) = garbage {
        // Outside wins: applied last.
        let g = g.clamp(0.0, 1.0);
        a *= 1.0 - g;
        if g > 0.5 {
            flag = OVERRIDE_GARBAGE;
        }
    }
    (a, flag)
}

/// Finishes the network's output: `refined` at S back to `w x h` and every matte operation.
pub fn finish(
    refined: &Refined,
    (w, h): (usize, usize),
    params: &KeyParams,
    garbage: Option<&[f32]>,
    core: Option<&[f32]>,
    filter: UpscaleFilter,
) -> Result<Finished, String> {
    let s = refined.s;
    let plane = s * s;
    let mut packed = vec![0.0f32; 4 * plane];
    packed.par_chunks_mut(4).enumerate().for_each(|(i, px)| {
        px[0] = refined.fg[i];
        px[1] = refined.fg[plane + i];
        px[2] = refined.fg[2 * plane + i];
        px[3] = refined.alpha[i];
    });
    let mut rgba = resize_rgba(&packed, (s, s), (w, h), filter)?;
    drop(packed);
    if params.despeckle_px > 0 {
        let alpha: Vec<f32> = rgba.par_chunks(4).map(|p| p[3].clamp(0.0, 1.0)).collect();
        let mask = despeckle_mask(&alpha, w, h, params.despeckle_px, params.render_scale);
        rgba.par_chunks_mut(4)
            .zip(mask.par_iter())
            .for_each(|(p, m)| p[3] = p[3].clamp(0.0, 1.0) * m);
    }
    let mut overrides = vec![0u8; w * h];
    rgba.par_chunks_mut(4)
        .zip(overrides.par_iter_mut())
        .enumerate()
        .for_each(|(i, (p, flag))| {
            let (a, f) = apply_mattes(
                p[3],
                params.clip_black,
                params.clip_white,
                garbage.map(|g| g[i]),
                core.map(|c| c[i]),
            );
            *flag = f;
            let fg = despill_average([p[0], p[1], p[2]], params.despill);
            p[0] = srgb_to_linear_fast(fg[0]);
            p[1] = srgb_to_linear_fast(fg[1]);
            p[2] = srgb_to_linear_fast(fg[2]);
            p[3] = a;
        });
    Ok(Finished {
        width: w,
        height: h,
        rgba,
        overrides,
    })
}

/// The matte without a network (status view with no model): alpha = hint, then the same mattes.
pub fn finish_from_hint(
    hint: &[f32],
    (w, h): (usize, usize),
    params: &KeyParams,
    garbage: Option<&[f32]>,
    core: Option<&[f32]>,
) -> Finished {
    let mut rgba = vec![0.0f32; w * h * 4];
    let mut overrides = vec![0u8; w * h];
    rgba.par_chunks_mut(4)
        .zip(overrides.par_iter_mut())
        .enumerate()
        .for_each(|(i, (p, flag))| {
            let (a, f) = apply_mattes(
                hint[i],
                params.clip_black,
                params.clip_white,
                garbage.map(|g| g[i]),
                core.map(|c| c[i]),
            );
            *flag = f;
            p[3] = a;
        });
    Finished {
        width: w,
        height: h,
        rgba,
        overrides,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mattes_clip_then_core_then_garbage_wins() {
        assert_eq!(apply_mattes(0.5, 0.0, 1.0, None, None), (0.5, 0));
        assert_eq!(apply_mattes(1.2, 0.0, 1.0, None, None), (1.0, 0));
        let (a, _) = apply_mattes(0.5, 0.25, 0.75, None, None);
        assert!((a - 0.5).abs() < 1e-6);
        assert_eq!(apply_mattes(0.2, 0.25, 0.75, None, None).0, 0.0);
        assert_eq!(apply_mattes(0.8, 0.25, 0.75, None, None).0, 1.0);
        assert_eq!(
            apply_mattes(0.3, 0.0, 1.0, None, Some(1.0)),
            (1.0, OVERRIDE_CORE)
        );
        assert_eq!(
            apply_mattes(0.3, 0.0, 1.0, Some(1.0), Some(1.0)),
            (0.0, OVERRIDE_GARBAGE)
        );
        let (a, f) = apply_mattes(0.4, 0.0, 1.0, Some(0.5), None);
        assert!((a - 0.2).abs() < 1e-6 && f == 0);
    }
}
