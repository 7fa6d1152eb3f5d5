//! `--breakdown`: where a frame's time goes. For engine mode, each step inside the four stages
//! (median over the warm frames of its time per frame, a step that runs several times summed), the
//! fewest bytes it must move and its floor at the bandwidth of where they move (device memory, the
//! host link, CPU memory); what a stage spends outside its steps is its own row. With host mode in
//! the same run, the render action beside the engine, the difference being the OFX layer.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stats::{median, FrameRow};

/// Bandwidths the floors are computed at, GB/s (measure them on the machine and pass them in).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bandwidths {
    pub device_gbs: f64,
    pub link_gbs: f64,
    pub host_gbs: f64,
}

impl Default for Bandwidths {
    /// An H100's device-to-device copy (KINDS.md, measured here), a PCIe 5 x16 link with pinned
    /// buffers, and a multi-threaded CPU copy: replace with the machine's own numbers.
    fn default() -> Self {
        Self {
            device_gbs: 3000.0,
            link_gbs: 25.0,
            host_gbs: 20.0,
        }
    }
}

impl Bandwidths {
    fn of(&self, medium: &str) -> f64 {
        match medium {
            "device" => self.device_gbs,
            "link" => self.link_gbs,
            _ => self.host_gbs,
        }
    }
}

/// One row of the table: a step's median time per frame, its bytes and where they move.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub stage: String,
    pub name: String,
    pub ms: f64,
    pub bytes: u64,
    pub medium: String,
}

fn warm(frames: &[FrameRow]) -> &[FrameRow] {
    if frames.len() > 1 {
        &frames[1..]
    } else {
        frames
    }
}

/// The steps of `frames` in first-seen order, each the median over the warm frames of its summed
/// time per frame.
pub fn step_rows(frames: &[FrameRow]) -> Vec<Row> {
    let frames = warm(frames);
    let mut order: Vec<(String, String, String)> = Vec::new();
    for f in frames {
        for s in &f.steps {
            let key = (s.stage.clone(), s.name.clone(), s.medium.clone());
            if !order.contains(&key) {
                order.push(key);
            }
        }
    }
    order
        .into_iter()
        .map(|(stage, name, medium)| {
            let per_frame: Vec<(f64, u64)> = frames
                .iter()
                .map(|f| {
                    f.steps
                        .iter()
                        .filter(|s| s.stage == stage && s.name == name)
                        .fold((0.0, 0), |(ms, b), s| (ms + s.ms, b + s.bytes))
                })
                .collect();
            let ms: Vec<f64> = per_frame.iter().map(|p| p.0).collect();
            Row {
                ms: median(&ms),
                bytes: per_frame.iter().map(|p| p.1).max().unwrap_or(0),
                stage,
                name,
                medium,
            }
        })
        .collect()
}

fn stage_median(frames: &[FrameRow], stage: &str) -> Option<f64> {
    let v: Option<Vec<f64>> = warm(frames)
        .iter()
        .map(|f| {
            f.stages.map(|s| match stage {
                "prepare" => s.prepare_ms,
                "coarse" => s.coarse_ms,
                "refine" => s.refine_ms,
                _ => s.finish_ms,
            })
        })
        .collect();
    v.map(|v| median(&v))
}

fn row_line(md: &mut String, stage: &str, name: &str, ms: f64, floor: Option<(u64, &str, f64)>) {
    match floor {
        Some((bytes, medium, gbs)) => {
            let floor_ms = bytes as f64 / (gbs * 1e6);
            let _ = writeln!(
                md,
                "| {stage} | {name} | {ms:.1} | {:.0} | {medium} | {floor_ms:.2} | {:.0}x |",
                bytes as f64 / 1e6,
                ms / floor_ms.max(1e-9)
            );
        }
        None => {
            let _ = writeln!(md, "| {stage} | {name} | {ms:.1} | | | | |");
        }
    }
}

/// The rows of one stage: its steps, what it spends outside them and its total (returned).
fn stage_rows(
    md: &mut String,
    frames: &[FrameRow],
    rows: &[Row],
    stage: &str,
    bw: &Bandwidths,
) -> f64 {
    let mut in_steps = 0.0;
    for r in rows.iter().filter(|r| r.stage == stage) {
        in_steps += r.ms;
        let floor = (r.bytes, r.medium.as_str(), bw.of(&r.medium));
        row_line(md, stage, &r.name, r.ms, Some(floor));
    }
    let Some(st) = stage_median(frames, stage) else {
        return 0.0;
    };
    row_line(md, stage, "rest of the stage", st - in_steps, None);
    row_line(md, stage, "**stage**", st, None);
    st
}

/// The markdown table of the engine mode's `frames` and median `engine_ms` (and the median render
/// action of host mode, when it ran), or None when the engine reported no steps. It takes numbers,
/// not the report's types, so the report can call it without the two files importing each other.
pub fn table(
    frames: &[FrameRow],
    engine_ms: f64,
    action: Option<f64>,
    bw: &Bandwidths,
) -> Option<String> {
    let rows = step_rows(frames);
    if rows.is_empty() {
        return None;
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Breakdown (median per warm frame; floors at device {} GB/s, link {} GB/s, CPU {} GB/s)\n",
        bw.device_gbs, bw.link_gbs, bw.host_gbs
    );
    let _ = writeln!(
        md,
        "| stage | step | ms | MB moved | in | floor ms | x floor |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    let total: f64 = ["prepare", "coarse", "refine", "finish"]
        .iter()
        .map(|stage| stage_rows(&mut md, frames, &rows, stage, bw))
        .sum();
    row_line(
        &mut md,
        "engine",
        "outside the stages",
        engine_ms - total,
        None,
    );
    row_line(
        &mut md,
        "engine",
        "**frame (engine mode)**",
        engine_ms,
        None,
    );
    if let Some(action) = action {
        row_line(
            &mut md,
            "OFX",
            "render action less the engine",
            action - engine_ms,
            None,
        );
        row_line(
            &mut md,
            "OFX",
            "**render action (host mode)**",
            action,
            None,
        );
    }
    Some(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Stages, StepRow};

    fn step(stage: &str, name: &str, ms: f64) -> StepRow {
        StepRow {
            stage: stage.into(),
            name: name.into(),
            ms,
            bytes: 3_000_000,
            medium: "device".into(),
        }
    }

    fn frame(i: usize, refiner_ms: f64) -> FrameRow {
        FrameRow {
            index: i,
            total_ms: 20.0,
            stages: Some(Stages {
                prepare_ms: 2.0,
                coarse_ms: 5.0,
                refine_ms: 10.0,
                finish_ms: 3.0,
            }),
            steps: vec![
                step("refine", "refiner run", refiner_ms),
                step("refine", "refiner run", refiner_ms),
                step("finish", "frame down", 1.0),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn repeated_steps_add_up_per_frame_and_the_cold_frame_is_left_out() {
        let frames = [frame(0, 100.0), frame(1, 3.0), frame(2, 4.0), frame(3, 5.0)];
        let rows = step_rows(&frames);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].name.as_str(), rows[0].ms), ("refiner run", 8.0));
        assert_eq!(rows[0].bytes, 6_000_000);
        assert_eq!(rows[1].ms, 1.0);
    }

    #[test]
    fn the_table_lists_steps_floors_and_what_the_stages_spend_elsewhere() {
        let frames = vec![frame(0, 1.0), frame(1, 3.0)];
        let summary = crate::stats::summarise(&frames);
        let engine_ms = summary.as_ref().map_or(f64::NAN, |s| s.median_ms);
        let md = table(&frames, engine_ms, None, &Bandwidths::default()).unwrap();
        // 6 MB at 3000 GB/s: 0.002 ms; 6 ms measured.
        assert!(
            md.contains("| refine | refiner run | 6.0 | 6 | device | 0.00 | 3000x |"),
            "{md}"
        );
        assert!(md.contains("| refine | rest of the stage | 4.0 |"), "{md}");
        assert!(md.contains("| engine | outside the stages | 0.0 |"), "{md}");
        assert!(table(&[], f64::NAN, None, &Bandwidths::default()).is_none());
    }
}
