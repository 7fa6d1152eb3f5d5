//! One frame, top to bottom: clean the inputs, answer the views that need no model, lock the
//! model set, run the four stages on the GPU path or the CPU path, fall back to the CPU path once
//! if the GPU path fails, and turn the report into the output.

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
use super::stages::gpu_path::GpuPath;
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
    let frame = report.time_with(Stage::Prepare, |r| inputs::clean(input, params, r));
    abort.check()?;
    if params.output == OutputMode::Hint {
        let (w, h) = frame.size();
        return Ok(report.into_output(hint_image(frame.hint(), w, h), params.output));
    }

    let slot = slots.get(runtime, params.inference_size, params.screen);
    let mut loaded = match slot.lock() {
        Ok(l) => l,
        Err(EngineError::ModelMissing { dir, detail }) if params.output == OutputMode::Status => {
            let dir = dir.display();
            report.warn(format!(
                "no model in {dir} ({detail}); status shows the hint"
            ));
            let image = report.time(Stage::Finish, || status_from_hint(&frame, params));
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
        let attempt = GpuPath::new(
            kernels,
            params,
            settings,
            options.upscale,
            mattes,
            keyed,
            sim,
        )
        .and_then(|mut path| run_stages(&mut path, models, &frame, &mut report, abort));
        match attempt {
            Ok(image) => return Ok(report.into_output(image, params.output)),
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
    Ok(report.into_output(image, params.output))
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
    report.time(Stage::Finish, || path.finish(refined, frame))
}
