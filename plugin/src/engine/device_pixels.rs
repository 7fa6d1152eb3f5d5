//! Device image rows on the CPU (the staged path of `device_frame.rs`): packed rows as they come
//! down from a [`DeviceImage`] (row 0 at the bottom, any depth and channel count) into the engine's
//! top-down f32 images, and the engine's RGBA back into bottom-up float rows for the way up.
//! The same conversions as the OFX layer's CPU images (`ofx/pixels.rs`), plus half floats.

use rayon::prelude::*;

use super::contract::{DeviceImage, MatteImage, RgbaImage, SampleDepth};

/// The samples of one device image, packed (`width * channels` per row), rows bottom-up.
#[derive(Clone, Debug, PartialEq)]
pub enum Samples {
    Byte(Vec<u8>),
    Short(Vec<u16>),
    Half(Vec<u16>),
    Float(Vec<f32>),
}

/// A host buffer that could not be allocated (sizes come from the host: never abort on them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{bytes} bytes of host memory for staging could not be allocated")]
pub struct NoHostMemory {
    pub bytes: usize,
}

fn zeroed<T: Clone + Default>(n: usize) -> Result<Vec<T>, NoHostMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| NoHostMemory {
        bytes: n.saturating_mul(std::mem::size_of::<T>()),
    })?;
    v.resize(n, T::default());
    Ok(v)
}

impl Samples {
    /// Zeroed room for `img`'s pixels, packed.
    pub fn for_image(img: &DeviceImage) -> Result<Samples, NoHostMemory> {
        let n = img
            .width
            .saturating_mul(img.height)
            .saturating_mul(img.channels);
        Ok(match img.depth {
            SampleDepth::Byte => Samples::Byte(zeroed(n)?),
            SampleDepth::Short => Samples::Short(zeroed(n)?),
            SampleDepth::Half => Samples::Half(zeroed(n)?),
            SampleDepth::Float => Samples::Float(zeroed(n)?),
        })
    }

    /// The buffer as bytes (what a device-to-host copy fills).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Samples::Byte(v) => v,
            Samples::Short(v) | Samples::Half(v) => bytemuck::cast_slice_mut(v),
            Samples::Float(v) => bytemuck::cast_slice_mut(v),
        }
    }

    fn len(&self) -> usize {
        match self {
            Samples::Byte(v) => v.len(),
            Samples::Short(v) | Samples::Half(v) => v.len(),
            Samples::Float(v) => v.len(),
        }
    }

    /// Sample `i` as f32 (integers scaled to 0..1).
    fn get(&self, i: usize) -> f32 {
        match self {
            Samples::Byte(v) => v[i] as f32 / 255.0,
            Samples::Short(v) => v[i] as f32 / 65535.0,
            Samples::Half(v) => half::f16::from_bits(v[i]).to_f32(),
            Samples::Float(v) => v[i],
        }
    }
}

/// The samples as top-down RGBA: RGB gets alpha 1, alpha-only gives black with that alpha (as the
/// OFX layer reads CPU images). `samples` holds `width * height * channels` values.
pub fn rgba_from_samples(s: &Samples, width: usize, height: usize, channels: usize) -> RgbaImage {
    let mut img = RgbaImage::new(width, height);
    if width == 0 || height == 0 || s.len() < width * height * channels {
        return img;
    }
    img.data
        .par_chunks_mut(width * 4)
        .enumerate()
        .for_each(|(r, out)| {
            let row = (height - 1 - r) * width * channels;
            for (x, px) in out.chunks_exact_mut(4).enumerate() {
                let at = row + x * channels;
                match channels {
                    4 => (0..4).for_each(|c| px[c] = s.get(at + c)),
                    3 => {
                        (0..3).for_each(|c| px[c] = s.get(at + c));
                        px[3] = 1.0;
                    }
                    _ => px[3] = s.get(at),
                }
            }
        });
    img
}

/// The matte channel as a top-down matte: the alpha of RGBA, the red of RGB, the only channel of
/// alpha (as the OFX layer reads CPU mattes).
pub fn matte_from_samples(s: &Samples, width: usize, height: usize, channels: usize) -> MatteImage {
    let mut img = MatteImage::new(width, height);
    if width == 0 || height == 0 || s.len() < width * height * channels {
        return img;
    }
    let channel = if channels == 4 { 3 } else { 0 };
    img.data
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(r, out)| {
            let row = (height - 1 - r) * width * channels;
            for (x, v) in out.iter_mut().enumerate() {
                *v = s.get(row + x * channels + channel);
            }
        });
    img
}

/// The engine's top-down RGBA as packed bottom-up float rows (what goes up to the output).
pub fn rows_from_rgba(img: &RgbaImage) -> Result<Vec<f32>, NoHostMemory> {
    let row = img.width * 4;
    let mut out = zeroed::<f32>(img.data.len())?;
    if row == 0 {
        return Ok(out);
    }
    out.par_chunks_mut(row)
        .zip(img.data.par_chunks(row).rev())
        .for_each(|(o, i)| o.copy_from_slice(i));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: usize, height: usize, channels: usize, depth: SampleDepth) -> DeviceImage {
        DeviceImage {
            ptr: 0,
            row_bytes: 0,
            width,
            height,
            channels,
            depth,
        }
    }

    #[test]
    fn rows_flip_to_top_down_and_back() {
        // 2x3 RGBA float; value = device row * 10 + x (device row 0 is the bottom of the picture).
        let (w, h) = (2, 3);
        let mut v = Vec::new();
        for y in 0..h {
            for x in 0..w {
                v.extend([(y * 10 + x) as f32, 0.5, 0.25, 1.0]);
            }
        }
        let img = rgba_from_samples(&Samples::Float(v.clone()), w, h, 4);
        // Engine row 0 is the top: device row 2.
        assert_eq!(img.data[0], 20.0);
        assert_eq!(img.data[4], 21.0);
        assert_eq!(img.data[(2 * w) * 4], 0.0);
        assert_eq!(
            rows_from_rgba(&img).unwrap(),
            v,
            "the way back is the inverse"
        );
    }

    #[test]
    fn depths_and_channels_convert_like_cpu_images() {
        let bytes = Samples::Byte(vec![0, 51, 255]);
        let img = rgba_from_samples(&bytes, 1, 1, 3);
        assert_eq!(img.data[0], 0.0);
        assert!((img.data[1] - 0.2).abs() < 1e-6);
        assert_eq!(&img.data[2..4], &[1.0, 1.0], "RGB gets opaque alpha");
        let shorts = Samples::Short(vec![65535]);
        assert_eq!(
            rgba_from_samples(&shorts, 1, 1, 1).data,
            vec![0.0, 0.0, 0.0, 1.0]
        );
        let halves = Samples::Half(vec![
            half::f16::from_f32(0.5).to_bits(),
            half::f16::from_f32(-2.0).to_bits(),
            half::f16::from_f32(3.0).to_bits(),
            half::f16::from_f32(0.25).to_bits(),
        ]);
        assert_eq!(
            rgba_from_samples(&halves, 1, 1, 4).data,
            vec![0.5, -2.0, 3.0, 0.25]
        );
    }

    #[test]
    fn mattes_take_alpha_red_or_the_only_channel() {
        // 1x2, bottom row first.
        let rgba = Samples::Float(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
        assert_eq!(matte_from_samples(&rgba, 1, 2, 4).data, vec![0.8, 0.4]);
        let rgb = Samples::Float(vec![0.1, 0.2, 0.3, 0.5, 0.6, 0.7]);
        assert_eq!(matte_from_samples(&rgb, 1, 2, 3).data, vec![0.5, 0.1]);
        let a = Samples::Byte(vec![0, 255]);
        assert_eq!(matte_from_samples(&a, 1, 2, 1).data, vec![1.0, 0.0]);
    }

    #[test]
    fn staging_buffers_match_the_image_and_refuse_absurd_sizes() {
        let mut s = Samples::for_image(&image(3, 2, 3, SampleDepth::Half)).unwrap();
        assert_eq!(s.bytes_mut().len(), 3 * 2 * 3 * 2);
        let e = Samples::for_image(&image(usize::MAX / 8, 4, 4, SampleDepth::Float)).unwrap_err();
        assert!(e.bytes > 0);
    }
}
