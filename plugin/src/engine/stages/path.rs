//! What a path through a frame is: one method per stage, each taking what the previous one made.
//! The orchestrator (`engine::frame`) runs them in order; `cpu_path.rs` and `gpu_path.rs` are the
//! two implementations.

use crate::engine::abort::Abort;
use crate::engine::contract::{RgbaImage, StepTime};
use crate::engine::error::EngineError;
use crate::engine::inputs::CleanFrame;
use crate::engine::runtime::ModelSet;

/// Refiner tiles that ran and that the sparse skip left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TileCounts {
    pub run: usize,
    pub skipped: usize,
}

pub trait FramePath {
    /// The network input at S.
    type Prepared;
    /// The coarse logits and what refine needs of the input.
    type Coarse;
    /// Refined alpha and foreground at S.
    type Refined;

    fn prepare(&mut self, frame: &CleanFrame<'_>, s: usize) -> Result<Self::Prepared, EngineError>;

    fn coarse(
        &mut self,
        models: &mut ModelSet,
        input: Self::Prepared,
    ) -> Result<Self::Coarse, EngineError>;

    fn refine(
        &mut self,
        models: &mut ModelSet,
        coarse: Self::Coarse,
        abort: Abort<'_>,
    ) -> Result<(Self::Refined, TileCounts), EngineError>;

    /// The finished frame at plate size in the requested output mode.
    fn finish(
        &mut self,
        refined: Self::Refined,
        frame: &CleanFrame<'_>,
    ) -> Result<RgbaImage, EngineError>;

    /// The steps this path timed inside the stages so far (the benchmark's breakdown); none by
    /// default.
    fn take_steps(&mut self) -> Vec<StepTime> {
        Vec::new()
    }
}
