//! `ofx-render`: renders plates through the built CorridorKey bundle with the Rust test host.
//!
//!   ofx-render INPUT -o OUTPUT [--hint HINT] [--param name=value]... [--show MODE] [--model-dir DIR]
//!              [--render-scale S] [--context filter|general] [--frames A-B] [--preview PREVIEW.png]
//!              [--bundle PATH] [--allow-passthrough]
//!   ofx-render --write-sample-plate PATH.exr [--size WxH] [--frame N]
//!
//! INPUT and HINT are an EXR/PNG file or a directory of them (a sequence, sorted by name); PNG is
//! sRGB and converted to linear unless `--param inputColour=1`. OUTPUT is a half-float PXR24 EXR (a
//! directory for sequences); `--preview` writes an sRGB PNG (a directory for sequences).
//!
//! Exit status, for farms: 0 when every frame was keyed; 2 when a render call failed or the plugin
//! passed a frame's source through because of an error (the frames are listed;
//! `--allow-passthrough` writes such frames and exits 0, as a host would); 1 for bad arguments,
//! including a `--frames` range that selects no frame and a render scale that gives an empty image,
//! both refused before anything renders. Values a half float cannot hold are clamped when written,
//! with a count.

use ofx_test_host::imageio::{read_image, write_exr, write_png_preview, Rgba};
use ofx_test_host::synthetic::{downscale_rgba, green_screen_plate};
use ofx_test_host::{
    bundle_path, image_from_rgba, BitDepth, Components, HostConfig, Input, Plugin, RenderRequest,
    FILTER, GENERAL,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Default)]
struct Args {
    input: Option<PathBuf>,
    output: Option<PathBuf>,
    hint: Option<PathBuf>,
    params: Vec<(String, String)>,
    render_scale: f64,
    context: String,
    frames: Option<(usize, usize)>,
    preview: Option<PathBuf>,
    bundle: Option<PathBuf>,
    sample_plate: Option<PathBuf>,
    size: (usize, usize),
    frame: u32,
    allow_passthrough: bool,
}

const USAGE: &str = "usage: ofx-render INPUT -o OUTPUT.exr [--hint H] [--param name=value]... [--show MODE] \
[--model-dir DIR] [--render-scale S] [--context filter|general] [--frames A-B] [--preview P.png] [--bundle B] \
[--allow-passthrough]\n\
       ofx-render --write-sample-plate PATH.exr [--size WxH] [--frame N]";

fn parse() -> Result<Args, String> {
    let mut a = Args {
        render_scale: 1.0,
        context: "general".into(),
        size: (1920, 1080),
        ..Default::default()
    };
    let mut it = std::env::args().skip(1);
    let need = |it: &mut dyn Iterator<Item = String>, flag: &str| {
        it.next().ok_or_else(|| format!("{flag} needs a value"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Err(USAGE.into()),
            "-o" | "--output" => a.output = Some(need(&mut it, &arg)?.into()),
            "--hint" => a.hint = Some(need(&mut it, &arg)?.into()),
            "--param" => {
                let kv = need(&mut it, &arg)?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--param expects name=value, got {kv}"))?;
                a.params.push((k.to_owned(), v.to_owned()));
            }
            "--show" => a.params.push(("show".into(), need(&mut it, &arg)?)),
            "--model-dir" => a.params.push(("modelFolder".into(), need(&mut it, &arg)?)),
            "--render-scale" => {
                a.render_scale = need(&mut it, &arg)?
                    .parse()
                    .map_err(|_| "--render-scale expects a number".to_string())?
            }
            "--context" => a.context = need(&mut it, &arg)?,
            "--frames" => {
                let v = need(&mut it, &arg)?;
                let (s, e) = v.split_once('-').unwrap_or((&v, &v));
                let p = |x: &str| {
                    x.trim()
                        .parse::<usize>()
                        .map_err(|_| format!("bad --frames {v}"))
                };
                let (s, e) = (p(s)?, p(e)?);
                if s > e {
                    return Err(format!(
                        "--frames {v} selects no frame (the first is after the last)"
                    ));
                }
                a.frames = Some((s, e));
            }
            "--preview" => a.preview = Some(need(&mut it, &arg)?.into()),
            "--bundle" => a.bundle = Some(need(&mut it, &arg)?.into()),
            "--allow-passthrough" => a.allow_passthrough = true,
            "--write-sample-plate" => a.sample_plate = Some(need(&mut it, &arg)?.into()),
            "--size" => {
                let v = need(&mut it, &arg)?;
                let (w, h) = v
                    .split_once(['x', 'X'])
                    .ok_or_else(|| format!("--size expects WxH, got {v}"))?;
                a.size = (
                    w.parse().map_err(|_| "bad --size")?,
                    h.parse().map_err(|_| "bad --size")?,
                );
            }
            "--frame" => a.frame = need(&mut it, &arg)?.parse().map_err(|_| "bad --frame")?,
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            _ if a.input.is_none() => a.input = Some(arg.into()),
            _ => return Err(format!("unexpected argument {arg}\n{USAGE}")),
        }
    }
    Ok(a)
}

/// A file, or the sorted EXR/PNG files of a directory.
fn sequence(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("exr") || e.eq_ignore_ascii_case("png"))
        })
        .collect();
    v.sort();
    if v.is_empty() {
        return Err(format!("{}: no .exr or .png files", path.display()));
    }
    Ok(v)
}

/// The downscale factor k of a render scale 1/k.
fn scale_factor(scale: f64) -> Result<usize, String> {
    let bad = || format!("--render-scale must be 1/k for an integer k >= 1, got {scale}");
    if !(scale.is_finite() && scale > 0.0 && scale <= 1.0) {
        return Err(bad());
    }
    let k = (1.0 / scale).round();
    if !(1.0..=1e6).contains(&k) || ((1.0 / k) - scale).abs() > 1e-6 {
        return Err(bad());
    }
    Ok(k as usize)
}

/// Refuses a render scale that leaves a `width x height` plate without pixels.
fn check_scaled_size(width: usize, height: usize, scale: f64) -> Result<(), String> {
    let k = scale_factor(scale)?;
    if width / k == 0 || height / k == 0 {
        return Err(format!(
            "--render-scale {scale} leaves the {width}x{height} plate with no pixels"
        ));
    }
    Ok(())
}

fn scaled(img: Rgba, scale: f64) -> Result<Rgba, String> {
    if (scale - 1.0).abs() < 1e-9 {
        return Ok(img);
    }
    check_scaled_size(img.width, img.height, scale)?;
    let k = scale_factor(scale)?;
    let (data, width, height) = downscale_rgba(&img.data, img.width, img.height, k);
    Ok(Rgba {
        width,
        height,
        data,
    })
}

fn write_sample(path: &Path, size: (usize, usize), frame: u32) -> Result<(), String> {
    let p = green_screen_plate(size.0, size.1, frame);
    write_exr(
        path,
        &Rgba {
            width: p.width,
            height: p.height,
            data: p.rgba,
        },
    )?;
    println!(
        "wrote sample plate {} ({}x{}, frame {frame})",
        path.display(),
        size.0,
        size.1
    );
    Ok(())
}

fn run(a: Args) -> Result<bool, String> {
    if let Some(p) = &a.sample_plate {
        write_sample(p, a.size, a.frame)?;
        return Ok(true);
    }
    let input = a.input.clone().ok_or_else(|| USAGE.to_string())?;
    let output = a
        .output
        .clone()
        .ok_or_else(|| format!("-o OUTPUT is required\n{USAGE}"))?;
    let inputs = sequence(&input)?;
    let hints = a.hint.as_deref().map(sequence).transpose()?;
    let is_seq = input.is_dir();
    if is_seq {
        std::fs::create_dir_all(&output).map_err(|e| format!("{}: {e}", output.display()))?;
        if let Some(p) = &a.preview {
            std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    let context = match a.context.as_str() {
        "filter" => FILTER,
        "general" => GENERAL,
        c => return Err(format!("--context must be filter or general, got {c}")),
    };
    let bundle = a.bundle.clone().unwrap_or_else(bundle_path);
    let plugin = Plugin::load(&bundle, HostConfig::default())?;
    let inst = plugin.create_instance(context).map_err(|e| e.to_string())?;
    for (k, v) in &a.params {
        inst.set_param_text(k, v)?;
    }
    let keep_srgb = a
        .params
        .iter()
        .any(|(k, v)| k == "inputColour" && (v == "1" || v == "sRGB"));
    let (first, last) = a
        .frames
        .unwrap_or((0, if is_seq { inputs.len() - 1 } else { 0 }));
    if is_seq && last >= inputs.len() {
        return Err(format!(
            "--frames {first}-{last}: the sequence has frames 0-{}",
            inputs.len() - 1
        ));
    }
    // Refused before anything renders: a scale that leaves the first plate empty.
    scale_factor(a.render_scale)?;
    {
        let p = if is_seq { &inputs[first] } else { &inputs[0] };
        let img = read_image(p, keep_srgb)?;
        check_scaled_size(img.width, img.height, a.render_scale)?;
    }
    let mut failed = Vec::new();
    let mut passed_through = Vec::new();
    for frame in first..=last {
        let src_path = if is_seq {
            inputs
                .get(frame)
                .ok_or_else(|| format!("frame {frame} beyond the {} inputs", inputs.len()))?
        } else {
            &inputs[0]
        };
        let src = scaled(read_image(src_path, keep_srgb)?, a.render_scale)?;
        let mut img = image_from_rgba(
            src.width,
            src.height,
            &src.data,
            BitDepth::Float,
            Components::Rgba,
            false,
        )?;
        img.render_scale = [a.render_scale; 2];
        inst.set_input("Source", Input::Image(img))?;
        if let Some(h) = &hints {
            let hp = if h.len() == 1 {
                &h[0]
            } else {
                h.get(frame)
                    .ok_or_else(|| format!("no hint for frame {frame}"))?
            };
            let hi = scaled(read_image(hp, false)?, a.render_scale)?;
            let mut himg = image_from_rgba(
                hi.width,
                hi.height,
                &hi.data,
                BitDepth::Float,
                Components::Rgba,
                false,
            )?;
            himg.render_scale = [a.render_scale; 2];
            inst.set_input("AlphaHint", Input::Image(himg))?;
        }
        inst.effect().clear_messages();
        let t = Instant::now();
        let r = inst.render(&RenderRequest {
            time: frame as f64,
            render_scale: a.render_scale,
            depth: Some(BitDepth::Float),
            ..Default::default()
        });
        let ms = t.elapsed().as_secs_f64() * 1e3;
        for m in inst.messages() {
            println!("  [{}] {}", m.kind, m.text);
        }
        // The plugin passes the source through with a persistent error when it cannot key.
        let error = inst
            .persistent_message()
            .inspect(|m| println!("  [persistent {}] {}", m.kind, m.text))
            .filter(|m| m.kind.contains("Error"))
            .map(|m| m.text);
        match r {
            Ok(out) => {
                if let Some(text) = error {
                    passed_through.push(frame);
                    eprintln!(
                        "frame {frame}: {} PASSED THROUGH (not keyed): {text}",
                        src_path.display()
                    );
                    if !a.allow_passthrough {
                        continue;
                    }
                }
                let rgba = Rgba {
                    width: out.width(),
                    height: out.height(),
                    data: out.to_rgba()?,
                };
                let stem = src_path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("frame")
                    .to_owned();
                let out_path = if is_seq {
                    output.join(format!("{stem}.exr"))
                } else {
                    output.clone()
                };
                let clamped = write_exr(&out_path, &rgba)?;
                if clamped > 0 {
                    println!(
                        "  [warning] {clamped} values beyond what a half float holds (+-65504) or NaN were clamped in {}",
                        out_path.display()
                    );
                }
                if let Some(p) = &a.preview {
                    let pp = if is_seq {
                        p.join(format!("{stem}.png"))
                    } else {
                        p.clone()
                    };
                    write_png_preview(&pp, &rgba)?;
                }
                println!(
                    "frame {frame}: {} -> {} ({ms:.1} ms)",
                    src_path.display(),
                    out_path.display()
                );
            }
            Err(e) => {
                failed.push(frame);
                eprintln!(
                    "frame {frame}: {} FAILED after {ms:.1} ms: {e}",
                    src_path.display()
                );
            }
        }
    }
    for m in plugin.global_messages() {
        println!("  [host log {}] {}", m.kind, m.text);
    }
    let list = |v: &[usize]| {
        v.iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !failed.is_empty() {
        eprintln!("ofx-render: render failed for frames {}", list(&failed));
    }
    if !passed_through.is_empty() {
        eprintln!(
            "ofx-render: frames {} were passed through unkeyed because of an error{}",
            list(&passed_through),
            if a.allow_passthrough {
                " (written: --allow-passthrough)"
            } else {
                " and not written (--allow-passthrough writes them)"
            }
        );
    }
    Ok(failed.is_empty() && (passed_through.is_empty() || a.allow_passthrough))
}

fn main() -> ExitCode {
    match parse().and_then(run) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("ofx-render: {e}");
            ExitCode::from(1)
        }
    }
}
