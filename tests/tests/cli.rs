//! The `ofx-render` command: sample plate, EXR and PNG inputs, sequences, preview, failures.

mod common;
use ofx_test_host::imageio::{read_image, write_png_preview, Rgba};
use ofx_test_host::synthetic::{green_screen_plate, iou};
use std::process::Command;

fn ofx_render() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ofx-render"));
    c.env_remove("CORRIDORKEY_TEST_PANIC");
    c
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ofx-render failed: {text}");
    text
}

fn matte(img: &Rgba) -> Vec<f32> {
    img.data.chunks_exact(4).map(|p| p[0]).collect()
}

#[test]
fn sample_plate_exr_and_png_through_the_hint_view() {
    ofx_test_host::Plugin::shared(); // the reason, if the bundle is missing
    let dir = common::empty_dir("cli");
    let plate_path = dir.join("plate.exr");
    run_ok(ofx_render().args([
        "--write-sample-plate",
        plate_path.to_str().unwrap(),
        "--size",
        "320x180",
    ]));
    let truth = green_screen_plate(320, 180, 0);
    let plate = read_image(&plate_path, false).unwrap();
    assert_eq!((plate.width, plate.height), (320, 180));
    let err = plate
        .data
        .iter()
        .zip(&truth.rgba)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        err < 2e-3,
        "sample plate differs from the generator by {err} (half floats)"
    );

    let out = dir.join("out.exr");
    let preview = dir.join("out.png");
    let text = run_ok(ofx_render().args([
        plate_path.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--show",
        "Hint",
        "--param",
        "hintSource=Built-in chroma key",
        "--param",
        "hintErode=0",
        "--preview",
        preview.to_str().unwrap(),
    ]));
    assert!(text.contains("ms)"), "no per-frame time printed: {text}");
    let keyed = read_image(&out, false).unwrap();
    let score = iou(&matte(&keyed), &truth.alpha, 0.5);
    assert!(score >= 0.98, "EXR in, Hint view IoU {score}");
    let pv = image::open(&preview).unwrap();
    assert_eq!((pv.width(), pv.height()), (320, 180));

    // PNG input (sRGB): decoded to linear, so the key matches the EXR one.
    let png = dir.join("plate.png");
    write_png_preview(&png, &plate).unwrap();
    let out_png = dir.join("out_png.exr");
    run_ok(ofx_render().args([
        png.to_str().unwrap(),
        "-o",
        out_png.to_str().unwrap(),
        "--show",
        "6",
        "--param",
        "hintSource=2",
        "--param",
        "hintErode=0",
        "--context",
        "filter",
    ]));
    let score = iou(
        &matte(&read_image(&out_png, false).unwrap()),
        &truth.alpha,
        0.5,
    );
    assert!(score >= 0.97, "PNG in, Hint view IoU {score}");
}

#[test]
fn sequence_directory_and_render_scale() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-seq");
    let seq = dir.join("seq");
    std::fs::create_dir_all(&seq).unwrap();
    for f in 0..3 {
        let p = seq.join(format!("plate.{f:04}.exr"));
        run_ok(ofx_render().args([
            "--write-sample-plate",
            p.to_str().unwrap(),
            "--size",
            "128x96",
            "--frame",
            &f.to_string(),
        ]));
    }
    let out = dir.join("out");
    let text = run_ok(ofx_render().args([
        seq.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--show",
        "Hint",
        "--render-scale",
        "0.5",
        "--frames",
        "1-2",
    ]));
    assert_eq!(text.matches("ms)").count(), 2, "{text}");
    assert!(
        !out.join("plate.0000.exr").exists(),
        "--frames 1-2 rendered frame 0"
    );
    for f in 1..3 {
        let img = read_image(&out.join(format!("plate.{f:04}.exr")), false).unwrap();
        assert_eq!(
            (img.width, img.height),
            (64, 48),
            "render scale 0.5 output size"
        );
    }
}

#[test]
fn a_failing_render_exits_non_zero_with_the_message() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-fail");
    let plate = dir.join("p.exr");
    run_ok(ofx_render().args([
        "--write-sample-plate",
        plate.to_str().unwrap(),
        "--size",
        "64x48",
    ]));
    let out = ofx_render()
        .args([
            plate.to_str().unwrap(),
            "-o",
            dir.join("o.exr").to_str().unwrap(),
            "--show",
            "Hint",
        ])
        .env("CORRIDORKEY_TEST_PANIC", "OfxImageEffectActionRender")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("FAILED") && text.contains("kOfxStatFailed"),
        "{text}"
    );
    let bad = ofx_render().args(["--param", "nope"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
}

fn output_of(c: &mut Command) -> (Option<i32>, String) {
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn sample_plate(dir: &std::path::Path, name: &str, size: &str) -> String {
    let p = dir.join(name);
    run_ok(ofx_render().args(["--write-sample-plate", p.to_str().unwrap(), "--size", size]));
    p.to_str().unwrap().to_owned()
}

#[test]
fn a_frame_passed_through_because_of_an_error_fails_the_render() {
    // Issue 16: a farm delivered unkeyed plates as finished frames (exit 0).
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-passthrough");
    let plate = sample_plate(&dir, "p.exr", "64x48");
    let missing = dir.join("no-such-model");
    let out = dir.join("o.exr");
    let args = [
        plate.as_str(),
        "-o",
        out.to_str().unwrap(),
        "--model-dir",
        missing.to_str().unwrap(),
        "--param",
        "device=3",
    ];
    let (code, text) = output_of(ofx_render().args(args));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("frame 0") && text.contains("PASSED THROUGH"),
        "{text}"
    );
    assert!(text.contains("frames 0 were passed through"), "{text}");
    assert!(!out.exists(), "a passed-through frame was written as done");
    // --allow-passthrough: today's behaviour, the source written, exit 0 (still named).
    let (code, text) = output_of(ofx_render().args(args).arg("--allow-passthrough"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("PASSED THROUGH"), "{text}");
    let written = read_image(&out, false).unwrap();
    let source = read_image(std::path::Path::new(&plate), false).unwrap();
    assert_eq!(written.data, source.data, "the source passes through");
}

#[test]
fn empty_frame_ranges_and_empty_render_scales_are_refused_before_rendering() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-empty");
    let plate = sample_plate(&dir, "p.exr", "64x48");
    let tiny = sample_plate(&dir, "tiny.exr", "1x1");
    let out = dir.join("o.exr");
    let o = out.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&[&plate, "-o", o, "--frames", "3-1"], "selects no frame"),
        (&[&plate, "-o", o, "--render-scale", "0"], "--render-scale"),
        (&[&plate, "-o", o, "--render-scale", "-1"], "--render-scale"),
        (
            &[&plate, "-o", o, "--render-scale", "NaN"],
            "--render-scale",
        ),
        (&[&tiny, "-o", o, "--render-scale", "0.5"], "no pixels"),
    ];
    for (args, want) in cases {
        let (code, text) = output_of(ofx_render().args(args));
        assert_eq!(code, Some(1), "{args:?}: {text}");
        assert!(text.contains(want), "{args:?}: {text}");
        assert!(!text.contains("ms)"), "{args:?} rendered: {text}");
        assert!(!out.exists(), "{args:?} wrote an output");
    }
    // A sequence range past its end is refused up front too.
    let seq = dir.join("seq");
    std::fs::create_dir_all(&seq).unwrap();
    sample_plate(&seq, "a.0000.exr", "32x32");
    let (code, text) = output_of(ofx_render().args([
        seq.to_str().unwrap(),
        "-o",
        dir.join("seq-out").to_str().unwrap(),
        "--frames",
        "0-4",
    ]));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("0-0") && !text.contains("ms)"), "{text}");
}

#[test]
fn a_relative_bundle_path_works() {
    // Issue 16: `--bundle build/CorridorKey.ofx.bundle` (as a host with a relative OFX_PLUGIN_PATH)
    // made the plugin refuse its own runtime library ("the library path must be absolute").
    ofx_test_host::Plugin::shared();
    let bundle = ofx_test_host::bundle_path().canonicalize().unwrap();
    let parent = bundle.parent().unwrap();
    let (cwd, rel) = (
        parent.parent().unwrap(),
        std::path::Path::new(parent.file_name().unwrap()).join(bundle.file_name().unwrap()),
    );
    let dir = common::empty_dir("cli-relative");
    let plate = sample_plate(&dir, "p.exr", "96x64");
    let model = ofx_test_host::test_model_dir().unwrap();
    let out = dir.join("o.exr");
    let text = run_ok(ofx_render().current_dir(cwd).args([
        plate.as_str(),
        "-o",
        out.to_str().unwrap(),
        "--bundle",
        rel.to_str().unwrap(),
        "--model-dir",
        model.to_str().unwrap(),
        "--param",
        "device=3",
    ]));
    assert!(!text.contains("[persistent"), "{text}");
    let keyed = read_image(&out, false).unwrap();
    let source = read_image(std::path::Path::new(&plate), false).unwrap();
    assert_ne!(keyed.data, source.data, "the frame was not keyed: {text}");
}
