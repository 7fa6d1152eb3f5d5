//! A farm sees every failure (issue 16): relative bundle paths work (row 3), a frame the node
//! passed through on an error fails the render and is named (row 4), and values a half float
//! cannot hold are clamped and reported when written. Rows 5 and 6 are in cli_bad_input.rs.

mod common;
use common::cli::*;
use ofx_test_host::imageio::{read_exr_channels, read_image};
use ofx_test_host::{bundle_path, BUNDLE_NAME};

/// Keys with the network and checks the result is a key, not the plate.
fn assert_keyed(path: &std::path::Path) {
    let img = read_image(path, false).unwrap();
    let alpha: Vec<f32> = img.data.chunks_exact(4).map(|p| p[3]).collect();
    let min = alpha.iter().cloned().fold(1f32, f32::min);
    assert!(
        min < 0.1,
        "{}: alpha never drops ({min}): not keyed",
        path.display()
    );
}

#[test]
fn relative_bundle_and_plugin_path_key_frames() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-relative");
    sample(&dir.join("p.exr"), 96, 64, 0);
    let bundle = bundle_path();
    let bundle = bundle.canonicalize().unwrap();
    // Run from two levels above the bundle and name it relatively, as `--bundle build/...` and
    // `OFX_PLUGIN_PATH=build` do; the model folder is relative too.
    let root = bundle.parent().unwrap().parent().unwrap();
    let parent = bundle
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let rel_bundle = format!("{parent}/{BUNDLE_NAME}");
    let model = ofx_test_host::test_model_dir()
        .unwrap()
        .canonicalize()
        .unwrap();
    let rel_model = pathdiff(&model, root);
    for how in ["--bundle", "OFX_PLUGIN_PATH"] {
        let out = dir.join(format!("{how}.exr"));
        let mut c = ofx_render();
        c.current_dir(root)
            .env_remove("CORRIDORKEY_BUNDLE")
            .arg(dir.join("p.exr"))
            .arg("-o")
            .arg(&out)
            .args(["--model-dir", &rel_model, "--param", "device=3"]);
        if how == "--bundle" {
            c.args(["--bundle", &rel_bundle]);
        } else {
            c.env("OFX_PLUGIN_PATH", parent);
        }
        let r = ok(&mut c);
        assert!(!r.text().contains("absolute"), "{how}: {}", r.text());
        assert!(!r.text().contains("PASSED THROUGH"), "{how}: {}", r.text());
        assert_keyed(&out);
    }
}

/// `to` relative to `from` (both absolute), with `..` where needed.
fn pathdiff(to: &std::path::Path, from: &std::path::Path) -> String {
    let t: Vec<_> = to.components().collect();
    let f: Vec<_> = from.components().collect();
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

#[test]
fn passed_through_frames_fail_the_render_and_are_named() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-passthrough");
    sample_sequence(&dir.join("in"), 1..=3, 64, 48);
    let nowhere = dir.join("no-model-here");
    let job = |allow: bool, out: &str| {
        let mut c = ofx_render();
        c.arg(dir.join("in/plate.####.exr"))
            .arg("-o")
            .arg(dir.join(out).join("k.####.exr"))
            .args(["--model-dir", s(&nowhere), "--log-json", "-"]);
        if allow {
            c.arg("--allow-passthrough");
        }
        c
    };
    let r = run(&mut job(false, "strict"));
    assert_eq!(r.code, Some(2), "{}", r.text());
    assert!(
        r.stderr
            .contains("passed the source through on an error for frames 1, 2, 3"),
        "{}",
        r.stderr
    );
    assert!(
        files(&dir.join("strict")).is_empty(),
        "unkeyed plates written as frames"
    );
    for l in r.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["status"], "passthrough", "{l}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("passing the source through"),
            "{l}"
        );
    }

    // --allow-passthrough: today's behaviour, the plates written, exit 0, still named.
    let r = run(&mut job(true, "lenient"));
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(r.stderr.contains("frames 1, 2, 3"), "{}", r.stderr);
    let plate = read_image(&dir.join("in/plate.0002.exr"), false).unwrap();
    let out = read_image(&dir.join("lenient/k.0002.exr"), false).unwrap();
    assert_eq!(
        out.data, plate.data,
        "the passed-through frame is the plate"
    );
}

#[test]
fn values_beyond_half_floats_are_clamped_and_reported() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-half");
    // A float EXR plate with a few values a half cannot hold.
    let (w, h) = (32usize, 16usize);
    let plate = dir.join("hot.exr");
    exr::prelude::write_rgba_file(&plate, w, h, |x, y| {
        let v = match (x, y) {
            (0, 0) => 1e6f32,
            (1, 0) => -3e38,
            _ => 0.25,
        };
        (v, 0.5f32, 0.1f32, 1.0f32)
    })
    .unwrap();
    let out = dir.join("o.exr");
    let r = run(ofx_render()
        .arg(&plate)
        .arg("-o")
        .arg(&out)
        .args(["--model-dir", s(&dir.join("none")), "--allow-passthrough"])
        .args(["--log-json", "-"]));
    assert_eq!(r.code, Some(0), "{}", r.text());
    let v: serde_json::Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("2 values beyond the half-float range clamped"),
        "{warnings}"
    );
    let (_, _, ch) = read_exr_channels(&out).unwrap();
    let red = &ch.iter().find(|(n, _)| n == "R").unwrap().1;
    // Row 0 of the file is the top row: bottom-up index (h - 1) * w.
    assert_eq!(red[(h - 1) * w], 65504.0);
    assert_eq!(red[(h - 1) * w + 1], -65504.0);
    assert!(red.iter().all(|v| v.is_finite()));
}
