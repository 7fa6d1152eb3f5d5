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

/// The filter for the way back from S x S to the plate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum UpscaleFilter {
    /// Lanczos3 (upstream's CLI uses OpenCV's Lanczos4; Lanczos3 is within a hair of it).
    #[default]
    Lanczos3,
    /// Bilinear (upstream's torch post-processing path).
    Bilinear,
}

impl UpscaleFilter {
    fn filter(self) -> FilterType {
        match self {
            UpscaleFilter::Lanczos3 => FilterType::Lanczos3,
            UpscaleFilter::Bilinear => FilterType::Bilinear,
        }
    }
}

pub(crate) fn as_bytes(data: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and every byte of it is initialised; u8 has alignment 1, and the
    // length covers exactly the same memory.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}

pub(crate) fn as_bytes_mut(data: &mut [f32]) -> &mut [u8] {
    // SAFETY: as above; additionally every byte pattern is a valid f32, so writes through the u8
    // view cannot create invalid values.
    unsafe {
        std::slice::from_raw_parts_mut(data.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(data))
    }
}

fn resize_raw(
    src: &[f32],
    (w, h): (usize, usize),
    dst: &mut [f32],
    (dw, dh): (usize, usize),
    pixel: PixelType,
    filter: FilterType,
) -> Result<(), String> {
    let ch = match pixel {
        PixelType::F32 => 1,
        PixelType::F32x4 => 4,
        _ => return Err("unsupported pixel type".into()),
    };
    if src.len() != w * h * ch || dst.len() != dw * dh * ch {
        return Err(format!(
            "resize buffers do not match {w}x{h} -> {dw}x{dh} x{ch}"
        ));
    }
    if w == 0 || h == 0 || dw == 0 || dh == 0 {
        return Err("resize of an empty image".into());
    }
    let to_u32 = |v: usize| u32::try_from(v).map_err(|_| format!("image dimension {v} too large"));
    let src_img =
        ImageRef::new(to_u32(w)?, to_u32(h)?, as_bytes(src), pixel).map_err(|e| e.to_string())?;
    let mut dst_img = Image::from_slice_u8(to_u32(dw)?, to_u32(dh)?, as_bytes_mut(dst), pixel)
        .map_err(|e| e.to_string())?;
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(filter))
        .use_alpha(false);
    Resizer::new()
        .resize(&src_img, &mut dst_img, &options)
        .map_err(|e| e.to_string())
}

/// Antialiased bilinear (torchvision `antialias=True`) of an interleaved 4-channel image.
pub fn resize_rgba_aa(
    src: &[f32],
    size: (usize, usize),
    dst_size: (usize, usize),
) -> Result<Vec<f32>, String> {
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
) -> Result<Vec<f32>, String> {
    let mut dst = vec![0.0f32; dst_size.0 * dst_size.1 * 4];
    resize_raw(
        src,
        size,
        &mut dst,
        dst_size,
        PixelType::F32x4,
        filter.filter(),
    )?;
    Ok(dst)
}

/// Bilinear of one plane: antialiased when shrinking, plain `F.interpolate` bilinear when growing.
pub fn resize_plane_bilinear(
    src: &[f32],
    size: (usize, usize),
    dst_size: (usize, usize),
) -> Result<Vec<f32>, String> {
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
) -> Result<(), String> {
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
