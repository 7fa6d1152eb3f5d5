//! Bad models and bad inputs through `Engine::render` (real ONNX Runtime, CPU).

mod engine_common;

use corridorkey::engine::{
    Engine, EngineError, FrameInput, HintSource, KeyParams, MatteImage, OutputMode, RgbaImage,
};
use engine_common::*;

fn green_plate(w: usize, h: usize) -> RgbaImage {
    let mut img = RgbaImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let subject = x > w / 3 && x < 2 * w / 3 && y > h / 4;
            let px = if subject {
                [0.4, 0.25, 0.2, 1.0]
            } else {
                [0.02, 0.45, 0.03, 1.0]
            };
            img.data[(y * w + x) * 4..][..4].copy_from_slice(&px);
        }
    }
    img
}

fn params(mode: OutputMode) -> KeyParams {
    KeyParams {
        inference_size: 128,
        output: mode,
        hint_source: HintSource::ChromaKey,
        ..Default::default()
    }
}

fn render(
    dir: &std::path::Path,
    src: &RgbaImage,
    mode: OutputMode,
) -> Result<corridorkey::engine::FrameOutput, EngineError> {
    let input = FrameInput {
        source: src,
        hint: None,
        garbage: None,
        core: None,
    };
    Engine::new().render(&input, &params(mode), &runtime(dir.to_path_buf()), &|| {
        false
    })
}

#[test]
fn missing_model_fails_except_hint_and_status() {
    let dir = std::env::temp_dir().join(format!("ck-no-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = green_plate(160, 100);
    let err = render(&dir, &src, OutputMode::Premultiplied).unwrap_err();
    assert!(matches!(err, EngineError::ModelMissing { .. }), "{err}");
    let hint = render(&dir, &src, OutputMode::Hint).unwrap();
    assert!(hint
        .image
        .data
        .chunks(4)
        .all(|p| p[3] == 1.0 && p[0] == p[1]));
    // the subject is 1 in the hint, the screen 0
    assert_eq!(hint.image.data[(70 * 160 + 80) * 4], 1.0);
    assert_eq!(hint.image.data[(5 * 160 + 2) * 4], 0.0);
    let status = render(&dir, &src, OutputMode::Status).unwrap();
    assert!(
        status.warnings.iter().any(|w| w.contains("no model")),
        "{:?}",
        status.warnings
    );
    assert_eq!(status.image.data[(70 * 160 + 80) * 4], 1.0);
    assert_eq!(status.image.data[(5 * 160 + 2) * 4], 0.0);
    let missing_dir = render(&dir.join("nope"), &src, OutputMode::Matte).unwrap_err();
    assert!(matches!(missing_dir, EngineError::ModelMissing { .. }));
    let _ = std::fs::remove_dir_all(&dir);
    let info = Engine::new().describe(&runtime(dir.clone()), 2048);
    assert!(info.contains("no CorridorKey model"), "{info}");
}

#[test]
fn corrupt_graph_is_model_invalid() {
    let set = TempSet::copy("small_s128", "corrupt");
    let path = set.0.join("coarse_128.fp32.onnx");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let err = render(&set.0, &green_plate(50, 30), OutputMode::Premultiplied).unwrap_err();
    match err {
        EngineError::ModelInvalid { detail, .. } => {
            assert!(detail.to_string().contains("sha256"), "{detail}")
        }
        e => panic!("expected ModelInvalid, got {e}"),
    }
}

#[test]
fn missing_graph_and_bad_schema_are_model_invalid() {
    let set = TempSet::copy("small_s128", "missing-graph");
    std::fs::remove_file(set.0.join("refiner.fp32.onnx")).unwrap();
    let err = render(&set.0, &green_plate(50, 30), OutputMode::Premultiplied).unwrap_err();
    match err {
        EngineError::ModelInvalid { detail, .. } => {
            assert!(detail.to_string().contains("refiner.fp32.onnx"), "{detail}")
        }
        e => panic!("expected ModelInvalid, got {e}"),
    }
    let set = TempSet::copy("small_s128", "schema");
    let m = std::fs::read_to_string(set.0.join("manifest.json")).unwrap();
    std::fs::write(
        set.0.join("manifest.json"),
        m.replace("corridorkey-model/1", "corridorkey-model/9"),
    )
    .unwrap();
    let err = render(&set.0, &green_plate(50, 30), OutputMode::Premultiplied).unwrap_err();
    assert!(matches!(err, EngineError::ModelInvalid { .. }), "{err}");
    std::fs::write(set.0.join("manifest.json"), "{not json").unwrap();
    let err = render(&set.0, &green_plate(50, 30), OutputMode::Premultiplied).unwrap_err();
    assert!(matches!(err, EngineError::ModelInvalid { .. }), "{err}");
}

#[test]
fn manifest_io_mismatch_is_model_invalid_and_says_what() {
    let set = TempSet::copy("small_s128", "mismatch");
    let text = std::fs::read_to_string(set.0.join("manifest.json")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    // the coarse graph's first output renamed in the manifest only
    m["graphs"][0]["outputs"][0]["name"] = "alpha".into();
    std::fs::write(
        set.0.join("manifest.json"),
        serde_json::to_string(&m).unwrap(),
    )
    .unwrap();
    let err = render(&set.0, &green_plate(50, 30), OutputMode::Premultiplied).unwrap_err();
    match err {
        EngineError::ModelInvalid { detail, .. } => {
            assert!(detail.to_string().contains("alpha_logits"), "{detail}")
        }
        e => panic!("expected ModelInvalid, got {e}"),
    }
    // a wrong static shape
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    m["graphs"][0]["inputs"][0]["shape"][2] = 256.into();
    std::fs::write(
        set.0.join("manifest.json"),
        serde_json::to_string(&m).unwrap(),
    )
    .unwrap();
    let err = render(&set.0, &green_plate(50, 30), OutputMode::Premultiplied).unwrap_err();
    match err {
        EngineError::ModelInvalid { detail, .. } => {
            assert!(detail.to_string().contains("shape"), "{detail}")
        }
        e => panic!("expected ModelInvalid, got {e}"),
    }
}

#[test]
fn closest_size_is_used_with_a_warning() {
    let dir = fixtures().join("small_s128");
    let src = green_plate(50, 30);
    let input = FrameInput {
        source: &src,
        hint: None,
        garbage: None,
        core: None,
    };
    let out = Engine::new()
        .render(
            &input,
            &KeyParams {
                inference_size: 2048,
                ..params(OutputMode::Matte)
            },
            &runtime(dir),
            &|| false,
        )
        .unwrap();
    assert!(
        out.notes.iter().any(|w| w.contains("closest size, 128")),
        "{:?}",
        out.notes
    );
    // An expected substitution is not a warning badge on the node.
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
}

#[test]
fn non_finite_pixels_are_sanitised_and_reported() {
    let dir = fixtures().join("small_s128");
    let mut src = green_plate(64, 40);
    src.data[0] = f32::NAN;
    src.data[1] = f32::INFINITY; // same pixel
    src.data[(10 * 64 + 10) * 4 + 2] = f32::NEG_INFINITY;
    let out = render(&dir, &src, OutputMode::Premultiplied).unwrap();
    assert_eq!(out.stats.non_finite_pixels, 2);
    assert!(
        out.warnings.iter().any(|w| w.contains("NaN")),
        "{:?}",
        out.warnings
    );
    assert!(out.image.data.iter().all(|v| v.is_finite()));
}

#[test]
fn zero_area_odd_sizes_and_wrong_hint_size() {
    let dir = fixtures().join("small_s128");
    let empty = RgbaImage::new(0, 0);
    let out = render(&dir, &empty, OutputMode::Premultiplied).unwrap();
    assert_eq!(
        (out.image.width, out.image.height, out.image.data.len()),
        (0, 0, 0)
    );
    for (w, h) in [(37, 23), (1, 1), (3, 301)] {
        let out = render(&dir, &green_plate(w, h), OutputMode::Premultiplied).unwrap();
        assert_eq!((out.image.width, out.image.height), (w, h));
        assert_eq!(out.image.data.len(), w * h * 4);
        assert!(out.image.data.iter().all(|v| v.is_finite()));
    }
    let src = green_plate(40, 30);
    let bad_hint = MatteImage::new(30, 40);
    let input = FrameInput {
        source: &src,
        hint: Some(&bad_hint),
        garbage: None,
        core: None,
    };
    let p = KeyParams {
        hint_source: HintSource::Clip,
        ..params(OutputMode::Premultiplied)
    };
    let err = Engine::new()
        .render(&input, &p, &runtime(dir.clone()), &|| false)
        .unwrap_err();
    assert!(matches!(err, EngineError::BadInput(_)), "{err}");
    let short = RgbaImage {
        width: 10,
        height: 10,
        data: vec![0.0; 12],
    };
    let input = FrameInput {
        source: &short,
        hint: None,
        garbage: None,
        core: None,
    };
    let err = Engine::new()
        .render(&input, &p, &runtime(dir), &|| false)
        .unwrap_err();
    assert!(matches!(err, EngineError::BadInput(_)), "{err}");
}

#[test]
fn garbage_and_core_override_and_abort_stops() {
    let dir = fixtures().join("small_s128");
    let src = green_plate(64, 40);
    let mut garbage = MatteImage::new(64, 40);
    let mut core = MatteImage::new(64, 40);
    for y in 0..40 {
        for x in 0..8 {
            garbage.data[y * 64 + x] = 1.0;
            core.data[y * 64 + 63 - x] = 1.0;
        }
    }
    let input = FrameInput {
        source: &src,
        hint: None,
        garbage: Some(&garbage),
        core: Some(&core),
    };
    let out = Engine::new()
        .render(
            &input,
            &params(OutputMode::Matte),
            &runtime(dir.clone()),
            &|| false,
        )
        .unwrap();
    for y in 0..40 {
        assert_eq!(out.image.data[(y * 64 + 2) * 4], 0.0);
        assert_eq!(out.image.data[(y * 64 + 62) * 4], 1.0);
    }
    let err = Engine::new()
        .render(&input, &params(OutputMode::Matte), &runtime(dir), &|| true)
        .unwrap_err();
    assert!(matches!(err, EngineError::Aborted));
}

#[test]
fn a_plate_beyond_the_size_bounds_is_refused_before_anything_is_allocated() {
    // No pixels behind it: the check must come before any buffer is sized from these numbers.
    let huge = RgbaImage {
        width: 1 << 20,
        height: 1 << 20,
        data: Vec::new(),
    };
    let dir = fixtures().join("small_s128");
    let err = render(&dir, &huge, OutputMode::Hint).unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::BadInput(corridorkey::engine::InputProblem::TooLarge { .. })
        ),
        "{err}"
    );
}

#[test]
fn a_failed_load_is_remembered_until_the_folder_changes() {
    // A 192 MB coarse graph whose hash is wrong: the first frame reads and hashes it; the next ones
    // answer from the remembered failure without reading it again (a stat per file, no hashing).
    let set = TempSet::copy("small_s128", "remembered");
    let path = set.0.join("coarse_128.fp32.onnx");
    let good = std::fs::read(&path).unwrap();
    let big = 192u64 << 20;
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(big)
        .unwrap();
    let text = std::fs::read_to_string(set.0.join("manifest.json")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    m["graphs"][0]["bytes"] = big.into();
    std::fs::write(set.0.join("manifest.json"), m.to_string()).unwrap();
    let engine = Engine::new();
    let src = green_plate(50, 30);
    let input = FrameInput {
        source: &src,
        hint: None,
        garbage: None,
        core: None,
    };
    let rt = runtime(set.0.clone());
    let p = params(OutputMode::Premultiplied);
    let key = |t: &mut Vec<f64>| {
        let t0 = std::time::Instant::now();
        let e = engine.render(&input, &p, &rt, &|| false).unwrap_err();
        t.push(t0.elapsed().as_secs_f64());
        assert!(e.to_string().contains("sha256"), "{e}");
    };
    let mut first = Vec::new();
    key(&mut first);
    let mut again = Vec::new();
    for _ in 0..3 {
        key(&mut again);
    }
    let worst = again.iter().cloned().fold(0.0, f64::max);
    assert!(
        worst * 4.0 < first[0],
        "remembered failures took up to {worst:.3} s, the first read {:.3} s",
        first[0]
    );
    // The folder changes (the right graph is put back): the next frame loads and keys.
    std::fs::write(&path, &good).unwrap();
    m["graphs"][0]["bytes"] = (good.len() as u64).into();
    std::fs::write(set.0.join("manifest.json"), m.to_string()).unwrap();
    let out = engine.render(&input, &p, &rt, &|| false).unwrap();
    assert!(out.image.data.iter().all(|v| v.is_finite()));
}
