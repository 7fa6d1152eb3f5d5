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

/// Writes linear half-float RGBA with PXR24 compression.
pub fn write_exr(path: &Path, img: &Rgba) -> std::result::Result<(), String> {
    let (w, h) = (img.width, img.height);
    let channels = SpecificChannels::rgba(|Vec2(x, y): Vec2<usize>| {
        let i = ((h - 1 - y) * w + x) * 4;
        let d = &img.data[i..i + 4];
        (
            f16::from_f32(d[0]),
            f16::from_f32(d[1]),
            f16::from_f32(d[2]),
            f16::from_f32(d[3]),
        )
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
        .map_err(|e| format!("{}: {e}", path.display()))
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
