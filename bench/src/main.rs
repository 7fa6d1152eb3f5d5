//! ck-bench: the CorridorKey benchmark (`make bench`). Keys N synthetic 4096x2160 green-screen
//! plates (or an EXR sequence) through the engine (`--mode engine`), the built bundle via the test
//! host (`--mode host`) or both (`--mode all`, each in its own child process so memory peaks stay
//! separate), with per-frame and per-stage times, NVML device memory, ORT arena statistics and the
//! PyTorch reference (`--torch`) in one JSON + markdown report. `ck-bench --help` lists the flags.

mod args;
mod engine_mode;
mod gpu_memory;
mod host_mode;
mod plates;
mod report;
mod stats;
mod torch_mode;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::SystemTime;

use args::{Args, Mode};
use gpu_memory::Gpu;
use plates::PlateSource;
use report::{ModeResult, Report, Settings};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let root = args::repo_root();
    let env = |k: &str| std::env::var(k).ok();
    let args = match args::parse(&argv, args::defaults(&env, &root)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ck-bench: {e}\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(&args, &argv, &root) {
        Ok(report) => {
            if let Err(e) = write_outputs(&args, &report) {
                eprintln!("ck-bench: {e}");
                return ExitCode::FAILURE;
            }
            print!("{}", report.summary_text());
            if report.modes.iter().all(|m| m.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("ck-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args, argv: &[String], root: &Path) -> Result<Report, String> {
    let (plates, width, height, frames) = match &args.input {
        Some(dir) => {
            let files = plates::exr_sequence(dir)?;
            let first = plates::read_exr_top_down(&files[0])?;
            let frames = if args.frames_given {
                args.frames
            } else {
                files.len()
            };
            (PlateSource::Exr(files), first.width, first.height, frames)
        }
        None => (
            PlateSource::Synthetic {
                width: args.width,
                height: args.height,
                seed: args.seed,
            },
            args.width,
            args.height,
            args.frames,
        ),
    };
    let gpu = u32::try_from(args.gpu)
        .map_err(|e| e.to_string())
        .and_then(Gpu::open);
    let nvml = match &gpu {
        Ok(_) => "ok".to_string(),
        Err(e) => e.clone(),
    };
    let gpu_ref = gpu.as_ref().map_err(String::as_str);
    let coverage = match &plates {
        // Measured on a small copy: the shape scales with the plate, generation is not timed.
        PlateSource::Synthetic { seed, .. } => {
            let h = height.min(540);
            let w = (width * h / height).max(1);
            Some(plates::synthetic(w, h, 0, *seed).coverage)
        }
        PlateSource::Exr(_) => None,
    };
    let mut report = Report {
        tool: "ck-bench".into(),
        date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        gpu: gpu.as_ref().ok().map(|g| g.info.clone()),
        nvml,
        ort_version: report::ort_version_from_path(&args.ort_lib)
            .unwrap_or_else(|| "unknown".into()),
        ort_library: args.ort_lib.display().to_string(),
        settings: Settings {
            plates: match &plates {
                PlateSource::Exr(_) => format!("{} of {width}x{height}", plates.describe()),
                PlateSource::Synthetic { .. } => plates.describe(),
            },
            plate_coverage: coverage,
            width,
            height,
            frames,
            size: args.size,
            tile: args::tile_label(args.tile).into(),
            overlap: args.overlap,
            batch: args.batch,
            refiner: args.refiner,
            sparse_skip: args.skip,
            device: args::device_label(args.device).into(),
            gpu_mem_limit_mib: args.gpu_mem,
            gpu_index: args.gpu,
            seed: args.seed,
            model_dir: args.model_dir.display().to_string(),
            cuda_options: corridorkey::ofx::config::Config::from_process()
                .env
                .tuning
                .cuda_options,
        },
        ..Default::default()
    };
    let run_args = Args {
        width,
        height,
        ..args.clone()
    };
    report.modes = match args.mode {
        Mode::Engine => vec![engine_mode::run(&run_args, &plates, frames, gpu_ref)],
        Mode::Host => vec![host_mode::run(&run_args, &plates, frames, gpu_ref)],
        // One child per mode: a fresh process each, so neither sees the other's CUDA context,
        // arena or ONNX Runtime copy, and each device baseline is clean.
        Mode::All => [Mode::Engine, Mode::Host]
            .iter()
            .map(|&m| run_child(argv, m))
            .collect(),
    };
    // The PyTorch reference after ours, with our sessions gone (a child process of its own).
    report.reference = torch_mode::run_all(args, root, frames, gpu_ref);
    Ok(report)
}

/// The command line for one child of `--mode all`: the same flags, one mode, no torch, JSON to
/// `json`.
pub fn child_argv(argv: &[String], mode: Mode, json: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--mode" | "--torch" | "--json" | "--md" => {
                it.next();
            }
            _ => out.push(a.clone()),
        }
    }
    out.extend([
        "--mode".into(),
        mode.label().into(),
        "--json".into(),
        json.display().to_string(),
        "--md".into(),
        "/dev/null".into(),
    ]);
    out
}

fn run_child(argv: &[String], mode: Mode) -> ModeResult {
    let fail = |e: String| ModeResult {
        error: Some(e),
        ..ModeResult::new(mode.label())
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(format!("cannot find ck-bench itself: {e}")),
    };
    let json = std::env::temp_dir().join(format!(
        "ck-bench-{}-{}.json",
        std::process::id(),
        mode.label()
    ));
    let status = Command::new(exe)
        .args(child_argv(argv, mode, &json))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status();
    let text = std::fs::read_to_string(&json);
    let _ = std::fs::remove_file(&json);
    let parsed = text
        .map_err(|e| format!("{}: {e}", json.display()))
        .and_then(|t| serde_json::from_str::<Report>(&t).map_err(|e| e.to_string()));
    match (parsed, status) {
        (Ok(mut r), _) if !r.modes.is_empty() => r.modes.remove(0),
        (Ok(_), _) => fail("the child reported no mode".into()),
        (Err(e), Ok(s)) => fail(format!("child exited with {s}; no report ({e})")),
        (Err(e), Err(se)) => fail(format!("child did not start: {se} ({e})")),
    }
}

fn write_to(path: &Option<PathBuf>, text: &str) -> Result<(), String> {
    match path {
        Some(p) => std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display())),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

fn write_outputs(args: &Args, report: &Report) -> Result<(), String> {
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    write_to(&args.json, &json)?;
    write_to(&args.md, &report.markdown())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_get_one_mode_and_no_torch_or_outputs() {
        let argv: Vec<String> = [
            "--mode",
            "all",
            "--frames",
            "3",
            "--torch",
            "eager-fp16",
            "--json",
            "a.json",
            "--md",
            "a.md",
            "--no-skip",
        ]
        .map(String::from)
        .to_vec();
        let c = child_argv(&argv, Mode::Host, Path::new("/tmp/x.json"));
        assert_eq!(
            c,
            [
                "--frames",
                "3",
                "--no-skip",
                "--mode",
                "host",
                "--json",
                "/tmp/x.json",
                "--md",
                "/dev/null"
            ]
        );
    }
}
