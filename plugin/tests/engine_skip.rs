//! Sparse refiner skip on the uniform fixture, and tiled runs (real ONNX Runtime, CPU).

mod engine_common;

use corridorkey::engine::runtime::model_set;
use corridorkey::engine::stages::coarse::cpu::run_coarse;
use corridorkey::engine::stages::refine::cpu::{refine, run_refiner, upsample_logits};
use corridorkey::engine::stages::refine::tiles::{plan, Tile};
use corridorkey::engine::stages::refine::{tile_is_uniform, RefineSettings};
use engine_common::*;

fn regions() -> Vec<(String, [usize; 4])> {
    let text = std::fs::read_to_string(fixtures().join("uniform_s256/regions.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let m: Vec<usize> = r["model"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            (
                r["value"].as_str().unwrap().to_string(),
                [m[0], m[1], m[2], m[3]],
            )
        })
        .collect()
}

fn covered(t: &Tile, rects: &[[usize; 4]]) -> bool {
    (t.y..t.y + t.size).all(|y| {
        (t.x..t.x + t.size).all(|x| {
            rects
                .iter()
                .any(|r| x >= r[0] && x < r[2] && y >= r[1] && y < r[3])
        })
    })
}

fn touches_unknown(t: &Tile, rects: &[[usize; 4]]) -> bool {
    (t.y..t.y + t.size).any(|y| {
        (t.x..t.x + t.size).any(|x| {
            !rects
                .iter()
                .any(|r| x >= r[0] && x < r[2] && y >= r[1] && y < r[3])
        })
    })
}

#[test]
fn sparse_skip_skips_exactly_the_uniform_tiles_and_nothing_else_changes() {
    let set = "uniform_s256";
    let s = 256;
    let rt = runtime(fixtures().join(set));
    let mut loaded = model_set::load(&rt, s).unwrap();
    let input = vec_of(&npy(set, "input"));
    let c = run_coarse(&mut loaded.coarse, &input, s).unwrap();
    let up = upsample_logits(&c, s).unwrap();

    let settings = RefineSettings {
        enabled: true,
        strength: 1.0,
        tile: 64,
        overlap: 16,
        sparse_skip: true,
        skip_low: 0.05,
        skip_high: 0.95,
        batch: 3,
    };
    let tiles = plan(s, 64, 16);
    let regs = regions();
    let zero: Vec<[usize; 4]> = regs.iter().filter(|r| r.0 == "zero").map(|r| r.1).collect();
    let one: Vec<[usize; 4]> = regs.iter().filter(|r| r.0 == "one").map(|r| r.1).collect();
    let all: Vec<[usize; 4]> = regs.iter().map(|r| r.1).collect();

    let mut run =
        |b: &[f32], n: usize, t: usize| run_refiner(loaded.refiner.as_mut().unwrap(), b, n, t);
    let skipped = refine(&input, &up, s, &settings, &mut run, &|| false).unwrap();
    let full = refine(
        &input,
        &up,
        s,
        &RefineSettings {
            sparse_skip: false,
            ..settings
        },
        &mut run,
        &|| false,
    )
    .unwrap();

    assert_eq!(full.tiles_run.len(), tiles.len());
    assert!(full.tiles_skipped.is_empty());
    assert_eq!(
        skipped.tiles_run.len() + skipped.tiles_skipped.len(),
        tiles.len()
    );
    assert!(
        !skipped.tiles_skipped.is_empty(),
        "the uniform fixture must skip some tiles"
    );
    for t in &tiles {
        let is_skipped = skipped.tiles_skipped.contains(t);
        if covered(t, &zero) || covered(t, &one) {
            assert!(is_skipped, "tile {t:?} lies in a uniform region but ran");
        }
        if touches_unknown(t, &all) {
            // outside the known regions the coarse alpha is not uniform (checked, not assumed)
            let uniform = tile_is_uniform(&up[..s * s], s, t, 0.05, 0.95);
            assert_eq!(is_skipped, uniform, "tile {t:?}");
        }
    }

    // every pixel that no skipped tile touches is bit-identical to the run without skipping
    let mut touched = vec![false; s * s];
    for t in &skipped.tiles_skipped {
        for y in t.y..t.y + t.size {
            for x in t.x..t.x + t.size {
                touched[y * s + x] = true;
            }
        }
    }
    let mut compared = 0;
    for (i, _) in touched.iter().enumerate().filter(|(_, &t)| !t) {
        compared += 1;
        assert_eq!(
            skipped.alpha[i].to_bits(),
            full.alpha[i].to_bits(),
            "alpha pixel {i}"
        );
        for c in 0..3 {
            assert_eq!(
                skipped.fg[c * s * s + i].to_bits(),
                full.fg[c * s * s + i].to_bits(),
                "fg pixel {i}"
            );
        }
    }
    assert!(compared > 0);
    // inside skipped uniform tiles the alpha stays where it was (near 0 or 1)
    for t in &skipped.tiles_skipped {
        let i = (t.y + t.size / 2) * s + t.x + t.size / 2;
        assert!(skipped.alpha[i] < 0.05 || skipped.alpha[i] > 0.95);
    }
}

#[test]
fn tiled_refiner_is_close_to_full_frame_and_strength_zero_is_coarse() {
    let set = "uniform_s256";
    let s = 256;
    let rt = runtime(fixtures().join(set));
    let mut loaded = model_set::load(&rt, s).unwrap();
    let input = vec_of(&npy(set, "input"));
    let c = run_coarse(&mut loaded.coarse, &input, s).unwrap();
    let up = upsample_logits(&c, s).unwrap();
    let base = RefineSettings {
        enabled: true,
        strength: 1.0,
        tile: s,
        overlap: 0,
        sparse_skip: false,
        skip_low: 0.05,
        skip_high: 0.95,
        batch: 1,
    };
    let mut run =
        |b: &[f32], n: usize, t: usize| run_refiner(loaded.refiner.as_mut().unwrap(), b, n, t);
    let full = refine(&input, &up, s, &base, &mut run, &|| false).unwrap();
    let d = max_abs_diff(&full.alpha, &vec_of(&npy(set, "alpha")));
    assert!(d <= 1e-4, "full-frame vs golden {d}");
    // batching does not change a tile's result beyond float noise
    let t1 = refine(
        &input,
        &up,
        s,
        &RefineSettings {
            tile: 128,
            overlap: 32,
            ..base
        },
        &mut run,
        &|| false,
    )
    .unwrap();
    let t4 = refine(
        &input,
        &up,
        s,
        &RefineSettings {
            tile: 128,
            overlap: 32,
            batch: 4,
            ..base
        },
        &mut run,
        &|| false,
    )
    .unwrap();
    assert_eq!(t1.tiles_run.len(), 9);
    assert!(max_abs_diff(&t1.alpha, &t4.alpha) <= 1e-5);
    // tiling changes GroupNorm statistics: different, but a refinement of the same matte
    let d = max_abs_diff(&t1.alpha, &full.alpha);
    assert!(d > 0.0 && d < 0.5, "tiled vs full {d}");
    // strength 0 and refiner off both give sigmoid(coarse)
    let off = refine(
        &input,
        &up,
        s,
        &RefineSettings {
            enabled: false,
            ..base
        },
        &mut run,
        &|| false,
    )
    .unwrap();
    let zero = refine(
        &input,
        &up,
        s,
        &RefineSettings {
            strength: 0.0,
            ..base
        },
        &mut run,
        &|| false,
    )
    .unwrap();
    assert_eq!(off.alpha, zero.alpha);
    assert!(off.tiles_run.is_empty());
    let coarse_alpha: Vec<f32> = up[..s * s]
        .iter()
        .map(|&v| 1.0 / (1.0 + (-v).exp()))
        .collect();
    assert!(max_abs_diff(&off.alpha, &coarse_alpha) <= 1e-6);
}
