//! ck-bench: keys N synthetic 4096x2160 green-screen plates through the engine and reports
//! per-stage times (prepare, coarse, refine, finish), tiles run/skipped, median/p99/min and the
//! cold first frame, as JSON and markdown.
//!
//! ck-bench [--model-dir DIR] [--ort-lib PATH] [--device auto|cuda|tensorrt|cpu] [--frames N]
//!          [--size S] [--width W] [--height H] [--tile 512|1024|full] [--overlap PX] [--batch B]
//!          [--no-refiner] [--no-skip] [--host-refine] [--gpu-mem MB] [--gpu N] [--json PATH] [--md PATH]

use std::path::PathBuf;
use std::time::Instant;

use corridorkey::engine::{
    Device, Engine, FrameInput, HintSource, KeyParams, OutputMode, RefinerParams, RenderOptions,
    RgbaImage, RuntimeConfig, TileSize,
};
use rayon::prelude::*;

struct Args {
    model_dir: PathBuf,
    ort_lib: PathBuf,
    device: Device,
    frames: usize,
    size: usize,
    width: usize,
    height: usize,
    tile: TileSize,
    overlap: usize,
    batch: usize,
    refiner: bool,
    skip: bool,
    host_refine: bool,
    gpu_mem: usize,
    gpu: i32,
    json: Option<PathBuf>,
    md: Option<PathBuf>,
}

fn parse() -> Result<Args, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut a = Args {
        model_dir: std::env::var_os("CORRIDORKEY_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("build/CorridorKey.ofx.bundle/Contents/Resources/models")),
        ort_lib: std::env::var_os("CORRIDORKEY_ORT_LIB")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".cache/ort-cpu-1.31.1/libonnxruntime.so.1.31.1")),
        device: Device::Auto,
        frames: 10,
        size: 2048,
        width: 4096,
        height: 2160,
        tile: TileSize::T512,
        overlap: 128,
        batch: 4,
        refiner: true,
        skip: true,
        host_refine: false,
        gpu_mem: 6144,
        gpu: 0,
        json: None,
        md: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match flag.as_str() {
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
            "--frames" => a.frames = num(val()?)?.max(1),
            "--size" => a.size = num(val()?)?,
            "--width" => a.width = num(val()?)?,
            "--height" => a.height = num(val()?)?,
            "--tile" => {
                a.tile = match val()?.as_str() {
                    "512" => TileSize::T512,
                    "1024" => TileSize::T1024,
                    "full" => TileSize::FullFrame,
                    t => return Err(format!("unknown tile {t}")),
                }
            }
            "--overlap" => a.overlap = num(val()?)?,
            "--batch" => a.batch = num(val()?)?.max(1),
            "--no-refiner" => a.refiner = false,
            "--no-skip" => a.skip = false,
            "--host-refine" => a.host_refine = true,
            "--gpu-mem" => a.gpu_mem = num(val()?)?,
            "--gpu" => a.gpu = num(val()?)? as i32,
            "--json" => a.json = Some(val()?.into()),
            "--md" => a.md = Some(val()?.into()),
            "-h" | "--help" => {
                println!(
                    "{}",
                    include_str!("ck-bench.rs")
                        .lines()
                        .take(8)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                std::process::exit(0);
            }
            f => return Err(format!("unknown argument {f}")),
        }
    }
    a.model_dir = std::fs::canonicalize(&a.model_dir).unwrap_or(a.model_dir);
    a.ort_lib = std::fs::canonicalize(&a.ort_lib).unwrap_or(a.ort_lib);
    Ok(a)
}

/// A linear green-screen plate with a subject (torso, head, noisy "hair" edge) covering about a
/// third of the frame, shifted a little per frame.
fn plate(w: usize, h: usize, frame: usize) -> RgbaImage {
    let mut img = RgbaImage::new(w, h);
    let cx = w as f32 * 0.5 + frame as f32 * 7.0;
    let (fw, fh) = (w as f32, h as f32);
    img.data
        .par_chunks_mut(w * 4)
        .enumerate()
        .for_each(|(y, row)| {
            let yf = y as f32;
            for (x, px) in row.chunks_exact_mut(4).enumerate() {
                let xf = x as f32;
                // uneven screen lighting
                let light = 0.85 + 0.15 * ((xf / fw) * 3.0).sin() * ((yf / fh) * 2.0).cos();
                let mut c = [0.03 * light, 0.42 * light, 0.05 * light];
                let torso =
                    ((xf - cx) / (0.17 * fw)).powi(2) + ((yf - 0.85 * fh) / (0.45 * fh)).powi(2);
                let head =
                    ((xf - cx) / (0.07 * fw)).powi(2) + ((yf - 0.3 * fh) / (0.14 * fh)).powi(2);
                let hash = ((x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 1000)
                    as f32
                    / 1000.0;
                let hair = 1.0 + 0.25 * hash;
                let inside = torso < 1.0 || head < hair;
                if inside {
                    let skin = head < 1.0;
                    c = if skin {
                        [0.55, 0.32, 0.24]
                    } else {
                        [0.12, 0.1, 0.35 + 0.1 * hash]
                    };
                    if head >= 1.0 && torso >= 1.0 {
                        // hair strands: partly transparent mix with the screen
                        let m = 0.5;
                        c = [0.08 * m + c[0] * (1.0 - m), 0.2, 0.05];
                    }
                }
                px.copy_from_slice(&[c[0], c[1], c[2], 1.0]);
            }
        });
    img
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    percentile(&s, 50.0)
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ck-bench: {e}");
            std::process::exit(2);
        }
    };
    let rt = RuntimeConfig {
        model_dir: args.model_dir.clone(),
        ort_library: args.ort_lib.clone(),
        device: args.device,
        gpu_mem_limit_mb: args.gpu_mem,
        gpu_index: args.gpu,
        engine_cache_dir: std::env::var_os("CORRIDORKEY_ENGINE_CACHE").map(PathBuf::from),
    };
    let params = KeyParams {
        hint_source: HintSource::ChromaKey,
        inference_size: args.size,
        refiner: RefinerParams {
            enabled: args.refiner,
            tile: args.tile,
            overlap: args.overlap,
            sparse_skip: args.skip,
            ..Default::default()
        },
        output: OutputMode::Premultiplied,
        ..Default::default()
    };
    let options = RenderOptions {
        refiner_batch: args.batch,
        device_path: args.host_refine.then_some(false),
        use_cache: false,
        ..Default::default()
    };
    let engine = Engine::new();
    eprintln!(
        "ck-bench: generating {} plates of {}x{}",
        args.frames, args.width, args.height
    );
    let plates: Vec<RgbaImage> = (0..args.frames.min(3))
        .map(|i| plate(args.width, args.height, i))
        .collect();

    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    for i in 0..args.frames {
        let src = &plates[i % plates.len()];
        let input = FrameInput {
            source: src,
            hint: None,
            garbage: None,
            core: None,
        };
        let t = Instant::now();
        let out = match engine.render_with(&input, &params, &rt, &options, &|| false) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("ck-bench: frame {i}: {e}");
                std::process::exit(1);
            }
        };
        let total = t.elapsed().as_secs_f64() * 1000.0;
        let s = &out.stats;
        eprintln!(
            "frame {i}: {total:.1} ms (prepare {:.1}, coarse {:.1}, refine {:.1}, finish {:.1}; tiles {} run / {} skipped)",
            s.prepare_ms, s.coarse_ms, s.refine_ms, s.finish_ms, s.tiles_run, s.tiles_skipped
        );
        if i == 0 {
            warnings = out.warnings.clone();
        }
        rows.push((total, s.clone()));
    }
    let info = engine.describe(&rt, args.size);
    let cold = rows[0].0;
    let warm: Vec<&(f64, _)> = if rows.len() > 1 {
        rows[1..].iter().collect()
    } else {
        rows.iter().collect()
    };
    let mut totals: Vec<f64> = warm.iter().map(|r| r.0).collect();
    totals.sort_by(|a, b| a.total_cmp(b));
    let stage = |f: fn(&corridorkey::engine::FrameStats) -> f64| {
        median(&warm.iter().map(|r| f(&r.1)).collect::<Vec<_>>())
    };
    let (prep, coarse, refine, finish) = (
        stage(|s| s.prepare_ms),
        stage(|s| s.coarse_ms),
        stage(|s| s.refine_ms),
        stage(|s| s.finish_ms),
    );
    let (med, p99, min) = (
        percentile(&totals, 50.0),
        percentile(&totals, 99.0),
        totals[0],
    );
    let last = &rows.last().unwrap().1;
    let json = serde_json::json!({
        "engine": info,
        "plate": [args.width, args.height],
        "size": args.size,
        "device": format!("{:?}", args.device),
        "tile": format!("{:?}", args.tile),
        "overlap": args.overlap,
        "batch": args.batch,
        "refiner": args.refiner,
        "sparse_skip": args.skip,
        "host_refine": args.host_refine,
        "frames": args.frames,
        "cold_first_frame_ms": cold,
        "median_ms": med,
        "p99_ms": p99,
        "min_ms": min,
        "stage_median_ms": {"prepare": prep, "coarse": coarse, "refine": refine, "finish": finish},
        "tiles_run": last.tiles_run,
        "tiles_skipped": last.tiles_skipped,
        "warnings": warnings,
        "per_frame_ms": rows.iter().map(|r| r.0).collect::<Vec<_>>(),
    });
    let md = format!(
        "| engine | plate | S | tile | frames | cold first | median | p99 | min | prepare | coarse | refine | finish | tiles run/skipped |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n\
         | {info} | {}x{} | {} | {:?} | {} | {cold:.0} ms | {med:.0} ms | {p99:.0} ms | {min:.0} ms | {prep:.0} | {coarse:.0} | {refine:.0} | {finish:.0} | {}/{} |\n",
        args.width, args.height, args.size, args.tile, args.frames, last.tiles_run, last.tiles_skipped
    );
    let json_text = serde_json::to_string_pretty(&json).unwrap_or_default();
    match &args.json {
        Some(p) => std::fs::write(p, &json_text)
            .unwrap_or_else(|e| eprintln!("ck-bench: {}: {e}", p.display())),
        None => println!("{json_text}"),
    }
    match &args.md {
        Some(p) => {
            std::fs::write(p, &md).unwrap_or_else(|e| eprintln!("ck-bench: {}: {e}", p.display()))
        }
        None => println!("{md}"),
    }
}
