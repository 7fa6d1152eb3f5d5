//! The GPU path (weight-free kernel graphs, tensors kept on the provider) against the CPU path,
//! both on ONNX Runtime's CPU provider: same tiles, same skips, same pixels to float rounding.

mod engine_common;

use corridorkey::engine::abort::Abort;
use corridorkey::engine::gpu::GpuKernels;
use corridorkey::engine::inputs;
use corridorkey::engine::report::FrameReport;
use corridorkey::engine::runtime::environment::environment;
use corridorkey::engine::runtime::{model_set, Provider};
use corridorkey::engine::stages::coarse::cpu::run_coarse;
use corridorkey::engine::stages::refine::cpu::{refine, run_refiner, upsample_logits};
use corridorkey::engine::stages::refine::{RefineSettings, Refined};
use corridorkey::engine::stages::{coarse, prepare, refine as refine_stage};
use corridorkey::engine::{
    EdgeParams, Engine, FrameInput, FrameOutput, HintSource, InputColour, KeyParams, MatteImage,
    OutputMode, PathChoice, RenderOptions, RgbaImage, UpscaleFilter,
};
use engine_common::*;

const SET: &str = "uniform_s256";
const S: usize = 256;

fn settings() -> RefineSettings {
    RefineSettings {
        enabled: true,
        strength: 0.7,
        tile: 64,
        overlap: 16,
        sparse_skip: true,
        skip_low: 0.05,
        skip_high: 0.95,
        batch: 4,
    }
}

fn both(settings: &RefineSettings) -> (Refined, Refined) {
    let rt = runtime(fixtures().join(SET));
    let mut loaded = model_set::load(&rt, S).unwrap();
    assert_eq!(loaded.provider, Provider::Cpu);
    let input = vec_of(&npy(SET, "input"));

    let c = run_coarse(&mut loaded.coarse, &input, S).unwrap();
    let up = upsample_logits(&c, S).unwrap();
    let mut run =
        |b: &[f32], n: usize, t: usize| run_refiner(loaded.refiner.as_mut().unwrap(), b, n, t);
    let cpu = refine(&input, &up, S, settings, &mut run, &|| false).unwrap();

    let (env, _) = environment(&rt.ort_library).unwrap();
    let mut k = GpuKernels::new(&env, Provider::Cpu, &rt);
    let image = prepare::gpu::upload(&k, &input, S).unwrap();
    let dc = coarse::gpu::run_coarse(&mut loaded.coarse, k.place(), image).unwrap();
    let gpu =
        refine_stage::gpu::refine(loaded.refiner.as_mut(), &mut k, dc, S, settings, &|| false)
            .unwrap()
            .to_cpu(&mut k)
            .unwrap();
    (cpu, gpu)
}

fn assert_same(cpu: &Refined, gpu: &Refined, what: &str) {
    assert_eq!(cpu.tiles_run, gpu.tiles_run, "{what}: tiles run");
    assert_eq!(
        cpu.tiles_skipped, gpu.tiles_skipped,
        "{what}: tiles skipped"
    );
    let a = max_abs_diff(&cpu.alpha, &gpu.alpha);
    let f = max_abs_diff(&cpu.fg, &gpu.fg);
    // Only the sigmoid implementations differ (ORT's vs the engine's), by a few ulps; the refiner
    // sees inputs that differ by as much and its x10 output scale amplifies that a little.
    assert!(a < 2e-5 && f < 2e-5, "{what}: alpha {a:e}, fg {f:e}");
}

#[test]
fn tiled_with_sparse_skip_matches_the_cpu_path() {
    let (cpu, gpu) = both(&settings());
    assert!(!cpu.tiles_skipped.is_empty() && !cpu.tiles_run.is_empty());
    assert_same(&cpu, &gpu, "tiled, skip on");
}

#[test]
fn every_tile_padded_batches_and_oversized_batches_match() {
    for batch in [3, 4, 12] {
        let s = RefineSettings {
            sparse_skip: false,
            batch,
            ..settings()
        };
        let (cpu, gpu) = both(&s);
        assert_same(&cpu, &gpu, &format!("batch {batch}"));
    }
}

#[test]
fn full_frame_and_refiner_off_match() {
    let full = RefineSettings {
        tile: S,
        batch: 1,
        ..settings()
    };
    let (cpu, gpu) = both(&full);
    assert_eq!(gpu.tiles_run.len(), 1);
    assert_same(&cpu, &gpu, "full frame");
    let off = RefineSettings {
        enabled: false,
        ..settings()
    };
    let (cpu, gpu) = both(&off);
    assert!(gpu.tiles_run.is_empty());
    assert_same(&cpu, &gpu, "refiner off");
}

fn plate(w: usize, h: usize) -> RgbaImage {
    let mut src = RgbaImage::new(w, h);
    for (i, p) in src.data.chunks_mut(4).enumerate() {
        let (x, y) = (i % w, i / w);
        let r = (x as f32 - w as f32 / 2.0).hypot(y as f32 - h as f32 / 1.8);
        let subject = r < h as f32 / 3.0;
        let grain = ((i * 7919) % 97) as f32 / 970.0;
        p.copy_from_slice(&if subject {
            [0.5 + grain, 0.3, 0.25 - grain, 1.0]
        } else {
            [0.03, 0.4 + grain, 0.05, 1.0]
        });
    }
    src
}

#[test]
fn gpu_prepare_matches_the_cpu_prepare() {
    let rt = runtime(fixtures().join(SET));
    let (env, _) = environment(&rt.ort_library).unwrap();
    let mut k = GpuKernels::new(&env, Provider::Cpu, &rt);
    let src = plate(301, 170);
    let hint: Vec<f32> = (0..301 * 170)
        .map(|i| ((i * 31) % 101) as f32 / 100.0)
        .collect();
    let matte = MatteImage {
        width: 301,
        height: 170,
        data: hint.clone(),
    };
    for colour in [InputColour::Linear, InputColour::Srgb] {
        let params = KeyParams {
            hint_source: HintSource::Clip,
            input_colour: colour,
            ..Default::default()
        };
        let input = FrameInput {
            source: &src,
            hint: Some(&matte),
            garbage: None,
            core: None,
        };
        let frame =
            inputs::clean(&input, &params, &mut FrameReport::default(), Abort::never()).unwrap();
        let want = prepare::cpu::prepare_input(&src, &hint, colour, 128, Abort::never()).unwrap();
        let got = prepare::gpu::prepare(&mut k, &frame, &params, 128).unwrap();
        let (shape, data) = got.try_extract_tensor::<f32>().unwrap();
        assert_eq!(&shape[..], &[1, 4, 128, 128]);
        let d = max_abs_diff(&want, data);
        assert!(d < 1e-4, "{colour:?}: {d:e}");
    }
}

/// Params, (garbage, core) mattes and upscale filter of one comparison.
type Case<'a> = (
    KeyParams,
    (Option<&'a MatteImage>, Option<&'a MatteImage>),
    UpscaleFilter,
);

fn render(
    params: &KeyParams,
    gpu_path: bool,
    mattes: (Option<&MatteImage>, Option<&MatteImage>),
    upscale: UpscaleFilter,
) -> FrameOutput {
    let src = plate(320, 180);
    let input = FrameInput {
        source: &src,
        hint: None,
        garbage: mattes.0,
        core: mattes.1,
    };
    let rt = runtime(fixtures().join(SET));
    let opts = RenderOptions {
        use_cache: false,
        path: if gpu_path {
            PathChoice::Gpu
        } else {
            PathChoice::Cpu
        },
        upscale,
        ..Default::default()
    };
    Engine::new()
        .render_with(&input, params, &rt, &opts, &|| false)
        .unwrap()
}

#[test]
fn engine_renders_every_mode_the_same_on_either_path() {
    let base = KeyParams {
        inference_size: S,
        hint_source: HintSource::ChromaKey,
        ..Default::default()
    };
    let (w, h) = (320, 180);
    let garbage = MatteImage {
        width: w,
        height: h,
        data: (0..w * h)
            .map(|i| if i % w < 40 { 1.0 } else { 0.0 })
            .collect(),
    };
    let core = MatteImage {
        width: w,
        height: h,
        data: (0..w * h)
            .map(|i| if (i % w).abs_diff(160) < 10 { 0.8 } else { 0.0 })
            .collect(),
    };
    let cases: Vec<Case<'_>> = vec![
        (base.clone(), (None, None), UpscaleFilter::Lanczos3),
        (
            KeyParams {
                output: OutputMode::Unpremultiplied,
                clip_black: 0.1,
                clip_white: 0.9,
                despill: 0.5,
                ..base.clone()
            },
            (None, None),
            UpscaleFilter::Bilinear,
        ),
        (
            KeyParams {
                output: OutputMode::Matte,
                ..base.clone()
            },
            (Some(&garbage), Some(&core)),
            UpscaleFilter::Lanczos3,
        ),
        (
            KeyParams {
                output: OutputMode::Composite,
                input_colour: InputColour::Srgb,
                ..base.clone()
            },
            (None, Some(&core)),
            UpscaleFilter::Lanczos3,
        ),
        (
            KeyParams {
                output: OutputMode::Status,
                ..base.clone()
            },
            (Some(&garbage), None),
            UpscaleFilter::Lanczos3,
        ),
        (
            KeyParams {
                despeckle_px: 50,
                ..base.clone()
            },
            (None, None),
            UpscaleFilter::Lanczos3,
        ),
        // The edge controls (issue 22) on both paths, with the mattes applied after them.
        (
            KeyParams {
                edges: EdgeParams {
                    shrink_grow_px: -2.0,
                    softness_px: 3.0,
                    gamma: 1.6,
                },
                ..base.clone()
            },
            (Some(&garbage), Some(&core)),
            UpscaleFilter::Lanczos3,
        ),
    ];
    for (i, (params, mattes, upscale)) in cases.iter().enumerate() {
        let cpu = render(params, false, *mattes, *upscale);
        let gpu = render(params, true, *mattes, *upscale);
        assert_eq!(cpu.premultiplied, gpu.premultiplied);
        assert_eq!(cpu.stats.tiles_run, gpu.stats.tiles_run, "case {i}");
        assert!(gpu.stats.tiles_run > 0, "case {i}");
        let d = max_abs_diff(&cpu.image.data, &gpu.image.data);
        assert!(
            d < 2e-4,
            "case {i} ({:?}): frames differ by {d:e}",
            params.output
        );
    }
}

#[test]
fn the_gpu_path_reuses_its_staging_across_sizes_and_reports_its_steps() {
    let params = KeyParams {
        inference_size: S,
        hint_source: HintSource::ChromaKey,
        ..Default::default()
    };
    let rt = runtime(fixtures().join(SET));
    let opts = |path| RenderOptions {
        use_cache: false,
        path,
        ..Default::default()
    };
    let (gpu_engine, cpu_engine) = (Engine::new(), Engine::new());
    // Same size twice (the staged buffers reused), then another size (made again), then back.
    for (w, h) in [(320, 180), (320, 180), (211, 97), (320, 180)] {
        let src = plate(w, h);
        let input = FrameInput {
            source: &src,
            hint: None,
            garbage: None,
            core: None,
        };
        let render = |e: &Engine, path| {
            e.render_with(&input, &params, &rt, &opts(path), &|| false)
                .unwrap()
        };
        let gpu = render(&gpu_engine, PathChoice::Gpu);
        let cpu = render(&cpu_engine, PathChoice::Cpu);
        let d = max_abs_diff(&cpu.image.data, &gpu.image.data);
        assert!(d < 2e-4, "{w}x{h}: frames differ by {d:e}");

        let steps = &gpu.stats.steps;
        for name in [
            "inputs cleaned (CPU)",
            "plate staged (CPU, pinned)",
            "plate up (pinned) + prepare kernel",
            "coarse graph",
            "refine prep (alpha plane down)",
            "refiner run",
            "tile blend + crop",
            "finish kernel + frame down (pinned)",
            "frame copied out (CPU)",
        ] {
            assert!(
                steps.iter().any(|s| s.name == name),
                "{name} missing: {steps:?}"
            );
        }
        let refiner_runs = steps.iter().filter(|s| s.name == "refiner run").count();
        assert_eq!(refiner_runs, gpu.stats.tiles_run.div_ceil(16), "{steps:?}");
        let in_steps: f64 = steps.iter().map(|s| s.ms).sum();
        let stats = &gpu.stats;
        let stages = stats.prepare_ms + stats.coarse_ms + stats.refine_ms + stats.finish_ms;
        assert!(
            in_steps <= stages + 1e-6,
            "steps {in_steps} ms, stages {stages} ms"
        );
        assert!(steps.iter().all(|s| s.bytes > 0));
    }
}
