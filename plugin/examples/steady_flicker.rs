//! Steady mattes on a synthetic moving plate with per-frame sensor noise (the plate of
//! `plugin/tests/engine_steady.rs`): the mean frame-to-frame alpha change over pixels static in
//! truth, and the mean absolute error against truth on the moving part, with steady mattes off and
//! on. Numbers for docs/quality/steady-mattes.md:
//!
//! ```text
//! cargo run --release -p corridorkey --example steady_flicker -- [MODEL_DIR] [WxH] [FRAMES] [NOISE]
//! ```
//!
//! MODEL_DIR defaults to bundle/models (the shipped model; S = 1024), the ONNX Runtime library is
//! `$CORRIDORKEY_ORT_LIB`, and the network runs on the CPU provider.

#[path = "../tests/steady_common/mod.rs"]
mod steady_common;

use std::path::PathBuf;
use std::time::Instant;

use corridorkey::engine::{Device, Engine, KeyParams, RuntimeConfig, SteadyParams};
use steady_common::{flicker_and_sad, key_alpha, moving_part, plate};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let model_dir = args.first().map_or(root.join("bundle/models"), PathBuf::from);
    let (w, h) = match args.get(1).and_then(|s| s.split_once('x')) {
        Some((a, b)) => (a.parse().map_err(|_| "bad W")?, b.parse().map_err(|_| "bad H")?),
        None => (256, 192),
    };
    let frames: usize = args.get(2).map_or(Ok(6), |s| s.parse()).map_err(|_| "bad FRAMES")?;
    let noise: f32 = args.get(3).map_or(Ok(0.01), |s| s.parse()).map_err(|_| "bad NOISE")?;
    let ort_library = std::env::var_os("CORRIDORKEY_ORT_LIB")
        .map(PathBuf::from)
        .ok_or("set CORRIDORKEY_ORT_LIB to the CPU ONNX Runtime library")?;
    let rt = RuntimeConfig {
        model_dir,
        ort_library,
        device: Device::Cpu,
        gpu_mem_limit_mb: 0,
        gpu_index: 0,
        engine_cache_dir: None,
    };
    let params = KeyParams {
        inference_size: 1024,
        ..Default::default()
    };
    let (plates, truths): (Vec<_>, Vec<_>) = (0..frames).map(|t| plate(w, h, t, noise)).unzip();
    let moving = moving_part(w, h, frames);
    let engine = Engine::new();
    let on = SteadyParams {
        strength: 1.0,
        tolerance: SteadyParams::OFF.tolerance,
    };
    let t0 = Instant::now();
    let mut results = Vec::new();
    for (name, s) in [("on", on), ("off", SteadyParams::OFF)] {
        let alphas: Vec<Vec<f32>> = (0..frames)
            .map(|t| key_alpha(&engine, &plates, t, &params, s, &rt))
            .collect();
        let (flicker, sad) = flicker_and_sad(&alphas, &truths, &moving);
        println!("steady {name:>3}: static flicker {flicker:.6}, moving-part SAD/px {sad:.6}");
        results.push((flicker, sad));
    }
    let ((f1, s1), (f0, s0)) = (results[0], results[1]);
    println!(
        "{w}x{h}, {frames} frames, noise {noise}, S=1024 CPU ({:.0} s): flicker x{:.3} \
         (must be <= 0.5), moving-part SAD x{:.4} (must be <= 1.02)",
        t0.elapsed().as_secs_f64(),
        f1 / f0.max(1e-12),
        s1 / s0.max(1e-12)
    );
    Ok(())
}
