//! Two instances on two threads, each on its own model folder, rendering at the same time: the
//! test host's check that one instance's trouble (a hostile, broken or hung model folder) never
//! blocks or slows the other. The good instance renders a run of frames alone, then the same run
//! while the hostile one renders on its own thread; the report compares the two. `ofx-pair` runs
//! it from the command line; tests/tests/hostile.rs runs it with a folder on a hung file system.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::synthetic::green_screen_plate;
use crate::{image_from_rgba, BitDepth, Components, Input, Instance, Plugin, RenderRequest};

/// What to run.
#[derive(Clone, Debug)]
pub struct PairConfig {
    pub good: PathBuf,
    pub hostile: PathBuf,
    pub width: usize,
    pub height: usize,
    /// Frames the good instance renders alone, and again beside the hostile one.
    pub frames: usize,
    /// Frames the hostile instance renders (one after another) while the good one runs.
    pub hostile_frames: usize,
}

/// One render: how long it took, whether the host call failed, the persistent message after it.
#[derive(Clone, Debug)]
pub struct FrameRecord {
    pub ms: f64,
    pub failed: Option<String>,
    pub message: Option<String>,
    /// When the render ended, from the start of the run beside the other instance.
    pub ended_s: f64,
}

#[derive(Clone, Debug)]
pub struct PairReport {
    pub alone: Vec<FrameRecord>,
    pub beside: Vec<FrameRecord>,
    pub hostile: Vec<FrameRecord>,
}

fn median(v: &[FrameRecord]) -> f64 {
    let mut ms: Vec<f64> = v.iter().map(|r| r.ms).collect();
    ms.sort_by(f64::total_cmp);
    ms.get(ms.len() / 2).copied().unwrap_or(0.0)
}

impl PairReport {
    pub fn median_alone_ms(&self) -> f64 {
        median(&self.alone)
    }
    pub fn median_beside_ms(&self) -> f64 {
        median(&self.beside)
    }
    /// Frames of the good instance that failed or showed a message.
    pub fn good_failures(&self) -> Vec<&FrameRecord> {
        self.alone
            .iter()
            .chain(&self.beside)
            .filter(|r| r.failed.is_some() || r.message.is_some())
            .collect()
    }
    /// Whether the hostile instance's first frame was still running when the good run ended (the
    /// good frames really ran beside a hostile load, not after it).
    pub fn overlapped(&self) -> bool {
        match (self.hostile.first(), self.beside.last()) {
            (Some(h), Some(g)) => h.ended_s >= g.ended_s,
            _ => false,
        }
    }

    pub fn summary(&self) -> String {
        let mut out = String::new();
        for (name, frames) in [
            ("good, alone", &self.alone),
            ("good, beside the hostile one", &self.beside),
            ("hostile", &self.hostile),
        ] {
            out += &format!("{name}:\n");
            for (i, r) in frames.iter().enumerate() {
                out += &format!(
                    "  frame {i}: {:8.1} ms{}{}\n",
                    r.ms,
                    r.failed
                        .as_deref()
                        .map(|e| format!("  FAILED {e}"))
                        .unwrap_or_default(),
                    r.message
                        .as_deref()
                        .map(|m| format!("  [{m}]"))
                        .unwrap_or_default(),
                );
            }
        }
        out += &format!(
            "median frame of the good instance: {:.1} ms alone, {:.1} ms beside the hostile one; \
             the hostile one's first frame {}\n",
            self.median_alone_ms(),
            self.median_beside_ms(),
            if self.overlapped() {
                "spanned the whole run"
            } else {
                "ended before the run did"
            }
        );
        out
    }
}

fn instance<'p>(
    plugin: &'p Plugin,
    dir: &std::path::Path,
    w: usize,
    h: usize,
) -> Result<Instance<'p>, String> {
    let inst = plugin
        .create_instance(crate::GENERAL)
        .map_err(|e| e.to_string())?;
    let p = green_screen_plate(w, h, 0);
    let img = image_from_rgba(w, h, &p.rgba, BitDepth::Float, Components::Rgba, false)?;
    inst.set_input("Source", Input::Image(img))?;
    inst.set_string("modelFolder", &dir.to_string_lossy())?;
    // The CPU provider: the run must not depend on a GPU.
    inst.set_int("device", 3)?;
    Ok(inst)
}

fn render(inst: &Instance<'_>, time: f64, start: Instant) -> FrameRecord {
    let t = Instant::now();
    let r = inst.render(&RenderRequest {
        time,
        depth: Some(BitDepth::Float),
        ..Default::default()
    });
    FrameRecord {
        ms: t.elapsed().as_secs_f64() * 1000.0,
        failed: r.err().map(|e| e.to_string()),
        message: inst
            .persistent_message()
            .map(|m| format!("{}: {}", m.kind, m.text)),
        ended_s: start.elapsed().as_secs_f64(),
    }
}

/// Runs the pair. Each instance lives on its own thread for the whole run; frame times differ so
/// no cache answers.
pub fn run(plugin: &Plugin, cfg: &PairConfig) -> Result<PairReport, String> {
    let (w, h) = (cfg.width, cfg.height);
    let (go_tx, go_rx) = std::sync::mpsc::channel::<Instant>();
    std::thread::scope(|s| {
        let good = s.spawn(move || -> Result<_, String> {
            let inst = instance(plugin, &cfg.good, w, h)?;
            let start = Instant::now();
            // The first frame loads the model; it is not counted.
            let first = render(&inst, 0.0, start);
            if let Some(e) = first.failed.or(first.message) {
                return Err(format!("the good instance's first frame: {e}"));
            }
            let alone: Vec<_> = (0..cfg.frames)
                .map(|i| render(&inst, 1.0 + i as f64, start))
                .collect();
            let start = Instant::now();
            let _ = go_tx.send(start);
            // A moment for the hostile instance's first frame to get under way.
            std::thread::sleep(Duration::from_millis(100));
            let beside: Vec<_> = (0..cfg.frames)
                .map(|i| render(&inst, 1000.0 + i as f64, start))
                .collect();
            Ok((alone, beside))
        });
        let hostile = s.spawn(move || -> Result<_, String> {
            let inst = instance(plugin, &cfg.hostile, w, h)?;
            let Ok(start) = go_rx.recv() else {
                return Ok(Vec::new());
            };
            Ok((0..cfg.hostile_frames)
                .map(|i| render(&inst, i as f64, start))
                .collect::<Vec<_>>())
        });
        let (alone, beside) = good
            .join()
            .map_err(|_| "the good instance's thread panicked".to_string())??;
        let hostile = hostile
            .join()
            .map_err(|_| "the hostile instance's thread panicked".to_string())??;
        Ok(PairReport {
            alone,
            beside,
            hostile,
        })
    })
}
