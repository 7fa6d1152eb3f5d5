//! The engine's contract with its callers (the OFX layer, the benchmark, tools): the frame that goes
//! in, the settings, and the frame that comes out.
//!
//! Images here are host-agnostic: tightly packed, row 0 at the **top**, f32. The OFX layer flips
//! OFX's bottom-up rows and converts depths at the edge, so everything below is one layout.

use std::path::PathBuf;
use std::time::Duration;

/// Interleaved RGBA f32 image, row 0 at the top, `data.len() == width * height * 4`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RgbaImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

/// One-channel f32 image (alpha hint, garbage and core mattes), row 0 at the top.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MatteImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl RgbaImage {
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0.0; width * height * 4],
        }
    }
}

impl MatteImage {
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }
}

/// Where the coarse alpha hint comes from. Order is a saved-project API: append only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HintSource {
    /// The AlphaHint clip; falls back to the built-in key (with a message) when not connected.
    Clip,
    /// The Source clip's own alpha.
    SourceAlpha,
    /// CorridorKey optimization suite's HSV green key, eroded and blurred.
    ChromaKey,
}

/// The built-in green key, in the suite's 8-bit OpenCV HSV scale (hue 0..180, s/v 0..255).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChromaKeyParams {
    pub hue_min: f32,
    pub hue_max: f32,
    pub sat_min: f32,
    pub val_min: f32,
    /// Elliptical erode kernel size in pixels at render scale 1.
    pub erode_px: f32,
    /// Gaussian blur kernel size in pixels at render scale 1.
    pub blur_px: f32,
}

impl Default for ChromaKeyParams {
    fn default() -> Self {
        Self {
            hue_min: 35.0,
            hue_max: 85.0,
            sat_min: 40.0,
            val_min: 30.0,
            erode_px: 7.0,
            blur_px: 21.0,
        }
    }
}

/// The screen colour the plate was shot on: what the built-in key removes and which model of a
/// folder holding several keys it. Order is a saved-project API: append only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ScreenColour {
    #[default]
    Green,
    Blue,
}

impl ScreenColour {
    /// The name model manifests use (docs/MODEL-FORMAT.md).
    pub fn name(self) -> &'static str {
        match self {
            ScreenColour::Green => "green",
            ScreenColour::Blue => "blue",
        }
    }
}

impl ChromaKeyParams {
    /// The key's thresholds for `screen`. The hue params are set for green; a blue screen keys
    /// hue min + 55 to hue max + 45 (90..130 at the defaults, docs/MODEL-FORMAT.md), clamped to
    /// OpenCV's 0..180.
    pub fn for_screen(&self, screen: ScreenColour) -> ChromaKeyParams {
        match screen {
            ScreenColour::Green => *self,
            ScreenColour::Blue => ChromaKeyParams {
                hue_min: (self.hue_min + 55.0).clamp(0.0, 180.0),
                hue_max: (self.hue_max + 45.0).clamp(0.0, 180.0),
                ..*self
            },
        }
    }
}

/// Colour encoding of the Source clip. Order is a saved-project API: append only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputColour {
    Linear,
    Srgb,
}

/// Refiner tiling. Order is a saved-project API: append only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TileSize {
    T512,
    T1024,
    /// One tile of S x S: reproduces upstream exactly (GroupNorm sees the whole image).
    FullFrame,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefinerParams {
    pub enabled: bool,
    /// Multiplies the refiner's delta logits (upstream's `refiner_scale`).
    pub strength: f32,
    pub tile: TileSize,
    pub overlap: usize,
    pub sparse_skip: bool,
    /// A tile whose coarse alpha max is below `skip_low` or min above `skip_high` is skipped.
    pub skip_low: f32,
    pub skip_high: f32,
}

impl Default for RefinerParams {
    fn default() -> Self {
        Self {
            enabled: true,
            strength: 1.0,
            tile: TileSize::T512,
            overlap: 128,
            sparse_skip: true,
            skip_low: 0.05,
            skip_high: 0.95,
        }
    }
}

/// What the node outputs. Order is a saved-project API: append only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputMode {
    Premultiplied,
    Unpremultiplied,
    Matte,
    Foreground,
    Composite,
    Status,
    Hint,
}

/// Compute device preference. Order is a saved-project API: append only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    Auto,
    Cuda,
    TensorRt,
    Cpu,
}

/// Every user-facing setting the engine needs for one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyParams {
    pub hint_source: HintSource,
    pub chroma: ChromaKeyParams,
    pub input_colour: InputColour,
    /// Model inference size S (1024, 1536, 2048).
    pub inference_size: usize,
    pub refiner: RefinerParams,
    /// 0 = no despill, 1 = full upstream 'average' despill.
    pub despill: f32,
    /// Despeckle: keep islands of at least this many pixels (0 = off).
    pub despeckle_px: usize,
    pub clip_black: f32,
    pub clip_white: f32,
    pub output: OutputMode,
    /// Host render scale (x); pixel-sized settings (erode, blur, despeckle) are scaled by it.
    pub render_scale: f64,
    pub screen: ScreenColour,
}

impl Default for KeyParams {
    fn default() -> Self {
        Self {
            hint_source: HintSource::ChromaKey,
            chroma: ChromaKeyParams::default(),
            input_colour: InputColour::Linear,
            inference_size: 2048,
            refiner: RefinerParams::default(),
            despill: 1.0,
            despeckle_px: 0,
            clip_black: 0.0,
            clip_white: 1.0,
            output: OutputMode::Premultiplied,
            render_scale: 1.0,
            screen: ScreenColour::Green,
        }
    }
}

/// One frame in: the plate plus the optional mattes, all the same size as `source`.
#[derive(Clone, Debug)]
pub struct FrameInput<'a> {
    pub source: &'a RgbaImage,
    /// AlphaHint clip, already placed in the source's pixel window (zero outside its bounds).
    pub hint: Option<&'a MatteImage>,
    /// Forces alpha to 0 where set ("outside wins").
    pub garbage: Option<&'a MatteImage>,
    /// Forces alpha to 1 where set.
    pub core: Option<&'a MatteImage>,
}

/// How the samples of a device image are stored, as the host gave them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleDepth {
    /// f32.
    Float,
    /// IEEE half (f16).
    Half,
    /// u16, 0..65535 = 0..1.
    Short,
    /// u8, 0..255 = 0..1.
    Byte,
}

impl SampleDepth {
    pub fn bytes(self) -> usize {
        match self {
            SampleDepth::Float => 4,
            SampleDepth::Half | SampleDepth::Short => 2,
            SampleDepth::Byte => 1,
        }
    }
}

/// An image in CUDA device memory that the caller owns (a host's clip image, or a temporary of the
/// caller's): `height` rows of `width` pixels of `channels` interleaved samples, `row_bytes` apart,
/// row 0 at the **bottom** (OFX order), `ptr` the address of row 0's first sample.
///
/// The caller promises that the memory is CUDA device memory of at least
/// `row_bytes * (height - 1) + width * channels * depth.bytes()` bytes, that it stays allocated
/// until the work the engine queued on the frame's stream has run, and that nobody else writes it
/// meanwhile. The engine checks with the CUDA runtime that each address is device memory on the
/// expected device, and never reads it on the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceImage {
    pub ptr: usize,
    pub row_bytes: usize,
    pub width: usize,
    pub height: usize,
    /// 4 = RGBA, 3 = RGB, 1 = alpha.
    pub channels: usize,
    pub depth: SampleDepth,
}

impl DeviceImage {
    /// Bytes of one row's pixels (without padding).
    pub fn pixel_row_bytes(&self) -> usize {
        self.width * self.channels * self.depth.bytes()
    }
}

/// One frame in device memory: the plate, the optional mattes, and where the result goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceFrame {
    pub source: DeviceImage,
    /// AlphaHint, exactly the source's width x height, already placed in the source's window by
    /// the caller (zero outside its own bounds). For mattes: the alpha of RGBA, the only channel of
    /// alpha, the red channel of RGB.
    pub hint: Option<DeviceImage>,
    /// Garbage matte, as `hint`.
    pub garbage: Option<DeviceImage>,
    /// Core matte, as `hint`.
    pub core: Option<DeviceImage>,
    /// Same size as the source, RGBA float: written by the engine.
    pub output: DeviceImage,
    /// The `cudaStream_t` the caller's work is queued on: the engine's work is ordered after it.
    /// None: the legacy default stream, and the engine's work is done when it returns.
    pub stream: Option<usize>,
}

/// What [`crate::engine::Engine::render_device`] reports: a [`FrameOutput`] whose image went to the
/// device.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameOutputInfo {
    /// True when the output is premultiplied (what the OFX layer declares).
    pub premultiplied: bool,
    pub stats: FrameStats,
    /// As [`FrameOutput::warnings`].
    pub warnings: Vec<String>,
    /// As [`FrameOutput::notes`].
    pub notes: Vec<String>,
}

/// Per-frame facts for the status view, the info line and the benchmark.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameStats {
    pub tiles_run: usize,
    pub tiles_skipped: usize,
    pub prepare_ms: f64,
    pub coarse_ms: f64,
    pub refine_ms: f64,
    pub finish_ms: f64,
    /// Pixels that were NaN/Inf in the input and were replaced by 0.
    pub non_finite_pixels: usize,
}

/// One frame out: RGBA f32, row 0 at the top, same size as the source.
#[derive(Clone, Debug)]
pub struct FrameOutput {
    pub image: RgbaImage,
    /// True when `image` is premultiplied (what the OFX layer declares).
    pub premultiplied: bool,
    pub stats: FrameStats,
    /// Problems the compositor must see (device fallbacks, sanitised pixels, no refiner): the OFX
    /// layer shows them as a persistent warning.
    pub warnings: Vec<String>,
    /// Expected substitutions (built-in key for an unconnected hint clip, closest model size or
    /// precision): informational, for the info line and logs, never a warning badge.
    pub notes: Vec<String>,
}

/// The four stages of a frame, in order (timings, logs, errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    Prepare,
    Coarse,
    Refine,
    Finish,
}

/// Where the models and the ONNX Runtime library live, and which device to run on. Model sets are
/// rebuilt when any of this (or the inference size) changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuntimeConfig {
    /// Folder with `manifest.json` and the graphs (docs/MODEL-FORMAT.md).
    pub model_dir: PathBuf,
    /// Absolute path of `libonnxruntime.so.1.31.1` (beside the .ofx in the bundle).
    pub ort_library: PathBuf,
    pub device: Device,
    /// CUDA `gpu_mem_limit` in MiB (0 = no limit).
    pub gpu_mem_limit_mb: usize,
    /// CUDA device index.
    pub gpu_index: i32,
    /// TensorRT engine cache folder (None = no cache).
    pub engine_cache_dir: Option<PathBuf>,
    /// Tuning knobs and test hooks of the model load (farm switches, not node params).
    pub tuning: RuntimeTuning,
}

/// The model load's settings that are not node parameters. The caller reads them from its
/// environment (`ofx/config.rs`, docs/CONFIG.md has every switch); the engine reads no environment
/// variable. `Default` is what an unset environment gives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuntimeTuning {
    /// `CORRIDORKEY_GPU_REFINER`: the fused-GroupNorm refiner on a GPU when the folder has one
    /// (false keeps the portable refiner: measurements, a farm's fallback).
    pub gpu_refiner: bool,
    /// `CORRIDORKEY_CUDA_OPTIONS`: `key=value,...` ONNX Runtime CUDA-provider options applied after
    /// ours (ORT's own option names).
    pub cuda_options: Option<String>,
    /// `CORRIDORKEY_COARSE_MEMORY_PATTERN`: the coarse graph's planned memory block (off: it cost
    /// 1.6 GB of device peak for no speed, BENCHMARKS.md).
    pub coarse_memory_pattern: bool,
    /// `CORRIDORKEY_ARENA_INITIAL_MB`: the shared GPU arena's first region in one piece (MiB).
    pub arena_initial_mb: Option<usize>,
    /// `CORRIDORKEY_FS_STALL_S`: how long a model-file read may make no progress before it fails.
    pub fs_stall: Duration,
    /// `CORRIDORKEY_TEST_FS_HANG` (tests only): paths containing this hang like a dead network share.
    pub test_fs_hang: Option<String>,
}

impl Default for RuntimeTuning {
    fn default() -> Self {
        Self {
            gpu_refiner: true,
            cuda_options: None,
            coarse_memory_pattern: false,
            arena_initial_mb: None,
            fs_stall: Duration::from_secs(10),
            test_fs_hang: None,
        }
    }
}

/// The filter for the way back from S x S to the plate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum UpscaleFilter {
    /// Lanczos3 (upstream's CLI uses OpenCV's Lanczos4; Lanczos3 is within a hair of it).
    #[default]
    Lanczos3,
    /// Bilinear (upstream's torch post-processing path).
    Bilinear,
}

/// Which of the two ways through a frame to take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PathChoice {
    /// The GPU path on a GPU provider, the CPU path on the CPU provider (where it is faster).
    #[default]
    Auto,
    /// Pre/post-processing and the refine loop on the CPU, around the model graphs.
    Cpu,
    /// Every stage as ONNX graphs on the model's provider, tensors kept there (also on the CPU
    /// provider, where tests compare it with the CPU path).
    Gpu,
}

/// Engine-level settings that are not node parameters (tools and benchmarks set them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RenderOptions {
    /// Tiles per refiner run.
    pub refiner_batch: usize,
    /// Filter for the way back from S to the plate.
    pub upscale: UpscaleFilter,
    /// Use the engine's frame cache (off in benchmarks and in the OFX layer, which has its own).
    pub use_cache: bool,
    pub path: PathChoice,
    /// Benchmark simulation of a trained model's coarse alpha: after the coarse graph runs, its
    /// alpha logits are replaced by the logit of the hint averaged to S/4, so the sparse skip sees
    /// clean screen and solid foreground as a trained model shows them (random test weights never
    /// give uniform alpha). Never on in production.
    pub simulate_trained_coarse: bool,
    /// Test hook (`CORRIDORKEY_TEST_GPU_PATH_FAIL`, tests/engine_gpu_fallback.rs): the GPU path
    /// fails, and the CPU path must key the frame. Never on in production.
    pub fail_gpu_path: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            refiner_batch: 4,
            upscale: UpscaleFilter::Lanczos3,
            use_cache: true,
            path: PathChoice::Auto,
            simulate_trained_coarse: false,
            fail_gpu_path: false,
        }
    }
}
