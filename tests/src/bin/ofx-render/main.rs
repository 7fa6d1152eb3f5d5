//! `ofx-render`: renders plates and sequences through the built CorridorKey bundle with the Rust
//! test host, the way a host does, for render farms and for `make demo`. `ofx-render --help`.
//!
//! A job runs top to bottom here: the command line (`args`), the job checked before anything
//! renders (`plan`: `frames` ranges, `sequence` patterns and folders), the CPUs it may use
//! (`threads`), then per frame the node's renders (`node`), the views computed from that one key
//! (`views`, `contact_sheet`) and the files written into place (`write`), with progress and the
//! JSON log (`report`). `sample` writes the synthetic plates.

mod args;
mod contact_sheet;
mod frames;
mod node;
mod plan;
mod report;
mod sample;
mod sequence;
mod threads;
mod views;
mod write;

use node::{Node, NodeError};
use ofx_test_host::{bundle_path, HostConfig, Plugin, FILTER, GENERAL};
use report::{FrameRecord, Outcome, Report};
use std::process::ExitCode;

fn main() -> ExitCode {
    let result = args::parse(std::env::args().skip(1)).and_then(|a| {
        if a.help {
            println!("{}", args::USAGE);
            return Ok(true);
        }
        run(&a)
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("ofx-render: {}", e.replace('\n', "; "));
            ExitCode::from(1)
        }
    }
}

/// Ok(false) when a frame failed or was passed through; Err before anything rendered.
fn run(a: &args::Args) -> Result<bool, String> {
    // First: the CPU mask and pool sizes must be in place before any thread starts.
    let cpus = a.threads.map(threads::limit).transpose()?;
    let size = a.size.unwrap_or((1920, 1080));
    if let Some(p) = &a.sample_plate {
        sample::write_sample(p, size, a.frame)?;
        return Ok(true);
    }
    if let Some(p) = &a.demo_plate {
        sample::write_demo(p, size)?;
        return Ok(true);
    }
    let context = match a.context.as_deref().unwrap_or("general") {
        "filter" => FILTER,
        "general" => GENERAL,
        c => return Err(format!("--context must be filter or general, got {c:?}")),
    };
    let plan = plan::plan(a)?;
    // As given, like a host given a relative OFX_PLUGIN_PATH: the node makes its paths absolute.
    let bundle = a.bundle.clone().unwrap_or_else(bundle_path);
    let plugin = Plugin::load(&bundle, HostConfig::default())?;
    let node = Node::new(&plugin, context, &a.params, plan.k)?;
    follow_sequences(&node, a)?;
    let with_hint = a.layers || a.views.is_some();
    if with_hint && !node.shows_key() {
        return Err(
            "--layers and --views are computed from the key: use Show Premultiplied or \
             Unpremultiplied (--views writes the other views)"
                .into(),
        );
    }
    for d in &plan.folders {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }

    let mut report = Report::new(plan.frames.len(), a.log_json.as_deref())?;
    if let Some(n) = cpus {
        report.note(&format!("threads: running on {n} CPUs"));
    }
    let (mut passed, mut failed, mut written, mut skipped) = (Vec::new(), Vec::new(), 0, 0);
    for f in &plan.frames {
        let mut rec = FrameRecord {
            frame: f.frame,
            input: f.input.clone(),
            output: f.output.clone(),
            outcome: Outcome::Skipped,
            ms: 0.0,
            tiles: None,
            warnings: Vec::new(),
        };
        if a.resume && f.is_complete() {
            skipped += 1;
            report.frame(&rec)?;
            continue;
        }
        for stale in f.leftovers() {
            let _ = std::fs::remove_file(stale);
        }
        rec.outcome = match node.render(f.frame, &f.input, f.hint.as_deref(), with_hint) {
            Ok(r) => {
                rec.ms = r.ms;
                rec.tiles = r.tiles;
                rec.warnings = r.warnings.clone();
                match write::frame(f, &r, write::Extras { layers: a.layers }) {
                    Ok(w) => {
                        rec.warnings.extend(w);
                        Outcome::Written
                    }
                    Err(e) => Outcome::Failed(e),
                }
            }
            Err(NodeError::PassedThrough(m, image, ms)) => {
                rec.ms = ms;
                if a.allow_passthrough {
                    rec.warnings
                        .push(format!("passed through by the node: {m}"));
                    match write::passthrough(f, &image) {
                        Ok(w) => {
                            rec.warnings.extend(w);
                            passed.push(f.frame);
                            Outcome::Written
                        }
                        Err(e) => Outcome::Failed(e),
                    }
                } else {
                    Outcome::PassedThrough(m)
                }
            }
            Err(NodeError::Failed(m, ms)) => {
                rec.ms = ms;
                Outcome::Failed(m)
            }
        };
        match &rec.outcome {
            Outcome::Written => written += 1,
            Outcome::PassedThrough(_) => passed.push(f.frame),
            Outcome::Failed(_) => failed.push(f.frame),
            Outcome::Skipped => {}
        }
        report.frame(&rec)?;
    }
    report.finish();
    for m in plugin.global_messages() {
        report.note(&format!("  [host log {}] {}", m.kind, m.text));
    }
    report.note(&format!(
        "ofx-render: {} frames: {written} written, {skipped} already complete, {} passed through, {} failed",
        plan.frames.len(),
        passed.len(),
        failed.len()
    ));
    if !passed.is_empty() {
        let what = if a.allow_passthrough {
            "written unkeyed (--allow-passthrough)"
        } else {
            "not written; --allow-passthrough writes them"
        };
        eprintln!(
            "ofx-render: the node passed the source through on an error for frame{} {} ({what})",
            if passed.len() > 1 { "s" } else { "" },
            sequence::list(&passed)
        );
    }
    if !failed.is_empty() {
        eprintln!(
            "ofx-render: frame{} {} failed",
            if failed.len() > 1 { "s" } else { "" },
            sequence::list(&failed)
        );
    }
    Ok(failed.is_empty() && (passed.is_empty() || a.allow_passthrough))
}

/// The plate's and the hint's other frames for a node that reads around the frame it renders
/// (steady mattes read frames t-1 and t+1; the host hands them out only with temporal access).
fn follow_sequences(node: &Node<'_>, a: &args::Args) -> Result<(), String> {
    if let Some(input) = a.input.as_deref() {
        let plate = sequence::Frames::from_arg(input)?;
        node.follow("Source", move |f| plate.file_for(f).ok(), node.keeps_srgb())?;
    }
    if let Some(hint) = a.hint.as_deref() {
        let hints = sequence::Frames::from_arg(hint)?;
        node.follow("AlphaHint", move |f| hints.file_for(f).ok(), false)?;
    }
    Ok(())
}
