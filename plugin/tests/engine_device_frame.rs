//! `Engine::render_device` (frames in CUDA device memory) against `Engine::render_with` on the same
//! pixels, with real ONNX Runtime on the CPU provider (the staged path moves the pixels; the
//! provider does not matter here). Everywhere: addresses that are not device memory are refused with
//! a typed error, never read. Where a CUDA device is present: every output mode, mixed depths
//! (half, byte, short, float), padded pitches and all three mattes, pixel by pixel; elsewhere the
//! comparison prints why it is skipped.

mod engine_common;

use std::io::Write;

use corridorkey::engine::device_frame::pass_through_device;
use corridorkey::engine::runtime::cuda::{self, Cuda, DeviceBuffer, DeviceRegion, StreamRef};
use corridorkey::engine::{
    DeviceFrame, DeviceImage, Engine, EngineError, FrameInput, HintSource, InputProblem, KeyParams,
    MatteImage, OutputMode, RenderOptions, RgbaImage, SampleDepth,
};
use engine_common::*;

const MODES: [OutputMode; 7] = [
    OutputMode::Premultiplied,
    OutputMode::Unpremultiplied,
    OutputMode::Matte,
    OutputMode::Foreground,
    OutputMode::Composite,
    OutputMode::Status,
    OutputMode::Hint,
];

/// The CUDA runtime with a device, or why not (printed past the test harness's capture, so the
/// skip shows in every log).
fn cuda_here(test: &str) -> Option<&'static Cuda> {
    let why = match cuda::load(None) {
        Ok(c) => match c.device_count() {
            Ok(n) if n > 0 => return Some(c),
            Ok(_) => "no CUDA device".to_string(),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    let _ = writeln!(
        std::io::stderr(),
        "{test}: SKIPPED on this machine, it needs a CUDA GPU: {why}"
    );
    None
}

fn params(mode: OutputMode, hint: HintSource) -> KeyParams {
    KeyParams {
        inference_size: 128,
        output: mode,
        hint_source: hint,
        ..Default::default()
    }
}

fn options() -> RenderOptions {
    RenderOptions {
        use_cache: false,
        ..Default::default()
    }
}

fn image(
    ptr: usize,
    width: usize,
    height: usize,
    channels: usize,
    depth: SampleDepth,
) -> DeviceImage {
    DeviceImage {
        ptr,
        row_bytes: width * channels * depth.bytes(),
        width,
        height,
        channels,
        depth,
    }
}

#[test]
fn addresses_that_are_not_device_memory_are_refused_not_read() {
    let (w, h) = (8, 4);
    // Inside the never-mapped first page: a CPU read would crash the test.
    let frame = DeviceFrame {
        source: image(0x40, w, h, 4, SampleDepth::Float),
        hint: None,
        garbage: Some(image(0x80, w, h, 1, SampleDepth::Byte)),
        core: None,
        output: image(0xc0, w, h, 4, SampleDepth::Float),
        stream: None,
    };
    let rt = runtime(fixtures().join("small_s128"));
    let p = params(OutputMode::Premultiplied, HintSource::ChromaKey);
    let err = Engine::new()
        .render_device(&frame, &p, &rt, &options(), &|| false)
        .unwrap_err();
    let passed = pass_through_device(&frame, &rt).unwrap_err();
    let has_cuda =
        cuda::load(Some(&rt.ort_library)).is_ok_and(|c| c.device_count().is_ok_and(|n| n > 0));
    for e in [&err, &passed] {
        if has_cuda {
            assert!(
                matches!(
                    e,
                    EngineError::BadInput(InputProblem::NotDeviceMemory { name: "source", .. })
                ),
                "{e}"
            );
        } else {
            assert!(matches!(e, EngineError::NoCuda(_)), "{e}");
            assert!(e.to_string().contains("libcudart.so.13"), "{e}");
        }
    }
    // A malformed frame is refused before any CUDA call, with or without CUDA.
    let mut bad = frame;
    bad.output.depth = SampleDepth::Half;
    let e = Engine::new()
        .render_device(&bad, &p, &rt, &options(), &|| false)
        .unwrap_err();
    assert!(e.to_string().contains("RGBA float"), "{e}");
}

/// A test pattern: a green screen with a warm subject, values quantised to what `depth` holds so
/// both sides key the same numbers.
fn plate(w: usize, h: usize) -> RgbaImage {
    let mut img = RgbaImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let subject =
                (x as f32 - w as f32 * 0.5).hypot(y as f32 - h as f32 * 0.6) < h as f32 * 0.35;
            let px = if subject {
                [0.45, 0.3 + 0.002 * x as f32, 0.25, 1.0]
            } else {
                [0.03, 0.5 + 0.001 * y as f32, 0.04, 1.0]
            };
            img.data[(y * w + x) * 4..][..4].copy_from_slice(&px);
        }
    }
    img
}

/// Device rows (bottom-up) of `channels` samples per pixel from a top-down image, as bytes of
/// `depth`, with `pad` bytes after each row; and the values as the CPU side must see them.
fn encode(
    img: &RgbaImage,
    channels: usize,
    depth: SampleDepth,
    pad: usize,
) -> (Vec<u8>, usize, RgbaImage) {
    let (w, h) = (img.width, img.height);
    let row = w * channels * depth.bytes() + pad;
    let mut bytes = vec![0u8; row * h];
    let mut seen = RgbaImage::new(w, h);
    for y in 0..h {
        let top = h - 1 - y;
        for x in 0..w {
            let src = &img.data[(top * w + x) * 4..][..4];
            let picked: Vec<f32> = match channels {
                4 => src.to_vec(),
                3 => src[..3].to_vec(),
                _ => vec![src[3]],
            };
            let mut back = [0f32; 4];
            for (c, v) in picked.iter().enumerate() {
                let at = y * row + (x * channels + c) * depth.bytes();
                let q = match depth {
                    SampleDepth::Float => {
                        bytes[at..at + 4].copy_from_slice(&v.to_ne_bytes());
                        *v
                    }
                    SampleDepth::Half => {
                        let hv = half::f16::from_f32(*v);
                        bytes[at..at + 2].copy_from_slice(&hv.to_bits().to_ne_bytes());
                        hv.to_f32()
                    }
                    SampleDepth::Short => {
                        let s = (v.clamp(0.0, 1.0) * 65535.0).round() as u16;
                        bytes[at..at + 2].copy_from_slice(&s.to_ne_bytes());
                        s as f32 / 65535.0
                    }
                    SampleDepth::Byte => {
                        let b = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                        bytes[at] = b;
                        b as f32 / 255.0
                    }
                };
                back[c] = q;
            }
            let px = match channels {
                4 => back,
                3 => [back[0], back[1], back[2], 1.0],
                _ => [0.0, 0.0, 0.0, back[0]],
            };
            seen.data[(top * w + x) * 4..][..4].copy_from_slice(&px);
        }
    }
    (bytes, row, seen)
}

fn matte_of(seen: &RgbaImage, channels: usize) -> MatteImage {
    // Where `encode` put the matte channel: alpha for RGBA and for a one-channel (alpha) image, red
    // for RGB (the engine reads the same channels).
    let c = if channels == 3 { 0 } else { 3 };
    MatteImage {
        width: seen.width,
        height: seen.height,
        data: seen.data.chunks_exact(4).map(|p| p[c]).collect(),
    }
}

struct OnDevice<'c> {
    _buf: DeviceBuffer<'c>,
    image: DeviceImage,
}

fn upload<'c>(
    cuda: &'c Cuda,
    bytes: &[u8],
    row: usize,
    w: usize,
    h: usize,
    channels: usize,
    depth: SampleDepth,
) -> OnDevice<'c> {
    let buf = DeviceBuffer::new(cuda, bytes.len()).unwrap();
    let whole = buf.region(bytes.len(), bytes.len(), 1).unwrap();
    cuda.upload(&whole, bytes, StreamRef::LEGACY).unwrap();
    OnDevice {
        image: DeviceImage {
            ptr: buf.addr(),
            row_bytes: row,
            width: w,
            height: h,
            channels,
            depth,
        },
        _buf: buf,
    }
}

#[test]
fn device_frames_key_like_cpu_frames() {
    let Some(cuda) = cuda_here("device_frames_key_like_cpu_frames") else {
        return;
    };
    let (w, h) = (37, 23);
    let src = plate(w, h);
    // Mattes: a disc hint, a garbage corner, a core stripe, each in another depth and layout.
    let mut hint = RgbaImage::new(w, h);
    let mut garbage = RgbaImage::new(w, h);
    let mut core = RgbaImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) * 4;
            let d = (x as f32 - 18.0).hypot(y as f32 - 14.0);
            hint.data[i + 3] = (1.0 - d / 10.0).clamp(0.0, 1.0);
            garbage.data[i] = if x < 4 && y < 5 { 1.0 } else { 0.0 };
            core.data[i..i + 4].fill(if (16..20).contains(&x) { 1.0 } else { 0.0 });
        }
    }
    let (src_b, src_row, src_seen) = encode(&src, 4, SampleDepth::Half, 64);
    let (hint_b, hint_row, hint_seen) = encode(&hint, 1, SampleDepth::Byte, 3);
    let (gar_b, gar_row, gar_seen) = encode(&garbage, 3, SampleDepth::Short, 0);
    let (core_b, core_row, core_seen) = encode(&core, 4, SampleDepth::Float, 16);
    let d_src = upload(cuda, &src_b, src_row, w, h, 4, SampleDepth::Half);
    let d_hint = upload(cuda, &hint_b, hint_row, w, h, 1, SampleDepth::Byte);
    let d_gar = upload(cuda, &gar_b, gar_row, w, h, 3, SampleDepth::Short);
    let d_core = upload(cuda, &core_b, core_row, w, h, 4, SampleDepth::Float);
    let out_row = w * 16 + 48;
    let out_buf = DeviceBuffer::new(cuda, out_row * h).unwrap();
    let output = DeviceImage {
        ptr: out_buf.addr(),
        row_bytes: out_row,
        width: w,
        height: h,
        channels: 4,
        depth: SampleDepth::Float,
    };
    let frame = DeviceFrame {
        source: d_src.image,
        hint: Some(d_hint.image),
        garbage: Some(d_gar.image),
        core: Some(d_core.image),
        output,
        stream: None,
    };
    let (hint_m, gar_m, core_m) = (
        matte_of(&hint_seen, 1),
        matte_of(&gar_seen, 3),
        matte_of(&core_seen, 4),
    );
    let input = FrameInput {
        source: &src_seen,
        hint: Some(&hint_m),
        garbage: Some(&gar_m),
        core: Some(&core_m),
    };
    let rt = runtime(fixtures().join("small_s128"));
    let engine = Engine::new();
    // A first render builds the sessions (cuDNN picks its algorithms then); the comparisons below
    // are between warm renders, which are deterministic.
    engine
        .render_with(
            &input,
            &params(MODES[0], HintSource::Clip),
            &rt,
            &options(),
            &|| false,
        )
        .unwrap();
    for mode in MODES {
        let p = params(mode, HintSource::Clip);
        let want = engine
            .render_with(&input, &p, &rt, &options(), &|| false)
            .unwrap_or_else(|e| panic!("{mode:?} on CPU images: {e}"));
        let info = engine
            .render_device(&frame, &p, &rt, &options(), &|| false)
            .unwrap_or_else(|e| panic!("{mode:?} on device images: {e}"));
        assert_eq!(info.premultiplied, want.premultiplied, "{mode:?}");
        assert_eq!(info.warnings, want.warnings, "{mode:?}");
        // The output, bottom-up with its pitch, back to top-down RGBA.
        let mut bytes = vec![0u8; out_row * h];
        let region = out_buf.region(out_row, out_row, h).unwrap();
        cuda.download(&mut bytes, &region, StreamRef::LEGACY)
            .unwrap();
        let mut got = vec![0f32; w * h * 4];
        for y in 0..h {
            let row: &[f32] = bytemuck::cast_slice(&bytes[y * out_row..y * out_row + w * 16]);
            got[(h - 1 - y) * w * 4..][..w * 4].copy_from_slice(row);
        }
        let d = max_abs_diff(&got, &want.image.data);
        let again = engine
            .render_with(&input, &p, &rt, &options(), &|| false)
            .unwrap();
        let spread = max_abs_diff(&again.image.data, &want.image.data);
        assert!(
            d <= 1e-5,
            "{mode:?}: device frame differs by {d} (CPU frames twice: {spread})"
        );
    }
    // A failed frame passes the source through: float RGBA straight, other depths converted.
    pass_through_device(&frame, &rt).unwrap();
    let mut bytes = vec![0u8; out_row * h];
    let region = out_buf.region(out_row, out_row, h).unwrap();
    cuda.download(&mut bytes, &region, StreamRef::LEGACY)
        .unwrap();
    let top_row: &[f32] =
        bytemuck::cast_slice(&bytes[(h - 1) * out_row..(h - 1) * out_row + w * 16]);
    assert_eq!(top_row, &src_seen.data[..w * 4]);
    // Sub-regions address the right bytes: the device row 1 of the hint equals encode()'s.
    let hint_region =
        // SAFETY: d_hint's buffer holds h rows of hint_row bytes and stays alive below.
        unsafe { DeviceRegion::from_raw(d_hint.image.ptr, hint_row, w, h) }.unwrap();
    let mut row1 = vec![0u8; w];
    cuda.download(
        &mut row1,
        &hint_region.sub(0, 1, w, 1).unwrap(),
        StreamRef::LEGACY,
    )
    .unwrap();
    assert_eq!(row1, hint_b[hint_row..hint_row + w]);
}
