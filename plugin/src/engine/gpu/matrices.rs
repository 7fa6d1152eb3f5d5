//! Resampling as matrices, with the taps of the CPU resizer.
//!
//! The device kernels resample with two matrix products (`x @ rh`, then `rv @ ...`). Their weights
//! are read off `fast_image_resize` itself by resizing an identity image: row j of the result is
//! the response to an impulse at source column j, i.e. the weight of source pixel j in every output
//! pixel. The GPU path therefore uses exactly the CPU path's filter taps (edge handling, antialias
//! support, normalisation); only the order of the float sums differs.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::engine::imaging::resize::ResizeError;

/// `[src, dst]` row-major: entry (j, i) is the weight of source sample j in output sample i when
/// one axis of length `src` is resampled to `dst` with `filter` (convolution, as `resize.rs`).
pub fn axis_matrix(src: usize, dst: usize, filter: FilterType) -> Result<Vec<f32>, ResizeError> {
    if src == 0 || dst == 0 {
        return Err(ResizeError::Empty);
    }
    let n = |v: usize| u32::try_from(v).map_err(|_| ResizeError::TooLarge(v));
    let fail = |e: &dyn std::fmt::Display| ResizeError::Resizer(e.to_string());
    let mut identity = vec![0.0f32; src * src];
    for j in 0..src {
        identity[j * src + j] = 1.0;
    }
    let mut out = vec![0.0f32; src * dst];
    let src_img = ImageRef::new(
        n(src)?,
        n(src)?,
        bytemuck::cast_slice(&identity),
        PixelType::F32,
    )
    .map_err(|e| fail(&e))?;
    let mut dst_img = Image::from_slice_u8(
        n(dst)?,
        n(src)?,
        bytemuck::cast_slice_mut(&mut out),
        PixelType::F32,
    )
    .map_err(|e| fail(&e))?;
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(filter))
        .use_alpha(false);
    Resizer::new()
        .resize(&src_img, &mut dst_img, &options)
        .map_err(|e| fail(&e))?;
    Ok(out)
}

/// Transposes a row-major `[rows, cols]` matrix.
pub fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_product_reproduces_the_resizer() {
        let (w, h, dw, dh) = (37, 23, 16, 11);
        let src: Vec<f32> = (0..w * h)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        for filter in [FilterType::Bilinear, FilterType::Lanczos3] {
            let mut want = vec![0.0f32; dw * dh];
            let s = ImageRef::new(
                w as u32,
                h as u32,
                bytemuck::cast_slice(&src),
                PixelType::F32,
            )
            .unwrap();
            let mut d = Image::from_slice_u8(
                dw as u32,
                dh as u32,
                bytemuck::cast_slice_mut(&mut want),
                PixelType::F32,
            )
            .unwrap();
            let o = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
            Resizer::new().resize(&s, &mut d, &o).unwrap();
            let rh = axis_matrix(w, dw, filter).unwrap(); // [w, dw]
            let rv = transpose(&axis_matrix(h, dh, filter).unwrap(), h, dh); // [dh, h]
            for y in 0..dh {
                for x in 0..dw {
                    let mut acc = 0.0f64;
                    for sy in 0..h {
                        let mut row = 0.0f64;
                        for sx in 0..w {
                            row += src[sy * w + sx] as f64 * rh[sx * dw + x] as f64;
                        }
                        acc += rv[y * h + sy] as f64 * row;
                    }
                    let got = want[y * dw + x];
                    assert!(
                        (acc as f32 - got).abs() < 1e-5,
                        "{filter:?} ({x},{y}): {acc} vs {got}"
                    );
                }
            }
        }
        // Upscaling too (the way back to the plate).
        let up = axis_matrix(4, 9, FilterType::Lanczos3).unwrap();
        for i in 0..9 {
            let sum: f32 = (0..4).map(|j| up[j * 9 + i]).sum();
            assert!((sum - 1.0).abs() < 1e-5, "column {i} sums to {sum}");
        }
    }
}
