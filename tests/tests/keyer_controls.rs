//! Issue 22 through the bundle on the CPU provider: Quality `Auto`, Screen colour `Auto`, the edge
//! controls in the test host, and a frame whose device memory runs out (injected) through
//! `ofx-render`: keyed anyway, counted as degraded (exit 2 unless `--allow-degraded`).

mod common;
use common::*;
use ofx_test_host::{Instance, Plugin, GENERAL};

const QUALITY_AUTO: i32 = 3;
const SCREEN_AUTO: i32 = 2;

fn with_model<'p>(
    plugin: &'p Plugin,
    plate: &ofx_test_host::synthetic::Plate,
    show: i32,
) -> Instance<'p> {
    let dir = ofx_test_host::test_model_dir().expect("test model folder");
    let inst = keyed(plugin, GENERAL, plate, show);
    inst.set_string("modelFolder", dir.to_str().unwrap())
        .unwrap();
    inst.set_int("device", 3).unwrap(); // CPU
    inst.set_int("hintSource", HINT_BUILTIN).unwrap();
    inst
}

fn info(inst: &Instance<'_>) -> String {
    format!("{:?}", inst.effect().params().get("info").unwrap().value())
}

#[test]
fn edge_controls_shape_the_matte_in_the_test_host() {
    let plugin = Plugin::shared();
    let p = plate(96, 64, 0);
    let inst = with_model(plugin, &p, SHOW_MATTE);
    let sum = |inst: &Instance<'_>| channel(&render(inst, 0.0), 0).iter().sum::<f32>();
    let base = sum(&inst);
    inst.set_double("matteShrinkGrow", -3.0).unwrap();
    let shrunk = sum(&inst);
    inst.set_double("matteShrinkGrow", 3.0).unwrap();
    let grown = sum(&inst);
    assert!(shrunk < base && base < grown, "{shrunk} {base} {grown}");
    inst.set_double("matteShrinkGrow", 0.0).unwrap();
    inst.set_double("matteGamma", 3.0).unwrap();
    assert!(sum(&inst) > base, "gamma 3 lifts the soft edge");
    inst.set_double("matteGamma", 1.0).unwrap();
    inst.set_double("matteSoftness", 4.0).unwrap();
    let soft = render(&inst, 0.0);
    assert!(soft.iter().all(|v| v.is_finite()));
    assert_ne!(channel(&soft, 0).iter().sum::<f32>(), base);
    // Out of range is clamped, not refused, and named in the info line.
    inst.set_double("matteShrinkGrow", 1e9).unwrap();
    let _ = render(&inst, 0.0);
    assert!(info(&inst).contains("matteShrinkGrow"), "{}", info(&inst));
}

#[test]
fn quality_and_screen_auto_say_what_they_chose() {
    let plugin = Plugin::shared();
    // A blue screen: the synthetic green plate with green and blue swapped.
    let mut p = plate(96, 64, 0);
    for px in p.rgba.chunks_exact_mut(4) {
        px.swap(1, 2);
    }
    let inst = with_model(plugin, &p, SHOW_PREMULTIPLIED);
    inst.set_int("quality", QUALITY_AUTO).unwrap();
    inst.set_int("screenColour", SCREEN_AUTO).unwrap();
    let out = render(&inst, 0.0);
    assert!(out.iter().all(|v| v.is_finite()));
    let line = info(&inst);
    assert!(line.contains("Quality Auto on the CPU"), "{line}");
    assert!(line.contains("Screen Auto: blue"), "{line}");
}

#[test]
fn ofx_render_counts_a_frame_keyed_after_device_memory_ran_out() {
    use cli::*;
    let dir = empty_dir("degraded");
    let plate = dir.join("plate.exr");
    sample(&plate, 64, 40, 1);
    let model = ofx_test_host::test_model_dir().unwrap();
    let args = |out: &str, allow: bool| {
        let mut c = ofx_render();
        c.env("CORRIDORKEY_TEST_DEVICE_OOM_ABOVE", "0");
        c.args([s(&plate), "-o", s(&dir.join(out)), "--model-dir", s(&model)]);
        // Device Auto: the ladder's last rung is the CPU provider.
        c.args(["--param", "device=0"]);
        if allow {
            c.arg("--allow-degraded");
        }
        c
    };
    let r = run(&mut args("a.exr", false));
    assert_eq!(r.code, Some(2), "{}", r.text());
    assert!(r.stderr.contains("GPU memory ran out"), "{}", r.text());
    assert!(
        dir.join("a.exr").is_file(),
        "a degraded frame is still written"
    );
    assert!(!r.text().contains("cuda_call.cc"), "{}", r.text());
    let r = run(&mut args("b.exr", true));
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(r.text().contains("out of GPU memory"), "{}", r.text());
}
