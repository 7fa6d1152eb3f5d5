//! Stage 4 on the GPU path: the refined alpha/fg go back to the plate size (the CPU path's taps as
//! two matrix products), then clip, core/garbage mattes, despill, sRGB -> linear and, for the
//! premultiplied output, x alpha; one interleaved RGBA frame comes down. Despeckle and the Status
//! view bring the refined matte down and take the CPU form.

use std::time::Instant;

use ort::value::DynValue;

use super::cpu;
use super::finished::Finished;
use super::output::compose;
use crate::engine::contract::{KeyParams, Medium, OutputMode, RgbaImage, UpscaleFilter};
use crate::engine::error::EngineError;
use crate::engine::gpu::tensors::cpu_tensor;
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

/// The garbage and core mattes on the device when the frame has either (an absent one is all
/// zeros: no core added, nothing garbage-masked).
fn mattes(k: &GpuKernels, frame: &CleanFrame<'_>) -> Result<Option<[DynValue; 2]>, EngineError> {
    if !frame.has_mattes() {
        return Ok(None);
    }
    let (w, h) = frame.size();
    let place = k.place();
    let zeros = vec![0.0f32; w * h];
    let (garbage, core) = (frame.garbage.as_deref(), frame.core.as_deref());
    Ok(Some([
        place.upload(&[h, w], garbage.unwrap_or(&zeros))?,
        place.upload(&[h, w], core.unwrap_or(&zeros))?,
    ]))
}

/// Interleaved RGBA at the plate size: linear fg (straight, or premultiplied when `premultiply`)
/// and alpha. The frame comes down inside the kernel's run, into pinned memory.
fn finish(
    k: &mut GpuKernels,
    refined: &DeviceRefined,
    frame: &CleanFrame<'_>,
    params: &KeyParams,
    filter: UpscaleFilter,
    premultiply: bool,
) -> Result<Vec<f32>, EngineError> {
    let (s, (w, h)) = (refined.s, frame.size());
    let f = filter_type(filter);
    let rh = k.matrix(s, w, f, false)?;
    let rv = k.matrix(s, h, f, true)?;
    let kernel = finish_kernel(&refined.value, frame.has_mattes());
    let (place, mattes) = (k.place(), mattes(k, frame)?);
    let premultiply = if premultiply { 1.0 } else { 0.0 };
    let settings = vec![
        params.clip_black,
        params.clip_white,
        params.despill,
        premultiply,
    ];
    let settings = cpu_tensor(&[4], settings)?;
    // The weight sum only when the refiner ran (any constant stands in otherwise, unbound).
    let wsum = match &refined.value {
        RefinedOnDevice::Logits { wsum, .. } => *wsum,
        RefinedOnDevice::Final(_) => rh,
    };
    let e = EngineError::ort("GPU finish");
    let t = Instant::now();
    let (session, [rh, rv, wsum], staging) = k.session_staged(kernel, [rh, rv, wsum])?;
    let mut binding = session.create_binding().map_err(e)?;
    let mut inputs: Vec<(&str, &DynValue)> = match &refined.value {
        RefinedOnDevice::Final(planes) => vec![("refined", planes)],
        RefinedOnDevice::Logits { up, acc, .. } => vec![("up", up), ("acc", acc), ("wsum", wsum)],
    };
    inputs.extend([("rh", rh), ("rv", rv), ("params", &settings)]);
    if let Some([g, c]) = &mattes {
        inputs.extend([("garbage", g), ("core", c)]);
    }
    for (name, value) in inputs {
        binding.bind_input(name, value).map_err(e)?;
    }
    let out = staging.output(session, place, &[h, w, 4])?;
    binding.bind_output("rgba", out).map_err(e)?;
    drop(session.run_binding(&binding).map_err(e)?);
    drop(binding);
    let kernel_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let rgba = staging.read()?;
    // The copy down runs inside the kernel's run; the link is its floor.
    k.record_ms(
        "finish kernel + frame down (pinned)",
        kernel_ms,
        16 * w * h,
        Medium::Link,
    );
    k.record("frame copied out (CPU)", t, 32 * w * h, Medium::Host);
    Ok(rgba)
}
