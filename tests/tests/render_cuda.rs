//! OFX CUDA render (what DaVinci Resolve does on NVIDIA) through the built bundle.
//!
//! Everywhere (CI included): the negotiation (a bundle offers CUDA render to a host that offers it
//! only when it can really key CUDA images; a CPU-only bundle declares nothing), and a host that
//! hands CUDA images anyway gets kOfxStatFailed and a persistent message, not a crash: its image
//! addresses lie in the never-mapped first page, so a plugin that read them on the CPU would kill
//! this test process.
//!
//! Where a CUDA GPU is present: every output mode rendered with CUDA images and with CPU images,
//! compared pixel by pixel (max abs <= 1e-5), at odd sizes, with a render window smaller than the
//! image, an output larger than the render window, mattes with other bounds, padded rows, with and
//! without the host's stream, and with the stream busy when the render starts. Without a GPU they
//! print why they skip. Run them on a GPU machine with the GPU bundle (docs/ARCHITECTURE.md,
//! "CUDA images").

mod common;

use std::io::Write;
use std::sync::OnceLock;

use common::*;
use ofx_test_host::{
    bundle_binary, bundle_path, cuda_unavailable, status, BitDepth, Components, CudaRun,
    HostConfig, HostImage, ImageMemory, Input, Instance, Plugin, RenderRequest, GENERAL,
};

/// One plugin per process, loaded by a host that offers CUDA render and streams (as Resolve does),
/// whether or not this machine has CUDA: the plugin must decide for itself.
fn plugin() -> &'static Plugin {
    static P: OnceLock<Plugin> = OnceLock::new();
    P.get_or_init(|| {
        // CUDA render is opt-in (plugin/src/ofx/engine_call.rs); read when the plugin describes.
        std::env::set_var("CORRIDORKEY_CUDA_IMAGES", "1");
        let config = HostConfig {
            cuda_render_supported: "true".into(),
            cuda_stream_supported: "true".into(),
            ..HostConfig::default()
        };
        Plugin::load(&bundle_path(), config).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// True when CUDA images can be tested here; otherwise says why not, past the harness's capture.
fn gpu_here(test: &str) -> bool {
    match cuda_unavailable() {
        None => true,
        Some(why) => {
            let _ = writeln!(
                std::io::stderr(),
                "render_cuda::{test}: SKIPPED on this machine, it needs a CUDA GPU: {why}"
            );
            false
        }
    }
}

fn bundle_has_cuda_provider() -> bool {
    bundle_binary(&bundle_path())
        .parent()
        .is_some_and(|d| d.join("libonnxruntime_providers_cuda.so").is_file())
}

#[test]
fn the_plugin_offers_cuda_render_only_when_it_can_key_cuda_images() {
    let p = plugin();
    assert_eq!(
        p.host_props()
            .get_str("OfxImageEffectPropCudaRenderSupported")
            .unwrap(),
        ["true"],
        "the host offers CUDA render"
    );
    let d = p.describe().unwrap();
    let props = d.props();
    let expected = bundle_has_cuda_provider() && cuda_unavailable().is_none();
    for name in [
        "OfxImageEffectPropCudaRenderSupported",
        "OfxImageEffectPropCudaStreamSupported",
    ] {
        let declared = props.get_str(name).is_some_and(|v| v == ["true"]);
        assert_eq!(
            declared,
            expected,
            "{name}: declared {declared}; the bundle {} a CUDA provider and CUDA is {}",
            if bundle_has_cuda_provider() {
                "has"
            } else {
                "lacks"
            },
            cuda_unavailable().unwrap_or_else(|| "usable".into())
        );
        if !expected {
            assert!(!props.written_by_plugin(name), "{name} was set");
        }
    }
}

#[test]
fn cuda_images_it_cannot_handle_fail_the_render_cleanly() {
    let inst = plugin().create_instance(GENERAL).unwrap();
    let pl = plate(64, 48, 0);
    set_plate(&inst, &pl, BitDepth::Float, false);
    inst.set_int("show", SHOW_HINT).unwrap();
    let err = inst
        .render(&RenderRequest {
            memory: ImageMemory::FakeCuda,
            ..Default::default()
        })
        .expect_err("CUDA images at addresses that are not device memory must fail the render");
    assert_eq!(err.status, status::FAILED, "{err}");
    let m = inst.persistent_message().expect("a persistent message");
    assert!(m.kind.contains("Error"), "{m:?}");
    assert!(
        m.text.contains("CUDA"),
        "the message names the cause: {m:?}"
    );
    // The instance is not broken: the next frame with CPU images renders.
    let out = render(&inst, 0.0);
    assert!(out.iter().all(|v| v.is_finite()));
    assert!(
        inst.persistent_message()
            .is_none_or(|m| !m.kind.contains("Error")),
        "{:?}",
        inst.persistent_message()
    );
}

// ---- where a GPU is present ----

fn keyed_with_model<'p>(w: usize, h: usize) -> Instance<'p> {
    let dir = ofx_test_host::test_model_dir().expect("model");
    let inst = plugin().create_instance(GENERAL).unwrap();
    set_plate(&inst, &plate(w, h, 3), BitDepth::Float, false);
    inst.set_string("modelFolder", dir.to_str().unwrap())
        .unwrap();
    inst.set_int("device", 1).unwrap(); // CUDA
    inst
}

fn no_error(inst: &Instance<'_>, what: &str) {
    if let Some(m) = inst.persistent_message() {
        assert!(!m.kind.contains("Error"), "{what}: persistent error {m:?}");
    }
}

/// The same frame with CPU images (twice: the provider's own run-to-run spread) and with CUDA
/// images; asserts max abs <= 1e-5 and returns the CUDA-image output.
fn assert_cuda_matches_cpu(
    inst: &Instance<'_>,
    req: &RenderRequest,
    run: CudaRun,
    what: &str,
) -> (HostImage, Option<bool>) {
    let cpu = |n: u32| {
        // A fresh key each time (the node's frame cache would answer the second one).
        plugin().action("OfxActionPurgeCaches", Some(inst.effect()), None, None);
        let out = inst
            .render(&RenderRequest {
                memory: ImageMemory::Cpu,
                ..req.clone()
            })
            .unwrap_or_else(|e| panic!("{what}: CPU images ({n}): {e}"));
        no_error(inst, what);
        out.to_rgba().unwrap()
    };
    let (a, b) = (cpu(1), cpu(2));
    let rendered = inst
        .render_report(&RenderRequest {
            memory: ImageMemory::Cuda(run),
            ..req.clone()
        })
        .unwrap_or_else(|e| panic!("{what}: CUDA images: {e}"));
    no_error(inst, what);
    let got = rendered.image.to_rgba().unwrap();
    // The first render may be the sessions' first (cuDNN picks its algorithms then): compare with
    // the second, and report how far the two CPU-image renders were apart.
    let spread = max_abs_diff(&a, &b);
    let d = max_abs_diff(&got, &b);
    assert!(
        d <= 1e-5,
        "{what}: CUDA images differ from CPU images by {d} (CPU images twice: {spread})"
    );
    (rendered.image, rendered.stream_busy_at_render)
}

#[test]
fn every_output_mode_matches_cpu_images() {
    if !gpu_here("every_output_mode_matches_cpu_images") {
        return;
    }
    let inst = keyed_with_model(97, 61);
    let base = RenderRequest {
        depth: Some(BitDepth::Float),
        ..Default::default()
    };
    for show in 0..7 {
        inst.set_int("show", show).unwrap();
        assert_cuda_matches_cpu(&inst, &base, CudaRun::default(), &format!("show={show}"));
    }
    // Without the host's stream (the plugin finishes before returning).
    inst.set_int("show", SHOW_PREMULTIPLIED).unwrap();
    let no_stream = CudaRun {
        stream: false,
        busy_ms: 0,
    };
    assert_cuda_matches_cpu(&inst, &base, no_stream, "no stream");
}

fn image_over(
    bounds: [i32; 4],
    comps: Components,
    pad: usize,
    f: impl Fn(i32, i32) -> [f32; 4],
) -> HostImage {
    let mut img = HostImage::new(bounds, BitDepth::Float, comps, false, pad);
    let mut v = Vec::new();
    for y in bounds[1]..bounds[3] {
        for x in bounds[0]..bounds[2] {
            v.extend(f(x, y));
        }
    }
    img.fill_rgba(&v).unwrap();
    img
}

#[test]
fn windows_outputs_and_mattes_with_other_bounds_match_cpu_images() {
    if !gpu_here("windows_outputs_and_mattes_with_other_bounds_match_cpu_images") {
        return;
    }
    let (w, h) = (97, 61);
    let inst = keyed_with_model(w, h);
    // A source that does not start at the origin, with padded rows.
    let src_bounds = [13, -7, 13 + w as i32, -7 + h as i32];
    let pl = plate(w, h, 5);
    let src = image_over(src_bounds, Components::Rgba, 40, |x, y| {
        let i = ((y - src_bounds[1]) as usize * w + (x - src_bounds[0]) as usize) * 4;
        [pl.rgba[i], pl.rgba[i + 1], pl.rgba[i + 2], pl.rgba[i + 3]]
    });
    inst.set_input("Source", Input::Image(src)).unwrap();
    // Mattes that overlap the source window only in part.
    let disc = |x: i32, y: i32| {
        let d = ((x - 40) as f32).hypot((y - 20) as f32);
        let a = (1.0 - d / 25.0).clamp(0.0, 1.0);
        [a, a, a, a]
    };
    let hint = image_over([0, 0, 60, 40], Components::Alpha, 0, disc);
    let garbage = image_over([80, 30, 140, 70], Components::Rgba, 12, |_, _| {
        [0.0, 0.0, 0.0, 1.0]
    });
    let core = image_over([20, 10, 50, 30], Components::Alpha, 0, |_, _| [1.0; 4]);
    inst.set_input("AlphaHint", Input::Image(hint)).unwrap();
    inst.set_input("Garbage", Input::Image(garbage)).unwrap();
    inst.set_input("Core", Input::Image(core)).unwrap();
    inst.set_int("hintSource", HINT_CLIP).unwrap();
    let fill = [0.25, 0.5, 0.75, 0.125];
    let window = [20, -3, 90, 45];
    let out_bounds = [0, -10, 120, 60];
    let req = RenderRequest {
        depth: Some(BitDepth::Float),
        window: Some(window),
        output_bounds: Some(out_bounds),
        output_fill: Some(fill),
        row_padding: 24,
        ..Default::default()
    };
    for show in [SHOW_PREMULTIPLIED, SHOW_MATTE, SHOW_STATUS, SHOW_HINT] {
        inst.set_int("show", show).unwrap();
        let (out, _) =
            assert_cuda_matches_cpu(&inst, &req, CudaRun::default(), &format!("show={show}"));
        // Outside the render window the output is untouched.
        let px = out.to_rgba().unwrap();
        let ow = (out_bounds[2] - out_bounds[0]) as usize;
        for (i, p) in px.chunks_exact(4).enumerate() {
            let (x, y) = (
                out_bounds[0] + (i % ow) as i32,
                out_bounds[1] + (i / ow) as i32,
            );
            let inside = x >= window[0] && x < window[2] && y >= window[1] && y < window[3];
            if !inside {
                assert_eq!(
                    p, fill,
                    "show={show}: ({x},{y}) outside the render window changed"
                );
            }
        }
    }
    // A render window that misses the source: transparent black inside it, the rest untouched.
    inst.set_int("show", SHOW_PREMULTIPLIED).unwrap();
    let away = RenderRequest {
        window: Some([0, 52, 12, 60]),
        ..req.clone()
    };
    assert_cuda_matches_cpu(
        &inst,
        &away,
        CudaRun::default(),
        "window outside the source",
    );
}

#[test]
fn a_busy_host_stream_is_waited_for() {
    if !gpu_here("a_busy_host_stream_is_waited_for") {
        return;
    }
    let inst = keyed_with_model(97, 61);
    let req = RenderRequest {
        depth: Some(BitDepth::Float),
        ..Default::default()
    };
    for show in [SHOW_PREMULTIPLIED, SHOW_FOREGROUND] {
        inst.set_int("show", show).unwrap();
        let busy = CudaRun {
            stream: true,
            busy_ms: 400,
        };
        let (_, busy_at_start) =
            assert_cuda_matches_cpu(&inst, &req, busy, &format!("busy stream, show={show}"));
        assert_eq!(
            busy_at_start,
            Some(true),
            "the host's stream must still be busy when the render starts, or this test proves nothing"
        );
    }
}
