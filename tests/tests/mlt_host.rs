//! An MLT-like host (Kdenlive, Shotcut; one plugin load per process, so this file holds one test):
//! 8-bit sRGB RGBA images whatever the plugin asks, the Output clip set to straight alpha, only
//! Source and Output supplied (the other clips have no Connected property and hand images without
//! pixels), and an instance created and destroyed for every frame, as MLT's frame-threaded mode does.
//! The node must key every frame, deliver straight alpha by default, encode sRGB when asked, and note
//! the missing clips once, not on every frame.

mod common;
use common::*;
use ofx_test_host::{
    image_from_rgba, mlt_host_config, test_model_dir, BitDepth, Components, Input, Plugin,
    RenderRequest, FILTER,
};
use std::io::Read;
use std::os::fd::AsRawFd;

const FRAMES: usize = 3;

/// The plugin's stderr (its log) sent to a file while it lives.
struct StderrToFile {
    saved: i32,
    file: std::fs::File,
}

impl StderrToFile {
    fn start(path: &std::path::Path) -> StderrToFile {
        let file = std::fs::File::create(path).unwrap();
        // SAFETY: dup of the process's own stderr descriptor, which stays open.
        let saved = unsafe { libc::dup(2) };
        assert!(saved >= 0, "dup(2) failed");
        // SAFETY: both descriptors are open; fd 2 now writes to the file.
        assert!(unsafe { libc::dup2(file.as_raw_fd(), 2) } >= 0);
        StderrToFile { saved, file }
    }

    /// Restores stderr and returns what was written meanwhile.
    fn finish(self, path: &std::path::Path) -> String {
        // SAFETY: `saved` is the duplicate made in `start`; it goes back to fd 2 and is closed.
        unsafe {
            libc::dup2(self.saved, 2);
            libc::close(self.saved);
        }
        drop(self.file);
        let mut text = String::new();
        std::fs::File::open(path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }
}

/// One frame as MLT renders it: a fresh instance with the given params, destroyed afterwards.
fn mlt_frame(plugin: &Plugin, frame: usize, params: &[(&str, &str)]) -> Vec<f32> {
    let p = plate(160, 90, frame as u32);
    let inst = plugin.create_instance(FILTER).expect("createInstance");
    let img = image_from_rgba(160, 90, &p.rgba, BitDepth::Byte, Components::Rgba, false).unwrap();
    inst.set_input("Source", Input::Image(img)).unwrap();
    for clip in ["AlphaHint", "Garbage", "Core"] {
        inst.set_input(clip, Input::Unstated).unwrap();
    }
    let model = test_model_dir().unwrap();
    inst.set_string("modelFolder", model.to_str().unwrap())
        .unwrap();
    inst.set_param_text("inputColour", "sRGB").unwrap();
    for (name, value) in params {
        inst.set_param_text(name, value).unwrap();
    }
    let out = inst
        .render(&RenderRequest {
            time: frame as f64,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("frame {frame}: {e}"));
    assert_eq!(out.depth(), BitDepth::Byte, "MLT hands 8-bit images");
    if let Some(m) = inst.persistent_message() {
        assert!(!m.kind.contains("Error"), "frame {frame}: {m:?}");
    }
    inst.destroy().unwrap();
    out.to_rgba().unwrap()
}

#[test]
fn mlt_like_host() {
    // Read once per process by the plugin, before its first log line.
    std::env::set_var("CORRIDORKEY_LOG", "1");
    let plugin = Plugin::load(&ofx_test_host::bundle_path(), mlt_host_config())
        .unwrap_or_else(|e| panic!("{e}"));
    let log_path = empty_dir("mlt-log").join("stderr.txt");
    let capture = StderrToFile::start(&log_path);
    let srgb: Vec<Vec<f32>> = (0..FRAMES)
        .map(|f| mlt_frame(&plugin, f, &[("outputColour", "sRGB")]))
        .collect();
    let log = capture.finish(&log_path);

    // "frame N keyed at S=.. (.. screen) in .. ms": one line per keyed frame.
    let keyed = log
        .lines()
        .filter(|l| l.contains("] frame ") && l.contains(" keyed "))
        .count();
    let absent: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("treated as absent"))
        .collect();
    assert_eq!(keyed, FRAMES, "one keyed frame per frame:\n{log}");
    assert!(
        absent.len() <= 3,
        "each missing clip is noted once, not per frame:\n{log}"
    );

    // Straight alpha by default: the premultiplied view, forced, is the same colour times alpha.
    let premult = mlt_frame(
        &plugin,
        0,
        &[("outputColour", "sRGB"), ("followHostAlpha", "0")],
    );
    let step = 1.5 / 255.0;
    let mut soft = 0;
    for (s, p) in srgb[0].chunks_exact(4).zip(premult.chunks_exact(4)) {
        assert!((s[3] - p[3]).abs() <= step, "alpha {s:?} vs {p:?}");
        for c in 0..3 {
            // A straight value at the 8-bit ceiling was clamped (premultiplied / alpha > 1 after
            // despill): it cannot be compared.
            if s[c] >= 1.0 - step {
                continue;
            }
            assert!(
                (s[c] * s[3] - p[c]).abs() <= 2.0 * step,
                "straight {s:?} x alpha vs premultiplied {p:?}"
            );
        }
        soft += usize::from((0..3).any(|c| (s[c] - p[c]).abs() > 4.0 * step));
    }
    assert!(soft > 0, "no soft pixel tells straight from premultiplied");

    // sRGB output: the linear output, encoded (compared where 8-bit linear steps are fine enough).
    let linear = mlt_frame(&plugin, 0, &[("outputColour", "Linear")]);
    let mut encoded = 0;
    for (l, s) in linear.chunks_exact(4).zip(srgb[0].chunks_exact(4)) {
        assert_eq!(l[3], s[3], "alpha is never encoded");
        for c in 0..3 {
            if l[c] > 0.1 {
                let want = corridorkey_srgb(l[c]);
                assert!((s[c] - want).abs() <= 3.0 * step, "{l:?} -> {s:?}");
                encoded += usize::from(s[c] - l[c] > 0.05);
            }
        }
    }
    assert!(encoded > 0, "the sRGB output is not encoded");
}

/// The sRGB transfer function (IEC 61966-2-1).
fn corridorkey_srgb(x: f32) -> f32 {
    if x <= 0.003_130_8 {
        x * 12.92
    } else {
        1.055 * x.powf(1.0 / 2.4) - 0.055
    }
}
