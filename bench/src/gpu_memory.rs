//! Device memory through NVML: a background thread polls the device's used memory (what nvidia-smi
//! shows) and, where NVML reports it, one process's GPU memory, keeping the peaks. Without NVML
//! (no NVIDIA driver) everything reports "n/a" and the benchmark goes on.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::Nvml;
use serde::{Deserialize, Serialize};

/// Polling period: the issue asks for 25 ms or less; kernels shorter than this can still slip
/// between samples, which is why per-frame windows also sample at their start and end.
pub const INTERVAL: Duration = Duration::from_millis(10);

const MIB: f64 = 1024.0 * 1024.0;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// NVML's index (all GPUs of the machine), which the sampler polls.
    pub index: u32,
    pub name: String,
    pub driver: String,
    pub cuda_driver: Option<String>,
    pub total_mib: f64,
}

/// NVML and the device being measured.
pub struct Gpu {
    nvml: Arc<Nvml>,
    pub info: GpuInfo,
}

impl Gpu {
    /// The NVML device behind CUDA device `cuda_index` (see [`nvml_device`]). Err says why NVML is
    /// not usable.
    pub fn open(cuda_index: u32) -> Result<Gpu, String> {
        let nvml = Nvml::init().map_err(|e| format!("NVML unavailable: {e}"))?;
        let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
        let info = {
            let dev = match nvml_device(cuda_index, visible.as_deref()) {
                NvmlDevice::Index(i) => nvml.device_by_index(i),
                NvmlDevice::Uuid(u) => nvml.device_by_uuid(u.as_str()),
            }
            .map_err(|e| format!("NVML device for CUDA device {cuda_index}: {e}"))?;
            let index = dev.index().map_err(|e| format!("NVML device index: {e}"))?;
            let mem = dev.memory_info().map_err(|e| format!("NVML memory: {e}"))?;
            GpuInfo {
                index,
                name: dev.name().unwrap_or_else(|e| format!("unknown ({e})")),
                driver: nvml
                    .sys_driver_version()
                    .unwrap_or_else(|e| format!("unknown ({e})")),
                cuda_driver: nvml.sys_cuda_driver_version().ok().map(|v| {
                    format!(
                        "{}.{}",
                        nvml_wrapper::cuda_driver_version_major(v),
                        nvml_wrapper::cuda_driver_version_minor(v)
                    )
                }),
                total_mib: mem.total as f64 / MIB,
            }
        };
        Ok(Gpu {
            nvml: Arc::new(nvml),
            info,
        })
    }
}

/// How to find CUDA device `cuda_index` in NVML, which numbers every GPU of the machine.
#[derive(Debug, PartialEq, Eq)]
pub enum NvmlDevice {
    Index(u32),
    Uuid(String),
}

/// CUDA numbers only the devices in CUDA_VISIBLE_DEVICES (indices or GPU-UUIDs), in that order;
/// without it the two orders agree (both PCI order on the machines we measure on).
pub fn nvml_device(cuda_index: u32, visible: Option<&str>) -> NvmlDevice {
    let entry = visible.and_then(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .nth(cuda_index as usize)
    });
    match entry {
        Some(e) if e.starts_with("GPU-") || e.starts_with("MIG-") => NvmlDevice::Uuid(e.into()),
        Some(e) => e
            .parse()
            .map(NvmlDevice::Index)
            .unwrap_or(NvmlDevice::Index(cuda_index)),
        None => NvmlDevice::Index(cuda_index),
    }
}

/// Peaks of a run, in MiB. `None` where NVML is missing or does not report the value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    pub available: bool,
    /// Why values are missing (no NVML, process memory not reported, ...).
    pub notes: Vec<String>,
    pub interval_ms: f64,
    pub samples: usize,
    /// Device memory in use before the measured work loaded anything.
    pub baseline_device_mib: Option<f64>,
    pub peak_device_mib: Option<f64>,
    /// peak_device_mib - baseline_device_mib: what this run added on the device.
    pub peak_device_over_baseline_mib: Option<f64>,
    /// Peak of the measured process's own GPU memory (running compute processes).
    pub peak_process_mib: Option<f64>,
}

impl MemoryReport {
    pub fn unavailable(why: &str) -> Self {
        MemoryReport {
            notes: vec![why.to_string()],
            interval_ms: INTERVAL.as_secs_f64() * 1000.0,
            ..Default::default()
        }
    }
}

/// Peaks in bytes, shared with the polling thread. 0 = no sample yet; u64::MAX never occurs.
#[derive(Default)]
struct Peaks {
    stop: AtomicBool,
    pid: AtomicU32,
    samples: AtomicUsize,
    device: AtomicU64,
    process: AtomicU64,
    window_device: AtomicU64,
    window_process: AtomicU64,
    /// Whether NVML listed the process at least once with a usable value.
    process_seen: AtomicBool,
}

/// A running poller. `finish` stops it and returns the report.
pub struct Sampler {
    gpu: Option<(Arc<Nvml>, u32)>,
    peaks: Arc<Peaks>,
    baseline: Option<u64>,
    thread: Option<JoinHandle<()>>,
    unavailable: Option<String>,
}

/// One sample of device used memory and `pid`'s GPU memory.
fn sample(nvml: &Nvml, index: u32, peaks: &Peaks) {
    let Ok(dev) = nvml.device_by_index(index) else {
        return;
    };
    if let Ok(m) = dev.memory_info() {
        peaks.device.fetch_max(m.used, Ordering::Relaxed);
        peaks.window_device.fetch_max(m.used, Ordering::Relaxed);
    }
    let pid = peaks.pid.load(Ordering::Relaxed);
    if let Ok(procs) = dev.running_compute_processes() {
        if let Some(p) = procs.iter().find(|p| p.pid == pid) {
            if let UsedGpuMemory::Used(bytes) = p.used_gpu_memory {
                peaks.process_seen.store(true, Ordering::Relaxed);
                peaks.process.fetch_max(bytes, Ordering::Relaxed);
                peaks.window_process.fetch_max(bytes, Ordering::Relaxed);
            }
        }
    }
    peaks.samples.fetch_add(1, Ordering::Relaxed);
}

impl Sampler {
    /// Starts polling device `gpu` for process `pid`; with `None` (no NVML) it only records why.
    pub fn start(gpu: Result<&Gpu, &str>, pid: u32) -> Sampler {
        let peaks = Arc::new(Peaks::default());
        peaks.pid.store(pid, Ordering::Relaxed);
        let gpu = match gpu {
            Ok(g) => g,
            Err(why) => {
                return Sampler {
                    gpu: None,
                    peaks,
                    baseline: None,
                    thread: None,
                    unavailable: Some(why.to_string()),
                }
            }
        };
        let (nvml, index) = (gpu.nvml.clone(), gpu.info.index);
        let baseline = nvml
            .device_by_index(index)
            .and_then(|d| d.memory_info())
            .ok()
            .map(|m| m.used);
        let thread = {
            let (nvml, peaks) = (nvml.clone(), peaks.clone());
            std::thread::Builder::new()
                .name("ck-bench-nvml".into())
                .spawn(move || {
                    while !peaks.stop.load(Ordering::Relaxed) {
                        sample(&nvml, index, &peaks);
                        std::thread::sleep(INTERVAL);
                    }
                })
                .ok()
        };
        Sampler {
            gpu: Some((nvml, index)),
            peaks,
            baseline,
            thread,
            unavailable: None,
        }
    }

    /// Follows another process from now on (the PyTorch child).
    pub fn set_pid(&self, pid: u32) {
        self.peaks.pid.store(pid, Ordering::Relaxed);
    }

    /// Starts a per-frame window (with a sample right away).
    pub fn window_start(&self) {
        self.peaks.window_device.store(0, Ordering::Relaxed);
        self.peaks.window_process.store(0, Ordering::Relaxed);
        if let Some((nvml, index)) = &self.gpu {
            sample(nvml, *index, &self.peaks);
        }
    }

    /// Ends the window (with a last sample): (device peak, process peak) in MiB.
    pub fn window_end(&self) -> (Option<f64>, Option<f64>) {
        let Some((nvml, index)) = &self.gpu else {
            return (None, None);
        };
        sample(nvml, *index, &self.peaks);
        let mib = |b: u64| (b > 0).then(|| b as f64 / MIB);
        (
            mib(self.peaks.window_device.load(Ordering::Relaxed)),
            mib(self.peaks.window_process.load(Ordering::Relaxed)),
        )
    }

    pub fn finish(mut self) -> MemoryReport {
        self.peaks.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(why) = &self.unavailable {
            return MemoryReport::unavailable(why);
        }
        if let Some((nvml, index)) = &self.gpu {
            sample(nvml, *index, &self.peaks);
        }
        let mib = |b: u64| b as f64 / MIB;
        let peak = self.peaks.device.load(Ordering::Relaxed);
        let mut notes = Vec::new();
        let process = if self.peaks.process_seen.load(Ordering::Relaxed) {
            Some(mib(self.peaks.process.load(Ordering::Relaxed)))
        } else {
            notes.push(
                "NVML did not report this process's GPU memory (not listed as a compute process, \
                 e.g. a PID namespace, or the driver withholds it)"
                    .to_string(),
            );
            None
        };
        MemoryReport {
            available: true,
            notes,
            interval_ms: INTERVAL.as_secs_f64() * 1000.0,
            samples: self.peaks.samples.load(Ordering::Relaxed),
            baseline_device_mib: self.baseline.map(mib),
            peak_device_mib: (peak > 0).then(|| mib(peak)),
            peak_device_over_baseline_mib: self
                .baseline
                .filter(|_| peak > 0)
                .map(|b| mib(peak.saturating_sub(b))),
            peak_process_mib: process,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_visible_devices_maps_to_nvml() {
        assert_eq!(nvml_device(0, None), NvmlDevice::Index(0));
        assert_eq!(nvml_device(1, Some("3,2")), NvmlDevice::Index(2));
        assert_eq!(nvml_device(0, Some(" 5 ")), NvmlDevice::Index(5));
        assert_eq!(
            nvml_device(0, Some("GPU-8f2a")),
            NvmlDevice::Uuid("GPU-8f2a".into())
        );
        // Past the list (CUDA would fail too): the index as given.
        assert_eq!(nvml_device(2, Some("1")), NvmlDevice::Index(2));
    }

    #[test]
    fn without_nvml_the_report_says_why() {
        let s = Sampler::start(Err("NVML unavailable: test"), 1);
        s.window_start();
        assert_eq!(s.window_end(), (None, None));
        let r = s.finish();
        assert!(!r.available);
        assert_eq!(r.notes, ["NVML unavailable: test"]);
        assert!(r.peak_device_mib.is_none() && r.peak_process_mib.is_none());
    }
}
