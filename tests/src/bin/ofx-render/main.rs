//! `ofx-render`: renders plates and sequences through the built CorridorKey bundle with the Rust
//! test host, the way a host does, for render farms and for `make demo`. `ofx-render --help`.
//!
//! A job runs top to bottom here: the command line (`args`), the job checked before anything
//! renders (`plan`: `frames` ranges, `sequence` patterns and folders), the CPUs it may use
//! (`threads`), then per frame the node's renders (`node`), the views computed from that one key
//! (`views`, `contact_sheet`) and the files written into place (`write`), with progress and the
//! JSON log (`report`). `sample` writes the synthetic plates. `identity` compares the files a
//! job reads and writes, `space` checks free space, `verify` checks an output for `--resume`.

mod args;
mod contact_sheet;
mod frames;
mod identity;
mod node;
mod plan;
mod report;
mod sample;
mod sequence;
mod space;
mod threads;
mod verify;
mod views;
mod write;

use node::{Node, NodeError};
use ofx_test_host::{HostConfig, Plugin, BUNDLE_NAME, FILTER, GENERAL};
use report::{FrameRecord, Outcome, Report};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let result = args::parse(std::env::args_os().skip(1)).and_then(|a| {
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

/// The bundle, in the documented order: `--bundle`, `$CORRIDORKEY_BUNDLE`, the first
/// `CorridorKey.ofx.bundle` in a folder of `$OFX_PLUGIN_PATH`, else `build/CorridorKey.ofx.bundle`
/// in the working folder. Never a path fixed when the tool was built.
fn bundle(a: &args::Args) -> PathBuf {
    if let Some(b) = &a.bundle {
        return b.clone();
    }
    if let Some(b) = std::env::var_os("CORRIDORKEY_BUNDLE").filter(|b| !b.is_empty()) {
        return PathBuf::from(b);
    }
    std::env::var_os("OFX_PLUGIN_PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(BUNDLE_NAME))
                .find(|b| b.is_dir())
        })
        .unwrap_or_else(|| Path::new("build").join(BUNDLE_NAME))
}

/// The model folder the node will read: `--model-dir`, `--param modelFolder=`, else
/// `$CORRIDORKEY_MODEL_DIR` (the node's own default beside the bundle is in the bundle).
fn model_dir(a: &args::Args) -> Option<PathBuf> {
    a.model_dir
        .clone()
        .or_else(|| {
            a.params
                .iter()
                .rev()
                .find(|(k, v)| k == "modelFolder" && !v.is_empty())
                .map(|(_, v)| PathBuf::from(v))
        })
        .or_else(|| std::env::var_os("CORRIDORKEY_MODEL_DIR").map(PathBuf::from))
}

/// The node's Model folder param is text; a folder whose name is not UTF-8 reaches it through a
/// symlink with a text name in a private temporary folder (removed when the job ends).
struct ModelLink(Option<PathBuf>);

impl ModelLink {
    fn param(dir: &Path) -> Result<(String, ModelLink), String> {
        if let Some(s) = dir.to_str() {
            return Ok((s.to_owned(), ModelLink(None)));
        }
        let abs = std::path::absolute(dir).map_err(|e| format!("--model-dir: {e}"))?;
        let tmp = std::env::temp_dir().join(format!("ofx-render-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let link = tmp.join("model");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&abs, &link).map_err(|e| format!("{}: {e}", link.display()))?;
        let text = link
            .to_str()
            .ok_or("the temporary folder's name is not UTF-8")?
            .to_owned();
        Ok((text, ModelLink(Some(tmp))))
    }
}

impl Drop for ModelLink {
    fn drop(&mut self) {
        if let Some(tmp) = &self.0 {
            let _ = std::fs::remove_dir_all(tmp);
        }
    }
}

/// Ok(false) when a frame failed or was passed through, or the job stopped; Err before anything
/// rendered.
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
    // As given, like a host given a relative OFX_PLUGIN_PATH: the node makes its paths absolute.
    let bundle = bundle(a);
    let models = model_dir(a);
    let plan = plan::plan(a, &bundle, models.as_deref())?;
    let space_notes = space::check(&plan.frames, a.layers)?;
    let mut params = a.params.clone();
    let _link = match &a.model_dir {
        Some(d) => {
            let (text, link) = ModelLink::param(d)?;
            params.push(("modelFolder".into(), text));
            Some(link)
        }
        None => None,
    };
    let plugin = Plugin::load(&bundle, HostConfig::default())?;
    let node = Node::new(&plugin, context, &params, plan.k)?;
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
    // Temporaries an earlier, killed run left (this run has written none yet), and this run's
    // own removed on SIGINT/SIGTERM.
    for stale in plan.frames.iter().flat_map(|f| f.leftovers()) {
        let _ = std::fs::remove_file(stale);
    }
    ofx_test_host::tempfiles::remove_on_signal()?;

    let mut report = Report::new(plan.frames.len(), a.log_json.as_deref())?;
    if let Some(c) = &cpus {
        match c.capped_from {
            Some(n) => report.note(&format!(
                "threads: --threads {n} capped at the {} CPUs this process may use",
                c.count
            )),
            None => report.note(&format!("threads: running on {} CPUs", c.count)),
        }
    }
    for n in &space_notes {
        report.note(&format!("warning: {n}"));
    }
    let (mut passed, mut failed, mut written, mut skipped) = (Vec::new(), Vec::new(), 0, 0);
    let mut degraded = Vec::new();
    let mut stopped = None;
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
        if a.resume {
            match verify::complete(f, a.layers) {
                Ok(()) => {
                    skipped += 1;
                    if let Err(e) = report.frame(&rec) {
                        stopped = Some(e);
                        break;
                    }
                    continue;
                }
                // Said only when there was something to resume from.
                Err(why) if f.output.exists() => rec
                    .warnings
                    .push(format!("--resume: rendered again: {why}")),
                Err(_) => {}
            }
        }
        rec.outcome = match node.render(f.frame, &f.input, f.hint.as_deref(), with_hint) {
            Ok(r) => {
                rec.ms = r.ms;
                rec.tiles = r.tiles;
                rec.warnings.extend(r.warnings.iter().cloned());
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
        // The node's warning when device memory ran out and the frame was keyed at a smaller S or
        // on the CPU (engine/degrade.rs): written, but not the frame asked for.
        if rec.warnings.iter().any(|w| w.contains("out of GPU memory")) {
            degraded.push(f.frame);
        }
        match &rec.outcome {
            Outcome::Written => written += 1,
            Outcome::PassedThrough(_) => passed.push(f.frame),
            Outcome::Failed(_) => failed.push(f.frame),
            Outcome::Skipped => {}
        }
        if let Err(e) = report.frame(&rec) {
            stopped = Some(e);
            break;
        }
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
    if !degraded.is_empty() {
        let what = if a.allow_degraded {
            "allowed by --allow-degraded"
        } else {
            "--allow-degraded accepts them"
        };
        eprintln!(
            "ofx-render: GPU memory ran out and the node keyed frame{} {} at a smaller size or on the CPU ({what})",
            if degraded.len() > 1 { "s" } else { "" },
            sequence::list(&degraded)
        );
    }
    if let Some(e) = &stopped {
        eprintln!("ofx-render: {e}; the job stopped there (its frames so far are complete)");
    }
    Ok(stopped.is_none()
        && failed.is_empty()
        && (passed.is_empty() || a.allow_passthrough)
        && (degraded.is_empty() || a.allow_degraded))
}
