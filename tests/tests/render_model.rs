//! Renders through the network. They need a model folder (`$CORRIDORKEY_TEST_MODEL_DIR`, else
//! `<fixtures>/small_s128`) and fail without one.

mod common;
use common::*;
use ofx_test_host::{
    image_from_rgba, BitDepth, Components, Input, Instance, Plugin, RenderRequest, GENERAL,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn with_model<'p>(
    plugin: &'p Plugin,
    p: &ofx_test_host::synthetic::Plate,
    show: i32,
) -> Option<Instance<'p>> {
    let dir = ofx_test_host::test_model_dir()?;
    let inst = keyed(plugin, GENERAL, p, show);
    inst.set_string("modelFolder", dir.to_str().unwrap())
        .unwrap();
    inst.set_int("device", 3).unwrap(); // CPU: tests must not depend on a GPU
    Some(inst)
}

#[test]
fn every_output_mode_renders_sensibly() {
    let plugin = Plugin::shared();
    let p = plate(192, 128, 0);
    let Some(inst) = with_model(plugin, &p, SHOW_PREMULTIPLIED) else {
        return;
    };
    let mut outs = Vec::new();
    for show in 0..7 {
        inst.set_int("show", show).unwrap();
        let out = inst
            .render(&RenderRequest {
                depth: Some(BitDepth::Float),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("show={show}: {e}"))
            .to_rgba()
            .unwrap();
        assert!(
            out.iter().all(|v| v.is_finite()),
            "show={show}: non-finite output"
        );
        if let Some(m) = inst.persistent_message() {
            assert!(
                !m.kind.contains("Error"),
                "show={show}: persistent error {m:?}"
            );
        }
        outs.push(out);
    }
    let alpha = channel(&outs[SHOW_PREMULTIPLIED as usize], 3);
    assert!(
        alpha.iter().all(|a| (-1e-5..=1.0 + 1e-5).contains(a)),
        "alpha out of 0..1"
    );
    let spread = alpha.iter().cloned().fold(f32::MIN, f32::max)
        - alpha.iter().cloned().fold(f32::MAX, f32::min);
    assert!(
        spread > 0.05,
        "alpha is flat ({spread}): the network output is not reaching the image"
    );
    // Premultiplied = Unpremultiplied x alpha (despill may push colours above alpha, so no bound there).
    for (pm, un) in outs[SHOW_PREMULTIPLIED as usize]
        .chunks_exact(4)
        .zip(outs[SHOW_UNPREMULTIPLIED as usize].chunks_exact(4))
    {
        for c in 0..3 {
            assert!(
                (pm[c] - un[c] * pm[3]).abs() < 1e-3,
                "premultiplied {pm:?} vs unpremultiplied {un:?}"
            );
        }
    }
    let un_alpha = channel(&outs[SHOW_UNPREMULTIPLIED as usize], 3);
    assert!(
        max_abs_diff(&alpha, &un_alpha) < 1e-4,
        "Unpremultiplied alpha differs from Premultiplied alpha"
    );
    let matte = &outs[SHOW_MATTE as usize];
    for px in matte.chunks_exact(4) {
        assert!(
            (px[0] - px[1]).abs() < 1e-6 && (px[1] - px[2]).abs() < 1e-6,
            "Matte view must be grey: {px:?}"
        );
        assert!((px[3] - 1.0).abs() < 1e-6, "Matte view must be opaque");
    }
    assert!(
        max_abs_diff(&channel(matte, 0), &alpha) < 1e-4,
        "Matte view differs from the output alpha"
    );
    for show in [SHOW_STATUS, SHOW_HINT] {
        assert!(
            channel(&outs[show as usize], 3)
                .iter()
                .all(|a| (*a - 1.0).abs() < 1e-6),
            "show={show} must be opaque"
        );
    }
}

#[test]
fn garbage_and_core_mattes_force_alpha_outside_wins() {
    let plugin = Plugin::shared();
    let (w, h) = (192, 128);
    let p = plate(w, h, 1);
    let Some(inst) = with_model(plugin, &p, SHOW_PREMULTIPLIED) else {
        return;
    };
    let region = |x0: usize, x1: usize| {
        let mut m = vec![0f32; w * h * 4];
        for y in 0..h {
            for x in x0..x1 {
                m[(y * w + x) * 4 + 3] = 1.0;
            }
        }
        m
    };
    let garbage = region(0, 60);
    let core = region(40, 120);
    inst.set_input(
        "Garbage",
        Input::Image(
            image_from_rgba(w, h, &garbage, BitDepth::Float, Components::Alpha, false).unwrap(),
        ),
    )
    .unwrap();
    inst.set_input(
        "Core",
        Input::Image(
            image_from_rgba(w, h, &core, BitDepth::Float, Components::Alpha, false).unwrap(),
        ),
    )
    .unwrap();
    let a = channel(&render(&inst, 0.0), 3);
    for y in 0..h {
        for x in 0..w {
            let v = a[y * w + x];
            if x < 60 {
                assert!(v.abs() < 1e-5, "garbage region ({x},{y}) alpha {v}");
            } else if x < 120 {
                assert!((v - 1.0).abs() < 1e-5, "core region ({x},{y}) alpha {v}");
            }
        }
    }
}

#[test]
fn eight_threads_match_a_serial_run_with_the_network() {
    let plugin = Plugin::shared();
    let plates: Vec<_> = (0..8).map(|f| plate(128, 96, f)).collect();
    if ofx_test_host::test_model_dir().is_none() {
        return;
    }
    let run = |f: usize| {
        let inst = with_model(plugin, &plates[f], SHOW_PREMULTIPLIED).unwrap();
        render(&inst, f as f64)
    };
    assert_threads_match_serial(8, run);
}

#[test]
fn abort_mid_render_returns_promptly() {
    let plugin = Plugin::shared();
    let p = plate(256, 192, 2);
    let Some(inst) = with_model(plugin, &p, SHOW_PREMULTIPLIED) else {
        return;
    };
    // Distinct params so the frame cache cannot answer.
    inst.set_int("refinerTile", 2).unwrap();
    let t0 = Instant::now();
    render(&inst, 0.0);
    let full = t0.elapsed();
    let polls = inst.effect().abort_calls();
    assert!(
        polls >= 2,
        "the plugin polled abort {polls} times during a full render"
    );

    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    // Abort from the second poll on: the render is under way.
    inst.set_abort(Some(Arc::new(move || {
        c.fetch_add(1, Ordering::SeqCst) >= 1
    })));
    inst.set_double("despill", 0.5).unwrap();
    let t1 = Instant::now();
    let r = inst.render(&RenderRequest {
        time: 1.0,
        depth: Some(BitDepth::Float),
        ..Default::default()
    });
    let aborted = t1.elapsed();
    let n = calls.load(Ordering::SeqCst);
    assert!(n >= 2, "abort was polled only {n} times");
    assert!(n <= 4, "the plugin kept working after abort: {n} polls");
    assert!(
        aborted < full,
        "aborted render took {aborted:?}, a full one {full:?}"
    );
    if let Err(e) = r {
        assert_eq!(
            e.status,
            ofx_test_host::status::FAILED,
            "an aborted render may fail only with kOfxStatFailed: {e}"
        );
    }
}
