//! The benchmark's simulated trained coarse alpha (`RenderOptions::simulate_trained_coarse`): tiles on
//! clean screen and solid foreground of the hint are skipped, the same ones on both paths.

mod engine_common;

use corridorkey::engine::abort::Abort;
use corridorkey::engine::gpu::GpuKernels;
use corridorkey::engine::inputs::{self, CleanFrame};
use corridorkey::engine::report::FrameReport;
use corridorkey::engine::runtime::environment::environment;
use corridorkey::engine::runtime::{model_set, Provider};
use corridorkey::engine::stages::coarse::cpu::simulated_alpha_logits;
use corridorkey::engine::stages::cpu_path::CpuPath;
use corridorkey::engine::stages::gpu_path::GpuPath;
use corridorkey::engine::stages::path::{FramePath, TileCounts};
use corridorkey::engine::stages::refine::RefineSettings;
use corridorkey::engine::{
    FrameInput, HintSource, KeyParams, MatteImage, RgbaImage, UpscaleFilter,
};
use engine_common::*;

/// The refine stage on both paths with 64-pixel tiles at S=256 (the node's tiles are 512+).
fn refine_both(frame: &CleanFrame<'_>, params: &KeyParams, simulate: bool) -> [TileCounts; 2] {
    let rt = runtime(fixtures().join("uniform_s256"));
    let mut models = model_set::load(&rt, 256).unwrap();
    let settings = RefineSettings {
        enabled: true,
        strength: 1.0,
        tile: 64,
        overlap: 16,
        sparse_skip: true,
        skip_low: 0.05,
        skip_high: 0.95,
        batch: 4,
    };
    let mut cpu = CpuPath {
        params,
        settings,
        upscale: UpscaleFilter::Lanczos3,
        simulate_trained_coarse: simulate,
    };
    let x = cpu.prepare(frame, 256).unwrap();
    let c = cpu.coarse(&mut models, x).unwrap();
    let (_, cpu_tiles) = cpu.refine(&mut models, c, Abort::never()).unwrap();
    let (env, _) = environment(&rt.ort_library).unwrap();
    let mut k = GpuKernels::new(&env, Provider::Cpu, &rt);
    let mut gpu = GpuPath::new(
        &mut k,
        params,
        settings,
        UpscaleFilter::Lanczos3,
        false,
        false,
        simulate,
    )
    .unwrap();
    let x = gpu.prepare(frame, 256).unwrap();
    let c = gpu.coarse(&mut models, x).unwrap();
    let (_, gpu_tiles) = gpu.refine(&mut models, c, Abort::never()).unwrap();
    [cpu_tiles, gpu_tiles]
}

#[test]
fn simulated_coarse_alpha_skips_uniform_tiles_on_both_paths() {
    let (w, h) = (256, 256);
    let mut src = RgbaImage::new(w, h);
    let mut matte = MatteImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            // Solid foreground on the left, clean screen on the right, a soft ramp between.
            let a = ((150.0 - x as f32) / 40.0).clamp(0.0, 1.0);
            matte.data[y * w + x] = a;
            let (fg, bg) = ([0.5, 0.3, 0.25], [0.03, 0.4, 0.05]);
            for c in 0..3 {
                src.data[(y * w + x) * 4 + c] = a * fg[c] + (1.0 - a) * bg[c];
            }
            src.data[(y * w + x) * 4 + 3] = 1.0;
        }
    }
    let input = FrameInput {
        source: &src,
        hint: Some(&matte),
        garbage: None,
        core: None,
    };
    let params = KeyParams {
        inference_size: 256,
        hint_source: HintSource::Clip,
        ..Default::default()
    };
    let mut report = FrameReport::default();
    let frame = inputs::clean(&input, &params, &mut report, Abort::never()).unwrap();
    let [plain, _] = refine_both(&frame, &params, false);
    let [cpu, gpu] = refine_both(&frame, &params, true);
    // The seeded model's own alpha is uniform on some tiles (14 here, where its
    // logits saturate); the simulated trained alpha (the true matte) makes the clean screen and the
    // solid foreground uniform, so it skips more, and both paths skip the same tiles.
    assert!(
        cpu.skipped > plain.skipped && cpu.run > 0,
        "{cpu:?} vs {plain:?}"
    );
    assert_eq!(cpu.run + cpu.skipped, plain.run + plain.skipped);
    assert_eq!(cpu, gpu);
}

#[test]
fn simulated_logits_follow_the_hint() {
    let s = 16;
    let mut input = vec![0.0f32; 4 * s * s];
    for y in 0..s {
        for x in 0..s {
            input[3 * s * s + y * s + x] = if x < 8 { 1.0 } else { 0.0 };
        }
    }
    let l = simulated_alpha_logits(&input, s);
    assert_eq!(l.len(), 16);
    assert!(
        l[0] > 9.0 && l[1] > 9.0 && l[2] < -9.0 && l[3] < -9.0,
        "{l:?}"
    );
}
