//! The test host under valgrind's memcheck on one small render through the network (issue 15:
//! "valgrind found nothing in the plugin; keep it that way"). The child renders a 64x48 plate on the
//! `small_s128` model; the test fails on any memcheck error that happens in the plugin
//! (`CorridorKey.ofx` the first frame of its stack outside valgrind's own replacement functions).
//! Errors inside ONNX Runtime, libc or the loader that the plugin's calls reach (ORT copies a buffer
//! onto itself while building its environment) are printed for a reader, not counted. `.ci/run`
//! installs valgrind; the run takes about a minute.

mod common;
use common::*;
use ofx_test_host::{BitDepth, Plugin, RenderRequest, GENERAL};
use std::process::Command;

const CHILD_ENV: &str = "CK_VALGRIND_CHILD";
const PLUGIN_OBJ: &str = "CorridorKey.ofx";

#[test]
#[ignore = "run under valgrind by one_render_under_memcheck_has_no_plugin_errors"]
fn valgrind_child() {
    assert!(std::env::var(CHILD_ENV).is_ok(), "child only");
    let plugin = Plugin::shared();
    let p = plate(64, 48, 0);
    let inst = keyed(plugin, GENERAL, &p, SHOW_PREMULTIPLIED);
    let dir = ofx_test_host::test_model_dir().unwrap();
    inst.set_string("modelFolder", dir.to_str().unwrap())
        .unwrap();
    inst.set_int("device", 3).unwrap();
    inst.set_int("despeckle", 1).unwrap();
    let out = inst
        .render(&RenderRequest {
            depth: Some(BitDepth::Float),
            ..Default::default()
        })
        .unwrap()
        .to_rgba()
        .unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
    assert!(
        inst.persistent_message().is_none(),
        "{:?}",
        inst.persistent_message()
    );
    println!("CHILD-OK");
}

/// One `<error>` of memcheck's XML: its kind, the objects of its stack frames (top first), and the
/// whole text.
struct MemError {
    kind: String,
    objs: Vec<String>,
    text: String,
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(close) else { break };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

fn errors(xml: &str) -> Vec<MemError> {
    between(xml, "<error>", "</error>")
        .into_iter()
        .map(|e| MemError {
            kind: between(e, "<kind>", "</kind>")
                .first()
                .map(|k| k.to_string())
                .unwrap_or_default(),
            // The first <stack> is where the error happened (an origin stack may follow).
            objs: between(e, "<stack>", "</stack>")
                .first()
                .map(|s| {
                    between(s, "<obj>", "</obj>")
                        .iter()
                        .map(|o| o.to_string())
                        .collect()
                })
                .unwrap_or_default(),
            text: e.to_string(),
        })
        .collect()
}

/// Where an error happened: its first frame outside valgrind's own replacements (memcpy & co. run
/// in `vgpreload_memcheck`, called from the code at fault).
fn culprit(e: &MemError) -> String {
    e.objs
        .iter()
        .find(|o| !o.contains("vgpreload"))
        .cloned()
        .unwrap_or_default()
}

#[test]
fn memcheck_errors_are_attributed_to_the_code_at_fault() {
    let frame = |obj: &str| format!("<frame><obj>{obj}</obj></frame>");
    let xml = format!(
        "<error><kind>Overlap</kind><stack>{}{}</stack></error>\
         <error><kind>InvalidRead</kind><stack>{}{}</stack></error>",
        frame("/usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so"),
        frame("/b/CorridorKey.ofx.bundle/Contents/Linux-x86-64/CorridorKey.ofx"),
        frame("/b/libonnxruntime.so.1.31.1"),
        frame("/b/CorridorKey.ofx"),
    );
    let e = errors(&xml);
    assert_eq!(e.len(), 2);
    assert!(
        culprit(&e[0]).ends_with(PLUGIN_OBJ),
        "memcpy called by the plugin"
    );
    assert!(
        !culprit(&e[1]).ends_with(PLUGIN_OBJ),
        "an ORT error reached from the plugin"
    );
    assert_eq!(e[1].kind, "InvalidRead");
}

#[test]
fn one_render_under_memcheck_has_no_plugin_errors() {
    Plugin::shared();
    let have = Command::new("valgrind").arg("--version").output();
    assert!(
        have.is_ok_and(|o| o.status.success()),
        "valgrind is not installed (`apt-get install valgrind`; .ci/run installs it)"
    );
    let xml = empty_dir("valgrind").join("memcheck.xml");
    let out = Command::new("valgrind")
        .args([
            "--tool=memcheck",
            "--xml=yes",
            &format!("--xml-file={}", xml.display()),
            "--error-limit=no",
            "--leak-check=full",
            "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite",
            "--num-callers=40",
        ])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "valgrind_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("CHILD-OK"),
        "the render under valgrind failed\n{text}"
    );
    let report = std::fs::read_to_string(&xml).unwrap();
    let all = errors(&report);
    let (ours, theirs): (Vec<_>, Vec<_>) =
        all.iter().partition(|e| culprit(e).ends_with(PLUGIN_OBJ));
    for e in &theirs {
        let via = e.objs.iter().any(|o| o.ends_with(PLUGIN_OBJ));
        eprintln!(
            "memcheck (not counted): {} in {}{}",
            e.kind,
            culprit(e),
            if via { ", reached from the plugin" } else { "" }
        );
    }
    for e in &ours {
        eprintln!("memcheck error in the plugin:\n{}", e.text);
    }
    assert!(
        ours.is_empty(),
        "{} memcheck errors in the plugin (report: {})",
        ours.len(),
        xml.display()
    );
    eprintln!("memcheck: {} errors in all, none in the plugin", all.len());
}
