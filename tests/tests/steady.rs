//! Steady mattes through the bundle: temporal clip access as the test host honours it (frames
//! needed, images at t-1 and t+1), and frames that do not depend on the order they are rendered
//! in, in the test host and through `ofx-render` (fresh processes, so cold caches).

mod common;
use common::*;
use ofx_test_host::{
    image_from_rgba, BitDepth, Components, Input, Instance, Plugin, PropSet, RenderRequest,
    GENERAL,
};

const W: usize = 64;
const H: usize = 48;

/// An instance keying frames 0..n of the moving sample plate on the CPU with steady mattes on.
fn steady_instance(plugin: &Plugin, n: u32) -> Option<Instance<'_>> {
    let dir = ofx_test_host::test_model_dir()?;
    let inst = plugin.create_instance(GENERAL).expect("createInstance");
    let frames = (0..n)
        .map(|f| {
            let p = plate(W, H, f);
            let img =
                image_from_rgba(W, H, &p.rgba, BitDepth::Float, Components::Rgba, false).unwrap();
            (f64::from(f), img)
        })
        .collect();
    inst.set_input("Source", Input::Frames(frames)).unwrap();
    inst.set_string("modelFolder", dir.to_str().unwrap())
        .unwrap();
    inst.set_int("device", 3).unwrap();
    inst.set_int("steadyMattes", 1).unwrap();
    Some(inst)
}

fn frames_needed(plugin: &Plugin, inst: &Instance<'_>, t: f64) -> Option<Vec<f64>> {
    let (a, out) = (PropSet::new(), PropSet::new());
    a.set_double("OfxPropTime", &[t]);
    let st = plugin.action(
        "OfxImageEffectActionGetFramesNeeded",
        Some(inst.effect()),
        Some(&a),
        Some(&out),
    );
    assert_eq!(st, ofx_test_host::status::OK);
    out.get_double("OfxImageClipPropFrameRange_Source")
}

#[test]
fn frames_needed_and_neighbours_follow_the_switch() {
    let plugin = Plugin::shared();
    let Some(inst) = steady_instance(plugin, 3) else {
        return;
    };
    assert_eq!(frames_needed(plugin, &inst, 1.0), Some(vec![0.0, 2.0]));
    let source = inst.effect().clip("Source").unwrap();
    let before = source.get_image_calls();
    render(&inst, 1.0);
    assert_eq!(source.get_image_calls() - before, 3, "frames 0, 1 and 2");
    inst.set_int("steadyMattes", 0).unwrap();
    assert_eq!(frames_needed(plugin, &inst, 1.0), Some(vec![1.0, 1.0]));
    let before = source.get_image_calls();
    render(&inst, 1.0);
    assert_eq!(source.get_image_calls() - before, 1, "frame 1 alone");
}

#[test]
fn any_render_order_gives_identical_frames_in_the_host() {
    let plugin = Plugin::shared();
    let Some(inst) = steady_instance(plugin, 4) else {
        return;
    };
    let bits = |t: f64| -> Vec<u32> { render(&inst, t).iter().map(|v| v.to_bits()).collect() };
    let forward: Vec<_> = (0..4).map(|t| bits(f64::from(t))).collect();
    for t in [3, 1, 0, 2] {
        assert!(bits(f64::from(t)) == forward[t as usize], "frame {t}");
    }
    inst.set_int("steadyMattes", 0).unwrap();
    let alone = bits(1.0);
    assert!(alone != forward[1], "steady mattes changed nothing");
    let req = RenderRequest {
        time: 3.0,
        depth: Some(BitDepth::Float),
        ..Default::default()
    };
    inst.render(&req).expect("the last frame keys with one neighbour");
}

#[test]
fn ofx_render_frames_match_in_any_order() {
    use cli::*;
    if ofx_test_host::test_model_dir().is_none() {
        return;
    }
    let dir = empty_dir("steady-cli");
    sample_sequence(&dir.join("in"), 1..=4, W, H);
    let plate = dir.join("in/plate.####.exr");
    let args = |out: &str, frames: &str| {
        let mut c = ofx_render();
        c.args([s(&plate), "-o", s(&dir.join(out)), "--frames", frames]);
        c.args(model_args()).args(["--param", "steadyMattes=1"]);
        c
    };
    ok(&mut args("all/k.####.exr", "1-4"));
    // One frame per process, last first: cold caches, neighbours read from disk.
    for f in ["4", "2", "1", "3"] {
        ok(&mut args("one/k.####.exr", f));
    }
    for f in 1..=4 {
        let name = format!("k.{f:04}.exr");
        let a = std::fs::read(dir.join("all").join(&name)).unwrap();
        let b = std::fs::read(dir.join("one").join(&name)).unwrap();
        assert!(a == b, "frame {f} differs between the orders");
    }
}
