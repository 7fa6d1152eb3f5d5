//! One frame, top to bottom: clean the inputs, answer the views that need no model, lock the
//! model set, run the four stages on the GPU path or the CPU path, fall back to the CPU path once
//! if the GPU path fails, and turn the report into the output.

use rayon::prelude::*;

use super::abort::Abort;
use super::contract::{FrameInput, FrameOutput, KeyParams, OutputMode, PathChoice, RenderOptions};
use super::contract::{RgbaImage, RuntimeConfig, Stage};
use super::error::EngineError;
use super::hint::HintPlan;
use super::inputs::{self, CleanFrame};
use super::report::FrameReport;
use super::runtime::ModelSet;
use super::slot::Slots;
use super::stages::cpu_path::CpuPath;
use super::stages::finish::cpu::status_from_hint;
use super::stages::finish::output::hint_image;
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
    let frame = report.time_with(Stage::Prepare, |r| inputs::clean(input, params, r, abort))?;
    abort.check()?;
    if params.output == OutputMode::Hint {
        let (w, h) = frame.size();
        return Ok(report.into_output(hint_image(frame.hint()?, w, h), params.output));
    }

    let slot = slots.get(runtime, params.inference_size, params.screen);
    let mut loaded = match slot.lock(abort) {
        Ok(l) => l,
        Err(EngineError::ModelMissing { dir, detail }) if params.output == OutputMode::Status => {
            let dir = dir.display();
            report.warn(format!(
                "no model in {dir} ({detail}); status shows the hint"
            ));
            let image = report.time(Stage::Finish, || status_from_hint(&frame, params))?;
            return Ok(report.into_output(image, params.output));
        }
        Err(e) => return Err(e),
    };
    report.extend(&loaded.models.warnings, &loaded.models.notes);
    let (models, kernels) = loaded.split()?;
    let settings = RefineSettings::resolve(params, options, models.size, models.refiner.is_some());
    let gpu = match options.path {
        PathChoice::Auto => models.provider.is_gpu(),
        choice => choice == PathChoice::Gpu,
    };
    if gpu {
        let (mattes, sim) = (frame.has_mattes(), options.simulate_trained_coarse);
        let keyed = matches!(frame.hint_plan, HintPlan::ChromaKey);
        let injected = match options.fail_gpu_path {
            true => Err(gpu_path::injected_failure()),
            false => Ok(()),
        };
        let attempt = injected
            .and_then(|()| {
                GpuPath::new(
                    kernels,
                    params,
                    settings,
                    options.upscale,
                    mattes,
                    keyed,
                    sim,
                )
            })
            .and_then(|mut path| run_stages(&mut path, models, &frame, &mut report, abort));
        match attempt {
            Ok(image) => return Ok(finite_output(image, params.output, report)),
            Err(e) if !e.falls_back() => return Err(e),
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
    let image = run_stages(&mut path, models, &frame, &mut report, abort)?;
    Ok(finite_output(image, params.output, report))
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

/// The four stages in order on one path, timed, with the host's abort polled between them.
fn run_stages<P: FramePath>(
    path: &mut P,
    models: &mut ModelSet,
    frame: &CleanFrame<'_>,
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
    let image = report.time(Stage::Finish, || path.finish(refined, frame))?;
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
