//! Steady mattes: frame t's key blended per pixel with the keys of frames t-1 and t+1, only where
//! the plate itself did not change between them, so static parts stop flickering while moving
//! edges never lag. The result depends on the three frames' contents and the settings only, never
//! on what was rendered before (render order, cache state): [`crate::engine::Engine::render_steady`].

use rayon::prelude::*;

use super::contract::RgbaImage;

/// The Temporal group's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SteadyParams {
    /// Weight of each neighbour where its plate matches frame t: 0 = off (the frame alone),
    /// 1 = the three frames weigh the same.
    pub strength: f32,
    /// Plate difference (linear RGB, averaged over 3x3 pixels) still treated as sensor noise: up to
    /// this the neighbour gets its full weight, from twice this (motion) none.
    pub tolerance: f32,
}

impl SteadyParams {
    /// Off: the param defaults (existing projects key each frame alone).
    pub const OFF: SteadyParams = SteadyParams {
        strength: 0.0,
        tolerance: 0.02,
    };
    pub const STRENGTH_RANGE: (f32, f32) = (0.0, 1.0);
    pub const TOLERANCE_RANGE: (f32, f32) = (0.001, 0.5);

    /// Values clamped to their ranges (NaN = the default).
    pub fn clamped(self) -> SteadyParams {
        let c = |v: f32, (lo, hi): (f32, f32), d: f32| if v.is_nan() { d } else { v.clamp(lo, hi) };
        SteadyParams {
            strength: c(self.strength, Self::STRENGTH_RANGE, 0.0),
            tolerance: c(self.tolerance, Self::TOLERANCE_RANGE, Self::OFF.tolerance),
        }
    }

    pub fn is_on(&self) -> bool {
        self.strength > 0.0
    }
}

impl Default for SteadyParams {
    fn default() -> Self {
        Self::OFF
    }
}

/// The plate difference between `a` and `b` at each pixel: the largest of the three colour
/// channels' signed differences averaged over the 3x3 neighbourhood (clamped at the borders), so
/// independent per-frame noise averages out while a real change does not. NaN stays NaN.
pub fn plate_difference(a: &RgbaImage, b: &RgbaImage) -> Vec<f32> {
    let (w, h) = (a.width, a.height);
    let diff: Vec<[f32; 3]> = a
        .data
        .par_chunks(4)
        .zip(b.data.par_chunks(4))
        .map(|(p, q)| [p[0] - q[0], p[1] - q[1], p[2] - q[2]])
        .collect();
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(w.max(1))
        .enumerate()
        .for_each(|(y, row)| {
            let ys = y.saturating_sub(1)..=(y + 1).min(h - 1);
            for (x, o) in row.iter_mut().enumerate() {
                let xs = x.saturating_sub(1)..=(x + 1).min(w - 1);
                let mut sum = [0.0f32; 3];
                let mut n = 0.0f32;
                for yy in ys.clone() {
                    for d in &diff[yy * w + *xs.start()..=yy * w + *xs.end()] {
                        sum.iter_mut().zip(d).for_each(|(s, v)| *s += v);
                        n += 1.0;
                    }
                }
                *o = sum.iter().fold(0.0f32, |m, s| {
                    let v = (s / n).abs();
                    if v.is_nan() || m.is_nan() {
                        f32::NAN
                    } else {
                        m.max(v)
                    }
                });
            }
        });
    out
}

/// A neighbour's weight from the plate difference: 1 up to `tolerance`, 0 from twice it, linear
/// between; a non-finite difference (a broken pixel) weighs 0.
pub fn weight(difference: f32, tolerance: f32) -> f32 {
    if !difference.is_finite() {
        return 0.0;
    }
    ((2.0 * tolerance - difference) / tolerance).clamp(0.0, 1.0)
}

/// Frame t's key blended with its neighbours' (same size as `cur`, or left out by the caller):
/// each output channel is `(k_t + s w_p k_p + s w_n k_n) / (1 + s w_p + s w_n)`, with the weights
/// from each neighbour's plate difference to frame t. Blending whole RGBA pixels keeps a
/// premultiplied key consistent (colour and alpha move together).
pub fn blend(
    cur_plate: &RgbaImage,
    cur_key: &RgbaImage,
    neighbours: &[(&RgbaImage, &RgbaImage)],
    params: SteadyParams,
) -> RgbaImage {
    let p = params.clamped();
    let weights: Vec<Vec<f32>> = neighbours
        .iter()
        .map(|(plate, _)| {
            plate_difference(cur_plate, plate)
                .into_iter()
                .map(|d| p.strength * weight(d, p.tolerance))
                .collect()
        })
        .collect();
    let mut out = cur_key.clone();
    out.data.par_chunks_mut(4).enumerate().for_each(|(i, px)| {
        let mut total = 1.0f32;
        let mut acc = [px[0], px[1], px[2], px[3]];
        for (n, (_, key)) in neighbours.iter().enumerate() {
            let wn = weights[n][i];
            if wn > 0.0 {
                let q = &key.data[i * 4..i * 4 + 4];
                acc.iter_mut().zip(q).for_each(|(a, v)| *a += wn * v);
                total += wn;
            }
        }
        px.iter_mut().zip(acc).for_each(|(o, a)| *o = a / total);
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(w: usize, h: usize, v: f32) -> RgbaImage {
        RgbaImage {
            width: w,
            height: h,
            data: vec![v; w * h * 4],
        }
    }

    #[test]
    fn weights_ramp_from_noise_to_motion() {
        assert_eq!(weight(0.0, 0.02), 1.0);
        assert_eq!(weight(0.02, 0.02), 1.0);
        assert!((weight(0.03, 0.02) - 0.5).abs() < 1e-6);
        assert_eq!(weight(0.04, 0.02), 0.0);
        assert_eq!(weight(f32::NAN, 0.02), 0.0);
        assert_eq!(weight(f32::INFINITY, 0.02), 0.0);
    }

    #[test]
    fn difference_averages_noise_but_keeps_a_change() {
        let a = flat(5, 5, 0.5);
        let mut b = flat(5, 5, 0.5);
        // Checkerboard noise of +-0.03 averages to at most 0.03/9*... well under 0.02.
        for (i, px) in b.data.chunks_mut(4).enumerate() {
            let s = if (i % 5 + i / 5) % 2 == 0 { 0.03 } else { -0.03 };
            px[..3].iter_mut().for_each(|v| *v += s);
        }
        let d = plate_difference(&a, &b);
        assert!(d.iter().all(|v| *v < 0.02), "{d:?}");
        let mut c = flat(5, 5, 0.5);
        c.data[(2 * 5 + 2) * 4 + 1] = 0.9;
        let d = plate_difference(&a, &c);
        assert!((d[2 * 5 + 2] - 0.4 / 9.0).abs() < 1e-6);
        assert_eq!(d[0], 0.0);
    }

    #[test]
    fn blends_only_where_the_plate_holds_still() {
        let plate = flat(4, 1, 0.5);
        let mut moved = plate.clone();
        moved.data[3 * 4..3 * 4 + 3].iter_mut().for_each(|v| *v = 0.0);
        let key_t = flat(4, 1, 1.0);
        let key_n = flat(4, 1, 0.0);
        let p = SteadyParams {
            strength: 1.0,
            tolerance: 0.01,
        };
        let out = blend(&plate, &key_t, &[(&moved, &key_n)], p);
        // Pixel 0 is two away from the change: a full blend of 1 and 0.
        assert!((out.data[0] - 0.5).abs() < 1e-6, "{:?}", out.data);
        // Pixel 3 moved: frame t's key alone.
        assert_eq!(out.data[12], 1.0);
        let off = blend(&plate, &key_t, &[(&moved, &key_n)], SteadyParams::OFF);
        assert_eq!(off, key_t);
    }

    #[test]
    fn params_are_clamped() {
        let p = SteadyParams {
            strength: 7.0,
            tolerance: f32::NAN,
        }
        .clamped();
        assert_eq!(p.strength, 1.0);
        assert_eq!(p.tolerance, SteadyParams::OFF.tolerance);
        assert!(!SteadyParams::OFF.is_on());
    }
}
