//! The plugin side of the OFX entry points: the `OfxPlugin` record and a main-entry trampoline
//! that decodes the action, catches panics and turns results into status codes.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use openfx_sys::{OfxHost, OfxPlugin, OfxPluginEntryPoint, OfxPropertySetHandle, OfxStatus};

use crate::effect::{ImageEffect, MessageKind};
use crate::props::PropertySet;
use crate::status::{Result, Status};

/// The actions an image effect receives. `Other` keeps the name of anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Load,
    Unload,
    Describe,
    DescribeInContext,
    CreateInstance,
    DestroyInstance,
    BeginInstanceChanged,
    InstanceChanged,
    EndInstanceChanged,
    PurgeCaches,
    SyncPrivateData,
    BeginInstanceEdit,
    EndInstanceEdit,
    GetRegionOfDefinition,
    GetRegionsOfInterest,
    GetClipPreferences,
    GetTimeDomain,
    GetFramesNeeded,
    IsIdentity,
    Render,
    BeginSequenceRender,
    EndSequenceRender,
    Other,
}

const TABLE: [(&CStr, Action); 22] = [
    (crate::k!(kOfxActionLoad), Action::Load),
    (crate::k!(kOfxActionUnload), Action::Unload),
    (crate::k!(kOfxActionDescribe), Action::Describe),
    (
        crate::k!(kOfxImageEffectActionDescribeInContext),
        Action::DescribeInContext,
    ),
    (crate::k!(kOfxActionCreateInstance), Action::CreateInstance),
    (
        crate::k!(kOfxActionDestroyInstance),
        Action::DestroyInstance,
    ),
    (
        crate::k!(kOfxActionBeginInstanceChanged),
        Action::BeginInstanceChanged,
    ),
    (
        crate::k!(kOfxActionInstanceChanged),
        Action::InstanceChanged,
    ),
    (
        crate::k!(kOfxActionEndInstanceChanged),
        Action::EndInstanceChanged,
    ),
    (crate::k!(kOfxActionPurgeCaches), Action::PurgeCaches),
    (
        crate::k!(kOfxActionSyncPrivateData),
        Action::SyncPrivateData,
    ),
    (
        crate::k!(kOfxActionBeginInstanceEdit),
        Action::BeginInstanceEdit,
    ),
    (
        crate::k!(kOfxActionEndInstanceEdit),
        Action::EndInstanceEdit,
    ),
    (
        crate::k!(kOfxImageEffectActionGetRegionOfDefinition),
        Action::GetRegionOfDefinition,
    ),
    (
        crate::k!(kOfxImageEffectActionGetRegionsOfInterest),
        Action::GetRegionsOfInterest,
    ),
    (
        crate::k!(kOfxImageEffectActionGetClipPreferences),
        Action::GetClipPreferences,
    ),
    (
        crate::k!(kOfxImageEffectActionGetTimeDomain),
        Action::GetTimeDomain,
    ),
    (
        crate::k!(kOfxImageEffectActionGetFramesNeeded),
        Action::GetFramesNeeded,
    ),
    (
        crate::k!(kOfxImageEffectActionIsIdentity),
        Action::IsIdentity,
    ),
    (crate::k!(kOfxImageEffectActionRender), Action::Render),
    (
        crate::k!(kOfxImageEffectActionBeginSequenceRender),
        Action::BeginSequenceRender,
    ),
    (
        crate::k!(kOfxImageEffectActionEndSequenceRender),
        Action::EndSequenceRender,
    ),
];

impl Action {
    pub fn parse(name: &CStr) -> Action {
        TABLE
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .unwrap_or(Action::Other)
    }
}

/// One call of the main entry, decoded.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub action: Action,
    /// The action's name as the host sent it.
    pub name: &'a str,
    /// The effect (descriptor or instance); None for load/unload or a NULL handle.
    pub effect: Option<ImageEffect>,
    pub in_args: Option<PropertySet>,
    pub out_args: Option<PropertySet>,
}

/// What a plugin implements; the trampoline does the FFI.
pub trait Handler {
    /// Runs one action. `Ok(status)` returns that status (OK, ReplyDefault, ...); `Err` returns its code.
    fn handle(call: &Call<'_>) -> Result<Status>;
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Drops a caught panic's payload where a panicking destructor cannot unwind any further (out of an
/// `extern "C"` function that would be an abort of the host); a payload that panics is leaked.
pub fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(p);
    }
}

/// Reports a caught panic to the host (on the effect when there is one) and stderr.
pub fn report_panic(
    effect: Option<&ImageEffect>,
    action: &str,
    payload: &(dyn std::any::Any + Send),
) {
    let text = format!("internal error in {action}: {}", panic_text(payload));
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let posted = match effect {
            Some(e) => e.message(MessageKind::Error, "corridorkey.panic", &text),
            None => {
                crate::effect::post_global_message(MessageKind::Error, "corridorkey.panic", &text)
            }
        };
        if posted.is_err() {
            eprintln!("OFX plugin: {text}");
        }
    }));
}

/// The main entry point for `OfxPlugin::mainEntry`: `main_entry::<MyHandler>`.
/// Never unwinds: a panic becomes `kOfxStatFailed` plus a host message.
///
/// # Safety
/// Called by the host as the OFX spec prescribes: `action` NULL or NUL-terminated, `handle` the
/// action's effect handle (or NULL), in/out args the action's property sets (or NULL).
pub unsafe extern "C" fn main_entry<H: Handler>(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    if action.is_null() {
        return Status::ErrBadHandle.code();
    }
    // SAFETY: the host passes a NUL-terminated action name valid during the call.
    let name_c = unsafe { CStr::from_ptr(action) };
    let name = name_c.to_str().unwrap_or("");
    let act = Action::parse(name_c);
    if act == Action::Load {
        if let Err(e) = crate::suites::fetch_suites() {
            eprintln!("OFX plugin: load failed: {e}");
            return Status::ErrMissingHostFeature.code();
        }
    }
    let mut effect = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let eff = match act {
            Action::Load | Action::Unload => None,
            // SAFETY: every other image effect action passes the effect handle (or NULL).
            _ => unsafe { ImageEffect::from_raw(handle) }.ok(),
        };
        effect = eff;
        // SAFETY: in/out args are the action's property sets (or NULL), valid during the call.
        let in_args = unsafe { PropertySet::from_raw(in_args) }.ok();
        // SAFETY: as above.
        let out_args = unsafe { PropertySet::from_raw(out_args) }.ok();
        let call = Call {
            action: act,
            name,
            effect: eff,
            in_args,
            out_args,
        };
        match H::handle(&call) {
            Ok(s) => s.code(),
            Err(e) => e.code,
        }
    }));
    let code = match result {
        Ok(code) => code,
        Err(payload) => {
            report_panic(effect.as_ref(), name, payload.as_ref());
            drop_payload(payload);
            Status::Failed.code()
        }
    };
    if act == Action::Unload {
        crate::suites::release_suites();
    }
    code
}

/// `OfxPlugin::setHost`: stores the pointer only.
///
/// # Safety
/// `host` is the host's `OfxHost`, valid while the binary is loaded (or NULL).
pub unsafe extern "C" fn set_host_entry(host: *mut OfxHost) {
    crate::suites::set_host(host);
}

/// A static `OfxPlugin` record that `OfxGetPlugin` can hand out.
pub struct PluginRecord(OfxPlugin);

// SAFETY: the record is immutable after construction and only holds pointers to 'static C strings
// and functions, so sharing it between threads is fine.
unsafe impl Sync for PluginRecord {}

impl PluginRecord {
    pub const fn new(
        identifier: &'static CStr,
        version_major: u32,
        version_minor: u32,
        main_entry: OfxPluginEntryPoint,
    ) -> Self {
        PluginRecord(OfxPlugin {
            pluginApi: crate::k!(kOfxImageEffectPluginApi).as_ptr(),
            apiVersion: openfx_sys::kOfxImageEffectPluginApiVersion as c_int,
            pluginIdentifier: identifier.as_ptr(),
            pluginVersionMajor: version_major as c_uint,
            pluginVersionMinor: version_minor as c_uint,
            setHost: Some(set_host_entry),
            mainEntry: main_entry,
        })
    }

    /// The pointer `OfxGetPlugin` returns; the host only reads through it.
    pub fn as_ptr(&'static self) -> *mut OfxPlugin {
        &self.0 as *const OfxPlugin as *mut OfxPlugin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_by_exact_name() {
        assert_eq!(Action::parse(c"OfxImageEffectActionRender"), Action::Render);
        assert_eq!(Action::parse(c"OfxActionLoad"), Action::Load);
        assert_eq!(
            Action::parse(c"OfxImageEffectActionDescribeInContext"),
            Action::DescribeInContext
        );
        assert_eq!(Action::parse(c"OfxImageEffectActionRenderX"), Action::Other);
    }

    struct Panicky;
    impl Handler for Panicky {
        fn handle(_: &Call<'_>) -> Result<Status> {
            panic!("on purpose")
        }
    }

    #[test]
    fn panics_become_failed() {
        // No host: the handler still runs (effect None) and its panic is caught.
        let null = std::ptr::null_mut();
        // SAFETY: NUL-terminated action name, NULL handles (allowed).
        let code = unsafe {
            main_entry::<Panicky>(c"OfxActionDescribe".as_ptr(), std::ptr::null(), null, null)
        };
        assert_eq!(code, Status::Failed.code());
        // SAFETY: a NULL action is refused before anything is read.
        let code = unsafe { main_entry::<Panicky>(std::ptr::null(), std::ptr::null(), null, null) };
        assert_eq!(code, Status::ErrBadHandle.code());
    }
}
