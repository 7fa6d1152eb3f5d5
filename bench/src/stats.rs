//! Order statistics over frame times: median, p99 (nearest rank), min, and the per-stage medians.
//! The first frame is the cold one (session load, first-run kernels): it is reported on its own and
//! left out of median/p99/min unless it is the only frame.

use serde::{Deserialize, Serialize};

/// One timed frame. Stage times and tiles exist in engine mode only (the host sees the total).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameRow {
    pub index: usize,
    pub total_ms: f64,
    pub stages: Option<Stages>,
    pub tiles_run: Option<usize>,
    pub tiles_skipped: Option<usize>,
    /// Peak device memory in use during the frame (NVML), MiB.
    pub device_peak_mib: Option<f64>,
    /// Peak of this process's GPU memory during the frame (NVML), MiB.
    pub process_peak_mib: Option<f64>,
    /// Host mode: the plugin's render action alone (the rest of `total_ms` is the test host's own
    /// image set-up, which a real host pays in its own way).
    #[serde(default)]
    pub render_action_ms: Option<f64>,
    /// Engine mode: the steps inside the stages (the breakdown), in order.
    #[serde(default)]
    pub steps: Vec<StepRow>,
}

/// One timed step of a frame (`corridorkey::engine::StepTime`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    pub stage: String,
    pub name: String,
    pub ms: f64,
    pub bytes: u64,
    /// "device", "link" or "host": where the bytes move.
    pub medium: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stages {
    pub prepare_ms: f64,
    pub coarse_ms: f64,
    pub refine_ms: f64,
    pub finish_ms: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub frames: usize,
    /// Frames behind median/p99/min (all but the cold first one, when there are two or more).
    pub warm_frames: usize,
    pub cold_first_ms: f64,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub stage_median_ms: Option<Stages>,
    pub tiles_run_median: Option<f64>,
    pub tiles_skipped_median: Option<f64>,
    /// Host mode: median of the plugin's render action alone.
    #[serde(default)]
    pub render_action_median_ms: Option<f64>,
}

/// Nearest-rank percentile of ascending `sorted` (p in 0..=100): the smallest value with at least
/// p % of the values at or below it. NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median (mean of the two middle values for an even count). NaN when empty.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

pub fn summarise(rows: &[FrameRow]) -> Option<Summary> {
    let first = rows.first()?;
    let warm = if rows.len() > 1 { &rows[1..] } else { rows };
    let mut totals: Vec<f64> = warm.iter().map(|r| r.total_ms).collect();
    totals.sort_by(|a, b| a.total_cmp(b));
    let stage = |f: fn(&Stages) -> f64| {
        let v: Option<Vec<f64>> = warm.iter().map(|r| r.stages.as_ref().map(f)).collect();
        v.map(|v| median(&v))
    };
    let stage_median_ms = match (
        stage(|s| s.prepare_ms),
        stage(|s| s.coarse_ms),
        stage(|s| s.refine_ms),
        stage(|s| s.finish_ms),
    ) {
        (Some(prepare_ms), Some(coarse_ms), Some(refine_ms), Some(finish_ms)) => Some(Stages {
            prepare_ms,
            coarse_ms,
            refine_ms,
            finish_ms,
        }),
        _ => None,
    };
    let action: Option<Vec<f64>> = warm.iter().map(|r| r.render_action_ms).collect();
    let count_median = |f: fn(&FrameRow) -> Option<usize>| {
        let v: Option<Vec<f64>> = warm.iter().map(|r| f(r).map(|n| n as f64)).collect();
        v.map(|v| median(&v))
    };
    Some(Summary {
        frames: rows.len(),
        warm_frames: warm.len(),
        cold_first_ms: first.total_ms,
        median_ms: median(&totals),
        p99_ms: percentile(&totals, 99.0),
        min_ms: totals[0],
        max_ms: totals[totals.len() - 1],
        stage_median_ms,
        tiles_run_median: count_median(|r| r.tiles_run),
        tiles_skipped_median: count_median(|r| r.tiles_skipped),
        render_action_median_ms: action.map(|v| median(&v)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn p99_is_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        // Fewer than 100 frames: p99 is the slowest.
        let v: Vec<f64> = (1..=19).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), 19.0);
        assert!(percentile(&[], 99.0).is_nan());
    }

    fn row(i: usize, total: f64, coarse: f64, run: usize) -> FrameRow {
        FrameRow {
            index: i,
            total_ms: total,
            stages: Some(Stages {
                prepare_ms: 1.0,
                coarse_ms: coarse,
                refine_ms: 2.0,
                finish_ms: 3.0,
            }),
            tiles_run: Some(run),
            tiles_skipped: Some(10 - run),
            ..Default::default()
        }
    }

    #[test]
    fn the_cold_frame_stays_out_of_the_warm_statistics() {
        let rows = vec![
            row(0, 5000.0, 4000.0, 9),
            row(1, 100.0, 50.0, 4),
            row(2, 90.0, 40.0, 6),
            row(3, 120.0, 60.0, 5),
        ];
        let s = summarise(&rows).unwrap();
        assert_eq!((s.frames, s.warm_frames), (4, 3));
        assert_eq!(s.cold_first_ms, 5000.0);
        assert_eq!(
            (s.median_ms, s.min_ms, s.p99_ms, s.max_ms),
            (100.0, 90.0, 120.0, 120.0)
        );
        let st = s.stage_median_ms.unwrap();
        assert_eq!((st.coarse_ms, st.finish_ms), (50.0, 3.0));
        assert_eq!(s.tiles_run_median, Some(5.0));
        assert_eq!(s.tiles_skipped_median, Some(5.0));
    }

    #[test]
    fn one_frame_and_host_rows() {
        let s = summarise(&[row(0, 7.0, 1.0, 3)]).unwrap();
        assert_eq!((s.warm_frames, s.median_ms, s.cold_first_ms), (1, 7.0, 7.0));
        let host: Vec<FrameRow> = [30.0, 10.0, 20.0]
            .iter()
            .enumerate()
            .map(|(i, &t)| FrameRow {
                index: i,
                total_ms: t,
                ..Default::default()
            })
            .collect();
        let s = summarise(&host).unwrap();
        assert_eq!(s.median_ms, 15.0);
        assert!(s.stage_median_ms.is_none() && s.tiles_run_median.is_none());
        assert!(summarise(&[]).is_none());
    }
}
