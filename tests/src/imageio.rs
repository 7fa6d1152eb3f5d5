//! Plate I/O for `ofx-render` and the tests: EXR (linear) and PNG (sRGB) in, half-float PXR24 EXR
//! (RGBA, optionally with named single-channel layers) and sRGB PNGs out. Pixels in memory are RGBA
//! f32 rows bottom-up (OFX order); files are top-down, so rows are flipped at the edges.
//!
//! Every file is written to a hidden temporary file in the destination folder, synced and renamed
//! into place, so a killed writer never leaves a half-written frame under the final name.
//!
//! Every file is read through [`open_regular`] (regular files only, never a blocking open), and
//! its size comes from its header, checked against the plugin's limits and the file's length,
//! before any pixel buffer is allocated.

use crate::fileguard::{check_dims, open_regular};
use crate::tempfiles;
use exr::prelude::*;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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
    image_size(path)?;
    if is_png(path) {
        let img = image::ImageReader::with_format(
            BufReader::new(open_regular(path)?),
            image::ImageFormat::Png,
        )
        .decode()
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
    let img = read()
        .no_deep_data()
        .largest_resolution_level()
        .rgba_channels(
            |res: Vec2<usize>, _: &RgbaChannels| {
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
        .first_valid_layer()
        .all_attributes()
        .from_buffered(BufReader::new(open_regular(path)?))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (w, h, data) = img.layer_data.channel_data.pixels;
    Ok(Rgba {
        width: w,
        height: h,
        data,
    })
}

/// Values a half float cannot hold, counted while writing (they are clamped, never written as
/// infinities or NaN).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HalfClamp {
    /// Finite values beyond +-65504 (and infinities), written as +-65504.
    pub clamped: usize,
    /// NaN, written as 0.
    pub nan: usize,
}

impl HalfClamp {
    fn half(&mut self, v: f32) -> f16 {
        if v.is_nan() {
            self.nan += 1;
            f16::ZERO
        } else if v.abs() > f16::MAX.to_f32() {
            self.clamped += 1;
            if v > 0.0 {
                f16::MAX
            } else {
                f16::MIN
            }
        } else {
            f16::from_f32(v)
        }
    }

    pub fn is_clean(&self) -> bool {
        self.clamped == 0 && self.nan == 0
    }

    /// A one-line warning, or None when every value fitted.
    pub fn warning(&self) -> Option<String> {
        if self.is_clean() {
            return None;
        }
        let mut parts = Vec::new();
        if self.clamped > 0 {
            parts.push(format!(
                "{} values beyond the half-float range clamped to +-65504",
                self.clamped
            ));
        }
        if self.nan > 0 {
            parts.push(format!("{} NaN values written as 0", self.nan));
        }
        Some(parts.join(", "))
    }
}

/// Longest file name (bytes) Linux file systems take.
const NAME_MAX: usize = 255;

/// The hidden temporary file a write goes to before it is renamed to `path`: `.NAME.partial`, or,
/// where that would pass NAME_MAX, `.ck-HASH.partial` (a stable hash of the name), so every name
/// the file system takes can be written.
pub fn partial_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default();
    let mut tmp = OsString::from(".");
    if name.len() + ".partial".len() < NAME_MAX {
        tmp.push(name);
    } else {
        // FNV-1a: stable across runs and builds, so a later run finds an earlier run's leftover.
        let hash = name
            .as_bytes()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            });
        tmp.push(format!("ck-{hash:016x}"));
    }
    tmp.push(".partial");
    path.with_file_name(tmp)
}

/// Writes through `write` into [`partial_path`], syncs it and renames it to `path`.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    let tmp = partial_path(path);
    let result = (|| {
        let file = tempfiles::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mut w = BufWriter::new(&file);
        write(&mut w)?;
        w.flush().map_err(|e| format!("{}: {e}", tmp.display()))?;
        drop(w);
        file.sync_all()
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    tempfiles::forget(&tmp);
    result
}

/// Writes linear half-float RGBA with PXR24 compression.
pub fn write_exr(path: &Path, img: &Rgba) -> std::result::Result<HalfClamp, String> {
    write_exr_layers(path, img, &[])
}

/// Writes linear half-float RGBA (channels R, G, B, A) plus one single-channel layer per entry of
/// `layers` (channel `<name>.A`, the layer convention Nuke and Natron read as `<name>.alpha`), all in
/// one PXR24 part. Layer data is `width * height` values, rows bottom-up like `img`.
pub fn write_exr_layers(
    path: &Path,
    img: &Rgba,
    layers: &[(&str, &[f32])],
) -> std::result::Result<HalfClamp, String> {
    let (w, h) = (img.width, img.height);
    if w == 0 || h == 0 {
        return Err(format!("{}: empty image ({w}x{h})", path.display()));
    }
    if img.data.len() != w * h * 4 {
        return Err(format!(
            "{}: RGBA data does not match {w}x{h}",
            path.display()
        ));
    }
    let mut clamp = HalfClamp::default();
    let mut channels = Vec::with_capacity(4 + layers.len());
    for (c, name) in ["R", "G", "B", "A"].into_iter().enumerate() {
        let mut v = Vec::with_capacity(w * h);
        for y in 0..h {
            let row = &img.data[(h - 1 - y) * w * 4..(h - y) * w * 4];
            v.extend(row.chunks_exact(4).map(|p| clamp.half(p[c])));
        }
        channels.push(AnyChannel::new(name, FlatSamples::F16(v)));
    }
    for (name, data) in layers {
        if data.len() != w * h {
            return Err(format!(
                "{}: layer {name} does not match {w}x{h}",
                path.display()
            ));
        }
        let mut v = Vec::with_capacity(w * h);
        for y in 0..h {
            v.extend(
                data[(h - 1 - y) * w..(h - y) * w]
                    .iter()
                    .map(|x| clamp.half(*x)),
            );
        }
        channels.push(AnyChannel::new(
            format!("{name}.A").as_str(),
            FlatSamples::F16(v),
        ));
    }
    let encoding = Encoding {
        compression: Compression::PXR24,
        blocks: Blocks::ScanLines,
        line_order: LineOrder::Increasing,
    };
    let layer = Layer::new(
        (w, h),
        LayerAttributes::named("rgba"),
        encoding,
        AnyChannels::sort(SmallVec::from_vec(channels)),
    );
    let image = Image::from_layer(layer);
    write_atomic(path, |out| {
        image
            .write()
            .to_buffered(out)
            .map_err(|e| format!("{}: {e}", path.display()))
    })?;
    Ok(clamp)
}

/// Channels by full name (`R`, `matte.A`, ...), each as f32 rows bottom-up.
pub type Channels = Vec<(String, Vec<f32>)>;

/// Every channel of an EXR's first part, with its width and height.
pub fn read_exr_channels(path: &Path) -> std::result::Result<(usize, usize, Channels), String> {
    image_size(path)?;
    let image = read()
        .no_deep_data()
        .largest_resolution_level()
        .all_channels()
        .first_valid_layer()
        .all_attributes()
        .from_buffered(BufReader::new(open_regular(path)?))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let layer = image.layer_data;
    let (w, h) = (layer.size.width(), layer.size.height());
    let channels = layer
        .channel_data
        .list
        .iter()
        .map(|c| {
            let top_down: Vec<f32> = c.sample_data.values_as_f32().collect();
            let mut v = Vec::with_capacity(w * h);
            for y in (0..h).rev() {
                v.extend_from_slice(&top_down[y * w..(y + 1) * w]);
            }
            (c.name.to_string(), v)
        })
        .collect();
    Ok((w, h, channels))
}

/// Width and height from an EXR header (data window) or a PNG header, without decoding pixels,
/// within the plugin's size limits. For an EXR the offset table is read too: the table must fit in
/// the file and its last chunk must end inside it, so a truncated file is found here, not when the
/// frame renders.
pub fn image_size(path: &Path) -> std::result::Result<(usize, usize), String> {
    let file = open_regular(path)?;
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    if is_png(path) {
        let (w, h) = image::ImageReader::with_format(BufReader::new(file), image::ImageFormat::Png)
            .into_dimensions()
            .map_err(|e| err(&e))?;
        check_dims(path, w as usize, h as usize)?;
        return Ok((w as usize, h as usize));
    }
    let len = file.metadata().map_err(|e| err(&e))?.len();
    let mut tracked = exr::io::Tracking::new(BufReader::new(file));
    let meta = exr::meta::MetaData::read_from_buffered(&mut tracked, false).map_err(|e| err(&e))?;
    let header = meta
        .headers
        .first()
        .ok_or_else(|| format!("{}: no image in the file", path.display()))?;
    let (w, h) = (header.layer_size.width(), header.layer_size.height());
    check_dims(path, w, h)?;
    let table_start = tracked.byte_position() as u64;
    let chunks: usize = meta.headers.iter().map(|h| h.chunk_count).sum();
    // Each chunk has an 8-byte table entry: a table that cannot fit is a lying header.
    if (chunks as u64).saturating_mul(8) > len.saturating_sub(table_start) {
        return Err(format!(
            "{}: truncated ({len} bytes cannot hold the offset table of {chunks} chunks)",
            path.display()
        ));
    }
    exr::meta::MetaData::validate(&meta.headers, false).map_err(|e| err(&e))?;
    if meta.headers.iter().any(|h| h.deep) {
        return Err(format!("{}: deep data is not read", path.display()));
    }
    let mut peek = exr::io::PeekRead::new(&mut tracked);
    let tables =
        exr::meta::MetaData::read_offset_tables(&mut peek, &meta.headers).map_err(|e| err(&e))?;
    let last = tables.iter().flatten().copied().max().unwrap_or(0);
    if last >= len {
        return Err(format!(
            "{}: truncated ({len} bytes, a chunk starts at {last})",
            path.display()
        ));
    }
    // The chunk that starts last must end inside the file: [part], coordinates, byte count, data.
    let multipart = meta.headers.len() > 1;
    let coords = match header.blocks {
        exr::meta::BlockDescription::ScanLines => 4,
        exr::meta::BlockDescription::Tiles(_) => 16,
    };
    let at = last + if multipart { 4 } else { 0 } + coords;
    let mut f = open_regular(path)?;
    let mut size = [0u8; 4];
    f.seek(SeekFrom::Start(at))
        .and_then(|_| f.read_exact(&mut size))
        .map_err(|_| format!("{}: truncated (its last chunk is cut off)", path.display()))?;
    let size = u64::from(u32::from_le_bytes(size));
    if at + 4 + size > len {
        return Err(format!(
            "{}: truncated ({len} bytes, its last chunk ends at byte {})",
            path.display(),
            at + 4 + size
        ));
    }
    Ok((w, h))
}

/// An 8-bit sRGB PNG of linear RGB rows (bottom-up) with `channels` per pixel, top-down.
pub fn srgb8(data: &[f32], w: usize, h: usize, channels: usize) -> image::RgbImage {
    let mut buf = image::RgbImage::new(w as u32, h as u32);
    let q = |v: f32| (linear_to_srgb(v).clamp(0.0, 1.0) * 255.0).round() as u8;
    for y in 0..h {
        for x in 0..w {
            let i = ((h - 1 - y) * w + x) * channels;
            let p = &data[i..i + channels];
            let (r, g, b) = if channels >= 3 {
                (p[0], p[1], p[2])
            } else {
                (p[0], p[0], p[0])
            };
            buf.put_pixel(x as u32, y as u32, image::Rgb([q(r), q(g), q(b)]));
        }
    }
    buf
}

/// Writes an RGB PNG atomically.
pub fn write_png(path: &Path, img: &image::RgbImage) -> std::result::Result<(), String> {
    write_atomic(path, |out| {
        img.write_to(out, image::ImageFormat::Png)
            .map_err(|e| format!("{}: {e}", path.display()))
    })
}

/// Writes a 16-bit RGBA PNG of a linear image: sRGB-encoded colour, linear alpha, values as the
/// image holds them (a premultiplied key stays premultiplied). The `-o out.png` output.
pub fn write_png_rgba16(path: &Path, img: &Rgba) -> std::result::Result<(), String> {
    let (w, h) = (img.width, img.height);
    if w == 0 || h == 0 || img.data.len() != w * h * 4 {
        return Err(format!(
            "{}: empty or mis-sized image ({w}x{h})",
            path.display()
        ));
    }
    let mut buf = image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::new(w as u32, h as u32);
    let q = |v: f32| (v.clamp(0.0, 1.0) * 65535.0).round() as u16;
    for (y, row) in buf.rows_mut().enumerate() {
        let src = &img.data[(h - 1 - y) * w * 4..(h - y) * w * 4];
        for (px, p) in row.zip(src.chunks_exact(4)) {
            let a = if p[3].is_nan() { 0.0 } else { p[3] };
            px.0 = [
                q(linear_to_srgb(p[0])),
                q(linear_to_srgb(p[1])),
                q(linear_to_srgb(p[2])),
                q(a),
            ];
        }
    }
    write_atomic(path, |out| {
        buf.write_to(out, image::ImageFormat::Png)
            .map_err(|e| format!("{}: {e}", path.display()))
    })
}

/// Writes an 8-bit sRGB PNG preview of the RGB channels (a premultiplied image reads as "over black").
pub fn write_png_preview(path: &Path, img: &Rgba) -> std::result::Result<(), String> {
    write_png(path, &srgb8(&img.data, img.width, img.height, 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_clamp_counts_and_replaces() {
        let mut c = HalfClamp::default();
        assert_eq!(c.half(1.5).to_f32(), 1.5);
        assert_eq!(c.half(65504.0).to_f32(), 65504.0);
        assert_eq!(c.half(1e6).to_f32(), 65504.0);
        assert_eq!(c.half(f32::NEG_INFINITY).to_f32(), -65504.0);
        assert_eq!(c.half(f32::NAN).to_f32(), 0.0);
        assert_eq!(c, HalfClamp { clamped: 2, nan: 1 });
        assert!(c.warning().unwrap().contains("2 values"));
    }

    #[test]
    fn layers_round_trip_and_no_partial_file_is_left() {
        let dir = std::env::temp_dir().join(format!("imageio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (w, h) = (5, 3);
        let data: Vec<f32> = (0..w * h * 4).map(|i| i as f32 / 64.0).collect();
        let matte: Vec<f32> = (0..w * h).map(|i| i as f32 / 16.0).collect();
        let img = Rgba {
            width: w,
            height: h,
            data,
        };
        let path = dir.join("l.exr");
        let c = write_exr_layers(&path, &img, &[("matte", &matte)]).unwrap();
        assert!(c.is_clean());
        assert!(!partial_path(&path).exists());
        let (rw, rh, ch) = read_exr_channels(&path).unwrap();
        assert_eq!((rw, rh), (w, h));
        let get = |n: &str| &ch.iter().find(|(name, _)| name == n).unwrap().1;
        assert_eq!(get("matte.A"), &matte);
        let g: Vec<f32> = img.data.chunks(4).map(|p| p[1]).collect();
        assert_eq!(get("G"), &g);
        assert_eq!(image_size(&path).unwrap(), (w, h));
        let back = read_image(&path, false).unwrap();
        assert_eq!(back.data, img.data);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod half_float {
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
        let c = write_exr(&path, &img).unwrap();
        assert_eq!((c.clamped, c.nan), (2, 1));
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
