//! The plugin's one frame cache and its one content hash: a small, memory-bounded store of the last
//! frames, so a repeated request (same pixels, params, runtime and options; a viewer refresh, a
//! second output, Resolve's several instances of one clip) returns the stored output without
//! running anything and without copying it.
//!
//! The hash is xxh3-128 of each row's f32 bytes, folded in order with the image's shape: a caller
//! that converts rows anyway (the OFX layer) hashes each row while it is still in cache
//! ([`row_hash`], [`image_hash`]) and hands the result in as [`InputHashes`]; other callers let the
//! engine hash the images ([`InputHashes::of`]). 128 bits, because the hash stands alone for a
//! frame's identity.

use std::collections::VecDeque;
use std::hash::Hash;
use std::sync::Arc;

use parking_lot::Mutex;
use rayon::prelude::*;
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

use super::contract::{
    FrameInput, FrameOutput, KeyParams, MatteImage, RenderOptions, RuntimeConfig,
};

/// The content hash of one row of values (its bytes, xxh3-128).
pub fn row_hash(row: &[f32]) -> u128 {
    xxh3_128(bytemuck::cast_slice(row))
}

/// An image's content hash from its rows' hashes, top row first, and its shape (`channels` values
/// per pixel), so equal bytes in another shape give another hash.
pub fn image_hash(rows: &[u128], width: usize, channels: usize) -> u128 {
    let mut h = Xxh3::new();
    for n in [width, channels, rows.len()] {
        h.update(&(n as u64).to_le_bytes());
    }
    for r in rows {
        h.update(&r.to_le_bytes());
    }
    h.digest128()
}

/// [`image_hash`] of packed data (rows of `width * channels` values), rows hashed in parallel.
pub fn hash_image(data: &[f32], width: usize, channels: usize) -> u128 {
    let row_len = (width * channels).max(1);
    let rows: Vec<u128> = data.par_chunks(row_len).map(row_hash).collect();
    image_hash(&rows, width, channels)
}

/// The content of every input the engine sees: each image's [`image_hash`] (None = absent, which
/// differs from an empty matte) and the caller's frame tag (the host's time: two times of a host's
/// clip never share an entry; 0 for callers without one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InputHashes {
    pub source: u128,
    pub hint: Option<u128>,
    pub garbage: Option<u128>,
    pub core: Option<u128>,
    pub tag: u64,
}

impl InputHashes {
    /// The hashes of `input`'s images (one parallel pass over each), tag 0.
    pub fn of(input: &FrameInput<'_>) -> Self {
        let src = input.source;
        let matte = |m: Option<&MatteImage>| m.map(|m| hash_image(&m.data, m.width, 1));
        Self {
            source: hash_image(&src.data, src.width, 4),
            hint: matte(input.hint),
            garbage: matte(input.garbage),
            core: matte(input.core),
            tag: 0,
        }
    }
}

/// The cache key of one request: every pixel (through `content`), parameter, runtime setting and
/// engine option that can change the output (whether the cache is used does not).
pub fn key(
    content: &InputHashes,
    params: &KeyParams,
    runtime: &RuntimeConfig,
    options: &RenderOptions,
) -> u128 {
    let mut h = Xxh3::new();
    // Debug covers every field (f32s included, printed exactly); the struct is small.
    h.update(format!("{params:?}").as_bytes());
    runtime.hash(&mut h);
    RenderOptions {
        use_cache: true,
        ..*options
    }
    .hash(&mut h);
    content.hash(&mut h);
    h.digest128()
}

/// The last frames, newest first, at most `max_entries` and `max_bytes` of images. Outputs are
/// shared: a hit hands out the stored frame, never a copy.
pub struct FrameCache {
    entries: Mutex<VecDeque<(u128, Arc<FrameOutput>)>>,
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

    pub fn get(&self, key: u128) -> Option<Arc<FrameOutput>> {
        let entries = self.entries.lock();
        entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, o)| Arc::clone(o))
    }

    pub fn put(&self, key: u128, out: &Arc<FrameOutput>) {
        if self.max_entries == 0 || bytes_of(out) > self.max_bytes {
            return;
        }
        let mut entries = self.entries.lock();
        entries.retain(|(k, _)| *k != key);
        entries.push_front((key, Arc::clone(out)));
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
        Device, FrameStats, HintSource, InputColour, OutputMode, PathChoice, RgbaImage,
        RuntimeTuning, ScreenColour, TileSize, UpscaleFilter,
    };
    use std::path::PathBuf;

    fn key(
        input: &FrameInput<'_>,
        params: &KeyParams,
        runtime: &RuntimeConfig,
        options: &RenderOptions,
    ) -> u128 {
        super::key(&InputHashes::of(input), params, runtime, options)
    }

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
            RuntimeConfig {
                tuning: RuntimeTuning {
                    gpu_refiner: false,
                    ..Default::default()
                },
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
            RenderOptions {
                fail_gpu_path: true,
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
        let h0 = hash_image(&a, 100_003, 1);
        a[77_777] = f32::from_bits(a[77_777].to_bits() ^ 1);
        assert_ne!(h0, hash_image(&a, 100_003, 1));
        assert_eq!(
            hash_image(&a, 100_003, 1),
            hash_image(&a.clone(), 100_003, 1)
        );
        assert_ne!(hash_image(&a[..10], 10, 1), hash_image(&a[..11], 11, 1));
    }

    #[test]
    fn hash_sees_every_value_position_and_shape() {
        let base: Vec<f32> = (0..1004).map(|i| i as f32 * 0.25).collect();
        let h0 = hash_image(&base, 251, 4);
        assert_eq!(h0, hash_image(&base.clone(), 251, 4));
        for i in [0, 1, 7, 8, 500, 1000, 1003] {
            let mut v = base.clone();
            v[i] += 1.0;
            assert_ne!(hash_image(&v, 251, 4), h0, "change at {i}");
        }
        let mut swapped = base.clone();
        swapped.swap(3, 4);
        assert_ne!(hash_image(&swapped, 251, 4), h0);
        // The same values in another shape, and rows hashed in another order.
        assert_ne!(hash_image(&base, 502, 2), h0);
        assert_ne!(hash_image(&base, 1004, 1), hash_image(&base, 502, 1));
        let rows: Vec<u128> = base.chunks(4 * 251).map(row_hash).collect();
        assert_eq!(image_hash(&rows, 251, 4), h0);
    }

    #[test]
    fn inputs_hash_tells_absent_from_zero_mattes_and_tags() {
        let src = RgbaImage::new(4, 4);
        let zero = MatteImage::new(4, 4);
        let of = |hint, garbage, core| {
            InputHashes::of(&FrameInput {
                source: &src,
                hint,
                garbage,
                core,
            })
        };
        let a = of(None, None, None);
        let b = of(Some(&zero), None, None);
        let c = of(None, Some(&zero), None);
        let d = of(None, None, Some(&zero));
        let (p, rt, o) = (KeyParams::default(), runtime(), RenderOptions::default());
        let keys = [a, b, c, d, InputHashes { tag: 1, ..a }].map(|h| super::key(&h, &p, &rt, &o));
        for i in 0..keys.len() {
            for j in i + 1..keys.len() {
                assert_ne!(keys[i], keys[j], "{i} {j}");
            }
        }
    }

    fn runtime() -> RuntimeConfig {
        RuntimeConfig {
            model_dir: PathBuf::from("/m"),
            ort_library: PathBuf::from("/o.so"),
            device: Device::Auto,
            gpu_mem_limit_mb: 0,
            gpu_index: 0,
            engine_cache_dir: None,
            tuning: Default::default(),
        }
    }

    fn output(w: usize, h: usize) -> Arc<FrameOutput> {
        Arc::new(FrameOutput {
            image: RgbaImage::new(w, h),
            premultiplied: true,
            stats: FrameStats::default(),
            warnings: Vec::new(),
            notes: Vec::new(),
        })
    }

    /// Hits only on equal keys (a param or the host's time changes it), shares the stored frame,
    /// keeps the newest within its entry and byte bounds.
    #[test]
    fn cache_hits_only_on_equal_keys() {
        let src = RgbaImage::new(2, 2);
        let input = FrameInput {
            source: &src,
            hint: None,
            garbage: None,
            core: None,
        };
        let content = InputHashes {
            tag: 1f64.to_bits(),
            ..InputHashes::of(&input)
        };
        let (p, rt, o) = (KeyParams::default(), runtime(), RenderOptions::default());
        let k = super::key(&content, &p, &rt, &o);
        let cache = FrameCache::new(2, 1 << 20);
        let out = output(2, 2);
        cache.put(k, &out);
        assert!(
            Arc::ptr_eq(&cache.get(k).unwrap(), &out),
            "a hit is the stored frame"
        );
        let mut other = p.clone();
        other.despill = 0.5;
        assert!(cache.get(super::key(&content, &other, &rt, &o)).is_none());
        let later = InputHashes {
            tag: 2f64.to_bits(),
            ..content
        };
        assert!(cache.get(super::key(&later, &p, &rt, &o)).is_none());
        cache.put(2, &output(2, 2));
        cache.put(3, &output(2, 2));
        assert!(cache.get(k).is_none(), "the oldest of three goes");
        assert!(cache.get(2).is_some() && cache.get(3).is_some());
        cache.put(4, &output(512, 512));
        assert!(
            cache.get(4).is_none(),
            "a frame over the byte bound is not kept"
        );
        cache.clear();
        assert!(cache.get(3).is_none());
    }

    /// Through the engine: a repeated request is the stored frame (the caller's hashes or the
    /// engine's own give the same key), any change of pixels or params runs again, and without
    /// the cache every request runs. The hint view needs no model.
    #[test]
    fn engine_answers_repeats_from_the_cache() {
        let engine = crate::engine::Engine::new();
        let mut src = RgbaImage::new(6, 5);
        src.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = (i % 7) as f32 * 0.1);
        let p = KeyParams {
            output: OutputMode::Hint,
            ..KeyParams::default()
        };
        let (rt, o) = (runtime(), RenderOptions::default());
        let run = |src: &RgbaImage, p: &KeyParams, o: &RenderOptions, h: Option<&InputHashes>| {
            let input = FrameInput {
                source: src,
                hint: None,
                garbage: None,
                core: None,
            };
            engine
                .render_shared(&input, h, p, &rt, o, &|| false)
                .unwrap()
        };
        let first = run(&src, &p, &o, None);
        let hashes = InputHashes::of(&FrameInput {
            source: &src,
            hint: None,
            garbage: None,
            core: None,
        });
        assert!(Arc::ptr_eq(&first, &run(&src, &p, &o, None)));
        assert!(Arc::ptr_eq(&first, &run(&src, &p, &o, Some(&hashes))));
        let mut other = src.clone();
        other.data[9] += 0.5;
        assert!(!Arc::ptr_eq(&first, &run(&other, &p, &o, None)));
        let despill = KeyParams {
            despill: 0.25,
            ..p.clone()
        };
        assert!(!Arc::ptr_eq(&first, &run(&src, &despill, &o, None)));
        let off = RenderOptions {
            use_cache: false,
            ..o
        };
        let uncached = run(&src, &p, &off, None);
        assert!(!Arc::ptr_eq(&uncached, &run(&src, &p, &off, None)));
        assert_eq!(uncached.image, first.image);
    }
}
