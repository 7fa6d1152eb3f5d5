//! The render action: host images in, engine, host image out. Any engine failure passes the
//! source through with a persistent message: never a black frame, never a crash.

use std::time::Instant;

use ofx_bindings::{k, Error, Image, ImageEffect, PropertySet, RectI, Result, Status};

use super::absent_clips::{self, Absence};
use super::cache::{hash_rows, inputs_key, CachedFrame, FrameKey};
use super::describe::{CLIP_CORE, CLIP_GARBAGE, CLIP_HINT, CLIP_OUTPUT, CLIP_SOURCE};
use super::engine_call;
use super::host_alpha;
use super::instance::Instance;
use super::log::log;
use super::params::ParamValues;
use super::paths;
use super::pixels::{copy_through, read_matte, read_rgba_hashed, write_rgba};
use crate::engine::{
    EngineError, FrameInput, FrameOutput, HintSource, KeyParams, MatteImage, RgbaImage,
    RuntimeConfig,
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
    let mut params = values.key_params(scale[0]);
    params.output = host_alpha::delivered_mode(
        params.output,
        values.follow_host_alpha,
        host_alpha::host_takes_straight(effect),
    );
    Ok(Settings {
        time,
        window,
        params,
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

/// An optional matte placed in the source window; unconnected, NULL, pixel-less (MLT) or unreadable
/// = absent, noted once per process (`absent_clips`). Err only when there is no memory for it.
fn matte(
    effect: &ImageEffect,
    name: &str,
    time: f64,
    window: RectI,
) -> std::result::Result<Option<MatteImage>, EngineError> {
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
            absent_clips::note(name, Absence::FetchFailed, e);
            return Ok(None);
        }
    };
    match image.view() {
        Ok(v) => read_matte(&v, window).map(Some),
        Err(e) => {
            let detail = format!("the host hands an image without pixels ({e})");
            absent_clips::note(name, Absence::NoPixels, detail);
            Ok(None)
        }
    }
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

/// The frame's inputs as the engine takes them, with the content hash of the frame cache.
struct Inputs {
    source: RgbaImage,
    /// The source's bounds (where the output goes).
    bounds: RectI,
    source_hash: u64,
    hint: Option<MatteImage>,
    garbage: Option<MatteImage>,
    core: Option<MatteImage>,
}

impl Inputs {
    fn key(&self, s: &Settings) -> FrameKey {
        let mattes = [&self.hint, &self.garbage, &self.core];
        FrameKey {
            time: s.time,
            params: s.params.clone(),
            runtime: s.runtime.clone(),
            width: self.source.width,
            height: self.source.height,
            content: inputs_key(
                self.source_hash,
                mattes.map(|m| m.as_ref().map(|m| hash_rows(&m.data, m.width, 0))),
            ),
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

/// The render action in three steps: read the inputs, answer from the cache or key the frame,
/// write the output and report.
fn render_inner(effect: &ImageEffect, in_args: &PropertySet, inst: &Instance) -> Result<Status> {
    let s = settings(effect, in_args, inst)?;
    let mut out_img = effect
        .clip(CLIP_OUTPUT)?
        .image(s.time)?
        .ok_or_else(|| Error::new(Status::Failed, "the host gave no output image"))?;
    let window = s.window.unwrap_or(out_img.bounds()?);
    let Some(inputs) = read_inputs(effect, inst, &s, &mut out_img, window)? else {
        return Ok(Status::Ok);
    };
    if effect.abort_requested() {
        return Ok(Status::Ok);
    }
    let key = inputs.key(&s);
    if let Some(hit) = inst.cache.lock().get(&key) {
        let image = Some((&hit.image, inputs.bounds));
        write_rgba(&mut out_img.view_mut()?, image, window);
        return Ok(Status::Ok);
    }
    let t0 = Instant::now();
    match key_frame(effect, &s, &inputs) {
        Ok(out) => {
            let image = Some((&out.image, inputs.bounds));
            write_rgba(&mut out_img.view_mut()?, image, window);
            report(effect, inst, &s, &out, &inputs.source, t0);
            // A frame keyed at a smaller S because device memory ran out is not cached: the next
            // request for it tries the S asked for again.
            if !out.stats.degraded {
                inst.cache.lock().put(CachedFrame {
                    key,
                    image: out.image,
                    premultiplied: out.premultiplied,
                });
            }
        }
        Err(EngineError::Aborted) => {}
        Err(e) => {
            inst.show_error(effect, passthrough_text(&e));
            let image = Some((&inputs.source, inputs.bounds));
            write_rgba(&mut out_img.view_mut()?, image, window);
        }
    }
    Ok(Status::Ok)
}

/// The source and the mattes. None when the output is already written: no source (transparent
/// black, as OFX says), or a source or matte that cannot be read (passed through, with a message).
fn read_inputs(
    effect: &ImageEffect,
    inst: &Instance,
    s: &Settings,
    out_img: &mut Image,
    window: RectI,
) -> Result<Option<Inputs>> {
    let Some(src_img) = effect.clip(CLIP_SOURCE)?.image(s.time)? else {
        write_rgba(&mut out_img.view_mut()?, None, window);
        return Ok(None);
    };
    // The content hash for the frame cache is taken row by row while the rows are read.
    let (source, source_hash, bounds) = {
        let view = src_img.view()?;
        match read_rgba_hashed(&view) {
            Ok((image, hash)) => (image, hash, view.bounds()),
            Err(e) => {
                // Too large or no memory: the source goes through row by row, without a copy.
                inst.show_error(effect, passthrough_text(&e));
                copy_through(&mut out_img.view_mut()?, &view, window);
                return Ok(None);
            }
        }
    };
    drop(src_img);
    let mattes = (|| {
        let hint = if s.params.hint_source == HintSource::Clip {
            matte(effect, CLIP_HINT, s.time, bounds)?
        } else {
            None
        };
        let garbage = matte(effect, CLIP_GARBAGE, s.time, bounds)?;
        let core = matte(effect, CLIP_CORE, s.time, bounds)?;
        Ok::<_, EngineError>((hint, garbage, core))
    })();
    match mattes {
        Ok((hint, garbage, core)) => Ok(Some(Inputs {
            source,
            bounds,
            source_hash,
            hint,
            garbage,
            core,
        })),
        Err(e) => {
            inst.show_error(effect, passthrough_text(&e));
            write_rgba(&mut out_img.view_mut()?, Some((&source, bounds)), window);
            Ok(None)
        }
    }
}

/// The engine's key of the frame, checked to be the source's size.
fn key_frame(
    effect: &ImageEffect,
    s: &Settings,
    inputs: &Inputs,
) -> std::result::Result<FrameOutput, EngineError> {
    let abort = || effect.abort_requested();
    let out = engine_call::render(&inputs.frame(), &s.params, &s.runtime, &abort)?;
    let source = &inputs.source;
    if out.image.width == source.width
        && out.image.height == source.height
        && out.image.data.len() == source.data.len()
    {
        Ok(out)
    } else {
        Err(EngineError::Internal(format!(
            "engine returned {}x{} for a {}x{} source",
            out.image.width, out.image.height, source.width, source.height
        )))
    }
}

/// A keyed frame's warnings as the node's message, its notes and time in the log, and its tile
/// counts on the info line.
fn report(
    effect: &ImageEffect,
    inst: &Instance,
    s: &Settings,
    out: &FrameOutput,
    source: &RgbaImage,
    t0: Instant,
) {
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    if out.warnings.is_empty() {
        inst.clear_message(effect);
    } else {
        inst.show_warning(effect, format!("CorridorKey: {}", out.warnings.join("; ")));
    }
    let notes: String = s
        .notes
        .iter()
        .chain(&out.notes)
        .map(|n| format!("; {n}"))
        .collect();
    log(format!(
        "frame {} keyed at S={} ({} screen) in {ms:.0} ms ({}x{}){notes}",
        s.time,
        out.stats.size,
        out.stats.screen.name(),
        source.width,
        source.height,
    ));
    if may_set_params_in_render() {
        // The refiner's tile counts go on the info line: the only place a host (and
        // `ofx-render --log-json`) can see how much of the frame the sparse refiner skipped.
        // Values clamped to their declared range show here too, where a TD looks, not as a
        // warning badge (a host's own rounding must not flag every frame).
        // So are the engine's notes (settings it cannot apply as set, substitutions).
        let clamped: String = s
            .notes
            .iter()
            .chain(&out.notes)
            .map(|n| format!(" | {n}"))
            .collect();
        let info = format!(
            "{} | last frame {ms:.0} ms, refiner tiles {} run / {} skipped{clamped}",
            engine_call::describe_params(&s.runtime, &s.params, Some(&out.stats)),
            out.stats.tiles_run,
            out.stats.tiles_skipped
        );
        inst.set_info(effect, &info);
    }
}
