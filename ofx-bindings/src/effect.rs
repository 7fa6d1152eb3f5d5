//! Image effect handles: properties, clips, params, instance data, abort, messages, progress.

use std::any::Any;
use std::ffi::{c_void, CStr};
use std::ptr;

use openfx_sys::{
    OfxImageClipHandle, OfxImageEffectHandle, OfxParamSetHandle, OfxPropertySetHandle,
};

use crate::clip::Clip;
use crate::params::ParamSet;
use crate::props::{to_cstring, PropertySet};
use crate::status::{Error, Result, Status};
use crate::suites::{as_void, suites, Suites};

/// Per-instance data stored behind `kOfxPropInstanceData`.
pub type InstanceData = Box<dyn Any + Send + Sync>;

/// An image effect descriptor or instance handle.
#[derive(Clone, Copy, Debug)]
pub struct ImageEffect {
    handle: OfxImageEffectHandle,
    suites: Suites,
}

// SAFETY: an opaque host token; OFX lets the threads running the instance's actions use it.
unsafe impl Send for ImageEffect {}
// SAFETY: as above; no Rust-side mutable state.
unsafe impl Sync for ImageEffect {}

/// Message severities (`kOfxMessage*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    Fatal,
    Error,
    Warning,
    Message,
    Log,
    Question,
}

impl MessageKind {
    pub fn name(self) -> &'static CStr {
        match self {
            MessageKind::Fatal => crate::k!(kOfxMessageFatal),
            MessageKind::Error => crate::k!(kOfxMessageError),
            MessageKind::Warning => crate::k!(kOfxMessageWarning),
            MessageKind::Message => crate::k!(kOfxMessageMessage),
            MessageKind::Log => crate::k!(kOfxMessageLog),
            MessageKind::Question => crate::k!(kOfxMessageQuestion),
        }
    }
}

fn missing(what: &str) -> Error {
    Error::new(Status::ErrMissingHostFeature, format!("host lacks {what}"))
}

/// Posts a message not tied to an effect (NULL handle is allowed by the spec).
pub fn post_global_message(kind: MessageKind, id: &str, text: &str) -> Result<()> {
    post_message(suites()?, ptr::null_mut(), kind, id, text)
}

fn post_message(
    s: Suites,
    handle: *mut c_void,
    kind: MessageKind,
    id: &str,
    text: &str,
) -> Result<()> {
    let f = s
        .message_v2
        .and_then(|m| m.message)
        .or_else(|| s.message_v1.and_then(|m| m.message))
        .ok_or_else(|| missing("the message suite"))?;
    let id = to_cstring(id)?;
    let text = to_cstring(&text.replace('\0', " "))?;
    // SAFETY: host function; the format is a literal "%s" and its one argument a NUL-terminated
    // string, so the host's printf reads exactly what we pass.
    let st = unsafe {
        f(
            handle,
            kind.name().as_ptr(),
            id.as_ptr(),
            c"%s".as_ptr(),
            text.as_ptr(),
        )
    };
    // Hosts answer questions with ReplyYes/No; plain messages return OK or ReplyDefault.
    if st == Status::Ok.code()
        || st == Status::ReplyDefault.code()
        || st == Status::ReplyYes.code()
        || st == Status::ReplyNo.code()
    {
        Ok(())
    } else {
        Error::check(st, || "message".into())
    }
}

impl ImageEffect {
    /// # Safety
    /// `handle` must be an image effect handle the host passed to the current action.
    pub unsafe fn from_raw(handle: *const c_void) -> Result<Self> {
        if handle.is_null() {
            return Err(Error::new(Status::ErrBadHandle, "NULL image effect handle"));
        }
        Ok(Self {
            handle: handle as OfxImageEffectHandle,
            suites: suites()?,
        })
    }

    pub fn raw(&self) -> OfxImageEffectHandle {
        self.handle
    }

    pub fn suites(&self) -> Suites {
        self.suites
    }

    pub fn properties(&self) -> Result<PropertySet> {
        let f = self
            .suites
            .effect
            .getPropertySet
            .ok_or_else(|| missing("getPropertySet"))?;
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: live effect handle (constructor contract), valid out pointer.
        let st = unsafe { f(self.handle, &mut h) };
        Error::check(st, || "effect property set".into())?;
        PropertySet::with_suite(h, self.suites.property)
    }

    pub fn param_set(&self) -> Result<ParamSet> {
        let f = self
            .suites
            .effect
            .getParamSet
            .ok_or_else(|| missing("getParamSet"))?;
        let mut h: OfxParamSetHandle = ptr::null_mut();
        // SAFETY: live effect handle, valid out pointer.
        let st = unsafe { f(self.handle, &mut h) };
        Error::check(st, || "effect param set".into())?;
        ParamSet::new(h, self.suites)
    }

    /// Defines a clip (describeInContext) and returns its descriptor properties.
    pub fn define_clip(&self, name: &str) -> Result<PropertySet> {
        let f = self
            .suites
            .effect
            .clipDefine
            .ok_or_else(|| missing("clipDefine"))?;
        let n = to_cstring(name)?;
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: live descriptor handle, NUL-terminated name, valid out pointer.
        let st = unsafe { f(self.handle, n.as_ptr(), &mut h) };
        Error::check(st, || format!("define clip {name}"))?;
        PropertySet::with_suite(h, self.suites.property)
    }

    /// An instance's clip by name.
    pub fn clip(&self, name: &str) -> Result<Clip> {
        let f = self
            .suites
            .effect
            .clipGetHandle
            .ok_or_else(|| missing("clipGetHandle"))?;
        let n = to_cstring(name)?;
        let mut c: OfxImageClipHandle = ptr::null_mut();
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: live instance handle, NUL-terminated name, valid out pointers.
        let st = unsafe { f(self.handle, n.as_ptr(), &mut c, &mut h) };
        Error::check(st, || format!("clip {name}"))?;
        let props = match PropertySet::with_suite(h, self.suites.property) {
            Ok(p) => p,
            Err(_) => {
                let g = self
                    .suites
                    .effect
                    .clipGetPropertySet
                    .ok_or_else(|| missing("clipGetPropertySet"))?;
                // SAFETY: `c` is the clip handle the host just returned; valid out pointer.
                let st = unsafe { g(c, &mut h) };
                Error::check(st, || format!("clip {name} properties"))?;
                PropertySet::with_suite(h, self.suites.property)?
            }
        };
        Clip::new(c, props, self.suites, name)
    }

    /// True when the host wants the current render dropped. A host without `abort` never aborts.
    pub fn abort_requested(&self) -> bool {
        match self.suites.effect.abort {
            // SAFETY: live instance handle; abort only reads host state.
            Some(f) => unsafe { f(self.handle) != 0 },
            None => false,
        }
    }

    // ---- instance data ----

    /// Stores `data` behind `kOfxPropInstanceData` (createInstance). Replaces and drops any old data.
    pub fn set_instance_data(&self, data: InstanceData) -> Result<()> {
        let old = self.take_instance_data()?;
        drop(old);
        let raw = Box::into_raw(Box::new(data));
        let r =
            self.properties()?
                .set_pointer(crate::k!(kOfxPropInstanceData), 0, raw as *mut c_void);
        if r.is_err() {
            // SAFETY: `raw` came from Box::into_raw above and was not stored by the host.
            drop(unsafe { Box::from_raw(raw) });
        }
        r
    }

    /// The data stored by [`set_instance_data`](Self::set_instance_data), if it is a `T`.
    /// Valid until `take_instance_data` (destroyInstance), which the host never runs concurrently
    /// with other actions of the same instance.
    pub fn instance_data<T: Any + Send + Sync>(&self) -> Option<&T> {
        let p = self
            .properties()
            .ok()?
            .get_pointer(crate::k!(kOfxPropInstanceData), 0)
            .ok()?;
        if p.is_null() {
            return None;
        }
        // SAFETY: only set_instance_data writes this property, always with a Box<InstanceData>
        // pointer; it stays alive until take_instance_data.
        let data: &InstanceData = unsafe { &*(p as *const InstanceData) };
        data.downcast_ref::<T>()
    }

    /// Removes the instance data and hands ownership back (destroyInstance).
    pub fn take_instance_data(&self) -> Result<Option<InstanceData>> {
        let props = self.properties()?;
        let p = props
            .get_pointer(crate::k!(kOfxPropInstanceData), 0)
            .unwrap_or(ptr::null_mut());
        if p.is_null() {
            return Ok(None);
        }
        props.set_pointer(crate::k!(kOfxPropInstanceData), 0, ptr::null_mut())?;
        // SAFETY: the pointer came from Box::into_raw in set_instance_data and the property now
        // no longer refers to it, so this is the only owner.
        Ok(Some(*unsafe { Box::from_raw(p as *mut InstanceData) }))
    }

    // ---- messages ----

    /// A dialog or log line on this effect.
    pub fn message(&self, kind: MessageKind, id: &str, text: &str) -> Result<()> {
        post_message(self.suites, as_void(self.handle), kind, id, text)
    }

    /// A persistent message (node badge) where the host has `setPersistentMessage`; otherwise a
    /// plain message (Resolve 14 ships the V2 suite with a NULL entry).
    pub fn set_persistent_message(&self, kind: MessageKind, id: &str, text: &str) -> Result<()> {
        let Some(f) = self.suites.message_v2.and_then(|m| m.setPersistentMessage) else {
            return self.message(kind, id, text);
        };
        let idc = to_cstring(id)?;
        let t = to_cstring(&text.replace('\0', " "))?;
        // SAFETY: host function, literal "%s" format with one NUL-terminated string argument.
        let st = unsafe {
            f(
                as_void(self.handle),
                kind.name().as_ptr(),
                idc.as_ptr(),
                c"%s".as_ptr(),
                t.as_ptr(),
            )
        };
        Error::check(st, || "setPersistentMessage".into())
    }

    /// Clears the persistent message; a no-op where the host has none.
    pub fn clear_persistent_message(&self) -> Result<()> {
        match self
            .suites
            .message_v2
            .and_then(|m| m.clearPersistentMessage)
        {
            Some(f) => {
                // SAFETY: live effect handle.
                let st = unsafe { f(as_void(self.handle)) };
                Error::check(st, || "clearPersistentMessage".into())
            }
            None => Ok(()),
        }
    }

    /// Whether the host can show persistent messages at all.
    pub fn has_persistent_messages(&self) -> bool {
        self.suites
            .message_v2
            .and_then(|m| m.setPersistentMessage)
            .is_some()
    }

    // ---- progress ----

    pub fn progress_start(&self, label: &str, id: &str) -> Result<()> {
        let l = to_cstring(label)?;
        let i = to_cstring(id)?;
        if let Some(f) = self.suites.progress_v2.and_then(|p| p.progressStart) {
            return Error::check(
                // SAFETY: live instance handle, NUL-terminated strings.
                unsafe { f(as_void(self.handle), l.as_ptr(), i.as_ptr()) },
                || "progressStart".into(),
            );
        }
        let f = self
            .suites
            .progress_v1
            .and_then(|p| p.progressStart)
            .ok_or_else(|| missing("the progress suite"))?;
        // SAFETY: live instance handle, NUL-terminated label.
        Error::check(unsafe { f(as_void(self.handle), l.as_ptr()) }, || {
            "progressStart".into()
        })
    }

    /// Reports progress in 0..1; `Ok(false)` when the user asked to cancel.
    pub fn progress_update(&self, fraction: f64) -> Result<bool> {
        let f = self
            .suites
            .progress_v2
            .and_then(|p| p.progressUpdate)
            .or_else(|| self.suites.progress_v1.and_then(|p| p.progressUpdate))
            .ok_or_else(|| missing("the progress suite"))?;
        // SAFETY: live instance handle.
        let st = unsafe { f(as_void(self.handle), fraction.clamp(0.0, 1.0)) };
        if st == Status::ReplyNo.code() {
            return Ok(false);
        }
        Error::check(st, || "progressUpdate".into()).map(|_| true)
    }

    pub fn progress_end(&self) -> Result<()> {
        let f = self
            .suites
            .progress_v2
            .and_then(|p| p.progressEnd)
            .or_else(|| self.suites.progress_v1.and_then(|p| p.progressEnd))
            .ok_or_else(|| missing("the progress suite"))?;
        // SAFETY: live instance handle.
        Error::check(unsafe { f(as_void(self.handle)) }, || "progressEnd".into())
    }
}
