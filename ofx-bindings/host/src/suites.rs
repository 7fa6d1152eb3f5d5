//! The host object (OfxHost, its properties, fetchSuite) and the small suites: memory,
//! multithread, message (V1, V2) and progress (V1, V2).

use super::effect::{effect_of, Message, ProgressEvent, IMAGE_EFFECT_SUITE};
use super::image::{BitDepth, Components, HostMemory};
use super::memory::plain_memory;
use super::params::{shim_param_kind, shim_param_read, shim_param_write, PARAMETER_SUITE};
use super::props::{c_str, guard, PropSet, PROPERTY_SUITE};
use super::status::{self as st, Status};
use openfx_sys::{
    OfxHost, OfxMemorySuiteV1, OfxMessageSuiteV1, OfxMessageSuiteV2, OfxMultiThreadSuiteV1,
    OfxMutexHandle, OfxProgressSuiteV1, OfxProgressSuiteV2, OfxPropertySetHandle,
    OfxThreadFunctionV1,
};
use parking_lot::{Condvar, Mutex};
use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void};
use std::sync::{Arc, Once, OnceLock};
use std::thread::ThreadId;

/// What the host claims to support. Defaults: a Natron/Nuke-like host with every feature.
#[derive(Clone, Debug)]
pub struct HostConfig {
    pub name: String,
    pub label: String,
    pub supports_tiles: bool,
    pub supports_multi_resolution: bool,
    pub supports_multiple_clip_depths: bool,
    pub temporal_clip_access: bool,
    pub depths: Vec<BitDepth>,
    pub components: Vec<Components>,
    pub contexts: Vec<String>,
    /// Offer OfxMessageSuite V2 (V1 is always offered).
    pub message_v2: bool,
    /// Resolve 14: V2 is offered but setPersistentMessage is NULL.
    pub null_persistent_message: bool,
    pub progress: bool,
    /// kOfxImageEffectPropCudaRenderSupported on the host ("false" by default; see
    /// [`HostConfig::with_cuda`]).
    pub cuda_render_supported: String,
    /// kOfxImageEffectPropCudaStreamSupported on the host ("false" by default).
    pub cuda_stream_supported: String,
    /// The depth of every image the host hands out, whatever getClipPreferences asked for (MLT:
    /// 8-bit RGBA). None: the host converts to the requested depth.
    pub fixed_depth: Option<BitDepth>,
    /// The Output clip's kOfxImageEffectPropPreMultiplication as the host sets it after
    /// getClipPreferences, whatever the plugin declared (MLT: "OfxImageAlphaUnPremultiplied", it
    /// composites straight alpha). None: the plugin's declaration stands.
    pub output_premultiplication: Option<String>,
}

impl HostConfig {
    /// Offers OFX CUDA render and CUDA streams, as Resolve does on NVIDIA, when CUDA is usable in
    /// this process (a runtime and a device); otherwise the config is left as it is.
    pub fn with_cuda(mut self) -> Self {
        if crate::cuda::cuda().is_ok() {
            self.cuda_render_supported = "true".into();
            self.cuda_stream_supported = "true".into();
        }
        self
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            name: "org.corridorkey.ofx-test-host".into(),
            label: "CorridorKey test host".into(),
            supports_tiles: true,
            supports_multi_resolution: true,
            supports_multiple_clip_depths: false,
            temporal_clip_access: true,
            depths: vec![BitDepth::Float, BitDepth::Short, BitDepth::Byte],
            components: vec![Components::Rgba, Components::Alpha, Components::Rgb],
            contexts: vec![
                "OfxImageEffectContextFilter".into(),
                "OfxImageEffectContextGeneral".into(),
            ],
            message_v2: true,
            null_persistent_message: false,
            progress: true,
            cuda_render_supported: "false".into(),
            cuda_stream_supported: "false".into(),
            fixed_depth: None,
            output_premultiplication: None,
        }
    }
}

/// A host: its OfxHost struct (leaked: plugins keep the pointer for the life of the process), its
/// property set, its config, and messages posted with a NULL or unknown handle.
pub struct HostState {
    /// Address of the leaked OfxHost.
    ofx: usize,
    props: Arc<PropSet>,
    config: HostConfig,
    global_messages: Mutex<Vec<Message>>,
    fetched: Mutex<Vec<(String, i32)>>,
}

fn hosts() -> &'static Mutex<HashMap<usize, Arc<HostState>>> {
    static H: OnceLock<Mutex<HashMap<usize, Arc<HostState>>>> = OnceLock::new();
    H.get_or_init(|| Mutex::new(HashMap::new()))
}

fn install_shim() {
    static ONCE: Once = Once::new();
    extern "C" {
        fn ck_shim_install(
            kind: unsafe extern "C" fn(*mut c_void, *mut c_int, *mut c_int) -> Status,
            read: unsafe extern "C" fn(
                *mut c_void,
                c_int,
                f64,
                *mut f64,
                *mut c_int,
                *mut *const c_char,
            ) -> Status,
            write: unsafe extern "C" fn(
                *mut c_void,
                c_int,
                f64,
                *const f64,
                *const c_int,
                *const c_char,
            ) -> Status,
            message: unsafe extern "C" fn(
                *mut c_void,
                *const c_char,
                *const c_char,
                *const c_char,
                c_int,
            ) -> Status,
        );
    }
    // SAFETY: installs plain function pointers into shim.c's statics, once, before any plugin runs.
    ONCE.call_once(|| unsafe {
        ck_shim_install(
            shim_param_kind,
            shim_param_read,
            shim_param_write,
            shim_message,
        )
    });
}

impl HostState {
    pub fn new(config: HostConfig) -> Arc<HostState> {
        install_shim();
        let p = PropSet::new();
        p.set_str("OfxPropType", &["OfxTypeImageEffectHost"]);
        p.set_str("OfxPropName", &[&config.name]);
        p.set_str("OfxPropLabel", &[&config.label]);
        p.set_int("OfxPropAPIVersion", &[1, 4]);
        p.set_int("OfxPropVersion", &[1, 0, 0]);
        p.set_str("OfxPropVersionLabel", &["1.0"]);
        p.set_int("OfxImageEffectHostPropIsBackground", &[0]);
        p.set_int("OfxImageEffectPropSupportsOverlays", &[0]);
        p.set_int(
            "OfxImageEffectPropSupportsMultiResolution",
            &[config.supports_multi_resolution as i32],
        );
        p.set_int(
            "OfxImageEffectPropSupportsTiles",
            &[config.supports_tiles as i32],
        );
        p.set_int(
            "OfxImageEffectPropTemporalClipAccess",
            &[config.temporal_clip_access as i32],
        );
        let comps: Vec<&str> = config.components.iter().map(|c| c.ofx_name()).collect();
        p.set_str("OfxImageEffectPropSupportedComponents", &comps);
        let ctx: Vec<&str> = config.contexts.iter().map(String::as_str).collect();
        p.set_str("OfxImageEffectPropSupportedContexts", &ctx);
        let depths: Vec<&str> = config.depths.iter().map(|d| d.ofx_name()).collect();
        p.set_str("OfxImageEffectPropSupportedPixelDepths", &depths);
        p.set_int(
            "OfxImageEffectPropMultipleClipDepths",
            &[config.supports_multiple_clip_depths as i32],
        );
        p.set_int("OfxImageEffectPropSupportsMultipleClipPARs", &[0]);
        p.set_int("OfxImageEffectPropSetableFrameRate", &[0]);
        p.set_int("OfxImageEffectPropSetableFielding", &[0]);
        p.set_int("OfxParamHostPropSupportsCustomInteract", &[0]);
        p.set_int("OfxParamHostPropSupportsStringAnimation", &[0]);
        p.set_int("OfxParamHostPropSupportsChoiceAnimation", &[0]);
        p.set_int("OfxParamHostPropSupportsBooleanAnimation", &[0]);
        p.set_int("OfxParamHostPropSupportsCustomAnimation", &[0]);
        p.set_int("OfxParamHostPropSupportsParametricAnimation", &[0]);
        p.set_int("OfxParamHostPropMaxParameters", &[-1]);
        p.set_int("OfxParamHostPropMaxPages", &[0]);
        p.set_int("OfxParamHostPropPageRowColumnCount", &[0, 0]);
        p.set_int("OfxImageEffectInstancePropSequentialRender", &[0]);
        p.set_int("OfxImageEffectPropRenderQualityDraft", &[0]);
        p.set_str(
            "OfxImageEffectHostPropNativeOrigin",
            &["kOfxImageEffectHostPropNativeOriginBottomLeft"],
        );
        p.set_str("OfxImageEffectPropOpenGLRenderSupported", &["false"]);
        p.set_str(
            "OfxImageEffectPropCudaRenderSupported",
            &[&config.cuda_render_supported],
        );
        p.set_str(
            "OfxImageEffectPropCudaStreamSupported",
            &[&config.cuda_stream_supported],
        );
        p.set_str("OfxImageEffectPropMetalRenderSupported", &["false"]);
        p.set_str("OfxImageEffectPropOpenCLRenderSupported", &["false"]);
        p.seal_defaults();
        let ofx = Box::leak(Box::new(OfxHost {
            host: p.handle(),
            fetchSuite: Some(fetch_suite),
        })) as *mut OfxHost as usize;
        let s = Arc::new(HostState {
            ofx,
            props: p.clone(),
            config,
            global_messages: Mutex::new(Vec::new()),
            fetched: Mutex::new(Vec::new()),
        });
        hosts().lock().insert(p.handle() as usize, s.clone());
        s
    }
    /// The `OfxHost*` handed to OfxSetHost / setHost.
    pub fn ofx_host(&self) -> *mut OfxHost {
        self.ofx as *mut OfxHost
    }
    pub fn props(&self) -> &Arc<PropSet> {
        &self.props
    }
    pub fn config(&self) -> &HostConfig {
        &self.config
    }
    /// Messages posted with a handle that is not a live effect (for example NULL).
    pub fn global_messages(&self) -> Vec<Message> {
        self.global_messages.lock().clone()
    }
    /// (suite name, version) of every fetchSuite call.
    pub fn fetched_suites(&self) -> Vec<(String, i32)> {
        self.fetched.lock().clone()
    }
}

static MESSAGE_V1: OfxMessageSuiteV1 = OfxMessageSuiteV1 {
    message: Some(ck_message),
};
static MESSAGE_V2: OfxMessageSuiteV2 = OfxMessageSuiteV2 {
    message: Some(ck_message),
    setPersistentMessage: Some(ck_set_persistent_message),
    clearPersistentMessage: Some(clear_persistent_message),
};
static MESSAGE_V2_NULL_PERSISTENT: OfxMessageSuiteV2 = OfxMessageSuiteV2 {
    message: Some(ck_message),
    setPersistentMessage: None,
    clearPersistentMessage: Some(clear_persistent_message),
};
static PROGRESS_V1: OfxProgressSuiteV1 = OfxProgressSuiteV1 {
    progressStart: Some(progress_start_v1),
    progressUpdate: Some(progress_update),
    progressEnd: Some(progress_end),
};
static PROGRESS_V2: OfxProgressSuiteV2 = OfxProgressSuiteV2 {
    progressStart: Some(progress_start_v2),
    progressUpdate: Some(progress_update),
    progressEnd: Some(progress_end),
};
static MEMORY: OfxMemorySuiteV1 = OfxMemorySuiteV1 {
    memoryAlloc: Some(memory_alloc),
    memoryFree: Some(memory_free),
};
static MULTITHREAD: OfxMultiThreadSuiteV1 = OfxMultiThreadSuiteV1 {
    multiThread: Some(multi_thread),
    multiThreadNumCPUs: Some(multi_thread_num_cpus),
    multiThreadIndex: Some(multi_thread_index),
    multiThreadIsSpawnedThread: Some(multi_thread_is_spawned),
    mutexCreate: Some(mutex_create),
    mutexDestroy: Some(mutex_destroy),
    mutexLock: Some(mutex_lock),
    mutexUnLock: Some(mutex_unlock),
    mutexTryLock: Some(mutex_try_lock),
};

unsafe extern "C" fn fetch_suite(
    host: OfxPropertySetHandle,
    name: *const c_char,
    version: c_int,
) -> *const c_void {
    let r = std::panic::catch_unwind(|| {
        let Some(h) = hosts().lock().get(&(host as usize)).cloned() else {
            return std::ptr::null();
        };
        // SAFETY: C string per the OFX API.
        let Some(n) = (unsafe { c_str(name) }) else {
            return std::ptr::null();
        };
        h.fetched.lock().push((n.to_owned(), version));
        let c = &h.config;
        fn p<T>(s: &'static T) -> *const c_void {
            s as *const T as *const c_void
        }
        match (n, version) {
            ("OfxPropertySuite", 1) => p(&PROPERTY_SUITE),
            ("OfxParameterSuite", 1) => p(&PARAMETER_SUITE),
            ("OfxImageEffectSuite", 1) => p(&IMAGE_EFFECT_SUITE),
            ("OfxMemorySuite", 1) => p(&MEMORY),
            ("OfxMultiThreadSuite", 1) => p(&MULTITHREAD),
            ("OfxMessageSuite", 1) => p(&MESSAGE_V1),
            ("OfxMessageSuite", 2) if c.message_v2 && c.null_persistent_message => {
                p(&MESSAGE_V2_NULL_PERSISTENT)
            }
            ("OfxMessageSuite", 2) if c.message_v2 => p(&MESSAGE_V2),
            ("OfxProgressSuite", 1) if c.progress => p(&PROGRESS_V1),
            ("OfxProgressSuite", 2) if c.progress => p(&PROGRESS_V2),
            _ => std::ptr::null(),
        }
    });
    r.unwrap_or(std::ptr::null())
}

// ---- message suite (the variadic entry points are in shim.c) ----

extern "C" {
    fn ck_message(
        handle: *mut c_void,
        t: *const c_char,
        id: *const c_char,
        fmt: *const c_char,
        ...
    ) -> Status;
    fn ck_set_persistent_message(
        handle: *mut c_void,
        t: *const c_char,
        id: *const c_char,
        fmt: *const c_char,
        ...
    ) -> Status;
}

unsafe extern "C" fn shim_message(
    handle: *mut c_void,
    kind: *const c_char,
    id: *const c_char,
    text: *const c_char,
    persistent: c_int,
) -> Status {
    guard(|| {
        // SAFETY: C strings (or NULL) from the plugin, formatted by shim.c.
        let (k, i, t) = unsafe { (c_str(kind), c_str(id), c_str(text)) };
        let m = Message {
            kind: k.unwrap_or("").to_owned(),
            id: i.unwrap_or("").to_owned(),
            text: t.unwrap_or("").to_owned(),
        };
        if std::env::var_os("OFX_TEST_HOST_ECHO").is_some() {
            eprintln!(
                "[ofx message{}] {}: {}",
                if persistent != 0 { " (persistent)" } else { "" },
                m.kind,
                m.text
            );
        }
        match effect_of(handle) {
            Some(e) if persistent != 0 => {
                e.set_persistent(Some(m));
                st::OK
            }
            Some(e) => {
                e.push_message(m);
                st::OK
            }
            None if persistent != 0 => st::ERR_BAD_HANDLE,
            None => {
                // Handle-less messages go to every host's log (there is one host per process in practice).
                for h in hosts().lock().values() {
                    h.global_messages.lock().push(m.clone());
                }
                st::OK
            }
        }
    })
}

unsafe extern "C" fn clear_persistent_message(handle: *mut c_void) -> Status {
    guard(|| match effect_of(handle) {
        Some(e) => {
            e.set_persistent(None);
            st::OK
        }
        None => st::ERR_BAD_HANDLE,
    })
}

// ---- progress ----

fn progress(handle: *mut c_void, ev: ProgressEvent) -> Status {
    guard(|| match effect_of(handle) {
        Some(e) => {
            e.push_progress(ev);
            st::OK
        }
        None => st::ERR_BAD_HANDLE,
    })
}
unsafe extern "C" fn progress_start_v1(h: *mut c_void, label: *const c_char) -> Status {
    // SAFETY: C string per the OFX API.
    let l = unsafe { c_str(label) }.unwrap_or("").to_owned();
    progress(h, ProgressEvent::Start(l))
}
unsafe extern "C" fn progress_start_v2(
    h: *mut c_void,
    label: *const c_char,
    _id: *const c_char,
) -> Status {
    // SAFETY: C string per the OFX API.
    let l = unsafe { c_str(label) }.unwrap_or("").to_owned();
    progress(h, ProgressEvent::Start(l))
}
unsafe extern "C" fn progress_update(h: *mut c_void, v: f64) -> Status {
    progress(h, ProgressEvent::Update(v))
}
unsafe extern "C" fn progress_end(h: *mut c_void) -> Status {
    progress(h, ProgressEvent::End)
}

// ---- memory ----

unsafe extern "C" fn memory_alloc(_h: *mut c_void, n: usize, out: *mut *mut c_void) -> Status {
    guard(|| {
        if out.is_null() {
            return st::ERR_VALUE;
        }
        let m = Box::new(HostMemory::new(n));
        let ptr = m.ptr();
        plain_memory().lock().insert(ptr as usize, m);
        // SAFETY: out checked non-null.
        unsafe { *out = ptr as *mut c_void };
        st::OK
    })
}
unsafe extern "C" fn memory_free(ptr: *mut c_void) -> Status {
    guard(|| match plain_memory().lock().remove(&(ptr as usize)) {
        Some(_) => st::OK,
        None => st::ERR_BAD_HANDLE,
    })
}

// ---- multithread ----

thread_local! {
    static THREAD_INDEX: Cell<Option<u32>> = const { Cell::new(None) };
}

unsafe extern "C" fn multi_thread(
    func: OfxThreadFunctionV1,
    n: c_uint,
    arg: *mut c_void,
) -> Status {
    guard(|| {
        let Some(f) = func else { return st::FAILED };
        if THREAD_INDEX.with(|t| t.get()).is_some() {
            return st::ERR_EXISTS;
        }
        let n = n.max(1);
        let arg = arg as usize;
        std::thread::scope(|s| {
            for i in 0..n {
                s.spawn(move || {
                    THREAD_INDEX.with(|t| t.set(Some(i)));
                    // SAFETY: calling the plugin's thread function as the OFX API prescribes, with the
                    // argument it gave us; multiThread returns only after every thread has returned.
                    unsafe { f(i, n, arg as *mut c_void) };
                });
            }
        });
        st::OK
    })
}
unsafe extern "C" fn multi_thread_num_cpus(n: *mut c_uint) -> Status {
    guard(|| {
        if n.is_null() {
            return st::ERR_VALUE;
        }
        let cpus = std::thread::available_parallelism()
            .map(|c| c.get())
            .unwrap_or(1) as c_uint;
        // SAFETY: checked non-null.
        unsafe { *n = cpus };
        st::OK
    })
}
unsafe extern "C" fn multi_thread_index(i: *mut c_uint) -> Status {
    guard(|| {
        if i.is_null() {
            return st::ERR_VALUE;
        }
        // SAFETY: checked non-null.
        unsafe { *i = THREAD_INDEX.with(|t| t.get()).unwrap_or(0) };
        st::OK
    })
}
unsafe extern "C" fn multi_thread_is_spawned() -> c_int {
    THREAD_INDEX.with(|t| t.get()).is_some() as c_int
}

/// A recursive, counted mutex as OFX describes it.
struct OfxMutex {
    state: Mutex<(Option<ThreadId>, i64)>,
    cv: Condvar,
}

fn mutex_table() -> &'static Mutex<HashMap<usize, Arc<OfxMutex>>> {
    static M: OnceLock<Mutex<HashMap<usize, Arc<OfxMutex>>>> = OnceLock::new();
    M.get_or_init(|| Mutex::new(HashMap::new()))
}
fn mutex_of(h: OfxMutexHandle) -> Option<Arc<OfxMutex>> {
    mutex_table().lock().get(&(h as usize)).cloned()
}
unsafe extern "C" fn mutex_create(out: *mut OfxMutexHandle, count: c_int) -> Status {
    guard(|| {
        if out.is_null() {
            return st::ERR_VALUE;
        }
        let owner = (count > 0).then(|| std::thread::current().id());
        let m = Arc::new(OfxMutex {
            state: Mutex::new((owner, count.max(0) as i64)),
            cv: Condvar::new(),
        });
        let h = Arc::as_ptr(&m) as usize;
        mutex_table().lock().insert(h, m);
        // SAFETY: checked non-null.
        unsafe { *out = h as OfxMutexHandle };
        st::OK
    })
}
unsafe extern "C" fn mutex_destroy(h: OfxMutexHandle) -> Status {
    guard(|| match mutex_table().lock().remove(&(h as usize)) {
        Some(_) => st::OK,
        None => st::ERR_BAD_HANDLE,
    })
}
unsafe extern "C" fn mutex_lock(h: OfxMutexHandle) -> Status {
    guard(|| {
        let Some(m) = mutex_of(h) else {
            return st::ERR_BAD_HANDLE;
        };
        let me = std::thread::current().id();
        let mut g = m.state.lock();
        while g.1 > 0 && g.0 != Some(me) {
            m.cv.wait(&mut g);
        }
        g.0 = Some(me);
        g.1 += 1;
        st::OK
    })
}
unsafe extern "C" fn mutex_unlock(h: OfxMutexHandle) -> Status {
    guard(|| {
        let Some(m) = mutex_of(h) else {
            return st::ERR_BAD_HANDLE;
        };
        let mut g = m.state.lock();
        if g.1 <= 0 || g.0 != Some(std::thread::current().id()) {
            return st::FAILED;
        }
        g.1 -= 1;
        if g.1 == 0 {
            g.0 = None;
            m.cv.notify_one();
        }
        st::OK
    })
}
unsafe extern "C" fn mutex_try_lock(h: OfxMutexHandle) -> Status {
    guard(|| {
        let Some(m) = mutex_of(h) else {
            return st::ERR_BAD_HANDLE;
        };
        let me = std::thread::current().id();
        let mut g = m.state.lock();
        if g.1 > 0 && g.0 != Some(me) {
            return st::FAILED;
        }
        g.0 = Some(me);
        g.1 += 1;
        st::OK
    })
}
