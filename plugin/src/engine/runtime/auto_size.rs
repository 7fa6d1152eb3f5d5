//! Quality `Auto`: the inference size S for a card and a model folder, decided from fixed facts only
//! (the card's *total* memory, the node's GPU budget, the folder's sizes and their device peaks),
//! never from the memory free at the moment: every machine of a farm with the same card and
//! settings keys at the same S. Memory that runs out later is the degrade ladder's job
//! (`engine::degrade`).
//!
//! The rule on a GPU: the largest S whose device peak fits both three quarters of the card (hosts
//! such as Resolve hold part of the card themselves) and the node's `gpuMemoryMB` budget; the
//! smallest S when none fits. On the CPU provider (Device `CPU`, or no CUDA here): the largest S up
//! to 1024 (a 2048 frame takes minutes on a CPU; pick 2048 by hand for a CPU farm that wants it).

use std::collections::HashMap;

use parking_lot::Mutex;

use super::cuda;
use super::manifest;
use super::providers::provider_lib;
use crate::engine::abort::Abort;
use crate::engine::contract::{Device, RuntimeConfig, ScreenColour};

/// The part of the card's total memory a node plans for, as a fraction (numerator / 4).
const CARD_SHARE_QUARTERS: u64 = 3;
/// The largest S Auto picks on the CPU provider.
pub const CPU_MAX_SIZE: usize = 1024;

/// Device peak of a frame at S (MiB) when the manifest records none: a line through the H100
/// measurements with the shared arena (BENCHMARKS.md: 4595 MiB at S=2048 fp16, the compact model
/// 3357 MiB at 1024), rounded up: 2200 + 1200 * S / 1024 (4600 at 2048, 4000 at 1536, 3400 at 1024).
pub fn estimated_peak_mib(s: usize) -> u64 {
    2200 + (1200 * s as u64).div_ceil(1024)
}

/// One size the folder has and what a frame at it needs on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizePeak {
    pub size: usize,
    pub peak_mib: u64,
    /// True when the manifest gives the peak; false for the estimate.
    pub measured: bool,
}

/// What Auto chose, and why (for the info line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoSize {
    pub size: usize,
    pub reason: String,
}

/// The folder's coarse sizes for `screen` (the other screen's when it has none) with their peaks,
/// largest first. A size's peak is its fp16 graph's `device_peak_mib` (a GPU runs fp16), else any
/// graph's at that size, else the estimate.
pub fn size_peaks(rt: &RuntimeConfig, screen: ScreenColour) -> Vec<SizePeak> {
    let Ok((m, _)) = manifest::load(&rt.model_dir, Abort::never()) else {
        return Vec::new();
    };
    let sizes = m.coarse_sizes(screen);
    let peak_at = |s: usize| {
        let at: Vec<_> = m
            .graphs
            .iter()
            .filter(|g| g.role == "coarse" && g.size == Some(s))
            .collect();
        at.iter()
            .find(|g| g.precision == "fp16" && g.device_peak_mib.is_some())
            .or_else(|| at.iter().find(|g| g.device_peak_mib.is_some()))
            .and_then(|g| g.device_peak_mib)
    };
    sizes
        .into_iter()
        .map(|size| match peak_at(size) {
            Some(p) => SizePeak {
                size,
                peak_mib: p,
                measured: true,
            },
            None => SizePeak {
                size,
                peak_mib: estimated_peak_mib(size),
                measured: false,
            },
        })
        .collect()
}

/// The card's total memory in MiB, asked once per GPU index per process; None without CUDA.
pub fn card_total_mib(rt: &RuntimeConfig) -> Option<u64> {
    static TOTALS: Mutex<Option<HashMap<i32, Option<u64>>>> = parking_lot::const_mutex(None);
    let mut g = TOTALS.lock();
    let map = g.get_or_insert_with(HashMap::new);
    *map.entry(rt.gpu_index).or_insert_with(|| {
        let cuda = cuda::library::load(Some(&rt.ort_library)).ok()?;
        cuda.total_memory(rt.gpu_index)
            .ok()
            .map(|b| (b >> 20) as u64)
    })
}

/// Whether a frame would run on a GPU provider (as far as can be known before loading).
fn gpu_possible(rt: &RuntimeConfig) -> bool {
    rt.device != Device::Cpu && provider_lib(&rt.ort_library, "cuda").is_file()
}

/// Auto's S for `rt` keying `screen`; `fallback` when the folder lists no size (loading then
/// reports the folder's problem).
pub fn choose(rt: &RuntimeConfig, screen: ScreenColour, fallback: usize) -> AutoSize {
    let peaks = size_peaks(rt, screen);
    let total = gpu_possible(rt).then(|| card_total_mib(rt)).flatten();
    decide(&peaks, total, rt.gpu_mem_limit_mb as u64, fallback)
}

/// The rule, on plain numbers (see the module): `total_mib` None = the CPU provider.
pub fn decide(
    peaks: &[SizePeak],
    total_mib: Option<u64>,
    budget_mib: u64,
    fallback: usize,
) -> AutoSize {
    let Some(smallest) = peaks.iter().map(|p| p.size).min() else {
        return AutoSize {
            size: fallback,
            reason: "Auto: the folder lists no size".into(),
        };
    };
    let Some(total) = total_mib else {
        let size = peaks
            .iter()
            .map(|p| p.size)
            .filter(|&s| s <= CPU_MAX_SIZE)
            .max();
        return AutoSize {
            size: size.unwrap_or(smallest),
            reason: format!("Auto on the CPU: the largest S up to {CPU_MAX_SIZE}"),
        };
    };
    let mut limit = total * CARD_SHARE_QUARTERS / 4;
    if budget_mib > 0 {
        limit = limit.min(budget_mib);
    }
    let fits = peaks
        .iter()
        .filter(|p| p.peak_mib <= limit)
        .max_by_key(|p| p.size);
    match fits {
        Some(p) => AutoSize {
            size: p.size,
            reason: format!(
                "Auto: S={} needs {} MiB{}, within {limit} MiB (3/4 of the card's {total} MiB and the {budget_mib} MiB budget)",
                p.size,
                p.peak_mib,
                if p.measured { "" } else { " (estimated)" }
            ),
        },
        None => AutoSize {
            size: smallest,
            reason: format!("Auto: no size fits {limit} MiB; using the smallest, S={smallest}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peaks(list: &[(usize, u64)]) -> Vec<SizePeak> {
        list.iter()
            .map(|&(size, peak_mib)| SizePeak {
                size,
                peak_mib,
                measured: true,
            })
            .collect()
    }

    #[test]
    fn the_largest_size_that_fits_the_card_and_the_budget() {
        let p = peaks(&[(2048, 4595), (1536, 4000), (1024, 3400)]);
        // An 80 GB H100 and the default 6144 MiB budget: 2048.
        assert_eq!(decide(&p, Some(81559), 6144, 2048).size, 2048);
        // An 8 GB card: 6144 MiB of it, 2048 fits.
        assert_eq!(decide(&p, Some(8192), 0, 2048).size, 2048);
        // A 4 GB budget: 1536 does not fit, 1024 does.
        assert_eq!(decide(&p, Some(81559), 3500, 2048).size, 1024);
        // A 6 GB card (4608 MiB): 2048's 4595 fits; a 5 GB card (3840): 1024.
        assert_eq!(decide(&p, Some(6144), 0, 2048).size, 2048);
        assert_eq!(decide(&p, Some(5120), 0, 2048).size, 1024);
        // Nothing fits: the smallest, said so.
        let tiny = decide(&p, Some(2048), 0, 2048);
        assert_eq!(tiny.size, 1024);
        assert!(tiny.reason.contains("no size fits"), "{}", tiny.reason);
        // The CPU provider: the largest up to 1024; a folder without one: its smallest.
        assert_eq!(decide(&p, None, 6144, 2048).size, 1024);
        assert_eq!(
            decide(&peaks(&[(2048, 1), (1536, 1)]), None, 0, 2048).size,
            1536
        );
        assert_eq!(decide(&[], Some(8192), 0, 2048).size, 2048);
    }

    #[test]
    fn the_estimate_covers_the_measured_peaks() {
        assert!(estimated_peak_mib(2048) >= 4595);
        assert!(estimated_peak_mib(1024) >= 3357);
        assert!(estimated_peak_mib(1536) > estimated_peak_mib(1024));
    }
}
