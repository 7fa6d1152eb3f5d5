//! Stage 2 on the GPU path: the coarse graph with its input and logits left on the device.

use ort::session::Session;
use ort::value::DynValue;

use crate::engine::error::EngineError;
use crate::engine::gpu::tensors::{take, Place};
use crate::engine::gpu::{GpuKernels, Kernel};

/// The coarse pass's input and outputs, on the device.
pub struct DeviceCoarse {
    pub image: DynValue,
    pub alpha_logits: DynValue,
    pub fg_logits: DynValue,
}

/// Runs the coarse graph on the `[1,4,S,S]` device image.
pub fn run_coarse(
    coarse: &mut Session,
    place: Place,
    image: DynValue,
) -> Result<DeviceCoarse, EngineError> {
    let dev = place.memory()?;
    let e = EngineError::ort("the coarse graph");
    let mut binding = coarse.create_binding().map_err(e)?;
    binding.bind_input("image", &image).map_err(e)?;
    binding
        .bind_output_to_device("alpha_logits", &dev)
        .map_err(e)?;
    binding
        .bind_output_to_device("fg_logits", &dev)
        .map_err(e)?;
    let mut out = coarse.run_binding(&binding).map_err(e)?;
    let alpha_logits = take(&mut out, "alpha_logits")?;
    let fg_logits = take(&mut out, "fg_logits")?;
    drop(out);
    Ok(DeviceCoarse {
        image,
        alpha_logits,
        fg_logits,
    })
}

/// The benchmark's simulated coarse alpha logits on the device (`coarse_from_hint` kernel; the CPU
/// form is `cpu::simulated_alpha_logits`).
pub fn simulated_alpha_logits(
    k: &mut GpuKernels,
    image: &DynValue,
) -> Result<DynValue, EngineError> {
    let dev = k.place().memory()?;
    let e = EngineError::ort("simulated coarse alpha");
    let session = k.session(Kernel::CoarseFromHint)?;
    let mut binding = session.create_binding().map_err(e)?;
    binding.bind_input("image", image).map_err(e)?;
    binding
        .bind_output_to_device("alpha_logits", &dev)
        .map_err(e)?;
    let mut o = session.run_binding(&binding).map_err(e)?;
    take(&mut o, "alpha_logits")
}
