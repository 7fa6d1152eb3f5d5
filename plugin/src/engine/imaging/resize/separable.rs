//! Hand-fused separable convolution resizing with `fast_image_resize`'s arithmetic: the same f64
//! weights (Pillow's scheme: support scaled by the downscale factor, half-pixel centres, zero end
//! weights trimmed, normalised to sum 1), horizontal pass first, then vertical, each summing its
//! taps in order into an f64 and rounding to f32 once. What it adds is the plumbing around the
//! passes: output rows are made in bands, each band runs the horizontal pass only over the source
//! rows it needs (no whole-frame temporary) and hands every finished row to a callback, so the
//! caller's per-pixel work happens while the row is still in cache.

use rayon::prelude::*;

use crate::engine::abort::Abort;
use crate::engine::error::EngineError;

/// Per-output-sample taps: `weights[i * window..][..len[i]]` apply to input `start[i]..`.
#[derive(Clone, Debug)]
pub struct Coefficients {
    pub start: Vec<usize>,
    pub len: Vec<usize>,
    pub window: usize,
    pub weights: Vec<f64>,
    /// Same size in and out: `fast_image_resize` skips the pass (values pass through unchanged).
    pub identity: bool,
}

pub fn bilinear_filter(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

pub fn lanczos3_filter(x: f64) -> f64 {
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

impl Coefficients {
    /// `fast_image_resize`'s `precompute_coefficients` with an adaptive kernel (its Convolution).
    pub fn new(in_size: usize, out_size: usize, filter: fn(f64) -> f64, support: f64) -> Self {
        let scale = in_size as f64 / out_size as f64;
        let filter_scale = scale.max(1.0);
        let radius = support * filter_scale;
        let window = radius.ceil() as usize * 2 + 1;
        let recip = 1.0 / filter_scale;
        let mut weights = Vec::with_capacity(window * out_size);
        let mut start = Vec::with_capacity(out_size);
        let mut len = Vec::with_capacity(out_size);
        for out_x in 0..out_size {
            let in_center = (out_x as f64 + 0.5) * scale;
            let x_min = (in_center - radius).floor().max(0.0) as usize;
            let x_max = (in_center + radius).ceil().min(in_size as f64) as usize;
            let cur = weights.len();
            let mut ww = 0.0f64;
            let center = in_center - 0.5;
            let mut b0 = x_min;
            let mut b1 = x_max;
            for x in x_min..x_max {
                let wt = filter((x as f64 - center) * recip);
                if x == b0 && wt == 0.0 {
                    b0 += 1;
                } else {
                    weights.push(wt);
                    ww += wt;
                }
            }
            for &c in weights.iter().rev() {
                if b1 <= b0 || c != 0.0 {
                    break;
                }
                b1 -= 1;
            }
            if ww != 0.0 {
                weights[cur..].iter_mut().for_each(|v| *v /= ww);
            }
            weights.resize(cur + window, 0.0);
            start.push(b0);
            len.push(b1.saturating_sub(b0));
        }
        Self {
            start,
            len,
            window,
            weights,
            identity: in_size == out_size,
        }
    }

    #[inline(always)]
    fn taps(&self, i: usize) -> (usize, &[f64]) {
        (
            self.start[i],
            &self.weights[i * self.window..][..self.len[i]],
        )
    }

    /// Source range `[first, last)` that output samples `range` read.
    fn source_span(&self, range: std::ops::Range<usize>) -> (usize, usize) {
        if self.identity {
            return (range.start, range.end);
        }
        let first = range.clone().map(|i| self.start[i]).min().unwrap_or(0);
        let last = range
            .map(|i| self.start[i] + self.len[i])
            .max()
            .unwrap_or(first);
        (first, last)
    }
}

/// Runs `$body` compiled for AVX2 when the CPU has it (4 f64 lanes instead of SSE2's 2), else as
/// built. The code is the same either way: only the instruction selection differs (no FMA, so the
/// same roundings and results).
macro_rules! with_avx2 {
    ($name:ident ( $($arg:ident : $ty:ty),* ) $body:block) => {
        #[inline(always)]
        fn body($($arg: $ty),*) $body
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2")]
            unsafe fn $name($($arg: $ty),*) {
                body($($arg),*)
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above); the body is safe code.
                unsafe { $name($($arg),*) };
                return;
            }
        }
        body($($arg),*)
    };
}
pub(crate) use with_avx2;

/// Horizontal pass of one interleaved 4-channel row: `src` has the input width, `dst` the output.
pub fn horizontal_row4(c: &Coefficients, src: &[f32], dst: &mut [f32]) {
    if c.identity {
        dst.copy_from_slice(src);
        return;
    }
    with_avx2!(horizontal_row4_avx2(c: &Coefficients, src: &[f32], dst: &mut [f32]) {
        for (x, o) in dst.chunks_exact_mut(4).enumerate() {
            let (start, ks) = c.taps(x);
            let px = &src[start * 4..][..ks.len() * 4];
            let mut acc = [0.0f64; 4];
            for (&k, p) in ks.iter().zip(px.chunks_exact(4)) {
                acc[0] += p[0] as f64 * k;
                acc[1] += p[1] as f64 * k;
                acc[2] += p[2] as f64 * k;
                acc[3] += p[3] as f64 * k;
            }
            o[0] = acc[0] as f32;
            o[1] = acc[1] as f32;
            o[2] = acc[2] as f32;
            o[3] = acc[3] as f32;
        }
    });
}

/// Vertical pass of one output row: `rows` (one per weight) times `ks`, summed in weight order in
/// f64 and rounded once. Blocks of 16 values keep their sums in registers across the taps.
fn vertical_row(ks: &[f64], rows: &[&[f32]], dst: &mut [f32]) {
    with_avx2!(vertical_row_avx2(ks: &[f64], rows: &[&[f32]], dst: &mut [f32]) {
        const B: usize = 16;
        let n = dst.len();
        let row = |j: usize| &rows[j][..n];
        let full = n / B * B;
        for x in (0..full).step_by(B) {
            let mut acc = [0.0f64; B];
            for (j, &k) in ks.iter().enumerate() {
                let r = &row(j)[x..x + B];
                for i in 0..B {
                    acc[i] += r[i] as f64 * k;
                }
            }
            for i in 0..B {
                dst[x + i] = acc[i] as f32;
            }
        }
        for (x, d) in dst.iter_mut().enumerate().skip(full) {
            let mut acc = 0.0f64;
            for (j, &k) in ks.iter().enumerate() {
                acc += row(j)[x] as f64 * k;
            }
            *d = acc as f32;
        }
    });
}

/// Resizes to `rows` output rows of `row_len` values in bands of `band` rows. `hrow(y, buf)` fills
/// `buf` with source row `y` already resized horizontally (`row_len` values); `emit(band_out,
/// y_in_band, y, row)` receives each finished output row. `outputs` holds one item per band (the
/// caller's slices of its output for those rows). Each band keeps only the filter's window of
/// horizontally resized rows, in a ring (source rows only move forward as output rows do). Bands
/// run two per thread at a time, with the host's `abort` polled (on this thread) between groups.
#[allow(clippy::too_many_arguments)]
pub fn resize_bands<B: Send>(
    vert: &Coefficients,
    rows: usize,
    row_len: usize,
    band: usize,
    outputs: Vec<B>,
    hrow: impl Fn(usize, &mut [f32]) + Sync,
    emit: impl Fn(&mut B, usize, usize, &[f32]) + Sync,
    abort: Abort<'_>,
) -> Result<(), EngineError> {
    debug_assert_eq!(outputs.len(), rows.div_ceil(band));
    let cap = if vert.identity { 1 } else { vert.window.max(1) };
    let group = 2 * rayon::current_num_threads().max(1);
    let mut bands = outputs.into_iter().enumerate().peekable();
    while bands.peek().is_some() {
        abort.check()?;
        let part: Vec<(usize, B)> = bands.by_ref().take(group).collect();
        part.into_par_iter().for_each_init(
            || (vec![0.0f32; cap * row_len], vec![0.0f32; row_len]),
            |(ring, row), (b, mut out)| {
                let y0 = b * band;
                let y1 = (y0 + band).min(rows);
                let slot = |r: usize| (r % cap) * row_len;
                if vert.identity {
                    for y in y0..y1 {
                        hrow(y, &mut ring[..row_len]);
                        emit(&mut out, y - y0, y, &ring[..row_len]);
                    }
                    return;
                }
                // Next source row to resize horizontally; rows below a tap window's start are done.
                let mut next = vert.source_span(y0..y1).0;
                for y in y0..y1 {
                    let (start, ks) = vert.taps(y);
                    next = next.max(start);
                    while next < start + ks.len() {
                        let at = slot(next);
                        hrow(next, &mut ring[at..at + row_len]);
                        next += 1;
                    }
                    let taps: Vec<&[f32]> = (start..start + ks.len())
                        .map(|r| &ring[slot(r)..slot(r) + row_len])
                        .collect();
                    vertical_row(ks, &taps, row);
                    emit(&mut out, y - y0, y, row);
                }
            },
        );
    }
    Ok(())
}

/// A band height that gives every thread about two bands: enough to balance the load, few enough
/// that the rows each band's filter re-reads at its edges (5 or 6 for Lanczos3) stay a small part.
pub fn band_rows(rows: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    rows.div_ceil(threads * 2).clamp(32, 256)
}
