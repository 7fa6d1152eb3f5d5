//! Steady mattes through `Engine::render_steady` (real ONNX Runtime on the CPU provider, seeded
//! random-weight fixture model): order independence and the flicker it removes on a noisy plate.

mod engine_common;
mod steady_common;

use corridorkey::engine::{Engine, KeyParams, OutputMode, RgbaImage, SteadyParams};
use engine_common::*;
use steady_common::*;

const W: usize = 64;
const H: usize = 48;
const FRAMES: usize = 5;

fn params() -> KeyParams {
    KeyParams {
        inference_size: 128,
        output: OutputMode::Premultiplied,
        ..Default::default()
    }
}

const ON: SteadyParams = SteadyParams {
    strength: 1.0,
    tolerance: 0.02,
};

fn plates() -> (Vec<RgbaImage>, Vec<Vec<f32>>) {
    (0..FRAMES).map(|t| plate(W, H, t, 0.01)).unzip()
}

/// Every frame, rendered in `order` by one engine (its caches fill in that order), as bits.
fn render_in(order: &[usize], plates: &[RgbaImage]) -> Vec<Vec<u32>> {
    let engine = Engine::new();
    let rt = runtime(fixtures().join("small_s128"));
    let mut out = vec![Vec::new(); plates.len()];
    for &t in order {
        let a = key_alpha(&engine, plates, t, &params(), ON, &rt);
        out[t] = a.iter().map(|v| v.to_bits()).collect();
    }
    out
}

#[test]
fn forward_backward_and_random_order_give_identical_frames() {
    let (plates, _) = plates();
    let forward = render_in(&[0, 1, 2, 3, 4], &plates);
    assert_eq!(render_in(&[4, 3, 2, 1, 0], &plates), forward);
    assert_eq!(render_in(&[2, 0, 4, 1, 3], &plates), forward);
}

#[test]
fn static_flicker_drops_by_half_and_the_moving_part_does_not_lag() {
    let (plates, truths) = plates();
    let rt = runtime(fixtures().join("small_s128"));
    let engine = Engine::new();
    let run = |s: SteadyParams| -> Vec<Vec<f32>> {
        (0..FRAMES)
            .map(|t| key_alpha(&engine, &plates, t, &params(), s, &rt))
            .collect()
    };
    let moving = moving_part(W, H, FRAMES);
    let (f0, sad0) = flicker_and_sad(&run(SteadyParams::OFF), &truths, &moving);
    let (f1, sad1) = flicker_and_sad(&run(ON), &truths, &moving);
    println!("flicker {f0:.5} -> {f1:.5}, moving-part SAD {sad0:.5} -> {sad1:.5}");
    assert!(f0 > 0.0, "the noisy plate must flicker without steady mattes");
    assert!(f1 <= 0.5 * f0, "flicker {f0} -> {f1}");
    assert!(sad1 <= 1.02 * sad0, "moving-part SAD {sad0} -> {sad1}");
}
