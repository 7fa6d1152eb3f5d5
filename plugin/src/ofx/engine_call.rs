//! The OFX layer's only calls into the engine (one place to change if its API moves).

use crate::engine::device_frame::{self, CudaSupportError};
use crate::engine::{
    DeviceFrame, Engine, EngineError, FrameInput, FrameOutput, FrameOutputInfo, KeyParams,
    RenderOptions, RuntimeConfig, ScreenColour, SteadyFrames, SteadyParams,
};

use super::config;

fn options() -> RenderOptions {
    config::get().render_options()
}

pub fn render(
    input: &FrameInput<'_>,
    params: &KeyParams,
    runtime: &RuntimeConfig,
    abort: &dyn Fn() -> bool,
) -> Result<FrameOutput, EngineError> {
    Engine::global().render_with(input, params, runtime, &options(), abort)
}

/// Frame t with steady mattes (t alone when they are off): see `Engine::render_steady`.
pub fn render_steady(
    frames: &SteadyFrames<'_>,
    params: &KeyParams,
    steady: SteadyParams,
    runtime: &RuntimeConfig,
    abort: &dyn Fn() -> bool,
) -> Result<FrameOutput, EngineError> {
    Engine::global().render_steady(frames, params, steady, runtime, &options(), abort)
}

/// A frame whose images are in CUDA device memory (OFX CUDA render).
pub fn render_device(
    frame: &DeviceFrame,
    params: &KeyParams,
    runtime: &RuntimeConfig,
    abort: &dyn Fn() -> bool,
) -> Result<FrameOutputInfo, EngineError> {
    Engine::global().render_device(frame, params, runtime, &options(), abort)
}

/// The source of a device frame written unchanged into its output (a frame that failed).
pub fn pass_through_device(
    frame: &DeviceFrame,
    runtime: &RuntimeConfig,
) -> Result<(), EngineError> {
    device_frame::pass_through_device(frame, runtime)
}

/// Whether the user opted in to CUDA images ([`config::CUDA_IMAGES`]).
pub fn cuda_images_opted_in() -> bool {
    config::get().cuda_images
}

/// Whether this process can key CUDA images on `runtime`'s GPU (describe asks, once per process).
pub fn cuda_images_supported(runtime: &RuntimeConfig) -> Result<(), CudaSupportError> {
    device_frame::cuda_images_supported(runtime)
}

pub fn describe(runtime: &RuntimeConfig, inference_size: usize, screen: ScreenColour) -> String {
    Engine::global().describe_for(runtime, inference_size, screen)
}
