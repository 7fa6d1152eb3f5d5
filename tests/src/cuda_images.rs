//! One render with CUDA images, as DaVinci Resolve renders OFX plugins on NVIDIA: the host's input
//! images and the output go to device memory, the render action gets
//! `kOfxImageEffectPropCudaEnabled` = 1 (and the host's stream), and the output comes back to the CPU
//! afterwards so tests compare it with a CPU-image render pixel by pixel.
//!
//! A busy stream: before its images are filled the host queues work that holds the stream (a host
//! function that sleeps, then fills of a large scratch buffer); the images are filled by copies
//! queued after it and hold garbage (all bytes 0xFF: NaN floats) until then. A plugin that does not
//! order its work after the host's stream reads garbage, or has its output overwritten.

use std::sync::Arc;
use std::time::Instant;

use ofx_host_bindings::cuda::{cuda, DeviceMemory, Event, Stream};
use ofx_host_bindings::{ClipSource, Effect, HostImage, PropSet};

/// Where the host keeps the images of a render.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImageMemory {
    /// CPU memory (every host).
    #[default]
    Cpu,
    /// CUDA device memory (OFX CUDA render).
    Cuda(CudaRun),
    /// `kOfxImageEffectPropCudaEnabled` = 1 with addresses that are neither CPU nor device memory:
    /// a plugin that reads them on the CPU crashes the process.
    FakeCuda,
}

/// How a CUDA-image render runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CudaRun {
    /// Pass the host's stream (`kOfxImageEffectPropCudaStream`); without it the plugin must finish
    /// its work before returning.
    pub stream: bool,
    /// Hold the stream busy this long (ms) before the images are filled (needs `stream`); 0 = idle.
    pub busy_ms: u64,
}

impl Default for CudaRun {
    fn default() -> Self {
        CudaRun {
            stream: true,
            busy_ms: 0,
        }
    }
}

/// Why a CUDA-image render cannot run here (no runtime, no device): tests print it and skip.
pub fn cuda_unavailable() -> Option<String> {
    cuda().err().map(|e| e.to_string())
}

/// Byte every garbage device image is filled with (an all-NaN float image).
const GARBAGE: u8 = 0xff;
/// Scratch buffer the busy work fills over and over.
const SCRATCH_BYTES: usize = 256 << 20;
const SCRATCH_ROUNDS: usize = 64;

/// The device side of one render. Dropping it puts the clips' CPU images back.
pub(crate) struct DeviceRender {
    effect: Arc<Effect>,
    /// The clips whose sources were swapped for device images, with their CPU sources.
    swapped: Vec<(String, ClipSource)>,
    stream: Option<Stream>,
    busy: Option<Event>,
    /// Kept alive until the stream has run every queued copy.
    keep: Vec<HostImage>,
    _scratch: Option<DeviceMemory>,
    pub(crate) output: Arc<HostImage>,
}

fn fake_address(k: usize) -> usize {
    // Inside the never-mapped first page: any CPU read faults. Aligned for every depth.
    0x40 * (k + 1)
}

impl DeviceRender {
    /// Device (or fake) copies of the inputs of every clip but Output, and of `output`.
    pub(crate) fn prepare(
        effect: &Arc<Effect>,
        memory: ImageMemory,
        output: &HostImage,
    ) -> Result<DeviceRender, String> {
        let mut r = DeviceRender {
            effect: effect.clone(),
            swapped: Vec::new(),
            stream: None,
            busy: None,
            keep: Vec::new(),
            _scratch: None,
            output: Arc::new(output.fake_device_like(fake_address(0))),
        };
        let run = match memory {
            ImageMemory::Cpu => return Err("a CPU render has no device side".into()),
            ImageMemory::FakeCuda => None,
            ImageMemory::Cuda(run) => {
                cuda().map_err(|e| e.to_string())?;
                Some(run)
            }
        };
        if let Some(run) = run {
            if run.stream {
                let s = Stream::new().map_err(|e| e.to_string())?;
                if run.busy_ms > 0 {
                    let scratch = DeviceMemory::new(SCRATCH_BYTES).map_err(|e| e.to_string())?;
                    r.busy = Some(
                        s.make_busy(run.busy_ms, &scratch, SCRATCH_ROUNDS)
                            .map_err(|e| e.to_string())?,
                    );
                    r._scratch = Some(scratch);
                }
                r.stream = Some(s);
            }
        }
        let mut k = 1;
        let mut device_copy =
            |r: &mut DeviceRender, img: &HostImage| -> Result<HostImage, String> {
                k += 1;
                if run.is_none() {
                    return Ok(img.fake_device_like(fake_address(k)));
                }
                let staged = img.to_device()?;
                match (&r.stream, &r.busy) {
                    (Some(s), Some(_)) => {
                        let dev = img.device_filled_like(GARBAGE)?;
                        dev.copy_device_async(&staged, s)?;
                        r.keep.push(staged);
                        Ok(dev)
                    }
                    _ => Ok(staged),
                }
            };
        r.output = Arc::new(device_copy(&mut r, output)?);
        for c in effect.clips() {
            if c.name() == "Output" {
                continue;
            }
            let original = c.source();
            let ClipSource::Images { per_frame, any } = &original else {
                continue;
            };
            let mut dev_frames = std::collections::HashMap::new();
            for (t, img) in per_frame {
                dev_frames.insert(*t, Arc::new(device_copy(&mut r, img)?));
            }
            let dev_any = match any {
                Some(img) => Some(Arc::new(device_copy(&mut r, img)?)),
                None => None,
            };
            r.swapped.push((c.name().to_owned(), original.clone()));
            c.set_source(ClipSource::Images {
                per_frame: dev_frames,
                any: dev_any,
            });
        }
        Ok(r)
    }

    /// The render action's CUDA arguments.
    pub(crate) fn set_in_args(&self, a: &PropSet) {
        a.set_int("OfxImageEffectPropCudaEnabled", &[1]);
        if let Some(s) = &self.stream {
            a.set_pointer("OfxImageEffectPropCudaStream", &[s.handle()]);
        }
    }

    /// With a busy stream: whether the busy work is still running now.
    pub(crate) fn busy_now(&self) -> Option<bool> {
        self.busy.as_ref().map(|e| !e.is_done().unwrap_or(true))
    }

    /// Waits for the work queued on the host's stream (the plugin's included).
    pub(crate) fn synchronize(&self) -> Result<(), String> {
        match &self.stream {
            Some(s) => s.synchronize().map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }
}

impl Drop for DeviceRender {
    fn drop(&mut self) {
        // Nothing queued may still use the images when they go.
        let _ = self.synchronize();
        for (name, src) in self.swapped.drain(..) {
            if let Some(c) = self.effect.clip(&name) {
                c.set_source(src);
            }
        }
    }
}

/// Times of one render, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RenderTimes {
    /// CUDA images: the host putting the inputs (and the output's first content) on the device.
    pub upload_ms: f64,
    /// The render action; with CUDA images plus waiting for the work it queued on the host's stream.
    pub render_ms: f64,
    /// CUDA images: the host bringing the output back to the CPU.
    pub download_ms: f64,
}

/// A stopwatch in milliseconds.
pub(crate) fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}
