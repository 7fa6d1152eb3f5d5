//! Stage 4 on the device: the refined alpha/fg go back to the plate size (the CPU path's taps as two
//! matrix products), then clip, core/garbage mattes, despill, sRGB -> linear and, for the
//! premultiplied output, x alpha; one interleaved RGBA frame comes down.
//! Despeckle and the Status view stay on the host path.

use super::refine::DeviceRefined;
use super::{copy_out, err, host_tensor, take, Kernels};
use crate::engine::resize::UpscaleFilter;
use crate::engine::types::KeyParams;
use crate::engine::EngineError;
use fast_image_resize::FilterType;

/// Interleaved RGBA at `w x h`: linear fg (straight, or premultiplied when `premultiply`) and alpha.
pub fn finish(
    k: &mut Kernels,
    refined: &DeviceRefined,
    (w, h): (usize, usize),
    params: &KeyParams,
    mattes: (Option<&[f32]>, Option<&[f32]>),
    filter: UpscaleFilter,
    premultiply: bool,
) -> Result<Vec<f32>, EngineError> {
    let s = refined.s;
    let f = match filter {
        UpscaleFilter::Lanczos3 => FilterType::Lanczos3,
        UpscaleFilter::Bilinear => FilterType::Bilinear,
    };
    k.make_room_for_matrices();
    let rh_key = k.matrix(s, w, f, false)?;
    let rv_key = k.matrix(s, h, f, true)?;
    let (garbage, core) = mattes;
    let with_mattes = garbage.is_some() || core.is_some();
    let name = if with_mattes {
        "finish_mattes"
    } else {
        "finish"
    };
    k.session(name)?;
    let host = super::Kernels::host()?;
    // An absent matte is all zeros: no core added, nothing garbage-masked.
    let mattes = if with_mattes {
        let zeros = vec![0.0f32; w * h];
        Some((
            k.upload(&[h, w], garbage.unwrap_or(&zeros))?,
            k.upload(&[h, w], core.unwrap_or(&zeros))?,
        ))
    } else {
        None
    };
    let rh = &k.matrices[&rh_key];
    let rv = &k.matrices[&rv_key];
    let session = k
        .sessions
        .get_mut(name)
        .ok_or_else(|| err(format!("kernel {name} missing")))?;
    let params_v = [
        params.clip_black,
        params.clip_white,
        params.despill,
        if premultiply { 1.0 } else { 0.0 },
    ];
    let params_t = host_tensor(&[4], params_v.to_vec())?;
    let mut binding = session.create_binding().map_err(err)?;
    binding.bind_input("refined", &refined.value).map_err(err)?;
    binding.bind_input("rv", rv).map_err(err)?;
    binding.bind_input("rh", rh).map_err(err)?;
    binding.bind_input("params", &params_t).map_err(err)?;
    if let Some((g, c)) = &mattes {
        binding.bind_input("garbage", g).map_err(err)?;
        binding.bind_input("core", c).map_err(err)?;
    }
    binding.bind_output_to_device("rgba", &host).map_err(err)?;
    let mut o = session.run_binding(&binding).map_err(err)?;
    let rgba = take(&mut o, "rgba")?;
    drop(o);
    let mut out = vec![0.0f32; w * h * 4];
    copy_out(&rgba, &mut out)?;
    Ok(out)
}
