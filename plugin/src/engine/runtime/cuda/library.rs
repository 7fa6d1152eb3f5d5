//! Finding libcudart at run time and its function table.
//!
//! The plugin never links CUDA: a CPU-only bundle must load on machines without it. In a host
//! process the runtime is usually mapped already (ONNX Runtime's CUDA provider needs it), so the
//! soname comes first; then the folder of the ORT library, where a self-contained GPU bundle may
//! carry it. A loaded runtime stays loaded for the life of the process; a failed load is not
//! remembered (the next call tries again, which costs one failed `dlopen`).

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use super::error::CudaError;

/// The CUDA 13 runtime, which the ONNX Runtime 1.31 CUDA provider is built against.
pub const CUDART_SONAME: &str = "libcudart.so.13";

/// `cudaError_t`.
pub type RawError = c_int;
/// `cudaStream_t` (NULL = the legacy default stream).
pub type RawStream = *mut c_void;
/// `cudaEvent_t`.
pub type RawEvent = *mut c_void;

/// `cudaMemcpyKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum CopyKind {
    HostToDevice = 1,
    DeviceToHost = 2,
    DeviceToDevice = 3,
}

/// `struct cudaPointerAttributes` (CUDA 11 and later), with spare room after it in case a later
/// runtime appends fields: the call writes the struct it knows, never less than these four.
#[repr(C)]
pub struct RawPointerAttributes {
    pub memory_type: c_int,
    pub device: c_int,
    pub device_pointer: *mut c_void,
    pub host_pointer: *mut c_void,
    pub reserved: [u64; 8],
}

/// The runtime calls the plugin uses (signatures from `cuda_runtime_api.h`).
pub(super) struct Api {
    pub runtime_get_version: unsafe extern "C" fn(*mut c_int) -> RawError,
    pub get_device_count: unsafe extern "C" fn(*mut c_int) -> RawError,
    pub get_device: unsafe extern "C" fn(*mut c_int) -> RawError,
    pub set_device: unsafe extern "C" fn(c_int) -> RawError,
    pub get_last_error: unsafe extern "C" fn() -> RawError,
    pub get_error_name: unsafe extern "C" fn(RawError) -> *const c_char,
    pub get_error_string: unsafe extern "C" fn(RawError) -> *const c_char,
    pub pointer_get_attributes:
        unsafe extern "C" fn(*mut RawPointerAttributes, *const c_void) -> RawError,
    pub malloc: unsafe extern "C" fn(*mut *mut c_void, usize) -> RawError,
    pub free: unsafe extern "C" fn(*mut c_void) -> RawError,
    pub malloc_async: unsafe extern "C" fn(*mut *mut c_void, usize, RawStream) -> RawError,
    pub free_async: unsafe extern "C" fn(*mut c_void, RawStream) -> RawError,
    pub memset_2d_async:
        unsafe extern "C" fn(*mut c_void, usize, c_int, usize, usize, RawStream) -> RawError,
    pub memcpy_2d: unsafe extern "C" fn(
        *mut c_void,
        usize,
        *const c_void,
        usize,
        usize,
        usize,
        c_int,
    ) -> RawError,
    pub memcpy_2d_async: unsafe extern "C" fn(
        *mut c_void,
        usize,
        *const c_void,
        usize,
        usize,
        usize,
        c_int,
        RawStream,
    ) -> RawError,
    pub stream_synchronize: unsafe extern "C" fn(RawStream) -> RawError,
    pub stream_wait_event: unsafe extern "C" fn(RawStream, RawEvent, c_uint) -> RawError,
    pub event_create_with_flags: unsafe extern "C" fn(*mut RawEvent, c_uint) -> RawError,
    pub event_record: unsafe extern "C" fn(RawEvent, RawStream) -> RawError,
    pub event_query: unsafe extern "C" fn(RawEvent) -> RawError,
    pub event_synchronize: unsafe extern "C" fn(RawEvent) -> RawError,
    pub event_destroy: unsafe extern "C" fn(RawEvent) -> RawError,
    pub mem_get_info: unsafe extern "C" fn(*mut usize, *mut usize) -> RawError,
}

/// A loaded CUDA runtime. Obtained from [`load`]; lives for the rest of the process.
pub struct Cuda {
    pub(super) api: Api,
    origin: String,
    version: i32,
    // Last: the function pointers above point into this library.
    _lib: libloading::Library,
}

impl std::fmt::Debug for Cuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cuda")
            .field("origin", &self.origin)
            .field("version", &self.version)
            .finish()
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string that lives as long as the runtime (libcudart's error
/// names and strings are static).
unsafe fn static_str(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: per the caller.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl Cuda {
    /// Where the runtime was loaded from (a soname or a path).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `cudaRuntimeGetVersion`: 13000 for 13.0.
    pub fn version(&self) -> i32 {
        self.version
    }

    /// Ok for `cudaSuccess`, else the error with the runtime's own name and description.
    ///
    /// A failed call also sets the thread's "last error", which ONNX Runtime's CUDA provider reads
    /// after its own kernel launches: it is cleared here so that our failure never becomes theirs.
    pub(super) fn check(&self, call: &'static str, code: RawError) -> Result<(), CudaError> {
        if code == 0 {
            return Ok(());
        }
        // SAFETY: plain call; it returns and resets the thread's last (non-sticky) error.
        let _ = unsafe { (self.api.get_last_error)() };
        // SAFETY: both functions take any error code and return static strings (or NULL).
        let (name, message) = unsafe {
            (
                static_str((self.api.get_error_name)(code)),
                static_str((self.api.get_error_string)(code)),
            )
        };
        Err(CudaError::Call {
            call,
            code,
            name,
            message,
        })
    }
}

/// The files to try, in order: the soname (already loaded, or on the library path), then the folder
/// of the ORT library (symlinks resolved, as ORT itself resolves its providers).
pub fn candidates(ort_library: Option<&Path>) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from(CUDART_SONAME)];
    if let Some(dir) = ort_library
        .map(|l| std::fs::canonicalize(l).unwrap_or_else(|_| l.to_path_buf()))
        .and_then(|l| l.parent().map(Path::to_path_buf))
    {
        let p = dir.join(CUDART_SONAME);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// What the dynamic linker said (libloading's own text is only "dlopen failed"), starting with
/// the file it was about.
fn dl_error(origin: &str, e: &libloading::Error) -> String {
    let why = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_else(|| e.to_string());
    if why.starts_with(origin) {
        why
    } else {
        format!("{origin}: {why}")
    }
}

/// A symbol's function pointer, copied out of the library (valid while the library stays loaded).
///
/// # Safety
/// `T` is the C signature of `name` in the CUDA runtime API.
unsafe fn symbol<T: Copy>(
    lib: &libloading::Library,
    origin: &str,
    name: &'static str,
) -> Result<T, CudaError> {
    // SAFETY: per the caller, the symbol has signature T.
    unsafe { lib.get::<T>(name) }
        .map(|s| *s)
        .map_err(|e| CudaError::MissingSymbol {
            origin: origin.to_string(),
            symbol: name,
            detail: dl_error(origin, &e),
        })
}

fn open(path: &Path) -> Result<Cuda, CudaError> {
    let origin = path.display().to_string();
    // A plain file name goes through the dynamic linker's search (and finds a mapped copy); a path
    // that does not exist is reported as such rather than as a dlopen message.
    if path.components().count() > 1 && !path.exists() {
        return Err(CudaError::Unavailable {
            attempts: vec![format!("{origin}: no such file")],
        });
    }
    // SAFETY: loading libcudart runs its initialisers, which only set up the runtime's own state.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| CudaError::Unavailable {
        attempts: vec![dl_error(&origin, &e)],
    })?;
    // SAFETY: every `symbol` call below pairs a runtime function with its cuda_runtime_api.h type.
    let api = unsafe {
        Api {
            runtime_get_version: symbol(&lib, &origin, "cudaRuntimeGetVersion")?,
            get_device_count: symbol(&lib, &origin, "cudaGetDeviceCount")?,
            get_device: symbol(&lib, &origin, "cudaGetDevice")?,
            set_device: symbol(&lib, &origin, "cudaSetDevice")?,
            get_last_error: symbol(&lib, &origin, "cudaGetLastError")?,
            get_error_name: symbol(&lib, &origin, "cudaGetErrorName")?,
            get_error_string: symbol(&lib, &origin, "cudaGetErrorString")?,
            pointer_get_attributes: symbol(&lib, &origin, "cudaPointerGetAttributes")?,
            malloc: symbol(&lib, &origin, "cudaMalloc")?,
            free: symbol(&lib, &origin, "cudaFree")?,
            malloc_async: symbol(&lib, &origin, "cudaMallocAsync")?,
            free_async: symbol(&lib, &origin, "cudaFreeAsync")?,
            memset_2d_async: symbol(&lib, &origin, "cudaMemset2DAsync")?,
            memcpy_2d: symbol(&lib, &origin, "cudaMemcpy2D")?,
            memcpy_2d_async: symbol(&lib, &origin, "cudaMemcpy2DAsync")?,
            stream_synchronize: symbol(&lib, &origin, "cudaStreamSynchronize")?,
            stream_wait_event: symbol(&lib, &origin, "cudaStreamWaitEvent")?,
            event_create_with_flags: symbol(&lib, &origin, "cudaEventCreateWithFlags")?,
            event_record: symbol(&lib, &origin, "cudaEventRecord")?,
            event_query: symbol(&lib, &origin, "cudaEventQuery")?,
            event_synchronize: symbol(&lib, &origin, "cudaEventSynchronize")?,
            event_destroy: symbol(&lib, &origin, "cudaEventDestroy")?,
            mem_get_info: symbol(&lib, &origin, "cudaMemGetInfo")?,
        }
    };
    let mut version = 0;
    // SAFETY: valid out pointer; the call needs no device.
    let code = unsafe { (api.runtime_get_version)(&mut version) };
    let cuda = Cuda {
        api,
        origin,
        version,
        _lib: lib,
    };
    cuda.check("cudaRuntimeGetVersion", code)?;
    Ok(cuda)
}

/// Loads the first candidate that is a usable CUDA runtime. Err lists every attempt.
pub fn load_from(candidates: &[PathBuf]) -> Result<Cuda, CudaError> {
    let mut attempts = Vec::new();
    for c in candidates {
        match open(c) {
            Ok(cuda) => return Ok(cuda),
            Err(CudaError::Unavailable { attempts: a }) => attempts.extend(a),
            Err(e) => attempts.push(e.to_string()),
        }
    }
    Err(CudaError::Unavailable { attempts })
}

/// The process's CUDA runtime: loaded on the first successful call, then the same one every time.
pub fn load(ort_library: Option<&Path>) -> Result<&'static Cuda, CudaError> {
    static LOADED: Mutex<Option<&'static Cuda>> = parking_lot::const_mutex(None);
    let mut g = LOADED.lock();
    if let Some(c) = *g {
        return Ok(c);
    }
    let cuda: &'static Cuda = Box::leak(Box::new(load_from(&candidates(ort_library))?));
    *g = Some(cuda);
    Ok(cuda)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_try_the_soname_then_the_ort_folder() {
        let c = candidates(Some(Path::new("/opt/bundle/bin/libonnxruntime.so.1.31.1")));
        assert_eq!(
            c,
            vec![
                PathBuf::from(CUDART_SONAME),
                PathBuf::from("/opt/bundle/bin").join(CUDART_SONAME)
            ]
        );
        assert_eq!(candidates(None), vec![PathBuf::from(CUDART_SONAME)]);
    }

    #[test]
    fn a_missing_runtime_names_every_attempt() {
        let dir = std::env::temp_dir().join(format!("ck-cudart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A file with the right name that is not a shared object.
        let fake = dir.join(CUDART_SONAME);
        std::fs::write(&fake, b"not an ELF file").unwrap();
        let missing = dir.join("nowhere").join(CUDART_SONAME);
        let err = load_from(&[
            PathBuf::from("libcudart-corridorkey-test.so.0"),
            missing.clone(),
            fake.clone(),
        ])
        .unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        let CudaError::Unavailable { attempts } = &err else {
            panic!("expected Unavailable, got {err:?}");
        };
        assert_eq!(attempts.len(), 3, "{attempts:?}");
        assert!(attempts[0].starts_with("libcudart-corridorkey-test.so.0: "));
        assert_eq!(attempts[1], format!("{}: no such file", missing.display()));
        assert!(attempts[2].starts_with(&fake.display().to_string()));
        assert!(err.is_unavailable() && !err.is_out_of_memory());
        let text = err.to_string();
        assert!(
            text.starts_with("the CUDA runtime could not be loaded ("),
            "{text}"
        );
    }

    #[test]
    fn a_library_without_the_runtime_calls_is_not_a_runtime() {
        // libc loads but has no cudaRuntimeGetVersion.
        let err = load_from(&[PathBuf::from("libc.so.6")]).unwrap_err();
        let CudaError::Unavailable { attempts } = &err else {
            panic!("expected Unavailable, got {err:?}");
        };
        assert!(
            attempts[0].contains("cudaRuntimeGetVersion is missing"),
            "{attempts:?}"
        );
    }
}
