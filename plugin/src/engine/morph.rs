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

/// Binary morphology written as `on`/`off` values. Per output row, each kernel row ANDs (erode) or
/// ORs (dilate) a window test read from the prefix counts into a byte row: straight loops over x
/// that vectorise, instead of a per-pixel walk over the kernel rows.
fn morph_to<T: Copy + Send + Sync>(
    mask: &[bool],
    w: usize,
    h: usize,
    k: usize,
    erode: bool,
    on: T,
    off: T,
) -> Vec<T> {
    if k < 2 || w == 0 || h == 0 {
        return mask.iter().map(|&m| if m { on } else { off }).collect();
    }
    let rows = ellipse_rows(k);
    let prefix = row_prefix(mask, w, h);
    let mut out = vec![off; w * h];
    out.par_chunks_mut(w).enumerate().for_each_init(
        || vec![0u8; w],
        |acc, (y, out_row)| {
            // Erode: every in-image kernel pixel set (OpenCV's default border never erodes).
            // Dilate: any in-image kernel pixel set.
            acc.fill(erode as u8);
            for &(dy, lo, hi) in &rows {
                let yy = y as isize + dy;
                if yy < 0 || yy >= h as isize {
                    continue;
                }
                let p = &prefix[yy as usize * (w + 1)..][..w + 1];
                // (lo <= 0 <= hi: the window always holds x itself.)
                let test = |x: usize| {
                    let x0 = (x as isize + lo).max(0) as usize;
                    let x1 = (x as isize + hi + 1).min(w as isize) as usize;
                    let set = p[x1] - p[x0];
                    if erode {
                        set as usize == x1 - x0
                    } else {
                        set > 0
                    }
                };
                // Interior: the window lies inside the row, no clipping.
                let ilo = ((-lo) as usize).min(w);
                let ihi = ((w as isize - hi).max(0) as usize).max(ilo);
                let width = (hi - lo + 1) as u32;
                let (lo_u, span) = ((-lo) as usize, (hi - lo + 1) as usize);
                if erode {
                    for (x, a) in acc.iter_mut().enumerate().take(ilo) {
                        *a &= test(x) as u8;
                    }
                    for (x, a) in acc.iter_mut().enumerate().skip(ihi) {
                        *a &= test(x) as u8;
                    }
                    let n = ihi - ilo;
                    if n == 0 {
                        continue;
                    }
                    let starts = &p[ilo - lo_u..][..n];
                    let ends = &p[ilo - lo_u + span..][..n];
                    for ((a, &s0), &s1) in acc[ilo..ihi].iter_mut().zip(starts).zip(ends) {
                        *a &= (s1 - s0 == width) as u8;
                    }
                } else {
                    for (x, a) in acc.iter_mut().enumerate().take(ilo) {
                        *a |= test(x) as u8;
                    }
                    for (x, a) in acc.iter_mut().enumerate().skip(ihi) {
                        *a |= test(x) as u8;
                    }
                    let n = ihi - ilo;
                    if n == 0 {
                        continue;
                    }
                    let starts = &p[ilo - lo_u..][..n];
                    let ends = &p[ilo - lo_u + span..][..n];
                    for ((a, &s0), &s1) in acc[ilo..ihi].iter_mut().zip(starts).zip(ends) {
                        *a |= (s1 != s0) as u8;
                    }
                }
            }
            for (o, &a) in out_row.iter_mut().zip(acc.iter()) {
                *o = if a != 0 { on } else { off };
            }
        },
    );
    out
}

/// `cv2.erode(mask, ellipse(k))` on a binary mask.
pub fn erode_ellipse(mask: &[bool], w: usize, h: usize, k: usize) -> Vec<bool> {
    morph_to(mask, w, h, k, true, true, false)
}

/// [`erode_ellipse`] written as `on` where the result is set and `off` elsewhere (saves a pass
/// when the caller wants a float matte).
pub fn erode_ellipse_to<T: Copy + Send + Sync>(
    mask: &[bool],
    w: usize,
    h: usize,
    k: usize,
    on: T,
    off: T,
) -> Vec<T> {
    morph_to(mask, w, h, k, true, on, off)
}

/// `cv2.dilate(mask, ellipse(k))` on a binary mask.
pub fn dilate_ellipse(mask: &[bool], w: usize, h: usize, k: usize) -> Vec<bool> {
    morph_to(mask, w, h, k, false, true, false)
}

/// [`dilate_ellipse`] written as `on`/`off` values.
pub fn dilate_ellipse_to<T: Copy + Send + Sync>(
    mask: &[bool],
    w: usize,
    h: usize,
    k: usize,
    on: T,
    off: T,
) -> Vec<T> {
    morph_to(mask, w, h, k, false, on, off)
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
    blur(img, w, h, k, false)
}

/// [`gaussian_blur`] with the result clamped to 0..1 in the same pass.
pub fn gaussian_blur_clamped(img: &[f32], w: usize, h: usize, k: usize) -> Vec<f32> {
    blur(img, w, h, k, true)
}

/// Separable blur: a horizontal then a vertical pass. Each output value sums its taps in kernel
/// order starting from 0 (the same additions as a per-pixel loop), but the loops run tap by tap
/// over a whole row so they vectorise.
fn blur(img: &[f32], w: usize, h: usize, k: usize, clamp01: bool) -> Vec<f32> {
    if k < 3 || w == 0 || h == 0 {
        let mut out = img.to_vec();
        if clamp01 {
            out.par_iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
        }
        return out;
    }
    let kernel = opencv_gaussian_kernel(k);
    let r = (k / 2) as isize;
    let ru = r as usize;
    let mut tmp = vec![0.0f32; w * h];
    tmp.par_chunks_mut(w)
        .zip(img.par_chunks(w))
        .for_each(|(out, row)| {
            let border = |x: usize| {
                let mut acc = 0.0f32;
                for (i, kv) in kernel.iter().enumerate() {
                    acc += kv * row[reflect101(x as isize + i as isize - r, w)];
                }
                acc
            };
            if w > 2 * ru {
                let n = w - 2 * ru;
                let inner = &mut out[ru..ru + n];
                for (i, kv) in kernel.iter().enumerate() {
                    for (o, v) in inner.iter_mut().zip(&row[i..i + n]) {
                        *o += kv * v;
                    }
                }
                for x in (0..ru).chain(w - ru..w) {
                    out[x] = border(x);
                }
            } else {
                for (x, o) in out.iter_mut().enumerate() {
                    *o = border(x);
                }
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
        if clamp01 {
            for v in o.iter_mut() {
                *v = v.clamp(0.0, 1.0);
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

    /// Pseudo-random binary mask with blobs and single pixels (xorshift).
    fn noise_mask(w: usize, h: usize, seed: u64, density: u64) -> Vec<bool> {
        let mut s = seed;
        (0..w * h)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let (x, y) = (i % w, i / w);
                ((x / 9 + y / 7) % 3 == 0) ^ (s % 100 < density)
            })
            .collect()
    }

    /// The kernel applied pixel by pixel from its definition (the reference for the row loops).
    fn morph_naive(mask: &[bool], w: usize, h: usize, k: usize, erode: bool) -> Vec<bool> {
        let rows = ellipse_rows(k);
        let mut out = vec![false; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut r = erode;
                for &(dy, lo, hi) in &rows {
                    for dx in lo..=hi {
                        let (yy, xx) = (y as isize + dy, x as isize + dx);
                        if yy < 0 || xx < 0 || yy >= h as isize || xx >= w as isize {
                            continue;
                        }
                        let m = mask[yy as usize * w + xx as usize];
                        if erode {
                            r &= m;
                        } else {
                            r |= m;
                        }
                    }
                }
                out[y * w + x] = r;
            }
        }
        out
    }

    #[test]
    fn row_morphology_matches_the_kernel_definition() {
        for (w, h) in [(37, 23), (5, 40), (1, 9), (64, 1)] {
            for (seed, density) in [(1, 5), (7, 40)] {
                let m = noise_mask(w, h, seed, density);
                for k in [2, 3, 7, 8, 21] {
                    assert_eq!(erode_ellipse(&m, w, h, k), morph_naive(&m, w, h, k, true));
                    assert_eq!(dilate_ellipse(&m, w, h, k), morph_naive(&m, w, h, k, false));
                    let f = erode_ellipse_to(&m, w, h, k, 1.0f32, 0.0);
                    let want = morph_naive(&m, w, h, k, true);
                    assert!(f.iter().zip(&want).all(|(&a, &b)| a == b as u8 as f32));
                }
            }
        }
    }

    #[test]
    fn row_blur_is_the_per_pixel_sum_bit_for_bit() {
        let (w, h) = (53, 31);
        let img: Vec<f32> = noise_mask(w, h, 3, 30)
            .iter()
            .enumerate()
            .map(|(i, &m)| m as u8 as f32 * 0.9 + (i % 11) as f32 * 0.013)
            .collect();
        for k in [3, 5, 11, 21] {
            let kernel = opencv_gaussian_kernel(k);
            let r = (k / 2) as isize;
            let mut tmp = vec![0.0f32; w * h];
            for y in 0..h {
                for x in 0..w {
                    let mut acc = 0.0f32;
                    for (i, kv) in kernel.iter().enumerate() {
                        acc += kv * img[y * w + reflect101(x as isize + i as isize - r, w)];
                    }
                    tmp[y * w + x] = acc;
                }
            }
            let mut want = vec![0.0f32; w * h];
            for y in 0..h {
                for x in 0..w {
                    let mut acc = 0.0f32;
                    for (i, kv) in kernel.iter().enumerate() {
                        acc += kv * tmp[reflect101(y as isize + i as isize - r, h) * w + x];
                    }
                    want[y * w + x] = acc;
                }
            }
            assert_eq!(gaussian_blur(&img, w, h, k), want, "k {k}");
            let clamped: Vec<f32> = want.iter().map(|v| v.clamp(0.0, 1.0)).collect();
            assert_eq!(gaussian_blur_clamped(&img, w, h, k), clamped, "k {k}");
        }
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
