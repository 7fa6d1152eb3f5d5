//! `--mode engine`: the frames through `corridorkey::engine` in this process, with per-stage times
//! from `FrameOutput.stats`, NVML peaks per frame and the ORT arena statistics at the end.

use std::path::PathBuf;
use std::time::Instant;

use corridorkey::engine::{
    Engine, FrameInput, HintSource, KeyParams, OutputMode, PathChoice, RefinerParams,
    RenderOptions, RuntimeConfig,
};

use crate::args::Args;
use crate::gpu_memory::{Gpu, Sampler};
use crate::plates::PlateSource;
use crate::report::ModeResult;
use crate::stats::{summarise, FrameRow, Stages};

pub fn runtime(args: &Args) -> RuntimeConfig {
    // The plugin's switches (docs/CONFIG.md), read as the plugin reads them.
    let env = corridorkey::ofx::config::Config::from_process().env;
    RuntimeConfig {
        model_dir: args.model_dir.clone(),
        ort_library: args.ort_lib.clone(),
        device: args.device,
        gpu_mem_limit_mb: args.gpu_mem,
        gpu_index: args.gpu,
        engine_cache_dir: env.engine_cache.map(PathBuf::from),
        tuning: env.tuning,
    }
}

/// What every report of a `--simulate-trained` run says.
pub const SIMULATION_NOTE: &str = "SIMULATION of a trained model's sparse skip: the plate's true matte is the AlphaHint clip and replaces the coarse alpha after the coarse graph runs (random weights never give uniform alpha); tiles run/skipped follow that matte";

pub fn params(args: &Args) -> KeyParams {
    KeyParams {
        // The simulation hands the true matte over as the AlphaHint clip.
        hint_source: if args.simulate_trained {
            HintSource::Clip
        } else {
            HintSource::ChromaKey
        },
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
    }
}

pub fn run(
    args: &Args,
    plates: &PlateSource,
    frames: usize,
    gpu: Result<&Gpu, &str>,
) -> ModeResult {
    let rt = runtime(args);
    let params = params(args);
    let options = RenderOptions {
        refiner_batch: args.batch,
        use_cache: false,
        path: if args.cpu_path {
            PathChoice::Cpu
        } else {
            PathChoice::Auto
        },
        simulate_trained_coarse: args.simulate_trained,
        ..Default::default()
    };
    // The sampler starts before the engine exists: its baseline is the device without us.
    let sampler = Sampler::start(gpu, std::process::id());
    let engine = Engine::new();
    let mut result = ModeResult::new("engine");
    if args.simulate_trained {
        result.notes.push(SIMULATION_NOTE.into());
    }
    for i in 0..frames {
        let frame = if args.simulate_trained {
            plates.frame_and_matte(i).map(|(p, m)| (p, Some(m)))
        } else {
            plates.frame(i).map(|p| (p, None))
        };
        let (src, matte) = match frame {
            Ok(f) => f,
            Err(e) => {
                result.error = Some(format!("frame {i}: {e}"));
                break;
            }
        };
        let input = FrameInput {
            source: &src,
            hint: matte.as_ref(),
            garbage: None,
            core: None,
        };
        sampler.window_start();
        let t = Instant::now();
        let out = engine.render_with(&input, &params, &rt, &options, &|| false);
        let total_ms = t.elapsed().as_secs_f64() * 1000.0;
        let (device_peak_mib, process_peak_mib) = sampler.window_end();
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                result.error = Some(format!("frame {i}: {e}"));
                break;
            }
        };
        let s = &out.stats;
        eprintln!(
            "engine frame {i}: {total_ms:.1} ms (prepare {:.1}, coarse {:.1}, refine {:.1}, finish {:.1}; tiles {} run / {} skipped)",
            s.prepare_ms, s.coarse_ms, s.refine_ms, s.finish_ms, s.tiles_run, s.tiles_skipped
        );
        if i == 0 {
            result.warnings = out.warnings.clone();
            result.notes.extend(out.notes.iter().cloned());
        }
        result.frames.push(FrameRow {
            index: i,
            total_ms,
            stages: Some(Stages {
                prepare_ms: s.prepare_ms,
                coarse_ms: s.coarse_ms,
                refine_ms: s.refine_ms,
                finish_ms: s.finish_ms,
            }),
            tiles_run: Some(s.tiles_run),
            tiles_skipped: Some(s.tiles_skipped),
            device_peak_mib,
            process_peak_mib,
            render_action_ms: None,
        });
    }
    if !args.cpu_path && result.error.is_none() {
        if let Some(note) = path_check(&engine, plates, &params, &rt, &options) {
            eprintln!("{note}");
            result.notes.push(note);
        }
    }
    result.engine = engine.describe(&rt, args.size);
    for a in engine.arena_stats() {
        match a {
            Ok(a) => result.arena.push(a),
            Err(e) => result.arena_errors.push(e.to_string()),
        }
    }
    result.memory = sampler.finish();
    result.summary = summarise(&result.frames);
    result.ok = result.error.is_none() && !result.frames.is_empty();
    result
}

/// Frame 0 through the default (GPU, on a GPU) path and the CPU path: the largest difference
/// of the output pixels, so every GPU report says how far its numbers' pixels are from the CPU
/// path's.
fn path_check(
    engine: &Engine,
    plates: &PlateSource,
    params: &KeyParams,
    rt: &RuntimeConfig,
    options: &RenderOptions,
) -> Option<String> {
    let src = plates.frame(0).ok()?;
    let input = FrameInput {
        source: &src,
        hint: None,
        garbage: None,
        core: None,
    };
    let cpu = RenderOptions {
        path: PathChoice::Cpu,
        ..*options
    };
    let a = engine
        .render_with(&input, params, rt, options, &|| false)
        .ok()?;
    let b = engine
        .render_with(&input, params, rt, &cpu, &|| false)
        .ok()?;
    let (mut max_rgb, mut max_alpha) = (0.0f32, 0.0f32);
    for (p, q) in a.image.data.chunks(4).zip(b.image.data.chunks(4)) {
        for c in 0..3 {
            max_rgb = max_rgb.max((p[c] - q[c]).abs());
        }
        max_alpha = max_alpha.max((p[3] - q[3]).abs());
    }
    Some(format!(
        "path check, frame 0: default path vs CPU path, max abs difference alpha {max_alpha:.2e}, premultiplied RGB {max_rgb:.2e}"
    ))
}
