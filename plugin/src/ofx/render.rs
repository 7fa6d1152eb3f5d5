//! The render action: host images in, engine, host image out. Any engine failure passes the
//! source through with a persistent message: never a black frame, never a crash.

use std::sync::Arc;
use std::time::Instant;

use ofx_bindings::{k, Error, Image, ImageEffect, PropertySet, RectI, Result, Status};

use super::buffers;
use super::describe::{CLIP_CORE, CLIP_GARBAGE, CLIP_HINT, CLIP_OUTPUT, CLIP_SOURCE};
use super::engine_call;
use super::instance::Instance;
use super::log::log;
use super::params::ParamValues;
use super::paths;
use super::pixels::{copy_through, read_matte_hashed, read_rgba_hashed, write_rgba};
use crate::engine::{
    EngineError, FrameInput, FrameOutput, HintSource, InputHashes, KeyParams, MatteImage,
    RgbaImage, RuntimeConfig,
};

/// Settings of one render call, read from the action's arguments and the params.
pub struct Settings {
    pub time: f64,
    pub window: Option<RectI>,
    pub params: KeyParams,
    pub runtime: RuntimeConfig,
    /// Param values that were outside their declared ranges and were clamped (for the log).
    pub notes: Vec<String>,
}

pub fn settings(effect: &ImageEffect, in_args: &PropertySet, inst: &Instance) -> Result<Settings> {
    let time = in_args.get_double(k!(kOfxPropTime), 0)?;
    let scale = in_args
        .get_double_n::<2>(k!(kOfxImageEffectPropRenderScale))
        .unwrap_or([1.0, 1.0]);
    let window = in_args
        .get_int_n::<4>(k!(kOfxImageEffectPropRenderWindow))
        .ok()
        .map(|w| RectI {
            x1: w[0],
            y1: w[1],
            x2: w[2],
            y2: w[3],
        });
    let mut values = ParamValues::read(&effect.param_set()?, time)?;
    let notes = values.clamp_to_ranges();
    for n in &notes {
        log(n);
    }
    let runtime = runtime_for(&values, inst);
    Ok(Settings {
        time,
        window,
        params: values.key_params(scale[0]),
        runtime,
        notes,
    })
}

pub fn runtime_for(values: &ParamValues, inst: &Instance) -> RuntimeConfig {
    paths::runtime_config(
        &values.model_folder,
        values.device_choice(),
        values.gpu_memory_mb,
        &super::config::get().env,
        inst.bundle.as_ref(),
    )
}

/// An optional matte placed in the source window and its content hash; unconnected, NULL or
/// unreadable = absent. Err only when there is no memory for it.
fn matte(
    effect: &ImageEffect,
    name: &str,
    time: f64,
    window: RectI,
) -> std::result::Result<Option<(MatteImage, u128)>, EngineError> {
    let Ok(clip) = effect.clip(name) else {
        return Ok(None);
    };
    if !clip.is_connected() {
        return Ok(None);
    }
    let image = match clip.image(time) {
        Ok(Some(i)) => i,
        Ok(None) => return Ok(None),
        Err(e) => {
            log(format!("{name}: {e}; treated as absent"));
            return Ok(None);
        }
    };
    match image.view() {
        Ok(v) => read_matte_hashed(&v, window).map(Some),
        Err(e) => {
            log(format!("{name}: {e}; treated as absent"));
            Ok(None)
        }
    }
}

/// The engine's images of one frame, read from the host, and their content hashes (taken while
/// they were read: the frame cache's key without a second pass).
struct Inputs {
    source: RgbaImage,
    /// The source's pixel bounds: where the engine's images sit in OFX coordinates.
    bounds: RectI,
    hint: Option<MatteImage>,
    garbage: Option<MatteImage>,
    core: Option<MatteImage>,
    hashes: InputHashes,
}

impl Inputs {
    /// The images' buffers kept for the next frame's read (resident memory, `buffers.rs`).
    fn recycle(self) {
        buffers::give_back(self.source.data);
        for m in [self.hint, self.garbage, self.core].into_iter().flatten() {
            buffers::give_back(m.data);
        }
    }

    fn frame(&self) -> FrameInput<'_> {
        FrameInput {
            source: &self.source,
            hint: self.hint.as_ref(),
            garbage: self.garbage.as_ref(),
            core: self.core.as_ref(),
        }
    }
}

/// The optional clips in the source's bounds: (hint, garbage, core), each with its hash.
type Mattes = [Option<(MatteImage, u128)>; 3];

fn mattes(
    effect: &ImageEffect,
    s: &Settings,
    bounds: RectI,
) -> std::result::Result<Mattes, EngineError> {
    let hint = if s.params.hint_source == HintSource::Clip {
        matte(effect, CLIP_HINT, s.time, bounds)?
    } else {
        None
    };
    let garbage = matte(effect, CLIP_GARBAGE, s.time, bounds)?;
    let core = matte(effect, CLIP_CORE, s.time, bounds)?;
    Ok([hint, garbage, core])
}

/// Reads the source (released before the mattes are asked for) and the mattes. None when the
/// frame is already answered: the source passed through because the engine cannot take it.
fn read_inputs(
    effect: &ImageEffect,
    inst: &Instance,
    s: &Settings,
    src_img: Image,
    out: &mut Image,
    window: RectI,
) -> Result<Option<Inputs>> {
    let (source, src_hash, bounds) = {
        let view = src_img.view()?;
        match read_rgba_hashed(&view) {
            Ok((image, hash)) => (image, hash, view.bounds()),
            Err(e) => {
                // Too large or no memory: the source goes through row by row, without a copy.
                inst.show_error(effect, passthrough_text(&e));
                copy_through(&mut out.view_mut()?, &view, window);
                return Ok(None);
            }
        }
    };
    drop(src_img);
    let [hint, garbage, core] = match mattes(effect, s, bounds) {
        Ok(m) => m,
        Err(e) => {
            inst.show_error(effect, passthrough_text(&e));
            write_rgba(&mut out.view_mut()?, Some((&source, bounds)), window);
            return Ok(None);
        }
    };
    let hash = |m: &Option<(MatteImage, u128)>| m.as_ref().map(|(_, h)| *h);
    let hashes = InputHashes {
        source: src_hash,
        hint: hash(&hint),
        garbage: hash(&garbage),
        core: hash(&core),
        // Frames of a host's clip at two times never share a cache entry.
        tag: s.time.to_bits(),
    };
    let image = |m: Option<(MatteImage, u128)>| m.map(|(m, _)| m);
    Ok(Some(Inputs {
        source,
        bounds,
        hint: image(hint),
        garbage: image(garbage),
        core: image(core),
        hashes,
    }))
}

/// Nuke does not want param values set from render threads; others take the info update.
fn may_set_params_in_render() -> bool {
    !ofx_bindings::host_info::host_name().starts_with("uk.co.thefoundry")
}

/// The persistent error of a frame the engine could not key.
fn passthrough_text(e: &EngineError) -> String {
    format!("CorridorKey: {e} — passing the source through")
}

pub fn render(effect: &ImageEffect, in_args: &PropertySet) -> Result<Status> {
    let inst = Instance::of(effect);
    let r = render_inner(effect, in_args, inst);
    if let Err(e) = &r {
        inst.show_error(effect, format!("CorridorKey: render failed: {e}"));
    }
    r
}

fn render_inner(effect: &ImageEffect, in_args: &PropertySet, inst: &Instance) -> Result<Status> {
    let s = settings(effect, in_args, inst)?;
    let mut out_img = effect
        .clip(CLIP_OUTPUT)?
        .image(s.time)?
        .ok_or_else(|| Error::new(Status::Failed, "the host gave no output image"))?;
    let window = s.window.unwrap_or(out_img.bounds()?);

    // No source image: OFX says assume transparent black.
    let Some(src_img) = effect.clip(CLIP_SOURCE)?.image(s.time)? else {
        write_rgba(&mut out_img.view_mut()?, None, window);
        return Ok(Status::Ok);
    };
    let Some(inputs) = read_inputs(effect, inst, &s, src_img, &mut out_img, window)? else {
        return Ok(Status::Ok);
    };
    if effect.abort_requested() {
        return Ok(Status::Ok);
    }
    let t0 = Instant::now();
    let abort = || effect.abort_requested();
    let result = engine_call::render(
        &inputs.frame(),
        &inputs.hashes,
        &s.params,
        &s.runtime,
        &abort,
    )
    .and_then(|out| same_size(out, &inputs.source));
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (image, bounds) = match &result {
        Ok(out) => (&out.image, inputs.bounds),
        Err(EngineError::Aborted) => return Ok(Status::Ok),
        Err(e) => {
            inst.show_error(effect, passthrough_text(e));
            (&inputs.source, inputs.bounds)
        }
    };
    write_rgba(&mut out_img.view_mut()?, Some((image, bounds)), window);
    if let Ok(out) = &result {
        report(effect, inst, &s, out, ms, &inputs.source);
    }
    inputs.recycle();
    Ok(Status::Ok)
}

/// The engine's output when it has the source's size (anything else is an internal error).
fn same_size(
    out: Arc<FrameOutput>,
    source: &RgbaImage,
) -> std::result::Result<Arc<FrameOutput>, EngineError> {
    let i = &out.image;
    if i.width == source.width && i.height == source.height && i.data.len() == source.data.len() {
        Ok(out)
    } else {
        Err(EngineError::Internal(format!(
            "engine returned {}x{} for a {}x{} source",
            i.width, i.height, source.width, source.height
        )))
    }
}

/// A keyed frame's messages, log line and info line.
fn report(
    effect: &ImageEffect,
    inst: &Instance,
    s: &Settings,
    out: &FrameOutput,
    ms: f64,
    source: &RgbaImage,
) {
    if out.warnings.is_empty() {
        inst.clear_message(effect);
    } else {
        inst.show_warning(effect, format!("CorridorKey: {}", out.warnings.join("; ")));
    }
    let notes: Vec<&String> = s.notes.iter().chain(&out.notes).collect();
    log(format!(
        "frame {} keyed in {ms:.0} ms ({}x{}){}",
        s.time,
        source.width,
        source.height,
        notes.iter().map(|n| format!("; {n}")).collect::<String>()
    ));
    if may_set_params_in_render() {
        // The refiner's tile counts go on the info line: the only place a host (and
        // `ofx-render --log-json`) can see how much of the frame the sparse refiner skipped.
        // Values clamped to their declared range show here too, where a TD looks, not as a
        // warning badge (a host's own rounding must not flag every frame).
        let clamped: String = s.notes.iter().map(|n| format!(" | {n}")).collect();
        let info = format!(
            "{} | last frame {ms:.1} ms, refiner tiles {} run / {} skipped{clamped}",
            engine_call::describe(&s.runtime, s.params.inference_size, s.params.screen),
            out.stats.tiles_run,
            out.stats.tiles_skipped
        );
        inst.set_info(effect, &info);
    }
}
