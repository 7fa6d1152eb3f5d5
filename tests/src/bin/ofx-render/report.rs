//! What a render tells its user: a progress bar with ETA on a terminal, plain per-frame lines
//! otherwise (farm logs), one JSON line per frame with `--log-json`, and the closing summary.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// How a frame ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Written,
    /// `--resume`: its output was already complete.
    Skipped,
    /// The node reported an error and handed back the source (message).
    PassedThrough(String),
    Failed(String),
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Written => "ok",
            Outcome::Skipped => "skipped",
            Outcome::PassedThrough(_) => "passthrough",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// One frame's record.
#[derive(Clone, Debug)]
pub struct FrameRecord {
    pub frame: i64,
    pub input: PathBuf,
    pub output: PathBuf,
    pub outcome: Outcome,
    /// Time in the node's render action (both renders with --layers/--views).
    pub ms: f64,
    /// Refiner tiles run / skipped, from the node's info line; None when the node did not key.
    pub tiles: Option<(u64, u64)>,
    /// Warnings the node posted (persistent or transient) and the writer's own.
    pub warnings: Vec<String>,
}

pub struct Report {
    bar: Option<ProgressBar>,
    json: Option<Box<dyn Write>>,
    /// Plain lines go to stderr when stdout carries the JSON log.
    lines_to_stderr: bool,
    /// Frames reported, and how many of them were rendered (skipped ones do not count for the ETA).
    done: usize,
    rendered: usize,
    total: usize,
    to_render: usize,
    start: std::time::Instant,
}

impl Report {
    pub fn new(total: usize, log_json: Option<&Path>) -> Result<Report, String> {
        let json: Option<Box<dyn Write>> = match log_json {
            None => None,
            Some(p) if p == Path::new("-") => Some(Box::new(std::io::stdout())),
            Some(p) => Some(Box::new(
                File::create(p).map_err(|e| format!("--log-json {}: {e}", p.display()))?,
            )),
        };
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{bar:30.green/white} {pos}/{len} frames  {elapsed} elapsed, ETA {eta}  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        Ok(Report {
            bar,
            lines_to_stderr: log_json == Some(Path::new("-")),
            json,
            done: 0,
            rendered: 0,
            total,
            to_render: total,
            start: std::time::Instant::now(),
        })
    }

    /// A line that is not about one frame (kept above the bar on a terminal).
    pub fn note(&self, text: &str) {
        match &self.bar {
            Some(b) => b.println(text),
            None if self.lines_to_stderr => eprintln!("{text}"),
            None => println!("{text}"),
        }
    }

    pub fn frame(&mut self, r: &FrameRecord) -> Result<(), String> {
        self.done += 1;
        if r.outcome == Outcome::Skipped {
            self.to_render -= 1;
        } else {
            self.rendered += 1;
        }
        let tiles = r
            .tiles
            .map(|(run, skip)| format!(", tiles {run} run / {skip} skipped"))
            .unwrap_or_default();
        let what = match &r.outcome {
            Outcome::Written => format!(
                "{} -> {} ({:.1} ms){tiles}",
                r.input.display(),
                r.output.display(),
                r.ms
            ),
            Outcome::Skipped => format!("{} already complete, skipped", r.output.display()),
            Outcome::PassedThrough(m) => format!(
                "{} PASSED THROUGH by the node after {:.1} ms: {m}",
                r.input.display(),
                r.ms
            ),
            Outcome::Failed(m) => format!("{} FAILED after {:.1} ms: {m}", r.input.display(), r.ms),
        };
        match &self.bar {
            Some(b) => {
                if !matches!(r.outcome, Outcome::Written | Outcome::Skipped)
                    || !r.warnings.is_empty()
                {
                    b.println(format!("frame {}: {what}", r.frame));
                }
                for w in &r.warnings {
                    b.println(format!("  warning: {w}"));
                }
                b.set_message(format!("frame {}", r.frame));
                if r.outcome == Outcome::Skipped {
                    // Out of the bar altogether, so its rate and ETA are those of rendered frames.
                    b.dec_length(1);
                } else {
                    b.inc(1);
                }
            }
            None => {
                let eta = self.eta_text();
                let line = format!(
                    "frame {}: {what} [{}/{}{eta}]",
                    r.frame, self.done, self.total
                );
                let warn = r.warnings.iter().map(|w| format!("  warning: {w}"));
                if self.lines_to_stderr {
                    eprintln!("{line}");
                    warn.for_each(|w| eprintln!("{w}"));
                } else {
                    println!("{line}");
                    warn.for_each(|w| println!("{w}"));
                }
            }
        }
        if let Some(j) = &mut self.json {
            let (run, skipped) = r.tiles.unzip();
            let error = match &r.outcome {
                Outcome::PassedThrough(m) | Outcome::Failed(m) => Some(m.as_str()),
                _ => None,
            };
            let line = serde_json::json!({
                "frame": r.frame,
                "status": r.outcome.name(),
                "ms": (r.ms * 10.0).round() / 10.0,
                "tiles_run": run,
                "tiles_skipped": skipped,
                "warnings": r.warnings,
                "error": error,
                "input": r.input.display().to_string(),
                "output": r.output.display().to_string(),
            });
            writeln!(j, "{line}")
                .and_then(|_| j.flush())
                .map_err(|e| format!("--log-json: {e}"))?;
        }
        Ok(())
    }

    fn eta_text(&self) -> String {
        if self.rendered == 0 || self.rendered >= self.to_render {
            return String::new();
        }
        let per = self.start.elapsed().as_secs_f64() / self.rendered as f64;
        let left = per * (self.to_render - self.rendered) as f64;
        format!(
            ", ETA {}",
            indicatif::HumanDuration(std::time::Duration::from_secs_f64(left))
        )
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
