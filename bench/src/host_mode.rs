//! `--mode host`: the same frames through the built bundle, loaded by the Rust test host the way a
//! real OFX host loads it (describe, createInstance, clip preferences, begin/render/end sequence).
//! Only the total per frame is visible from outside the plugin.
//!
//! `--cuda-images`: the host hands the plugin CUDA device images and its stream (OFX CUDA render,
//! as DaVinci Resolve does on NVIDIA). A frame's time is then the render action plus the work it
//! left on the host's stream; the test host's own uploads and downloads (a real host's images are
//! already on the GPU) are reported beside it, not in it.

use std::time::Instant;

use ofx_test_host::{
    cuda_unavailable, image_from_rgba, BitDepth, Components, CudaRun, HostConfig, ImageMemory,
    Input, ParamValue, Plugin, RenderRequest, GENERAL,
};

use crate::args::{Args, Mode};
use crate::gpu_memory::{Gpu, Sampler};
use crate::plates::{flip_rows, PlateSource};
use crate::report::ModeResult;
use crate::stats::{median, summarise, FrameRow};
use corridorkey::engine::{Device, TileSize};
use corridorkey::ofx::config::SIMULATE_TRAINED_COARSE as SIMULATE_ENV;

/// The plugin's choice indices for the benchmark settings (plugin/src/ofx/params.rs orders).
pub fn plugin_params(args: &Args) -> Result<Vec<(&'static str, String)>, String> {
    let quality = match args.size {
        1024 => 0,
        1536 => 1,
        2048 => 2,
        s => {
            return Err(format!(
                "the plugin's Quality offers S = 1024, 1536 or 2048, not {s}"
            ))
        }
    };
    let tile = match args.tile {
        TileSize::T512 => 0,
        TileSize::T1024 => 1,
        TileSize::FullFrame => 2,
    };
    let device = match args.device {
        Device::Auto => 0,
        Device::Cuda => 1,
        Device::TensorRt => 2,
        Device::Cpu => 3,
    };
    Ok(vec![
        // The built-in chroma key, as in engine mode; the simulation's true matte is the AlphaHint.
        (
            "hintSource",
            if args.simulate_trained { "0" } else { "2" }.into(),
        ),
        ("inputColour", "0".into()),
        ("show", "0".into()), // premultiplied
        ("quality", quality.to_string()),
        ("refiner", if args.refiner { "1" } else { "0" }.into()),
        ("refinerTile", tile.to_string()),
        ("refinerOverlap", args.overlap.to_string()),
        ("sparseSkip", if args.skip { "1" } else { "0" }.into()),
        ("device", device.to_string()),
        ("gpuMemoryMB", args.gpu_mem.to_string()),
        ("modelFolder", args.model_dir.display().to_string()),
    ])
}

/// The version of the ONNX Runtime library shipped beside the plugin binary.
fn bundle_ort_version(bundle: &std::path::Path) -> Option<String> {
    std::fs::read_dir(bundle.join("Contents/Linux-x86-64"))
        .ok()?
        .filter_map(|e| e.ok())
        .find_map(|e| crate::report::ort_version_from_path(&e.path()))
}

pub fn run(
    args: &Args,
    plates: &PlateSource,
    frames: usize,
    gpu: Result<&Gpu, &str>,
) -> ModeResult {
    let mut result = ModeResult::new(if args.cuda_images {
        "host-cuda"
    } else {
        Mode::Host.label()
    });
    if args.simulate_trained {
        result
            .notes
            .push(crate::engine_mode::SIMULATION_NOTE.into());
        // Read by the plugin on every render (plugin/src/ofx/engine_call.rs).
        std::env::set_var(SIMULATE_ENV, "1");
    }
    result.notes.push(format!(
        "bundle {} with its own ONNX Runtime {}; refiner batch and GPU index are the plugin's defaults",
        args.bundle.display(),
        bundle_ort_version(&args.bundle).unwrap_or_else(|| "(version unknown)".into())
    ));
    let settings = match plugin_params(args) {
        Ok(p) => p,
        Err(e) => {
            result.error = Some(e);
            result.memory = Sampler::start(gpu, std::process::id()).finish();
            return result;
        }
    };
    let sampler = Sampler::start(gpu, std::process::id());
    let outcome = render_all(args, plates, frames, &settings, &sampler, &mut result);
    if let Err(e) = outcome {
        result.error = Some(e);
    }
    result.memory = sampler.finish();
    result.summary = summarise(&result.frames);
    result.ok = result.error.is_none() && !result.frames.is_empty();
    result
}

fn render_all(
    args: &Args,
    plates: &PlateSource,
    frames: usize,
    settings: &[(&'static str, String)],
    sampler: &Sampler,
    result: &mut ModeResult,
) -> Result<(), String> {
    let config = if args.cuda_images {
        if let Some(why) = cuda_unavailable() {
            return Err(format!("--cuda-images needs CUDA here: {why}"));
        }
        // CUDA render is opt-in (plugin/src/ofx/engine_call.rs); read when the plugin describes.
        std::env::set_var("CORRIDORKEY_CUDA_IMAGES", "1");
        HostConfig::default().with_cuda()
    } else {
        HostConfig::default()
    };
    let plugin = Plugin::load(&args.bundle, config)?;
    let memory = if args.cuda_images {
        let offered = plugin
            .describe()
            .map_err(|e| e.to_string())?
            .props()
            .get_str("OfxImageEffectPropCudaRenderSupported")
            .is_some_and(|v| v == ["true"]);
        if !offered {
            return Err(format!(
                "the bundle {} does not offer CUDA render (a CPU-only bundle, or its CUDA provider does not load; CORRIDORKEY_LOG=1 says why)",
                args.bundle.display()
            ));
        }
        result.notes.push(
            "CUDA images (kOfxImageEffectPropCudaEnabled = 1, the host's stream): a frame is the render action plus its work on the host's stream; device peaks include the host's own source and output images on the GPU, as in a real host".into(),
        );
        ImageMemory::Cuda(CudaRun {
            stream: true,
            busy_ms: 0,
        })
    } else {
        ImageMemory::Cpu
    };
    let (mut action_ms, mut upload_ms, mut download_ms) = (Vec::new(), Vec::new(), Vec::new());
    let inst = plugin.create_instance(GENERAL).map_err(|e| e.to_string())?;
    for (name, value) in settings {
        inst.set_param_text(name, value)?;
    }
    for i in 0..frames {
        let (src, matte) = if args.simulate_trained {
            let (p, m) = plates
                .frame_and_matte(i)
                .map_err(|e| format!("frame {i}: {e}"))?;
            (p, Some(m))
        } else {
            (
                plates.frame(i).map_err(|e| format!("frame {i}: {e}"))?,
                None,
            )
        };
        // OFX rows go bottom-up: flip so the plugin sees the same picture as the engine.
        let img = image_from_rgba(
            src.width,
            src.height,
            &flip_rows(&src.data, src.width),
            BitDepth::Float,
            Components::Rgba,
            false,
        )?;
        if let Some(m) = matte {
            let rgba: Vec<f32> = m.data.iter().flat_map(|&a| [a, a, a, a]).collect();
            let hint = image_from_rgba(
                m.width,
                m.height,
                &flip_rows(&rgba, m.width),
                BitDepth::Float,
                Components::Alpha,
                false,
            )?;
            inst.set_input("AlphaHint", Input::Image(hint))?;
        }
        drop(src);
        inst.set_input("Source", Input::Image(img))?;
        let req = RenderRequest {
            time: i as f64,
            depth: Some(BitDepth::Float),
            memory,
            ..Default::default()
        };
        sampler.window_start();
        let t = Instant::now();
        let out = inst.render_report(&req);
        let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
        let (device_peak_mib, process_peak_mib) = sampler.window_end();
        let times = out.map_err(|e| format!("frame {i}: {e}"))?.times;
        // CUDA images: the host's own transfers are not the plugin's time.
        let total_ms = if args.cuda_images {
            times.render_ms
        } else {
            wall_ms
        };
        if i > 0 || frames == 1 {
            action_ms.push(times.render_ms);
            upload_ms.push(times.upload_ms);
            download_ms.push(times.download_ms);
        }
        // The plugin passes the source through and posts a persistent error when keying fails.
        if let Some(m) = inst.persistent_message() {
            if m.kind.contains("Error") {
                return Err(format!(
                    "frame {i}: the plugin reported {}: {}",
                    m.kind, m.text
                ));
            }
            if i == 0 {
                result.warnings.push(format!("{}: {}", m.kind, m.text));
            }
        }
        eprintln!(
            "host frame {i}: {total_ms:.1} ms (render action {:.1} ms)",
            times.render_ms
        );
        result.frames.push(FrameRow {
            index: i,
            total_ms,
            device_peak_mib,
            process_peak_mib,
            render_action_ms: Some(times.render_ms),
            ..Default::default()
        });
    }
    if let Some(ParamValue::Str(info)) = inst.effect().params().get("info").map(|p| p.value()) {
        result.engine = info;
    }
    if !action_ms.is_empty() {
        let mut line = format!(
            "render action alone (warm median): {:.1} ms",
            median(&action_ms)
        );
        if args.cuda_images {
            line.push_str(&format!(
                "; the test host's own transfers, outside it: upload {:.1} ms, download {:.1} ms (medians)",
                median(&upload_ms),
                median(&download_ms)
            ));
        }
        result.notes.push(line);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{defaults, parse};
    use std::path::Path;

    fn args(extra: &[&str]) -> Args {
        let argv: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        parse(&argv, defaults(&|_| None, Path::new("/repo")))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn settings_map_to_the_plugin_choices() {
        let p = plugin_params(&args(&[
            "--size",
            "1536",
            "--tile",
            "full",
            "--no-skip",
            "--device",
            "cpu",
            "--overlap",
            "64",
        ]))
        .unwrap();
        let get = |k: &str| p.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("quality"), "1");
        assert_eq!(get("refinerTile"), "2");
        assert_eq!(get("sparseSkip"), "0");
        assert_eq!(get("refiner"), "1");
        assert_eq!(get("device"), "3");
        assert_eq!(get("refinerOverlap"), "64");
        assert!(plugin_params(&args(&["--size", "512"]))
            .unwrap_err()
            .contains("512"));
    }
}
