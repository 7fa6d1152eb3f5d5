//! Upstream's `clean_matte_opencv`: keep 8-connected islands of alpha > 0.5 with at least N pixels,
//! dilate them (elliptical 51), blur (Gaussian 11, sigma 2) and multiply alpha by the result.

use image::{GrayImage, Luma};
use imageproc::region_labelling::{connected_components, Connectivity};
use rayon::prelude::*;

use crate::engine::abort::Abort;
use crate::engine::error::EngineError;
use crate::engine::imaging::morph::{dilate_ellipse_blurred, scaled_kernel};
use crate::engine::limits::MAX_KERNEL_PX;

/// The despeckle mask (0..1) for `alpha` at render scale `scale` (areas scale with scale^2,
/// kernels with scale, up to [`MAX_KERNEL_PX`]); `abort` is polled through the dilate and blur.
pub fn despeckle_mask(
    alpha: &[f32],
    (w, h): (usize, usize),
    min_area: usize,
    scale: f64,
    abort: Abort<'_>,
) -> Result<Vec<f32>, EngineError> {
    if w == 0 || h == 0 {
        return Ok(Vec::new());
    }
    let bin = GrayImage::from_fn(w as u32, h as u32, |x, y| {
        Luma([if alpha[y as usize * w + x as usize] > 0.5 {
            255
        } else {
            0
        }])
    });
    let labels = connected_components(&bin, Connectivity::Eight, Luma([0u8]));
    let raw = labels.as_raw();
    let n = raw.par_iter().copied().max().unwrap_or(0) as usize;
    let mut sizes = vec![0usize; n + 1];
    for &l in raw {
        sizes[l as usize] += 1;
    }
    let area = ((min_area as f64) * scale * scale).round().max(1.0) as usize;
    let keep: Vec<bool> = raw
        .par_iter()
        .map(|&l| l != 0 && sizes[l as usize] >= area)
        .collect();
    drop(labels);
    abort.check()?;
    let dilate_k = scaled_kernel(51.0, scale).min(MAX_KERNEL_PX);
    let mut blur_k = scaled_kernel(11.0, scale).min(MAX_KERNEL_PX);
    if blur_k.is_multiple_of(2) && blur_k > 0 {
        blur_k += 1;
    }
    // Dilation (a kernel below 2 is none) to 0/1, then the blur, without whole-frame temporaries.
    dilate_ellipse_blurred(&keep, w, h, dilate_k, blur_k, false, abort)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_small_islands_keeps_big_ones() {
        let (w, h) = (200, 120);
        let mut alpha = vec![0.0f32; w * h];
        // a 40x40 subject (1600 px) and a 5x5 speck (25 px) far from it
        for y in 40..80 {
            for x in 20..60 {
                alpha[y * w + x] = 1.0;
            }
        }
        for y in 10..15 {
            for x in 170..175 {
                alpha[y * w + x] = 0.9;
            }
        }
        let m = despeckle_mask(&alpha, (w, h), 400, 1.0, Abort::never()).unwrap();
        assert!((m[60 * w + 40] - 1.0).abs() < 1e-6, "subject kept");
        assert!(m[12 * w + 172] < 1e-6, "speck removed");
        // the dilation (radius 25) and blur keep the subject's surroundings near its edge
        assert!(m[60 * w + 62] > 0.99);
        assert!(m[60 * w + 100] < 1e-6);
        // a threshold below the speck keeps it
        let m = despeckle_mask(&alpha, (w, h), 10, 1.0, Abort::never()).unwrap();
        assert!(m[12 * w + 172] > 0.99);
        // 8-connectivity: two diagonal touching 15x15 squares (225 px each) count as one island
        let mut diag = vec![0.0f32; w * h];
        for y in 0..15 {
            for x in 0..15 {
                diag[(10 + y) * w + 10 + x] = 1.0;
                diag[(25 + y) * w + 25 + x] = 1.0;
            }
        }
        let m = despeckle_mask(&diag, (w, h), 400, 1.0, Abort::never()).unwrap();
        assert!(m[17 * w + 17] > 0.99);
    }
}
