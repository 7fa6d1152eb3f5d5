//! Frames of a sequence on disk handed to a plugin at other times than the render's (temporal
//! clip access): a [`FrameLoader`] that reads the file of the frame asked for, at the render
//! scale, as the float RGBA image the host gives for the render's own frame.

use std::path::PathBuf;
use std::sync::Arc;

use crate::imageio::read_image;
use crate::synthetic::downscale_rgba;
use crate::{image_from_rgba, BitDepth, Components, FrameLoader, HostImage};

/// A loader of the frames `path_of` names (None = no such frame); integer times only. `keep_srgb`
/// as [`read_image`]; the images are scaled down by `k` (render scale 1/k).
pub fn sequence_loader(
    path_of: impl Fn(i64) -> Option<PathBuf> + Send + Sync + 'static,
    keep_srgb: bool,
    k: usize,
) -> FrameLoader {
    Arc::new(move |time: f64| {
        if time.fract() != 0.0 || !time.is_finite() {
            return None;
        }
        let path = path_of(time as i64)?;
        let img = read_image(&path, keep_srgb).ok()?;
        host_image(&img.data, img.width, img.height, k).map(Arc::new)
    })
}

/// An RGBA float host image of `rgba` scaled down by `k`, with its render scale set.
pub fn host_image(rgba: &[f32], w: usize, h: usize, k: usize) -> Option<HostImage> {
    let k = k.max(1);
    let (data, w, h) = if k == 1 {
        (rgba.to_vec(), w, h)
    } else {
        downscale_rgba(rgba, w, h, k)
    };
    if w == 0 || h == 0 {
        return None;
    }
    let mut img =
        image_from_rgba(w, h, &data, BitDepth::Float, Components::Rgba, false).ok()?;
    let s = 1.0 / k as f64;
    img.render_scale = [s, s];
    Some(img)
}
