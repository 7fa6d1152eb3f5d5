//! The report: everything as JSON, a markdown summary for BENCHMARKS.md (one table per mode with
//! our row beside the PyTorch reference rows of the same run, per-stage medians, per-frame rows,
//! ORT arena statistics) and a few lines for the terminal.

use std::fmt::Write as _;
use std::path::Path;

use corridorkey::engine::runtime::arena_stats::ArenaStats;
use serde::{Deserialize, Serialize};

use crate::breakdown::{self, Bandwidths};
use crate::gpu_memory::{GpuInfo, MemoryReport};
use crate::stats::{FrameRow, Summary};
use crate::torch_mode::ReferenceResult;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub plates: String,
    /// Fraction of frame 0 whose true alpha is above one half (synthetic plates only).
    pub plate_coverage: Option<f64>,
    pub width: usize,
    pub height: usize,
    pub frames: usize,
    pub size: usize,
    pub tile: String,
    pub overlap: usize,
    pub batch: usize,
    pub refiner: bool,
    pub sparse_skip: bool,
    pub device: String,
    pub gpu_mem_limit_mib: usize,
    pub gpu_index: i32,
    pub seed: u64,
    pub model_dir: String,
    pub cuda_options: Option<String>,
}

/// One of our modes (engine or host).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModeResult {
    pub mode: String,
    pub ok: bool,
    pub error: Option<String>,
    /// The engine's own description (model, S, precision, device) or the plugin's info line.
    pub engine: String,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
    pub frames: Vec<FrameRow>,
    pub summary: Option<Summary>,
    pub memory: MemoryReport,
    pub arena: Vec<ArenaStats>,
    pub arena_errors: Vec<String>,
}

impl ModeResult {
    pub fn new(mode: &str) -> Self {
        Self {
            mode: mode.into(),
            ..Default::default()
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tool: String,
    pub date: String,
    pub gpu: Option<GpuInfo>,
    /// "ok", or why NVML is not usable.
    pub nvml: String,
    pub ort_version: String,
    pub ort_library: String,
    pub settings: Settings,
    pub modes: Vec<ModeResult>,
    pub reference: Vec<ReferenceResult>,
    /// `--breakdown`: the bandwidths of the floors (the table goes in the markdown and summary).
    #[serde(default)]
    pub breakdown: Option<Bandwidths>,
}

/// "1.31.1" from ".../libonnxruntime.so.1.31.1" (or "libonnxruntime.1.31.1.dylib").
pub fn ort_version_from_path(p: &Path) -> Option<String> {
    let name = p.file_name()?.to_str()?;
    let rest = name.strip_prefix("libonnxruntime")?;
    let v = rest.strip_prefix(".so.").or_else(|| {
        rest.strip_prefix('.')
            .and_then(|r| r.strip_suffix(".dylib"))
    })?;
    (!v.is_empty() && v.split('.').all(|p| p.parse::<u32>().is_ok())).then(|| v.to_string())
}

fn ms(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

fn mib(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0} MiB"))
        .unwrap_or_else(|| "n/a".into())
}

fn bytes_mib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1024.0 * 1024.0))
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

impl Report {
    pub fn gpu_line(&self) -> String {
        match &self.gpu {
            Some(g) => format!(
                "{} (GPU {}, driver {}{}, {:.0} MiB)",
                g.name,
                g.index,
                g.driver,
                g.cuda_driver
                    .as_ref()
                    .map(|c| format!(", CUDA {c}"))
                    .unwrap_or_default(),
                g.total_mib
            ),
            None => format!("n/a ({})", self.nvml),
        }
    }

    fn settings_line(&self) -> String {
        let s = &self.settings;
        let mut line = format!(
            "{}{}, S={}, refiner {} (tile {}, overlap {}, batch {}, sparse skip {}), device {}, \
             gpu_mem_limit {} MiB, {} frames, seed {}",
            s.plates,
            s.plate_coverage
                .map(|c| format!(" (foreground {:.0} % of frame 0)", c * 100.0))
                .unwrap_or_default(),
            s.size,
            on_off(s.refiner),
            s.tile,
            s.overlap,
            s.batch,
            on_off(s.sparse_skip),
            s.device,
            s.gpu_mem_limit_mib,
            s.frames,
            s.seed,
        );
        if let Some(o) = &s.cuda_options {
            let _ = write!(line, ", CORRIDORKEY_CUDA_OPTIONS={o}");
        }
        line
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "### ck-bench, {}\n", self.date);
        let _ = writeln!(md, "- GPU: {}", self.gpu_line());
        let _ = writeln!(
            md,
            "- ONNX Runtime: {} ({})",
            self.ort_version, self.ort_library
        );
        let _ = writeln!(md, "- Settings: {}", self.settings_line());
        let _ = writeln!(md, "- Model: {}\n", self.settings.model_dir);
        for m in &self.modes {
            self.mode_markdown(&mut md, m);
        }
        if self.modes.is_empty() {
            self.reference_only(&mut md);
        }
        if let Some(table) = self.breakdown_table() {
            md.push_str(&table);
            md.push('\n');
        }
        md
    }

    /// The `--breakdown` table of the engine mode (with the render action when host mode ran).
    pub fn breakdown_table(&self) -> Option<String> {
        let bw = self.breakdown.as_ref()?;
        let engine = self.modes.iter().find(|m| m.mode == "engine")?;
        let host = self.modes.iter().find(|m| m.mode == "host");
        let engine_ms = engine.summary.as_ref().map_or(f64::NAN, |s| s.median_ms);
        let action = host.and_then(|h| h.summary.as_ref()?.render_action_median_ms);
        breakdown::table(&engine.frames, engine_ms, action, bw)
    }

    fn mode_markdown(&self, md: &mut String, m: &ModeResult) {
        let _ = writeln!(md, "#### {}: {}\n", m.mode, m.engine);
        if let Some(e) = &m.error {
            let _ = writeln!(md, "**failed**: {e}\n");
        }
        let _ = writeln!(
            md,
            "| run | frames | cold first | median | p99 | min | device peak | over baseline | process peak | median vs ours |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
        let ours = m.summary.as_ref().map(|s| s.median_ms);
        if let Some(s) = &m.summary {
            let _ = writeln!(
                md,
                "| ck-bench {} | {} | {} | {} | {} | {} | {} | {} | {} | 1.00x |",
                m.mode,
                s.frames,
                ms(s.cold_first_ms),
                ms(s.median_ms),
                ms(s.p99_ms),
                ms(s.min_ms),
                mib(m.memory.peak_device_mib),
                mib(m.memory.peak_device_over_baseline_mib),
                mib(m.memory.peak_process_mib),
            );
        }
        for r in &self.reference {
            reference_row(md, r, ours);
        }
        let _ = writeln!(md);
        if let Some(b) = m.memory.baseline_device_mib {
            let _ = writeln!(
                md,
                "Device baseline before loading: {b:.0} MiB; NVML polled every {} ms ({} samples).\n",
                m.memory.interval_ms, m.memory.samples
            );
        }
        for n in m.memory.notes.iter().chain(m.notes.iter()) {
            let _ = writeln!(md, "- note: {n}");
        }
        for w in &m.warnings {
            let _ = writeln!(md, "- warning: {w}");
        }
        if !m.memory.notes.is_empty() || !m.notes.is_empty() || !m.warnings.is_empty() {
            let _ = writeln!(md);
        }
        if let Some(a) = m.summary.as_ref().and_then(|s| s.render_action_median_ms) {
            let _ = writeln!(
                md,
                "The plugin's render action alone (median): {}; the rest of the host-mode time is the test host's own image set-up.\n",
                ms(a)
            );
        }
        if let Some(st) = m.summary.as_ref().and_then(|s| s.stage_median_ms) {
            let s = m
                .summary
                .as_ref()
                .map(|s| (s.tiles_run_median, s.tiles_skipped_median));
            let _ = writeln!(
                md,
                "Per-stage medians: prepare {}, coarse {}, refine {}, finish {}; refiner tiles run / skipped (median): {} / {}\n",
                ms(st.prepare_ms),
                ms(st.coarse_ms),
                ms(st.refine_ms),
                ms(st.finish_ms),
                s.and_then(|s| s.0).map(|v| format!("{v:.0}")).unwrap_or_default(),
                s.and_then(|s| s.1).map(|v| format!("{v:.0}")).unwrap_or_default(),
            );
        }
        if !m.frames.is_empty() {
            let staged = m.frames.iter().any(|f| f.stages.is_some());
            if staged {
                let _ = writeln!(
                    md,
                    "| frame | total | prepare | coarse | refine | finish | tiles run / skipped | device peak |"
                );
                let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
            } else {
                let _ = writeln!(md, "| frame | total | device peak |");
                let _ = writeln!(md, "|---|---|---|");
            }
            for f in &m.frames {
                match &f.stages {
                    Some(s) => {
                        let _ = writeln!(
                            md,
                            "| {} | {} | {} | {} | {} | {} | {} / {} | {} |",
                            f.index,
                            ms(f.total_ms),
                            ms(s.prepare_ms),
                            ms(s.coarse_ms),
                            ms(s.refine_ms),
                            ms(s.finish_ms),
                            f.tiles_run.unwrap_or(0),
                            f.tiles_skipped.unwrap_or(0),
                            mib(f.device_peak_mib)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            md,
                            "| {} | {} | {} |",
                            f.index,
                            ms(f.total_ms),
                            mib(f.device_peak_mib)
                        );
                    }
                }
            }
            let _ = writeln!(md);
        }
        if !m.arena.is_empty() {
            let _ = writeln!(
                md,
                "ORT arena statistics after the run (MiB where sizes):\n"
            );
            let _ = writeln!(
                md,
                "| session | arena | InUse | MaxInUse | TotalAllocated | MaxAllocSize | Limit | NumAllocs | NumReserves | NumArenaExtensions | NumArenaShrinkages |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
            for a in &m.arena {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    a.session,
                    a.device,
                    bytes_mib(a.in_use),
                    bytes_mib(a.max_in_use),
                    bytes_mib(a.total_allocated),
                    bytes_mib(a.max_alloc_size),
                    bytes_mib(a.limit),
                    a.num_allocs,
                    a.num_reserves,
                    a.num_arena_extensions,
                    a.num_arena_shrinkages
                );
            }
            let _ = writeln!(md);
        }
        for e in &m.arena_errors {
            let _ = writeln!(md, "- arena statistics unavailable: {e}");
        }
        if !m.arena_errors.is_empty() {
            let _ = writeln!(md);
        }
    }

    fn reference_only(&self, md: &mut String) {
        let _ = writeln!(md, "| run | frames | cold first | median | p99 | min | device peak | over baseline | process peak | median vs ours |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
        for r in &self.reference {
            reference_row(md, r, None);
        }
        let _ = writeln!(md);
    }

    /// A few lines for the terminal.
    pub fn summary_text(&self) -> String {
        let mut t = format!("ck-bench: {} | ORT {}\n", self.gpu_line(), self.ort_version);
        if let Some(table) = self.breakdown_table() {
            t.push_str(&table);
        }
        for m in &self.modes {
            match (&m.summary, &m.error) {
                (Some(s), err) => {
                    let _ = write!(
                        t,
                        "  {:<7} median {} p99 {} min {} cold {} | device peak {} (+{} over baseline), process {}",
                        m.mode,
                        ms(s.median_ms),
                        ms(s.p99_ms),
                        ms(s.min_ms),
                        ms(s.cold_first_ms),
                        mib(m.memory.peak_device_mib),
                        mib(m.memory.peak_device_over_baseline_mib),
                        mib(m.memory.peak_process_mib)
                    );
                    if let Some(st) = s.stage_median_ms {
                        let _ = write!(
                            t,
                            " | stages {:.1}/{:.1}/{:.1}/{:.1} ms",
                            st.prepare_ms, st.coarse_ms, st.refine_ms, st.finish_ms
                        );
                    }
                    if let Some(e) = err {
                        let _ = write!(t, " | stopped: {e}");
                    }
                    t.push('\n');
                }
                (None, Some(e)) => {
                    let _ = writeln!(t, "  {:<7} failed: {e}", m.mode);
                }
                (None, None) => {
                    let _ = writeln!(t, "  {:<7} no frames", m.mode);
                }
            }
            if let Some(max) = m.arena.iter().map(|a| a.max_in_use).max() {
                let _ = writeln!(
                    t,
                    "          arena MaxInUse (largest session) {} MiB",
                    bytes_mib(max)
                );
            }
        }
        for r in &self.reference {
            match (&r.error, r.number("median_ms")) {
                (None, Some(med)) => {
                    let _ = writeln!(
                        t,
                        "  torch {:<14} median {} cold {} | device peak {}",
                        r.mode,
                        ms(med),
                        ms(r.number("cold_ms").unwrap_or(f64::NAN)),
                        mib(r.memory.peak_device_mib.or(r.number("device_peak_mb")))
                    );
                }
                (e, _) => {
                    let _ = writeln!(
                        t,
                        "  torch {:<14} not run: {}",
                        r.mode,
                        e.as_deref().unwrap_or("no result")
                    );
                }
            }
        }
        t
    }
}

fn reference_row(md: &mut String, r: &ReferenceResult, ours: Option<f64>) {
    let frames = r
        .result
        .as_ref()
        .and_then(|v| v.get("frames"))
        .and_then(|v| v.as_u64())
        .map(|f| f.to_string())
        .unwrap_or_default();
    match (&r.error, r.number("median_ms")) {
        (None, Some(med)) => {
            // NVML as for our rows; the script's own device-level peak when NVML is missing.
            let device = r.memory.peak_device_mib.or(r.number("device_peak_mb"));
            let ratio = ours
                .filter(|o| *o > 0.0)
                .map(|o| format!("{:.2}x", med / o))
                .unwrap_or_else(|| "n/a".into());
            let _ = writeln!(
                md,
                "| torch {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.mode,
                frames,
                ms(r.number("cold_ms").unwrap_or(f64::NAN)),
                ms(med),
                ms(r.number("p99_ms").unwrap_or(f64::NAN)),
                ms(r.number("min_ms").unwrap_or(f64::NAN)),
                mib(device),
                mib(r.memory.peak_device_over_baseline_mib),
                mib(r.memory.peak_process_mib),
                ratio
            );
        }
        (e, _) => {
            let why = e
                .as_deref()
                .unwrap_or("no median in its output")
                .replace('|', "/");
            let _ = writeln!(md, "| torch {} | not run: {why} | | | | | | | | |", r.mode);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::summarise;

    #[test]
    fn ort_version_comes_from_the_file_name() {
        let v = |p: &str| ort_version_from_path(Path::new(p));
        assert_eq!(v("/x/libonnxruntime.so.1.31.1").as_deref(), Some("1.31.1"));
        assert_eq!(v("libonnxruntime.1.20.0.dylib").as_deref(), Some("1.20.0"));
        assert_eq!(v("/x/libonnxruntime.so"), None);
        assert_eq!(v("/x/libfoo.so.1.2"), None);
    }

    #[test]
    fn markdown_puts_reference_rows_beside_ours_with_ratios() {
        let frames: Vec<FrameRow> = [900.0, 100.0, 110.0, 90.0]
            .iter()
            .enumerate()
            .map(|(i, &t)| FrameRow {
                index: i,
                total_ms: t,
                ..Default::default()
            })
            .collect();
        let mode = ModeResult {
            mode: "host".into(),
            ok: true,
            engine: "GreenFormer".into(),
            summary: summarise(&frames),
            frames,
            memory: MemoryReport::unavailable("NVML unavailable: test"),
            arena: vec![ArenaStats {
                session: "coarse".into(),
                device: "CPU".into(),
                max_in_use: 3 << 20,
                num_allocs: 7,
                ..Default::default()
            }],
            ..Default::default()
        };
        let reference = vec![
            ReferenceResult {
                mode: "eager-fp16".into(),
                ok: true,
                result: Some(
                    serde_json::json!({"median_ms": 486.0, "cold_ms": 2000.0, "p99_ms": 500.0, "min_ms": 480.0, "frames": 3, "device_peak_mb": 9500}),
                ),
                ..Default::default()
            },
            ReferenceResult {
                mode: "compile-fp16".into(),
                error: Some("exited with 1: ModuleNotFoundError: torch".into()),
                ..Default::default()
            },
        ];
        let r = Report {
            date: "2026-11-25T00:00:00Z".into(),
            nvml: "NVML unavailable: test".into(),
            ort_version: "1.31.1".into(),
            modes: vec![mode],
            reference,
            ..Default::default()
        };
        let md = r.markdown();
        assert!(
            md.contains("| ck-bench host | 4 | 900 ms | 100 ms | 110 ms | 90.0 ms | n/a |"),
            "{md}"
        );
        assert!(md.contains("| torch eager-fp16 | 3 | 2000 ms | 486 ms | 500 ms | 480 ms | 9500 MiB | n/a | n/a | 4.86x |"), "{md}");
        assert!(
            md.contains("not run: exited with 1: ModuleNotFoundError: torch"),
            "{md}"
        );
        assert!(md.contains("| coarse | CPU | 0.0 | 3.0 |"), "{md}");
        assert!(md.contains("GPU: n/a (NVML unavailable: test)"), "{md}");
        let text = r.summary_text();
        assert!(text.contains("median 100 ms"), "{text}");
        assert!(
            text.contains("compile-fp16") && text.contains("not run"),
            "{text}"
        );
        // JSON round trip: `--mode all` merges the children's reports through it.
        let back: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
