//! The render action when the host hands CUDA images (`kOfxImageEffectPropCudaEnabled` = 1, what
//! DaVinci Resolve does on NVIDIA): the addresses are checked with the CUDA runtime, mattes are
//! placed in the source window on the device, the engine keys the frame into the output
//! ([`crate::engine::Engine::render_device`]), and the rest of the render window becomes
//! transparent black; outside the render window nothing is touched. Device memory is never read
//! on the CPU.
//!
//! Failures: a frame the engine cannot key passes the source through (device to device) with a
//! persistent message, as on CPU images; images that cannot be handled at all (no CUDA here, not
//! device memory, an output that is not float RGBA) fail the action with kOfxStatFailed, as the
//! spec expects. With the host's stream our work is queued after the host's and we do not wait
//! for its later work; without one, everything has finished when the action returns.
//! CUDA frames skip the frame cache: hashing them would mean reading them back.

use std::time::Instant;

use ofx_bindings::{CudaRenderArgs, Error, Image, ImageEffect, PropertySet, RectI, Result, Status};

use super::describe::{CLIP_CORE, CLIP_GARBAGE, CLIP_HINT, CLIP_OUTPUT, CLIP_SOURCE};
use super::device_layout::{device_image, output_plan, placement, sub_image, OutputPlan};
use super::engine_call;
use super::instance::Instance;
use super::log::log;
use super::render::settings;
use crate::engine::runtime::cuda::{self, Cuda, CudaError, DeviceBuffer, DeviceRegion, StreamRef};
use crate::engine::{DeviceFrame, DeviceImage, EngineError, HintSource, SampleDepth};

fn failed(msg: impl Into<String>) -> Error {
    Error::new(Status::Failed, msg)
}

fn cuda_failed(what: &'static str) -> impl Fn(CudaError) -> Error {
    move |e| failed(format!("{what}: {e}"))
}

/// A host image in device memory: the handle (released when dropped), its bounds, the GPU it is on
/// (-1 when empty) and the engine's view of it.
struct DeviceClipImage {
    _image: Image,
    bounds: RectI,
    device: i32,
    view: DeviceImage,
}

/// The image of clip `name` at `time`, checked to be device memory. Ok(None) when the host has none.
fn fetch(
    cuda: &Cuda,
    effect: &ImageEffect,
    name: &str,
    time: f64,
) -> Result<Option<DeviceClipImage>> {
    let Some(image) = effect.clip(name)?.image(time)? else {
        return Ok(None);
    };
    let layout = image.layout()?;
    let addr = image.device_address()?;
    let view = device_image(addr, &layout)
        .map_err(|why| failed(format!("the host's CUDA {name} image {why}")))?;
    let device = if view.width == 0 || view.height == 0 {
        -1
    } else {
        let info = cuda
            .pointer_info(addr)
            .map_err(cuda_failed("asking CUDA about the host's images"))?;
        if !info.kind.is_device() {
            return Err(failed(format!(
                "the host asked for CUDA render, but its {name} image is not CUDA device memory ({})",
                info.kind.label()
            )));
        }
        info.device
    };
    Ok(Some(DeviceClipImage {
        _image: image,
        bounds: layout.bounds,
        device,
        view,
    }))
}

/// An optional matte; unconnected, absent, unusable or on another GPU = absent (logged), as the
/// CPU path treats unreadable mattes.
fn fetch_matte(
    cuda: &Cuda,
    effect: &ImageEffect,
    name: &str,
    time: f64,
    device: i32,
) -> Option<DeviceClipImage> {
    if !effect.clip(name).ok()?.is_connected() {
        return None;
    }
    match fetch(cuda, effect, name, time) {
        Ok(Some(m)) if m.device == device || m.device < 0 => Some(m),
        Ok(Some(m)) => {
            log(format!(
                "{name}: on GPU {}, the source on GPU {device}; treated as absent",
                m.device
            ));
            None
        }
        Ok(None) => None,
        Err(e) => {
            log(format!("{name}: {e}; treated as absent"));
            None
        }
    }
}

fn region(img: &DeviceImage) -> std::result::Result<DeviceRegion, CudaError> {
    // SAFETY: `img` is either a host image that `fetch` confirmed is device memory (the host keeps
    // its bounds x rowBytes allocated until we release it, and in stream order after that) or a
    // temporary of ours of exactly this geometry, alive until its stream-ordered free.
    unsafe { DeviceRegion::from_raw(img.ptr, img.row_bytes, img.pixel_row_bytes(), img.height) }
}

/// `rect` (inside `bounds`) of an image as a device region.
fn part(
    img: &DeviceImage,
    bounds: RectI,
    rect: RectI,
) -> std::result::Result<DeviceRegion, CudaError> {
    let sub = sub_image(img, bounds, rect)
        .ok_or_else(|| CudaError::Region(format!("{rect:?} is not inside {bounds:?}")))?;
    region(&sub)
}

/// A zeroed buffer of `width` x `height` pixels of `channels` x `depth`, with its image view.
fn temporary<'c>(
    cuda: &'c Cuda,
    width: usize,
    height: usize,
    channels: usize,
    depth: SampleDepth,
    stream: StreamRef,
) -> std::result::Result<(DeviceBuffer<'c>, DeviceImage), CudaError> {
    let row = width
        .checked_mul(channels * depth.bytes())
        .ok_or_else(|| CudaError::Region("row size overflows".into()))?;
    let len = row
        .checked_mul(height)
        .ok_or_else(|| CudaError::Region("image size overflows".into()))?;
    let buf = DeviceBuffer::new_on(cuda, len, stream)?;
    cuda.fill(&buf.region(row, row, height)?, 0, stream)?;
    let view = DeviceImage {
        ptr: buf.addr(),
        row_bytes: row,
        width,
        height,
        channels,
        depth,
    };
    Ok((buf, view))
}

/// A matte copied into a zeroed temporary covering the source window.
fn place<'c>(
    cuda: &'c Cuda,
    matte: &DeviceClipImage,
    window: RectI,
    stream: StreamRef,
) -> std::result::Result<(DeviceBuffer<'c>, DeviceImage), CudaError> {
    let m = &matte.view;
    let (buf, view) = temporary(
        cuda,
        window.width(),
        window.height(),
        m.channels,
        m.depth,
        stream,
    )?;
    if let Some(p) = placement(window, matte.bounds) {
        let px = m.channels * m.depth.bytes();
        let dst = region(&view)?.sub(p.dst_x * px, p.dst_y, p.width * px, p.height)?;
        let src = region(m)?.sub(p.src_x * px, p.src_y, p.width * px, p.height)?;
        cuda.copy(&dst, &src, stream)?;
    }
    Ok((buf, view))
}

pub fn render(effect: &ImageEffect, in_args: &PropertySet, args: CudaRenderArgs) -> Result<Status> {
    let inst = Instance::of(effect);
    let r = render_inner(effect, in_args, inst, args);
    if let Err(e) = &r {
        inst.show_error(effect, format!("CorridorKey: CUDA render failed: {e}"));
    }
    r
}

fn render_inner(
    effect: &ImageEffect,
    in_args: &PropertySet,
    inst: &Instance,
    args: CudaRenderArgs,
) -> Result<Status> {
    let s = settings(effect, in_args, inst)?;
    let cuda = cuda::load(Some(&s.runtime.ort_library)).map_err(|e| {
        failed(format!(
            "the host handed its images in CUDA memory, but CUDA is not usable here: {e}"
        ))
    })?;
    // SAFETY: the host's cudaStream_t for this render action (kOfxImageEffectPropCudaStream),
    // alive while the work queued on it runs; 0 = the legacy default stream.
    let stream = unsafe { StreamRef::from_raw(args.stream.unwrap_or(0)) };

    let out = fetch(cuda, effect, CLIP_OUTPUT, s.time)?
        .ok_or_else(|| failed("the host gave no output image"))?;
    if out.view.channels != 4 || out.view.depth != SampleDepth::Float {
        return Err(failed(format!(
            "the host's CUDA output image has {} channels of {:?}; CorridorKey writes RGBA float",
            out.view.channels, out.view.depth
        )));
    }
    let window = s.window.unwrap_or(out.bounds);
    let src = fetch(cuda, effect, CLIP_SOURCE, s.time)?;
    let src_bounds = src.as_ref().map(|i| i.bounds).unwrap_or_default();
    let device = match (&src, out.device) {
        (Some(i), d) if i.device >= 0 && d >= 0 && i.device != d => {
            return Err(failed(format!(
                "the host's Source image is on GPU {}, its output image on GPU {d}",
                i.device
            )))
        }
        (Some(i), d) => i.device.max(d),
        (None, d) => d,
    };
    let _current = (device >= 0)
        .then(|| cuda.use_device(device))
        .transpose()
        .map_err(cuda_failed("selecting the images' GPU"))?;

    let plan = output_plan(out.bounds, window, src_bounds);
    let queued = clear(cuda, &out, &plan, stream).and_then(|()| {
        match src.as_ref().filter(|_| !plan.keyed.is_empty()) {
            Some(src) => key(effect, inst, &s, cuda, stream, src, &out, &plan, args),
            None => Ok(()),
        }
    });
    // Without the host's stream everything we queued must be done when we return, failed or not.
    if args.stream.is_none() {
        let done = cuda
            .finish(stream)
            .map_err(cuda_failed("finishing the CUDA work"));
        queued.and(done)?;
    } else {
        queued?;
    }
    Ok(Status::Ok)
}

/// Transparent black around the source window, inside the render window.
fn clear(cuda: &Cuda, out: &DeviceClipImage, plan: &OutputPlan, stream: StreamRef) -> Result<()> {
    for r in &plan.clear {
        part(&out.view, out.bounds, *r)
            .and_then(|area| cuda.fill(&area, 0, stream))
            .map_err(cuda_failed("clearing the output"))?;
    }
    Ok(())
}

/// Keys the source into the output's keyed part (or passes it through on failure).
#[allow(clippy::too_many_arguments)]
fn key(
    effect: &ImageEffect,
    inst: &Instance,
    s: &super::render::Settings,
    cuda: &'static Cuda,
    stream: StreamRef,
    src: &DeviceClipImage,
    out: &DeviceClipImage,
    plan: &OutputPlan,
    args: CudaRenderArgs,
) -> Result<()> {
    let mattes = {
        let mut m = Vec::with_capacity(3);
        for name in [CLIP_HINT, CLIP_GARBAGE, CLIP_CORE] {
            let wanted = name != CLIP_HINT || s.params.hint_source == HintSource::Clip;
            let placed = match wanted.then(|| fetch_matte(cuda, effect, name, s.time, src.device)) {
                Some(Some(matte)) => Some(
                    place(cuda, &matte, src.bounds, stream)
                        .map_err(cuda_failed("placing the mattes in the source window"))?,
                ),
                _ => None,
            };
            m.push(placed);
        }
        m
    };
    let view = |i: usize| mattes[i].as_ref().map(|(_, v)| *v);
    // Straight into the output when the whole source window is in it, else through a temporary.
    let (temp, target) = if plan.direct {
        let target = sub_image(&out.view, out.bounds, src.bounds)
            .ok_or_else(|| failed("the source window is not inside the output"))?;
        (None, target)
    } else {
        let (buf, view) = temporary(
            cuda,
            src.view.width,
            src.view.height,
            4,
            SampleDepth::Float,
            stream,
        )
        .map_err(cuda_failed("making room for the result"))?;
        (Some(buf), view)
    };
    let frame = DeviceFrame {
        source: src.view,
        hint: view(0),
        garbage: view(1),
        core: view(2),
        output: target,
        stream: args.stream,
    };
    let t0 = Instant::now();
    let abort = || effect.abort_requested();
    match engine_call::render_device(&frame, &s.params, &s.runtime, &abort) {
        Ok(info) => {
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            if info.warnings.is_empty() {
                inst.clear_message(effect);
            } else {
                inst.show_warning(effect, format!("CorridorKey: {}", info.warnings.join("; ")));
            }
            log(format!(
                "frame {} keyed in {ms:.0} ms ({}x{}, CUDA images){}",
                s.time,
                src.view.width,
                src.view.height,
                if info.notes.is_empty() {
                    String::new()
                } else {
                    format!("; {}", info.notes.join("; "))
                }
            ));
            let line = format!(
                "{} | last frame {ms:.0} ms (CUDA images)",
                engine_call::describe(&s.runtime, s.params.inference_size, s.params.screen)
            );
            inst.set_info(effect, &line);
        }
        Err(EngineError::Aborted) => return Ok(()),
        Err(e) => {
            inst.show_error(
                effect,
                format!("CorridorKey: {e} — passing the source through"),
            );
            engine_call::pass_through_device(&frame, &s.runtime).map_err(|e2| {
                failed(format!(
                    "{e}; the source could not be passed through either: {e2}"
                ))
            })?;
        }
    }
    if temp.is_some() {
        let from = part(&target, src.bounds, plan.keyed);
        let to = part(&out.view, out.bounds, plan.keyed);
        from.and_then(|f| to.and_then(|t| cuda.copy(&t, &f, stream)))
            .map_err(cuda_failed("writing the render window"))?;
    }
    Ok(())
}
