//! Stage 1 on the GPU path: the plate and hint go up once; resampling to S (the CPU path's
//! antialiased bilinear taps as two matrix products), sRGB encoding and ImageNet normalisation run
//! there, and the `[1,4,S,S]` network input stays on the device for the coarse and refine stages.

use fast_image_resize::FilterType;
use ort::value::DynValue;

use crate::engine::contract::{InputColour, RgbaImage};
use crate::engine::error::EngineError;
use crate::engine::gpu::tensors::take;
use crate::engine::gpu::{GpuKernels, Kernel};

/// The packed network input on the device, as the CPU path's `prepare_input` builds it.
pub fn prepare(
    k: &mut GpuKernels,
    src: &RgbaImage,
    hint: &[f32],
    colour: InputColour,
    s: usize,
) -> Result<DynValue, EngineError> {
    let (w, h) = (src.width, src.height);
    if hint.len() != w * h || src.data.len() != w * h * 4 {
        return Err(EngineError::Internal(format!(
            "GPU prepare: plate/hint sizes do not match {w}x{h}"
        )));
    }
    k.make_room();
    let rh = k.matrix(w, s, FilterType::Bilinear, false)?;
    let rv = k.matrix(h, s, FilterType::Bilinear, true)?;
    let kernel = match colour {
        InputColour::Linear => Kernel::PrepareLinear,
        InputColour::Srgb => Kernel::PrepareSrgb,
    };
    let place = k.place();
    let plate = place.upload(&[h, w, 4], &src.data)?;
    let hint = place.upload(&[h, w], hint)?;
    let dev = place.memory()?;
    let (session, [rh, rv]) = k.session_with(kernel, [rh, rv])?;
    let e = EngineError::ort("GPU prepare");
    let mut binding = session.create_binding().map_err(e)?;
    binding.bind_input("plate", &plate).map_err(e)?;
    binding.bind_input("hint", &hint).map_err(e)?;
    binding.bind_input("rh", rh).map_err(e)?;
    binding.bind_input("rv", rv).map_err(e)?;
    binding.bind_output_to_device("image", &dev).map_err(e)?;
    let mut o = session.run_binding(&binding).map_err(e)?;
    take(&mut o, "image")
}

/// A `[1,4,S,S]` network input prepared on the CPU, put on the device (tests).
pub fn upload(k: &GpuKernels, tensor: &[f32], s: usize) -> Result<DynValue, EngineError> {
    if tensor.len() != 4 * s * s {
        return Err(EngineError::Internal(format!(
            "input has {} values, expected 4x{s}x{s}",
            tensor.len()
        )));
    }
    k.place().upload(&[1, 4, s, s], tensor)
}
