//! Plate I/O for `ofx-render` and the tests: EXR (linear) and PNG (sRGB) in, half-float PXR24 EXR
//! and an sRGB PNG preview out. Pixels in memory are RGBA f32 rows bottom-up (OFX order); files
//! are top-down, so rows are flipped at the edges.

use exr::prelude::*;
use std::path::Path;

/// An RGBA f32 image, rows bottom-up.
#[derive(Clone, Debug)]
pub struct Rgba {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

pub fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

pub fn linear_to_srgb(v: f32) -> f32 {
    let v = v.max(0.0);
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

fn is_png(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
}

/// Reads an EXR (linear, as stored) or a PNG (sRGB-decoded to linear unless `keep_srgb`).
pub fn read_image(path: &Path, keep_srgb: bool) -> std::result::Result<Rgba, String> {
    if is_png(path) {
        let img = image::open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .to_rgba32f();
        let (w, h) = (img.width() as usize, img.height() as usize);
        let src = img.into_raw();
        let mut data = vec![0f32; w * h * 4];
        for y in 0..h {
            let from = &src[(h - 1 - y) * w * 4..(h - y) * w * 4];
            let to = &mut data[y * w * 4..(y + 1) * w * 4];
            for (i, (d, s)) in to.iter_mut().zip(from).enumerate() {
                *d = if i % 4 == 3 || keep_srgb {
                    *s
                } else {
                    srgb_to_linear(*s)
                };
            }
        }
        return Ok(Rgba {
            width: w,
            height: h,
            data,
        });
    }
    let img = read_first_rgba_layer_from_file(
        path,
        |res, _| {
            (
                res.width(),
                res.height(),
                vec![0f32; res.width() * res.height() * 4],
            )
        },
        |(w, h, px): &mut (usize, usize, Vec<f32>), pos, (r, g, b, a): (f32, f32, f32, f32)| {
            let row = *h - 1 - pos.y();
            let i = (row * *w + pos.x()) * 4;
            px[i..i + 4].copy_from_slice(&[r, g, b, a]);
        },
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let (w, h, data) = img.layer_data.channel_data.pixels;
    Ok(Rgba {
        width: w,
        height: h,
        data,
    })
}

/// Writes linear half-float RGBA with PXR24 compression. Values a half float cannot hold are clamped
/// ([`half_safe`]); returns how many were (the caller reports them). An empty image is an error.
pub fn write_exr(path: &Path, img: &Rgba) -> std::result::Result<usize, String> {
    let (w, h) = (img.width, img.height);
    if w == 0 || h == 0 {
        return Err(format!("{}: the image is {w}x{h}", path.display()));
    }
    let changed = img.data.iter().filter(|&&v| half_safe(v) != v).count();
    let channels = SpecificChannels::rgba(|Vec2(x, y): Vec2<usize>| {
        let i = ((h - 1 - y) * w + x) * 4;
        let d = &img.data[i..i + 4];
        let q = |v: f32| f16::from_f32(half_safe(v));
        (q(d[0]), q(d[1]), q(d[2]), q(d[3]))
    });
    let encoding = Encoding {
        compression: Compression::PXR24,
        blocks: Blocks::ScanLines,
        line_order: LineOrder::Increasing,
    };
    let layer = Layer::new((w, h), LayerAttributes::named("rgba"), encoding, channels);
    Image::from_layer(layer)
        .write()
        .to_file(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(changed)
}

/// The largest finite half float.
pub const HALF_MAX: f32 = 65504.0;

/// `v` as a half float can hold it: clamped to +-[`HALF_MAX`] (an f32 beyond it would round to
/// infinity), NaN as 0. A value that changes here is counted by [`write_exr`].
pub fn half_safe(v: f32) -> f32 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(-HALF_MAX, HALF_MAX)
    }
}

/// Writes an 8-bit sRGB PNG preview of the RGB channels (a premultiplied image reads as "over black").
pub fn write_png_preview(path: &Path, img: &Rgba) -> std::result::Result<(), String> {
    let (w, h) = (img.width, img.height);
    let mut buf = image::RgbImage::new(w as u32, h as u32);
    for y in 0..h {
        for x in 0..w {
            let i = ((h - 1 - y) * w + x) * 4;
            let q = |v: f32| (linear_to_srgb(v).clamp(0.0, 1.0) * 255.0).round() as u8;
            buf.put_pixel(
                x as u32,
                y as u32,
                image::Rgb([q(img.data[i]), q(img.data[i + 1]), q(img.data[i + 2])]),
            );
        }
    }
    buf.save(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_a_half_float_cannot_hold_are_clamped_and_counted() {
        let dir = std::env::temp_dir().join(format!("ck-imageio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.exr");
        let img = Rgba {
            width: 2,
            height: 1,
            data: vec![1e10, -3e38, f32::NAN, 0.5, 1.0, 65504.0, 2.0, 1.0],
        };
        assert_eq!(write_exr(&path, &img).unwrap(), 3);
        let back = read_image(&path, false).unwrap();
        assert_eq!(
            back.data,
            vec![65504.0, -65504.0, 0.0, 0.5, 1.0, 65504.0, 2.0, 1.0]
        );
        let empty = Rgba {
            width: 0,
            height: 0,
            data: Vec::new(),
        };
        assert!(write_exr(&path, &empty).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
