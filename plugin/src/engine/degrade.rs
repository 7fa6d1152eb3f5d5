//! Degrade, never fail, when the device runs out of memory while a frame is keyed (a host or
//! another application holds the card): the frame is tried again at the next smaller S the model
//! folder has, then on the CPU provider at the S asked for. The frame's warning says so in one
//! sentence and names the S used; ONNX Runtime's own text goes to the log (the frame's notes).
//!
//! A size that ran out is skipped for [`RETRY_AFTER`] (its model set is unloaded, so its sessions
//! give their memory back), so a card that stays full does not pay for the failing attempt on
//! every frame; after that the size asked for is tried again.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::contract::{Device, RenderOptions, RuntimeConfig, ScreenColour};
use super::error::EngineError;
use super::runtime::out_of_memory::CUBLAS_ALLOC_FAILED_TEXT;

/// How long a size that ran out of device memory is skipped.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// One attempt at a frame: a size on a runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct Rung {
    pub runtime: RuntimeConfig,
    /// The S the slot is asked for (the first rung asks for the user's S, which may be absent and
    /// replaced by the closest, as before).
    pub size: usize,
    /// The S the folder gives for it.
    pub effective: usize,
    /// The CPU provider, the last resort.
    pub cpu: bool,
}

/// The closest size the folder has to `s` (the manifest's choice: ties go to the larger).
fn closest(s: usize, sizes: &[usize]) -> usize {
    sizes
        .iter()
        .copied()
        .min_by_key(|&x| (x.abs_diff(s), std::cmp::Reverse(x)))
        .unwrap_or(s)
}

/// The rungs for a frame asked at `requested`: that size on `runtime`, every smaller size of the
/// folder (`sizes`, any order), largest first, then the CPU provider at `requested` (unless the
/// runtime is the CPU already).
pub fn ladder(runtime: &RuntimeConfig, requested: usize, sizes: &[usize]) -> Vec<Rung> {
    let top = closest(requested, sizes);
    let mut smaller: Vec<usize> = sizes.iter().copied().filter(|&s| s < top).collect();
    smaller.sort_unstable_by(|a, b| b.cmp(a));
    smaller.dedup();
    let on = |size: usize, effective: usize| Rung {
        runtime: runtime.clone(),
        size,
        effective,
        cpu: false,
    };
    let mut rungs = vec![on(requested, top)];
    rungs.extend(smaller.into_iter().map(|s| on(s, s)));
    if runtime.device != Device::Cpu {
        rungs.push(Rung {
            runtime: RuntimeConfig {
                device: Device::Cpu,
                ..runtime.clone()
            },
            size: requested,
            effective: top,
            cpu: true,
        });
    }
    rungs
}

type Recent = Vec<(RuntimeConfig, usize, ScreenColour, Instant)>;
static RECENT: Mutex<Recent> = parking_lot::const_mutex(Vec::new());

/// Remembers that `rung` ran out of device memory keying `screen`.
pub fn remember(rung: &Rung, screen: ScreenColour) {
    let mut recent = RECENT.lock();
    recent.retain(|r| {
        r.3.elapsed() < RETRY_AFTER
            && !(r.0 == rung.runtime && r.1 == rung.effective && r.2 == screen)
    });
    recent.push((rung.runtime.clone(), rung.effective, screen, Instant::now()));
}

/// The rungs worth trying now: leading rungs that ran out within [`RETRY_AFTER`] are skipped (the
/// last rung always stays). Also returns the first skipped rung's S (what the frame asked for).
pub fn skip_recent(rungs: Vec<Rung>, screen: ScreenColour) -> (Vec<Rung>, Option<usize>) {
    let recent = RECENT.lock();
    let failed = |r: &Rung| {
        recent.iter().any(|(rt, s, sc, t)| {
            *rt == r.runtime && *s == r.effective && *sc == screen && t.elapsed() < RETRY_AFTER
        })
    };
    let skip = rungs
        .iter()
        .take(rungs.len().saturating_sub(1))
        .take_while(|r| failed(r))
        .count();
    let first = (skip > 0).then(|| rungs[0].effective);
    (rungs.into_iter().skip(skip).collect(), first)
}

/// The test hook's failure for `rung` (`RenderOptions::test_device_oom_above`): the real cuBLAS
/// text, so the classification is exercised too.
pub fn injected(options: &RenderOptions, rung: &Rung) -> Result<(), EngineError> {
    match options.test_device_oom_above {
        Some(max) if !rung.cpu && rung.effective > max => Err(EngineError::Inference {
            step: "the refiner",
            source: ort::Error::new(CUBLAS_ALLOC_FAILED_TEXT),
        }),
        _ => Ok(()),
    }
}

/// The frame's warning: one sentence that names the S asked for and the S (and device) used.
pub fn message(asked: usize, used: &Rung) -> String {
    if used.cpu {
        format!(
            "out of GPU memory at every model size from S={asked} down (the host or another \
             application holds the card): this frame was keyed on the CPU at S={} (slow)",
            used.effective
        )
    } else {
        format!(
            "out of GPU memory at S={asked} (the host or another application holds the card): \
             this frame was keyed at S={} instead (softer detail)",
            used.effective
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn rt(device: Device) -> RuntimeConfig {
        RuntimeConfig {
            model_dir: PathBuf::from("/models"),
            ort_library: PathBuf::from("/ort/libonnxruntime.so"),
            device,
            gpu_mem_limit_mb: 0,
            gpu_index: 0,
            engine_cache_dir: None,
            tuning: Default::default(),
        }
    }

    #[test]
    fn the_ladder_goes_down_the_folders_sizes_then_to_the_cpu() {
        let gpu = rt(Device::Auto);
        let rungs = ladder(&gpu, 2048, &[1024, 2048, 1536]);
        let got: Vec<(usize, usize, bool)> =
            rungs.iter().map(|r| (r.size, r.effective, r.cpu)).collect();
        assert_eq!(
            got,
            vec![
                (2048, 2048, false),
                (1536, 1536, false),
                (1024, 1024, false),
                (2048, 2048, true)
            ]
        );
        assert_eq!(rungs[3].runtime.device, Device::Cpu);
        // A size the folder lacks starts at the closest one; the CPU runtime has no CPU rung.
        let r = ladder(&gpu, 1800, &[1024, 2048]);
        assert_eq!(
            (r[0].size, r[0].effective, r[1].effective),
            (1800, 2048, 1024)
        );
        assert_eq!(ladder(&rt(Device::Cpu), 2048, &[2048, 1024]).len(), 2);
        assert!(message(2048, &rungs[1]).contains("keyed at S=1536"));
        assert!(message(2048, &rungs[3]).contains("on the CPU at S=2048"));
    }

    #[test]
    fn a_size_that_ran_out_is_skipped_for_a_while_but_the_last_rung_stays() {
        let mut gpu = rt(Device::Cuda);
        gpu.model_dir = PathBuf::from("/models/skip-test");
        let rungs = ladder(&gpu, 2048, &[2048, 1024]);
        remember(&rungs[0], ScreenColour::Blue);
        let (left, first) = skip_recent(rungs.clone(), ScreenColour::Blue);
        assert_eq!((left.len(), first), (2, Some(2048)));
        // Another screen's model is another memory.
        assert_eq!(skip_recent(rungs.clone(), ScreenColour::Green).0.len(), 3);
        for r in &rungs {
            remember(r, ScreenColour::Blue);
        }
        let (left, _) = skip_recent(rungs, ScreenColour::Blue);
        assert!(left.len() == 1 && left[0].cpu);
    }
}
