//! Stage 1 on the GPU path: the plate goes up once (and the hint, when it is a clip); the built-in
//! chroma key or the source's alpha is taken from the plate on the device; resampling to S (the CPU
//! path's antialiased bilinear taps as two matrix products), sRGB encoding and ImageNet
//! normalisation run there, and the `[1,4,S,S]` network input stays on the device for the coarse
//! and refine stages.

use std::time::Instant;

use fast_image_resize::FilterType;
use ort::value::DynValue;

use crate::engine::contract::{InputColour, KeyParams, Medium, RgbaImage};
use crate::engine::error::EngineError;
use crate::engine::gpu::tensors::{cpu_tensor, take};
use crate::engine::gpu::{GpuKernels, Kernel};
use crate::engine::hint::HintPlan;
use crate::engine::hint::{key_kernels, KeyKernels};
use crate::engine::imaging::morph::{ellipse_rows, opencv_gaussian_kernel};
use crate::engine::inputs::CleanFrame;

/// Where the prepare kernel's plate comes from.
enum Plate<'a> {
    /// Already on the device (the hint kernels read it too).
    Device(&'a DynValue),
    /// In CPU memory: staged in pinned memory and copied up inside the kernel's run.
    Host(&'a [f32]),
}

/// The prepare kernel for the plate's colour, with or without the built-in key inside.
fn prepare_kernel(colour: InputColour, keyed: bool) -> Kernel {
    match (colour, keyed) {
        (InputColour::Linear, true) => Kernel::PrepareKeyedLinear,
        (InputColour::Srgb, true) => Kernel::PrepareKeyedSrgb,
        (InputColour::Linear, false) => Kernel::PrepareLinear,
        (InputColour::Srgb, false) => Kernel::PrepareSrgb,
    }
}

/// The packed network input on the device, as the CPU path's `prepare_input` builds it.
pub fn prepare(
    k: &mut GpuKernels,
    frame: &CleanFrame<'_>,
    params: &KeyParams,
    s: usize,
) -> Result<DynValue, EngineError> {
    let src: &RgbaImage = &frame.src;
    let (w, h) = (src.width, src.height);
    let host = Plate::Host(&src.data);
    match &frame.hint_plan {
        HintPlan::ChromaKey => {
            if let Some(key) = KeyInputs::new(params, (w, h))? {
                // The built-in key computed inside the same graph.
                let kernel = prepare_kernel(params.input_colour, true);
                let inputs: Vec<(&str, &DynValue)> =
                    key.values.iter().map(|(n, v)| (*n, v)).collect();
                let step = "GPU prepare (with the built-in key)";
                return pack(k, kernel, step, host, &inputs, (w, h), s);
            }
        }
        HintPlan::Clip(c) => {
            let t = Instant::now();
            let hint = k.place().upload(&[h, w], c)?;
            k.record("hint up", t, w * h * 4, Medium::Link);
            let kernel = prepare_kernel(params.input_colour, false);
            return pack(
                k,
                kernel,
                "GPU prepare",
                host,
                &[("hint", &hint)],
                (w, h),
                s,
            );
        }
        HintPlan::SourceAlpha => {}
    }
    let t = Instant::now();
    let plate = k.place().upload(&[h, w, 4], &src.data)?;
    k.record("plate up", t, w * h * 16, Medium::Link);
    let hint = hint(k, &plate, frame, params)?;
    let kernel = prepare_kernel(params.input_colour, false);
    let inputs = [("hint", &hint)];
    pack(
        k,
        kernel,
        "GPU prepare",
        Plate::Device(&plate),
        &inputs,
        (w, h),
        s,
    )
}

/// The frame's hint on the device, from the plate already there (`[H, W]`).
pub fn hint(
    k: &mut GpuKernels,
    plate: &DynValue,
    frame: &CleanFrame<'_>,
    params: &KeyParams,
) -> Result<DynValue, EngineError> {
    let (w, h) = frame.size();
    let place = k.place();
    match &frame.hint_plan {
        HintPlan::Clip(c) => place.upload(&[h, w], c),
        HintPlan::SourceAlpha => plate_alpha(k, plate),
        HintPlan::ChromaKey => match KeyInputs::new(params, (w, h))? {
            Some(key) => chroma_key(k, plate, &key, params.input_colour),
            // Smaller than the blur's reach: the CPU key (reflect-101 there wraps as often as needed).
            None => place.upload(&[h, w], frame.hint()?),
        },
    }
}

/// The `[1,4,S,S]` input: the plate resized to S by `kernel` (a prepare kernel of the plate's
/// colour), with `inputs` (the hint, or the built-in key's inputs) bound beside the plate.
fn pack(
    k: &mut GpuKernels,
    kernel: Kernel,
    step: &'static str,
    plate: Plate<'_>,
    inputs: &[(&str, &DynValue)],
    (w, h): (usize, usize),
    s: usize,
) -> Result<DynValue, EngineError> {
    let rh = k.matrix(w, s, FilterType::Bilinear, false)?;
    let rv = k.matrix(h, s, FilterType::Bilinear, true)?;
    let place = k.place();
    let dev = place.memory()?;
    let t = Instant::now();
    let (session, [rh, rv], staging) = k.session_staged(kernel, [rh, rv])?;
    let (plate, staged) = match plate {
        Plate::Device(p) => (p, None),
        Plate::Host(data) => (staging.input(session, place, &[h, w, 4], data)?, Some(t)),
    };
    let staged_ms = staged.map(|t| t.elapsed().as_secs_f64() * 1000.0);
    let t = Instant::now();
    let e = EngineError::ort(step);
    let mut binding = session.create_binding().map_err(e)?;
    binding.bind_input("plate", plate).map_err(e)?;
    for (name, value) in inputs {
        binding.bind_input(*name, *value).map_err(e)?;
    }
    binding.bind_input("rh", rh).map_err(e)?;
    binding.bind_input("rv", rv).map_err(e)?;
    binding.bind_output_to_device("image", &dev).map_err(e)?;
    let image = take(&mut session.run_binding(&binding).map_err(e)?, "image")?;
    drop(binding);
    match staged_ms {
        Some(ms) => {
            k.record_ms("plate staged (CPU, pinned)", ms, w * h * 32, Medium::Host);
            // The copy up runs inside the kernel's run; the link is its floor.
            k.record(
                "plate up (pinned) + prepare kernel",
                t,
                w * h * 16,
                Medium::Link,
            );
        }
        // The plate read once (and a hint plane), the network input written once.
        None => k.record("prepare kernel", t, w * h * 20 + s * s * 16, Medium::Device),
    }
    Ok(image)
}

/// The plate's alpha channel as the hint, on the device.
fn plate_alpha(k: &mut GpuKernels, plate: &DynValue) -> Result<DynValue, EngineError> {
    let dev = k.place().memory()?;
    let e = EngineError::ort("GPU source-alpha hint");
    let session = k.session(Kernel::PlateAlpha)?;
    let mut binding = session.create_binding().map_err(e)?;
    binding.bind_input("plate", plate).map_err(e)?;
    binding.bind_output_to_device("hint", &dev).map_err(e)?;
    let mut o = session.run_binding(&binding).map_err(e)?;
    take(&mut o, "hint")
}

/// The built-in key's settings as kernel inputs: thresholds, the ellipse, the Gaussian taps and
/// their paddings (the CPU path's `hint::chroma_key`: same 8-bit codes, OpenCV's integer HSV,
/// ellipse, taps and borders).
struct KeyInputs {
    values: [(&'static str, DynValue); 5],
}

impl KeyInputs {
    /// None when the plate is smaller than the blur's reach (ONNX's reflect padding reflects once).
    fn new(params: &KeyParams, (w, h): (usize, usize)) -> Result<Option<Self>, EngineError> {
        let c = &params.chroma.for_screen(params.screen);
        // The CPU path's sizes, bounds included (hint::key_kernels).
        let KeyKernels {
            erode: erode_k,
            blur: blur_k,
            ..
        } = key_kernels(c, params.render_scale);
        let blur_r = if blur_k >= 3 { blur_k / 2 } else { 0 };
        if blur_r > 0 && (w <= blur_r || h <= blur_r) {
            return Ok(None);
        }
        let (ellipse, ek) = ellipse_kernel(erode_k);
        let (before, after) = ((ek / 2) as i64, (ek - 1 - ek / 2) as i64);
        let taps = if blur_k >= 3 {
            opencv_gaussian_kernel(blur_k)
        } else {
            vec![1.0]
        };
        let r = blur_r as i64;
        Ok(Some(Self {
            values: [
                (
                    "params",
                    cpu_tensor(&[4], vec![c.hue_min, c.hue_max, c.sat_min, c.val_min])?,
                ),
                ("erode", cpu_tensor(&[1, 1, ek, ek], ellipse)?),
                (
                    "erode_pads",
                    cpu_tensor(&[8], vec![0, 0, before, before, 0, 0, after, after])?,
                ),
                ("blur", cpu_tensor(&[1, 1, 1, taps.len()], taps)?),
                ("blur_pads", cpu_tensor(&[8], vec![0, 0, r, r, 0, 0, r, r])?),
            ],
        }))
    }
}

/// The built-in chroma key of the device plate.
fn chroma_key(
    k: &mut GpuKernels,
    plate: &DynValue,
    key: &KeyInputs,
    colour: InputColour,
) -> Result<DynValue, EngineError> {
    let kernel = match colour {
        InputColour::Linear => Kernel::ChromaKeyLinear,
        InputColour::Srgb => Kernel::ChromaKeySrgb,
    };
    let dev = k.place().memory()?;
    let e = EngineError::ort("GPU chroma key");
    let session = k.session(kernel)?;
    let mut binding = session.create_binding().map_err(e)?;
    binding.bind_input("plate", plate).map_err(e)?;
    for (name, value) in &key.values {
        binding.bind_input(*name, value).map_err(e)?;
    }
    binding.bind_output_to_device("hint", &dev).map_err(e)?;
    let mut o = session.run_binding(&binding).map_err(e)?;
    take(&mut o, "hint")
}

/// OpenCV's `MORPH_ELLIPSE` of size `k` as a `k x k` 0/1 filter (`[1]` when k < 2: no erosion),
/// anchored at (k/2, k/2) like `imaging::morph`.
fn ellipse_kernel(k: usize) -> (Vec<f32>, usize) {
    if k < 2 {
        return (vec![1.0], 1);
    }
    let r = (k / 2) as isize;
    let mut m = vec![0.0f32; k * k];
    for (dy, lo, hi) in ellipse_rows(k) {
        let row = (dy + r) as usize;
        for dx in lo..=hi {
            m[row * k + (dx + r) as usize] = 1.0;
        }
    }
    (m, k)
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
