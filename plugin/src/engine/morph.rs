//! OpenCV-compatible binary morphology with elliptical kernels and Gaussian blur, parallel over rows.
//!
//! imageproc's `grayscale_erode` is exact but single-threaded and O(kernel area) per pixel, and its
//! `erode(Norm::L2)` disk is not OpenCV's `MORPH_ELLIPSE`; its blur clamps borders where OpenCV
//! reflects (BORDER_REFLECT_101). These run-length versions are exact for OpenCV's ellipse and cost
//! O(kernel height) per pixel on all cores.

use rayon::prelude::*;

/// Horizontal half-extents `(dy, lo, hi)` of OpenCV's `getStructuringElement(MORPH_ELLIPSE, (k, k))`
/// relative to its anchor (k/2, k/2).
pub fn ellipse_rows(k: usize) -> Vec<(isize, isize, isize)> {
    let r = (k / 2) as isize;
    let c = (k / 2) as isize;
    let inv_r2 = if r > 0 { 1.0 / (r * r) as f64 } else { 0.0 };
    let mut rows = Vec::with_capacity(k);
    for i in 0..k as isize {
        let dy = i - r;
        if dy.abs() > r {
            continue;
        }
        // OpenCV's saturate_cast<int>(double) rounds half to even; cvRound == round for these.
        let dx =
            (c as f64 * (((r * r - dy * dy) as f64) * inv_r2).sqrt()).round_ties_even() as isize;
        let j1 = (c - dx).max(0);
        let j2 = (c + dx + 1).min(k as isize);
        if j2 > j1 {
            rows.push((dy, j1 - c, j2 - 1 - c));
        }
    }
    rows
}

/// Per-row prefix counts of set pixels: `prefix[y * (w + 1) + x]` = set pixels in row y before x.
fn row_prefix(mask: &[bool], w: usize, h: usize) -> Vec<u32> {
    let mut prefix = vec![0u32; (w + 1) * h];
    prefix
        .par_chunks_mut(w + 1)
        .zip(mask.par_chunks(w))
        .for_each(|(p, row)| {
            let mut acc = 0u32;
            for (x, &m) in row.iter().enumerate() {
                p[x] = acc;
                acc += m as u32;
            }
            p[w] = acc;
        });
    prefix
}

fn morph(mask: &[bool], w: usize, h: usize, k: usize, erode: bool) -> Vec<bool> {
    if k < 2 || w == 0 || h == 0 {
        return mask.to_vec();
    }
    let rows = ellipse_rows(k);
    let prefix = row_prefix(mask, w, h);
    let mut out = vec![false; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, out_row)| {
        for (x, o) in out_row.iter_mut().enumerate() {
            // Erode: every in-image kernel pixel set (OpenCV's default border never erodes).
            // Dilate: any in-image kernel pixel set.
            let mut result = erode;
            for &(dy, lo, hi) in &rows {
                let yy = y as isize + dy;
                if yy < 0 || yy >= h as isize {
                    continue;
                }
                let x0 = (x as isize + lo).max(0) as usize;
                let x1 = ((x as isize + hi + 1).min(w as isize)).max(0) as usize;
                if x1 <= x0 {
                    continue;
                }
                let p = &prefix[yy as usize * (w + 1)..];
                let set = (p[x1] - p[x0]) as usize;
                if erode && set != x1 - x0 {
                    result = false;
                    break;
                }
                if !erode && set > 0 {
                    result = true;
                    break;
                }
            }
            *o = result;
        }
    });
    out
}

/// `cv2.erode(mask, ellipse(k))` on a binary mask.
pub fn erode_ellipse(mask: &[bool], w: usize, h: usize, k: usize) -> Vec<bool> {
    morph(mask, w, h, k, true)
}

/// `cv2.dilate(mask, ellipse(k))` on a binary mask.
pub fn dilate_ellipse(mask: &[bool], w: usize, h: usize, k: usize) -> Vec<bool> {
    morph(mask, w, h, k, false)
}

/// OpenCV's sigma for a kernel size when sigma is left 0.
pub fn opencv_sigma(k: usize) -> f64 {
    0.3 * ((k as f64 - 1.0) * 0.5 - 1.0) + 0.8
}

/// Normalised 1-D Gaussian kernel of size k (odd).
pub fn gaussian_kernel(k: usize, sigma: f64) -> Vec<f32> {
    let r = (k / 2) as f64;
    let raw: Vec<f64> = (0..k)
        .map(|i| (-((i as f64 - r).powi(2)) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|v| (v / sum) as f32).collect()
}

/// `cv2.getGaussianKernel(k, 0)`: OpenCV's fixed small kernels for k <= 7, the formula above that.
pub fn opencv_gaussian_kernel(k: usize) -> Vec<f32> {
    match k {
        1 => vec![1.0],
        3 => vec![0.25, 0.5, 0.25],
        5 => vec![0.0625, 0.25, 0.375, 0.25, 0.0625],
        7 => vec![
            0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125,
        ],
        _ => gaussian_kernel(k, opencv_sigma(k)),
    }
}

#[inline]
fn reflect101(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let n = n as isize;
    let mut i = i;
    loop {
        if i < 0 {
            i = -i;
        } else if i >= n {
            i = 2 * n - 2 - i;
        } else {
            return i as usize;
        }
    }
}

/// `cv2.GaussianBlur(img, (k, k), 0)` (BORDER_REFLECT_101) on a one-channel f32 image; k odd >= 3.
pub fn gaussian_blur(img: &[f32], w: usize, h: usize, k: usize) -> Vec<f32> {
    if k < 3 || w == 0 || h == 0 {
        return img.to_vec();
    }
    let kernel = opencv_gaussian_kernel(k);
    let r = (k / 2) as isize;
    let mut tmp = vec![0.0f32; w * h];
    let ru = r as usize;
    tmp.par_chunks_mut(w)
        .zip(img.par_chunks(w))
        .for_each(|(out, row)| {
            for (x, o) in out.iter_mut().enumerate() {
                let mut acc = 0.0f32;
                if x >= ru && x + ru < w {
                    // interior: no border handling
                    for (kv, v) in kernel.iter().zip(&row[x - ru..=x + ru]) {
                        acc += kv * v;
                    }
                } else {
                    for (i, kv) in kernel.iter().enumerate() {
                        acc += kv * row[reflect101(x as isize + i as isize - r, w)];
                    }
                }
                *o = acc;
            }
        });
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, o)| {
        for (i, kv) in kernel.iter().enumerate() {
            let src = &tmp[reflect101(y as isize + i as isize - r, h) * w..][..w];
            for (ov, sv) in o.iter_mut().zip(src) {
                *ov += kv * sv;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipse_7_matches_opencv() {
        // cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)):
        // 0001000 / 0111110 / 1111111 x3 / 0111110 / 0001000
        let rows = ellipse_rows(7);
        assert_eq!(
            rows,
            vec![
                (-3, 0, 0),
                (-2, -2, 2),
                (-1, -3, 3),
                (0, -3, 3),
                (1, -3, 3),
                (2, -2, 2),
                (3, 0, 0)
            ]
        );
    }

    #[test]
    fn erode_and_dilate_single_points() {
        let (w, h) = (15, 15);
        let mut m = vec![false; w * h];
        m[7 * w + 7] = true;
        let d = dilate_ellipse(&m, w, h, 7);
        let count = d.iter().filter(|&&v| v).count();
        assert_eq!(count, 1 + 5 + 7 * 3 + 5 + 1);
        assert!(d[4 * w + 7] && !d[4 * w + 6] && d[5 * w + 5] && !d[5 * w + 4]);
        let e = erode_ellipse(&d, w, h, 7);
        assert_eq!(e.iter().filter(|&&v| v).count(), 1);
        // full image stays full (border never erodes)
        let full = vec![true; w * h];
        assert!(erode_ellipse(&full, w, h, 7).iter().all(|&v| v));
    }

    #[test]
    fn gaussian_matches_opencv_sigma_and_preserves_constant() {
        assert!((opencv_sigma(11) - 2.0).abs() < 1e-12);
        let k = gaussian_kernel(11, 2.0);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let img = vec![0.7f32; 9 * 5];
        let b = gaussian_blur(&img, 9, 5, 11);
        assert!(b.iter().all(|v| (v - 0.7).abs() < 1e-6));
        // reflect-101: an impulse at the border sees its mirror, not a clamp
        let mut imp = vec![0.0f32; 21];
        imp[0] = 1.0;
        let b = gaussian_blur(&imp, 21, 1, 5);
        let k5 = opencv_gaussian_kernel(5);
        assert!((b[0] - k5[2]).abs() < 1e-6);
        assert!((b[1] - k5[1]).abs() < 1e-6 && (b[2] - k5[0]).abs() < 1e-6);
    }
}
