//! Renders that need no model: the Hint view (built-in chroma key and hint clips), depths, render
//! scale, rowBytes sign, absent hint clips, clip preferences per output mode, concurrency, and the
//! missing-model passthrough.

mod common;
use common::*;
use ofx_test_host::synthetic::{downscale_rgba, iou};
use ofx_test_host::{
    image_from_rgba, BitDepth, Components, Input, Plugin, RenderRequest, FILTER, GENERAL,
};

#[test]
fn builtin_hint_matches_the_known_foreground() {
    let plugin = Plugin::shared();
    // HD, so the default 7 px erode (a fixed pixel count) costs little IoU.
    let p = plate(1280, 720, 0);
    for ctx in [FILTER, GENERAL] {
        let inst = keyed(plugin, ctx, &p, SHOW_HINT);
        inst.set_int("hintSource", HINT_BUILTIN).unwrap();
        let out = render(&inst, 0.0);
        let matte = channel(&out, 0);
        let score = iou(&matte, &p.alpha, 0.5);
        assert!(
            score >= 0.95,
            "[{ctx}] IoU of the Hint view with the known foreground: {score:.4}"
        );
        // Without the erode the chroma key alone must be near exact.
        inst.set_int("hintErode", 0).unwrap();
        let raw = iou(&channel(&render(&inst, 0.0), 0), &p.alpha, 0.5);
        assert!(
            raw >= 0.99,
            "[{ctx}] IoU of the un-eroded built-in key: {raw:.4}"
        );
        assert!(
            channel(&out, 3).iter().all(|a| (*a - 1.0).abs() < 1e-6),
            "[{ctx}] Hint view must be opaque"
        );
        assert!(
            out.iter()
                .all(|v| v.is_finite() && (-1e-6..=1.0 + 1e-6).contains(v)),
            "[{ctx}] Hint values out of 0..1"
        );
    }
}

#[test]
fn absent_hint_clip_falls_back_to_the_builtin_key() {
    let plugin = Plugin::shared();
    let p = plate(320, 240, 1);
    let reference = {
        let inst = keyed(plugin, GENERAL, &p, SHOW_HINT);
        inst.set_int("hintSource", HINT_BUILTIN).unwrap();
        render(&inst, 0.0)
    };
    for (what, input) in [
        ("unconnected", Input::Unconnected),
        ("NULL image", Input::NullImage),
    ] {
        let inst = keyed(plugin, GENERAL, &p, SHOW_HINT);
        inst.set_int("hintSource", HINT_CLIP).unwrap();
        inst.set_input("AlphaHint", input).unwrap();
        let out = render(&inst, 0.0);
        assert_eq!(
            max_abs_diff(&out, &reference),
            0.0,
            "AlphaHint {what} must behave as the built-in key"
        );
        // The documented default behaviour, not a problem: no warning badge on the node.
        assert!(
            inst.persistent_message().is_none(),
            "AlphaHint {what}: unexpected persistent message {:?}",
            inst.persistent_message()
        );
    }
}

#[test]
fn connected_hint_clip_drives_the_hint() {
    let plugin = Plugin::shared();
    let (w, h) = (320, 240);
    let p = plate(w, h, 2);
    // A box hint unrelated to the figure: the Hint view must follow the clip, not the plate.
    let mut boxed = vec![0f32; w * h * 4];
    let mut truth = vec![0f32; w * h];
    for y in 60..180 {
        for x in 40..200 {
            boxed[(y * w + x) * 4 + 3] = 1.0;
            truth[y * w + x] = 1.0;
        }
    }
    for comps in [Components::Alpha, Components::Rgba] {
        let inst = keyed(plugin, GENERAL, &p, SHOW_HINT);
        inst.set_int("hintSource", HINT_CLIP).unwrap();
        let hint = image_from_rgba(w, h, &boxed, BitDepth::Float, comps, false).unwrap();
        inst.set_input("AlphaHint", Input::Image(hint)).unwrap();
        let out = render(&inst, 0.0);
        let score = iou(&channel(&out, 0), &truth, 0.5);
        assert!(
            score >= 0.9,
            "{comps:?} hint clip: IoU with the box {score:.4}"
        );
    }
}

#[test]
fn depths_give_consistent_results() {
    let plugin = Plugin::shared();
    let p = plate(320, 240, 3);
    let mut outs = Vec::new();
    for depth in [BitDepth::Float, BitDepth::Short, BitDepth::Byte] {
        let inst = keyed(plugin, GENERAL, &p, SHOW_HINT);
        inst.set_int("hintSource", HINT_BUILTIN).unwrap();
        // Inputs at the depth; the output at the same depth (a host without multiple clip depths).
        set_plate(&inst, &p, depth, false);
        let img = inst
            .render(&RenderRequest {
                depth: Some(depth),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{depth:?}: {e}"));
        assert_eq!(img.depth(), depth);
        outs.push((depth, channel(&img.to_rgba().unwrap(), 0)));
    }
    let (_, f) = &outs[0];
    for (d, m) in &outs[1..] {
        let mad = mean_abs_diff(f, m);
        assert!(mad < 0.01, "{d:?} vs float: mean abs diff {mad}");
        let score = iou(f, m, 0.5);
        assert!(score > 0.98, "{d:?} vs float: IoU {score}");
    }
}

#[test]
fn negative_row_bytes_give_the_same_pixels() {
    let plugin = Plugin::shared();
    let p = plate(256, 160, 4);
    let run = |negative: bool, pad: usize| {
        let inst = keyed(plugin, FILTER, &p, SHOW_HINT);
        inst.set_int("hintSource", HINT_BUILTIN).unwrap();
        set_plate(&inst, &p, BitDepth::Float, negative);
        let img = inst
            .render(&RenderRequest {
                negative_row_bytes: negative,
                row_padding: pad,
                depth: Some(BitDepth::Float),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(img.row_bytes() < 0, negative);
        img.to_rgba().unwrap()
    };
    let pos = run(false, 0);
    assert_eq!(
        max_abs_diff(&pos, &run(true, 0)),
        0.0,
        "negative rowBytes changed the pixels"
    );
    assert_eq!(
        max_abs_diff(&pos, &run(true, 12)),
        0.0,
        "padded negative rowBytes changed the pixels"
    );
}

#[test]
fn render_scale_half() {
    let plugin = Plugin::shared();
    let p = plate(640, 480, 5);
    let (small, w, h) = downscale_rgba(&p.rgba, p.width, p.height, 2);
    let (truth, _, _) = downscale_rgba(
        &p.alpha.iter().flat_map(|a| [*a; 4]).collect::<Vec<_>>(),
        p.width,
        p.height,
        2,
    );
    let inst = plugin.create_instance(GENERAL).unwrap();
    inst.set_int("show", SHOW_HINT).unwrap();
    inst.set_int("hintSource", HINT_BUILTIN).unwrap();
    let mut img = image_from_rgba(w, h, &small, BitDepth::Float, Components::Rgba, false).unwrap();
    img.render_scale = [0.5, 0.5];
    inst.set_input("Source", Input::Image(img)).unwrap();
    let rod = inst.region_of_definition(0.0, 0.5).unwrap();
    if let Some(r) = rod {
        assert_eq!(
            r,
            [0.0, 0.0, 640.0, 480.0],
            "RoD must be the Source RoD in canonical coordinates"
        );
    }
    let out = inst
        .render(&RenderRequest {
            render_scale: 0.5,
            depth: Some(BitDepth::Float),
            ..Default::default()
        })
        .unwrap();
    assert_eq!((out.width(), out.height()), (w, h));
    let matte = channel(&out.to_rgba().unwrap(), 0);
    let score = iou(&matte, &channel(&truth, 0), 0.5);
    assert!(score >= 0.93, "half-scale Hint IoU {score:.4}");
}

#[test]
fn regions_of_interest_are_full_frame() {
    let plugin = Plugin::shared();
    let p = plate(200, 100, 0);
    let inst = keyed(plugin, GENERAL, &p, SHOW_PREMULTIPLIED);
    let (status, out) = inst
        .regions_of_interest(0.0, 1.0, [10.0, 10.0, 50.0, 50.0])
        .unwrap();
    if status == ofx_test_host::status::OK {
        let roi = out.get_double("OfxImageClipPropRoI_Source").unwrap();
        assert!(
            roi[0] <= 0.0 && roi[1] <= 0.0 && roi[2] >= 200.0 && roi[3] >= 100.0,
            "Source RoI {roi:?} must cover the frame"
        );
    }
}

#[test]
fn clip_preferences_per_output_mode() {
    let plugin = Plugin::shared();
    let p = plate(64, 48, 0);
    let expect = [
        (SHOW_PREMULTIPLIED, "OfxImageAlphaPremultiplied"),
        (SHOW_UNPREMULTIPLIED, "OfxImageAlphaUnPremultiplied"),
        (SHOW_MATTE, "OfxImageOpaque"),
        (SHOW_FOREGROUND, "OfxImageAlphaUnPremultiplied"),
        (SHOW_COMPOSITE, "OfxImageAlphaPremultiplied"),
        (SHOW_STATUS, "OfxImageOpaque"),
        (SHOW_HINT, "OfxImageOpaque"),
    ];
    for ctx in [FILTER, GENERAL] {
        let inst = keyed(plugin, ctx, &p, 0);
        for (show, premult) in expect {
            inst.set_int("show", show).unwrap();
            let prefs = inst.clip_preferences().expect("getClipPreferences");
            assert_eq!(
                prefs.get_str("OfxImageEffectPropPreMultiplication"),
                Some(vec![premult.to_owned()]),
                "[{ctx}] show={show}"
            );
            assert_eq!(
                prefs.get_str("OfxImageClipPropComponents_Output"),
                Some(vec!["OfxImageComponentRGBA".to_owned()])
            );
            assert_eq!(prefs.get_int("OfxImageEffectFrameVarying"), Some(vec![0]));
        }
    }
}

#[test]
fn eight_threads_match_a_serial_run() {
    let plugin = Plugin::shared();
    let plates: Vec<_> = (0..8).map(|f| plate(192, 128, f)).collect();
    let run = |f: usize| {
        let inst = keyed(plugin, GENERAL, &plates[f], SHOW_HINT);
        inst.set_int("hintSource", HINT_BUILTIN).unwrap();
        render(&inst, f as f64)
    };
    let serial = assert_threads_match_serial(8, run);
    assert_ne!(serial[0], serial[7], "frames should differ");
}

#[test]
fn missing_model_folder_passes_the_source_through_with_a_persistent_message() {
    let plugin = Plugin::shared();
    let p = plate(160, 120, 6);
    let dir = empty_dir("nomodel");
    let inst = keyed(plugin, GENERAL, &p, SHOW_PREMULTIPLIED);
    inst.set_string("modelFolder", dir.to_str().unwrap())
        .unwrap();
    let out = render(&inst, 0.0);
    assert_eq!(
        max_abs_diff(&out, &p.rgba),
        0.0,
        "output must be the source unchanged"
    );
    let m = inst
        .persistent_message()
        .expect("no persistent message for a missing model");
    assert!(
        m.text.contains(dir.to_str().unwrap()),
        "persistent message must name the folder: {m:?}"
    );
    assert!(
        m.kind.contains("Error") || m.kind.contains("Warning"),
        "message kind {m:?}"
    );
}

/// Issue 26: settings the node cannot apply as set are said on the info line (and in the log),
/// not silently ignored: clip points with black >= white, and an inverted built-in hue window.
#[test]
fn settings_that_cannot_apply_are_said_on_the_info_line() {
    let plugin = Plugin::shared();
    let p = plate(64, 48, 0);
    let inst = keyed(plugin, GENERAL, &p, SHOW_HINT);
    inst.set_int("hintSource", HINT_BUILTIN).unwrap();
    let info = |inst: &ofx_test_host::Instance<'_>| match inst
        .effect()
        .params()
        .get("info")
        .unwrap()
        .value()
    {
        ofx_test_host::ParamValue::Str(s) => s,
        v => panic!("info is {v:?}"),
    };
    render(&inst, 0.0);
    let fine = info(&inst);
    assert!(
        !fine.contains("clipBlack") && !fine.contains("hintHueMin"),
        "{fine}"
    );
    inst.set_double("clipBlack", 0.6).unwrap();
    inst.set_double("clipWhite", 0.4).unwrap();
    inst.set_double("hintHueMin", 100.0).unwrap();
    inst.set_double("hintHueMax", 40.0).unwrap();
    let out = render(&inst, 1.0);
    let said = info(&inst);
    assert!(said.contains("clipBlack 0.6 >= clipWhite 0.4"), "{said}");
    assert!(said.contains("hintHueMin 100 > hintHueMax 40"), "{said}");
    // And it does what it says: the inverted window finds no screen.
    assert!(
        channel(&out, 0).iter().all(|v| *v > 0.99),
        "an inverted window keyed some screen"
    );
}
