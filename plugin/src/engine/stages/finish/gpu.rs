//! Stage 4 on the GPU path: the refined alpha/fg go back to the plate size (the CPU path's taps as
//! two matrix products), then clip, core/garbage mattes, despill, sRGB -> linear and, for the
//! premultiplied output, x alpha; one interleaved RGBA frame comes down. Despeckle and the Status
//! view bring the refined matte down and take the CPU form.

use super::cpu;
use super::finished::Finished;
use super::output::compose;
use crate::engine::contract::{KeyParams, OutputMode, RgbaImage, UpscaleFilter};
use crate::engine::error::EngineError;
use crate::engine::gpu::tensors::{copy_out, cpu_memory, cpu_tensor, take};
use crate::engine::gpu::{GpuKernels, Kernel};
use crate::engine::imaging::resize::filter_type;
use crate::engine::inputs::CleanFrame;
use crate::engine::stages::refine::gpu::{DeviceRefined, RefinedOnDevice};

/// Whether this frame's finish needs the CPU form (operations the kernels do not have).
pub fn needs_cpu(params: &KeyParams) -> bool {
    params.despeckle_px > 0 || params.edges.active() || params.output == OutputMode::Status
}

/// The whole stage for a frame, in the requested output mode.
pub fn finish_frame(
    k: &mut GpuKernels,
    refined: &DeviceRefined,
    frame: &CleanFrame<'_>,
    params: &KeyParams,
    filter: UpscaleFilter,
) -> Result<RgbaImage, EngineError> {
    if needs_cpu(params) {
        let cpu_refined = refined.to_cpu(k)?;
        return cpu::finish_frame(&cpu_refined, frame, params, filter);
    }
    let (w, h) = frame.size();
    let premultiply = params.output == OutputMode::Premultiplied;
    let rgba = finish(k, refined, frame, params, filter, premultiply)?;
    Ok(match params.output {
        OutputMode::Premultiplied | OutputMode::Unpremultiplied => RgbaImage {
            width: w,
            height: h,
            data: rgba,
        },
        mode => compose(
            Finished {
                width: w,
                height: h,
                rgba,
                overrides: Vec::new(),
            },
            mode,
        ),
    })
}

/// The finish kernel for what the refine stage left on the device.
pub fn finish_kernel(refined: &RefinedOnDevice, mattes: bool) -> Kernel {
    match (refined, mattes) {
        (RefinedOnDevice::Final(_), false) => Kernel::Finish,
        (RefinedOnDevice::Final(_), true) => Kernel::FinishMattes,
        (RefinedOnDevice::Logits { .. }, false) => Kernel::FinishRefined,
        (RefinedOnDevice::Logits { .. }, true) => Kernel::FinishRefinedMattes,
    }
}

/// Interleaved RGBA at the plate size: linear fg (straight, or premultiplied when `premultiply`)
/// and alpha.
fn finish(
    k: &mut GpuKernels,
    refined: &DeviceRefined,
    frame: &CleanFrame<'_>,
    params: &KeyParams,
    filter: UpscaleFilter,
    premultiply: bool,
) -> Result<Vec<f32>, EngineError> {
    let s = refined.s;
    let (w, h) = frame.size();
    let f = filter_type(filter);
    let rh = k.matrix(s, w, f, false)?;
    let rv = k.matrix(s, h, f, true)?;
    let (garbage, core) = (frame.garbage.as_deref(), frame.core.as_deref());
    let kernel = finish_kernel(&refined.value, frame.has_mattes());
    let place = k.place();
    // An absent matte is all zeros: no core added, nothing garbage-masked.
    let mattes = if frame.has_mattes() {
        let zeros = vec![0.0f32; w * h];
        Some((
            place.upload(&[h, w], garbage.unwrap_or(&zeros))?,
            place.upload(&[h, w], core.unwrap_or(&zeros))?,
        ))
    } else {
        None
    };
    let settings = cpu_tensor(
        &[4],
        vec![
            params.clip_black,
            params.clip_white,
            params.despill,
            if premultiply { 1.0 } else { 0.0 },
        ],
    )?;
    let cpu_mem = cpu_memory()?;
    let e = EngineError::ort("GPU finish");
    let (session, mut binding) = match &refined.value {
        RefinedOnDevice::Final(planes) => {
            let (session, [rh, rv]) = k.session_with(kernel, [rh, rv])?;
            let mut binding = session.create_binding().map_err(e)?;
            binding.bind_input("refined", planes).map_err(e)?;
            binding.bind_input("rh", rh).map_err(e)?;
            binding.bind_input("rv", rv).map_err(e)?;
            (session, binding)
        }
        RefinedOnDevice::Logits { up, acc, wsum } => {
            let (session, [rh, rv, wsum]) = k.session_with(kernel, [rh, rv, *wsum])?;
            let mut binding = session.create_binding().map_err(e)?;
            binding.bind_input("up", up).map_err(e)?;
            binding.bind_input("acc", acc).map_err(e)?;
            binding.bind_input("wsum", wsum).map_err(e)?;
            binding.bind_input("rh", rh).map_err(e)?;
            binding.bind_input("rv", rv).map_err(e)?;
            (session, binding)
        }
    };
    binding.bind_input("params", &settings).map_err(e)?;
    if let Some((g, c)) = &mattes {
        binding.bind_input("garbage", g).map_err(e)?;
        binding.bind_input("core", c).map_err(e)?;
    }
    binding.bind_output_to_device("rgba", &cpu_mem).map_err(e)?;
    let mut o = session.run_binding(&binding).map_err(e)?;
    let rgba = take(&mut o, "rgba")?;
    drop(o);
    let mut out = vec![0.0f32; w * h * 4];
    copy_out(&rgba, &mut out)?;
    Ok(out)
}
