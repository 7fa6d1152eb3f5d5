//! One CUDA arena for every session of the process (ORT.md §5.4).
//!
//! Each ORT session otherwise keeps its own CUDA arena at its own peak: the coarse graph's
//! activations, the refiner's and the device-refine kernels' buffers would add up (7.6 GB device
//! peak at S=2048 on an H100 with separate arenas, BENCHMARKS.md). Registered in the environment
//! and opted into by each session (`session.use_env_allocators`), one arena serves the stages in
//! turn, so the process peaks at the largest stage instead of the sum.

use std::collections::HashMap;
use std::ffi::CStr;

use ort::environment::Environment;
use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::AsPointer;
use parking_lot::Mutex;

/// ONNX Runtime refused to register the shared arena (its message).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
pub struct ArenaRefused(String);

impl From<ort::Error> for ArenaRefused {
    fn from(e: ort::Error) -> Self {
        ArenaRefused(e.to_string())
    }
}

/// Registered arenas: GPU index -> the cap it was registered with (MiB, 0 = none), or why it failed.
static REGISTERED: Mutex<Option<HashMap<i32, Result<usize, ArenaRefused>>>> =
    parking_lot::const_mutex(None);

fn check(status: ort::sys::OrtStatusPtr) -> Result<(), ArenaRefused> {
    // SAFETY: `status` comes straight from an ORT API call; result_from_status takes ownership and
    // releases it.
    unsafe { ort::Error::result_from_status(status) }.map_err(ArenaRefused::from)
}

/// `initial_mb` (`RuntimeTuning::arena_initial_mb`): reserve the shared arena's first region in one
/// piece of this size (MiB), so a frame's allocations come from one block instead of growing the
/// arena request by request (a tuning knob for pipeline TDs; BENCHMARKS.md has the measurements
/// behind the default). Sizes outside 1 MiB..1 TiB are ignored.
fn register(
    env: &Environment,
    gpu: i32,
    cap_mb: usize,
    initial_mb: Option<usize>,
) -> Result<(), ArenaRefused> {
    let api = ort::api();
    let mut keys: Vec<&CStr> = vec![c"max_mem", c"arena_extend_strategy"];
    // 1 = kSameAsRequested: grow by what is asked, not to the next power of two.
    let mut values: Vec<usize> = vec![cap_mb << 20, 1];
    if let Some(mb) = initial_mb.filter(|&mb| mb > 0 && mb < (1 << 20)) {
        keys.push(c"initial_chunk_size_bytes");
        values.push(mb << 20);
    }
    let key_ptrs: Vec<*const std::os::raw::c_char> = keys.iter().map(|k| k.as_ptr()).collect();
    let mut cfg: *mut ort::sys::OrtArenaCfg = std::ptr::null_mut();
    // SAFETY: the key and value arrays have the same length, passed as the count, and outlive the
    // call; `cfg` is a valid out pointer.
    check(unsafe {
        (api.CreateArenaCfgV2)(key_ptrs.as_ptr(), values.as_ptr(), keys.len(), &mut cfg)
    })?;
    let info = MemoryInfo::new(
        AllocationDevice::CUDA,
        gpu,
        AllocatorType::Arena,
        MemoryType::Default,
    )?;
    // A decimal integer has no NUL byte.
    let device_id =
        std::ffi::CString::new(gpu.to_string()).map_err(|e| ArenaRefused(e.to_string()))?;
    let opt_keys = [c"device_id".as_ptr()];
    let opt_values = [device_id.as_ptr()];
    // SAFETY: env and info are live ORT objects; cfg was created above; the option arrays have one
    // entry each and outlive the call. ORT copies what it keeps.
    let status = unsafe {
        (api.CreateAndRegisterAllocatorV2)(
            env.ptr().cast_mut(),
            c"CUDAExecutionProvider".as_ptr(),
            info.ptr(),
            cfg,
            opt_keys.as_ptr(),
            opt_values.as_ptr(),
            1,
        )
    };
    // SAFETY: cfg came from CreateArenaCfgV2 and is released exactly once.
    unsafe { (api.ReleaseArenaCfg)(cfg) };
    check(status)
}

/// Whether GPU `gpu` has the shared arena (sessions then opt in).
pub fn is_registered(gpu: i32) -> bool {
    REGISTERED
        .lock()
        .as_ref()
        .and_then(|m| m.get(&gpu))
        .map(|r| r.is_ok())
        .unwrap_or(false)
}

/// Makes sure GPU `gpu` has the shared arena. Call it only once a CUDA session has been built in
/// this process: ORT loads the CUDA provider to make the allocator, and when that load fails it
/// throws through the C API (std::terminate) instead of returning an error status. Ok(None) when it is in place with this cap;
/// Ok(Some(note)) when an earlier registration with another cap stays in force (the cap is the
/// process's until a restart); Err when ORT refused (the sessions then keep their own arenas).
pub fn ensure(
    env: &Environment,
    gpu: i32,
    cap_mb: usize,
    initial_mb: Option<usize>,
) -> Result<Option<String>, ArenaRefused> {
    let mut guard = REGISTERED.lock();
    let map = guard.get_or_insert_with(HashMap::new);
    let entry = map
        .entry(gpu)
        .or_insert_with(|| register(env, gpu, cap_mb, initial_mb).map(|()| cap_mb));
    match entry {
        Ok(c) if *c == cap_mb => Ok(None),
        Ok(c) => Ok(Some(format!(
            "the GPU memory budget of {c} MiB set first in this process stays in force until a restart"
        ))),
        Err(e) => Err(e.clone()),
    }
}
