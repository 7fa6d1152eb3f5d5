//! The OFX layer's only calls into the engine (one place to change if its API moves).

use crate::engine::{Engine, EngineError, FrameInput, FrameOutput, KeyParams, RuntimeConfig};

pub fn render(
    input: &FrameInput<'_>,
    params: &KeyParams,
    runtime: &RuntimeConfig,
    abort: &dyn Fn() -> bool,
) -> Result<FrameOutput, EngineError> {
    Engine::global().render(input, params, runtime, abort)
}

pub fn describe(runtime: &RuntimeConfig, inference_size: usize) -> String {
    Engine::global().describe(runtime, inference_size)
}
