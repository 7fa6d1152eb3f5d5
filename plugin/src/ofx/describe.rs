//! Describe, describeInContext and getClipPreferences: the node as hosts see it (docs/PARAMS.md).

use ofx_bindings::names::{self, CLIP_PREF_COMPONENTS_PREFIX, CLIP_PREF_DEPTH_PREFIX};
use ofx_bindings::{
    k, BitDepth, Components, Error, ImageEffect, Premult, PropertySet, Result, Status,
};

use super::engine_call;
use super::log::log;
use super::params::{ParamValues, DEFINITIONS, PAGE_ORDER, SHOW};
use super::paths::{runtime_config, BundlePaths};
use crate::engine::{Device, OutputMode};

pub const PLUGIN_ID: &std::ffi::CStr = c"org.corridorkey.CorridorKey";
pub const VERSION_MAJOR: u32 = 1;
pub const VERSION_MINOR: u32 = 0;

pub const CLIP_SOURCE: &str = "Source";
pub const CLIP_HINT: &str = "AlphaHint";
pub const CLIP_GARBAGE: &str = "Garbage";
pub const CLIP_CORE: &str = "Core";
pub const CLIP_OUTPUT: &str = "Output";
/// Optional matte inputs, in the order the engine takes them.
pub const MATTE_CLIPS: [&str; 3] = [CLIP_HINT, CLIP_GARBAGE, CLIP_CORE];

const DESCRIPTION: &str = "CorridorKey: neural green-screen keyer (GreenFormer). Feed it the plate and, optionally, a \
coarse alpha hint; it returns a clean linear premultiplied RGBA with hair and motion-blur edges resolved and spill removed.";

/// Properties that only newer or specific hosts know; refusing them is fine.
fn optional(r: Result<()>) {
    let _ = r;
}

pub fn describe(effect: &ImageEffect) -> Result<Status> {
    let p = effect.properties()?;
    p.set_string(k!(kOfxPropLabel), 0, "CorridorKey")?;
    optional(p.set_string(k!(kOfxPropShortLabel), 0, "CorridorKey"));
    optional(p.set_string(k!(kOfxPropLongLabel), 0, "CorridorKey"));
    p.set_string(k!(kOfxImageEffectPluginPropGrouping), 0, "Keyer")?;
    optional(p.set_string(k!(kOfxPropPluginDescription), 0, DESCRIPTION));
    optional(p.set_int_n(
        k!(kOfxPropVersion),
        &[VERSION_MAJOR as i32, VERSION_MINOR as i32],
    ));
    optional(p.set_string(k!(kOfxPropVersionLabel), 0, "1.0"));
    p.set_strings(
        k!(kOfxImageEffectPropSupportedContexts),
        &[
            cs(k!(kOfxImageEffectContextFilter)),
            cs(k!(kOfxImageEffectContextGeneral)),
        ],
    )?;
    p.set_strings(
        k!(kOfxImageEffectPropSupportedPixelDepths),
        &[
            cs(BitDepth::Float.name()),
            cs(BitDepth::Short.name()),
            cs(BitDepth::Byte.name()),
        ],
    )?;
    p.set_bool(k!(kOfxImageEffectPropSupportsTiles), 0, false)?;
    p.set_bool(k!(kOfxImageEffectPropSupportsMultiResolution), 0, true)?;
    // Steady mattes read frames t-1 and t+1 (off by default: then only frame t is asked for).
    p.set_bool(k!(kOfxImageEffectPropTemporalClipAccess), 0, true)?;
    p.set_string(
        k!(kOfxImageEffectPluginRenderThreadSafety),
        0,
        cs(k!(kOfxImageEffectRenderInstanceSafe)),
    )?;
    p.set_bool(k!(kOfxImageEffectPluginPropHostFrameThreading), 0, false)?;
    optional(p.set_bool(k!(kOfxImageEffectPropSupportsMultipleClipDepths), 0, true));
    optional(p.set_bool(k!(kOfxImageEffectPropSupportsMultipleClipPARs), 0, false));
    optional(p.set_bool(k!(kOfxImageEffectPluginPropSingleInstance), 0, false));
    optional(p.set_int(k!(kOfxImageEffectInstancePropSequentialRender), 0, 0));
    optional(p.set_string(k!(kOfxImageEffectPropClipPreferencesSlaveParam), 0, SHOW));
    optional(p.set_string(names::IMAGE_EFFECT_PROP_CPU_RENDER_SUPPORTED, 0, "true"));
    if ofx_bindings::gpu_render::host_offers_cuda_render() {
        if engine_call::cuda_images_opted_in() {
            offer_cuda_render(&p);
        } else {
            log(format!(
                "CUDA render not offered: opt in with {}=1 (staged through host memory today)",
                super::config::CUDA_IMAGES
            ));
        }
    }
    Ok(Status::Ok)
}

/// OFX CUDA render (Resolve on NVIDIA): declared only when this process can really key CUDA images
/// (the bundle's ONNX Runtime has its CUDA provider, the provider loads, libcudart sees a GPU),
/// never on a CPU-only bundle. Asked only of hosts that offer it; the answer is cached per process.
fn offer_cuda_render(p: &PropertySet) {
    let host_path = p.get_string(k!(kOfxPluginPropFilePath), 0).ok();
    let bundle = BundlePaths::locate(host_path.as_deref());
    let runtime = runtime_config(
        "",
        Device::Cuda,
        0,
        &super::config::get().env,
        bundle.as_ref(),
    );
    match engine_call::cuda_images_supported(&runtime) {
        Ok(()) => match ofx_bindings::gpu_render::declare_cuda_render(p) {
            Ok(()) => log("CUDA render offered to the host (images stay on the GPU)"),
            Err(e) => log(format!("the host refused the CUDA render properties: {e}")),
        },
        Err(e) => log(format!("CUDA render not offered: {e}")),
    }
}

fn cs(c: &'static std::ffi::CStr) -> &'static str {
    c.to_str().unwrap_or_default()
}

fn define_clip(
    effect: &ImageEffect,
    name: &str,
    components: &[Components],
    optional_mask: bool,
) -> Result<PropertySet> {
    let c = effect.define_clip(name)?;
    let comps: Vec<&str> = components.iter().map(|c| cs(c.name())).collect();
    c.set_strings(k!(kOfxImageEffectPropSupportedComponents), &comps)?;
    c.set_bool(k!(kOfxImageEffectPropSupportsTiles), 0, false)?;
    optional(c.set_bool(k!(kOfxImageEffectPropTemporalClipAccess), 0, true));
    if optional_mask {
        c.set_bool(k!(kOfxImageClipPropOptional), 0, true)?;
        optional(c.set_bool(k!(kOfxImageClipPropIsMask), 0, true));
    }
    Ok(c)
}

pub fn describe_in_context(effect: &ImageEffect, in_args: Option<&PropertySet>) -> Result<Status> {
    let context = in_args
        .and_then(|a| a.get_string(k!(kOfxImageEffectPropContext), 0).ok())
        .unwrap_or_default();
    let known = [
        cs(k!(kOfxImageEffectContextFilter)),
        cs(k!(kOfxImageEffectContextGeneral)),
    ];
    if !context.is_empty() && !known.contains(&context.as_str()) {
        return Err(Error::new(
            Status::ErrUnsupported,
            format!("context {context}"),
        ));
    }
    define_clip(
        effect,
        CLIP_SOURCE,
        &[Components::Rgba, Components::Rgb],
        false,
    )?;
    for m in MATTE_CLIPS {
        define_clip(effect, m, &[Components::Alpha, Components::Rgba], true)?;
    }
    define_clip(effect, CLIP_OUTPUT, &[Components::Rgba], false)?;

    let ps = effect.param_set()?;
    for def in DEFINITIONS {
        ps.define(def)?;
    }
    optional(
        ps.properties()
            .and_then(|p| p.set_strings(k!(kOfxPluginPropParamPageOrder), PAGE_ORDER)),
    );
    Ok(Status::Ok)
}

/// The output's premultiplication for a `show` mode (docs/PARAMS.md).
pub fn output_premult(mode: OutputMode) -> Premult {
    match mode {
        OutputMode::Premultiplied | OutputMode::Composite => Premult::PreMultiplied,
        OutputMode::Unpremultiplied | OutputMode::Foreground => Premult::UnPreMultiplied,
        OutputMode::Matte | OutputMode::Status | OutputMode::Hint => Premult::Opaque,
    }
}

fn host_supports(prop: &std::ffi::CStr, value: &std::ffi::CStr) -> bool {
    match ofx_bindings::host_info::host_properties().and_then(|h| h.get_strings(prop)) {
        Ok(v) if !v.is_empty() => v.iter().any(|s| s.as_bytes() == value.to_bytes()),
        // A host that does not say is assumed to support the basics.
        _ => true,
    }
}

pub fn clip_preferences(effect: &ImageEffect, out_args: &PropertySet) -> Result<Status> {
    let show = effect
        .param_set()
        .and_then(|ps| ps.param(SHOW))
        .and_then(|p| p.int_value())
        .unwrap_or(0);
    let mode = ParamValues {
        show,
        ..Default::default()
    }
    .output_mode();

    let float = host_supports(
        k!(kOfxImageEffectPropSupportedPixelDepths),
        BitDepth::Float.name(),
    );
    let alpha = host_supports(
        k!(kOfxImageEffectPropSupportedComponents),
        Components::Alpha.name(),
    );
    // Refusals are ignored: hosts only hold these for connected clips.
    let set = |clip: &str, comps: Components| {
        if let Ok(n) = names::clip_prop(CLIP_PREF_COMPONENTS_PREFIX, clip) {
            optional(out_args.set_string(&n, 0, cs(comps.name())));
        }
        if float {
            if let Ok(n) = names::clip_prop(CLIP_PREF_DEPTH_PREFIX, clip) {
                optional(out_args.set_string(&n, 0, cs(BitDepth::Float.name())));
            }
        }
    };
    set(CLIP_SOURCE, Components::Rgba);
    for m in MATTE_CLIPS {
        let connected = effect.clip(m).map(|c| c.is_connected()).unwrap_or(false);
        if connected {
            set(
                m,
                if alpha {
                    Components::Alpha
                } else {
                    Components::Rgba
                },
            );
        }
    }
    set(CLIP_OUTPUT, Components::Rgba);
    out_args.set_string(
        k!(kOfxImageEffectPropPreMultiplication),
        0,
        cs(output_premult(mode).name()),
    )?;
    optional(out_args.set_bool(k!(kOfxImageEffectFrameVarying), 0, false));
    Ok(Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn premult_per_show_mode() {
        assert_eq!(
            output_premult(OutputMode::Premultiplied),
            Premult::PreMultiplied
        );
        assert_eq!(
            output_premult(OutputMode::Composite),
            Premult::PreMultiplied
        );
        assert_eq!(
            output_premult(OutputMode::Unpremultiplied),
            Premult::UnPreMultiplied
        );
        assert_eq!(
            output_premult(OutputMode::Foreground),
            Premult::UnPreMultiplied
        );
        for m in [OutputMode::Matte, OutputMode::Status, OutputMode::Hint] {
            assert_eq!(output_premult(m), Premult::Opaque);
        }
    }
}
