//! Loading an OFX binary the way a host does, and calling its main entry with host-built
//! property sets.

use super::effect::Effect;
use super::props::PropSet;
use super::status::{self as st, Status};
use super::suites::{HostConfig, HostState};
use openfx_sys::{OfxHost, OfxPlugin, OfxPropertySetHandle};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug)]
pub enum LoadError {
    Open(String),
    Symbol(String),
    NoImageEffect,
}

impl std::error::Error for LoadError {}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Open(e) => write!(f, "cannot load the plugin binary: {e}"),
            LoadError::Symbol(e) => write!(f, "missing OFX entry point: {e}"),
            LoadError::NoImageEffect => {
                write!(f, "the binary has no OfxImageEffectPluginAPI plugin")
            }
        }
    }
}

/// The identity fields of an `OfxPlugin` struct.
#[derive(Clone, Debug)]
pub struct PluginInfo {
    pub api: String,
    pub api_version: i32,
    pub identifier: String,
    pub version_major: u32,
    pub version_minor: u32,
}

/// A loaded OFX binary and its image-effect plugin.
pub struct LoadedPlugin {
    // Field order: the plugin pointer dies with the library.
    plugin: *const OfxPlugin,
    host: Arc<HostState>,
    info: PluginInfo,
    all: Vec<PluginInfo>,
    set_host_status: Option<Status>,
    _lib: libloading::Library,
}

// SAFETY: the OfxPlugin struct is immutable static data of the loaded library; OFX entry points are
// callable from any thread (thread safety of actions is the plugin's declared contract).
unsafe impl Send for LoadedPlugin {}
// SAFETY: as above.
unsafe impl Sync for LoadedPlugin {}

/// # Safety
/// `p` must be NULL or a NUL-terminated string that outlives the call.
unsafe fn owned(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: per the caller.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl LoadedPlugin {
    /// dlopens `binary`, calls OfxSetHost (if exported), OfxGetNumberOfPlugins and OfxGetPlugin,
    /// picks the image effect plugin and calls its setHost. Actions are not called here.
    pub fn open(binary: &Path, config: HostConfig) -> Result<LoadedPlugin, LoadError> {
        let host = HostState::new(config);
        // SAFETY: loading a shared object runs its initialisers; the plugin is the code under test
        // and is trusted to be a well-formed OFX binary.
        let lib = unsafe { libloading::Library::new(binary) }
            .map_err(|e| LoadError::Open(e.to_string()))?;
        type SetHost = unsafe extern "C" fn(*const OfxHost) -> c_int;
        type GetNumber = unsafe extern "C" fn() -> c_int;
        type GetPlugin = unsafe extern "C" fn(c_int) -> *mut OfxPlugin;
        // SAFETY: the symbols have the OFX-specified signatures (ofxCore.h).
        let set_host_status = unsafe { lib.get::<SetHost>(b"OfxSetHost\0") }
            .ok()
            // SAFETY: OfxSetHost takes the host struct, which lives for the whole process.
            .map(|f| unsafe { f(host.ofx_host()) });
        // SAFETY: as above.
        let get_number = unsafe { lib.get::<GetNumber>(b"OfxGetNumberOfPlugins\0") }
            .map_err(|e| LoadError::Symbol(format!("OfxGetNumberOfPlugins: {e}")))?;
        // SAFETY: as above.
        let get_plugin = unsafe { lib.get::<GetPlugin>(b"OfxGetPlugin\0") }
            .map_err(|e| LoadError::Symbol(format!("OfxGetPlugin: {e}")))?;
        // SAFETY: OFX entry point with no arguments.
        let n = unsafe { get_number() };
        let mut all = Vec::new();
        let mut chosen = None;
        for i in 0..n.max(0) {
            // SAFETY: index within 0..OfxGetNumberOfPlugins.
            let p = unsafe { get_plugin(i) };
            if p.is_null() {
                continue;
            }
            // SAFETY: OfxGetPlugin returns a pointer to a static OfxPlugin valid while loaded.
            let r = unsafe { &*p };
            // SAFETY: the OfxPlugin's strings are static C strings of the library.
            let info = unsafe {
                PluginInfo {
                    api: owned(r.pluginApi),
                    api_version: r.apiVersion,
                    identifier: owned(r.pluginIdentifier),
                    version_major: r.pluginVersionMajor,
                    version_minor: r.pluginVersionMinor,
                }
            };
            if chosen.is_none() && info.api == "OfxImageEffectPluginAPI" {
                chosen = Some((p as *const OfxPlugin, info.clone()));
            }
            all.push(info);
        }
        let (plugin, info) = chosen.ok_or(LoadError::NoImageEffect)?;
        // SAFETY: `plugin` points to the library's static OfxPlugin.
        if let Some(set_host) = unsafe { (*plugin).setHost } {
            // SAFETY: setHost takes the host struct, which is leaked and lives for the process.
            unsafe { set_host(host.ofx_host()) };
        }
        Ok(LoadedPlugin {
            plugin,
            host,
            info,
            all,
            set_host_status,
            _lib: lib,
        })
    }

    pub fn info(&self) -> &PluginInfo {
        &self.info
    }
    /// Every plugin the binary listed.
    pub fn all_plugins(&self) -> &[PluginInfo] {
        &self.all
    }
    pub fn host(&self) -> &Arc<HostState> {
        &self.host
    }
    /// What OfxSetHost returned, if the binary exports it.
    pub fn set_host_status(&self) -> Option<Status> {
        self.set_host_status
    }

    /// Calls the main entry with an action on an effect handle (or NULL).
    pub fn action(
        &self,
        action: &str,
        effect: Option<&Effect>,
        in_args: Option<&PropSet>,
        out_args: Option<&PropSet>,
    ) -> Status {
        // SAFETY: `plugin` points to the library's static OfxPlugin, valid while `_lib` is loaded.
        let Some(main) = (unsafe { (*self.plugin).mainEntry }) else {
            return st::ERR_MISSING_HOST_FEATURE;
        };
        let Ok(name) = CString::new(action) else {
            return st::ERR_VALUE;
        };
        let h = effect
            .map(|e| e.handle() as *const c_void)
            .unwrap_or(std::ptr::null());
        let ia = in_args
            .map(|p| p.handle())
            .unwrap_or(std::ptr::null_mut::<c_void>() as OfxPropertySetHandle);
        let oa = out_args
            .map(|p| p.handle())
            .unwrap_or(std::ptr::null_mut::<c_void>() as OfxPropertySetHandle);
        // SAFETY: the OFX main entry with a valid action string and live host handles (or NULL where
        // the action takes none); the handles outlive the call.
        unsafe { main(name.as_ptr(), h, ia, oa) }
    }
}
