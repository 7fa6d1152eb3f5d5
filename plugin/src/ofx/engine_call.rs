//! The OFX layer's only calls into the engine (one place to change if its API moves).

use crate::engine::{
    Engine, EngineError, FrameInput, FrameOutput, KeyParams, RenderOptions, RuntimeConfig,
};

/// `CORRIDORKEY_DEVICE_PATH=0` keeps pre/post-processing and the refine stage on the host even on
/// a GPU (a fallback switch for farms); `=1` forces the device path (also on the CPU provider).
fn device_path_override(value: Option<&str>) -> Option<bool> {
    match value?.trim().to_ascii_lowercase().as_str() {
        "0" | "off" | "false" | "host" => Some(false),
        "1" | "on" | "true" | "device" => Some(true),
        _ => None,
    }
}

pub fn render(
    input: &FrameInput<'_>,
    params: &KeyParams,
    runtime: &RuntimeConfig,
    abort: &dyn Fn() -> bool,
) -> Result<FrameOutput, EngineError> {
    let options = RenderOptions {
        // The OFX layer answers repeated frames from its own per-instance cache before it calls
        // here; the engine's cache would hash the inputs again and copy every new 4K frame.
        use_cache: false,
        device_path: device_path_override(std::env::var("CORRIDORKEY_DEVICE_PATH").ok().as_deref()),
        ..Default::default()
    };
    Engine::global().render_with(input, params, runtime, &options, abort)
}

pub fn describe(runtime: &RuntimeConfig, inference_size: usize) -> String {
    Engine::global().describe(runtime, inference_size)
}

#[cfg(test)]
mod tests {
    use super::device_path_override;

    #[test]
    fn device_path_switch() {
        assert_eq!(device_path_override(None), None);
        assert_eq!(device_path_override(Some("0")), Some(false));
        assert_eq!(device_path_override(Some(" Host ")), Some(false));
        assert_eq!(device_path_override(Some("1")), Some(true));
        assert_eq!(device_path_override(Some("auto")), None);
    }
}
