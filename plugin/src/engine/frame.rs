//! One frame, top to bottom: decide the screen colour (`Auto`), clean the inputs, answer the views
//! that need no model, choose S (`Auto`), then down the degrade ladder (`degrade.rs`: the S asked
//! for, smaller S, the CPU provider, each tried only when the one before ran out of device memory):
//! lock the model set, run the four stages on the GPU path or the CPU path, fall back to the CPU
//! path once if the GPU path fails, and turn the report into the output.

use rayon::prelude::*;

use super::abort::Abort;
use super::contract::{FrameInput, FrameOutput, KeyParams, OutputMode, PathChoice, RenderOptions};
use super::contract::{Medium, RgbaImage, RuntimeConfig, Stage};
use super::degrade::{self, Rung};
use super::error::EngineError;
use super::gpu::GpuKernels;
use super::hint::HintPlan;
use super::inputs::{self, CleanFrame};
use super::report::FrameReport;
use super::runtime::{auto_size, model_set, ModelSet};
use super::screen_auto;
use super::slot::Slots;
use super::stages::cpu_path::CpuPath;
use super::stages::finish::cpu::status_from_hint;
use super::stages::finish::output::{encode_output, hint_image};
use super::stages::gpu_path::{self, GpuPath};
use super::stages::path::FramePath;
use super::stages::refine::RefineSettings;

/// Keys one frame (inputs already checked by `inputs::check`, not empty).
pub fn key(
    slots: &Slots,
    input: &FrameInput<'_>,
    params: &KeyParams,
    runtime: &RuntimeConfig,
    options: &RenderOptions,
    abort: Abort<'_>,
) -> Result<FrameOutput, EngineError> {
    let mut report = FrameReport::default();
    let params = &decide_screen(input, params, &mut report);
    // Read the plate (and any mattes) once, write the clean copy once.
    let (w, h) = (input.source.width, input.source.height);
    let step = ("inputs cleaned (CPU)", 2 * w * h * 16, Medium::Host);
    let frame = report.time_step(Stage::Prepare, step, |r| {
        inputs::clean(input, params, r, abort)
    })?;
    abort.check()?;
    if params.output == OutputMode::Hint {
        let (w, h) = frame.size();
        return Ok(report.into_output(hint_image(frame.hint()?, w, h), params.output));
    }
    let requested = if params.auto_size {
        let auto = auto_size::choose(runtime, params.screen, params.inference_size);
        report.note(auto.reason);
        auto.size
    } else {
        params.inference_size
    };
    let sizes = model_set::folder_sizes(runtime, params.screen);
    let all = degrade::ladder(runtime, requested, &sizes);
    let asked = all[0].effective;
    let (rungs, skipped) = degrade::skip_recent(all, params.screen);
    let last = rungs.len() - 1;
    for (i, rung) in rungs.iter().enumerate() {
        let mut attempt = report.clone();
        match key_on(slots, &frame, params, rung, options, abort, &mut attempt) {
            Ok(out) => {
                if i > 0 || skipped.is_some() {
                    attempt.warn(degrade::message(asked, rung));
                    attempt.degraded();
                }
                return Ok(out.finish(attempt));
            }
            Err(e) => match e.device_out_of_memory() {
                Some(kind) if i < last => {
                    report.note(format!(
                        "{} ran out of device memory at S={}: {e}",
                        kind.label(),
                        rung.effective
                    ));
                    degrade::remember(rung, params.screen);
                    slots.evict(&rung.runtime, rung.size, params.screen);
                }
                _ => return Err(e),
            },
        }
    }
    Err(EngineError::Internal(
        "the degrade ladder has no rung".into(),
    ))
}

/// Screen colour `Auto` decided for this frame (the decision noted), or the params as they are.
fn decide_screen(
    input: &FrameInput<'_>,
    params: &KeyParams,
    report: &mut FrameReport,
) -> KeyParams {
    let mut p = params.clone();
    if params.screen_auto {
        let d = screen_auto::decide(input, params);
        report.note(d.describe());
        p.screen = d.screen;
    }
    report.keyed_at(0, p.screen);
    p
}

/// A keyed image and the output mode it is in, waiting for the frame's report.
struct Keyed(RgbaImage, OutputMode);

impl Keyed {
    fn finish(self, report: FrameReport) -> FrameOutput {
        finite_output(self.0, self.1, report)
    }
}

/// One attempt at the frame on one rung of the degrade ladder: lock the rung's model set, then the
/// GPU path (falling back to the CPU path once, unless the device ran out of memory: then the
/// ladder takes over) or the CPU path.
fn key_on(
    slots: &Slots,
    frame: &CleanFrame<'_>,
    params: &KeyParams,
    rung: &Rung,
    options: &RenderOptions,
    abort: Abort<'_>,
    report: &mut FrameReport,
) -> Result<Keyed, EngineError> {
    let slot = slots.get(&rung.runtime, rung.size, params.screen);
    let mut loaded = match slot.lock(abort) {
        Ok(l) => l,
        Err(EngineError::ModelMissing { dir, detail }) if params.output == OutputMode::Status => {
            let dir = dir.display();
            report.warn(format!(
                "no model in {dir} ({detail}); status shows the hint"
            ));
            let image = report.time(Stage::Finish, || status_from_hint(frame, params))?;
            return Ok(Keyed(image, params.output));
        }
        Err(e) => return Err(e),
    };
    degrade::injected(options, rung)?;
    report.extend(&loaded.models.warnings, &loaded.models.notes);
    let (models, kernels) = loaded.split()?;
    report.keyed_at(models.size, params.screen);
    let settings = RefineSettings::resolve(
        params,
        options,
        (models.size, rung.runtime.gpu_mem_limit_mb),
        models.refiner.is_some(),
    );
    let gpu = match options.path {
        PathChoice::Auto => models.provider.is_gpu(),
        choice => choice == PathChoice::Gpu,
    };
    if gpu {
        let attempt = gpu_attempt(
            kernels, models, frame, params, settings, options, abort, report,
        );
        match attempt {
            Ok(image) => return Ok(Keyed(image, params.output)),
            Err(e) if !e.falls_back() || e.device_out_of_memory().is_some() => return Err(e),
            Err(e) => report.warn(format!(
                "the GPU frame path failed ({e}); this frame was keyed on the CPU path"
            )),
        }
    }
    let mut path = CpuPath {
        params,
        settings,
        upscale: options.upscale,
        simulate_trained_coarse: options.simulate_trained_coarse,
    };
    let image = run_stages(&mut path, models, frame, params, report, abort)?;
    Ok(Keyed(image, params.output))
}

/// The frame on the GPU path (or the test hook's injected failure in its place).
#[allow(clippy::too_many_arguments)]
fn gpu_attempt(
    kernels: &mut GpuKernels,
    models: &mut ModelSet,
    frame: &CleanFrame<'_>,
    params: &KeyParams,
    settings: RefineSettings,
    options: &RenderOptions,
    abort: Abort<'_>,
    report: &mut FrameReport,
) -> Result<RgbaImage, EngineError> {
    if options.fail_gpu_path {
        return Err(gpu_path::injected_failure());
    }
    let (mattes, sim) = (frame.has_mattes(), options.simulate_trained_coarse);
    let keyed = matches!(frame.hint_plan, HintPlan::ChromaKey);
    let mut path = GpuPath::new(
        kernels,
        params,
        settings,
        options.upscale,
        mattes,
        keyed,
        sim,
    )?;
    run_stages(&mut path, models, frame, params, report, abort)
}

/// The frame out, with any value that is still not finite (a broken graph, fp16 overflow past the
/// input clamp) replaced by 0 and counted in a warning: a host never gets a NaN frame as success.
fn finite_output(mut image: RgbaImage, mode: OutputMode, mut report: FrameReport) -> FrameOutput {
    let bad = image
        .data
        .par_chunks(4)
        .filter(|p| p.iter().any(|v| !v.is_finite()))
        .count();
    if bad > 0 {
        image.data.par_iter_mut().for_each(|v| {
            if !v.is_finite() {
                *v = 0.0;
            }
        });
        report.warn(format!(
            "{bad} output pixels were NaN or infinite and were set to 0"
        ));
    }
    report.into_output(image, mode)
}

/// The four stages in order on one path, timed, with the host's abort polled between them; the
/// output colour's encoding ends the finish stage of either path.
fn run_stages<P: FramePath>(
    path: &mut P,
    models: &mut ModelSet,
    frame: &CleanFrame<'_>,
    params: &KeyParams,
    report: &mut FrameReport,
    abort: Abort<'_>,
) -> Result<RgbaImage, EngineError> {
    let input = report.time(Stage::Prepare, || path.prepare(frame, models.size))?;
    abort.check()?;
    let coarse = report.time(Stage::Coarse, || path.coarse(models, input))?;
    abort.check()?;
    let (refined, tiles) = report.time(Stage::Refine, || path.refine(models, coarse, abort))?;
    report.tiles(tiles.run, tiles.skipped);
    abort.check()?;
    let image = report.time(Stage::Finish, || {
        let mut image = path.finish(refined, frame)?;
        encode_output(&mut image, params.output, params.output_colour);
        Ok::<_, EngineError>(image)
    })?;
    report.steps(path.take_steps());
    // A long CPU loop in finish stops early on abort and leaves its output unfinished.
    abort.check()?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_output_values_are_replaced_and_counted() {
        let mut image = RgbaImage::new(4, 2);
        image.data.iter_mut().for_each(|v| *v = 0.5);
        image.data[1] = f32::NAN;
        image.data[2] = f32::INFINITY;
        image.data[13] = f32::NEG_INFINITY;
        let out = finite_output(image, OutputMode::Premultiplied, FrameReport::default());
        assert!(out.image.data.iter().all(|v| v.is_finite()));
        assert_eq!((out.image.data[1], out.image.data[13]), (0.0, 0.0));
        assert_eq!(out.image.data[0], 0.5);
        assert_eq!(out.warnings.len(), 1);
        assert!(
            out.warnings[0].starts_with("2 output pixels"),
            "{:?}",
            out.warnings
        );
        let clean = finite_output(
            RgbaImage::new(2, 2),
            OutputMode::Matte,
            FrameReport::default(),
        );
        assert!(clean.warnings.is_empty());
    }
}
