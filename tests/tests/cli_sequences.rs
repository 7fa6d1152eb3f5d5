//! `ofx-render` sequences: `####` and `%04d` patterns, frame ranges with steps, numbered folders.
//! The Hint view keeps these fast (no network); each output is checked against its own frame.

mod common;
use common::cli::*;
use ofx_test_host::imageio::read_image;
use ofx_test_host::synthetic::{green_screen_plate, iou};

fn matte_of(path: &std::path::Path) -> Vec<f32> {
    read_image(path, false)
        .unwrap()
        .data
        .chunks_exact(4)
        .map(|p| p[0])
        .collect()
}

/// The output of `frame` keys that frame's plate (the figure moves every frame; eight frames on,
/// it is a few pixels away).
fn assert_keys_frame(path: &std::path::Path, frame: i64, w: usize, h: usize) {
    let truth = green_screen_plate(w, h, frame as u32);
    let other = green_screen_plate(w, h, frame as u32 + 8);
    let m = matte_of(path);
    let own = iou(&m, &truth.alpha, 0.5);
    let wrong = iou(&m, &other.alpha, 0.5);
    assert!(
        own > 0.9 && own > wrong + 0.05,
        "{}: IoU {own} with frame {frame}, {wrong} with another",
        path.display()
    );
}

const HINT: [&str; 6] = [
    "--show",
    "hint",
    "--param",
    "hintSource=Built-in chroma key",
    "--param",
    "hintErode=0",
];

#[test]
fn hash_pattern_with_a_stepped_range() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-hash");
    let (w, h) = (192, 108);
    sample_sequence(&dir.join("in"), 1001..=1006, w, h);
    let r = ok(ofx_render()
        .arg(dir.join("in/plate.####.exr"))
        .arg("-o")
        .arg(dir.join("out/keyed.####.exr"))
        .args(["--frames", "1001-1006x2"])
        .args(HINT));
    assert_eq!(
        files(&dir.join("out")),
        ["keyed.1001.exr", "keyed.1003.exr", "keyed.1005.exr"],
        "{}",
        r.text()
    );
    for f in [1001, 1003, 1005] {
        assert_keys_frame(&dir.join(format!("out/keyed.{f}.exr")), f, w, h);
    }
    // Plain per-frame lines off a terminal, with the time.
    assert_eq!(r.stdout.matches("ms)").count(), 3, "{}", r.stdout);
    assert!(r.stdout.contains("frame 1003:"), "{}", r.stdout);
}

#[test]
fn printf_pattern_renders_every_frame_there_is() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-printf");
    let (w, h) = (192, 108);
    sample_sequence(&dir.join("in"), [7, 8, 10], w, h);
    // Not part of the sequence: wrong padding, another name.
    std::fs::copy(dir.join("in/plate.0007.exr"), dir.join("in/plate.07.exr")).unwrap();
    std::fs::copy(dir.join("in/plate.0007.exr"), dir.join("in/other.0009.exr")).unwrap();
    ok(ofx_render()
        .arg(dir.join("in/plate.%04d.exr"))
        .arg("-o")
        .arg(dir.join("out/k_%d.exr"))
        .arg("--preview")
        .arg(dir.join("png/k.####.png"))
        .args(HINT));
    assert_eq!(files(&dir.join("out")), ["k_10.exr", "k_7.exr", "k_8.exr"]);
    assert_eq!(
        files(&dir.join("png")),
        ["k.0007.png", "k.0008.png", "k.0010.png"]
    );
    assert_keys_frame(&dir.join("out/k_10.exr"), 10, w, h);
}

#[test]
fn numbered_folder_uses_the_numbers_in_the_names() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-folder");
    let (w, h) = (192, 108);
    sample_sequence(&dir.join("in"), [1001, 1002, 1003], w, h);
    ok(ofx_render()
        .arg(dir.join("in"))
        .arg("-o")
        .arg(dir.join("out"))
        .args(["--frames", "1002,1003"])
        .args(HINT));
    assert_eq!(
        files(&dir.join("out")),
        ["plate.1002.exr", "plate.1003.exr"]
    );
    assert_keys_frame(&dir.join("out/plate.1002.exr"), 1002, w, h);
}

#[test]
fn a_still_rendered_over_a_range_needs_an_output_pattern() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-still");
    sample(&dir.join("p.exr"), 64, 48, 0);
    ok(ofx_render()
        .arg(dir.join("p.exr"))
        .arg("-o")
        .arg(dir.join("o.##.exr"))
        .args(["--frames", "1-3"])
        .args(HINT));
    assert_eq!(files(&dir), ["o.01.exr", "o.02.exr", "o.03.exr", "p.exr"]);
}
