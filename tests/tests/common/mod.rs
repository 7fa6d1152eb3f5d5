//! Helpers shared by the integration tests (each test file includes this module).
#![allow(dead_code)]

use ofx_test_host::synthetic::{green_screen_plate, Plate};
use ofx_test_host::{
    image_from_rgba, BitDepth, Components, Input, Instance, Plugin, RenderRequest,
};
use std::path::PathBuf;

pub const SHOW_PREMULTIPLIED: i32 = 0;
pub const SHOW_UNPREMULTIPLIED: i32 = 1;
pub const SHOW_MATTE: i32 = 2;
pub const SHOW_FOREGROUND: i32 = 3;
pub const SHOW_COMPOSITE: i32 = 4;
pub const SHOW_STATUS: i32 = 5;
pub const SHOW_HINT: i32 = 6;
pub const HINT_CLIP: i32 = 0;
pub const HINT_BUILTIN: i32 = 2;

/// An instance keyed on a synthetic plate (float RGBA, positive rowBytes).
pub fn keyed<'p>(plugin: &'p Plugin, ctx: &str, plate: &Plate, show: i32) -> Instance<'p> {
    let inst = plugin.create_instance(ctx).expect("createInstance");
    set_plate(&inst, plate, BitDepth::Float, false);
    inst.set_int("show", show).unwrap();
    inst
}

pub fn set_plate(inst: &Instance<'_>, plate: &Plate, depth: BitDepth, negative: bool) {
    let img = image_from_rgba(
        plate.width,
        plate.height,
        &plate.rgba,
        depth,
        Components::Rgba,
        negative,
    )
    .unwrap();
    inst.set_input("Source", Input::Image(img)).unwrap();
}

pub fn plate(w: usize, h: usize, frame: u32) -> Plate {
    green_screen_plate(w, h, frame)
}

/// Renders frame `time` at full scale as float; returns RGBA rows.
pub fn render(inst: &Instance<'_>, time: f64) -> Vec<f32> {
    let out = inst
        .render(&RenderRequest {
            time,
            depth: Some(BitDepth::Float),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("render failed: {e}"));
    out.to_rgba().unwrap()
}

/// One channel of RGBA rows.
pub fn channel(rgba: &[f32], c: usize) -> Vec<f32> {
    rgba.chunks_exact(4).map(|p| p[c]).collect()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Renders frames `0..n` once one after another and once on `n` threads at a time, asserts each
/// frame comes out identical both ways, and returns the serial renders.
pub fn assert_threads_match_serial<F>(n: usize, run: F) -> Vec<Vec<f32>>
where
    F: Fn(usize) -> Vec<f32> + Sync,
{
    let serial: Vec<Vec<f32>> = (0..n).map(&run).collect();
    let run = &run;
    let parallel: Vec<Vec<f32>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..n).map(|f| s.spawn(move || run(f))).collect();
        hs.into_iter()
            .map(|h| h.join().expect("render thread panicked"))
            .collect()
    });
    for f in 0..n {
        assert_eq!(
            max_abs_diff(&serial[f], &parallel[f]),
            0.0,
            "frame {f}: parallel differs from serial"
        );
    }
    serial
}

pub fn mean_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .sum::<f64>()
        / a.len().max(1) as f64
}

/// A fresh empty directory under the target dir (unique per call).
pub fn empty_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "ck-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Driving the built `ofx-render` binary.
pub mod cli {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    pub fn ofx_render() -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ofx-render"));
        c.env_remove("CORRIDORKEY_TEST_PANIC");
        c.env_remove("CORRIDORKEY_LOG");
        c
    }

    pub struct Run {
        pub code: Option<i32>,
        pub stdout: String,
        pub stderr: String,
    }

    impl Run {
        pub fn text(&self) -> String {
            format!("{}{}", self.stdout, self.stderr)
        }
    }

    pub fn run(c: &mut Command) -> Run {
        let out: Output = c.output().expect("ofx-render runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// [`run`], but a child still running after `secs` is killed and the test fails (a hang is a
    /// failure to report, not a CI timeout).
    pub fn run_within(c: &mut Command, secs: u64) -> Run {
        use std::io::Read;
        use std::process::Stdio;
        let mut child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ofx-render runs");
        let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let out = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{c:?} still running after {secs} s (hung)");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        Run {
            code: status.code(),
            stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
            stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
        }
    }

    pub fn ok(c: &mut Command) -> Run {
        let r = run(c);
        assert_eq!(r.code, Some(0), "ofx-render failed: {}", r.text());
        r
    }

    pub fn s(p: &Path) -> &str {
        p.to_str().unwrap()
    }

    /// Writes the sample plate of `frame` to `path`.
    pub fn sample(path: &Path, w: usize, h: usize, frame: i64) {
        ok(ofx_render().args([
            "--write-sample-plate",
            s(path),
            "--size",
            &format!("{w}x{h}"),
            "--frame",
            &frame.to_string(),
        ]));
    }

    /// `plate.NNNN.exr` for each frame in `dir`.
    pub fn sample_sequence(dir: &Path, frames: impl IntoIterator<Item = i64>, w: usize, h: usize) {
        std::fs::create_dir_all(dir).unwrap();
        for f in frames {
            sample(&dir.join(format!("plate.{f:04}.exr")), w, h, f);
        }
    }

    /// The network on the CPU: the test model folder and Device = CPU.
    pub fn model_args() -> Vec<String> {
        let dir: PathBuf = ofx_test_host::test_model_dir().unwrap();
        vec![
            "--model-dir".into(),
            dir.to_str().unwrap().into(),
            "--param".into(),
            "device=3".into(),
        ]
    }

    /// The files in `dir` (names, sorted; hidden ones too).
    pub fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}
