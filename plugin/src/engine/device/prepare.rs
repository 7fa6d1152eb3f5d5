//! Stage 1 on the device: the plate and hint go up once; resampling to S (the CPU path's
//! antialiased bilinear taps as two matrix products), sRGB encoding and ImageNet normalisation run
//! there, and the `[1,4,S,S]` network input stays for the coarse and refine stages.

use fast_image_resize::FilterType;
use ort::value::DynValue;

use super::{err, take, Kernels};
use crate::engine::types::{InputColour, RgbaImage};
use crate::engine::EngineError;

/// The packed network input on the device, as `engine::prepare::prepare_input` builds it.
pub fn prepare(
    k: &mut Kernels,
    src: &RgbaImage,
    hint: &[f32],
    colour: InputColour,
    s: usize,
) -> Result<DynValue, EngineError> {
    let (w, h) = (src.width, src.height);
    if hint.len() != w * h || src.data.len() != w * h * 4 {
        return Err(err(format!("plate/hint sizes do not match {w}x{h}")));
    }
    k.make_room_for_matrices();
    let rh_key = k.matrix(w, s, FilterType::Bilinear, false)?;
    let rv_key = k.matrix(h, s, FilterType::Bilinear, true)?;
    let name = match colour {
        InputColour::Linear => "prepare_linear",
        InputColour::Srgb => "prepare_srgb",
    };
    k.session(name)?;
    let dev = k.device()?;
    let plate = k.upload(&[h, w, 4], &src.data)?;
    let hint = k.upload(&[h, w], hint)?;
    let rh = &k.matrices[&rh_key];
    let rv = &k.matrices[&rv_key];
    let session = k
        .sessions
        .get_mut(name)
        .ok_or_else(|| err(format!("kernel {name} missing")))?;

    let mut binding = session.create_binding().map_err(err)?;
    binding.bind_input("plate", &plate).map_err(err)?;
    binding.bind_input("hint", &hint).map_err(err)?;
    binding.bind_input("rh", rh).map_err(err)?;
    binding.bind_input("rv", rv).map_err(err)?;
    binding.bind_output_to_device("image", &dev).map_err(err)?;
    let mut o = session.run_binding(&binding).map_err(err)?;
    take(&mut o, "image")
}

/// A host-prepared `[1,4,S,S]` tensor on the device (when the host path prepared it).
pub fn upload(k: &Kernels, tensor: &[f32], s: usize) -> Result<DynValue, EngineError> {
    if tensor.len() != 4 * s * s {
        return Err(err(format!(
            "input has {} values, expected 4x{s}x{s}",
            tensor.len()
        )));
    }
    k.upload(&[1, 4, s, s], tensor)
}
