//! Per-instance cache of the last keyed frame, so a host that renders the same frame twice (a
//! viewer refresh, a second output, Resolve's several instances of one clip) pays once.

use rayon::prelude::*;

use crate::engine::{KeyParams, MatteImage, RgbaImage, RuntimeConfig};

/// Everything a frame depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameKey {
    pub time: f64,
    pub params: KeyParams,
    pub runtime: RuntimeConfig,
    pub width: usize,
    pub height: usize,
    /// Hash of the source and matte pixels as the engine sees them.
    pub content: u64,
}

/// A cached result: the engine's output image and whether it is premultiplied.
#[derive(Clone, Debug)]
pub struct CachedFrame {
    pub key: FrameKey,
    pub image: RgbaImage,
    pub premultiplied: bool,
}

#[derive(Debug, Default)]
pub struct FrameCache {
    last: Option<CachedFrame>,
}

impl FrameCache {
    pub fn get(&self, key: &FrameKey) -> Option<&CachedFrame> {
        self.last.as_ref().filter(|c| &c.key == key)
    }
    pub fn put(&mut self, frame: CachedFrame) {
        self.last = Some(frame);
    }
    pub fn clear(&mut self) {
        self.last = None;
    }
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(K).rotate_left(29)
}

/// The engine's content hash of f32 bits (parallel over chunks), seeded and avalanched so equal
/// data under different seeds (plate, each matte) gives unrelated keys.
pub fn hash_f32(data: &[f32], seed: u64) -> u64 {
    let mut h = mix(seed, crate::engine::cache::hash_f32(data));
    // Final avalanche (splitmix64).
    h ^= h >> 30;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// One row's content hash (the engine's hash of its values).
pub fn row_hash(row: &[f32]) -> u64 {
    crate::engine::cache::hash_f32(row)
}

/// An image's content hash from its rows' hashes in order, seeded and avalanched: what
/// `pixels::read_rgba_hashed` computes while it reads, so a 4K frame is not read twice.
pub fn fold_rows(rows: impl IntoIterator<Item = u64>, seed: u64) -> u64 {
    let h = rows.into_iter().fold(seed, mix);
    hash_f32(&[], h)
}

/// [`fold_rows`] of `data` cut into rows of `row_len` values.
pub fn hash_rows(data: &[f32], row_len: usize, seed: u64) -> u64 {
    let rows: Vec<u64> = data.par_chunks(row_len.max(1)).map(row_hash).collect();
    fold_rows(rows, seed)
}

/// The source's seed in [`inputs_key`] (its width, so a reshaped buffer differs).
pub fn source_seed(width: usize) -> u64 {
    width as u64
}

/// The key of every input the engine sees from the source's and the mattes' content hashes; an
/// absent matte differs from an empty one.
pub fn inputs_key(source: u64, mattes: [Option<u64>; 3]) -> u64 {
    let mut h = source;
    for (i, m) in mattes.iter().enumerate() {
        h = match m {
            Some(m) => mix(h, mix(100 + i as u64, *m)),
            None => mix(h, 200 + i as u64),
        };
    }
    h
}

/// Hash of every input the engine sees (what the render action computes while reading them).
pub fn hash_inputs(source: &RgbaImage, mattes: [Option<&MatteImage>; 3]) -> u64 {
    let src = hash_rows(&source.data, source.width * 4, source_seed(source.width));
    let m = mattes.map(|m| m.map(|m| hash_rows(&m.data, m.width, 0)));
    inputs_key(src, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_sees_every_value_and_position() {
        let base: Vec<f32> = (0..1003).map(|i| i as f32 * 0.25).collect();
        let h0 = hash_f32(&base, 0);
        assert_eq!(h0, hash_f32(&base.clone(), 0));
        for i in [0, 1, 7, 8, 500, 1000, 1002] {
            let mut v = base.clone();
            v[i] += 1.0;
            assert_ne!(hash_f32(&v, 0), h0, "change at {i}");
        }
        let mut swapped = base.clone();
        swapped.swap(3, 4);
        assert_ne!(hash_f32(&swapped, 0), h0);
        assert_ne!(hash_f32(&base[..1002], 0), h0);
    }

    #[test]
    fn inputs_hash_tells_absent_from_zero_mattes() {
        let src = RgbaImage::new(4, 4);
        let zero = MatteImage::new(4, 4);
        let a = hash_inputs(&src, [None, None, None]);
        let b = hash_inputs(&src, [Some(&zero), None, None]);
        let c = hash_inputs(&src, [None, Some(&zero), None]);
        assert!(a != b && b != c && a != c);
    }

    #[test]
    fn cache_hits_only_on_equal_keys() {
        let key = FrameKey {
            time: 1.0,
            params: KeyParams::default(),
            runtime: RuntimeConfig {
                model_dir: "/m".into(),
                ort_library: "/o".into(),
                device: crate::engine::Device::Auto,
                gpu_mem_limit_mb: 0,
                gpu_index: 0,
                engine_cache_dir: None,
                tuning: Default::default(),
            },
            width: 2,
            height: 2,
            content: 5,
        };
        let mut cache = FrameCache::default();
        cache.put(CachedFrame {
            key: key.clone(),
            image: RgbaImage::new(2, 2),
            premultiplied: true,
        });
        assert!(cache.get(&key).is_some());
        let mut other = key.clone();
        other.params.despill = 0.5;
        assert!(cache.get(&other).is_none());
        let mut other = key.clone();
        other.time = 2.0;
        assert!(cache.get(&other).is_none());
        cache.clear();
        assert!(cache.get(&key).is_none());
    }
}
