//! `ofx-test-host`: a Rust OFX host that loads the built `CorridorKey.ofx.bundle` the way a real host
//! does (OfxSetHost, OfxGetPlugin, setHost, load, describe, describeInContext, createInstance,
//! getClipPreferences, RoD/RoI, begin/render/end sequence, destroyInstance, unload), with host
//! images the caller lays out (depth, components, rowBytes sign, NULL images) and every message the
//! plugin posts recorded. The raw FFI is in `ofx_host_bindings` (ofx-bindings/host); this crate is
//! safe code.

pub mod cuda_images;
pub mod demo_plate;
pub mod frame_source;
pub mod imageio;
pub mod pair;
pub mod synthetic;

pub use cuda_images::{cuda_unavailable, CudaRun, ImageMemory, RenderTimes};
use cuda_images::{ms_since, DeviceRender};

pub use ofx_host_bindings::{
    live_memory_blocks, status, unreleased_images, AbortFn, BitDepth, Clip, ClipSource, Components,
    Effect, FrameLoader, HostConfig, HostImage, Message, ParamValue, PropSet, PropValue, Status,
};
use ofx_host_bindings::{LoadedPlugin, PluginInfo};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

pub const FILTER: &str = "OfxImageEffectContextFilter";
pub const GENERAL: &str = "OfxImageEffectContextGeneral";
pub const PLUGIN_ID: &str = "org.corridorkey.CorridorKey";

/// An action that did not return OK (or ReplyDefault where that is allowed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action} returned {} ({status}){}", status::name(*.status), fmt_messages(.messages))]
pub struct HostError {
    pub action: String,
    pub status: Status,
    /// Messages (transient and persistent) the plugin posted on the effect during the call.
    pub messages: Vec<Message>,
}

fn fmt_messages(m: &[Message]) -> String {
    m.iter()
        .map(|m| format!("; {}: {}", m.kind, m.text))
        .collect()
}

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The bundle's folder name.
pub const BUNDLE_NAME: &str = "CorridorKey.ofx.bundle";

/// `$CORRIDORKEY_BUNDLE`, else the first `CorridorKey.ofx.bundle` in a folder of `$OFX_PLUGIN_PATH`
/// (as a host finds it, relative entries included), else `<root>/build/CorridorKey.ofx.bundle`.
pub fn bundle_path() -> PathBuf {
    if let Some(b) = std::env::var_os("CORRIDORKEY_BUNDLE") {
        return PathBuf::from(b);
    }
    std::env::var_os("OFX_PLUGIN_PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(BUNDLE_NAME))
                .find(|b| b.is_dir())
        })
        .unwrap_or_else(|| workspace_root().join("build").join(BUNDLE_NAME))
}

/// The ELF inside a bundle.
pub fn bundle_binary(bundle: &Path) -> PathBuf {
    bundle.join("Contents/Linux-x86-64/CorridorKey.ofx")
}

/// `$CORRIDORKEY_FIXTURES`, else `<root>/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("CORRIDORKEY_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("fixtures"))
}

/// A model folder for tests that need the network: `$CORRIDORKEY_TEST_MODEL_DIR`, else
/// `<fixtures>/small_s128`. Panics when the folder has no manifest.json: `make test` always makes the
/// fixtures, and a model test that skipped itself would hide a broken set-up.
pub fn test_model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CORRIDORKEY_TEST_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| fixtures_dir().join("small_s128"));
    if dir.join("manifest.json").is_file() {
        Some(dir)
    } else {
        panic!(
            "no model at {} (set CORRIDORKEY_TEST_MODEL_DIR or run `make fixtures`)",
            dir.display()
        )
    }
}

/// A loaded plugin: the binary plus its cached descriptors.
pub struct Plugin {
    loaded: LoadedPlugin,
    /// The bundle path as the caller gave it (relative or not): what a host passes as
    /// `kOfxPluginPropFilePath`.
    bundle: PathBuf,
    descriptor: Mutex<Option<Arc<Effect>>>,
    contexts: Mutex<HashMap<String, Arc<Effect>>>,
}

impl Plugin {
    /// Loads the bundle's binary and runs kOfxActionLoad.
    pub fn load(bundle: &Path, config: HostConfig) -> Result<Plugin, String> {
        let bin = bundle_binary(bundle);
        if !bin.is_file() {
            return Err(format!(
                "no plugin binary at {} (run `make bundle`)",
                bin.display()
            ));
        }
        let loaded = LoadedPlugin::open(&bin, config).map_err(|e| e.to_string())?;
        let p = Plugin {
            loaded,
            bundle: bundle.to_path_buf(),
            descriptor: Mutex::new(None),
            contexts: Mutex::new(HashMap::new()),
        };
        let st = p.loaded.action("OfxActionLoad", None, None, None);
        if st != status::OK && st != status::REPLY_DEFAULT {
            return Err(format!(
                "OfxActionLoad returned {} ({st})",
                status::name(st)
            ));
        }
        Ok(p)
    }

    /// One plugin per process with the default host config, loaded from [`bundle_path`]. Never
    /// unloaded: plugins keep the host pointer for the life of the process.
    pub fn shared() -> &'static Plugin {
        static P: OnceLock<Plugin> = OnceLock::new();
        P.get_or_init(|| {
            Plugin::load(&bundle_path(), HostConfig::default()).unwrap_or_else(|e| panic!("{e}"))
        })
    }

    pub fn info(&self) -> &PluginInfo {
        self.loaded.info()
    }
    pub fn all_plugins(&self) -> &[PluginInfo] {
        self.loaded.all_plugins()
    }
    pub fn host_props(&self) -> &Arc<PropSet> {
        self.loaded.host().props()
    }
    pub fn set_host_status(&self) -> Option<Status> {
        self.loaded.set_host_status()
    }
    /// Messages posted with a NULL (or unknown) handle.
    pub fn global_messages(&self) -> Vec<Message> {
        self.loaded.host().global_messages()
    }
    pub fn fetched_suites(&self) -> Vec<(String, i32)> {
        self.loaded.host().fetched_suites()
    }

    /// Raw action call (for tests of unusual sequences).
    pub fn action(
        &self,
        action: &str,
        effect: Option<&Effect>,
        in_args: Option<&PropSet>,
        out_args: Option<&PropSet>,
    ) -> Status {
        self.loaded.action(action, effect, in_args, out_args)
    }

    fn check(
        &self,
        action: &str,
        effect: &Effect,
        st: Status,
        default_ok: bool,
    ) -> Result<(), HostError> {
        if st == status::OK || (default_ok && st == status::REPLY_DEFAULT) {
            return Ok(());
        }
        let mut messages = effect.messages();
        messages.extend(effect.persistent_message());
        Err(HostError {
            action: action.into(),
            status: st,
            messages,
        })
    }

    /// kOfxActionDescribe on a fresh descriptor (cached).
    pub fn describe(&self) -> Result<Arc<Effect>, HostError> {
        let mut g = self.descriptor.lock();
        if let Some(d) = &*g {
            return Ok(d.clone());
        }
        let props = PropSet::new();
        props.set_str("OfxPropType", &["OfxTypeImageEffect"]);
        props.set_str("OfxPropLabel", &[""]);
        props.set_str("OfxImageEffectPluginPropGrouping", &[""]);
        props.set_str("OfxImageEffectPropSupportedContexts", &[]);
        props.set_str("OfxImageEffectPropSupportedPixelDepths", &[]);
        props.set_int("OfxImageEffectPluginPropSingleInstance", &[0]);
        props.set_str(
            "OfxImageEffectPluginRenderThreadSafety",
            &["OfxImageEffectRenderInstanceSafe"],
        );
        props.set_int("OfxImageEffectPluginPropHostFrameThreading", &[1]);
        props.set_int("OfxImageEffectPropSupportsMultiResolution", &[1]);
        props.set_int("OfxImageEffectPropSupportsTiles", &[1]);
        props.set_int("OfxImageEffectPropTemporalClipAccess", &[0]);
        props.set_int("OfxImageEffectPropMultipleClipDepths", &[0]);
        props.set_int("OfxImageEffectPropSupportsMultipleClipPARs", &[0]);
        props.set_int("OfxImageEffectPluginPropFieldRenderTwiceAlways", &[1]);
        props.set_int("OfxImageEffectInstancePropSequentialRender", &[0]);
        // Hosts give the bundle folder as they found it (a relative OFX_PLUGIN_PATH stays relative).
        props.set_str("OfxPluginPropFilePath", &[&self.bundle.to_string_lossy()]);
        props.seal_defaults();
        let d = Effect::new_descriptor(props);
        let st = self
            .loaded
            .action("OfxActionDescribe", Some(&d), None, None);
        self.check("OfxActionDescribe", &d, st, false)?;
        *g = Some(d.clone());
        Ok(d)
    }

    /// kOfxImageEffectActionDescribeInContext on a copy of the descriptor (cached per context).
    pub fn describe_in_context(&self, context: &str) -> Result<Arc<Effect>, HostError> {
        if let Some(d) = self.contexts.lock().get(context) {
            return Ok(d.clone());
        }
        let base = self.describe()?;
        let d = Effect::new_descriptor(base.props().duplicate());
        d.props().set_str("OfxImageEffectPropContext", &[context]);
        let in_args = PropSet::new();
        in_args.set_str("OfxImageEffectPropContext", &[context]);
        let st = self.loaded.action(
            "OfxImageEffectActionDescribeInContext",
            Some(&d),
            Some(&in_args),
            None,
        );
        self.check("OfxImageEffectActionDescribeInContext", &d, st, false)?;
        self.contexts.lock().insert(context.to_owned(), d.clone());
        Ok(d)
    }

    /// kOfxActionCreateInstance on a new instance of the context's descriptor.
    pub fn create_instance(&self, context: &str) -> Result<Instance<'_>, HostError> {
        let desc = self.describe_in_context(context)?;
        let e = Effect::instantiate(&desc);
        let p = e.props();
        p.set_str("OfxPropType", &["OfxTypeImageEffectInstance"]);
        p.set_str("OfxImageEffectPropContext", &[context]);
        p.set_int("OfxPropIsInteractive", &[0]);
        p.set_double("OfxImageEffectPropProjectSize", &[1920.0, 1080.0]);
        p.set_double("OfxImageEffectPropProjectOffset", &[0.0, 0.0]);
        p.set_double("OfxImageEffectPropProjectExtent", &[1920.0, 1080.0]);
        p.set_double("OfxImageEffectPropProjectPixelAspectRatio", &[1.0]);
        p.set_double("OfxImageEffectInstancePropEffectDuration", &[100.0]);
        p.set_double("OfxImageEffectPropFrameRate", &[24.0]);
        p.set_pointer("OfxPropInstanceData", &[0]);
        p.seal_defaults();
        for c in e.clips() {
            set_clip_host_props(&c, None);
        }
        let st = self
            .loaded
            .action("OfxActionCreateInstance", Some(&e), None, None);
        self.check("OfxActionCreateInstance", &e, st, true)?;
        Ok(Instance {
            plugin: self,
            effect: e,
            context: context.to_owned(),
            destroyed: false,
        })
    }

    /// kOfxActionUnload. The library stays mapped (the plugin may keep statics alive).
    pub fn unload(&self) -> Status {
        self.loaded.action("OfxActionUnload", None, None, None)
    }
}

/// A value outside a param's declared `OfxParamPropMin`/`Max` is refused (as a host UI would).
fn check_range(props: &PropSet, name: &str, v: f64) -> Result<(), String> {
    let bound = |key: &str| -> Option<f64> {
        match props.get(key)? {
            PropValue::Double(d) => d.first().copied(),
            PropValue::Int(i) => i.first().map(|x| f64::from(*x)),
            _ => None,
        }
    };
    let (lo, hi) = (bound("OfxParamPropMin"), bound("OfxParamPropMax"));
    if lo.is_some_and(|lo| v < lo) || hi.is_some_and(|hi| v > hi) {
        return Err(format!(
            "{name}: {v} is outside its range {}..{}",
            lo.map_or("".into(), |x| x.to_string()),
            hi.map_or("".into(), |x| x.to_string())
        ));
    }
    Ok(())
}

/// Host-side clip properties for an instance clip, from the image it hands out (if any).
fn set_clip_host_props(c: &Clip, img: Option<&HostImage>) {
    let p = c.props();
    let (comps, depth, premult) = match img {
        Some(i) => (
            i.components().ofx_name(),
            i.depth().ofx_name(),
            i.premultiplication.as_str(),
        ),
        None => (
            "OfxImageComponentRGBA",
            "OfxBitDepthFloat",
            "OfxImageOpaque",
        ),
    };
    p.set_str("OfxImageEffectPropComponents", &[comps]);
    p.set_str("OfxImageEffectPropPixelDepth", &[depth]);
    p.set_str("OfxImageClipPropUnmappedComponents", &[comps]);
    p.set_str("OfxImageClipPropUnmappedPixelDepth", &[depth]);
    p.set_str("OfxImageEffectPropPreMultiplication", &[premult]);
    p.set_double("OfxImagePropPixelAspectRatio", &[1.0]);
    p.set_double("OfxImageEffectPropFrameRate", &[24.0]);
    p.set_double("OfxImageEffectPropFrameRange", &[0.0, 99.0]);
    p.set_double("OfxImageEffectPropUnmappedFrameRange", &[0.0, 99.0]);
    p.set_double("OfxImageEffectPropUnmappedFrameRate", &[24.0]);
    p.set_str("OfxImageClipPropFieldOrder", &["OfxImageFieldNone"]);
    p.set_int("OfxImageClipPropContinuousSamples", &[0]);
    p.set_int("OfxImageEffectFrameVarying", &[0]);
    let connected = !matches!(c.source(), ClipSource::Unconnected);
    p.set_int("OfxImageClipPropConnected", &[connected as i32]);
}

/// What an input clip hands the plugin.
pub enum Input {
    Unconnected,
    /// Connected, but clipGetImage gives NULL (Resolve).
    NullImage,
    /// The same image for every frame.
    Image(HostImage),
    /// One image per frame.
    Frames(Vec<(f64, HostImage)>),
}

/// How to render one frame.
#[derive(Clone, Debug)]
pub struct RenderRequest {
    pub time: f64,
    pub render_scale: f64,
    /// Pixel window; None = the Source image's bounds.
    pub window: Option<[i32; 4]>,
    /// Output depth; None = what getClipPreferences asked for.
    pub depth: Option<BitDepth>,
    pub negative_row_bytes: bool,
    pub row_padding: usize,
    /// Where the host keeps the images (CPU, or CUDA device memory as Resolve does).
    pub memory: ImageMemory,
    /// The output image's bounds; None = the render window.
    pub output_bounds: Option<[i32; 4]>,
    /// What the output image holds before the render (RGBA); None = zeros.
    pub output_fill: Option<[f32; 4]>,
}

impl Default for RenderRequest {
    fn default() -> Self {
        RenderRequest {
            time: 0.0,
            render_scale: 1.0,
            window: None,
            depth: None,
            negative_row_bytes: false,
            row_padding: 0,
            memory: ImageMemory::Cpu,
            output_bounds: None,
            output_fill: None,
        }
    }
}

/// A rendered frame with its times and, for a busy CUDA stream, whether it was still busy when the
/// render action started.
#[derive(Debug)]
pub struct Rendered {
    pub image: HostImage,
    pub times: RenderTimes,
    pub stream_busy_at_render: Option<bool>,
}

/// A plugin instance; destroyInstance runs on drop.
pub struct Instance<'p> {
    plugin: &'p Plugin,
    effect: Arc<Effect>,
    context: String,
    destroyed: bool,
}

impl Instance<'_> {
    pub fn effect(&self) -> &Arc<Effect> {
        &self.effect
    }
    pub fn context(&self) -> &str {
        &self.context
    }

    /// Sets a parameter's value as a host UI would (no instanceChanged is sent).
    pub fn set_param(&self, name: &str, v: ParamValue) -> Result<(), String> {
        let p = self
            .effect
            .params()
            .get(name)
            .ok_or_else(|| format!("no param {name}"))?;
        p.set_value(v)
    }
    pub fn set_int(&self, name: &str, v: i32) -> Result<(), String> {
        self.set_param(name, ParamValue::Int(vec![v]))
    }
    pub fn set_double(&self, name: &str, v: f64) -> Result<(), String> {
        self.set_param(name, ParamValue::Double(vec![v]))
    }
    pub fn set_string(&self, name: &str, v: &str) -> Result<(), String> {
        self.set_param(name, ParamValue::Str(v.to_owned()))
    }
    /// Sets a param from text: by its type (int/bool/choice: integer or choice label, any case;
    /// double; string). Values outside the declared range are refused.
    pub fn set_param_text(&self, name: &str, text: &str) -> Result<(), String> {
        let p = self
            .effect
            .params()
            .get(name)
            .ok_or_else(|| format!("no param {name}"))?;
        let v = match p.param_type() {
            "OfxParamTypeChoice" => {
                let labels = p
                    .props()
                    .get_str("OfxParamPropChoiceOption")
                    .unwrap_or_default();
                let i = match text.parse::<i32>() {
                    Ok(i) => i,
                    Err(_) => labels
                        .iter()
                        .position(|l| l == text)
                        .or_else(|| labels.iter().position(|l| l.eq_ignore_ascii_case(text)))
                        .ok_or_else(|| format!("{name}: no choice {text:?} in {labels:?}"))?
                        as i32,
                };
                if i < 0 || i as usize >= labels.len() {
                    return Err(format!(
                        "{name}: choice {i} out of range 0..{} ({labels:?})",
                        labels.len().saturating_sub(1)
                    ));
                }
                ParamValue::Int(vec![i])
            }
            "OfxParamTypeBoolean" => ParamValue::Int(vec![match text {
                "1" | "true" | "on" | "yes" => 1,
                "0" | "false" | "off" | "no" => 0,
                _ => return Err(format!("{name}: not a boolean: {text}")),
            }]),
            "OfxParamTypeInteger" => {
                let v: i32 = text
                    .parse()
                    .map_err(|_| format!("{name}: not an int: {text}"))?;
                check_range(p.props(), name, f64::from(v))?;
                ParamValue::Int(vec![v])
            }
            "OfxParamTypeDouble" => {
                let v: f64 = text
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| format!("{name}: not a number: {text}"))?;
                check_range(p.props(), name, v)?;
                ParamValue::Double(vec![v])
            }
            "OfxParamTypeString" => ParamValue::Str(text.to_owned()),
            t => return Err(format!("{name}: cannot set a {t} from text")),
        };
        p.set_value(v)
    }

    /// Connects (or disconnects) an input clip. Image bounds are pixel coordinates at the image's
    /// render scale; the clip's RoD is derived from them.
    pub fn set_input(&self, clip: &str, input: Input) -> Result<(), String> {
        let c = self
            .effect
            .clip(clip)
            .ok_or_else(|| format!("no clip {clip}"))?;
        let src = match input {
            Input::Unconnected => ClipSource::Unconnected,
            Input::NullImage => ClipSource::NullImage,
            Input::Image(i) => ClipSource::Images {
                per_frame: HashMap::new(),
                any: Some(Arc::new(i)),
            },
            Input::Frames(f) => ClipSource::Images {
                per_frame: f
                    .into_iter()
                    .map(|(t, i)| (((t * 1000.0).round()) as i64, Arc::new(i)))
                    .collect(),
                any: None,
            },
        };
        let first = match &src {
            ClipSource::Images { per_frame, any } => {
                any.clone().or_else(|| per_frame.values().next().cloned())
            }
            _ => None,
        };
        c.set_rod(None);
        c.set_source(src);
        set_clip_host_props(&c, first.as_deref());
        if clip == "Source" {
            if let Some(i) = first {
                let b = i.bounds();
                let (w, h) = (
                    (b[2] - b[0]) as f64 / i.render_scale[0],
                    (b[3] - b[1]) as f64 / i.render_scale[1],
                );
                self.effect
                    .props()
                    .set_double("OfxImageEffectPropProjectSize", &[w, h]);
                self.effect
                    .props()
                    .set_double("OfxImageEffectPropProjectExtent", &[w, h]);
            }
        }
        Ok(())
    }

    /// Gives an input clip the frames at other times than the render's (a sequence on disk): the
    /// host hands them to a plugin that declared temporal clip access, and refuses them otherwise.
    pub fn set_frame_loader(&self, clip: &str, loader: Option<FrameLoader>) -> Result<(), String> {
        let c = self
            .effect
            .clip(clip)
            .ok_or_else(|| format!("no clip {clip}"))?;
        c.set_loader(loader);
        Ok(())
    }

    /// The render in progress (its time) as the clips see it.
    fn set_render_time(&self, time: Option<f64>) {
        for c in self.effect.clips() {
            c.set_render_time(time);
        }
    }

    pub fn set_abort(&self, f: Option<AbortFn>) {
        self.effect.set_abort(f);
    }
    pub fn messages(&self) -> Vec<Message> {
        self.effect.messages()
    }
    pub fn persistent_message(&self) -> Option<Message> {
        self.effect.persistent_message()
    }

    fn check(&self, action: &str, st: Status, default_ok: bool) -> Result<(), HostError> {
        self.plugin.check(action, &self.effect, st, default_ok)
    }

    /// kOfxImageEffectActionGetClipPreferences with the host's defaults in outArgs; the plugin's
    /// answer is applied to the Output clip. Returns outArgs.
    pub fn clip_preferences(&self) -> Result<Arc<PropSet>, HostError> {
        let out = PropSet::new();
        for c in self.effect.clips() {
            let p = c.props();
            let comps = p
                .get_str("OfxImageEffectPropComponents")
                .unwrap_or_default();
            let depth = p
                .get_str("OfxImageEffectPropPixelDepth")
                .unwrap_or_default();
            let comps = comps
                .first()
                .map(String::as_str)
                .unwrap_or("OfxImageComponentRGBA");
            let depth = depth
                .first()
                .map(String::as_str)
                .unwrap_or("OfxBitDepthFloat");
            out.set_str(
                &format!("OfxImageClipPropComponents_{}", c.name()),
                &[comps],
            );
            out.set_str(&format!("OfxImageClipPropDepth_{}", c.name()), &[depth]);
            out.set_double(&format!("OfxImageClipPropPAR_{}", c.name()), &[1.0]);
        }
        let src_premult = self
            .effect
            .clip("Source")
            .and_then(|c| c.props().get_str("OfxImageEffectPropPreMultiplication"))
            .and_then(|v| v.into_iter().next())
            .unwrap_or_else(|| "OfxImageOpaque".into());
        out.set_double("OfxImageEffectPropFrameRate", &[24.0]);
        out.set_str("OfxImageClipPropFieldOrder", &["OfxImageFieldNone"]);
        out.set_str("OfxImageEffectPropPreMultiplication", &[&src_premult]);
        out.set_int("OfxImageClipPropContinuousSamples", &[0]);
        out.set_int("OfxImageEffectFrameVarying", &[0]);
        out.seal_defaults();
        let st = self.plugin.action(
            "OfxImageEffectActionGetClipPreferences",
            Some(&self.effect),
            None,
            Some(&out),
        );
        self.check("OfxImageEffectActionGetClipPreferences", st, true)?;
        if let Some(o) = self.effect.clip("Output") {
            if let Some(v) = out.get_str("OfxImageClipPropComponents_Output") {
                o.props().set_str("OfxImageEffectPropComponents", &[&v[0]]);
            }
            if let Some(v) = out.get_str("OfxImageClipPropDepth_Output") {
                o.props().set_str("OfxImageEffectPropPixelDepth", &[&v[0]]);
            }
            if let Some(v) = out.get_str("OfxImageEffectPropPreMultiplication") {
                o.props()
                    .set_str("OfxImageEffectPropPreMultiplication", &[&v[0]]);
            }
        }
        Ok(out)
    }

    /// kOfxImageEffectActionGetRegionOfDefinition. None when the plugin replies default.
    pub fn region_of_definition(
        &self,
        time: f64,
        scale: f64,
    ) -> Result<Option<[f64; 4]>, HostError> {
        let in_args = PropSet::new();
        in_args.set_double("OfxPropTime", &[time]);
        in_args.set_double("OfxImageEffectPropRenderScale", &[scale, scale]);
        let out = PropSet::new();
        let def = self.default_rod(time);
        out.set_double("OfxImageEffectPropRegionOfDefinition", &def);
        let st = self.plugin.action(
            "OfxImageEffectActionGetRegionOfDefinition",
            Some(&self.effect),
            Some(&in_args),
            Some(&out),
        );
        self.check("OfxImageEffectActionGetRegionOfDefinition", st, true)?;
        if st == status::REPLY_DEFAULT {
            return Ok(None);
        }
        let r = out
            .get_double("OfxImageEffectPropRegionOfDefinition")
            .unwrap_or_default();
        Ok((r.len() == 4).then(|| [r[0], r[1], r[2], r[3]]))
    }

    fn default_rod(&self, time: f64) -> [f64; 4] {
        let src = self.effect.clip("Source");
        src.and_then(|c| match c.source() {
            ClipSource::Images { per_frame, any } => per_frame
                .get(&((time * 1000.0).round() as i64))
                .or(any.as_ref())
                .map(|i| {
                    let b = i.bounds();
                    let s = i.render_scale;
                    [
                        b[0] as f64 / s[0],
                        b[1] as f64 / s[1],
                        b[2] as f64 / s[0],
                        b[3] as f64 / s[1],
                    ]
                }),
            _ => None,
        })
        .unwrap_or([0.0, 0.0, 1920.0, 1080.0])
    }

    /// kOfxImageEffectActionGetRegionsOfInterest for a region (canonical coordinates). Returns outArgs
    /// (`OfxImageClipPropRoI_<clip>`), pre-filled with the region for every input clip.
    pub fn regions_of_interest(
        &self,
        time: f64,
        scale: f64,
        roi: [f64; 4],
    ) -> Result<(Status, Arc<PropSet>), HostError> {
        let in_args = PropSet::new();
        in_args.set_double("OfxPropTime", &[time]);
        in_args.set_double("OfxImageEffectPropRenderScale", &[scale, scale]);
        in_args.set_double("OfxImageEffectPropRegionOfInterest", &roi);
        let out = PropSet::new();
        for c in self.effect.clips() {
            if c.name() != "Output" {
                out.set_double(&format!("OfxImageClipPropRoI_{}", c.name()), &roi);
            }
        }
        let st = self.plugin.action(
            "OfxImageEffectActionGetRegionsOfInterest",
            Some(&self.effect),
            Some(&in_args),
            Some(&out),
        );
        self.check("OfxImageEffectActionGetRegionsOfInterest", st, true)?;
        Ok((st, out))
    }

    /// Converts input images to the depth and components getClipPreferences asked for, as hosts do
    /// (keeping bounds, render scale and row order).
    fn conform_inputs(&self, prefs: &PropSet) -> Result<(), String> {
        for c in self.effect.clips() {
            if c.name() == "Output" {
                continue;
            }
            let want_d = prefs
                .get_str(&format!("OfxImageClipPropDepth_{}", c.name()))
                .and_then(|v| v.first().and_then(|d| BitDepth::from_ofx(d)));
            let want_c = prefs
                .get_str(&format!("OfxImageClipPropComponents_{}", c.name()))
                .and_then(|v| v.first().and_then(|d| Components::from_ofx(d)));
            let ClipSource::Images { per_frame, any } = c.source() else {
                continue;
            };
            let conv = |i: &Arc<HostImage>| -> Result<Arc<HostImage>, String> {
                let d = want_d.unwrap_or(i.depth());
                let k = want_c.unwrap_or(i.components());
                if d == i.depth() && k == i.components() {
                    return Ok(i.clone());
                }
                let mut n = HostImage::new(i.bounds(), d, k, i.row_bytes() < 0, 0);
                n.render_scale = i.render_scale;
                n.premultiplication = i.premultiplication.clone();
                n.fill_rgba(&i.to_rgba()?)?;
                Ok(Arc::new(n))
            };
            let per_frame = per_frame
                .iter()
                .map(|(t, i)| Ok((*t, conv(i)?)))
                .collect::<Result<HashMap<_, _>, String>>()?;
            let any = any.as_ref().map(conv).transpose()?;
            let first = any.clone().or_else(|| per_frame.values().next().cloned());
            c.set_source(ClipSource::Images { per_frame, any });
            set_clip_host_props(&c, first.as_deref());
        }
        Ok(())
    }

    fn sequence_args(&self, req: &RenderRequest) -> Arc<PropSet> {
        let a = PropSet::new();
        a.set_double("OfxImageEffectPropFrameRange", &[req.time, req.time]);
        a.set_double("OfxImageEffectPropFrameStep", &[1.0]);
        a.set_int("OfxPropIsInteractive", &[0]);
        a.set_double(
            "OfxImageEffectPropRenderScale",
            &[req.render_scale, req.render_scale],
        );
        a.set_int("OfxImageEffectPropSequentialRenderStatus", &[0]);
        a.set_int("OfxImageEffectPropInteractiveRenderStatus", &[0]);
        a
    }

    /// Renders one frame the way a host does: clip preferences, an output image of the chosen depth
    /// over the render window, begin sequence, render, end sequence. Returns the output image.
    pub fn render(&self, req: &RenderRequest) -> Result<HostImage, HostError> {
        self.render_report(req).map(|r| r.image)
    }

    /// [`Instance::render`] with the render's times. With CUDA images (`req.memory`) the inputs and
    /// the output go to device memory first and the output comes back to the CPU afterwards.
    pub fn render_report(&self, req: &RenderRequest) -> Result<Rendered, HostError> {
        let prefs = self.clip_preferences()?;
        let out_clip = self.effect.clip("Output").ok_or_else(|| HostError {
            action: "render".into(),
            status: status::ERR_BAD_HANDLE,
            messages: vec![],
        })?;
        let depth = req.depth.unwrap_or_else(|| {
            prefs
                .get_str("OfxImageClipPropDepth_Output")
                .and_then(|v| v.first().and_then(|d| BitDepth::from_ofx(d)))
                .unwrap_or(BitDepth::Float)
        });
        let comps = prefs
            .get_str("OfxImageClipPropComponents_Output")
            .and_then(|v| v.first().and_then(|c| Components::from_ofx(c)))
            .unwrap_or(Components::Rgba);
        self.conform_inputs(&prefs).map_err(|e| HostError {
            action: e,
            status: status::ERR_FORMAT,
            messages: vec![],
        })?;
        let rod = self.default_rod(req.time);
        let s = req.render_scale;
        let window = req.window.unwrap_or([
            (rod[0] * s).floor() as i32,
            (rod[1] * s).floor() as i32,
            (rod[2] * s).ceil() as i32,
            (rod[3] * s).ceil() as i32,
        ]);
        let mut img = HostImage::new(
            req.output_bounds.unwrap_or(window),
            depth,
            comps,
            req.negative_row_bytes,
            req.row_padding,
        );
        img.render_scale = [s, s];
        img.premultiplication = prefs
            .get_str("OfxImageEffectPropPreMultiplication")
            .and_then(|v| v.into_iter().next())
            .unwrap_or_else(|| "OfxImageAlphaPremultiplied".into());
        if let Some(fill) = req.output_fill {
            let n = img.width() * img.height();
            img.fill_rgba(&fill.repeat(n)).map_err(|e| HostError {
                action: e,
                status: status::ERR_VALUE,
                messages: vec![],
            })?;
        }
        out_clip
            .props()
            .set_str("OfxImageEffectPropPixelDepth", &[depth.ofx_name()]);
        out_clip.set_rod(Some(rod));
        let mut times = RenderTimes::default();
        let t = Instant::now();
        let device = match req.memory {
            ImageMemory::Cpu => None,
            m => Some(
                DeviceRender::prepare(&self.effect, m, &img).map_err(|e| HostError {
                    action: format!("putting the images in device memory: {e}"),
                    status: status::FAILED,
                    messages: vec![],
                })?,
            ),
        };
        times.upload_ms = ms_since(t);
        let given = match &device {
            Some(d) => d.output.clone(),
            None => Arc::new(img),
        };
        out_clip.insert_frame(req.time, given);
        let mut busy = None;

        let seq = self.sequence_args(req);
        let st = self.plugin.action(
            "OfxImageEffectActionBeginSequenceRender",
            Some(&self.effect),
            Some(&seq),
            None,
        );
        let begin = self.check("OfxImageEffectActionBeginSequenceRender", st, true);
        let rendered = begin.and_then(|_| {
            let a = PropSet::new();
            a.set_double("OfxPropTime", &[req.time]);
            a.set_str("OfxImageEffectPropFieldToRender", &["OfxImageFieldNone"]);
            a.set_int("OfxImageEffectPropRenderWindow", &window);
            a.set_double("OfxImageEffectPropRenderScale", &[s, s]);
            a.set_int("OfxImageEffectPropSequentialRenderStatus", &[0]);
            a.set_int("OfxImageEffectPropInteractiveRenderStatus", &[0]);
            a.set_int("OfxImageEffectPropRenderQualityDraft", &[0]);
            if let Some(d) = &device {
                d.set_in_args(&a);
                busy = d.busy_now();
            }
            let t = Instant::now();
            self.set_render_time(Some(req.time));
            let st = self.plugin.action(
                "OfxImageEffectActionRender",
                Some(&self.effect),
                Some(&a),
                None,
            );
            self.set_render_time(None);
            let mut r = self.check("OfxImageEffectActionRender", st, false);
            if let Some(d) = &device {
                // The plugin's work on the host's stream belongs to the render.
                if let Err(e) = d.synchronize() {
                    r = r.and(Err(HostError {
                        action: format!("the host's stream after the render: {e}"),
                        status: status::FAILED,
                        messages: vec![],
                    }));
                }
            }
            times.render_ms = ms_since(t);
            let st = self.plugin.action(
                "OfxImageEffectActionEndSequenceRender",
                Some(&self.effect),
                Some(&seq),
                None,
            );
            r.and(self.check("OfxImageEffectActionEndSequenceRender", st, true))
        });
        let taken = out_clip.take_frame(req.time);
        rendered?;
        let taken = taken.ok_or_else(|| HostError {
            action: "render".into(),
            status: status::FAILED,
            messages: vec![],
        })?;
        // The clip's handle, and with CUDA images the device render's own: any other is the plugin's.
        if Arc::strong_count(&taken) > 1 + usize::from(device.is_some()) {
            return Err(HostError {
                action: "OfxImageEffectActionRender (output image not released by the plugin)"
                    .into(),
                status: status::FAILED,
                messages: self.messages(),
            });
        }
        let image = match device {
            None => Arc::try_unwrap(taken).map_err(|_| HostError {
                action: "OfxImageEffectActionRender (output image not released by the plugin)"
                    .into(),
                status: status::FAILED,
                messages: self.messages(),
            })?,
            Some(d) => {
                let t = Instant::now();
                let mut cpu = HostImage::new(
                    taken.bounds(),
                    taken.depth(),
                    taken.components(),
                    req.negative_row_bytes,
                    req.row_padding,
                );
                cpu.render_scale = taken.render_scale;
                cpu.premultiplication = taken.premultiplication.clone();
                let r = cpu.download_from(&taken);
                drop(d);
                r.map_err(|e| HostError {
                    action: format!("bringing the output back from the device: {e}"),
                    status: status::FAILED,
                    messages: vec![],
                })?;
                times.download_ms = ms_since(t);
                cpu
            }
        };
        Ok(Rendered {
            image,
            times,
            stream_busy_at_render: busy,
        })
    }

    /// kOfxActionDestroyInstance (also run on drop).
    pub fn destroy(mut self) -> Result<(), HostError> {
        self.destroy_inner()
    }

    fn destroy_inner(&mut self) -> Result<(), HostError> {
        if self.destroyed {
            return Ok(());
        }
        self.destroyed = true;
        let st = self
            .plugin
            .action("OfxActionDestroyInstance", Some(&self.effect), None, None);
        self.check("OfxActionDestroyInstance", st, true)
    }
}

impl Drop for Instance<'_> {
    fn drop(&mut self) {
        let _ = self.destroy_inner();
    }
}

/// A host image over (0, 0, w, h) filled from RGBA f32 rows (row 0 = bottom).
pub fn image_from_rgba(
    w: usize,
    h: usize,
    rgba: &[f32],
    depth: BitDepth,
    components: Components,
    negative_row_bytes: bool,
) -> Result<HostImage, String> {
    let mut img = HostImage::new(
        [0, 0, w as i32, h as i32],
        depth,
        components,
        negative_row_bytes,
        0,
    );
    img.fill_rgba(rgba)?;
    Ok(img)
}
