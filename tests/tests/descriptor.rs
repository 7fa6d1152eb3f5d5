//! The bundle's descriptors against docs/PARAMS.md: identity, contexts, effect flags, clips, and
//! every parameter (type, default, range, display range, choices, page).

use ofx_test_host::{Plugin, PropSet, PropValue, FILTER, GENERAL, PLUGIN_ID};
use std::collections::BTreeSet;

#[derive(Clone, Copy)]
enum Spec {
    Choice(i32, &'static [&'static str]),
    Double(f64, [f64; 2], [f64; 2]),
    Int(i32, [i32; 2], [i32; 2]),
    Bool(bool),
    Str,
}

/// (name, page, group, spec) from docs/PARAMS.md.
const PARAMS: &[(&str, &str, Option<&str>, Spec)] = &[
    (
        "hintSource",
        "Key",
        None,
        Spec::Choice(
            0,
            &["AlphaHint clip", "Source alpha", "Built-in chroma key"],
        ),
    ),
    (
        "inputColour",
        "Key",
        None,
        Spec::Choice(0, &["Linear", "sRGB"]),
    ),
    (
        "quality",
        "Key",
        None,
        Spec::Choice(2, &["1024 (fast)", "1536", "2048 (native)"]),
    ),
    (
        "show",
        "Key",
        None,
        Spec::Choice(
            0,
            &[
                "Premultiplied",
                "Unpremultiplied",
                "Matte",
                "Foreground",
                "Composite",
                "Status",
                "Hint",
            ],
        ),
    ),
    (
        "hintHueMin",
        "Key",
        Some("builtinHint"),
        Spec::Double(35.0, [0.0, 180.0], [0.0, 180.0]),
    ),
    (
        "hintHueMax",
        "Key",
        Some("builtinHint"),
        Spec::Double(85.0, [0.0, 180.0], [0.0, 180.0]),
    ),
    (
        "hintSatMin",
        "Key",
        Some("builtinHint"),
        Spec::Double(40.0, [0.0, 255.0], [0.0, 255.0]),
    ),
    (
        "hintValMin",
        "Key",
        Some("builtinHint"),
        Spec::Double(30.0, [0.0, 255.0], [0.0, 255.0]),
    ),
    (
        "hintErode",
        "Key",
        Some("builtinHint"),
        Spec::Int(7, [0, 101], [0, 31]),
    ),
    (
        "hintBlur",
        "Key",
        Some("builtinHint"),
        Spec::Int(21, [0, 201], [0, 63]),
    ),
    ("refiner", "Key", Some("refinerGroup"), Spec::Bool(true)),
    (
        "refinerStrength",
        "Key",
        Some("refinerGroup"),
        Spec::Double(1.0, [0.0, 10.0], [0.0, 2.0]),
    ),
    (
        "refinerTile",
        "Key",
        Some("refinerGroup"),
        Spec::Choice(0, &["512", "1024", "Full frame"]),
    ),
    (
        "refinerOverlap",
        "Key",
        Some("refinerGroup"),
        Spec::Int(128, [0, 512], [0, 256]),
    ),
    ("sparseSkip", "Key", Some("refinerGroup"), Spec::Bool(true)),
    (
        "skipLow",
        "Key",
        Some("refinerGroup"),
        Spec::Double(0.05, [0.0, 1.0], [0.0, 0.5]),
    ),
    (
        "skipHigh",
        "Key",
        Some("refinerGroup"),
        Spec::Double(0.95, [0.0, 1.0], [0.5, 1.0]),
    ),
    (
        "despill",
        "Key",
        Some("matteGroup"),
        Spec::Double(1.0, [0.0, 1.0], [0.0, 1.0]),
    ),
    ("despeckle", "Key", Some("matteGroup"), Spec::Bool(false)),
    (
        "despeckleSize",
        "Key",
        Some("matteGroup"),
        Spec::Int(400, [1, 100000], [1, 5000]),
    ),
    (
        "clipBlack",
        "Key",
        Some("matteGroup"),
        Spec::Double(0.0, [0.0, 1.0], [0.0, 1.0]),
    ),
    (
        "clipWhite",
        "Key",
        Some("matteGroup"),
        Spec::Double(1.0, [0.0, 1.0], [0.0, 1.0]),
    ),
    (
        "device",
        "Device",
        None,
        Spec::Choice(0, &["Auto", "CUDA", "TensorRT", "CPU"]),
    ),
    (
        "gpuMemoryMB",
        "Device",
        None,
        Spec::Int(6144, [256, 262144], [1024, 24576]),
    ),
    ("modelFolder", "Device", None, Spec::Str),
    ("info", "Device", None, Spec::Str),
    (
        "screenColour",
        "Key",
        None,
        Spec::Choice(0, &["Green", "Blue"]),
    ),
];

const GROUPS: &[(&str, &str)] = &[
    ("builtinHint", "Built-in hint"),
    ("refinerGroup", "Refiner"),
    ("matteGroup", "Matte"),
];

fn one_str(p: &PropSet, name: &str) -> Option<String> {
    p.get_str(name).and_then(|v| v.into_iter().next())
}
fn one_int(p: &PropSet, name: &str) -> Option<i32> {
    p.get_int(name).and_then(|v| v.first().copied())
}

#[test]
fn identity_and_effect_flags() {
    let plugin = Plugin::shared();
    let info = plugin.info();
    assert_eq!(info.identifier, PLUGIN_ID);
    assert_eq!((info.version_major, info.version_minor), (1, 0));
    assert_eq!(info.api, "OfxImageEffectPluginAPI");
    assert_eq!(info.api_version, 1);

    let d = plugin.describe().expect("describe");
    let p = d.props();
    assert_eq!(one_str(p, "OfxPropLabel").as_deref(), Some("CorridorKey"));
    assert_eq!(
        one_str(p, "OfxImageEffectPluginPropGrouping").as_deref(),
        Some("Keyer")
    );
    let ctx: BTreeSet<String> = p
        .get_str("OfxImageEffectPropSupportedContexts")
        .unwrap_or_default()
        .into_iter()
        .collect();
    assert_eq!(ctx, BTreeSet::from([FILTER.to_owned(), GENERAL.to_owned()]));
    let depths: BTreeSet<String> = p
        .get_str("OfxImageEffectPropSupportedPixelDepths")
        .unwrap_or_default()
        .into_iter()
        .collect();
    for dname in ["OfxBitDepthFloat", "OfxBitDepthShort", "OfxBitDepthByte"] {
        assert!(depths.contains(dname), "missing depth {dname}: {depths:?}");
    }
    // Flags the plugin must set itself (the host pre-fills spec defaults, which differ for tiles).
    assert!(
        p.written_by_plugin("OfxImageEffectPropSupportsTiles"),
        "tiles flag not set by the plugin"
    );
    assert_eq!(
        one_int(p, "OfxImageEffectPropSupportsTiles"),
        Some(0),
        "tiles must be off"
    );
    assert_eq!(
        one_str(p, "OfxImageEffectPluginRenderThreadSafety").as_deref(),
        Some("OfxImageEffectRenderInstanceSafe")
    );
    assert!(p.written_by_plugin("OfxImageEffectPluginRenderThreadSafety"));
    assert_eq!(
        one_int(p, "OfxImageEffectPluginPropHostFrameThreading"),
        Some(0),
        "host frame threading must be off"
    );
    assert_eq!(
        one_int(p, "OfxImageEffectPropSupportsMultiResolution"),
        Some(1)
    );
    // Steady mattes read frames t-1 and t+1 (only while on: see `getFramesNeeded`).
    assert_eq!(one_int(p, "OfxImageEffectPropTemporalClipAccess"), Some(1));
    assert_eq!(
        one_int(p, "OfxImageEffectInstancePropSequentialRender"),
        Some(0)
    );
}

fn check_clips(ctx: &str) {
    let d = Plugin::shared()
        .describe_in_context(ctx)
        .expect("describeInContext");
    let names: Vec<String> = d.clips().iter().map(|c| c.name().to_owned()).collect();
    let expect = ["Source", "AlphaHint", "Garbage", "Core", "Output"];
    for n in expect {
        assert_eq!(
            names.iter().filter(|x| *x == n).count(),
            1,
            "[{ctx}] clip {n} in {names:?}"
        );
    }
    assert_eq!(
        names.len(),
        expect.len(),
        "[{ctx}] unexpected clips: {names:?}"
    );
    for c in d.clips() {
        let p = c.props();
        let comps: BTreeSet<String> = p
            .get_str("OfxImageEffectPropSupportedComponents")
            .unwrap_or_default()
            .into_iter()
            .collect();
        assert_eq!(
            one_int(p, "OfxImageEffectPropSupportsTiles"),
            Some(0),
            "[{ctx}] clip {} must have tiles off",
            c.name()
        );
        match c.name() {
            "Source" => {
                assert!(
                    comps.contains("OfxImageComponentRGBA"),
                    "[{ctx}] Source comps {comps:?}"
                );
                assert_eq!(one_int(p, "OfxImageClipPropOptional"), Some(0));
                assert_eq!(one_int(p, "OfxImageClipPropIsMask"), Some(0));
            }
            "AlphaHint" | "Garbage" | "Core" => {
                assert!(
                    comps.contains("OfxImageComponentAlpha"),
                    "[{ctx}] {} comps {comps:?}",
                    c.name()
                );
                assert!(
                    comps.contains("OfxImageComponentRGBA"),
                    "[{ctx}] {} comps {comps:?}",
                    c.name()
                );
                assert_eq!(
                    one_int(p, "OfxImageClipPropOptional"),
                    Some(1),
                    "[{ctx}] {} optional",
                    c.name()
                );
                assert_eq!(
                    one_int(p, "OfxImageClipPropIsMask"),
                    Some(1),
                    "[{ctx}] {} mask",
                    c.name()
                );
            }
            "Output" => assert!(
                comps.contains("OfxImageComponentRGBA"),
                "[{ctx}] Output comps {comps:?}"
            ),
            _ => unreachable!(),
        }
    }
}

#[test]
fn clips_in_filter_context() {
    check_clips(FILTER);
}

#[test]
fn clips_in_general_context() {
    check_clips(GENERAL);
}

fn check_params(ctx: &str) {
    let d = Plugin::shared()
        .describe_in_context(ctx)
        .expect("describeInContext");
    let params = d.params().params();
    let value_params: Vec<String> = params
        .iter()
        .filter(|p| !matches!(p.param_type(), "OfxParamTypePage" | "OfxParamTypeGroup"))
        .map(|p| p.name().to_owned())
        .collect();
    let spec: Vec<&str> = PARAMS.iter().map(|p| p.0).collect();
    for n in &spec {
        assert_eq!(
            value_params.iter().filter(|x| x == n).count(),
            1,
            "[{ctx}] param {n} must be defined once"
        );
    }
    let extra: Vec<&String> = value_params
        .iter()
        .filter(|n| !spec.contains(&n.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "[{ctx}] params not in PARAMS.md: {extra:?}"
    );

    for (gname, glabel) in GROUPS {
        let g = d
            .params()
            .get(gname)
            .unwrap_or_else(|| panic!("[{ctx}] no group {gname}"));
        assert_eq!(g.param_type(), "OfxParamTypeGroup");
        assert_eq!(one_str(g.props(), "OfxPropLabel").as_deref(), Some(*glabel));
    }
    let pages: Vec<_> = params
        .iter()
        .filter(|p| p.param_type() == "OfxParamTypePage")
        .collect();
    let page_children = |label: &str| -> Vec<String> {
        pages
            .iter()
            .find(|p| {
                one_str(p.props(), "OfxPropLabel").as_deref() == Some(label) || p.name() == label
            })
            .unwrap_or_else(|| panic!("[{ctx}] no page {label}"))
            .props()
            .get_str("OfxParamPropPageChild")
            .unwrap_or_default()
    };

    for (name, page, group, spec) in PARAMS {
        let p = d.params().get(name).unwrap();
        let props = p.props();
        let what = format!("[{ctx}] {name}");
        let parent = one_str(props, "OfxParamPropParent").unwrap_or_default();
        assert_eq!(parent, group.unwrap_or(""), "{what}: parent");
        let children = page_children(page);
        assert!(
            children
                .iter()
                .any(|c| c == name || Some(c.as_str()) == *group),
            "{what}: not on page {page} ({children:?})"
        );
        match spec {
            Spec::Choice(def, options) => {
                assert_eq!(p.param_type(), "OfxParamTypeChoice", "{what}");
                assert_eq!(
                    props.get_int("OfxParamPropDefault"),
                    Some(vec![*def]),
                    "{what}: default"
                );
                let opts = props
                    .get_str("OfxParamPropChoiceOption")
                    .unwrap_or_default();
                assert_eq!(
                    opts,
                    options.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    "{what}: choices"
                );
            }
            Spec::Bool(def) => {
                assert_eq!(p.param_type(), "OfxParamTypeBoolean", "{what}");
                assert_eq!(
                    props.get_int("OfxParamPropDefault"),
                    Some(vec![*def as i32]),
                    "{what}: default"
                );
            }
            Spec::Double(def, range, display) => {
                assert_eq!(p.param_type(), "OfxParamTypeDouble", "{what}");
                assert_eq!(
                    props.get_double("OfxParamPropDefault"),
                    Some(vec![*def]),
                    "{what}: default"
                );
                for (prop, v) in [
                    ("OfxParamPropMin", range[0]),
                    ("OfxParamPropMax", range[1]),
                    ("OfxParamPropDisplayMin", display[0]),
                    ("OfxParamPropDisplayMax", display[1]),
                ] {
                    assert!(props.written_by_plugin(prop), "{what}: {prop} not set");
                    assert_eq!(props.get_double(prop), Some(vec![v]), "{what}: {prop}");
                }
            }
            Spec::Int(def, range, display) => {
                assert_eq!(p.param_type(), "OfxParamTypeInteger", "{what}");
                assert_eq!(
                    props.get_int("OfxParamPropDefault"),
                    Some(vec![*def]),
                    "{what}: default"
                );
                for (prop, v) in [
                    ("OfxParamPropMin", range[0]),
                    ("OfxParamPropMax", range[1]),
                    ("OfxParamPropDisplayMin", display[0]),
                    ("OfxParamPropDisplayMax", display[1]),
                ] {
                    assert!(props.written_by_plugin(prop), "{what}: {prop} not set");
                    assert_eq!(props.get_int(prop), Some(vec![v]), "{what}: {prop}");
                }
            }
            Spec::Str => {
                assert_eq!(p.param_type(), "OfxParamTypeString", "{what}");
                let def = props.get("OfxParamPropDefault");
                assert!(
                    matches!(&def, Some(PropValue::Str(v)) if v.len() == 1 && v[0].as_bytes().is_empty()),
                    "{what}: default {def:?}"
                );
            }
        }
    }
    let folder = d.params().get("modelFolder").unwrap();
    assert_eq!(
        one_str(folder.props(), "OfxParamPropStringMode").as_deref(),
        Some("OfxParamStringIsDirectoryPath")
    );
    let info = d.params().get("info").unwrap();
    assert_eq!(
        one_int(info.props(), "OfxParamPropEnabled"),
        Some(0),
        "info must be read-only (disabled)"
    );
}

#[test]
fn params_in_filter_context() {
    check_params(FILTER);
}

#[test]
fn params_in_general_context() {
    check_params(GENERAL);
}

#[test]
fn instance_keeps_tiles_off_and_defaults() {
    let plugin = Plugin::shared();
    for ctx in [FILTER, GENERAL] {
        let inst = plugin.create_instance(ctx).expect("createInstance");
        let p = inst.effect().props();
        assert_eq!(
            one_int(p, "OfxImageEffectPropSupportsTiles"),
            Some(0),
            "[{ctx}] instance tiles"
        );
        for (name, _, _, spec) in PARAMS {
            let v = inst.effect().params().get(name).unwrap().value();
            let ok = match spec {
                Spec::Choice(d, _) | Spec::Int(d, _, _) => {
                    v == ofx_test_host::ParamValue::Int(vec![*d])
                }
                Spec::Bool(b) => v == ofx_test_host::ParamValue::Int(vec![*b as i32]),
                Spec::Double(d, _, _) => v == ofx_test_host::ParamValue::Double(vec![*d]),
                Spec::Str => matches!(v, ofx_test_host::ParamValue::Str(_)),
            };
            assert!(ok, "[{ctx}] instance {name} = {v:?}");
        }
        inst.destroy().expect("destroyInstance");
    }
}
