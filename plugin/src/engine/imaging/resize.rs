//! Resampling through `fast_image_resize` (convolution resizing, Pillow/torchvision-style).
//!
//! * `Bilinear` convolution scales the triangle's support by the downscale factor, with half-pixel
//!   centres: that is torchvision's `antialias=True` bilinear (same algorithm, from Pillow).
//! * Upscaling with `Bilinear` leaves the support at 1, which is exactly `F.interpolate(bilinear,
//!   align_corners=False)` including its edge clamping (the out-of-range tap is dropped and the
//!   weights renormalised, which equals clamping the source coordinate).

pub mod separable;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::engine::contract::UpscaleFilter;

/// `fast_image_resize`'s filter for an [`UpscaleFilter`].
pub fn filter_type(f: UpscaleFilter) -> FilterType {
    match f {
        UpscaleFilter::Lanczos3 => FilterType::Lanczos3,
        UpscaleFilter::Bilinear => FilterType::Bilinear,
    }
}

/// Why a resize could not run: buffers that do not match their sizes (a caller's bug) or sizes
/// `fast_image_resize` does not take.
#[derive(Debug, thiserror::Error)]
pub enum ResizeError {
    #[error("resize buffers do not match {0}x{1} -> {2}x{3} x{4}")]
    Buffers(usize, usize, usize, usize, usize),
    #[error("resize of an empty image")]
    Empty,
    #[error("image dimension {0} too large")]
    TooLarge(usize),
    #[error("{0}")]
    Resizer(String),
}

fn resize_raw(
    src: &[f32],
    (w, h): (usize, usize),
    dst: &mut [f32],
    (dw, dh): (usize, usize),
    pixel: PixelType,
    filter: FilterType,
) -> Result<(), ResizeError> {
    let ch = if pixel == PixelType::F32x4 { 4 } else { 1 };
    if src.len() != w * h * ch || dst.len() != dw * dh * ch {
        return Err(ResizeError::Buffers(w, h, dw, dh, ch));
    }
    if w == 0 || h == 0 || dw == 0 || dh == 0 {
        return Err(ResizeError::Empty);
    }
    let to_u32 = |v: usize| u32::try_from(v).map_err(|_| ResizeError::TooLarge(v));
    let fail = |e: &dyn std::fmt::Display| ResizeError::Resizer(e.to_string());
    let src_img = ImageRef::new(to_u32(w)?, to_u32(h)?, bytemuck::cast_slice(src), pixel)
        .map_err(|e| fail(&e))?;
    let mut dst_img = Image::from_slice_u8(
        to_u32(dw)?,
        to_u32(dh)?,
        bytemuck::cast_slice_mut(dst),
        pixel,
    )
    .map_err(|e| fail(&e))?;
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(filter))
        .use_alpha(false);
    Resizer::new()
        .resize(&src_img, &mut dst_img, &options)
        .map_err(|e| fail(&e))
}

/// Antialiased bilinear (torchvision `antialias=True`) of an interleaved 4-channel image.
pub fn resize_rgba_aa(
    src: &[f32],
    size: (usize, usize),
    dst_size: (usize, usize),
) -> Result<Vec<f32>, ResizeError> {
    let mut dst = vec![0.0f32; dst_size.0 * dst_size.1 * 4];
    resize_raw(
        src,
        size,
        &mut dst,
        dst_size,
        PixelType::F32x4,
        FilterType::Bilinear,
    )?;
    Ok(dst)
}

/// Resizes an interleaved 4-channel image with `filter` (the way back to the plate).
pub fn resize_rgba(
    src: &[f32],
    size: (usize, usize),
    dst_size: (usize, usize),
    filter: UpscaleFilter,
) -> Result<Vec<f32>, ResizeError> {
    let mut dst = vec![0.0f32; dst_size.0 * dst_size.1 * 4];
    resize_raw(
        src,
        size,
        &mut dst,
        dst_size,
        PixelType::F32x4,
        filter_type(filter),
    )?;
    Ok(dst)
}

/// Bilinear of one plane: antialiased when shrinking, plain `F.interpolate` bilinear when growing.
pub fn resize_plane_bilinear(
    src: &[f32],
    size: (usize, usize),
    dst_size: (usize, usize),
) -> Result<Vec<f32>, ResizeError> {
    let mut dst = vec![0.0f32; dst_size.0 * dst_size.1];
    resize_raw(
        src,
        size,
        &mut dst,
        dst_size,
        PixelType::F32,
        FilterType::Bilinear,
    )?;
    Ok(dst)
}

/// Same as [`resize_plane_bilinear`] into a caller's buffer.
pub fn resize_plane_bilinear_into(
    src: &[f32],
    size: (usize, usize),
    dst: &mut [f32],
    dst_size: (usize, usize),
) -> Result<(), ResizeError> {
    resize_raw(
        src,
        size,
        dst,
        dst_size,
        PixelType::F32,
        FilterType::Bilinear,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: PyTorch's `upsample_bilinear2d` (align_corners=False) written out.
    fn torch_bilinear_1d(src: &[f32], out: usize) -> Vec<f32> {
        let n = src.len();
        let scale = n as f32 / out as f32;
        (0..out)
            .map(|i| {
                let s = ((i as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (s.floor() as usize).min(n - 1);
                let i1 = (i0 + 1).min(n - 1);
                let l = s - i0 as f32;
                src[i0] * (1.0 - l) + src[i1] * l
            })
            .collect()
    }

    #[test]
    fn upsample_is_torch_bilinear() {
        let w = 7;
        let src: Vec<f32> = (0..w).map(|i| ((i * 37) % 11) as f32 - 3.0).collect();
        let out = resize_plane_bilinear(&src, (w, 1), (w * 4, 1)).unwrap();
        let want = torch_bilinear_1d(&src, w * 4);
        for (a, b) in out.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{out:?} vs {want:?}");
        }
    }

    #[test]
    fn downscale_by_two_averages_pairs_with_triangle() {
        // torchvision AA bilinear, factor 2: support 2, weights on 4 taps (1/8, 3/8, 3/8, 1/8).
        let src: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let out = resize_plane_bilinear(&src, (8, 1), (4, 1)).unwrap();
        // interior sample 1: centre 3.0 -> taps 1..4 at distances 1.5,0.5,0.5,1.5 (/2)
        let want1 = (1.0 * 0.25 + 2.0 * 0.75 + 3.0 * 0.75 + 4.0 * 0.25) / 2.0;
        assert!((out[1] - want1).abs() < 1e-5, "{out:?}");
        // edge sample 0: taps 0..2, renormalised
        let want0 = (0.0 * 0.75 + 1.0 * 0.75 + 2.0 * 0.25) / 1.75;
        assert!((out[0] - want0).abs() < 1e-5, "{out:?}");
    }
}
