//! The engine's stages and the whole forward against the PyTorch goldens (real ONNX Runtime, CPU).

mod engine_common;

use corridorkey::engine::abort::Abort;
use corridorkey::engine::runtime::model_set;
use corridorkey::engine::stages::coarse::cpu::{run_coarse, CoarseLogits};
use corridorkey::engine::stages::finish::cpu::finish;
use corridorkey::engine::stages::prepare::cpu::prepare_input;
use corridorkey::engine::stages::refine::cpu::{refine, run_refiner, tile_batch, upsample_logits};
use corridorkey::engine::stages::refine::tiles::Tile;
use corridorkey::engine::stages::refine::RefineSettings;
use corridorkey::engine::{
    Engine, EngineError, FrameInput, HintSource, KeyParams, MatteImage, OutputMode, RefinerParams,
    RenderOptions, RgbaImage, TileSize, UpscaleFilter,
};
use engine_common::*;

const TOL: f32 = 1e-4;

fn plate(set: &str) -> (RgbaImage, MatteImage) {
    let p = npy(set, "plate");
    let (h, w) = (p.shape()[0], p.shape()[1]);
    let hint = npy(set, "hint");
    (
        RgbaImage {
            width: w,
            height: h,
            data: vec_of(&p),
        },
        MatteImage {
            width: w,
            height: h,
            data: vec_of(&hint),
        },
    )
}

fn full_frame(s: usize) -> RefineSettings {
    RefineSettings {
        enabled: true,
        strength: 1.0,
        tile: s,
        overlap: 0,
        sparse_skip: false,
        skip_low: 0.05,
        skip_high: 0.95,
        batch: 1,
    }
}

#[test]
fn prepare_matches_upstream_preprocessing() {
    for (set, s) in [("small_s128", 128), ("uniform_s256", 256)] {
        let (src, hint) = plate(set);
        let got = prepare_input(
            &src,
            &hint.data,
            corridorkey::engine::InputColour::Linear,
            s,
            Abort::never(),
        )
        .unwrap();
        let want = vec_of(&npy(set, "input"));
        let d = max_abs_diff(&got, &want);
        assert!(d <= TOL, "{set}: prepare max abs diff {d}");
    }
}

#[test]
fn coarse_refiner_and_forward_match_pytorch() {
    let set = "small_s128";
    let s = 128;
    let rt = runtime(fixtures().join(set));
    let mut loaded = model_set::load(&rt, s).expect("load fixture model");
    assert_eq!(loaded.size, s);
    assert_eq!(loaded.precision, "fp32");

    // coarse on the golden input
    let input = vec_of(&npy(set, "input"));
    let c = run_coarse(&mut loaded.coarse, &input, s).unwrap();
    let d = max_abs_diff(&c.alpha, &vec_of(&npy(set, "alpha_logits")));
    assert!(d <= TOL, "alpha_logits diff {d}");
    let d = max_abs_diff(&c.fg, &vec_of(&npy(set, "fg_logits")));
    assert!(d <= TOL, "fg_logits diff {d}");

    // upsample + refiner input from the golden logits
    let golden = CoarseLogits {
        q: s / 4,
        alpha: vec_of(&npy(set, "alpha_logits")),
        fg: vec_of(&npy(set, "fg_logits")),
    };
    let up = upsample_logits(&golden, s).unwrap();
    let rin = tile_batch(
        &input,
        &up,
        s,
        &[Tile {
            x: 0,
            y: 0,
            size: s,
        }],
        s,
    );
    let d = max_abs_diff(&rin, &vec_of(&npy(set, "refiner_input")));
    assert!(d <= 1e-5, "refiner_input diff {d}");

    // full-frame refiner on the golden refiner input
    let refiner = loaded.refiner.as_mut().expect("refiner session");
    let delta = run_refiner(refiner, &vec_of(&npy(set, "refiner_input")), 1, s).unwrap();
    let d = max_abs_diff(&delta, &vec_of(&npy(set, "delta_logits")));
    assert!(d <= TOL, "delta_logits diff {d}");

    // the whole forward from the plate: prepare -> coarse -> upsample -> full-frame refiner -> sigmoid
    let (src, hint) = plate(set);
    let tensor = prepare_input(
        &src,
        &hint.data,
        corridorkey::engine::InputColour::Linear,
        s,
        Abort::never(),
    )
    .unwrap();
    let c = run_coarse(&mut loaded.coarse, &tensor, s).unwrap();
    let up = upsample_logits(&c, s).unwrap();
    let mut run =
        |b: &[f32], n: usize, t: usize| run_refiner(loaded.refiner.as_mut().unwrap(), b, n, t);
    let r = refine(&tensor, &up, s, &full_frame(s), &mut run, &|| false).unwrap();
    let d = max_abs_diff(&r.alpha, &vec_of(&npy(set, "alpha")));
    assert!(d <= TOL, "forward alpha diff {d}");
    let d = max_abs_diff(&r.fg, &vec_of(&npy(set, "fg")));
    assert!(d <= TOL, "forward fg diff {d}");
    assert_eq!(r.tiles_run.len(), 1);

    // a 512 tile on S=128 is one full-frame tile too: identical to the untiled run
    let mut tiled = full_frame(s);
    tiled.tile = 512;
    tiled.overlap = 128;
    let r2 = refine(&tensor, &up, s, &tiled, &mut run, &|| false).unwrap();
    assert_eq!(r.alpha, r2.alpha);
    assert_eq!(r.fg, r2.fg);

    // abort between batches
    let err = refine(&tensor, &up, s, &full_frame(s), &mut run, &|| true).unwrap_err();
    assert!(matches!(err, EngineError::Aborted));
}

#[test]
fn engine_render_matches_forward_then_finish() {
    let set = "small_s128";
    let s = 128;
    let rt = runtime(fixtures().join(set));
    let (src, hint) = plate(set);
    let engine = Engine::new();
    let params = KeyParams {
        hint_source: HintSource::Clip,
        inference_size: s,
        refiner: RefinerParams {
            tile: TileSize::FullFrame,
            ..Default::default()
        },
        output: OutputMode::Unpremultiplied,
        ..Default::default()
    };
    let input = FrameInput {
        source: &src,
        hint: Some(&hint),
        garbage: None,
        core: None,
    };
    let opts = RenderOptions {
        use_cache: false,
        ..Default::default()
    };
    let out = engine
        .render_with(&input, &params, &rt, &opts, &|| false)
        .unwrap();
    assert_eq!((out.image.width, out.image.height), (src.width, src.height));
    assert!(!out.premultiplied);
    assert_eq!(out.stats.tiles_run, 1);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);

    // expected: the golden forward finished by the same finishing code
    let golden = corridorkey::engine::stages::refine::Refined {
        s,
        alpha: vec_of(&npy(set, "alpha")),
        fg: vec_of(&npy(set, "fg")),
        ..Default::default()
    };
    let f = finish(
        &golden,
        (src.width, src.height),
        &params,
        None,
        None,
        UpscaleFilter::Lanczos3,
        Abort::never(),
    )
    .unwrap();
    let d = max_abs_diff(&out.image.data, &f.rgba);
    assert!(d <= 2e-4, "render vs golden-finished diff {d}");

    // premultiplied = unpremultiplied x alpha
    let pm = engine
        .render_with(
            &input,
            &KeyParams {
                output: OutputMode::Premultiplied,
                ..params.clone()
            },
            &rt,
            &opts,
            &|| false,
        )
        .unwrap();
    assert!(pm.premultiplied);
    for (p, u) in pm.image.data.chunks(4).zip(out.image.data.chunks(4)) {
        assert_eq!(p[3], u[3]);
        for c in 0..3 {
            assert!((p[c] - u[c] * u[3]).abs() <= 1e-6);
        }
    }
    // matte and composite are opaque
    for mode in [
        OutputMode::Matte,
        OutputMode::Composite,
        OutputMode::Foreground,
        OutputMode::Status,
    ] {
        let o = engine
            .render_with(
                &input,
                &KeyParams {
                    output: mode,
                    ..params.clone()
                },
                &rt,
                &opts,
                &|| false,
            )
            .unwrap();
        assert!(o.image.data.chunks(4).all(|p| p[3] == 1.0), "{mode:?}");
        assert!(o.image.data.iter().all(|v| v.is_finite()), "{mode:?}");
    }
    // describe names the loaded model
    let info = engine.describe(&rt, s);
    assert!(
        info.contains("S=128") && info.contains("CPU") && info.contains("fp32"),
        "{info}"
    );
}

#[test]
fn frame_cache_returns_the_same_frame() {
    let set = "small_s128";
    let rt = runtime(fixtures().join(set));
    let (src, hint) = plate(set);
    let engine = Engine::new();
    let params = KeyParams {
        hint_source: HintSource::Clip,
        inference_size: 128,
        ..Default::default()
    };
    let input = FrameInput {
        source: &src,
        hint: Some(&hint),
        garbage: None,
        core: None,
    };
    let a = engine.render(&input, &params, &rt, &|| false).unwrap();
    let b = engine.render(&input, &params, &rt, &|| false).unwrap();
    assert_eq!(a.image, b.image);
    // stage timings are measured per run, so equal timings mean nothing ran again
    assert_eq!(a.stats, b.stats, "a cached frame repeats its stats");
    // a changed pixel is a new frame
    let mut src2 = src.clone();
    src2.data[0] += 0.5;
    let input2 = FrameInput {
        source: &src2,
        hint: Some(&hint),
        garbage: None,
        core: None,
    };
    let c = engine.render(&input2, &params, &rt, &|| false).unwrap();
    assert_ne!(a.image, c.image);
}
