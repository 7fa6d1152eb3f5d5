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
