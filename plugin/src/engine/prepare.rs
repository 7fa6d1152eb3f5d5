//! Stage 1: the network input `[1,4,S,S]` (ImageNet-normalised sRGB + raw hint), as upstream builds it.

use rayon::prelude::*;

use super::colour::{linear_to_srgb, IMAGENET_MEAN, IMAGENET_STD};
use super::resize::{resize_plane_bilinear, resize_rgba_aa};
use super::types::{InputColour, RgbaImage};

/// Resizes plate and hint to S x S (antialiased bilinear; linear plates resized in linear light,
/// then encoded to sRGB), normalises RGB and packs planar R, G, B, hint.
pub fn prepare_input(
    src: &RgbaImage,
    hint: &[f32],
    colour: InputColour,
    s: usize,
) -> Result<Vec<f32>, String> {
    let (w, h) = (src.width, src.height);
    if hint.len() != w * h {
        return Err(format!("hint has {} pixels, plate {}x{}", hint.len(), w, h));
    }
    let rgba = resize_rgba_aa(&src.data, (w, h), (s, s))?;
    let hint_s = resize_plane_bilinear(hint, (w, h), (s, s))?;
    let plane = s * s;
    let mut tensor = vec![0.0f32; 4 * plane];
    let (rgb, hint_plane) = tensor.split_at_mut(3 * plane);
    let (r_plane, gb) = rgb.split_at_mut(plane);
    let (g_plane, b_plane) = gb.split_at_mut(plane);
    hint_plane.copy_from_slice(&hint_s);
    r_plane
        .par_chunks_mut(s)
        .zip(g_plane.par_chunks_mut(s))
        .zip(b_plane.par_chunks_mut(s))
        .zip(rgba.par_chunks(s * 4))
        .for_each(|(((r, g), b), row)| {
            for (x, px) in row.chunks_exact(4).enumerate() {
                let mut c = [px[0], px[1], px[2]];
                if colour == InputColour::Linear {
                    c = c.map(linear_to_srgb);
                }
                r[x] = (c[0] - IMAGENET_MEAN[0]) / IMAGENET_STD[0];
                g[x] = (c[1] - IMAGENET_MEAN[1]) / IMAGENET_STD[1];
                b[x] = (c[2] - IMAGENET_MEAN[2]) / IMAGENET_STD[2];
            }
        });
    Ok(tensor)
}
