//! The render action: host images in, engine, host image out. Any engine failure passes the
//! source through with a persistent message: never a black frame, never a crash.

use std::time::Instant;

use ofx_bindings::{k, Error, ImageEffect, PropertySet, RectI, Result, Status};

use super::cache::{hash_rows, inputs_key, CachedFrame, FrameKey};
use super::describe::{CLIP_CORE, CLIP_GARBAGE, CLIP_HINT, CLIP_OUTPUT, CLIP_SOURCE};
use super::engine_call;
use super::instance::Instance;
use super::log::log;
use super::params::ParamValues;
use super::paths;
use super::pixels::{copy_through, read_matte, read_rgba_hashed, write_rgba};
use super::temporal::{self, Neighbour, OFFSETS};
use crate::engine::{
    EngineError, FrameInput, HintSource, KeyParams, MatteImage, OutputMode, RuntimeConfig,
    SteadyFrames, SteadyParams,
};

/// Settings of one render call, read from the action's arguments and the params.
pub struct Settings {
    pub time: f64,
    pub window: Option<RectI>,
    pub params: KeyParams,
    pub runtime: RuntimeConfig,
    /// The Temporal group (steady mattes).
    pub steady: SteadyParams,
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
        steady: values.steady_params(),
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

/// An optional matte placed in the source window; unconnected, NULL or unreadable = absent. Err
/// only when there is no memory for it.
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
            log(format!("{name}: {e}; treated as absent"));
            return Ok(None);
        }
    };
    match image.view() {
        Ok(v) => read_matte(&v, window).map(Some),
        Err(e) => {
            log(format!("{name}: {e}; treated as absent"));
            Ok(None)
        }
    }
}

/// Frames t-1 and t+1 as the host gives them (steady mattes); a frame the host does not have (the
/// ends of a clip), or one whose bounds differ from frame t's, is absent.
fn neighbours(effect: &ImageEffect, s: &Settings, bounds: RectI) -> [Option<Neighbour>; 2] {
    // The Hint and Status views are never steadied (Engine::render_steady).
    let view = matches!(s.params.output, OutputMode::Hint | OutputMode::Status);
    if !s.steady.clamped().is_on() || view {
        return [None, None];
    }
    OFFSETS.map(|dt| {
        neighbour(effect, &s.params, s.time + dt, bounds).unwrap_or_else(|e| {
            log(format!(
                "frame {}: {e}; frame {} is steadied without it",
                s.time + dt,
                s.time
            ));
            None
        })
    })
}

fn neighbour(
    effect: &ImageEffect,
    params: &KeyParams,
    time: f64,
    bounds: RectI,
) -> std::result::Result<Option<Neighbour>, String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let Some(img) = effect
        .clip(CLIP_SOURCE)
        .and_then(|c| c.image(time))
        .map_err(|e| text(&e))?
    else {
        return Ok(None);
    };
    let view = img.view().map_err(|e| text(&e))?;
    if view.bounds() != bounds {
        return Err("its bounds differ from the frame's".into());
    }
    let (source, hash) = read_rgba_hashed(&view).map_err(|e| text(&e))?;
    drop(img);
    let hint = if params.hint_source == HintSource::Clip {
        matte(effect, CLIP_HINT, time, bounds).map_err(|e| text(&e))?
    } else {
        None
    };
    let garbage = matte(effect, CLIP_GARBAGE, time, bounds).map_err(|e| text(&e))?;
    let core = matte(effect, CLIP_CORE, time, bounds).map_err(|e| text(&e))?;
    let mattes =
        [&hint, &garbage, &core].map(|m| m.as_ref().map(|m| hash_rows(&m.data, m.width, 0)));
    Ok(Some(Neighbour {
        source,
        hint,
        garbage,
        core,
        hash: inputs_key(hash, mattes),
    }))
}

fn frame_input(n: &Neighbour) -> FrameInput<'_> {
    FrameInput {
        source: &n.source,
        hint: n.hint.as_ref(),
        garbage: n.garbage.as_ref(),
        core: n.core.as_ref(),
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
    // The content hash for the frame cache is taken row by row while the rows are read.
    let (source, src_hash, src_bounds) = {
        let view = src_img.view()?;
        match read_rgba_hashed(&view) {
            Ok((image, hash)) => (image, hash, view.bounds()),
            Err(e) => {
                // Too large or no memory: the source goes through row by row, without a copy.
                inst.show_error(effect, passthrough_text(&e));
                copy_through(&mut out_img.view_mut()?, &view, window);
                return Ok(Status::Ok);
            }
        }
    };
    drop(src_img);

    let mattes = (|| {
        let hint = if s.params.hint_source == HintSource::Clip {
            matte(effect, CLIP_HINT, s.time, src_bounds)?
        } else {
            None
        };
        let garbage = matte(effect, CLIP_GARBAGE, s.time, src_bounds)?;
        let core = matte(effect, CLIP_CORE, s.time, src_bounds)?;
        Ok::<_, EngineError>((hint, garbage, core))
    })();
    let (hint, garbage, core) = match mattes {
        Ok(m) => m,
        Err(e) => {
            inst.show_error(effect, passthrough_text(&e));
            let image = Some((&source, src_bounds));
            write_rgba(&mut out_img.view_mut()?, image, window);
            return Ok(Status::Ok);
        }
    };
    if effect.abort_requested() {
        return Ok(Status::Ok);
    }
    let near = neighbours(effect, &s, src_bounds);
    if effect.abort_requested() {
        return Ok(Status::Ok);
    }

    let key = FrameKey {
        time: s.time,
        params: s.params.clone(),
        runtime: s.runtime.clone(),
        width: source.width,
        height: source.height,
        content: temporal::content_key(
            inputs_key(
                src_hash,
                [&hint, &garbage, &core]
                    .map(|m| m.as_ref().map(|m| hash_rows(&m.data, m.width, 0))),
            ),
            &near,
            s.steady,
        ),
    };
    if let Some(hit) = inst.cache.lock().get(&key) {
        write_rgba(
            &mut out_img.view_mut()?,
            Some((&hit.image, src_bounds)),
            window,
        );
        return Ok(Status::Ok);
    }

    let input = FrameInput {
        source: &source,
        hint: hint.as_ref(),
        garbage: garbage.as_ref(),
        core: core.as_ref(),
    };
    let t0 = Instant::now();
    let abort = || effect.abort_requested();
    let frames = SteadyFrames {
        prev: near[0].as_ref().map(frame_input),
        cur: input,
        next: near[1].as_ref().map(frame_input),
    };
    let result = engine_call::render_steady(&frames, &s.params, s.steady, &s.runtime, &abort);
    let result = result.and_then(|out| {
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
    });
    match result {
        Ok(out) => {
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            write_rgba(
                &mut out_img.view_mut()?,
                Some((&out.image, src_bounds)),
                window,
            );
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
                    "{} | last frame {ms:.0} ms, refiner tiles {} run / {} skipped{clamped}",
                    engine_call::describe(&s.runtime, s.params.inference_size, s.params.screen),
                    out.stats.tiles_run,
                    out.stats.tiles_skipped
                );
                inst.set_info(effect, &info);
            }
            inst.cache.lock().put(CachedFrame {
                key,
                image: out.image,
                premultiplied: out.premultiplied,
            });
        }
        Err(EngineError::Aborted) => {}
        Err(e) => {
            inst.show_error(effect, passthrough_text(&e));
            write_rgba(
                &mut out_img.view_mut()?,
                Some((&source, src_bounds)),
                window,
            );
        }
    }
    Ok(Status::Ok)
}
