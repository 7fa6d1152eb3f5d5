//! The host pointer and the suites fetched from it, with every NULL checked.
//!
//! `setHost` may only store the pointer (spec); suites are fetched on `kOfxActionLoad` (or lazily on
//! first use) and stay valid while the binary is loaded.

use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::RwLock;

use openfx_sys::{
    OfxHost, OfxImageEffectSuiteV1, OfxMessageSuiteV1, OfxMessageSuiteV2, OfxMultiThreadSuiteV1,
    OfxParameterSuiteV1, OfxProgressSuiteV1, OfxProgressSuiteV2, OfxPropertySuiteV1,
};

use crate::status::{Error, Result, Status};

static HOST: AtomicPtr<OfxHost> = AtomicPtr::new(ptr::null_mut());
static SUITES: RwLock<Option<Suites>> = RwLock::new(None);

/// Everything fetched from the host. Required suites are references; optional ones are `Option`.
#[derive(Clone, Copy, Debug)]
pub struct Suites {
    pub property: &'static OfxPropertySuiteV1,
    pub effect: &'static OfxImageEffectSuiteV1,
    pub param: &'static OfxParameterSuiteV1,
    pub message_v2: Option<&'static OfxMessageSuiteV2>,
    pub message_v1: Option<&'static OfxMessageSuiteV1>,
    pub progress_v2: Option<&'static OfxProgressSuiteV2>,
    pub progress_v1: Option<&'static OfxProgressSuiteV1>,
    pub thread: Option<&'static OfxMultiThreadSuiteV1>,
}

/// Stores the host pointer (from `OfxSetHost` or `OfxPlugin::setHost`). Calls nothing on it.
/// A new pointer drops suites fetched from an older one.
pub fn set_host(host: *const OfxHost) {
    let old = HOST.swap(host as *mut OfxHost, Ordering::AcqRel);
    if !std::ptr::eq(old, host) {
        *SUITES.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

pub(crate) fn host() -> Result<&'static OfxHost> {
    let p = HOST.load(Ordering::Acquire);
    if p.is_null() {
        return Err(Error::new(
            Status::ErrBadHandle,
            "the host never called setHost",
        ));
    }
    // SAFETY: the pointer came from the host's setHost/OfxSetHost; the spec keeps it valid while
    // the binary is loaded, and we only read it.
    Ok(unsafe { &*p })
}

fn fetch<T>(name: &CStr, version: c_int) -> Result<Option<&'static T>> {
    let h = host()?;
    let fetch = h
        .fetchSuite
        .ok_or_else(|| Error::new(Status::ErrMissingHostFeature, "host has no fetchSuite"))?;
    // SAFETY: fetchSuite is the host's own function, called with its own host handle and a
    // NUL-terminated name as the spec prescribes.
    let p = unsafe { fetch(h.host, name.as_ptr(), version) } as *const T;
    // SAFETY: a non-NULL suite pointer stays valid while the binary is loaded (spec), and the
    // suite struct is immutable data of the host's.
    Ok(unsafe { p.as_ref() })
}

fn required<T>(name: &CStr, version: c_int) -> Result<&'static T> {
    fetch(name, version)?.ok_or_else(|| {
        Error::new(
            Status::ErrMissingHostFeature,
            format!("host lacks {} V{version}", name.to_string_lossy()),
        )
    })
}

/// Fetches every suite now (on `kOfxActionLoad`). Fails only when a required suite is missing.
pub fn fetch_suites() -> Result<Suites> {
    let suites = Suites {
        property: required(crate::k!(kOfxPropertySuite), 1)?,
        effect: required(crate::k!(kOfxImageEffectSuite), 1)?,
        param: required(crate::k!(kOfxParameterSuite), 1)?,
        message_v2: fetch(crate::k!(kOfxMessageSuite), 2)?,
        message_v1: fetch(crate::k!(kOfxMessageSuite), 1)?,
        progress_v2: fetch(crate::k!(kOfxProgressSuite), 2)?,
        progress_v1: fetch(crate::k!(kOfxProgressSuite), 1)?,
        thread: fetch(crate::k!(kOfxMultiThreadSuite), 1)?,
    };
    *SUITES.write().unwrap_or_else(|e| e.into_inner()) = Some(suites);
    Ok(suites)
}

/// The fetched suites, fetching them first if `load` has not run yet.
pub fn suites() -> Result<Suites> {
    if let Some(s) = *SUITES.read().unwrap_or_else(|e| e.into_inner()) {
        return Ok(s);
    }
    fetch_suites()
}

/// Forgets the suites (on `kOfxActionUnload`); the host pointer stays for a later `load`.
pub fn release_suites() {
    *SUITES.write().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Raw pointer to pass as a `void *` handle to suites that take one.
pub(crate) fn as_void<T>(p: *mut T) -> *mut c_void {
    p as *mut c_void
}
