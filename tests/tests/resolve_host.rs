//! A Resolve-like host (one plugin load per process, so this file holds one test): no tiles, no
//! multi-resolution, message suite V2 with a NULL setPersistentMessage (Resolve 14), connected
//! clips handing NULL images. The plugin must not crash and must still report a missing model.

mod common;
use common::*;
use ofx_test_host::{bundle_path, HostConfig, Input, Plugin, FILTER};

#[test]
fn resolve_like_host() {
    let config = HostConfig {
        name: "DaVinciResolve".into(),
        label: "DaVinci Resolve".into(),
        supports_tiles: false,
        supports_multi_resolution: false,
        null_persistent_message: true,
        ..HostConfig::default()
    };
    let plugin = Plugin::load(&bundle_path(), config).unwrap_or_else(|e| panic!("{e}"));
    let p = plate(160, 90, 0);
    let dir = empty_dir("resolve-nomodel");
    let inst = keyed(&plugin, FILTER, &p, SHOW_PREMULTIPLIED);
    for clip in ["AlphaHint", "Garbage", "Core"] {
        inst.set_input(clip, Input::NullImage).unwrap();
    }
    inst.set_string("modelFolder", dir.to_str().unwrap())
        .unwrap();
    let out = render(&inst, 0.0);
    assert_eq!(
        max_abs_diff(&out, &p.rgba),
        0.0,
        "missing model: output must be the source"
    );
    assert!(
        inst.persistent_message().is_none(),
        "setPersistentMessage is NULL on this host"
    );
    let all: Vec<_> = inst
        .messages()
        .into_iter()
        .chain(plugin.global_messages())
        .collect();
    assert!(
        all.iter().any(|m| m.text.contains(dir.to_str().unwrap())),
        "without setPersistentMessage the plugin must fall back to message(): {all:?}"
    );

    // NULL hint images with the clip hint selected: the built-in key is used, no failure.
    inst.set_int("show", SHOW_HINT).unwrap();
    inst.set_int("hintSource", HINT_CLIP).unwrap();
    let hint = render(&inst, 0.0);
    inst.set_int("hintSource", HINT_BUILTIN).unwrap();
    let builtin = render(&inst, 0.0);
    assert_eq!(
        max_abs_diff(&hint, &builtin),
        0.0,
        "NULL AlphaHint must fall back to the built-in key"
    );
    let score = ofx_test_host::synthetic::iou(&channel(&hint, 0), &p.alpha, 0.5);
    assert!(
        score > 0.5,
        "the built-in key missed the figure (IoU {score})"
    );
}
