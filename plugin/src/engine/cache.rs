//! A small, memory-bounded cache of the last frames: a repeated request (same pixels, params and
//! runtime) returns the stored output without running anything.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

use parking_lot::Mutex;
use rayon::prelude::*;

use super::types::{FrameInput, FrameOutput, KeyParams};
use super::RuntimeConfig;

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

/// The cache key of one request. `extra` distinguishes engine options (e.g. upscale filter).
pub fn key(input: &FrameInput<'_>, params: &KeyParams, runtime: &RuntimeConfig, extra: u64) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    hash_params(params, &mut h);
    runtime.hash(&mut h);
    extra.hash(&mut h);
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

    pub fn get(&self, key: u64) -> Option<FrameOutput> {
        let entries = self.entries.lock();
        entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, o)| o.clone())
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
