//! The whole host sequence in one process: load, describe, both contexts, many instances created
//! and destroyed, renders, every image released, unload.

mod common;
use common::*;
use ofx_test_host::{bundle_path, unreleased_images, HostConfig, Plugin, FILTER, GENERAL};

#[test]
fn load_describe_instances_render_unload() {
    let plugin =
        Plugin::load(&bundle_path(), HostConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    if let Some(st) = plugin.set_host_status() {
        assert_eq!(st, 0, "OfxSetHost returned {st}");
    }
    assert_eq!(plugin.all_plugins().len(), 1, "{:?}", plugin.all_plugins());
    let suites = plugin.fetched_suites();
    plugin.describe().expect("describe");
    let p = plate(96, 64, 0);
    for round in 0..3 {
        for ctx in [FILTER, GENERAL] {
            let a = keyed(&plugin, ctx, &p, SHOW_HINT);
            let b = keyed(&plugin, ctx, &p, SHOW_HINT);
            let ra = render(&a, round as f64);
            let rb = render(&b, round as f64);
            assert_eq!(ra, rb, "two instances disagree");
            a.destroy().expect("destroyInstance");
            drop(b);
        }
    }
    assert_eq!(unreleased_images(), 0, "the plugin kept image handles");
    let fetched = plugin.fetched_suites();
    for s in [
        "OfxPropertySuite",
        "OfxImageEffectSuite",
        "OfxParameterSuite",
    ] {
        assert!(
            fetched.iter().any(|(n, _)| n == s),
            "{s} never fetched ({suites:?} / {fetched:?})"
        );
    }
    let st = plugin.unload();
    assert!(st == 0 || st == 14, "unload returned {st}");
}
