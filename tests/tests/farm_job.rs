//! The render-farm job template (farm/corridorkey-key.yaml) run by Open Job Description's own
//! runner, `openjd` (openjd-cli, pinned in onnx-export/requirements.txt), with the built bundle and
//! the seeded test model on the CPU provider: the template passes `openjd check`; a job of 6 frames
//! in chunks of 2 writes the frames one `ofx-render` process writes; a chunk with a corrupt plate
//! fails and its log names the frame while the other chunks' frames are written; a rerun renders
//! only what is missing.
//!
//! `openjd`: `$CORRIDORKEY_OPENJD` (the Makefile exports the venv's, so under `make test` the test
//! always runs), else `.venv/bin/openjd`, else `openjd` on PATH; without any, the test says so on
//! stderr and returns.

mod common;
use common::cli::*;
use ofx_test_host::imageio::read_exr_channels;
use std::path::{Path, PathBuf};
use std::process::Command;

const W: usize = 320;
const H: usize = 180;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> PathBuf {
    root().join("farm/corridorkey-key.yaml")
}

fn find_openjd() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CORRIDORKEY_OPENJD") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "CORRIDORKEY_OPENJD={}: no such file (`make venv` installs openjd-cli from \
             onnx-export/requirements.txt)",
            p.display()
        );
        return Some(p);
    }
    let venv = root().join(".venv/bin/openjd");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("openjd"))
            .find(|p| p.is_file())
    })
}

/// `openjd` with the job's parameters (Frames 1-6, ChunkSize 2, the test model on the CPU).
fn job(openjd: &Path, dir: &Path, out: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(openjd);
    c.arg("run")
        .arg(template())
        .args(["--timestamp-format", "relative"])
        .arg("-p")
        .arg(format!(
            "InputPlates={}",
            dir.join("in/plate.####.exr").display()
        ))
        .arg("-p")
        .arg(format!(
            "OutputPlates={}",
            dir.join(out).join("k.####.exr").display()
        ))
        .arg("-p")
        .arg(format!("Bundle={}", ofx_test_host::bundle_path().display()))
        .arg("-p")
        .arg(format!("OfxRender={}", env!("CARGO_BIN_EXE_ofx-render")))
        .arg("-p")
        .arg(format!(
            "ModelFolder={}",
            ofx_test_host::test_model_dir().unwrap().display()
        ))
        // The model on the CPU provider; choices by label and by index, blanks around pairs.
        .args([
            "-p",
            "NodeParams=device=CPU; quality=1024 (fast) ;refinerTile=0",
        ])
        .args(["-p", "Frames=1-6", "-p", "ChunkSize=2", "-p", "Threads=1"])
        .args(extra)
        .env_remove("CORRIDORKEY_LOG")
        .env_remove("CORRIDORKEY_TEST_PANIC");
    c
}

fn frame(dir: &Path, out: &str, f: i64) -> PathBuf {
    dir.join(out).join(format!("k.{f:04}.exr"))
}

fn pixels(p: &Path) -> Vec<(String, Vec<f32>)> {
    let (w, h, ch) = read_exr_channels(p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((w, h), (W, H), "{}", p.display());
    ch
}

/// Every channel of every frame within 1e-6 of the reference render.
fn assert_matches(dir: &Path, out: &str, frames: &[i64]) {
    for &f in frames {
        let (a, b) = (
            pixels(&frame(dir, out, f)),
            pixels(&frame(dir, "single", f)),
        );
        assert_eq!(a.len(), b.len(), "frame {f}: channels");
        for ((na, va), (nb, vb)) in a.iter().zip(&b) {
            assert_eq!(na, nb, "frame {f}");
            let d = common::max_abs_diff(va, vb);
            assert!(
                d <= 1e-6,
                "frame {f} channel {na}: differs by {d} from one ofx-render"
            );
        }
    }
}

/// (frame, status) of the ofx-render JSON lines in an `openjd` log (each line carries a
/// timestamp before the JSON).
fn statuses(log: &str) -> Vec<(i64, String)> {
    log.lines()
        .filter_map(|l| l.find("{\"").map(|i| &l[i..]))
        .filter_map(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .map(|v| {
            (
                v["frame"].as_i64().unwrap(),
                v["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_template_renders_in_chunks_fails_naming_the_frame_and_resumes() {
    let Some(openjd) = find_openjd() else {
        eprintln!(
            "farm_job: SKIPPED, no `openjd` (pip install -r onnx-export/requirements.txt, or set \
             CORRIDORKEY_OPENJD); `make test` always runs it"
        );
        return;
    };
    let check = run(Command::new(&openjd).arg("check").arg(template()));
    assert_eq!(check.code, Some(0), "openjd check: {}", check.text());

    let dir = common::empty_dir("farm-job");
    sample_sequence(&dir.join("in"), 1..=6, W, H);
    // The reference: the same frames from one ofx-render process.
    ok(ofx_render()
        .arg(dir.join("in/plate.####.exr"))
        .arg("-o")
        .arg(dir.join("single/k.####.exr"))
        .args(["--frames", "1-6", "--threads", "1"])
        .args(model_args())
        .args(["--param", "quality=0"]));

    // The whole job: three chunks of two frames, each its own ofx-render.
    let r = run(&mut job(&openjd, &dir, "farm", &[]));
    assert_eq!(r.code, Some(0), "openjd run: {}", r.text());
    for chunk in ["1-2", "3-4", "5-6"] {
        assert!(
            r.stdout.contains(&format!("--frames {chunk}"))
                || r.stdout.contains(&format!("keying frames {chunk}")),
            "no task for chunk {chunk}: {}",
            r.stdout
        );
    }
    let st = statuses(&r.stdout);
    assert_eq!(
        st,
        (1..=6).map(|f| (f, "ok".to_owned())).collect::<Vec<_>>(),
        "{}",
        r.stdout
    );
    assert_matches(&dir, "farm", &[1, 2, 3, 4, 5, 6]);

    // Plate 3 cut short (its header reads, its pixels do not): chunk 3-4 fails and names frame 3.
    let good = std::fs::read(dir.join("in/plate.0003.exr")).unwrap();
    std::fs::write(dir.join("in/plate.0003.exr"), &good[..good.len() / 2]).unwrap();
    let r = run(&mut job(&openjd, &dir, "broken", &[]));
    assert_ne!(
        r.code,
        Some(0),
        "a failed frame must fail the job: {}",
        r.text()
    );
    assert!(
        r.text().contains("frame 3 failed") || r.text().contains("frame 3 ("),
        "the log does not name frame 3: {}",
        r.text()
    );
    assert!(frame(&dir, "broken", 1).is_file() && frame(&dir, "broken", 2).is_file());
    assert!(
        !frame(&dir, "broken", 3).exists(),
        "a failed frame was written"
    );
    // ofx-render checks every input frame's header before the first frame renders (issue 26):
    // a chunk with a broken plate fails before work, so frame 4 of that chunk is not written
    // either; the chunks before it are.
    assert!(
        !frame(&dir, "broken", 4).exists(),
        "frame 4 of the failed chunk: {}",
        r.text()
    );
    // `openjd run` is one local session and stops at the first failed task (README says so): the
    // chunk after it did not run. A farm runs each chunk as its own task; here that is a session of
    // one chunk, which writes its frames whatever happened to chunk 3-4.
    assert!(
        !frame(&dir, "broken", 5).exists(),
        "openjd ran on after a failed task"
    );
    let r = run(&mut job(
        &openjd,
        &dir,
        "broken",
        &["--tasks", r#"[{"Frames": "5-6"}]"#],
    ));
    assert_eq!(r.code, Some(0), "chunk 5-6 alone: {}", r.text());
    assert_matches(&dir, "broken", &[5, 6]);

    // The plate repaired, the job again: only the missing frames render.
    std::fs::write(dir.join("in/plate.0003.exr"), &good).unwrap();
    // The kept frames' modification times: a rerun must not touch them.
    let kept_times = || -> Vec<_> {
        [1, 2, 5, 6]
            .iter()
            .map(|&f| {
                frame(&dir, "broken", f)
                    .metadata()
                    .unwrap()
                    .modified()
                    .unwrap()
            })
            .collect()
    };
    let before = kept_times();
    let r = run(&mut job(&openjd, &dir, "broken", &[]));
    assert_eq!(r.code, Some(0), "the rerun: {}", r.text());
    let mut st = statuses(&r.stdout);
    st.sort();
    let rendered: Vec<i64> = st
        .iter()
        .filter(|(_, s)| s == "ok")
        .map(|(f, _)| *f)
        .collect();
    let skipped: Vec<i64> = st
        .iter()
        .filter(|(_, s)| s == "skipped")
        .map(|(f, _)| *f)
        .collect();
    assert!(
        rendered.contains(&3) && !rendered.iter().any(|f| [1, 2, 5, 6].contains(f)),
        "rendered {rendered:?}: {}",
        r.stdout
    );
    assert_eq!(skipped.len() + rendered.len(), 6, "{}", r.stdout);
    let after = kept_times();
    assert_eq!(before, after, "--resume rewrote a finished frame");
    assert_matches(&dir, "broken", &[1, 2, 3, 4, 5, 6]);
    let _ = std::fs::remove_dir_all(&dir);
}
