//! The three exported symbols and the action dispatcher.
//!
//! Every entry point catches panics (the trampoline in ofx-bindings does it for the main entry).
//! Test hook: when `CORRIDORKEY_TEST_PANIC` equals an action name (e.g. `OfxImageEffectActionRender`,
//! or `OfxGetPlugin`, `OfxGetNumberOfPlugins`, `OfxSetHost`), that entry panics on purpose so the
//! integration tests can prove no panic crosses the FFI boundary.

use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ofx_bindings::plugin::{drop_payload, main_entry, report_panic};
use ofx_bindings::sys::{OfxHost, OfxPlugin, OfxStatus};
use ofx_bindings::{k, Action, Call, CudaRenderArgs, Error, Handler, PluginRecord, Result, Status};

use super::describe::{self, PLUGIN_ID, VERSION_MAJOR, VERSION_MINOR};
use super::instance::Instance;
use super::params::{ParamValues, INFO};
use super::render::{self, runtime_for};
use super::{config, engine_call, regions, render_cuda, temporal};

fn test_panic(name: &str) {
    if config::get().test_panic.as_deref() == Some(name) {
        panic!("{}: deliberate panic in {name}", config::TEST_PANIC);
    }
}

static PLUGIN: PluginRecord = PluginRecord::new(
    PLUGIN_ID,
    VERSION_MAJOR,
    VERSION_MINOR,
    Some(main_entry::<CorridorKey>),
);

pub struct CorridorKey;

fn missing(what: &str) -> Error {
    Error::new(Status::ErrBadHandle, format!("{what} missing"))
}

impl Handler for CorridorKey {
    fn handle(call: &Call<'_>) -> Result<Status> {
        test_panic(call.name);
        let effect = || call.effect.as_ref().ok_or_else(|| missing("effect handle"));
        let out_args = || call.out_args.as_ref().ok_or_else(|| missing("outArgs"));
        match call.action {
            Action::Load | Action::Unload => Ok(Status::Ok),
            Action::Describe => describe::describe(effect()?),
            Action::DescribeInContext => {
                describe::describe_in_context(effect()?, call.in_args.as_ref())
            }
            Action::CreateInstance => {
                let e = effect()?;
                e.set_instance_data(Box::new(Instance::for_effect(e)))?;
                Ok(Status::Ok)
            }
            Action::DestroyInstance => {
                drop(effect()?.take_instance_data()?);
                Ok(Status::Ok)
            }
            Action::InstanceChanged => instance_changed(call),
            Action::PurgeCaches => {
                Instance::of(effect()?).cache.lock().clear();
                Ok(Status::Ok)
            }
            Action::GetClipPreferences => describe::clip_preferences(effect()?, out_args()?),
            Action::GetRegionOfDefinition => {
                regions::region_of_definition(effect()?, call.in_args.as_ref(), out_args()?)
            }
            Action::GetRegionsOfInterest => {
                regions::regions_of_interest(effect()?, call.in_args.as_ref(), out_args()?)
            }
            // Never an identity: even an empty hint goes through the network.
            Action::IsIdentity => Ok(Status::ReplyDefault),
            Action::Render => {
                let in_args = call.in_args.as_ref().ok_or_else(|| missing("inArgs"))?;
                // CUDA images (OFX CUDA render) have their own path; CPU images go on as always.
                match CudaRenderArgs::read(in_args) {
                    cuda if cuda.enabled => render_cuda::render(effect()?, in_args, cuda),
                    _ => render::render(effect()?, in_args),
                }
            }
            Action::GetFramesNeeded => {
                let in_args = call.in_args.as_ref().ok_or_else(|| missing("inArgs"))?;
                temporal::frames_needed(effect()?, in_args, out_args()?)
            }
            Action::BeginSequenceRender | Action::EndSequenceRender => Ok(Status::Ok),
            _ => Ok(Status::ReplyDefault),
        }
    }
}

/// Refreshes the info line when anything but the info line itself changed.
fn instance_changed(call: &Call<'_>) -> Result<Status> {
    let effect = call
        .effect
        .as_ref()
        .ok_or_else(|| missing("effect handle"))?;
    let args = call.in_args.as_ref();
    let name = args
        .and_then(|a| a.get_string(k!(kOfxPropName), 0).ok())
        .unwrap_or_default();
    if name == INFO {
        return Ok(Status::Ok);
    }
    let time = args
        .and_then(|a| a.get_double(k!(kOfxPropTime), 0).ok())
        .unwrap_or(0.0);
    let inst = Instance::of(effect);
    let values = ParamValues::read(&effect.param_set()?, time)?;
    let rt = runtime_for(&values, inst);
    let info = engine_call::describe(&rt, values.inference_size(), values.screen());
    inst.set_info(effect, &info);
    Ok(Status::Ok)
}

/// OFX: how many plugins this binary holds.
#[no_mangle]
pub extern "C" fn OfxGetNumberOfPlugins() -> c_int {
    catch_unwind(|| {
        test_panic("OfxGetNumberOfPlugins");
        1
    })
    .unwrap_or_else(|p| {
        report_panic(None, "OfxGetNumberOfPlugins", p.as_ref());
        drop_payload(p);
        0
    })
}

/// OFX: the nth plugin's record (NULL when out of range).
#[no_mangle]
pub extern "C" fn OfxGetPlugin(nth: c_int) -> *mut OfxPlugin {
    catch_unwind(|| {
        test_panic("OfxGetPlugin");
        if nth == 0 {
            PLUGIN.as_ptr()
        } else {
            std::ptr::null_mut()
        }
    })
    .unwrap_or_else(|p| {
        report_panic(None, "OfxGetPlugin", p.as_ref());
        drop_payload(p);
        std::ptr::null_mut()
    })
}

/// OFX 1.5: the host hands its pointer over before `OfxGetPlugin`. Only stored here.
#[no_mangle]
pub extern "C" fn OfxSetHost(host: *const OfxHost) -> OfxStatus {
    catch_unwind(AssertUnwindSafe(|| {
        test_panic("OfxSetHost");
        ofx_bindings::suites::set_host(host);
        Status::Ok.code()
    }))
    .unwrap_or_else(|p| {
        report_panic(None, "OfxSetHost", p.as_ref());
        drop_payload(p);
        Status::Failed.code()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_plugin_with_the_right_identity() {
        assert_eq!(OfxGetNumberOfPlugins(), 1);
        assert!(OfxGetPlugin(1).is_null());
        assert!(OfxGetPlugin(-1).is_null());
        let p = OfxGetPlugin(0);
        assert!(!p.is_null());
        assert_eq!(PLUGIN_ID.to_bytes(), b"org.corridorkey.CorridorKey");
        assert_eq!((VERSION_MAJOR, VERSION_MINOR), (1, 0));
    }
}
