//! OpenCV-compatible binary morphology with elliptical kernels and Gaussian blur, parallel over rows.
//!
//! imageproc's `grayscale_erode` is exact but single-threaded and O(kernel area) per pixel, and its
//! `erode(Norm::L2)` disk is not OpenCV's `MORPH_ELLIPSE`; its blur clamps borders where OpenCV
//! reflects (BORDER_REFLECT_101). These run-length versions are exact for OpenCV's ellipse and cost
//! O(kernel height) per pixel on all cores.

use rayon::prelude::*;

use super::resize::separable::with_avx2;
use crate::engine::abort::Abort;
use crate::engine::error::EngineError;

/// A kernel size in pixels at render scale 1, scaled to the current render scale.
pub fn scaled_kernel(px: f32, render_scale: f64) -> usize {
    let k = (px as f64 * render_scale).round();
    if k.is_finite() && k > 0.0 {
        k as usize
    } else {
        0
    }
}

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

/// One output row of binary morphology into `acc` (1 = set): per kernel row, erode ANDs and dilate
/// ORs the window over the in-image pixels (OpenCV's default border never erodes or dilates).
/// Small kernels combine shifted mask rows directly; large ones test windows by prefix counts.
/// Both are straight loops over x that vectorise.
struct Morph<'a> {
    mask: &'a [bool],
    w: usize,
    h: usize,
    rows: Vec<(isize, isize, isize)>,
    erode: bool,
    /// Per-row prefix counts, for kernels whose rows are too wide to combine shift by shift.
    prefix: Option<Vec<u32>>,
}

impl<'a> Morph<'a> {
    fn new(mask: &'a [bool], w: usize, h: usize, k: usize, erode: bool) -> Self {
        let rows = if k < 2 {
            vec![(0, 0, 0)]
        } else {
            ellipse_rows(k)
        };
        // Shift by shift costs the kernel's area in byte operations per pixel, prefix counts two
        // u32 operations per kernel row (plus building the counts).
        let area: isize = rows.iter().map(|&(_, lo, hi)| hi - lo + 1).sum();
        let prefix = (area > 8 * rows.len() as isize).then(|| row_prefix(mask, w, h));
        Self {
            mask,
            w,
            h,
            rows,
            erode,
            prefix,
        }
    }

    fn row(&self, y: usize, acc: &mut [u8]) {
        let (w, erode) = (self.w, self.erode);
        acc.fill(erode as u8);
        for &(dy, lo, hi) in &self.rows {
            let yy = y as isize + dy;
            if yy < 0 || yy >= self.h as isize {
                continue;
            }
            let yy = yy as usize;
            match &self.prefix {
                None => {
                    let m = &self.mask[yy * w..][..w];
                    for dx in lo..=hi {
                        // x + dx must lie in the row: x in [max(0, -dx), min(w, w - dx)).
                        let x0 = (-dx).max(0) as usize;
                        let x1 = (w as isize - dx).clamp(0, w as isize) as usize;
                        if x1 <= x0 {
                            continue;
                        }
                        let src = &m[(x0 as isize + dx) as usize..][..x1 - x0];
                        if erode {
                            for (a, &v) in acc[x0..x1].iter_mut().zip(src) {
                                *a &= v as u8;
                            }
                        } else {
                            for (a, &v) in acc[x0..x1].iter_mut().zip(src) {
                                *a |= v as u8;
                            }
                        }
                    }
                }
                Some(prefix) => {
                    let p = &prefix[yy * (w + 1)..][..w + 1];
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
                    for x in (0..ilo).chain(ihi..w) {
                        if erode {
                            acc[x] &= test(x) as u8;
                        } else {
                            acc[x] |= test(x) as u8;
                        }
                    }
                    let n = ihi - ilo;
                    if n == 0 {
                        continue;
                    }
                    let starts = &p[ilo - lo_u..][..n];
                    let ends = &p[ilo - lo_u + span..][..n];
                    let a = &mut acc[ilo..ihi];
                    if erode {
                        for ((a, &s0), &s1) in a.iter_mut().zip(starts).zip(ends) {
                            *a &= (s1 - s0 == width) as u8;
                        }
                    } else {
                        for ((a, &s0), &s1) in a.iter_mut().zip(starts).zip(ends) {
                            *a |= (s1 != s0) as u8;
                        }
                    }
                }
            }
        }
    }
}

/// Runs `f(first_index, items)` over `data` in groups of `group` items, the host's abort polled
/// before each group (on the calling thread: the poll may not be callable from rayon's workers).
fn in_groups<T: Send>(
    data: &mut [T],
    group: usize,
    abort: Abort<'_>,
    mut f: impl FnMut(usize, &mut [T]),
) -> Result<(), EngineError> {
    for (g, items) in data.chunks_mut(group.max(1)).enumerate() {
        abort.check()?;
        f(g * group.max(1), items);
    }
    Ok(())
}

/// Rows per abort poll of the row-parallel loops.
fn rows_per_poll(w: usize) -> usize {
    // About 16 M pixels: ~10 ms of a row loop on one core, and a 4K frame in one or two groups.
    (16usize << 20)
        .div_ceil(w.max(1))
        .max(rayon::current_num_threads())
}

/// Binary morphology written as `on`/`off` values.
fn morph_to<T: Copy + Send + Sync>(
    mask: &[bool],
    (w, h): (usize, usize),
    k: usize,
    erode: bool,
    (on, off): (T, T),
    abort: Abort<'_>,
) -> Result<Vec<T>, EngineError> {
    if k < 2 || w == 0 || h == 0 {
        return Ok(mask.par_iter().map(|&m| if m { on } else { off }).collect());
    }
    let m = Morph::new(mask, w, h, k, erode);
    let mut out = vec![off; w * h];
    in_groups(&mut out, rows_per_poll(w) * w, abort, |first, part| {
        let y0 = first / w;
        part.par_chunks_mut(w).enumerate().for_each_init(
            || vec![0u8; w],
            |acc, (y, out_row)| {
                m.row(y0 + y, acc);
                for (o, &a) in out_row.iter_mut().zip(acc.iter()) {
                    *o = if a != 0 { on } else { off };
                }
            },
        );
    })?;
    Ok(out)
}

/// `gaussian_blur(erode_ellipse(mask, erode_k) as 0/1, blur_k)`, clamped to 0..1 when `clamp01`
/// (k < 2: no erosion; blur_k < 3: no blur). Same values, without the whole-frame eroded and
/// half-blurred temporaries: see [`blur_rows`]. `abort` is polled between groups of bands.
pub fn erode_ellipse_blurred(
    mask: &[bool],
    w: usize,
    h: usize,
    erode_k: usize,
    blur_k: usize,
    clamp01: bool,
    abort: Abort<'_>,
) -> Result<Vec<f32>, EngineError> {
    morph_blurred(mask, w, h, erode_k, blur_k, true, clamp01, abort)
}

/// `gaussian_blur(dilate_ellipse(mask, dilate_k) as 0/1, blur_k)`, like [`erode_ellipse_blurred`].
pub fn dilate_ellipse_blurred(
    mask: &[bool],
    w: usize,
    h: usize,
    dilate_k: usize,
    blur_k: usize,
    clamp01: bool,
    abort: Abort<'_>,
) -> Result<Vec<f32>, EngineError> {
    morph_blurred(mask, w, h, dilate_k, blur_k, false, clamp01, abort)
}

#[allow(clippy::too_many_arguments)]
fn morph_blurred(
    mask: &[bool],
    w: usize,
    h: usize,
    k: usize,
    blur_k: usize,
    erode: bool,
    clamp01: bool,
    abort: Abort<'_>,
) -> Result<Vec<f32>, EngineError> {
    if w == 0 || h == 0 {
        return Ok(Vec::new());
    }
    if blur_k < 3 {
        // 0/1 values need no clamp.
        return morph_to(mask, (w, h), k, erode, (1.0f32, 0.0), abort);
    }
    let m = Morph::new(mask, w, h, k, erode);
    blur_rows(w, h, blur_k, clamp01, abort, |y, acc: &mut Vec<u8>, row| {
        acc.resize(w, 0);
        m.row(y, acc);
        for (o, &a) in row.iter_mut().zip(acc.iter()) {
            *o = a as f32;
        }
    })
}

/// `cv2.erode(mask, ellipse(k))` on a binary mask (the plain forms here poll no abort: tests and
/// tools).
pub fn erode_ellipse(mask: &[bool], w: usize, h: usize, k: usize) -> Vec<bool> {
    erode_ellipse_to(mask, w, h, k, true, false)
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
    morph_to(mask, (w, h), k, true, (on, off), Abort::never()).unwrap_or_default()
}

/// `cv2.dilate(mask, ellipse(k))` on a binary mask.
pub fn dilate_ellipse(mask: &[bool], w: usize, h: usize, k: usize) -> Vec<bool> {
    dilate_ellipse_to(mask, w, h, k, true, false)
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
    morph_to(mask, (w, h), k, false, (on, off), Abort::never()).unwrap_or_default()
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

fn blur(img: &[f32], w: usize, h: usize, k: usize, clamp01: bool) -> Vec<f32> {
    if k < 3 || w == 0 || h == 0 {
        let mut out = img.to_vec();
        if clamp01 {
            out.par_iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
        }
        return out;
    }
    blur_rows(w, h, k, clamp01, Abort::never(), |y, _: &mut (), row| {
        row.copy_from_slice(&img[y * w..][..w])
    })
    .unwrap_or_default()
}

/// [`gaussian_blur`] (clamped to 0..1 when `clamp01`) with the host's abort polled between groups
/// of bands; k < 3 copies.
pub fn gaussian_blur_watched(
    img: &[f32],
    (w, h): (usize, usize),
    k: usize,
    clamp01: bool,
    abort: Abort<'_>,
) -> Result<Vec<f32>, EngineError> {
    if k < 3 || w == 0 || h == 0 {
        return Ok(blur(img, w, h, k, clamp01));
    }
    blur_rows(w, h, k, clamp01, abort, |y, _: &mut (), row| {
        row.copy_from_slice(&img[y * w..][..w])
    })
}

/// Grey-level `cv2.dilate` (`grow`) or `cv2.erode` with `MORPH_ELLIPSE` of size k on a one-channel
/// f32 image: the max (min) over the ellipse, pixels outside the image left out (OpenCV's default
/// border). Each kernel row is a windowed max/min of one image row (van Herk / Gil-Werman: three
/// comparisons a pixel whatever the width), so a pixel costs O(k); rows in parallel, `abort`
/// polled between groups of rows.
pub fn grey_morph(
    img: &[f32],
    (w, h): (usize, usize),
    k: usize,
    grow: bool,
    abort: Abort<'_>,
) -> Result<Vec<f32>, EngineError> {
    let rows = ellipse_rows(k.max(1));
    let mut out = vec![0.0f32; w * h];
    if w == 0 {
        return Ok(out);
    }
    let pick = move |a: f32, b: f32| if grow { a.max(b) } else { a.min(b) };
    let identity = if grow {
        f32::NEG_INFINITY
    } else {
        f32::INFINITY
    };
    in_groups(&mut out, rows_per_poll(w) * w, abort, |first, part| {
        let y0 = first / w;
        part.par_chunks_mut(w).enumerate().for_each_init(
            || (Vec::new(), vec![0.0f32; w]),
            |(scratch, win), (dy0, o)| {
                let y = y0 + dy0;
                o.fill(identity);
                for &(dy, lo, hi) in &rows {
                    let yy = y as isize + dy;
                    if yy < 0 || yy >= h as isize {
                        continue;
                    }
                    let src = &img[yy as usize * w..][..w];
                    window_extreme(src, (lo, hi), identity, pick, scratch, win);
                    for (v, m) in o.iter_mut().zip(win.iter()) {
                        *v = pick(*v, *m);
                    }
                }
            },
        );
    })?;
    Ok(out)
}

/// `out[x]` = the max/min (`pick`) of `row[x + lo ..= x + hi]` inside the row (van Herk /
/// Gil-Werman over the row padded with `identity`; `scratch` is reused between calls).
fn window_extreme(
    row: &[f32],
    (lo, hi): (isize, isize),
    identity: f32,
    pick: impl Fn(f32, f32) -> f32,
    scratch: &mut Vec<f32>,
    out: &mut [f32],
) {
    let w = row.len();
    let width = (hi - lo + 1).max(1) as usize;
    let pad_l = (-lo).max(0) as usize;
    let n = pad_l + w + hi.max(0) as usize + width;
    // padded[i] = row[i - pad_l] (identity outside); prefix/suffix extremes per block of `width`.
    scratch.clear();
    scratch.resize(3 * n, identity);
    let (padded, rest) = scratch.split_at_mut(n);
    let (prefix, suffix) = rest.split_at_mut(n);
    padded[pad_l..pad_l + w].copy_from_slice(row);
    for i in 0..n {
        prefix[i] = if i % width == 0 {
            padded[i]
        } else {
            pick(prefix[i - 1], padded[i])
        };
    }
    for i in (0..n).rev() {
        let block_end = i % width == width - 1 || i == n - 1;
        suffix[i] = if block_end {
            padded[i]
        } else {
            pick(suffix[i + 1], padded[i])
        };
    }
    // Window of output x in padded coordinates: start = x + lo + pad_l.
    for (x, o) in out.iter_mut().enumerate() {
        let start = (x as isize + lo + pad_l as isize) as usize;
        *o = pick(suffix[start], prefix[start + width - 1]);
    }
}

/// The horizontal pass of one row: each output sums its taps in kernel order starting from 0 (the
/// additions of a per-pixel loop), but the loop runs tap by tap over the row so it vectorises.
fn blur_row_h(kernel: &[f32], row: &[f32], out: &mut [f32]) {
    let w = row.len();
    let ru = kernel.len() / 2;
    let r = ru as isize;
    let border = |x: usize| {
        let mut acc = 0.0f32;
        for (i, kv) in kernel.iter().enumerate() {
            acc += kv * row[reflect101(x as isize + i as isize - r, w)];
        }
        acc
    };
    if w > 2 * ru {
        let n = w - 2 * ru;
        blur_inner(kernel, row, &mut out[ru..ru + n]);
        for x in (0..ru).chain(w - ru..w) {
            out[x] = border(x);
        }
    } else {
        for (x, o) in out.iter_mut().enumerate() {
            *o = border(x);
        }
    }
}

/// The interior of a horizontal pass: `inner[x] = sum_i kernel[i] * row[x + i]` in tap order.
fn blur_inner(kernel: &[f32], row: &[f32], inner: &mut [f32]) {
    with_avx2!(blur_inner_avx2(kernel: &[f32], row: &[f32], inner: &mut [f32]) {
        let n = inner.len();
        inner.fill(0.0);
        for (i, kv) in kernel.iter().enumerate() {
            for (o, v) in inner.iter_mut().zip(&row[i..i + n]) {
                *o += kv * v;
            }
        }
    });
}

/// One output row of the vertical pass: `o[x] = sum_i kernel[i] * rows[i][x]` in tap order, in
/// blocks of 32 values whose sums stay in registers across the taps.
fn blur_col(kernel: &[f32], rows: &[&[f32]], o: &mut [f32]) {
    with_avx2!(blur_col_avx2(kernel: &[f32], rows: &[&[f32]], o: &mut [f32]) {
        const B: usize = 32;
        let n = o.len();
        let full = n / B * B;
        for x in (0..full).step_by(B) {
            let mut acc = [0.0f32; B];
            for (kv, r) in kernel.iter().zip(rows) {
                let r = &r[x..x + B];
                for i in 0..B {
                    acc[i] += kv * r[i];
                }
            }
            o[x..x + B].copy_from_slice(&acc);
        }
        for x in full..n {
            let mut acc = 0.0f32;
            for (kv, r) in kernel.iter().zip(rows) {
                acc += kv * r[x];
            }
            o[x] = acc;
        }
    });
}

/// Separable Gaussian blur (k odd >= 3, BORDER_REFLECT_101) of the image whose row y
/// `source(y, scratch, row)` writes, horizontal pass then vertical, in bands of output rows: a band
/// makes the horizontally blurred rows it needs (its rows and the kernel's reach either side) in
/// its own buffer, so neither the source nor the half-blurred image exists as a whole frame.
/// Every value is the same sum, in the same order, as a two-pass whole-frame blur. Bands run a
/// group at a time, `abort` polled between groups.
fn blur_rows<S: Default>(
    w: usize,
    h: usize,
    k: usize,
    clamp01: bool,
    abort: Abort<'_>,
    source: impl Fn(usize, &mut S, &mut [f32]) + Sync,
) -> Result<Vec<f32>, EngineError> {
    let kernel = opencv_gaussian_kernel(k);
    let r = k / 2;
    // A few bands per thread (balance, and abort polls on large frames), at most 256 rows unless
    // the kernel's reach needs more, so the rows a band re-reads at its edges stay a small part.
    let threads = rayon::current_num_threads().max(1);
    let band = h.div_ceil(threads * 4).min(256).max(8 * r).max(1);
    let mut out = vec![0.0f32; w * h];
    in_groups(&mut out, 2 * threads * band * w, abort, |first, part| {
        let b0 = first / (band * w);
        part.par_chunks_mut(band * w).enumerate().for_each_init(
            || (S::default(), vec![0.0f32; w], Vec::<f32>::new()),
            |(scratch, src_row, tmp), (b, out_band)| {
                let y0 = (b0 + b) * band;
                let y1 = (y0 + band).min(h);
                // Rows the band reads, reflections included (they fall inside this range).
                let (t0, t1) = (y0.saturating_sub(r), (y1 + r).min(h));
                tmp.resize((t1 - t0) * w, 0.0);
                for (t, hrow) in (t0..t1).zip(tmp.chunks_exact_mut(w)) {
                    source(t, scratch, src_row);
                    blur_row_h(&kernel, src_row, hrow);
                }
                for (y, o) in (y0..y1).zip(out_band.chunks_exact_mut(w)) {
                    let rows: Vec<&[f32]> = (0..kernel.len())
                        .map(|i| {
                            let t = reflect101(y as isize + i as isize - r as isize, h);
                            &tmp[(t - t0) * w..][..w]
                        })
                        .collect();
                    blur_col(&kernel, &rows, o);
                    if clamp01 {
                        for v in o.iter_mut() {
                            *v = v.clamp(0.0, 1.0);
                        }
                    }
                }
            },
        );
    })?;
    Ok(out)
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
                // 2..8 take the shift path, 21 and 51 the prefix-count path
                for k in [2, 3, 7, 8, 21, 51] {
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
        // (20, 150): several bands
        for (w, h) in [(53, 31), (20, 150)] {
            blur_case(w, h);
        }
    }

    fn blur_case(w: usize, h: usize) {
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
            // fused morphology + blur = the two steps
            let m = noise_mask(w, h, 5, 20);
            for mk in [1, 3, 7, 25] {
                let e = erode_ellipse_to(&m, w, h, mk, 1.0f32, 0.0);
                let d = dilate_ellipse_to(&m, w, h, mk, 1.0f32, 0.0);
                let eb = erode_ellipse_blurred(&m, w, h, mk, k, true, Abort::never()).unwrap();
                assert_eq!(
                    eb,
                    gaussian_blur_clamped(&e, w, h, k),
                    "erode {mk} blur {k}"
                );
                let db = dilate_ellipse_blurred(&m, w, h, mk, k, false, Abort::never()).unwrap();
                assert_eq!(db, gaussian_blur(&d, w, h, k), "dilate {mk} blur {k}");
            }
            let clamped: Vec<f32> = want.iter().map(|v| v.clamp(0.0, 1.0)).collect();
            assert_eq!(gaussian_blur_clamped(&img, w, h, k), clamped, "k {k}");
        }
    }

    #[test]
    fn abort_stops_the_blur_and_the_morphology() {
        let (w, h) = (64, 64);
        let m = noise_mask(w, h, 1, 30);
        let stop = Abort(&|| true);
        let blurred = erode_ellipse_blurred(&m, w, h, 7, 21, true, stop);
        assert!(matches!(blurred, Err(EngineError::Aborted)));
        let dilated = dilate_ellipse_blurred(&m, w, h, 7, 1, false, stop);
        assert!(matches!(dilated, Err(EngineError::Aborted)));
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

    #[test]
    fn grey_morphology_is_the_max_or_min_over_the_ellipse() {
        let (w, h) = (23, 17);
        let img: Vec<f32> = (0..w * h)
            .map(|i| ((i * 37 + 11) % 29) as f32 / 28.0)
            .collect();
        for k in [1, 3, 5, 8, 11] {
            let rows = ellipse_rows(k);
            for grow in [true, false] {
                let got = grey_morph(&img, (w, h), k, grow, Abort::never()).unwrap();
                for y in 0..h as isize {
                    for x in 0..w as isize {
                        let mut want = if grow {
                            f32::NEG_INFINITY
                        } else {
                            f32::INFINITY
                        };
                        for &(dy, lo, hi) in &rows {
                            for dx in lo..=hi {
                                let (xx, yy) = (x + dx, y + dy);
                                if xx >= 0 && yy >= 0 && xx < w as isize && yy < h as isize {
                                    let v = img[yy as usize * w + xx as usize];
                                    want = if grow { want.max(v) } else { want.min(v) };
                                }
                            }
                        }
                        let g = got[y as usize * w + x as usize];
                        assert_eq!(g, want, "k {k} grow {grow} at {x},{y}");
                    }
                }
            }
        }
    }
}
