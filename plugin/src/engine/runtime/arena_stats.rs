//! ONNX Runtime arena statistics (`AllocatorGetStats`) for the loaded sessions: how much each
//! session's arena holds, its peak in use, allocations and extensions. ort wraps no API for this,
//! so the raw C API is called (ORT.md section 2.9). Used by the benchmark; not on the render path.

use std::ffi::CStr;
use std::os::raw::c_char;

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::Session;
use ort::AsPointer;
use serde::{Deserialize, Serialize};

use super::model_set::ModelSet;
use super::providers::Provider;

/// One arena's counters, as ORT reports them (bytes, or counts). Keys ORT does not report are 0.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArenaStats {
    /// "coarse" or "refiner".
    pub session: String,
    /// "CUDA" or "CPU".
    pub device: String,
    pub limit: u64,
    pub in_use: u64,
    pub max_in_use: u64,
    pub total_allocated: u64,
    pub num_allocs: u64,
    pub num_reserves: u64,
    pub num_arena_extensions: u64,
    pub num_arena_shrinkages: u64,
    pub max_alloc_size: u64,
    /// Every key/value pair ORT returned, including any not named above.
    pub raw: Vec<(String, String)>,
}

impl ArenaStats {
    fn from_pairs(session: &str, device: &str, raw: Vec<(String, String)>) -> Self {
        let get = |k: &str| {
            raw.iter()
                .find(|(key, _)| key == k)
                .and_then(|(_, v)| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        Self {
            session: session.into(),
            device: device.into(),
            limit: get("Limit"),
            in_use: get("InUse"),
            max_in_use: get("MaxInUse"),
            total_allocated: get("TotalAllocated"),
            num_allocs: get("NumAllocs"),
            num_reserves: get("NumReserves"),
            num_arena_extensions: get("NumArenaExtensions"),
            num_arena_shrinkages: get("NumArenaShrinkages"),
            max_alloc_size: get("MaxAllocSize"),
            raw,
        }
    }
}

/// A session whose arena could not be read, and ORT's reason.
#[derive(Debug, thiserror::Error)]
#[error("{session}: {source}")]
pub struct StatsUnavailable {
    pub session: &'static str,
    #[source]
    pub source: ort::Error,
}

/// The arena of every session in `loaded`: the CUDA arena when the sessions run on a GPU provider,
/// else the CPU arena. A session whose arena cannot be read gives an Err line instead.
pub fn collect(loaded: &ModelSet) -> Vec<Result<ArenaStats, StatsUnavailable>> {
    let (device, ordinal, label) = match loaded.provider {
        Provider::Cpu => (AllocationDevice::CPU, 0, "CPU"),
        _ => (AllocationDevice::CUDA, loaded.key.runtime.gpu_index, "CUDA"),
    };
    let mut out = vec![read(&loaded.coarse, device.clone(), ordinal)
        .map(|raw| ArenaStats::from_pairs("coarse", label, raw))
        .map_err(|source| StatsUnavailable {
            session: "coarse",
            source,
        })];
    if let Some(r) = &loaded.refiner {
        out.push(
            read(r, device, ordinal)
                .map(|raw| ArenaStats::from_pairs("refiner", label, raw))
                .map_err(|source| StatsUnavailable {
                    session: "refiner",
                    source,
                }),
        );
    }
    out
}

/// The raw key/value pairs of `session`'s arena allocator on `device`.
fn read(
    session: &Session,
    device: AllocationDevice,
    ordinal: i32,
) -> Result<Vec<(String, String)>, ort::Error> {
    let info = MemoryInfo::new(device, ordinal, AllocatorType::Arena, MemoryType::Default)?;
    let allocator = Allocator::new(session, info)?;
    let api = ort::api();
    let mut kvp: *mut ort::sys::OrtKeyValuePairs = std::ptr::null_mut();
    // SAFETY: `allocator` is a live allocator of a live session; ORT writes a new key/value set to
    // `kvp` (released below) or returns an error status, which result_from_status takes ownership of.
    unsafe { ort::Error::result_from_status((api.AllocatorGetStats)(allocator.ptr(), &mut kvp)) }?;
    if kvp.is_null() {
        return Err(ort::Error::new("AllocatorGetStats returned no statistics"));
    }
    let mut keys: *const *const c_char = std::ptr::null();
    let mut values: *const *const c_char = std::ptr::null();
    let mut n: usize = 0;
    // SAFETY: `kvp` is the non-null set ORT just returned; the key and value arrays it hands back
    // stay valid until ReleaseKeyValuePairs, and we copy them into Strings before that.
    let pairs = unsafe {
        (api.GetKeyValuePairs)(kvp, &mut keys, &mut values, &mut n);
        let mut pairs = Vec::with_capacity(n);
        if !keys.is_null() && !values.is_null() {
            for i in 0..n {
                let (k, v) = (*keys.add(i), *values.add(i));
                if k.is_null() || v.is_null() {
                    continue;
                }
                pairs.push((
                    CStr::from_ptr(k).to_string_lossy().into_owned(),
                    CStr::from_ptr(v).to_string_lossy().into_owned(),
                ));
            }
        }
        (api.ReleaseKeyValuePairs)(kvp);
        pairs
    };
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::ArenaStats;

    #[test]
    fn named_keys_parse_and_unknown_are_kept() {
        let raw = vec![
            ("InUse".to_string(), "10".to_string()),
            ("MaxInUse".to_string(), "4096".to_string()),
            ("NumArenaExtensions".to_string(), "3".to_string()),
            ("Novel".to_string(), "x".to_string()),
        ];
        let s = ArenaStats::from_pairs("coarse", "CPU", raw);
        assert_eq!(
            (s.in_use, s.max_in_use, s.num_arena_extensions),
            (10, 4096, 3)
        );
        assert_eq!(s.total_allocated, 0);
        assert_eq!(s.raw.len(), 4);
    }
}
