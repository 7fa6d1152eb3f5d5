//! A render killed mid-sequence leaves only complete frames under their final names, and
//! `--resume` renders the rest without touching what was done.

mod common;
use common::cli::*;
use ofx_test_host::imageio::{partial_path, read_exr_channels};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::SystemTime;

const FRAMES: i64 = 16;

fn out_path(dir: &std::path::Path, f: i64) -> std::path::PathBuf {
    dir.join(format!("out/k.{f:04}.exr"))
}

#[test]
fn resume_after_a_kill_completes_the_sequence() {
    ofx_test_host::Plugin::shared();
    let dir = common::empty_dir("cli-resume");
    sample_sequence(&dir.join("in"), 1..=FRAMES, 128, 96);
    let job = |resume: bool| {
        let mut c = ofx_render();
        c.arg(dir.join("in/plate.####.exr"))
            .arg("-o")
            .arg(dir.join("out/k.####.exr"))
            .args(["--layers", "--log-json", "-"])
            .args(model_args());
        if resume {
            c.arg("--resume");
        }
        c
    };

    // Kill it (SIGKILL: no clean-up of any kind) once two frames are reported.
    let mut child = job(false)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..2 {
        let l = lines.next().expect("a frame line").unwrap();
        assert!(l.contains("\"status\":\"ok\""), "{l}");
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Every frame under its final name reads back completely; the rest are absent.
    let mut done = Vec::new();
    for f in 1..=FRAMES {
        let p = out_path(&dir, f);
        if p.exists() {
            let (w, h, ch) = read_exr_channels(&p)
                .unwrap_or_else(|e| panic!("frame {f} is a partial file: {e}"));
            assert_eq!((w, h, ch.len()), (128, 96, 6), "frame {f}");
            done.push(f);
        }
    }
    assert!(
        done.len() >= 2 && done.len() < FRAMES as usize,
        "the kill did not land mid-sequence: {done:?}"
    );
    let stamps: Vec<SystemTime> = done
        .iter()
        .map(|f| out_path(&dir, *f).metadata().unwrap().modified().unwrap())
        .collect();

    // --resume: the finished frames are skipped, the others rendered.
    let r = ok(&mut job(true));
    let mut statuses = Vec::new();
    for l in r.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
        statuses.push((
            v["frame"].as_i64().unwrap(),
            v["status"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(statuses.len(), FRAMES as usize, "{}", r.stdout);
    for (f, st) in &statuses {
        let want = if done.contains(f) { "skipped" } else { "ok" };
        assert_eq!(st, want, "frame {f}");
    }
    for (f, t) in done.iter().zip(&stamps) {
        let now = out_path(&dir, *f).metadata().unwrap().modified().unwrap();
        assert_eq!(now, *t, "frame {f} was rewritten");
    }
    for f in 1..=FRAMES {
        let p = out_path(&dir, f);
        read_exr_channels(&p).unwrap_or_else(|e| panic!("frame {f}: {e}"));
        assert!(!partial_path(&p).exists(), "frame {f}: temporary file left");
    }
    assert!(
        files(&dir.join("out")).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        files(&dir.join("out"))
    );
}
