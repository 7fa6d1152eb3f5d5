//! The GPU path: every stage as ONNX graphs on the model set's provider, tensors kept on the device
//! between them; only the plate and mattes go up and the finished frame comes down. The default on
//! a GPU provider.

use ort::value::DynValue;

use super::coarse::gpu::{run_coarse, simulated_alpha_logits, DeviceCoarse};
use super::finish::gpu::{finish_frame, needs_cpu};
use super::path::{FramePath, TileCounts};
use super::prepare::gpu::prepare;
use super::refine::gpu::{refine, DeviceRefined};
use super::refine::RefineSettings;
use crate::engine::abort::Abort;
use crate::engine::contract::{InputColour, KeyParams, RgbaImage, UpscaleFilter};
use crate::engine::error::EngineError;
use crate::engine::gpu::{GpuKernels, Kernel, MAX_BATCH};
use crate::engine::inputs::CleanFrame;
use crate::engine::runtime::ModelSet;

/// The error of `RenderOptions::fail_gpu_path` (a test hook, tests/engine_gpu_fallback.rs): the GPU
/// path fails, and the CPU path must key the frame.
pub fn injected_failure() -> EngineError {
    EngineError::Inference {
        step: "the GPU path",
        source: ort::Error::new("GPU path failure injected"),
    }
}

pub struct GpuPath<'a> {
    kernels: &'a mut GpuKernels,
    params: &'a KeyParams,
    settings: RefineSettings,
    upscale: UpscaleFilter,
    simulate_trained_coarse: bool,
}

impl<'a> GpuPath<'a> {
    /// Builds every kernel session the frame will use before the coarse graph runs. A session
    /// built later places its constants inside the arena block the coarse pass just freed; the next
    /// frame's coarse pass then finds no room and the shared arena grows by its whole activation
    /// block (measured on an H100: +1.6 GB and a 226 ms frame).
    pub fn new(
        kernels: &'a mut GpuKernels,
        params: &'a KeyParams,
        settings: RefineSettings,
        upscale: UpscaleFilter,
        has_mattes: bool,
        hint_plan_is_key: bool,
        simulate_trained_coarse: bool,
    ) -> Result<Self, EngineError> {
        kernels.make_room();
        let linear = params.input_colour == InputColour::Linear;
        // The built-in key joins prepare in one graph; the other hints use the plain one.
        let keyed = hint_plan_is_key;
        kernels.session(match (keyed, linear) {
            (true, true) => Kernel::PrepareKeyedLinear,
            (true, false) => Kernel::PrepareKeyedSrgb,
            (false, true) => Kernel::PrepareLinear,
            (false, false) => Kernel::PrepareSrgb,
        })?;
        kernels.session(Kernel::RefinePrep)?;
        if simulate_trained_coarse {
            kernels.session(Kernel::CoarseFromHint)?;
        }
        if settings.enabled {
            kernels.tile_step(settings.batch.clamp(1, MAX_BATCH))?;
        } else {
            kernels.session(Kernel::Sigmoid)?;
        }
        if needs_cpu(params) {
            if settings.enabled {
                kernels.session(Kernel::RefineFinal)?;
            }
        } else {
            kernels.session(match (settings.enabled, has_mattes) {
                (true, false) => Kernel::FinishRefined,
                (true, true) => Kernel::FinishRefinedMattes,
                (false, false) => Kernel::Finish,
                (false, true) => Kernel::FinishMattes,
            })?;
        }
        Ok(Self {
            kernels,
            params,
            settings,
            upscale,
            simulate_trained_coarse,
        })
    }
}

impl FramePath for GpuPath<'_> {
    type Prepared = DynValue;
    type Coarse = DeviceCoarse;
    type Refined = DeviceRefined;

    fn prepare(&mut self, frame: &CleanFrame<'_>, s: usize) -> Result<DynValue, EngineError> {
        prepare(self.kernels, frame, self.params, s)
    }

    fn coarse(
        &mut self,
        models: &mut ModelSet,
        input: DynValue,
    ) -> Result<DeviceCoarse, EngineError> {
        let mut c = run_coarse(&mut models.coarse, self.kernels.place(), input)?;
        if self.simulate_trained_coarse {
            c.alpha_logits = simulated_alpha_logits(self.kernels, &c.image)?;
        }
        Ok(c)
    }

    fn refine(
        &mut self,
        models: &mut ModelSet,
        coarse: DeviceCoarse,
        abort: Abort<'_>,
    ) -> Result<(DeviceRefined, TileCounts), EngineError> {
        let refined = refine(
            models.refiner.as_mut(),
            self.kernels,
            coarse,
            models.size,
            &self.settings,
            abort.0,
        )?;
        let tiles = TileCounts {
            run: refined.tiles_run.len(),
            skipped: refined.tiles_skipped.len(),
        };
        Ok((refined, tiles))
    }

    fn finish(
        &mut self,
        refined: DeviceRefined,
        frame: &CleanFrame<'_>,
    ) -> Result<RgbaImage, EngineError> {
        finish_frame(self.kernels, &refined, frame, self.params, self.upscale)
    }
}
