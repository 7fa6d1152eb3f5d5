//! The test host's CUDA: libcudart loaded at run time (never linked), so the host can hand the
//! plugin images in device memory the way DaVinci Resolve does (OFX CUDA render), with a stream of
//! its own that it can keep busy.
//!
//! The runtime is looked up by soname (`libcudart.so.13`, the CUDA 13 runtime ONNX Runtime 1.31's
//! CUDA provider uses), then beside `$ORT_DYLIB_PATH` and `$CORRIDORKEY_ORT_GPU_LIB`. In one
//! process the plugin and the host then share one runtime and its primary context, as in a real
//! host.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::path::PathBuf;
use std::sync::OnceLock;

pub const CUDART_SONAME: &str = "libcudart.so.13";

/// Why a CUDA call of the test host failed (the runtime's own words).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CudaError(pub String);

impl std::fmt::Display for CudaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CudaError {}

type Err = c_int;
type RawStream = *mut c_void;
type RawEvent = *mut c_void;
type HostFn = unsafe extern "C" fn(*mut c_void);

const H2D: c_int = 1;
const D2H: c_int = 2;
const D2D: c_int = 3;
const NOT_READY: c_int = 600;

struct Api {
    get_device_count: unsafe extern "C" fn(*mut c_int) -> Err,
    get_error_string: unsafe extern "C" fn(Err) -> *const c_char,
    get_last_error: unsafe extern "C" fn() -> Err,
    malloc: unsafe extern "C" fn(*mut *mut c_void, usize) -> Err,
    free: unsafe extern "C" fn(*mut c_void) -> Err,
    memset: unsafe extern "C" fn(*mut c_void, c_int, usize) -> Err,
    memset_async: unsafe extern "C" fn(*mut c_void, c_int, usize, RawStream) -> Err,
    memcpy: unsafe extern "C" fn(*mut c_void, *const c_void, usize, c_int) -> Err,
    memcpy_async: unsafe extern "C" fn(*mut c_void, *const c_void, usize, c_int, RawStream) -> Err,
    stream_create_with_flags: unsafe extern "C" fn(*mut RawStream, c_uint) -> Err,
    stream_destroy: unsafe extern "C" fn(RawStream) -> Err,
    stream_synchronize: unsafe extern "C" fn(RawStream) -> Err,
    event_create_with_flags: unsafe extern "C" fn(*mut RawEvent, c_uint) -> Err,
    event_record: unsafe extern "C" fn(RawEvent, RawStream) -> Err,
    event_query: unsafe extern "C" fn(RawEvent) -> Err,
    event_synchronize: unsafe extern "C" fn(RawEvent) -> Err,
    event_destroy: unsafe extern "C" fn(RawEvent) -> Err,
    launch_host_func: unsafe extern "C" fn(RawStream, HostFn, *mut c_void) -> Err,
}

/// The loaded CUDA runtime (one per process, see [`cuda`]).
pub struct Cuda {
    api: Api,
    origin: String,
    devices: i32,
    _lib: libloading::Library,
}

fn candidates() -> Vec<PathBuf> {
    let mut c = vec![PathBuf::from(CUDART_SONAME)];
    for var in ["ORT_DYLIB_PATH", "CORRIDORKEY_ORT_GPU_LIB"] {
        if let Some(dir) = std::env::var_os(var)
            .map(PathBuf::from)
            .and_then(|p| std::fs::canonicalize(p).ok())
            .and_then(|p| p.parent().map(|d| d.join(CUDART_SONAME)))
        {
            c.push(dir);
        }
    }
    c
}

/// # Safety
/// `T` is the C signature of `name` in `cuda_runtime_api.h`.
unsafe fn sym<T: Copy>(lib: &libloading::Library, name: &str) -> Result<T, CudaError> {
    // SAFETY: per the caller.
    unsafe { lib.get::<T>(name) }
        .map(|s| *s)
        .map_err(|e| CudaError(format!("{name}: {e}")))
}

fn open(path: &PathBuf) -> Result<Cuda, CudaError> {
    // SAFETY: loading libcudart runs its initialisers, which set up only the runtime's own state.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| {
        // libloading's own text is only "dlopen failed"; the linker's says which file and why.
        let why = std::error::Error::source(&e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        let origin = path.display().to_string();
        CudaError(if why.starts_with(&origin) {
            why
        } else {
            format!("{origin}: {why}")
        })
    })?;
    // SAFETY: every `sym` call below pairs a runtime function with its C signature.
    let api = unsafe {
        Api {
            get_device_count: sym(&lib, "cudaGetDeviceCount")?,
            get_error_string: sym(&lib, "cudaGetErrorString")?,
            get_last_error: sym(&lib, "cudaGetLastError")?,
            malloc: sym(&lib, "cudaMalloc")?,
            free: sym(&lib, "cudaFree")?,
            memset: sym(&lib, "cudaMemset")?,
            memset_async: sym(&lib, "cudaMemsetAsync")?,
            memcpy: sym(&lib, "cudaMemcpy")?,
            memcpy_async: sym(&lib, "cudaMemcpyAsync")?,
            stream_create_with_flags: sym(&lib, "cudaStreamCreateWithFlags")?,
            stream_destroy: sym(&lib, "cudaStreamDestroy")?,
            stream_synchronize: sym(&lib, "cudaStreamSynchronize")?,
            event_create_with_flags: sym(&lib, "cudaEventCreateWithFlags")?,
            event_record: sym(&lib, "cudaEventRecord")?,
            event_query: sym(&lib, "cudaEventQuery")?,
            event_synchronize: sym(&lib, "cudaEventSynchronize")?,
            event_destroy: sym(&lib, "cudaEventDestroy")?,
            launch_host_func: sym(&lib, "cudaLaunchHostFunc")?,
        }
    };
    let mut n = 0;
    // SAFETY: valid out pointer.
    let code = unsafe { (api.get_device_count)(&mut n) };
    let mut c = Cuda {
        api,
        origin: path.display().to_string(),
        devices: 0,
        _lib: lib,
    };
    c.check("cudaGetDeviceCount", code)?;
    if n < 1 {
        return Err(CudaError(format!("{}: no CUDA device", c.origin)));
    }
    c.devices = n;
    Ok(c)
}

/// The process's CUDA runtime with at least one device, or why there is none (every attempt). The
/// answer is the same for the whole process.
pub fn cuda() -> Result<&'static Cuda, CudaError> {
    static C: OnceLock<Result<Cuda, CudaError>> = OnceLock::new();
    C.get_or_init(|| {
        let mut why = Vec::new();
        for p in candidates() {
            match open(&p) {
                Ok(c) => return Ok(c),
                Err(e) => why.push(e.0),
            }
        }
        Err(CudaError(format!(
            "no usable CUDA runtime ({})",
            why.join("; ")
        )))
    })
    .as_ref()
    .map_err(Clone::clone)
}

impl Cuda {
    fn check(&self, call: &str, code: Err) -> Result<(), CudaError> {
        if code == 0 {
            return Ok(());
        }
        // SAFETY: returns and clears the thread's last error; the string is static.
        let msg = unsafe {
            let _ = (self.api.get_last_error)();
            let p = (self.api.get_error_string)(code);
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        Err(CudaError(format!("{call} failed ({code}): {msg}")))
    }

    /// Where the runtime was loaded from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn device_count(&self) -> i32 {
        self.devices
    }
}

/// Device memory owned by the test host (`cudaMalloc`), freed on drop.
pub struct DeviceMemory {
    addr: usize,
    len: usize,
}

// SAFETY: a device address; the runtime may be called from any thread.
unsafe impl Send for DeviceMemory {}
// SAFETY: as above; no Rust-side state changes through &self.
unsafe impl Sync for DeviceMemory {}

impl DeviceMemory {
    pub fn new(len: usize) -> Result<DeviceMemory, CudaError> {
        let c = cuda()?;
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid out pointer, at least one byte.
        let code = unsafe { (c.api.malloc)(&mut p, len.max(1)) };
        c.check("cudaMalloc", code)?;
        Ok(DeviceMemory {
            addr: p as usize,
            len,
        })
    }
    pub fn addr(&self) -> usize {
        self.addr
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets every byte (synchronously).
    pub fn fill(&self, byte: u8) -> Result<(), CudaError> {
        let c = cuda()?;
        // SAFETY: our allocation of `len` bytes.
        let code = unsafe { (c.api.memset)(self.addr as *mut c_void, byte as c_int, self.len) };
        c.check("cudaMemset", code)?;
        // cudaMemset may return before the device is done; the host wants it done.
        // SAFETY: the legacy default stream.
        let code = unsafe { (c.api.stream_synchronize)(std::ptr::null_mut()) };
        c.check("cudaStreamSynchronize", code)
    }

    /// Copies `src` to the start of this memory, synchronously.
    pub fn upload(&self, src: &[u8]) -> Result<(), CudaError> {
        if src.len() > self.len {
            return Err(CudaError(format!(
                "{} bytes into {} of device memory",
                src.len(),
                self.len
            )));
        }
        let c = cuda()?;
        // SAFETY: `src` is readable for its length, the destination holds at least as much.
        let code = unsafe {
            (c.api.memcpy)(
                self.addr as *mut c_void,
                src.as_ptr() as *const c_void,
                src.len(),
                H2D,
            )
        };
        c.check("cudaMemcpy", code)?;
        // SAFETY: the legacy default stream (an upload from pageable memory may still be in flight).
        let code = unsafe { (c.api.stream_synchronize)(std::ptr::null_mut()) };
        c.check("cudaStreamSynchronize", code)
    }

    /// Copies the start of this memory into `dst`, synchronously.
    pub fn download(&self, dst: &mut [u8]) -> Result<(), CudaError> {
        if dst.len() > self.len {
            return Err(CudaError(format!(
                "{} bytes from {} of device memory",
                dst.len(),
                self.len
            )));
        }
        let c = cuda()?;
        // SAFETY: `dst` is writable for its length; the source holds at least as much; a copy to
        // pageable memory returns when it is done.
        let code = unsafe {
            (c.api.memcpy)(
                dst.as_mut_ptr() as *mut c_void,
                self.addr as *const c_void,
                dst.len(),
                D2H,
            )
        };
        c.check("cudaMemcpy", code)
    }

    /// Queues a copy of all of `src` into this memory on `stream`. Both must stay alive until the
    /// stream has run it (the test host synchronises the stream before dropping either).
    pub fn copy_from_async(&self, src: &DeviceMemory, stream: &Stream) -> Result<(), CudaError> {
        if src.len > self.len {
            return Err(CudaError(format!(
                "{} device bytes into {}",
                src.len, self.len
            )));
        }
        let c = cuda()?;
        // SAFETY: both are our allocations of at least src.len bytes; the stream is live.
        let code = unsafe {
            (c.api.memcpy_async)(
                self.addr as *mut c_void,
                src.addr as *const c_void,
                src.len,
                D2D,
                stream.raw,
            )
        };
        c.check("cudaMemcpyAsync", code)
    }
}

impl Drop for DeviceMemory {
    fn drop(&mut self) {
        if let Ok(c) = cuda() {
            // SAFETY: allocated by cudaMalloc, freed once here (cudaFree waits for pending work).
            let _ = unsafe { (c.api.free)(self.addr as *mut c_void) };
        }
    }
}

/// A stream of the test host (`cudaStreamNonBlocking`: the legacy default stream does not wait for
/// it, so a plugin that ignores it races the host's work, as in a real host). Destroyed on drop.
pub struct Stream {
    raw: RawStream,
}

// SAFETY: a stream handle may be used from any thread.
unsafe impl Send for Stream {}
// SAFETY: as above.
unsafe impl Sync for Stream {}

/// cudaLaunchHostFunc callback: sleeps `user_data` milliseconds on the runtime's callback thread,
/// holding back everything queued after it on the stream.
unsafe extern "C" fn sleep_ms(user_data: *mut c_void) {
    let ms = user_data as usize as u64;
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

impl Stream {
    pub fn new() -> Result<Stream, CudaError> {
        let c = cuda()?;
        let mut raw: RawStream = std::ptr::null_mut();
        // SAFETY: valid out pointer; 1 = cudaStreamNonBlocking.
        let code = unsafe { (c.api.stream_create_with_flags)(&mut raw, 1) };
        c.check("cudaStreamCreateWithFlags", code)?;
        Ok(Stream { raw })
    }

    /// The `cudaStream_t` (what `kOfxImageEffectPropCudaStream` carries).
    pub fn handle(&self) -> usize {
        self.raw as usize
    }

    pub fn synchronize(&self) -> Result<(), CudaError> {
        let c = cuda()?;
        // SAFETY: live stream.
        let code = unsafe { (c.api.stream_synchronize)(self.raw) };
        c.check("cudaStreamSynchronize", code)
    }

    /// Keeps the stream busy: a host function that holds it for `hold_ms`, then `rounds` fills of
    /// `scratch` (real device work); everything queued afterwards waits for both. Returns an event
    /// recorded after them (query it to see whether the stream is still busy).
    pub fn make_busy(
        &self,
        hold_ms: u64,
        scratch: &DeviceMemory,
        rounds: usize,
    ) -> Result<Event, CudaError> {
        let c = cuda()?;
        // SAFETY: live stream; the callback only sleeps (no CUDA calls), its argument is a number.
        let code = unsafe {
            (c.api.launch_host_func)(self.raw, sleep_ms, hold_ms as usize as *mut c_void)
        };
        c.check("cudaLaunchHostFunc", code)?;
        for i in 0..rounds {
            // SAFETY: our allocation of scratch.len bytes; live stream.
            let code = unsafe {
                (c.api.memset_async)(
                    scratch.addr as *mut c_void,
                    (i & 0xff) as c_int,
                    scratch.len,
                    self.raw,
                )
            };
            c.check("cudaMemsetAsync", code)?;
        }
        let e = Event::new()?;
        e.record(self)?;
        Ok(e)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Ok(c) = cuda() {
            // SAFETY: created by cudaStreamCreateWithFlags, destroyed once (the runtime lets queued
            // work finish first).
            let _ = unsafe { (c.api.stream_destroy)(self.raw) };
        }
    }
}

/// A CUDA event (no timing), destroyed on drop.
pub struct Event {
    raw: RawEvent,
}

// SAFETY: an event handle may be used from any thread.
unsafe impl Send for Event {}
// SAFETY: as above.
unsafe impl Sync for Event {}

impl Event {
    pub fn new() -> Result<Event, CudaError> {
        let c = cuda()?;
        let mut raw: RawEvent = std::ptr::null_mut();
        // SAFETY: valid out pointer; 2 = cudaEventDisableTiming.
        let code = unsafe { (c.api.event_create_with_flags)(&mut raw, 2) };
        c.check("cudaEventCreateWithFlags", code)?;
        Ok(Event { raw })
    }

    pub fn record(&self, stream: &Stream) -> Result<(), CudaError> {
        let c = cuda()?;
        // SAFETY: live event and stream.
        let code = unsafe { (c.api.event_record)(self.raw, stream.raw) };
        c.check("cudaEventRecord", code)
    }

    /// Whether the work before the event has finished.
    pub fn is_done(&self) -> Result<bool, CudaError> {
        let c = cuda()?;
        // SAFETY: live event.
        let code = unsafe { (c.api.event_query)(self.raw) };
        if code == NOT_READY {
            // SAFETY: clears the "not ready" the query left as the thread's last error.
            let _ = unsafe { (c.api.get_last_error)() };
            return Ok(false);
        }
        c.check("cudaEventQuery", code).map(|()| true)
    }

    pub fn synchronize(&self) -> Result<(), CudaError> {
        let c = cuda()?;
        // SAFETY: live event.
        let code = unsafe { (c.api.event_synchronize)(self.raw) };
        c.check("cudaEventSynchronize", code)
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        if let Ok(c) = cuda() {
            // SAFETY: created by cudaEventCreateWithFlags, destroyed once.
            let _ = unsafe { (c.api.event_destroy)(self.raw) };
        }
    }
}
