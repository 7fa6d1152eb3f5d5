//! The matte's edge controls on the network's alpha at plate size, in this order: shrink/grow
//! (grey erosion/dilation with OpenCV's ellipse), edge softness (Gaussian blur) and gamma
//! (alpha^(1/gamma)). They run after despeckle and before clip, the garbage/core mattes, despill
//! and premultiplication, so "outside wins" still holds and the colour is multiplied by the matte
//! the user shaped. Both paths use this CPU form (the GPU path brings the refined matte down for a
//! frame with edge controls on, as for despeckle); sizes are px at render scale 1, scaled by the
//! render scale and rounded to whole pixels.

use rayon::prelude::*;

use crate::engine::abort::Abort;
use crate::engine::contract::EdgeParams;
use crate::engine::error::EngineError;
use crate::engine::imaging::morph::{gaussian_blur_watched, grey_morph, scaled_kernel};

/// Declared ranges (the OFX layer clamps to these; the engine clamps again, so a caller that
/// skipped it cannot ask for a kernel the size of the frame).
pub const SHRINK_GROW_MAX_PX: f32 = 100.0;
pub const SOFTNESS_MAX_PX: f32 = 100.0;
pub const GAMMA_MIN: f32 = 0.1;
pub const GAMMA_MAX: f32 = 10.0;

/// The controls inside their ranges (NaN counts as off).
pub fn clamped(e: &EdgeParams) -> EdgeParams {
    let finite = |v: f32, off: f32| if v.is_finite() { v } else { off };
    EdgeParams {
        shrink_grow_px: finite(e.shrink_grow_px, 0.0)
            .clamp(-SHRINK_GROW_MAX_PX, SHRINK_GROW_MAX_PX),
        softness_px: finite(e.softness_px, 0.0).clamp(0.0, SOFTNESS_MAX_PX),
        gamma: finite(e.gamma, 1.0).clamp(GAMMA_MIN, GAMMA_MAX),
    }
}

/// Applies the edge controls to `alpha` (`w x h`, values in 0..1) in place.
pub fn apply_edges(
    alpha: &mut Vec<f32>,
    size: (usize, usize),
    edges: &EdgeParams,
    render_scale: f64,
    abort: Abort<'_>,
) -> Result<(), EngineError> {
    let e = clamped(edges);
    let radius = scaled_kernel(e.shrink_grow_px.abs(), render_scale);
    if radius > 0 {
        let grow = e.shrink_grow_px > 0.0;
        *alpha = grey_morph(alpha, size, 2 * radius + 1, grow, abort)?;
    }
    let soft = scaled_kernel(e.softness_px, render_scale);
    if soft > 0 {
        *alpha = gaussian_blur_watched(alpha, size, 2 * soft + 1, true, abort)?;
    }
    if e.gamma != 1.0 {
        let inv = 1.0 / e.gamma;
        alpha
            .par_iter_mut()
            .for_each(|a| *a = a.clamp(0.0, 1.0).powf(inv));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40x30 matte: a solid 20x10 box with a 1-px half-transparent rim.
    fn boxed() -> (Vec<f32>, (usize, usize)) {
        let (w, h) = (40, 30);
        let mut a = vec![0.0f32; w * h];
        for y in 9..21 {
            for x in 9..31 {
                let rim = y == 9 || y == 20 || x == 9 || x == 30;
                a[y * w + x] = if rim { 0.5 } else { 1.0 };
            }
        }
        (a, (w, h))
    }

    fn run(e: EdgeParams, scale: f64) -> Vec<f32> {
        let (mut a, size) = boxed();
        apply_edges(&mut a, size, &e, scale, Abort::never()).unwrap();
        a
    }

    fn sum(a: &[f32]) -> f32 {
        a.iter().sum()
    }

    #[test]
    fn each_control_moves_the_matte_the_way_its_name_says() {
        let (orig, (w, _)) = boxed();
        let off = run(EdgeParams::default(), 1.0);
        assert_eq!(off, orig);
        let grow = run(
            EdgeParams {
                shrink_grow_px: 2.0,
                ..Default::default()
            },
            1.0,
        );
        let shrink = run(
            EdgeParams {
                shrink_grow_px: -2.0,
                ..Default::default()
            },
            1.0,
        );
        assert!(sum(&grow) > sum(&orig) && sum(&shrink) < sum(&orig));
        // Grown by 2: the rim moved two pixels out, the solid one pixel behind it; shrunk: the rim
        // came two pixels in.
        assert_eq!((grow[15 * w + 7], grow[15 * w + 8]), (0.5, 1.0));
        assert_eq!(shrink[15 * w + 11], 0.5);
        assert_eq!(shrink[15 * w + 9], 0.0);
        let soft = run(
            EdgeParams {
                softness_px: 2.0,
                ..Default::default()
            },
            1.0,
        );
        assert!(
            soft[15 * w + 8] > 0.0 && soft[15 * w + 8] < 0.5,
            "{}",
            soft[15 * w + 8]
        );
        assert!(soft.iter().all(|v| (0.0..=1.0).contains(v)));
        let lift = run(
            EdgeParams {
                gamma: 2.0,
                ..Default::default()
            },
            1.0,
        );
        assert!((lift[9 * w + 15] - 0.5f32.sqrt()).abs() < 1e-6);
        assert_eq!(lift[15 * w + 15], 1.0);
        assert_eq!(lift[0], 0.0);
    }

    #[test]
    fn sizes_follow_the_render_scale_and_ranges_are_enforced() {
        let full = run(
            EdgeParams {
                shrink_grow_px: 4.0,
                ..Default::default()
            },
            0.5,
        );
        let half = run(
            EdgeParams {
                shrink_grow_px: 2.0,
                ..Default::default()
            },
            1.0,
        );
        assert_eq!(full, half);
        let e = clamped(&EdgeParams {
            shrink_grow_px: -1e9,
            softness_px: f32::NAN,
            gamma: 0.0,
        });
        assert_eq!(
            (e.shrink_grow_px, e.softness_px, e.gamma),
            (-100.0, 0.0, 0.1)
        );
        // A huge request on a small frame is clamped, not sized from the input.
        let huge = run(
            EdgeParams {
                shrink_grow_px: 1e9,
                ..Default::default()
            },
            1.0,
        );
        assert!(huge.iter().all(|&v| v == 1.0));
    }
}
