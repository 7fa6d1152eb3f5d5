//! Host-side cost of the refine stage at S=2048 (upsample, tile gather, blend, compose), with the
//! refiner graph replaced by a closure that returns zeros. Ignored by default; run with
//! `cargo test --release -p corridorkey --test engine_refine_timing -- --ignored --nocapture`.

use std::time::Instant;

use corridorkey::engine::stages::coarse::cpu::CoarseLogits;
use corridorkey::engine::stages::refine::cpu::{refine, tile_batch, upsample_logits};
use corridorkey::engine::stages::refine::tiles::plan;
use corridorkey::engine::stages::refine::RefineSettings;
use corridorkey::engine::EngineError;

#[test]
#[ignore]
fn time_refine_host_work_2048() {
    let s = 2048;
    let q = s / 4;
    let c = CoarseLogits {
        q,
        alpha: (0..q * q).map(|i| ((i % 97) as f32 - 48.0) / 8.0).collect(),
        fg: (0..3 * q * q)
            .map(|i| ((i % 89) as f32 - 44.0) / 8.0)
            .collect(),
    };
    let image: Vec<f32> = (0..4 * s * s).map(|i| (i % 251) as f32 / 251.0).collect();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    for _ in 0..2 {
        let t = Instant::now();
        let up = upsample_logits(&c, s).unwrap();
        eprintln!("upsample logits: {:.1} ms", ms(t));
        let tiles = plan(s, 512, 128);
        let t = Instant::now();
        let b = tile_batch(&image, &up, s, &tiles[..4], 512);
        eprintln!("tile_batch x4: {:.1} ms ({} values)", ms(t), b.len());
        let settings = RefineSettings {
            enabled: true,
            strength: 1.0,
            tile: 512,
            overlap: 128,
            sparse_skip: false,
            skip_low: 0.01,
            skip_high: 0.99,
            batch: 4,
        };
        let mut graph = 0.0;
        let mut run = |x: &[f32], b: usize, t: usize| -> Result<Vec<f32>, EngineError> {
            let t0 = Instant::now();
            let out = vec![0.0f32; b * 4 * t * t];
            assert_eq!(x.len(), b * 7 * t * t);
            graph += ms(t0);
            Ok(out)
        };
        let t = Instant::now();
        let r = refine(&image, &up, s, &settings, &mut run, &|| false).unwrap();
        eprintln!(
            "refine (25 tiles, graph stubbed): {:.1} ms, of it in the stub {graph:.1} ms; {} tiles",
            ms(t),
            r.tiles_run.len()
        );
    }
}
