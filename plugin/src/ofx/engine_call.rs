//! The OFX layer's only calls into the engine (one place to change if its API moves).

use crate::engine::device_frame::{self, CudaSupportError};
use crate::engine::{
    DeviceFrame, Engine, EngineError, FrameInput, FrameOutput, FrameOutputInfo, KeyParams,
    PathChoice, RenderOptions, RuntimeConfig, ScreenColour, SteadyFrames, SteadyParams,
};

/// `CORRIDORKEY_FRAME_PATH=cpu` keeps pre/post-processing and the refine stage on the CPU even on a
/// GPU (a fallback switch for farms); `=gpu` forces the GPU path (also on the CPU provider);
/// `auto` (or unset) picks by provider.
pub const FRAME_PATH_ENV: &str = "CORRIDORKEY_FRAME_PATH";
/// The earlier name of [`FRAME_PATH_ENV`], still read when the new one is unset (`0`/`host` = CPU
/// path, `1`/`device` = GPU path).
pub const FRAME_PATH_ENV_ALIAS: &str = "CORRIDORKEY_DEVICE_PATH";

/// Set by `ck-bench --simulate-trained` (never in production): see `RenderOptions`.
pub const SIMULATE_TRAINED_COARSE_ENV: &str = "CORRIDORKEY_BENCH_SIMULATE_TRAINED_COARSE";

fn path_choice(value: Option<&str>) -> PathChoice {
    match value
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
        .unwrap_or("")
    {
        "cpu" | "0" | "off" | "false" | "host" => PathChoice::Cpu,
        "gpu" | "1" | "on" | "true" | "device" => PathChoice::Gpu,
        _ => PathChoice::Auto,
    }
}

fn path_from_env() -> PathChoice {
    let read = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    path_choice(
        read(FRAME_PATH_ENV)
            .or_else(|| read(FRAME_PATH_ENV_ALIAS))
            .as_deref(),
    )
}

fn options() -> RenderOptions {
    RenderOptions {
        // The OFX layer answers repeated frames from its own per-instance cache before it calls
        // here; the engine's cache would hash the inputs again and copy every new 4K frame.
        use_cache: false,
        path: path_from_env(),
        // Benchmark simulation of a trained model's coarse alpha (RenderOptions docs): ck-bench
        // sets it for the bundle it drives, with the true matte as the AlphaHint clip.
        simulate_trained_coarse: std::env::var_os(SIMULATE_TRAINED_COARSE_ENV).is_some(),
        ..Default::default()
    }
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

/// `CORRIDORKEY_CUDA_IMAGES=1` lets the plugin offer OFX CUDA render to hosts that ask (Resolve).
/// Off by default: CUDA images are staged through host memory today (`Engine::render_device`), which
/// measured slower than the host's own CPU images on the H200 (BENCHMARKS.md, 2026-11-30).
pub const CUDA_IMAGES_ENV: &str = "CORRIDORKEY_CUDA_IMAGES";

/// Whether the user opted in to CUDA images ([`CUDA_IMAGES_ENV`]).
pub fn cuda_images_opted_in() -> bool {
    std::env::var(CUDA_IMAGES_ENV).is_ok_and(|v| v.trim() == "1")
}

/// Whether this process can key CUDA images on `runtime`'s GPU (describe asks, once per process).
pub fn cuda_images_supported(runtime: &RuntimeConfig) -> Result<(), CudaSupportError> {
    device_frame::cuda_images_supported(runtime)
}

pub fn describe(runtime: &RuntimeConfig, inference_size: usize, screen: ScreenColour) -> String {
    Engine::global().describe_for(runtime, inference_size, screen)
}

#[cfg(test)]
mod tests {
    use super::path_choice;
    use crate::engine::PathChoice;

    #[test]
    fn frame_path_switch_and_its_old_spellings() {
        assert_eq!(path_choice(None), PathChoice::Auto);
        assert_eq!(path_choice(Some("cpu")), PathChoice::Cpu);
        assert_eq!(path_choice(Some(" GPU ")), PathChoice::Gpu);
        assert_eq!(path_choice(Some("0")), PathChoice::Cpu);
        assert_eq!(path_choice(Some(" Host ")), PathChoice::Cpu);
        assert_eq!(path_choice(Some("1")), PathChoice::Gpu);
        assert_eq!(path_choice(Some("device")), PathChoice::Gpu);
        assert_eq!(path_choice(Some("auto")), PathChoice::Auto);
    }
}
