//! Command line of ck-bench. Every flag of the old `plugin/src/bin/ck-bench.rs` keeps its meaning
//! (bench/gpu-h100.sh drives them); the rest select modes, input, bundle and the PyTorch reference.

use std::path::{Path, PathBuf};

use corridorkey::engine::{Device, TileSize};

pub const USAGE: &str = "\
ck-bench: keys N synthetic green-screen plates (or an EXR sequence) through the engine and/or the
bundle (via the test host) and reports per-frame and per-stage times, device memory (NVML), ORT
arena statistics and the PyTorch reference, as JSON and markdown.

ck-bench [--mode engine|host|all] [--model-dir DIR] [--ort-lib PATH] [--device auto|cuda|tensorrt|cpu]
         [--frames N] [--size S] [--width W] [--height H] [--input DIR] [--seed N]
         [--tile 512|1024|full] [--overlap PX] [--batch B (0: from the GPU budget)] [--no-refiner] [--no-skip] [--cpu-path]
         [--simulate-trained] [--cuda-images]
         [--gpu-mem MB] [--gpu N] [--bundle PATH]
         [--torch eager-fp16,compile-fp16,eager-autocast] [--python PATH] [--torch-device cuda|cpu]
         [--torch-timeout SECONDS] [--json PATH] [--md PATH]
         [--breakdown] [--bw-device GBS] [--bw-link GBS] [--bw-host GBS]

--breakdown: the engine's steps inside each stage (median time, bytes moved, floor at the given
bandwidths: device memory, the host link, CPU memory; defaults 3000, 25, 20 GB/s) as a markdown
table, printed with the summary and added to the markdown; with --mode all, beside the render
action.

--simulate-trained: a trained model's sparse skip, simulated (random weights never give uniform
alpha): the plate's true matte is the AlphaHint clip and, after the coarse graph runs, its alpha is
replaced by that hint averaged to S/4, so tiles on clean screen and solid foreground are skipped.
Synthetic plates only; the report says it is a simulation.

--cuda-images (host mode): the test host hands the plugin CUDA device images and its stream, as
DaVinci Resolve does (OFX CUDA render); the frame time is the render action and its work on the
stream, the host's own uploads and downloads are reported beside it.

Without --json/--md the JSON and markdown go to stdout; a short summary goes to stderr.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Engine,
    Host,
    All,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Engine => "engine",
            Mode::Host => "host",
            Mode::All => "all",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    pub mode: Mode,
    pub model_dir: PathBuf,
    pub ort_lib: PathBuf,
    pub device: Device,
    pub frames: usize,
    /// Whether --frames was given (an --input folder otherwise runs all its files).
    pub frames_given: bool,
    pub size: usize,
    pub width: usize,
    pub height: usize,
    pub input: Option<PathBuf>,
    pub seed: u64,
    pub tile: TileSize,
    pub overlap: usize,
    pub batch: usize,
    pub refiner: bool,
    pub skip: bool,
    /// Force the engine's CPU path (CPU pre/post, refine through host memory) on a GPU.
    pub cpu_path: bool,
    /// Simulate a trained model's coarse alpha with the plate's true matte (see USAGE).
    pub simulate_trained: bool,
    pub gpu_mem: usize,
    pub gpu: i32,
    pub bundle: PathBuf,
    /// Host mode: hand the plugin CUDA images (OFX CUDA render) instead of CPU images.
    pub cuda_images: bool,
    /// Print the per-step breakdown (and the bandwidths its floors use).
    pub breakdown: Option<crate::breakdown::Bandwidths>,
    pub torch: Vec<String>,
    pub python: PathBuf,
    pub torch_device: String,
    pub torch_timeout_s: u64,
    pub json: Option<PathBuf>,
    pub md: Option<PathBuf>,
}

/// The repository root: the working directory when it is a checkout (the binary is also run from a
/// copy of the tree on the GPU machine), else where this crate was built from.
pub fn repo_root() -> PathBuf {
    if let Ok(cwd) = std::env::current_dir() {
        if cwd.join("bench/torch_reference.py").is_file() {
            return cwd;
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Defaults: environment variables as the Makefile exports them, else paths in the repository.
pub fn defaults(env: &dyn Fn(&str) -> Option<String>, root: &Path) -> Args {
    let path_or = |var: &str, fallback: PathBuf| env(var).map(PathBuf::from).unwrap_or(fallback);
    let bundle = path_or(
        "CORRIDORKEY_BUNDLE",
        root.join("build/CorridorKey.ofx.bundle"),
    );
    Args {
        mode: Mode::Engine,
        model_dir: path_or(
            "CORRIDORKEY_MODEL_DIR",
            bundle.join("Contents/Resources/models"),
        ),
        ort_lib: path_or(
            "CORRIDORKEY_ORT_LIB",
            root.join(".cache/ort-cpu-1.31.1/libonnxruntime.so.1.31.1"),
        ),
        device: Device::Auto,
        frames: 10,
        frames_given: false,
        size: 2048,
        width: 4096,
        height: 2160,
        input: None,
        seed: 0,
        tile: TileSize::T512,
        overlap: 128,
        batch: 0,
        refiner: true,
        skip: true,
        cpu_path: false,
        simulate_trained: false,
        gpu_mem: 6144,
        gpu: 0,
        bundle,
        cuda_images: false,
        breakdown: None,
        torch: Vec::new(),
        python: PathBuf::from("python3"),
        torch_device: "cuda".into(),
        torch_timeout_s: 900,
        json: None,
        md: None,
    }
}

pub const TORCH_MODES: &[&str] = &["eager-autocast", "eager-fp16", "compile-fp16"];

/// Parses the flags after the program name. Err(message) for a bad command line; Ok(None) for --help.
pub fn parse(argv: &[String], defaults: Args) -> Result<Option<Args>, String> {
    let mut a = defaults;
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let num = |v: String| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        let gbs = |v: String| match v.parse::<f64>() {
            Ok(g) if g > 0.0 && g.is_finite() => Ok(g),
            _ => Err(format!("{flag} {v}: a bandwidth in GB/s above 0")),
        };
        match flag.as_str() {
            "--mode" => {
                a.mode = match val()?.as_str() {
                    "engine" => Mode::Engine,
                    "host" => Mode::Host,
                    "all" => Mode::All,
                    m => return Err(format!("unknown mode {m} (engine, host or all)")),
                }
            }
            "--model-dir" => a.model_dir = val()?.into(),
            "--ort-lib" => a.ort_lib = val()?.into(),
            "--device" => {
                a.device = match val()?.to_ascii_lowercase().as_str() {
                    "auto" => Device::Auto,
                    "cuda" => Device::Cuda,
                    "tensorrt" | "trt" => Device::TensorRt,
                    "cpu" => Device::Cpu,
                    d => return Err(format!("unknown device {d}")),
                }
            }
            "--frames" => {
                a.frames = num(val()?)?.max(1);
                a.frames_given = true;
            }
            "--size" => a.size = num(val()?)?,
            "--width" => a.width = num(val()?)?,
            "--height" => a.height = num(val()?)?,
            "--input" => a.input = Some(val()?.into()),
            "--seed" => a.seed = num(val()?)? as u64,
            "--tile" => {
                a.tile = match val()?.as_str() {
                    "512" => TileSize::T512,
                    "1024" => TileSize::T1024,
                    "full" => TileSize::FullFrame,
                    t => return Err(format!("unknown tile {t} (512, 1024 or full)")),
                }
            }
            "--overlap" => a.overlap = num(val()?)?,
            "--batch" => a.batch = num(val()?)?,
            "--no-refiner" => a.refiner = false,
            "--no-skip" => a.skip = false,
            // --host-path: the earlier spelling.
            "--cpu-path" | "--host-path" => a.cpu_path = true,
            "--simulate-trained" => a.simulate_trained = true,
            "--gpu-mem" => a.gpu_mem = num(val()?)?,
            "--gpu" => a.gpu = i32::try_from(num(val()?)?).map_err(|e| format!("--gpu: {e}"))?,
            "--bundle" => a.bundle = val()?.into(),
            "--cuda-images" => a.cuda_images = true,
            "--breakdown" => {
                a.breakdown.get_or_insert_with(Default::default);
            }
            "--bw-device" => {
                a.breakdown.get_or_insert_with(Default::default).device_gbs = gbs(val()?)?
            }
            "--bw-link" => a.breakdown.get_or_insert_with(Default::default).link_gbs = gbs(val()?)?,
            "--bw-host" => a.breakdown.get_or_insert_with(Default::default).host_gbs = gbs(val()?)?,
            "--torch" => {
                a.torch = val()?
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect();
                if let Some(bad) = a.torch.iter().find(|m| !TORCH_MODES.contains(&m.as_str())) {
                    return Err(format!(
                        "unknown torch mode {bad} (one of {})",
                        TORCH_MODES.join(", ")
                    ));
                }
            }
            "--python" => a.python = val()?.into(),
            "--torch-device" => a.torch_device = val()?,
            "--torch-timeout" => a.torch_timeout_s = num(val()?)? as u64,
            "--json" => a.json = Some(val()?.into()),
            "--md" => a.md = Some(val()?.into()),
            "-h" | "--help" => return Ok(None),
            f => return Err(format!("unknown argument {f}")),
        }
    }
    if a.width == 0 || a.height == 0 || a.size == 0 {
        return Err("--width, --height and --size must be positive".into());
    }
    // Absolute paths: the engine wants them, and the report should say exactly what ran.
    a.model_dir = std::fs::canonicalize(&a.model_dir).unwrap_or(a.model_dir);
    a.ort_lib = std::fs::canonicalize(&a.ort_lib).unwrap_or(a.ort_lib);
    a.bundle = std::fs::canonicalize(&a.bundle).unwrap_or(a.bundle);
    Ok(Some(a))
}

pub fn tile_label(t: TileSize) -> &'static str {
    match t {
        TileSize::T512 => "512",
        TileSize::T1024 => "1024",
        TileSize::FullFrame => "full",
    }
}

pub fn device_label(d: Device) -> &'static str {
    match d {
        Device::Auto => "auto",
        Device::Cuda => "cuda",
        Device::TensorRt => "tensorrt",
        Device::Cpu => "cpu",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Option<Args>, String> {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&argv, defaults(&|_| None, Path::new("/repo")))
    }

    #[test]
    fn defaults_match_the_issue_setting() {
        let a = run(&[]).unwrap().unwrap();
        assert_eq!(a.mode, Mode::Engine);
        assert_eq!(
            (a.width, a.height, a.size, a.frames),
            (4096, 2160, 2048, 10)
        );
        assert_eq!((a.tile, a.overlap, a.batch), (TileSize::T512, 128, 0));
        assert!(a.refiner && a.skip && a.torch.is_empty());
        assert_eq!(
            a.model_dir,
            PathBuf::from("/repo/build/CorridorKey.ofx.bundle/Contents/Resources/models")
        );
    }

    #[test]
    fn environment_sets_paths() {
        let env = |k: &str| match k {
            "CORRIDORKEY_BUNDLE" => Some("/b/K.ofx.bundle".to_string()),
            "CORRIDORKEY_ORT_LIB" => Some("/o/libonnxruntime.so.1.31.1".to_string()),
            _ => None,
        };
        let a = parse(&[], defaults(&env, Path::new("/repo")))
            .unwrap()
            .unwrap();
        assert_eq!(a.bundle, PathBuf::from("/b/K.ofx.bundle"));
        assert_eq!(
            a.model_dir,
            PathBuf::from("/b/K.ofx.bundle/Contents/Resources/models")
        );
        assert_eq!(a.ort_lib, PathBuf::from("/o/libonnxruntime.so.1.31.1"));
    }

    #[test]
    fn the_gpu_script_command_line_parses() {
        let a = run(&[
            "--model-dir",
            "/m",
            "--ort-lib",
            "/l.so",
            "--device",
            "cuda",
            "--frames",
            "20",
            "--size",
            "1536",
            "--tile",
            "full",
            "--batch",
            "8",
            "--no-skip",
            "--json",
            "o.json",
            "--md",
            "o.md",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.device, Device::Cuda);
        assert_eq!((a.frames, a.size, a.batch), (20, 1536, 8));
        assert!(a.frames_given);
        assert_eq!(a.tile, TileSize::FullFrame);
        assert!(!a.skip && a.refiner);
        assert_eq!(a.json, Some(PathBuf::from("o.json")));
        assert_eq!(a.md, Some(PathBuf::from("o.md")));
    }

    #[test]
    fn modes_torch_and_errors() {
        let a = run(&[
            "--mode",
            "all",
            "--torch",
            "eager-fp16, compile-fp16",
            "--no-refiner",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.mode, Mode::All);
        assert_eq!(a.torch, ["eager-fp16", "compile-fp16"]);
        assert!(!a.refiner && !a.cuda_images);
        assert!(
            run(&["--mode", "host", "--cuda-images"])
                .unwrap()
                .unwrap()
                .cuda_images
        );
        assert!(run(&["--help"]).unwrap().is_none());
        assert!(run(&["--torch", "jit"]).unwrap_err().contains("jit"));
        assert!(run(&["--tile", "256"]).is_err());
        assert!(run(&["--frames"]).unwrap_err().contains("needs a value"));
        assert!(run(&["--size", "x"]).is_err());
        assert!(run(&["--bogus"]).unwrap_err().contains("--bogus"));
        assert_eq!(run(&["--frames", "0"]).unwrap().unwrap().frames, 1);
    }
}
