//! The CPU path: pre- and post-processing and the refine loop on the CPU (fused banded passes,
//! all cores), the model graphs on the model set's provider. The default on the CPU provider.

use super::coarse::cpu::{run_coarse, simulated_alpha_logits, CoarseLogits};
use super::finish::cpu::finish_frame;
use super::path::{FramePath, TileCounts};
use super::prepare::cpu::prepare_input;
use super::refine::cpu::{refine, run_refiner, upsample_logits};
use super::refine::{RefineSettings, Refined};
use crate::engine::abort::Abort;
use crate::engine::contract::{KeyParams, RgbaImage, UpscaleFilter};
use crate::engine::error::EngineError;
use crate::engine::inputs::CleanFrame;
use crate::engine::runtime::ModelSet;

pub struct CpuPath<'a> {
    pub params: &'a KeyParams,
    pub settings: RefineSettings,
    pub upscale: UpscaleFilter,
    /// `RenderOptions::simulate_trained_coarse`.
    pub simulate_trained_coarse: bool,
}

impl FramePath for CpuPath<'_> {
    /// `[4*S*S]`: planes R, G, B (normalised) and the hint.
    type Prepared = Vec<f32>;
    type Coarse = (Vec<f32>, CoarseLogits);
    type Refined = Refined;

    fn prepare(&mut self, frame: &CleanFrame<'_>, s: usize) -> Result<Vec<f32>, EngineError> {
        let colour = self.params.input_colour;
        prepare_input(&frame.src, frame.hint()?, colour, s, frame.abort)
    }

    fn coarse(
        &mut self,
        models: &mut ModelSet,
        input: Vec<f32>,
    ) -> Result<Self::Coarse, EngineError> {
        let mut logits = run_coarse(&mut models.coarse, &input, models.size)?;
        if self.simulate_trained_coarse {
            logits.alpha = simulated_alpha_logits(&input, models.size);
        }
        Ok((input, logits))
    }

    fn refine(
        &mut self,
        models: &mut ModelSet,
        (input, logits): Self::Coarse,
        abort: Abort<'_>,
    ) -> Result<(Refined, TileCounts), EngineError> {
        let s = models.size;
        let up = upsample_logits(&logits, s)?;
        drop(logits);
        let mut run = |batch: &[f32], b: usize, t: usize| match models.refiner.as_mut() {
            Some(r) => run_refiner(r, batch, b, t),
            None => Err(EngineError::Internal("no refiner session".into())),
        };
        let refined = refine(&input, &up, s, &self.settings, &mut run, abort.0)?;
        let tiles = TileCounts {
            run: refined.tiles_run.len(),
            skipped: refined.tiles_skipped.len(),
        };
        Ok((refined, tiles))
    }

    fn finish(
        &mut self,
        refined: Refined,
        frame: &CleanFrame<'_>,
    ) -> Result<RgbaImage, EngineError> {
        finish_frame(&refined, frame, self.params, self.upscale)
    }
}
