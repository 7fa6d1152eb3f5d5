//! `ofx-render` outputs from one keyed render: the multi-layer EXR (RGBA + matte + hint), every
//! view and the contact sheet, the JSON log with the node's tile counts, and `--threads`.

mod common;
use common::cli::*;
use common::max_abs_diff;
use ofx_test_host::imageio::{read_exr_channels, read_image};

fn channel<'a>(ch: &'a [(String, Vec<f32>)], name: &str) -> &'a [f32] {
    &ch.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no channel {name}"))
        .1
}

#[test]
fn layers_hold_the_key_its_matte_and_the_hint() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-layers");
    let (w, h) = (160, 96);
    sample(&dir.join("p.exr"), w, h, 2);
    let layered = dir.join("layered.exr");
    ok(ofx_render()
        .arg(dir.join("p.exr"))
        .arg("-o")
        .arg(&layered)
        .arg("--layers")
        .args(model_args()));
    let (lw, lh, ch) = read_exr_channels(&layered).unwrap();
    assert_eq!((lw, lh), (w, h));
    let mut names: Vec<&str> = ch.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(names, ["A", "B", "G", "R", "hint.A", "matte.A"]);
    assert_eq!(channel(&ch, "matte.A"), channel(&ch, "A"));
    let a = channel(&ch, "A");
    let spread = a.iter().cloned().fold(0f32, f32::max) - a.iter().cloned().fold(1f32, f32::min);
    assert!(spread > 0.5, "the key's alpha is flat ({spread})");

    // The same frame rendered plainly, and as the node's Hint view.
    let plain = dir.join("plain.exr");
    ok(ofx_render()
        .arg(dir.join("p.exr"))
        .arg("-o")
        .arg(&plain)
        .args(model_args()));
    let plain = read_image(&plain, false).unwrap();
    let rgba: Vec<f32> = (0..w * h)
        .flat_map(|i| ["R", "G", "B", "A"].map(|c| channel(&ch, c)[i]))
        .collect();
    assert!(
        max_abs_diff(&rgba, &plain.data) < 1e-3,
        "RGBA differs from a plain render"
    );
    let hint = dir.join("hint.exr");
    ok(ofx_render()
        .arg(dir.join("p.exr"))
        .arg("-o")
        .arg(&hint)
        .args(["--show", "Hint"])
        .args(model_args()));
    let hint: Vec<f32> = read_image(&hint, false)
        .unwrap()
        .data
        .chunks_exact(4)
        .map(|p| p[0])
        .collect();
    assert_eq!(channel(&ch, "hint.A"), &hint[..]);
}

#[test]
fn views_and_contact_sheet_from_one_render_with_a_json_log() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-views");
    let (w, h) = (160, 96);
    sample_sequence(&dir.join("in"), [11, 12], w, h);
    let log = dir.join("log.jsonl");
    let r = ok(ofx_render()
        .arg(dir.join("in/plate.####.exr"))
        .arg("-o")
        .arg(dir.join("out/k.####.exr"))
        .arg("--views")
        .arg(dir.join("views"))
        .arg("--log-json")
        .arg(&log)
        .args(model_args()));
    for v in [
        "key",
        "hint",
        "matte",
        "composite",
        "status",
        "contact-sheet",
    ] {
        assert_eq!(
            files(&dir.join("views").join(v)),
            ["k.0011.png", "k.0012.png"],
            "{v}: {}",
            r.text()
        );
    }
    let sheet = image::open(dir.join("views/contact-sheet/k.0012.png")).unwrap();
    assert_eq!(
        sheet.width(),
        5 * w as u32 + 6 * 4,
        "five panels side by side"
    );
    let matte = image::open(dir.join("views/matte/k.0011.png"))
        .unwrap()
        .to_luma8();
    let key = read_exr_channels(&dir.join("out/k.0011.exr")).unwrap().2;
    // The matte view is the key's alpha (top-down PNG vs bottom-up EXR rows).
    let a = channel(&key, "A");
    let top_left_alpha = a[(h - 1) * w];
    let srgb = matte.get_pixel(0, 0).0[0] as f32 / 255.0;
    let linear = ofx_test_host::imageio::srgb_to_linear(srgb);
    assert!(
        (linear - top_left_alpha).abs() < 0.02,
        "{linear} vs {top_left_alpha}"
    );

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (l, frame) in lines.iter().zip([11, 12]) {
        assert_eq!(l["frame"], frame, "{l}");
        assert_eq!(l["status"], "ok", "{l}");
        assert!(l["ms"].as_f64().unwrap() > 0.0, "{l}");
        let run = l["tiles_run"]
            .as_u64()
            .expect("tiles_run from the node's info line");
        let skipped = l["tiles_skipped"].as_u64().expect("tiles_skipped");
        assert!(run + skipped > 0, "{l}");
        assert!(l["warnings"].is_array(), "{l}");
    }
}

#[test]
fn threads_narrows_the_cpus_the_node_sees() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-threads");
    sample(&dir.join("p.exr"), 64, 48, 0);
    let r = ok(ofx_render()
        .arg(dir.join("p.exr"))
        .arg("-o")
        .arg(dir.join("o.exr"))
        .args(["--threads", "1"])
        .args(model_args()));
    assert!(r.stdout.contains("running on 1 CPUs"), "{}", r.stdout);
    assert!(dir.join("o.exr").is_file());
}
