//! Per-instance state behind `kOfxPropInstanceData`: bundle paths and what the node currently
//! shows (persistent message, info line) so the host is only told about changes.

use ofx_bindings::{ImageEffect, MessageKind};
use once_cell::sync::Lazy;
use parking_lot::Mutex;

use super::log::log;
use super::paths::BundlePaths;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Shown {
    #[default]
    Nothing,
    Error(String),
    Warning(String),
}

#[derive(Debug, Default)]
pub struct Instance {
    pub bundle: Option<BundlePaths>,
    shown: Mutex<Shown>,
    info: Mutex<String>,
}

const MESSAGE_ID: &str = "org.corridorkey.status";

/// Used when a host neither keeps instance data nor called createInstance.
static FALLBACK: Lazy<Instance> = Lazy::new(|| Instance::new(None));

impl Instance {
    pub fn new(host_plugin_path: Option<&str>) -> Instance {
        Instance {
            bundle: BundlePaths::locate(host_plugin_path),
            ..Default::default()
        }
    }

    /// Builds the state for a new instance (createInstance).
    pub fn for_effect(effect: &ImageEffect) -> Instance {
        let path = effect
            .properties()
            .and_then(|p| p.get_string(ofx_bindings::k!(kOfxPluginPropFilePath), 0))
            .ok();
        Instance::new(path.as_deref())
    }

    /// The instance's state, creating it if the host skipped createInstance.
    pub fn of(effect: &ImageEffect) -> &Instance {
        if effect.instance_data::<Instance>().is_none() {
            let _ = effect.set_instance_data(Box::new(Instance::for_effect(effect)));
        }
        match effect.instance_data::<Instance>() {
            Some(i) => i,
            None => &FALLBACK,
        }
    }

    fn show(&self, effect: &ImageEffect, want: Shown) {
        let mut shown = self.shown.lock();
        if *shown == want {
            return;
        }
        let r = match &want {
            Shown::Nothing => effect.clear_persistent_message(),
            Shown::Error(t) => effect.set_persistent_message(MessageKind::Error, MESSAGE_ID, t),
            Shown::Warning(t) => effect.set_persistent_message(MessageKind::Warning, MESSAGE_ID, t),
        };
        match &want {
            Shown::Error(t) | Shown::Warning(t) => log(t),
            Shown::Nothing => {}
        }
        if let Err(e) = r {
            log(format!("could not show message: {e}"));
        }
        *shown = want;
    }

    pub fn show_error(&self, effect: &ImageEffect, text: String) {
        self.show(effect, Shown::Error(text));
    }

    pub fn show_warning(&self, effect: &ImageEffect, text: String) {
        self.show(effect, Shown::Warning(text));
    }

    pub fn clear_message(&self, effect: &ImageEffect) {
        self.show(effect, Shown::Nothing);
    }

    /// Writes the read-only `info` param when its text changed.
    pub fn set_info(&self, effect: &ImageEffect, text: &str) {
        let mut info = self.info.lock();
        if *info == text {
            return;
        }
        let r = effect
            .param_set()
            .and_then(|ps| ps.param(super::params::INFO))
            .and_then(|p| p.set_string(text));
        match r {
            Ok(()) => *info = text.to_string(),
            Err(e) => log(format!("could not set info: {e}")),
        }
    }
}
