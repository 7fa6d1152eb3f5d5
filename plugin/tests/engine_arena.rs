//! ONNX Runtime arena statistics after a real render (CPU EP, the small fixture model).

mod engine_common;

use corridorkey::engine::{Engine, FrameInput, KeyParams, RgbaImage};
use engine_common::*;

#[test]
fn arena_stats_report_the_cpu_arenas_after_a_render() {
    let engine = Engine::new();
    assert!(
        engine.arena_stats().is_empty(),
        "no sessions are loaded before the first frame"
    );
    let rt = runtime(fixtures().join("small_s128"));
    let (w, h) = (160, 96);
    let mut src = RgbaImage::new(w, h);
    for (i, p) in src.data.chunks_mut(4).enumerate() {
        let x = i % w;
        let v = if (w / 3..2 * w / 3).contains(&x) {
            [0.5, 0.3, 0.2, 1.0]
        } else {
            [0.03, 0.42, 0.05, 1.0]
        };
        p.copy_from_slice(&v);
    }
    let params = KeyParams {
        inference_size: 128,
        ..Default::default()
    };
    let input = FrameInput {
        source: &src,
        hint: None,
        garbage: None,
        core: None,
    };
    engine.render(&input, &params, &rt, &|| false).unwrap();

    let stats: Vec<_> = engine
        .arena_stats()
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let names: Vec<&str> = stats.iter().map(|s| s.session.as_str()).collect();
    assert_eq!(names, ["coarse", "refiner"]);
    for s in &stats {
        assert_eq!(s.device, "CPU");
        assert!(s.max_in_use > 0, "{}: MaxInUse is 0: {s:?}", s.session);
        assert!(s.num_allocs > 0, "{}: no allocations: {s:?}", s.session);
        assert!(
            s.total_allocated >= s.max_in_use,
            "{}: the arena holds less than its peak: {s:?}",
            s.session
        );
        assert!(s.raw.iter().any(|(k, _)| k == "MaxInUse"));
    }
    engine.unload();
    assert!(engine.arena_stats().is_empty());
}
