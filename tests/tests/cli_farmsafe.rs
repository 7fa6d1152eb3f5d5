//! Issue 26: `ofx-render` never destroys a plate, never hangs, never says "done" about a frame it
//! did not write. Each case here failed on d566c19 (an overwritten input with exit 0, a hang, a
//! panic or abort, a wrong format or a skipped incomplete frame); tiny plates and the Hint view
//! (no network) keep them fast.

mod common;
use common::cli::*;
use ofx_test_host::imageio::{partial_path, read_exr_channels, read_image};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const W: usize = 32;
const H: usize = 24;

/// `path`'s bytes and modification time, to show a file was not touched.
fn stamp(path: &Path) -> (Vec<u8>, SystemTime) {
    (
        std::fs::read(path).unwrap(),
        path.metadata().unwrap().modified().unwrap(),
    )
}

/// Exit 1, one line naming `why` (and every `names`), nothing rendered.
fn refused_with(r: &Run, case: &str, why: &str, names: &[&str]) {
    assert_eq!(r.code, Some(1), "{case}: {}", r.text());
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{case}: not one line: {}", r.stderr);
    assert!(
        lines[0].contains(why),
        "{case}: expected {why:?} in {}",
        lines[0]
    );
    for n in names {
        assert!(
            lines[0].contains(n),
            "{case}: {n:?} not named in {}",
            lines[0]
        );
    }
    assert!(
        !r.stdout.contains("frame "),
        "{case}: rendered: {}",
        r.stdout
    );
}

fn hint_view() -> [&'static str; 2] {
    ["--show", "Hint"]
}

fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

#[test]
fn outputs_that_are_inputs_by_another_name_are_refused() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("farm-identity");
    let input = dir.join("in/plate.exr");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    sample(&input, W, H, 0);
    sample_sequence(&dir.join("seq"), 1..=2, W, H);
    let hint_png = dir.join("in/hint.png");
    ok(ofx_render()
        .arg(&input)
        .arg("-o")
        .arg(dir.join("scratch.exr"))
        .args(hint_view())
        .arg("--preview")
        .arg(&hint_png));
    std::fs::hard_link(&input, dir.join("link.exr")).unwrap();
    std::os::unix::fs::symlink("/dev/null", dir.join("null.exr")).unwrap();
    std::fs::create_dir_all(dir.join("views")).unwrap();
    let key_view = dir.join("views/key.png");
    std::fs::copy(&hint_png, &key_view).unwrap();
    let before: Vec<_> = [&input, &hint_png, &key_view]
        .iter()
        .map(|p| stamp(p))
        .collect();
    let seq_before = stamp(&dir.join("seq/plate.0001.exr"));

    let abs = s(&input);
    let cases: Vec<(&str, Vec<OsString>, &str, Vec<&str>)> = vec![
        (
            "relative input, absolute output",
            vec!["in/plate.exr".into(), "-o".into(), abs.into()],
            "the job reads",
            vec!["in/plate.exr"],
        ),
        (
            "a folder given twice",
            vec!["seq".into(), "-o".into(), "./seq/../seq".into()],
            "the job reads",
            vec!["seq/plate.0001.exr"],
        ),
        (
            "a hard link to the input",
            vec![abs.into(), "-o".into(), "link.exr".into()],
            "the job reads",
            vec!["link.exr", "in/plate.exr"],
        ),
        (
            "--log-json on the input",
            vec![
                abs.into(),
                "-o".into(),
                "o.exr".into(),
                "--log-json".into(),
                "./in/plate.exr".into(),
            ],
            "the job reads",
            vec!["./in/plate.exr"],
        ),
        (
            "-o on the hint",
            vec![
                abs.into(),
                "--hint".into(),
                "in/hint.png".into(),
                "-o".into(),
                "in/../in/hint.png".into(),
            ],
            "the job reads",
            vec!["in/hint.png"],
        ),
        (
            "--preview on the hint",
            vec![
                abs.into(),
                "--hint".into(),
                s(&hint_png).into(),
                "-o".into(),
                "o.exr".into(),
                "--preview".into(),
                "in/hint.png".into(),
            ],
            "the job reads",
            vec!["hint.png"],
        ),
        (
            "--views over the hint",
            vec![
                abs.into(),
                "--hint".into(),
                "views/key.png".into(),
                "-o".into(),
                "o.exr".into(),
                "--views".into(),
                "views".into(),
            ],
            "the job reads",
            vec!["views/key.png"],
        ),
        (
            "a character device as output",
            vec![abs.into(), "-o".into(), "null.exr".into()],
            "a character device",
            vec!["null.exr"],
        ),
        (
            "a full device as the log",
            vec![
                abs.into(),
                "-o".into(),
                "o.exr".into(),
                "--log-json".into(),
                "/dev/full".into(),
            ],
            "a character device",
            vec!["/dev/full"],
        ),
        (
            "the preview and the output one file",
            vec![
                abs.into(),
                "-o".into(),
                "same.png".into(),
                "--preview".into(),
                "./same.png".into(),
            ],
            "twice",
            vec!["same.png"],
        ),
    ];
    for (case, args, why, names) in cases {
        // --views needs the key view; every case is refused before the node would render.
        let show = if args.iter().any(|a| a == "--views") {
            "Premultiplied"
        } else {
            "Hint"
        };
        let r = run_within(
            ofx_render()
                .current_dir(&dir)
                .args(["--show", show])
                .args(&args),
            60,
        );
        refused_with(&r, case, why, &names);
    }
    let after: Vec<_> = [&input, &hint_png, &key_view]
        .iter()
        .map(|p| stamp(p))
        .collect();
    assert!(before == after, "an input was rewritten");
    assert!(stamp(&dir.join("seq/plate.0001.exr")) == seq_before);
    assert!(
        std::fs::symlink_metadata(dir.join("null.exr"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link to /dev/null was replaced"
    );
    assert!(!dir.join("o.exr").exists() && !dir.join("same.png").exists());
}

/// A minimal single-part scanline EXR header (half RGBA, PXR24) declaring `w x h`, then
/// `table` offset entries all pointing at one empty chunk after them.
fn exr_header(w: i32, h: i32, table: usize) -> Vec<u8> {
    let mut b = vec![0x76, 0x2f, 0x31, 0x01, 2, 0, 0, 0];
    let mut attr = |name: &str, ty: &str, value: &[u8]| {
        b.extend(name.as_bytes());
        b.push(0);
        b.extend(ty.as_bytes());
        b.push(0);
        b.extend((value.len() as i32).to_le_bytes());
        b.extend(value);
    };
    let mut ch = Vec::new();
    for c in ["A", "B", "G", "R"] {
        ch.extend(c.as_bytes());
        ch.push(0);
        ch.extend(1i32.to_le_bytes());
        ch.extend([0, 0, 0, 0]);
        ch.extend(1i32.to_le_bytes());
        ch.extend(1i32.to_le_bytes());
    }
    ch.push(0);
    attr("channels", "chlist", &ch);
    attr("compression", "compression", &[5]);
    let bx: Vec<u8> = [0, 0, w - 1, h - 1]
        .iter()
        .flat_map(|v: &i32| v.to_le_bytes())
        .collect();
    attr("dataWindow", "box2i", &bx);
    attr("displayWindow", "box2i", &bx);
    attr("lineOrder", "lineOrder", &[0]);
    attr("pixelAspectRatio", "float", &1f32.to_le_bytes());
    attr("screenWindowCenter", "v2f", &[0; 8]);
    attr("screenWindowWidth", "float", &1f32.to_le_bytes());
    b.push(0);
    let chunk_at = (b.len() + table * 8) as u64;
    for _ in 0..table {
        b.extend(chunk_at.to_le_bytes());
    }
    if table > 0 {
        b.extend([0; 8]);
    }
    b
}

#[test]
fn hostile_files_and_arguments_fail_fast_by_name() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("farm-hostile");
    let plate = dir.join("plate.exr");
    sample(&plate, W, H, 0);
    // FIFOs as the plate, as the hint and as one frame of a folder: refused, never opened.
    mkfifo(&dir.join("fifo.exr"));
    std::fs::create_dir_all(dir.join("folder")).unwrap();
    sample(&dir.join("folder/plate.0001.exr"), W, H, 1);
    mkfifo(&dir.join("folder/plate.0002.exr"));
    // A header declaring 100000 x 100000 (the old reader allocated 160 GB and aborted), one
    // within the limits whose offset table the file cannot hold, and a plate cut short.
    let huge = dir.join("huge.exr");
    std::fs::write(&huge, exr_header(100_000, 100_000, 6250)).unwrap();
    let lying = dir.join("lying.exr");
    std::fs::write(&lying, exr_header(30_000, 8_000, 0)).unwrap();
    let cut = dir.join("cut.exr");
    let bytes = std::fs::read(&plate).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 4]).unwrap();
    let odd = OsString::from_vec(b"pl\xffte.exr".to_vec());

    let p = s(&plate);
    let cases: Vec<(&str, Vec<OsString>, &str)> = vec![
        (
            "FIFO plate",
            vec![s(&dir.join("fifo.exr")).into()],
            "a FIFO",
        ),
        (
            "FIFO hint",
            vec![p.into(), "--hint".into(), s(&dir.join("fifo.exr")).into()],
            "a FIFO",
        ),
        ("FIFO frame", vec![s(&dir.join("folder")).into()], "a FIFO"),
        (
            "huge header",
            vec![s(&huge).into()],
            "beyond the node's limits",
        ),
        ("lying header", vec![s(&lying).into()], "truncated"),
        ("truncated plate", vec![s(&cut).into()], "truncated"),
        (
            "absurd padding",
            vec![s(&dir.join("plate.%070000d.exr")).into()],
            "padding",
        ),
        (
            "empty output",
            vec![p.into(), "-o".into(), "".into()],
            "-o is an empty path",
        ),
        (
            "unknown format",
            vec![p.into(), "-o".into(), s(&dir.join("o.tif")).into()],
            ".exr or .png",
        ),
        (
            "non-UTF-8 frames",
            vec![p.into(), "--frames".into(), odd.clone()],
            "--frames",
        ),
    ];
    for (case, args, why) in cases {
        let mut c = ofx_render();
        c.args(hint_view()).args(&args);
        if !args.iter().any(|a| a == "-o") {
            c.arg("-o").arg(dir.join("out/o.####.exr"));
        }
        let r = run_within(&mut c, 60);
        refused_with(&r, case, why, &[]);
    }
    assert!(
        files(&dir.join("out")).is_empty(),
        "{:?}",
        files(&dir.join("out"))
    );
}

#[test]
fn names_formats_threads_and_frames_that_used_to_go_wrong() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("farm-names");
    // A plate whose name is not UTF-8, keyed to a 251-byte output name, on --threads 1000.
    let odd = dir.join(OsString::from_vec(b"pl\xffte.exr".to_vec()));
    sample(&dir.join("p.exr"), W, H, 0);
    std::fs::rename(dir.join("p.exr"), &odd).unwrap();
    let long = dir.join(format!("{}.exr", "k".repeat(247)));
    let r = ok(ofx_render()
        .arg(&odd)
        .arg("-o")
        .arg(&long)
        .args(hint_view())
        .args(["--threads", "1000"]));
    assert!(
        r.stdout.contains("--threads 1000 capped at the"),
        "{}",
        r.stdout
    );
    read_exr_channels(&long).unwrap();
    assert!(!partial_path(&long).exists());
    assert!(
        files(&dir).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        files(&dir)
    );

    // -o out.png writes a PNG (16-bit RGBA), not an EXR under a .png name.
    let png = dir.join("out.png");
    ok(ofx_render().arg(&odd).arg("-o").arg(&png).args(hint_view()));
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
    let back = read_image(&png, false).unwrap();
    assert_eq!((back.width, back.height), (W, H));

    // Negative frames are rendered (they were dropped without a word), and selectable.
    std::fs::create_dir_all(dir.join("neg")).unwrap();
    for f in -2..=1i64 {
        sample(&dir.join(format!("neg/plate.{f:04}.exr")), W, H, 0);
    }
    assert!(dir.join("neg/plate.-002.exr").is_file());
    let r = ok(ofx_render()
        .arg(dir.join("neg/plate.####.exr"))
        .arg("-o")
        .arg(dir.join("neg-out/k.####.exr"))
        .args(hint_view()));
    assert!(r.stdout.contains("4 frames: 4 written"), "{}", r.stdout);
    for f in ["-002", "-001", "0000", "0001"] {
        assert!(dir.join(format!("neg-out/k.{f}.exr")).is_file(), "{f}");
    }
    let r = ok(ofx_render()
        .arg(dir.join("neg/plate.%04d.exr"))
        .arg("-o")
        .arg(dir.join("neg-sel/k.####.exr"))
        .args(["--frames", "-2--1"])
        .args(hint_view()));
    assert!(r.stdout.contains("2 frames: 2 written"), "{}", r.stdout);

    // Without a bundle setting the documented default, ./build/, is used: not a path fixed
    // when ofx-render was built.
    let r = run(ofx_render()
        .current_dir(&dir)
        .env_remove("CORRIDORKEY_BUNDLE")
        .env_remove("OFX_PLUGIN_PATH")
        .arg(&odd)
        .arg("-o")
        .arg("nb.exr")
        .args(hint_view()));
    assert_eq!(r.code, Some(1), "{}", r.text());
    assert!(
        r.stderr.contains("build/CorridorKey.ofx.bundle")
            && !r
                .stderr
                .contains(&*ofx_test_host::workspace_root().to_string_lossy()),
        "{}",
        r.stderr
    );
}

/// The model folder under a name that is not UTF-8 (via a symlink to the test model).
fn odd_model_dir(dir: &Path) -> PathBuf {
    let model = ofx_test_host::test_model_dir().unwrap();
    let link = dir.join(OsString::from_vec(b"m\xffdel".to_vec()));
    std::os::unix::fs::symlink(&model, &link).unwrap();
    link
}

#[test]
fn resume_reads_every_output_back_and_signals_leave_no_temporaries() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("farm-resume");
    sample_sequence(&dir.join("in"), 1..=4, W, H);
    let model = odd_model_dir(&dir);
    let job = |layers: bool| {
        let mut c = ofx_render();
        c.arg(dir.join("in/plate.####.exr"))
            .arg("-o")
            .arg(dir.join("out/k.####.exr"))
            .arg("--model-dir")
            .arg(&model)
            .args(["--param", "device=3", "--resume", "--log-json", "-"]);
        if layers {
            c.arg("--layers");
        }
        c
    };
    ok(&mut job(false));
    let out = |f: i64| dir.join(format!("out/k.{f:04}.exr"));
    // Frame 1 cut short, frame 2 complete but without the layers the next run asks for, frame 3
    // complete; a leftover temporary beside frame 4 from a killed run.
    let bytes = std::fs::read(out(1)).unwrap();
    std::fs::write(out(1), &bytes[..bytes.len() - 16]).unwrap();
    ok(&mut {
        let mut c = job(true);
        c.args(["--frames", "3-4"]);
        c
    });
    let kept = stamp(&out(3));
    let leftover = partial_path(&out(4));
    std::fs::write(&leftover, b"").unwrap();
    let r = ok(&mut job(true));
    let status: Vec<(i64, String)> = r
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["frame"].as_i64().unwrap(),
                v["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        status,
        vec![
            (1, "ok".into()),
            (2, "ok".into()),
            (3, "skipped".into()),
            (4, "skipped".into())
        ],
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rendered again"), "{}", r.stdout);
    for f in 1..=4 {
        let (w, h, ch) = read_exr_channels(&out(f)).unwrap();
        assert_eq!((w, h, ch.len()), (W, H, 6), "frame {f}");
    }
    assert!(stamp(&out(3)) == kept, "a complete frame was rewritten");
    assert!(
        !leftover.exists(),
        "the leftover temporary of a skipped frame is still there"
    );

    // SIGTERM mid-job: the temporaries of the frame in flight are removed, exit 128 + 15.
    sample_sequence(&dir.join("long"), 1..=40, 256, 192);
    let mut child = ofx_render()
        .arg(dir.join("long/plate.####.exr"))
        .arg("-o")
        .arg(dir.join("long-out/k.####.exr"))
        .arg("--model-dir")
        .arg(&model)
        .args(["--param", "device=3", "--layers", "--log-json", "-"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    lines.next().expect("a frame line").unwrap();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let st = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(st.code(), Some(128 + 15), "{err}");
    assert!(err.contains("stopped by signal 15"), "{err}");
    let left = files(&dir.join("long-out"));
    assert!(left.iter().all(|n| !n.ends_with(".partial")), "{left:?}");
    assert!(left.len() < 40, "the signal came after the job: {left:?}");
}
