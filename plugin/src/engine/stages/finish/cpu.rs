//! Stage 4 on the CPU path: resize alpha/FG from S, despeckle, clip, garbage/core, despill,
//! sRGB -> linear in fused bands (straight linear FG and the final alpha), then the output mode.

use rayon::prelude::*;

use super::despeckle::despeckle_mask;
use super::edges::apply_edges;
use super::finished::{Finished, OVERRIDE_CORE, OVERRIDE_GARBAGE};
use super::output::{compose, status_image};
use crate::engine::abort::Abort;
use crate::engine::contract::{KeyParams, OutputMode, RgbaImage, UpscaleFilter};
use crate::engine::error::EngineError;
use crate::engine::imaging::colour::{despill_average, SrgbToLinear};
use crate::engine::imaging::resize::separable::{
    band_rows, bilinear_filter, horizontal_row4, lanczos3_filter, resize_bands, Coefficients,
};
use crate::engine::inputs::CleanFrame;
use crate::engine::limits::try_vec;
use crate::engine::stages::refine::Refined;

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

/// The per-pixel finishing of one resized pixel (straight sRGB FG and raw alpha in; straight
/// linear FG and the final alpha out) and its override flag.
#[inline(always)]
fn finish_pixel(
    p: [f32; 4],
    params: &KeyParams,
    garbage: Option<f32>,
    core: Option<f32>,
    to_linear: &SrgbToLinear,
) -> ([f32; 4], u8) {
    let (a, f) = apply_mattes(p[3], params.clip_black, params.clip_white, garbage, core);
    let fg = despill_average([p[0], p[1], p[2]], params.despill);
    (
        [
            to_linear.apply(fg[0]),
            to_linear.apply(fg[1]),
            to_linear.apply(fg[2]),
            a,
        ],
        f,
    )
}

/// [`finish_pixel`] over one row: `src` resized pixels of plate row `y`, into `dst` and `flags`.
#[allow(clippy::too_many_arguments)]
fn finish_row(
    src: &[f32],
    dst: &mut [f32],
    flags: &mut [u8],
    i0: usize,
    params: &KeyParams,
    garbage: Option<&[f32]>,
    core: Option<&[f32]>,
    to_linear: &SrgbToLinear,
) {
    let garbage = garbage.map(|g| &g[i0..i0 + flags.len()]);
    let core = core.map(|c| &c[i0..i0 + flags.len()]);
    for (x, ((s, d), f)) in src
        .chunks_exact(4)
        .zip(dst.chunks_exact_mut(4))
        .zip(flags.iter_mut())
        .enumerate()
    {
        let (px, flag) = finish_pixel(
            [s[0], s[1], s[2], s[3]],
            params,
            garbage.map(|g| g[x]),
            core.map(|c| c[x]),
            to_linear,
        );
        d.copy_from_slice(&px);
        *f = flag;
    }
}

/// Finishes the network's output: `refined` at S back to `w x h` and every matte operation.
///
/// The resize (same arithmetic as `fast_image_resize`'s convolution) reads the planar network
/// output directly and runs in bands of plate rows; without despeckle, each resized row is
/// finished (mattes, despill, sRGB -> linear) while still in cache, so the plate-sized frame is
/// written once. Despeckle needs the whole resized alpha first, so then it is a second pass.
pub fn finish(
    refined: &Refined,
    (w, h): (usize, usize),
    params: &KeyParams,
    garbage: Option<&[f32]>,
    core: Option<&[f32]>,
    filter: UpscaleFilter,
    abort: Abort<'_>,
) -> Result<Finished, EngineError> {
    let s = refined.s;
    let plane = s * s;
    if refined.fg.len() != 3 * plane || refined.alpha.len() != plane {
        return Err(EngineError::Internal(format!(
            "network output does not match S = {s}"
        )));
    }
    if s == 0 || w == 0 || h == 0 {
        return Err(EngineError::Internal("finish of an empty image".into()));
    }
    for (name, m) in [("garbage", garbage), ("core", core)] {
        if m.is_some_and(|m| m.len() != w * h) {
            return Err(EngineError::Internal(format!(
                "{name} matte does not match {w}x{h}"
            )));
        }
    }
    let (f, support) = match filter {
        UpscaleFilter::Lanczos3 => (lanczos3_filter as fn(f64) -> f64, 3.0),
        UpscaleFilter::Bilinear => (bilinear_filter as fn(f64) -> f64, 1.0),
    };
    let horiz = Coefficients::new(s, w, f, support);
    let vert = Coefficients::new(s, h, f, support);
    let to_linear = SrgbToLinear::new();
    let despeckle = params.despeckle_px > 0;
    // Despeckle and the edge controls need the whole resized alpha: then finishing is a second pass.
    let second_pass = despeckle || params.edges.active();
    let mut rgba = try_vec(w * h * 4, 0.0f32, "the output image")?;
    let mut overrides = try_vec(w * h, 0u8, "the output image")?;
    let band = band_rows(h);
    let outputs: Vec<(&mut [f32], &mut [u8])> = rgba
        .chunks_mut(band * w * 4)
        .zip(overrides.chunks_mut(band * w))
        .collect();
    let (fg, alpha) = (&refined.fg, &refined.alpha);
    resize_bands(
        &vert,
        h,
        w * 4,
        band,
        outputs,
        |y, buf| {
            thread_local! {
                static ROW: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
            }
            ROW.with_borrow_mut(|row| {
                row.resize(s * 4, 0.0);
                let o = y * s;
                let (r, g, b, a) = (
                    &fg[o..o + s],
                    &fg[plane + o..plane + o + s],
                    &fg[2 * plane + o..2 * plane + o + s],
                    &alpha[o..o + s],
                );
                for (x, px) in row.chunks_exact_mut(4).enumerate() {
                    px.copy_from_slice(&[r[x], g[x], b[x], a[x]]);
                }
                horizontal_row4(&horiz, row, buf);
            });
        },
        |(out, flags), yb, y, row| {
            let dst = &mut out[yb * w * 4..][..w * 4];
            if second_pass {
                dst.copy_from_slice(row);
            } else {
                let fl = &mut flags[yb * w..][..w];
                finish_row(row, dst, fl, y * w, params, garbage, core, &to_linear);
            }
        },
        abort,
    )?;
    if second_pass {
        let alpha = shaped_alpha(&rgba, (w, h), params, abort)?;
        rgba.par_chunks_mut(w * 4)
            .zip(overrides.par_chunks_mut(w))
            .zip(alpha.par_chunks(w))
            .enumerate()
            .for_each(|(y, ((row, flags), a))| {
                for (p, a) in row.chunks_exact_mut(4).zip(a) {
                    p[3] = *a;
                }
                // In place: each pixel is read before it is written.
                let src = row.to_vec();
                finish_row(&src, row, flags, y * w, params, garbage, core, &to_linear);
            });
    }
    Ok(Finished {
        width: w,
        height: h,
        rgba,
        overrides,
    })
}

/// The resized network alpha (in 0..1) after despeckle and the edge controls.
fn shaped_alpha(
    rgba: &[f32],
    (w, h): (usize, usize),
    params: &KeyParams,
    abort: Abort<'_>,
) -> Result<Vec<f32>, EngineError> {
    let mut alpha: Vec<f32> = rgba.par_chunks(4).map(|p| p[3].clamp(0.0, 1.0)).collect();
    let scale = params.render_scale;
    if params.despeckle_px > 0 {
        let mask = despeckle_mask(&alpha, (w, h), params.despeckle_px, scale, abort)?;
        alpha
            .par_iter_mut()
            .zip(mask.par_iter())
            .for_each(|(a, m)| *a *= m);
    }
    if params.edges.active() {
        apply_edges(&mut alpha, (w, h), &params.edges, scale, abort)?;
    }
    Ok(alpha)
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

/// The whole stage for a frame: [`finish`], then the output mode (or the Status view with the
/// refiner's tiles).
pub fn finish_frame(
    refined: &Refined,
    frame: &CleanFrame<'_>,
    params: &KeyParams,
    filter: UpscaleFilter,
) -> Result<RgbaImage, EngineError> {
    let f = finish(
        refined,
        frame.size(),
        params,
        frame.garbage.as_deref(),
        frame.core.as_deref(),
        filter,
        frame.abort,
    )?;
    Ok(if params.output == OutputMode::Status {
        status_image(
            &f,
            Some((refined.s, &refined.tiles_run, &refined.tiles_skipped)),
        )
    } else {
        compose(f, params.output)
    })
}

/// The Status view without a model: the hint's matte with the mattes applied.
pub fn status_from_hint(
    frame: &CleanFrame<'_>,
    params: &KeyParams,
) -> Result<RgbaImage, EngineError> {
    let f = finish_from_hint(
        frame.hint()?,
        frame.size(),
        params,
        frame.garbage.as_deref(),
        frame.core.as_deref(),
    );
    Ok(status_image(&f, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::contract::EdgeParams;
    use crate::engine::imaging::colour::srgb_to_linear_fast;
    use crate::engine::imaging::resize::resize_rgba;

    /// The unfused path: pack, `fast_image_resize`, despeckle, then the per-pixel work.
    fn reference(
        r: &Refined,
        (w, h): (usize, usize),
        params: &KeyParams,
        garbage: Option<&[f32]>,
        core: Option<&[f32]>,
        filter: UpscaleFilter,
    ) -> Finished {
        let (s, plane) = (r.s, r.s * r.s);
        let packed: Vec<f32> = (0..plane)
            .flat_map(|i| [r.fg[i], r.fg[plane + i], r.fg[2 * plane + i], r.alpha[i]])
            .collect();
        let mut rgba = resize_rgba(&packed, (s, s), (w, h), filter).unwrap();
        if params.despeckle_px > 0 {
            let alpha: Vec<f32> = rgba.chunks(4).map(|p| p[3].clamp(0.0, 1.0)).collect();
            let scale = params.render_scale;
            let mask =
                despeckle_mask(&alpha, (w, h), params.despeckle_px, scale, Abort::never()).unwrap();
            for (p, m) in rgba.chunks_mut(4).zip(&mask) {
                p[3] = p[3].clamp(0.0, 1.0) * m;
            }
        }
        if params.edges.active() {
            let mut alpha: Vec<f32> = rgba.chunks(4).map(|p| p[3].clamp(0.0, 1.0)).collect();
            let scale = params.render_scale;
            apply_edges(&mut alpha, (w, h), &params.edges, scale, Abort::never()).unwrap();
            for (p, a) in rgba.chunks_mut(4).zip(&alpha) {
                p[3] = *a;
            }
        }
        let mut overrides = vec![0u8; w * h];
        for (i, (p, flag)) in rgba.chunks_mut(4).zip(overrides.iter_mut()).enumerate() {
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
        }
        Finished {
            width: w,
            height: h,
            rgba,
            overrides,
        }
    }

    #[test]
    fn fused_finish_matches_the_unfused_path() {
        let s = 40;
        let refined = Refined {
            s,
            alpha: (0..s * s)
                .map(|i| {
                    let (x, y) = (i % s, i / s);
                    if (10..30).contains(&x) && (8..34).contains(&y) {
                        0.9 + (i % 7) as f32 * 0.03
                    } else if x == 3 && y == 3 {
                        1.0
                    } else {
                        (i % 5) as f32 * 0.01
                    }
                })
                .collect(),
            fg: (0..3 * s * s)
                .map(|i| ((i * 37) % 101) as f32 / 100.0)
                .collect(),
            ..Default::default()
        };
        for (w, h) in [(97, 53), (40, 40), (40, 71), (23, 40), (300, 7)] {
            let garbage: Vec<f32> = (0..w * h).map(|i| (i % 13 == 0) as u8 as f32).collect();
            let core: Vec<f32> = (0..w * h).map(|i| (i % 17) as f32 / 16.0).collect();
            let shaped = EdgeParams {
                shrink_grow_px: -1.0,
                softness_px: 1.0,
                gamma: 1.5,
            };
            for (despeckle_px, edges) in
                [(0, None), (30, None), (0, Some(shaped)), (30, Some(shaped))]
            {
                for filter in [UpscaleFilter::Lanczos3, UpscaleFilter::Bilinear] {
                    let params = KeyParams {
                        despeckle_px,
                        edges: edges.unwrap_or_default(),
                        despill: 0.7,
                        clip_black: 0.05,
                        clip_white: 0.9,
                        ..Default::default()
                    };
                    let mattes = [(None, None), (Some(&garbage[..]), Some(&core[..]))];
                    for (g, c) in mattes {
                        let got = finish(&refined, (w, h), &params, g, c, filter, Abort::never())
                            .unwrap();
                        let want = reference(&refined, (w, h), &params, g, c, filter);
                        let d = got
                            .rgba
                            .iter()
                            .zip(&want.rgba)
                            .map(|(a, b)| (a - b).abs())
                            .fold(0.0f32, f32::max);
                        assert!(d <= 1e-6, "{w}x{h} {filter:?} {despeckle_px}: {d}");
                        assert_eq!(got.overrides, want.overrides);
                    }
                }
            }
        }
    }

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
