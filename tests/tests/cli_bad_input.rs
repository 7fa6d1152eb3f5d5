//! Bad input to `ofx-render`: one line on stderr, exit status 1, and nothing rendered or written,
//! for each case a farm meets (issue 13; issue 16 rows 5 and 6: empty ranges and empty render
//! scales are errors before rendering starts).

mod common;
use common::cli::*;
use std::path::Path;

/// Runs `args` (INPUT etc.) with `-o <dir>/out/o.####.exr` and checks the refusal.
fn refused(dir: &Path, args: &[&str], why: &str) {
    let out = dir.join("out");
    // The Hint view (no network) unless a case asks for another.
    let r = run(ofx_render()
        .args(["--show", "Hint"])
        .args(args)
        .arg("-o")
        .arg(out.join("o.####.exr")));
    assert_eq!(r.code, Some(1), "{args:?}: {}", r.text());
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: not one line: {}", r.stderr);
    assert!(
        lines[0].starts_with("ofx-render: ") && lines[0].contains(why),
        "{args:?}: expected {why:?} in {:?}",
        lines[0]
    );
    assert!(r.stdout.is_empty(), "{args:?} printed {}", r.stdout);
    assert!(files(&out).is_empty(), "{args:?} wrote {:?}", files(&out));
}

#[test]
fn each_bad_input_is_one_line_and_exit_1() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-bad");
    sample_sequence(&dir.join("in"), 1..=3, 48, 32);
    let pat = dir.join("in/plate.####.exr");
    let pat = s(&pat);
    let garbage = dir.join("garbage.exr");
    std::fs::write(&garbage, b"not an exr at all").unwrap();
    let tiny = dir.join("tiny.exr");
    sample(&tiny, 1, 1, 0);
    let missing = dir.join("nope.exr");
    let no_match = dir.join("in/none.####.exr");
    let no_bundle = dir.join("no.bundle");
    let no_hint = dir.join("in/hint.####.exr");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![s(&missing)], "no such file"),
        (vec![s(&garbage)], "cannot read the input of frame 0"),
        (vec![pat, "--param", "nope=1"], "nope=1: no param nope"),
        (vec![pat, "--param", "quality=Ultra"], "no choice \"Ultra\""),
        (vec![pat, "--param", "quality=7"], "out of range"),
        (vec![pat, "--param", "despill=lots"], "not a number"),
        (vec![pat, "--param", "despill=1e9"], "outside its range"),
        (vec![pat, "--frames", "3-1"], "3-1"),
        (vec![pat, "--frames", "1-3x0"], "step"),
        (vec![pat, "--frames", "one"], "not a frame number"),
        (
            vec![pat, "--frames", "2-9"],
            "no file for frames 4, 5, 6, 7, 8, 9",
        ),
        (vec![s(&no_match)], "matches no files"),
        (vec![pat, "--render-scale", "0"], "must be in (0, 1]"),
        (vec![pat, "--render-scale", "0.3"], "1/k"),
        (vec![s(&tiny), "--render-scale", "0.5"], "empty image"),
        (vec![pat, "--threads", "0"], "--threads"),
        (vec![pat, "--context", "paint"], "filter or general"),
        (vec![pat, "--bogus"], "unknown option --bogus"),
        (
            vec![pat, "--layers", "--show", "Matte"],
            "computed from the key",
        ),
        (vec![pat, "--bundle", s(&no_bundle)], "no plugin binary"),
        (vec![pat, "--hint", s(&no_hint)], "no file for frame 1"),
    ];
    for (args, why) in cases {
        refused(&dir, &args, why);
    }
    // Several frames of one still cannot all go to one file.
    let r = run(ofx_render()
        .arg(&tiny)
        .arg("-o")
        .arg(dir.join("out/one.exr"))
        .args(["--frames", "1-2", "--show", "Hint"]));
    assert_eq!(r.code, Some(1), "{}", r.text());
    assert!(r.stderr.contains("output pattern"), "{}", r.stderr);
    // A folder given where the sequence should be written as one file.
    let still_out = run(ofx_render()
        .arg(pat)
        .arg("-o")
        .arg(dir.join("single.exr"))
        .args(["--show", "Hint"]));
    assert_eq!(still_out.code, Some(0), "{}", still_out.text());
    assert!(
        dir.join("single.exr").is_dir(),
        "a sequence output becomes a folder"
    );
}
