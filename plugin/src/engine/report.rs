//! The frame report: stage timings, tile counts, warnings and notes gathered while a frame runs,
//! turned into the [`FrameOutput`] once, at the end.

use std::time::Instant;

use super::contract::{FrameOutput, FrameStats, Medium, OutputMode, RgbaImage, Stage, StepTime};
use super::stages::finish::output::is_premultiplied;

#[derive(Clone, Debug, Default)]
pub struct FrameReport {
    stats: FrameStats,
    warnings: Vec<String>,
    notes: Vec<String>,
}

impl FrameReport {
    /// Runs `f`, adding its wall time to `stage`.
    pub fn time<T>(&mut self, stage: Stage, f: impl FnOnce() -> T) -> T {
        self.time_with(stage, |_| f())
    }

    /// [`FrameReport::time`] for work that reports too.
    pub fn time_with<T>(&mut self, stage: Stage, f: impl FnOnce(&mut Self) -> T) -> T {
        let t = Instant::now();
        let r = f(self);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let s = &mut self.stats;
        *match stage {
            Stage::Prepare => &mut s.prepare_ms,
            Stage::Coarse => &mut s.coarse_ms,
            Stage::Refine => &mut s.refine_ms,
            Stage::Finish => &mut s.finish_ms,
        } += ms;
        r
    }

    /// Steps timed inside the stages (the benchmark's breakdown), appended in order.
    pub fn steps(&mut self, steps: Vec<StepTime>) {
        self.stats.steps.extend(steps);
    }

    /// [`FrameReport::time_with`] that also lists the work as one step of `stage` moving `bytes`.
    pub fn time_step<T>(
        &mut self,
        stage: Stage,
        (name, bytes, medium): (&'static str, usize, Medium),
        f: impl FnOnce(&mut Self) -> T,
    ) -> T {
        let t = Instant::now();
        let r = self.time_with(stage, f);
        self.stats.steps.push(StepTime {
            stage,
            name,
            ms: t.elapsed().as_secs_f64() * 1000.0,
            bytes: bytes as u64,
            medium,
        });
        r
    }

    /// A problem the compositor must see (shown as a persistent warning).
    pub fn warn(&mut self, text: impl Into<String>) {
        self.warnings.push(text.into());
    }

    /// An expected substitution (info line and logs only).
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn extend(&mut self, warnings: &[String], notes: &[String]) {
        self.warnings.extend_from_slice(warnings);
        self.notes.extend_from_slice(notes);
    }

    /// The S and screen colour the frame was keyed at.
    pub fn keyed_at(&mut self, size: usize, screen: super::contract::ScreenColour) {
        self.stats.size = size;
        self.stats.screen = screen;
    }

    /// The frame was keyed at a smaller S or on the CPU because device memory ran out.
    pub fn degraded(&mut self) {
        self.stats.degraded = true;
    }

    pub fn tiles(&mut self, run: usize, skipped: usize) {
        self.stats.tiles_run = run;
        self.stats.tiles_skipped = skipped;
    }

    pub fn non_finite(&mut self, pixels: usize) {
        self.stats.non_finite_pixels += pixels;
    }

    pub fn into_output(self, image: RgbaImage, mode: OutputMode) -> FrameOutput {
        FrameOutput {
            image,
            premultiplied: is_premultiplied(mode),
            stats: self.stats,
            warnings: self.warnings,
            notes: self.notes,
        }
    }
}
