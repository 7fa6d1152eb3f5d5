//! The OFX layer's only calls into the engine (one place to change if its API moves).

use std::sync::Arc;

use crate::engine::device_frame::{self, CudaSupportError};
use crate::engine::{
    DeviceFrame, Engine, EngineError, FrameInput, FrameOutput, FrameOutputInfo, InputHashes,
    KeyParams, RenderOptions, RuntimeConfig, ScreenColour,
};

use super::config;

/// The engine options of a host-memory frame: the engine's frame cache answers repeated frames
/// (keyed by the hashes the OFX layer took while it read the images; no second pass, no copy).
fn options() -> RenderOptions {
    config::get().render_options()
}

/// Keys a frame read from host memory, or answers it from the frame cache.
pub fn render(
    input: &FrameInput<'_>,
    hashes: &InputHashes,
    params: &KeyParams,
    runtime: &RuntimeConfig,
    abort: &dyn Fn() -> bool,
) -> Result<Arc<FrameOutput>, EngineError> {
    Engine::global().render_shared(input, Some(hashes), params, runtime, &options(), abort)
}

/// Drops the frame cache's frames (the host's purge-caches action).
pub fn purge_cache() {
    Engine::global().clear_cache();
}

/// A frame whose images are in CUDA device memory (OFX CUDA render).
pub fn render_device(
    frame: &DeviceFrame,
    params: &KeyParams,
    runtime: &RuntimeConfig,
    abort: &dyn Fn() -> bool,
) -> Result<FrameOutputInfo, EngineError> {
    // CUDA frames skip the frame cache: hashing them would mean reading them back.
    let options = RenderOptions {
        use_cache: false,
        ..options()
    };
    Engine::global().render_device(frame, params, runtime, &options, abort)
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
