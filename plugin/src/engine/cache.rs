//! A small, memory-bounded cache of the last frames: a repeated request (same pixels, params and
//! runtime) returns the stored output without running anything.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

use parking_lot::Mutex;
use rayon::prelude::*;

use super::contract::{FrameInput, FrameOutput, KeyParams, RenderOptions, RuntimeConfig};

/// A fast 64-bit content hash of f32 data: four independent multiply-xor lanes per 64 KiB chunk,
/// chunks hashed in parallel and folded in order. Not cryptographic; collisions between two
/// different frames of the same size are practically impossible for a two-entry cache.
pub fn hash_f32(data: &[f32]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let chunk_hash = |chunk: &[f32]| -> u64 {
        let mut lanes = [
            0x243F_6A88_85A3_08D3u64,
            0x1319_8A2E_0370_7344,
            0xA409_3822_299F_31D0,
            0x082E_FA98_EC4E_6C89,
        ];
        let mut quads = chunk.chunks_exact(8);
        for q in &mut quads {
            for (l, lane) in lanes.iter_mut().enumerate() {
                let v = (q[2 * l].to_bits() as u64) << 32 | q[2 * l + 1].to_bits() as u64;
                *lane = (*lane ^ v).wrapping_mul(K).rotate_left(29);
            }
        }
        let mut h = lanes
            .iter()
            .fold(chunk.len() as u64, |h, &l| (h ^ l).wrapping_mul(K));
        for &v in quads.remainder() {
            h = (h ^ v.to_bits() as u64).wrapping_mul(K);
        }
        h
    };
    let parts: Vec<u64> = data.par_chunks(16 * 1024).map(chunk_hash).collect();
    parts.iter().fold(data.len() as u64, |h, &p| {
        (h.rotate_left(17) ^ p).wrapping_mul(K)
    })
}

fn hash_params<H: Hasher>(p: &KeyParams, h: &mut H) {
    // Debug covers every field (f32s included, printed exactly); the struct is small.
    format!("{p:?}").hash(h);
}

/// The cache key of one request: every pixel, parameter, runtime setting and engine option that can
/// change the output (whether the cache is used does not).
pub fn key(
    input: &FrameInput<'_>,
    params: &KeyParams,
    runtime: &RuntimeConfig,
    options: &RenderOptions,
) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    hash_params(params, &mut h);
    runtime.hash(&mut h);
    RenderOptions {
        use_cache: true,
        ..*options
    }
    .hash(&mut h);
    (input.source.width, input.source.height).hash(&mut h);
    hash_f32(&input.source.data).hash(&mut h);
    for m in [input.hint, input.garbage, input.core] {
        match m {
            Some(m) => {
                (1u8, m.width, m.height).hash(&mut h);
                hash_f32(&m.data).hash(&mut h);
            }
            None => 0u8.hash(&mut h),
        }
    }
    h.finish()
}

pub struct FrameCache {
    entries: Mutex<VecDeque<(u64, FrameOutput)>>,
    max_entries: usize,
    max_bytes: usize,
}

fn bytes_of(o: &FrameOutput) -> usize {
    o.image.data.len() * 4
}

impl FrameCache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
            max_entries,
            max_bytes,
        }
    }

    /// The stored output for `key`, which becomes the most recently used (least recently used
    /// entries are dropped first).
    pub fn get(&self, key: u64) -> Option<FrameOutput> {
        let mut entries = self.entries.lock();
        let i = entries.iter().position(|(k, _)| *k == key)?;
        let hit = entries.remove(i)?;
        let out = hit.1.clone();
        entries.push_front(hit);
        Some(out)
    }

    pub fn put(&self, key: u64, out: &FrameOutput) {
        if self.max_entries == 0 || bytes_of(out) > self.max_bytes {
            return;
        }
        let mut entries = self.entries.lock();
        entries.retain(|(k, _)| *k != key);
        entries.push_front((key, out.clone()));
        while entries.len() > self.max_entries
            || entries.iter().map(|(_, o)| bytes_of(o)).sum::<usize>() > self.max_bytes
        {
            entries.pop_back();
        }
    }

    pub fn clear(&self) {
        self.entries.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::contract::{
        Device, HintSource, InputColour, MatteImage, OutputMode, PathChoice, RgbaImage,
        ScreenColour, TileSize, UpscaleFilter,
    };
    use std::path::PathBuf;

    /// Every setting that changes pixels changes the key; the cache switch itself does not.
    #[test]
    fn key_covers_every_setting() {
        let src = RgbaImage::new(4, 3);
        let matte = MatteImage::new(4, 3);
        let input = FrameInput {
            source: &src,
            hint: None,
            garbage: None,
            core: None,
        };
        let p = KeyParams::default();
        let rt = RuntimeConfig {
            model_dir: PathBuf::from("/m"),
            ort_library: PathBuf::from("/o.so"),
            device: Device::Auto,
            gpu_mem_limit_mb: 0,
            gpu_index: 0,
            engine_cache_dir: None,
            tuning: Default::default(),
        };
        let o = RenderOptions::default();
        let base = key(&input, &p, &rt, &o);
        let mut params: Vec<KeyParams> = Vec::new();
        let mut with = |f: &dyn Fn(&mut KeyParams)| {
            let mut q = p.clone();
            f(&mut q);
            params.push(q);
        };
        with(&|q| q.hint_source = HintSource::Clip);
        with(&|q| q.chroma.hue_min += 1.0);
        with(&|q| q.chroma.hue_max += 1.0);
        with(&|q| q.chroma.sat_min += 1.0);
        with(&|q| q.chroma.val_min += 1.0);
        with(&|q| q.chroma.erode_px += 1.0);
        with(&|q| q.chroma.blur_px += 1.0);
        with(&|q| q.input_colour = InputColour::Srgb);
        with(&|q| q.inference_size = 1024);
        with(&|q| q.refiner.enabled = false);
        with(&|q| q.refiner.strength = 0.5);
        with(&|q| q.refiner.tile = TileSize::T1024);
        with(&|q| q.refiner.overlap = 64);
        with(&|q| q.refiner.sparse_skip = false);
        with(&|q| q.refiner.skip_low = 0.1);
        with(&|q| q.refiner.skip_high = 0.9);
        with(&|q| q.despill = 0.5);
        with(&|q| q.despeckle_px = 10);
        with(&|q| q.clip_black = 0.1);
        with(&|q| q.clip_white = 0.9);
        with(&|q| q.output = OutputMode::Matte);
        with(&|q| q.render_scale = 0.5);
        with(&|q| q.screen = ScreenColour::Blue);
        for q in &params {
            assert_ne!(key(&input, q, &rt, &o), base, "{q:?}");
        }
        let runtimes = [
            RuntimeConfig {
                model_dir: PathBuf::from("/n"),
                ..rt.clone()
            },
            RuntimeConfig {
                ort_library: PathBuf::from("/p.so"),
                ..rt.clone()
            },
            RuntimeConfig {
                device: Device::Cpu,
                ..rt.clone()
            },
            RuntimeConfig {
                gpu_mem_limit_mb: 4096,
                ..rt.clone()
            },
            RuntimeConfig {
                gpu_index: 1,
                ..rt.clone()
            },
            RuntimeConfig {
                engine_cache_dir: Some(PathBuf::from("/c")),
                ..rt.clone()
            },
        ];
        for r in &runtimes {
            assert_ne!(key(&input, &p, r, &o), base, "{r:?}");
        }
        let options = [
            RenderOptions {
                refiner_batch: 3,
                ..o
            },
            RenderOptions {
                upscale: UpscaleFilter::Bilinear,
                ..o
            },
            RenderOptions {
                path: PathChoice::Cpu,
                ..o
            },
            RenderOptions {
                path: PathChoice::Gpu,
                ..o
            },
            RenderOptions {
                simulate_trained_coarse: true,
                ..o
            },
        ];
        for opt in &options {
            assert_ne!(key(&input, &p, &rt, opt), base, "{opt:?}");
        }
        let no_cache = RenderOptions {
            use_cache: false,
            ..o
        };
        assert_eq!(key(&input, &p, &rt, &no_cache), base);
        let mut other = src.clone();
        other.data[5] = 0.5;
        let inputs = [
            FrameInput {
                source: &other,
                ..input.clone()
            },
            FrameInput {
                hint: Some(&matte),
                ..input.clone()
            },
            FrameInput {
                garbage: Some(&matte),
                ..input.clone()
            },
            FrameInput {
                core: Some(&matte),
                ..input.clone()
            },
        ];
        for i in &inputs {
            assert_ne!(key(i, &p, &rt, &o), base);
        }
    }

    #[test]
    fn content_hash_sees_one_bit() {
        let mut a = vec![0.25f32; 100_003];
        let h0 = hash_f32(&a);
        a[77_777] = f32::from_bits(a[77_777].to_bits() ^ 1);
        assert_ne!(h0, hash_f32(&a));
        assert_eq!(hash_f32(&a), hash_f32(&a.clone()));
        assert_ne!(hash_f32(&a[..10]), hash_f32(&a[..11]));
    }
}
