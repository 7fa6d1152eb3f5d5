//! Degrade, never fail: a frame whose device memory runs out is keyed at the next smaller S the
//! folder has, then on the CPU provider, with a one-sentence warning that names the S used and
//! ONNX Runtime's text only in the log (notes). The out-of-memory failure is injected
//! (`RenderOptions::test_device_oom_above`) with the real cuBLAS text on the CPU provider.
//! Quality `Auto` on the CPU provider picks the folder's largest S up to 1024.

mod engine_common;

use corridorkey::engine::{
    Device, Engine, FrameInput, FrameOutput, HintSource, KeyParams, OutputMode, RenderOptions,
    RgbaImage, RuntimeConfig,
};
use engine_common::*;

/// A copy of `uniform_s256` that also holds `small_s128`'s coarse graph: two sizes, 256 and 128.
fn two_sizes(tag: &str) -> TempSet {
    let set = TempSet::copy("uniform_s256", tag);
    let small = fixtures().join("small_s128");
    let small_m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(small.join("manifest.json")).unwrap()).unwrap();
    let coarse = small_m["graphs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["role"] == "coarse" && g["precision"] == "fp32")
        .unwrap()
        .clone();
    let file = coarse["file"].as_str().unwrap();
    std::fs::copy(small.join(file), set.0.join(file)).unwrap();
    let path = set.0.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["graphs"].as_array_mut().unwrap().push(coarse);
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    set
}

fn plate() -> RgbaImage {
    let (w, h) = (96, 54);
    let mut src = RgbaImage::new(w, h);
    for (i, p) in src.data.chunks_mut(4).enumerate() {
        let subject = (i % w).abs_diff(48) < 18;
        p.copy_from_slice(&if subject {
            [0.5, 0.3, 0.25, 1.0]
        } else {
            [0.03, 0.4, 0.05, 1.0]
        });
    }
    src
}

fn render(rt: &RuntimeConfig, size: usize, oom_above: Option<usize>) -> FrameOutput {
    let src = plate();
    let input = FrameInput {
        source: &src,
        hint: None,
        garbage: None,
        core: None,
    };
    let params = KeyParams {
        inference_size: size,
        output: OutputMode::Premultiplied,
        hint_source: HintSource::ChromaKey,
        ..Default::default()
    };
    let options = RenderOptions {
        use_cache: false,
        test_device_oom_above: oom_above,
        ..Default::default()
    };
    Engine::new()
        .render_with(&input, &params, rt, &options, &|| false)
        .unwrap()
}

fn gpu_setting(dir: std::path::PathBuf) -> RuntimeConfig {
    // Device Auto: with a CPU-only ONNX Runtime the sessions run on the CPU provider, but the
    // ladder still has its CPU rung (the runtime did not ask for the CPU).
    RuntimeConfig {
        device: Device::Auto,
        ..runtime(dir)
    }
}

#[test]
fn out_of_device_memory_steps_down_the_sizes_then_to_the_cpu_and_never_fails() {
    let set = two_sizes("degrade-a");
    let rt = gpu_setting(set.0.clone());
    let at_128 = render(&rt, 128, None);
    assert_eq!((at_128.stats.size, at_128.stats.degraded), (128, false));

    // 256 runs out: keyed at 128, the same pixels as asking for 128.
    let out = render(&rt, 256, Some(128));
    assert_eq!((out.stats.size, out.stats.degraded), (128, true));
    assert_eq!(out.image.data, at_128.image.data);
    let warned: Vec<&String> = out
        .warnings
        .iter()
        .filter(|w| w.contains("out of GPU memory"))
        .collect();
    assert_eq!(warned.len(), 1, "{:?}", out.warnings);
    assert!(
        warned[0].contains("at S=256") && warned[0].contains("keyed at S=128"),
        "{}",
        warned[0]
    );
    // ORT's dump stays in the log, never in a warning.
    assert!(out.warnings.iter().all(|w| !w.contains("cuda_call.cc")));
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("cuBLAS ran out of device memory at S=256")
                && n.contains("CUBLAS_STATUS_ALLOC_FAILED")),
        "{:?}",
        out.notes
    );

    // The next frame within the retry window goes straight to 128, and still says so.
    let again = render(&rt, 256, None);
    assert_eq!((again.stats.size, again.stats.degraded), (128, true));
    assert_eq!(again.image.data, at_128.image.data);
}

#[test]
fn when_every_size_runs_out_the_cpu_keys_the_size_asked_for() {
    let set = two_sizes("degrade-b");
    let plain = render(&runtime(set.0.clone()), 256, None);
    let out = render(&gpu_setting(set.0.clone()), 256, Some(0));
    assert_eq!((out.stats.size, out.stats.degraded), (256, true));
    assert!(
        out.warnings.iter().any(
            |w| w.contains("out of GPU memory at every model size from S=256")
                && w.contains("on the CPU at S=256")
        ),
        "{:?}",
        out.warnings
    );
    assert_eq!(out.image.data, plain.image.data);
}

#[test]
fn quality_auto_on_the_cpu_takes_the_largest_size_up_to_1024() {
    let set = two_sizes("degrade-c");
    let src = plate();
    let input = FrameInput {
        source: &src,
        hint: None,
        garbage: None,
        core: None,
    };
    let params = KeyParams {
        auto_size: true,
        inference_size: 128,
        ..Default::default()
    };
    let rt = runtime(set.0.clone());
    let out = Engine::new()
        .render(&input, &params, &rt, &|| false)
        .unwrap();
    assert_eq!(out.stats.size, 256);
    assert!(
        out.notes.iter().any(|n| n.contains("Auto on the CPU")),
        "{:?}",
        out.notes
    );
    let info = Engine::new().describe_params(&rt, &params, None);
    assert!(
        info.contains("S=256") && info.contains("Quality Auto"),
        "{info}"
    );
}
