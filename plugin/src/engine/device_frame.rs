//! Frames in CUDA device memory (a host's OFX CUDA render): [`Engine::render_device`] and
//! [`pass_through_device`].
//!
//! This is the STAGED path: the engine's work is ordered after the caller's stream, the images come
//! down to the CPU (depths converted, rows flipped to the engine's top-down order), the frame is
//! keyed by [`Engine::render_with`] exactly as a CPU frame, and the RGBA result goes back up into
//! the output. A GPU fast path that keeps the frame on the device can take over behind the same
//! signature. Device memory is never read by the CPU: every byte moves through the CUDA runtime.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::contract::{
    Device, DeviceFrame, DeviceImage, FrameInput, FrameOutputInfo, KeyParams, MatteImage,
    RenderOptions, RgbaImage, RuntimeConfig, SampleDepth,
};
use super::device_pixels::{
    matte_from_samples, rgba_from_samples, rows_from_rgba, NoHostMemory, Samples,
};
use super::error::{EngineError, InputProblem};
use super::runtime::cuda::{self, Cuda, CudaError, DeviceRegion, StreamRef};
use super::runtime::provider_probe::{cuda_provider_loads, ProbeError};
use super::runtime::providers::provider_lib;
use super::Engine;

fn bad(name: &'static str, why: String) -> EngineError {
    EngineError::BadInput(InputProblem::DeviceImage { name, why })
}

fn no_host_memory(name: &'static str) -> impl Fn(NoHostMemory) -> EngineError {
    move |e| bad(name, e.to_string())
}

/// Geometry and format checks, before anything touches the device.
fn check_image(
    name: &'static str,
    img: &DeviceImage,
    size: (usize, usize),
    output: bool,
) -> Result<(), EngineError> {
    if (img.width, img.height) != size {
        return Err(bad(
            name,
            format!(
                "{}x{}, the source is {}x{}",
                img.width, img.height, size.0, size.1
            ),
        ));
    }
    if output && (img.channels != 4 || img.depth != SampleDepth::Float) {
        return Err(bad(
            name,
            format!(
                "must be RGBA float, is {} channels of {:?}",
                img.channels, img.depth
            ),
        ));
    }
    if ![1, 3, 4].contains(&img.channels) {
        return Err(bad(name, format!("{} channels", img.channels)));
    }
    let row = img
        .width
        .checked_mul(img.channels * img.depth.bytes())
        .ok_or_else(|| bad(name, "rows overflow".into()))?;
    if img.height > 1 && img.row_bytes < row {
        return Err(bad(
            name,
            format!("rows of {row} bytes in a row pitch of {}", img.row_bytes),
        ));
    }
    Ok(())
}

fn images(frame: &DeviceFrame) -> [(&'static str, Option<&DeviceImage>); 5] {
    [
        ("source", Some(&frame.source)),
        ("AlphaHint", frame.hint.as_ref()),
        ("Garbage", frame.garbage.as_ref()),
        ("Core", frame.core.as_ref()),
        ("output", Some(&frame.output)),
    ]
}

fn check_frame(frame: &DeviceFrame) -> Result<(), EngineError> {
    let size = (frame.source.width, frame.source.height);
    for (name, img) in images(frame) {
        if let Some(img) = img {
            check_image(name, img, size, name == "output")?;
        }
    }
    Ok(())
}

/// The GPU every image is on. Each address must be device memory, all on one GPU, and (unless the
/// engine runs on the CPU) the GPU the engine's sessions use.
fn check_devices(
    cuda: &Cuda,
    frame: &DeviceFrame,
    engine_gpu: Option<i32>,
) -> Result<i32, EngineError> {
    let mut first: Option<(&'static str, i32)> = None;
    for (name, img) in images(frame) {
        let Some(img) = img else { continue };
        let info = cuda
            .pointer_info(img.ptr)
            .map_err(EngineError::cuda("checking the host's images"))?;
        if !info.kind.is_device() {
            return Err(EngineError::BadInput(InputProblem::NotDeviceMemory {
                name,
                kind: info.kind.label(),
            }));
        }
        match first {
            None => first = Some((name, info.device)),
            Some((other, d)) if d != info.device => {
                return Err(EngineError::DeviceMismatch {
                    image: name,
                    image_device: info.device,
                    expected: format!("but the {other} is on GPU {d}"),
                })
            }
            _ => {}
        }
    }
    let device = first.map(|(_, d)| d).unwrap_or(0);
    if let Some(gpu) = engine_gpu.filter(|&g| g != device) {
        return Err(EngineError::DeviceMismatch {
            image: "the source",
            image_device: device,
            expected: format!(
                "but CorridorKey runs on GPU {gpu} (set CORRIDORKEY_GPU={device} to key on the host's GPU)"
            ),
        });
    }
    Ok(device)
}

/// The image's pixels as a device region.
fn region(img: &DeviceImage) -> Result<DeviceRegion, EngineError> {
    // SAFETY: DeviceImage's contract (device memory of this extent, alive until the frame's work
    // has run, written by nobody else); check_devices asked the runtime that it is device memory.
    unsafe { DeviceRegion::from_raw(img.ptr, img.row_bytes, img.pixel_row_bytes(), img.height) }
        .map_err(EngineError::cuda("reading the image layout"))
}

fn download(
    cuda: &Cuda,
    name: &'static str,
    img: &DeviceImage,
    stream: StreamRef,
) -> Result<Samples, EngineError> {
    let mut s = Samples::for_image(img).map_err(no_host_memory(name))?;
    cuda.download(s.bytes_mut(), &region(img)?, stream)
        .map_err(EngineError::cuda("copying the host's images to the CPU"))?;
    Ok(s)
}

fn download_rgba(
    cuda: &Cuda,
    img: &DeviceImage,
    stream: StreamRef,
) -> Result<RgbaImage, EngineError> {
    let s = download(cuda, "source", img, stream)?;
    Ok(rgba_from_samples(&s, img.width, img.height, img.channels))
}

fn download_matte(
    cuda: &Cuda,
    name: &'static str,
    img: Option<&DeviceImage>,
    stream: StreamRef,
) -> Result<Option<MatteImage>, EngineError> {
    let Some(img) = img else { return Ok(None) };
    let s = download(cuda, name, img, stream)?;
    Ok(Some(matte_from_samples(
        &s,
        img.width,
        img.height,
        img.channels,
    )))
}

fn upload_rgba(
    cuda: &Cuda,
    image: &RgbaImage,
    out: &DeviceImage,
    stream: StreamRef,
) -> Result<(), EngineError> {
    if (image.width, image.height) != (out.width, out.height) {
        return Err(EngineError::Internal(format!(
            "the engine returned {}x{} for a {}x{} output",
            image.width, image.height, out.width, out.height
        )));
    }
    let rows = rows_from_rgba(image).map_err(no_host_memory("output"))?;
    cuda.upload(&region(out)?, bytemuck::cast_slice(&rows), stream)
        .map_err(EngineError::cuda("copying the result to the host's output"))
}

/// The CUDA runtime, a device, the images checked, the images' GPU made current and the caller's
/// stream: what both entry points need before they move bytes.
struct Session {
    cuda: &'static Cuda,
    stream: StreamRef,
    device: i32,
}

fn open(
    frame: &DeviceFrame,
    runtime: &RuntimeConfig,
    engine_gpu: bool,
) -> Result<Session, EngineError> {
    let cuda = cuda::load(Some(&runtime.ort_library)).map_err(EngineError::NoCuda)?;
    if cuda
        .device_count()
        .map_err(EngineError::cuda("counting GPUs"))?
        < 1
    {
        return Err(EngineError::NoCuda(CudaError::Unavailable {
            attempts: vec![format!("{}: no CUDA device", cuda.origin())],
        }));
    }
    let engine_gpu = (engine_gpu && runtime.device != Device::Cpu).then_some(runtime.gpu_index);
    let device = check_devices(cuda, frame, engine_gpu)?;
    // SAFETY: the stream is the caller's cudaStream_t, alive during the call (DeviceFrame's
    // contract), or 0 for the legacy default stream.
    let stream = unsafe { StreamRef::from_raw(frame.stream.unwrap_or(0)) };
    Ok(Session {
        cuda,
        stream,
        device,
    })
}

fn render_staged(
    engine: &Engine,
    frame: &DeviceFrame,
    params: &KeyParams,
    runtime: &RuntimeConfig,
    options: &RenderOptions,
    abort: &dyn Fn() -> bool,
) -> Result<FrameOutputInfo, EngineError> {
    check_frame(frame)?;
    let (w, h) = (frame.source.width, frame.source.height);
    if w == 0 || h == 0 {
        // Nothing to move: the engine answers an empty frame without CUDA.
        let empty = RgbaImage::new(w, h);
        let input = FrameInput {
            source: &empty,
            hint: None,
            garbage: None,
            core: None,
        };
        let out = engine.render_with(&input, params, runtime, options, abort)?;
        return Ok(info(out));
    }
    let s = open(frame, runtime, true)?;
    let _current = s
        .cuda
        .use_device(s.device)
        .map_err(EngineError::cuda("selecting the images' GPU"))?;
    let source = download_rgba(s.cuda, &frame.source, s.stream)?;
    let hint = download_matte(s.cuda, "AlphaHint", frame.hint.as_ref(), s.stream)?;
    let garbage = download_matte(s.cuda, "Garbage", frame.garbage.as_ref(), s.stream)?;
    let core = download_matte(s.cuda, "Core", frame.core.as_ref(), s.stream)?;
    if abort() {
        return Err(EngineError::Aborted);
    }
    let input = FrameInput {
        source: &source,
        hint: hint.as_ref(),
        garbage: garbage.as_ref(),
        core: core.as_ref(),
    };
    let out = engine.render_with(&input, params, runtime, options, abort)?;
    upload_rgba(s.cuda, &out.image, &frame.output, s.stream)?;
    Ok(info(out))
}

fn info(out: super::contract::FrameOutput) -> FrameOutputInfo {
    FrameOutputInfo {
        premultiplied: out.premultiplied,
        stats: out.stats,
        warnings: out.warnings,
        notes: out.notes,
    }
}

impl Engine {
    /// Keys one frame whose images are in CUDA device memory (see [`DeviceFrame`] for what the
    /// caller promises) and writes the RGBA result into `frame.output`. Never panics; never reads
    /// device memory on the CPU. Typed failures: `NoCuda` (no runtime or device), `BadInput`
    /// (geometry, an address that is not device memory), `DeviceMismatch`, `DeviceOutOfMemory`,
    /// `Cuda`, and every error of [`Engine::render_with`]. On failure the output may be partly
    /// written; callers pass the source through ([`pass_through_device`]).
    ///
    /// With `frame.stream` the engine's work is queued after the caller's work on that stream, and
    /// it waits only for its own work; without, it uses the legacy default stream. Either way the
    /// output is written when it returns (the staged path copies through the CPU).
    pub fn render_device(
        &self,
        frame: &DeviceFrame,
        params: &KeyParams,
        runtime: &RuntimeConfig,
        options: &RenderOptions,
        abort: &dyn Fn() -> bool,
    ) -> Result<FrameOutputInfo, EngineError> {
        catch_unwind(AssertUnwindSafe(|| {
            render_staged(self, frame, params, runtime, options, abort)
        }))
        .unwrap_or_else(|p| Err(EngineError::Internal(super::panic_message(p))))
    }
}

/// Writes `frame.source` into `frame.output` unchanged (as float RGBA): what a host sees when a
/// frame cannot be keyed. Device to device when the source is float RGBA, through the CPU
/// otherwise. Queued on `frame.stream` like [`Engine::render_device`]; never panics.
pub fn pass_through_device(
    frame: &DeviceFrame,
    runtime: &RuntimeConfig,
) -> Result<(), EngineError> {
    catch_unwind(AssertUnwindSafe(|| {
        check_frame(frame)?;
        if frame.source.width == 0 || frame.source.height == 0 {
            return Ok(());
        }
        let s = open(frame, runtime, false)?;
        let _current = s
            .cuda
            .use_device(s.device)
            .map_err(EngineError::cuda("selecting the images' GPU"))?;
        let src = &frame.source;
        if src.channels == 4 && src.depth == SampleDepth::Float {
            return s
                .cuda
                .copy(&region(&frame.output)?, &region(src)?, s.stream)
                .map_err(EngineError::cuda("copying the source to the output"));
        }
        let image = download_rgba(s.cuda, src, s.stream)?;
        upload_rgba(s.cuda, &image, &frame.output, s.stream)
    }))
    .unwrap_or_else(|p| Err(EngineError::Internal(super::panic_message(p))))
}

/// Why this process cannot key CUDA images.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CudaSupportError {
    #[error("{0}")]
    Provider(#[from] ProbeError),
    #[error("{0}")]
    Runtime(#[from] CudaError),
    #[error("the CUDA runtime {0} sees no GPU")]
    NoDevice(String),
}

/// Ok when a host may hand this process CUDA images for `runtime`: the bundle's ONNX Runtime has
/// its CUDA provider, libcudart loads and sees a GPU, and a session on the CUDA provider builds on
/// `runtime.gpu_index` (the cached probe of `runtime::provider_probe`). Cheapest checks first: a
/// CPU-only bundle answers without loading anything.
pub fn cuda_images_supported(runtime: &RuntimeConfig) -> Result<(), CudaSupportError> {
    catch_unwind(AssertUnwindSafe(|| {
        let lib = provider_lib(&runtime.ort_library, "cuda");
        if !lib.is_file() {
            return Err(ProbeError::NoProviderLibrary(lib).into());
        }
        let cuda = cuda::load(Some(&runtime.ort_library))?;
        if cuda.device_count()? < 1 {
            return Err(CudaSupportError::NoDevice(cuda.origin().to_string()));
        }
        Ok(cuda_provider_loads(runtime)?)
    }))
    .unwrap_or_else(|p| {
        Err(CudaSupportError::Provider(ProbeError::Session(
            super::panic_message(p),
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(width: usize, height: usize, channels: usize, depth: SampleDepth) -> DeviceImage {
        DeviceImage {
            ptr: 0x1000,
            row_bytes: width * channels * depth.bytes(),
            width,
            height,
            channels,
            depth,
        }
    }

    fn frame() -> DeviceFrame {
        DeviceFrame {
            source: img(5, 3, 4, SampleDepth::Half),
            hint: Some(img(5, 3, 1, SampleDepth::Byte)),
            garbage: None,
            core: Some(img(5, 3, 3, SampleDepth::Short)),
            output: img(5, 3, 4, SampleDepth::Float),
            stream: None,
        }
    }

    #[test]
    fn frames_are_checked_before_any_cuda_call() {
        assert!(check_frame(&frame()).is_ok());
        let mut f = frame();
        f.hint = Some(img(4, 3, 1, SampleDepth::Byte));
        let e = check_frame(&f).unwrap_err().to_string();
        assert!(e.contains("AlphaHint") && e.contains("4x3"), "{e}");
        let mut f = frame();
        f.output = img(5, 3, 4, SampleDepth::Half);
        assert!(check_frame(&f)
            .unwrap_err()
            .to_string()
            .contains("RGBA float"));
        let mut f = frame();
        f.source.row_bytes -= 2;
        assert!(check_frame(&f)
            .unwrap_err()
            .to_string()
            .contains("row pitch"));
        let mut f = frame();
        f.garbage = Some(img(5, 3, 2, SampleDepth::Float));
        assert!(check_frame(&f)
            .unwrap_err()
            .to_string()
            .contains("2 channels"));
    }
}
