//! Image effects (descriptors and instances), their clips, the images clipGetImage hands out, and
//! the OfxImageEffectSuiteV1.

use super::image::{HostImage, HostMemory};
use super::memory::image_memory;
use super::params::ParamSet;
use super::props::{c_str, guard, PropSet};
use super::registry::{self, Kind};
use super::status::{self as st, Status};
use openfx_sys::{
    OfxImageClipHandle, OfxImageEffectHandle, OfxImageEffectSuiteV1, OfxImageMemoryHandle,
    OfxParamSetHandle, OfxPropertySetHandle, OfxRectD, OfxTime,
};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// What a clip hands the plugin for clipGetImage.
#[derive(Clone, Default)]
pub enum ClipSource {
    /// Unconnected: kOfxImageClipPropConnected 0 and clipGetImage fails.
    #[default]
    Unconnected,
    /// Connected, but clipGetImage returns kOfxStatOK with a NULL image (Resolve).
    NullImage,
    /// Connected with images: per frame (time rounded to 1/1000) or one for every time.
    Images {
        per_frame: HashMap<i64, Arc<HostImage>>,
        any: Option<Arc<HostImage>>,
    },
}

/// Loads a clip's image for a time the host was not given beforehand (a frame of a sequence on
/// disk); None = no such frame.
pub type FrameLoader = Arc<dyn Fn(f64) -> Option<Arc<HostImage>> + Send + Sync>;

pub(crate) fn time_key(t: f64) -> i64 {
    (t * 1000.0).round() as i64
}

pub struct Clip {
    name: String,
    props: Arc<PropSet>,
    source: Mutex<ClipSource>,
    /// Region of definition (canonical coordinates) clipGetRegionOfDefinition reports.
    rod: Mutex<Option<[f64; 4]>>,
    get_image_calls: AtomicUsize,
    /// Frames at other times than the render's (temporal clip access).
    loader: Mutex<Option<FrameLoader>>,
    /// The time of the render in progress: images at any other time are given only to a clip that
    /// declared kOfxImageEffectPropTemporalClipAccess.
    render_time: Mutex<Option<f64>>,
}

impl Drop for Clip {
    fn drop(&mut self) {
        registry::unregister(self as *const Clip as usize);
    }
}

impl Clip {
    fn new(name: &str, props: Arc<PropSet>) -> Arc<Clip> {
        let c = Arc::new(Clip {
            name: name.to_owned(),
            props,
            source: Mutex::new(ClipSource::Unconnected),
            rod: Mutex::new(None),
            get_image_calls: AtomicUsize::new(0),
            loader: Mutex::new(None),
            render_time: Mutex::new(None),
        });
        registry::register(Arc::as_ptr(&c) as usize, Kind::Clip);
        c
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn props(&self) -> &Arc<PropSet> {
        &self.props
    }
    pub fn handle(&self) -> OfxImageClipHandle {
        self as *const Clip as OfxImageClipHandle
    }
    /// Sets what the clip hands out and its kOfxImageClipPropConnected.
    pub fn set_source(&self, src: ClipSource) {
        let connected = !matches!(src, ClipSource::Unconnected);
        self.props
            .set_int("OfxImageClipPropConnected", &[connected as i32]);
        *self.source.lock() = src;
    }
    /// Adds (or replaces) the image for one frame, keeping the other frames (concurrent renders).
    pub fn insert_frame(&self, time: f64, img: Arc<HostImage>) {
        let mut g = self.source.lock();
        match &mut *g {
            ClipSource::Images { per_frame, .. } => {
                per_frame.insert(time_key(time), img);
            }
            other => {
                *other = ClipSource::Images {
                    per_frame: HashMap::from([(time_key(time), img)]),
                    any: None,
                }
            }
        }
        drop(g);
        self.props.set_int("OfxImageClipPropConnected", &[1]);
    }
    /// Removes one frame's image, returning it.
    pub fn take_frame(&self, time: f64) -> Option<Arc<HostImage>> {
        match &mut *self.source.lock() {
            ClipSource::Images { per_frame, .. } => per_frame.remove(&time_key(time)),
            _ => None,
        }
    }
    pub fn source(&self) -> ClipSource {
        self.source.lock().clone()
    }
    pub fn set_rod(&self, rod: Option<[f64; 4]>) {
        *self.rod.lock() = rod;
    }
    pub fn rod(&self) -> Option<[f64; 4]> {
        *self.rod.lock()
    }
    pub fn get_image_calls(&self) -> usize {
        self.get_image_calls.load(Ordering::SeqCst)
    }
    /// Sets (or removes) the loader of frames at other times than the render's.
    pub fn set_loader(&self, loader: Option<FrameLoader>) {
        *self.loader.lock() = loader;
    }
    /// Sets (or clears) the time of the render in progress.
    pub fn set_render_time(&self, time: Option<f64>) {
        *self.render_time.lock() = time;
    }
    /// Whether the plugin declared temporal clip access on this clip.
    pub fn temporal_access(&self) -> bool {
        self.props
            .get_int("OfxImageEffectPropTemporalClipAccess")
            .is_some_and(|v| v.first() == Some(&1))
    }
    /// The image for `time`: as the clip's source says for the render's own time; at another time
    /// only with temporal clip access (refused otherwise, as the spec allows), from the loader when
    /// there is one. Err(()) = refused.
    fn image_at(&self, time: f64) -> Result<Option<Arc<HostImage>>, ()> {
        let other = self
            .render_time
            .lock()
            .is_some_and(|r| time_key(r) != time_key(time));
        if other && !self.temporal_access() {
            return Err(());
        }
        let (per_frame, any) = match &*self.source.lock() {
            ClipSource::Unconnected => return Err(()),
            ClipSource::NullImage => return Ok(None),
            ClipSource::Images { per_frame, any } => {
                (per_frame.get(&time_key(time)).cloned(), any.clone())
            }
        };
        let loader = self.loader.lock().clone();
        match (per_frame, loader) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(load)) if other => load(time).map(Some).ok_or(()),
            (None, _) => any.map(Some).ok_or(()),
        }
    }
}

/// A message the plugin posted (message suite).
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub kind: String,
    pub id: String,
    pub text: String,
}

/// A progress suite call.
#[derive(Clone, Debug, PartialEq)]
pub enum ProgressEvent {
    Start(String),
    Update(f64),
    End,
}

/// Host callback for OfxImageEffectSuiteV1::abort.
pub type AbortFn = Arc<dyn Fn() -> bool + Send + Sync>;

/// An image effect descriptor or instance; its address is the OfxImageEffectHandle.
pub struct Effect {
    props: Arc<PropSet>,
    params: Arc<ParamSet>,
    clips: Mutex<Vec<Arc<Clip>>>,
    abort: Mutex<Option<AbortFn>>,
    abort_calls: AtomicUsize,
    messages: Mutex<Vec<Message>>,
    persistent: Mutex<Option<Message>>,
    progress: Mutex<Vec<ProgressEvent>>,
}

impl Drop for Effect {
    fn drop(&mut self) {
        registry::unregister(self as *const Effect as usize);
    }
}

impl Effect {
    fn with(props: Arc<PropSet>, params: Arc<ParamSet>) -> Arc<Effect> {
        let e = Arc::new(Effect {
            props,
            params,
            clips: Mutex::new(Vec::new()),
            abort: Mutex::new(None),
            abort_calls: AtomicUsize::new(0),
            messages: Mutex::new(Vec::new()),
            persistent: Mutex::new(None),
            progress: Mutex::new(Vec::new()),
        });
        registry::register(Arc::as_ptr(&e) as usize, Kind::Effect);
        e
    }

    /// A fresh descriptor (what describe / describeInContext fill in).
    pub fn new_descriptor(props: Arc<PropSet>) -> Arc<Effect> {
        let params = ParamSet::new(props.clone());
        Effect::with(props, params)
    }

    /// An instance of a context descriptor: copies of its props, params (at their defaults) and
    /// clips. The caller adds the host-side instance and clip properties.
    pub fn instantiate(desc: &Effect) -> Arc<Effect> {
        let props = desc.props.duplicate();
        let params = desc.params.instantiate(props.clone());
        let e = Effect::with(props, params);
        for c in desc.clips() {
            let clip = Clip::new(&c.name, c.props.duplicate());
            clip.set_source(ClipSource::Unconnected);
            e.clips.lock().push(clip);
        }
        e
    }

    pub fn handle(&self) -> OfxImageEffectHandle {
        self as *const Effect as OfxImageEffectHandle
    }
    pub fn props(&self) -> &Arc<PropSet> {
        &self.props
    }
    pub fn params(&self) -> &Arc<ParamSet> {
        &self.params
    }
    pub fn clips(&self) -> Vec<Arc<Clip>> {
        self.clips.lock().clone()
    }
    pub fn clip(&self, name: &str) -> Option<Arc<Clip>> {
        self.clips.lock().iter().find(|c| c.name == name).cloned()
    }
    pub fn set_abort(&self, f: Option<AbortFn>) {
        *self.abort.lock() = f;
    }
    pub fn abort_calls(&self) -> usize {
        self.abort_calls.load(Ordering::SeqCst)
    }
    pub fn messages(&self) -> Vec<Message> {
        self.messages.lock().clone()
    }
    pub fn clear_messages(&self) {
        self.messages.lock().clear();
    }
    pub fn persistent_message(&self) -> Option<Message> {
        self.persistent.lock().clone()
    }
    pub fn progress_events(&self) -> Vec<ProgressEvent> {
        self.progress.lock().clone()
    }
    pub(crate) fn push_message(&self, m: Message) {
        self.messages.lock().push(m);
    }
    pub(crate) fn set_persistent(&self, m: Option<Message>) {
        *self.persistent.lock() = m;
    }
    pub(crate) fn push_progress(&self, p: ProgressEvent) {
        self.progress.lock().push(p);
    }
}

/// Resolves an effect handle, if live.
pub(crate) fn effect_of<'a>(h: *const c_void) -> Option<&'a Effect> {
    if !registry::is_live(h as usize, Kind::Effect) {
        return None;
    }
    // SAFETY: the registry says this is a live Effect, kept alive by the host's Arc.
    Some(unsafe { &*(h as *const Effect) })
}

fn clip_of<'a>(h: OfxImageClipHandle) -> Option<&'a Clip> {
    if !registry::is_live(h as usize, Kind::Clip) {
        return None;
    }
    // SAFETY: the registry says this is a live Clip, kept alive by its effect.
    Some(unsafe { &*(h as *const Clip) })
}

/// Images handed out by clipGetImage and not yet released: handle -> (property set, image).
type Outstanding = HashMap<usize, (Arc<PropSet>, Arc<HostImage>)>;
fn outstanding() -> &'static Mutex<Outstanding> {
    static M: OnceLock<Mutex<Outstanding>> = OnceLock::new();
    M.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Image property sets the plugin has not released, over the whole process.
pub fn unreleased_images() -> usize {
    outstanding().lock().len()
}

fn image_props(img: &HostImage, uid: &str) -> Arc<PropSet> {
    let p = PropSet::new();
    let b = img.bounds();
    p.set_str("OfxPropType", &["OfxTypeImage"]);
    p.set_str("OfxImageEffectPropPixelDepth", &[img.depth().ofx_name()]);
    p.set_str(
        "OfxImageEffectPropComponents",
        &[img.components().ofx_name()],
    );
    p.set_str(
        "OfxImageEffectPropPreMultiplication",
        &[&img.premultiplication],
    );
    p.set_double("OfxImageEffectPropRenderScale", &img.render_scale);
    p.set_double("OfxImagePropPixelAspectRatio", &[1.0]);
    p.set_pointer("OfxImagePropData", &[img.data_ptr() as usize]);
    p.set_int("OfxImagePropBounds", &b);
    p.set_int("OfxImagePropRegionOfDefinition", &b);
    p.set_int("OfxImagePropRowBytes", &[img.row_bytes() as i32]);
    p.set_str("OfxImagePropField", &["OfxImageFieldNone"]);
    p.set_str("OfxImagePropUniqueIdentifier", &[uid]);
    p
}

/// # Safety
/// `out` must be NULL or writable.
unsafe fn put<T>(out: *mut T, v: T) {
    if !out.is_null() {
        // SAFETY: per the caller.
        unsafe { *out = v };
    }
}

unsafe extern "C" fn get_property_set(
    e: OfxImageEffectHandle,
    out: *mut OfxPropertySetHandle,
) -> Status {
    guard(|| {
        let Some(e) = effect_of(e as *const c_void) else {
            return st::ERR_BAD_HANDLE;
        };
        // SAFETY: out pointer per the OFX API.
        unsafe { put(out, e.props.handle()) };
        st::OK
    })
}

unsafe extern "C" fn get_param_set(e: OfxImageEffectHandle, out: *mut OfxParamSetHandle) -> Status {
    guard(|| {
        let Some(e) = effect_of(e as *const c_void) else {
            return st::ERR_BAD_HANDLE;
        };
        // SAFETY: out pointer per the OFX API.
        unsafe { put(out, e.params.handle()) };
        st::OK
    })
}

unsafe extern "C" fn clip_define(
    e: OfxImageEffectHandle,
    name: *const c_char,
    out: *mut OfxPropertySetHandle,
) -> Status {
    guard(|| {
        let Some(e) = effect_of(e as *const c_void) else {
            return st::ERR_BAD_HANDLE;
        };
        // SAFETY: C string per the OFX API.
        let Some(n) = (unsafe { c_str(name) }) else {
            return st::ERR_UNKNOWN;
        };
        let mut clips = e.clips.lock();
        if clips.iter().any(|c| c.name == n) {
            return st::ERR_EXISTS;
        }
        let props = PropSet::new();
        props.set_str("OfxPropType", &["OfxTypeClip"]);
        props.set_str("OfxPropName", &[n]);
        props.set_str("OfxPropLabel", &[n]);
        props.set_int("OfxImageClipPropOptional", &[0]);
        props.set_int("OfxImageClipPropIsMask", &[0]);
        props.set_int("OfxImageEffectPropSupportsTiles", &[1]);
        props.set_int("OfxImageEffectPropTemporalClipAccess", &[0]);
        props.set_str("OfxImageClipPropFieldExtraction", &["OfxImageFieldDoubled"]);
        props.seal_defaults();
        let clip = Clip::new(n, props);
        // SAFETY: out pointer per the OFX API.
        unsafe { put(out, clip.props.handle()) };
        clips.push(clip);
        st::OK
    })
}

unsafe extern "C" fn clip_get_handle(
    e: OfxImageEffectHandle,
    name: *const c_char,
    clip: *mut OfxImageClipHandle,
    props: *mut OfxPropertySetHandle,
) -> Status {
    guard(|| {
        let Some(e) = effect_of(e as *const c_void) else {
            return st::ERR_BAD_HANDLE;
        };
        // SAFETY: C string per the OFX API.
        let Some(n) = (unsafe { c_str(name) }) else {
            return st::ERR_UNKNOWN;
        };
        let Some(c) = e.clip(n) else {
            return st::ERR_UNKNOWN;
        };
        // SAFETY: out pointers per the OFX API.
        unsafe {
            put(clip, c.handle());
            put(props, c.props.handle());
        }
        st::OK
    })
}

unsafe extern "C" fn clip_get_property_set(
    clip: OfxImageClipHandle,
    out: *mut OfxPropertySetHandle,
) -> Status {
    guard(|| {
        let Some(c) = clip_of(clip) else {
            return st::ERR_BAD_HANDLE;
        };
        // SAFETY: out pointer per the OFX API.
        unsafe { put(out, c.props.handle()) };
        st::OK
    })
}

unsafe extern "C" fn clip_get_image(
    clip: OfxImageClipHandle,
    time: OfxTime,
    _region: *const OfxRectD,
    out: *mut OfxPropertySetHandle,
) -> Status {
    guard(|| {
        let Some(c) = clip_of(clip) else {
            return st::ERR_BAD_HANDLE;
        };
        if out.is_null() {
            return st::ERR_VALUE;
        }
        c.get_image_calls.fetch_add(1, Ordering::SeqCst);
        let Ok(img) = c.image_at(time) else {
            // SAFETY: out pointer checked non-null above.
            unsafe { *out = std::ptr::null_mut() };
            return st::FAILED;
        };
        let Some(img) = img else {
            // SAFETY: out pointer checked non-null above.
            unsafe { *out = std::ptr::null_mut() };
            return st::OK;
        };
        let uid = format!("{}@{}", c.name, time);
        let props = image_props(&img, &uid);
        img.acquire();
        let h = props.handle();
        outstanding().lock().insert(h as usize, (props, img));
        // SAFETY: out pointer checked non-null above.
        unsafe { *out = h };
        st::OK
    })
}

unsafe extern "C" fn clip_release_image(h: OfxPropertySetHandle) -> Status {
    guard(|| match outstanding().lock().remove(&(h as usize)) {
        Some((_props, img)) => {
            img.release();
            st::OK
        }
        None => st::ERR_BAD_HANDLE,
    })
}

unsafe extern "C" fn clip_get_rod(
    clip: OfxImageClipHandle,
    time: OfxTime,
    out: *mut OfxRectD,
) -> Status {
    guard(|| {
        let Some(c) = clip_of(clip) else {
            return st::ERR_BAD_HANDLE;
        };
        let rod = c.rod().or_else(|| match &*c.source.lock() {
            ClipSource::Images { per_frame, any } => {
                per_frame.get(&time_key(time)).or(any.as_ref()).map(|i| {
                    let b = i.bounds();
                    let (sx, sy) = (i.render_scale[0], i.render_scale[1]);
                    [
                        b[0] as f64 / sx,
                        b[1] as f64 / sy,
                        b[2] as f64 / sx,
                        b[3] as f64 / sy,
                    ]
                })
            }
            _ => None,
        });
        let r = rod.unwrap_or([0.0; 4]);
        // SAFETY: out pointer per the OFX API.
        unsafe {
            put(
                out,
                OfxRectD {
                    x1: r[0],
                    y1: r[1],
                    x2: r[2],
                    y2: r[3],
                },
            )
        };
        st::OK
    })
}

unsafe extern "C" fn abort(e: OfxImageEffectHandle) -> c_int {
    let r = std::panic::catch_unwind(|| {
        let Some(e) = effect_of(e as *const c_void) else {
            return 0;
        };
        e.abort_calls.fetch_add(1, Ordering::SeqCst);
        let f = e.abort.lock().clone();
        f.map(|f| f() as c_int).unwrap_or(0)
    });
    r.unwrap_or(0)
}

unsafe extern "C" fn image_memory_alloc(
    _e: OfxImageEffectHandle,
    n: usize,
    out: *mut OfxImageMemoryHandle,
) -> Status {
    guard(|| {
        if out.is_null() {
            return st::ERR_VALUE;
        }
        let m = Box::new(HostMemory::new(n));
        let h = &*m as *const HostMemory as usize;
        image_memory().lock().insert(h, m);
        // SAFETY: out checked non-null.
        unsafe { *out = h as OfxImageMemoryHandle };
        st::OK
    })
}
unsafe extern "C" fn image_memory_free(h: OfxImageMemoryHandle) -> Status {
    guard(|| match image_memory().lock().remove(&(h as usize)) {
        Some(_) => st::OK,
        None => st::ERR_BAD_HANDLE,
    })
}
unsafe extern "C" fn image_memory_lock(h: OfxImageMemoryHandle, out: *mut *mut c_void) -> Status {
    guard(|| {
        let t = image_memory().lock();
        let Some(m) = t.get(&(h as usize)) else {
            // SAFETY: out pointer per the OFX API.
            unsafe { put(out, std::ptr::null_mut()) };
            return st::ERR_BAD_HANDLE;
        };
        m.locks.fetch_add(1, Ordering::SeqCst);
        // SAFETY: out pointer per the OFX API.
        unsafe { put(out, m.ptr() as *mut c_void) };
        st::OK
    })
}
unsafe extern "C" fn image_memory_unlock(h: OfxImageMemoryHandle) -> Status {
    guard(|| {
        let t = image_memory().lock();
        let Some(m) = t.get(&(h as usize)) else {
            return st::ERR_BAD_HANDLE;
        };
        let _ = m
            .locks
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1));
        st::OK
    })
}

pub(crate) static IMAGE_EFFECT_SUITE: OfxImageEffectSuiteV1 = OfxImageEffectSuiteV1 {
    getPropertySet: Some(get_property_set),
    getParamSet: Some(get_param_set),
    clipDefine: Some(clip_define),
    clipGetHandle: Some(clip_get_handle),
    clipGetPropertySet: Some(clip_get_property_set),
    clipGetImage: Some(clip_get_image),
    clipReleaseImage: Some(clip_release_image),
    clipGetRegionOfDefinition: Some(clip_get_rod),
    abort: Some(abort),
    imageMemoryAlloc: Some(image_memory_alloc),
    imageMemoryFree: Some(image_memory_free),
    imageMemoryLock: Some(image_memory_lock),
    imageMemoryUnlock: Some(image_memory_unlock),
};

#[cfg(test)]
mod temporal_tests {
    use super::*;
    use crate::image::{BitDepth, Components};

    fn image(x: i32) -> Arc<HostImage> {
        Arc::new(HostImage::new(
            [0, 0, x, 1],
            BitDepth::Float,
            Components::Rgba,
            false,
            0,
        ))
    }

    /// Another frame than the render's only with temporal access; from the loader when there is one.
    #[test]
    fn other_frames_need_temporal_access() {
        let props = PropSet::new();
        props.set_int("OfxImageEffectPropTemporalClipAccess", &[0]);
        let clip = Clip::new("Source", props.clone());
        clip.set_source(ClipSource::Images {
            per_frame: HashMap::new(),
            any: Some(image(1)),
        });
        let loader: FrameLoader = Arc::new(|t| (t >= 0.0).then(|| image(2 + t as i32)));
        clip.set_loader(Some(loader));
        clip.set_render_time(Some(5.0));
        let width = |r: Result<Option<Arc<HostImage>>, ()>| r.map(|i| i.map(|i| i.width()));
        assert_eq!(width(clip.image_at(5.0)), Ok(Some(1)));
        assert_eq!(width(clip.image_at(4.0)), Err(()));
        props.set_int("OfxImageEffectPropTemporalClipAccess", &[1]);
        assert_eq!(width(clip.image_at(4.0)), Ok(Some(6)));
        assert_eq!(width(clip.image_at(-1.0)), Err(()));
        assert_eq!(width(clip.image_at(5.0)), Ok(Some(1)));
        // Outside a render (the host asking for itself) every time is the clip's source.
        clip.set_render_time(None);
        assert_eq!(width(clip.image_at(4.0)), Ok(Some(1)));
    }
}
