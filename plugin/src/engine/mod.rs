//! The host-agnostic keying engine: prepare -> coarse -> refine -> finish.
//!
//! Nothing here knows about OFX. The OFX layer (`crate::ofx`) converts host images into
//! [`FrameInput`], calls [`Engine::render`], and writes [`FrameOutput`] back; the benchmark and tools
//! call the same function. See `../shared/docs/DESIGN.md` section 2.

pub mod arena;
pub mod cache;
pub mod coarse;
pub mod colour;
pub mod despeckle;
pub mod device;
pub mod finish;
pub mod hint;
pub mod manifest;
pub mod morph;
pub mod output;
pub mod prepare;
pub mod refine;
pub mod resize;
pub mod session;
pub mod shared_arena;
pub mod tiles;
pub mod types;

pub use resize::UpscaleFilter;
pub use types::*;

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use parking_lot::Mutex;
use rayon::prelude::*;

/// Where the models and the ONNX Runtime library live, and which device to run on. Sessions are
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
}

/// Everything that can stop a frame. The OFX layer shows these as persistent messages and passes
/// the source through; none of them may panic.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no CorridorKey model in {dir}: {detail}")]
    ModelMissing { dir: PathBuf, detail: String },
    #[error("model in {dir} is not usable: {detail}")]
    ModelInvalid { dir: PathBuf, detail: String },
    #[error("ONNX Runtime could not be loaded from {path}: {detail}")]
    Runtime { path: PathBuf, detail: String },
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("bad input: {0}")]
    BadInput(String),
    #[error("render aborted by the host")]
    Aborted,
}

/// Engine-level settings that are not node parameters (tools and benchmarks set them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RenderOptions {
    /// Tiles per refiner run.
    pub refiner_batch: usize,
    /// Filter for the way back from S to the plate.
    pub upscale: UpscaleFilter,
    /// Use the frame cache (off in benchmarks).
    pub use_cache: bool,
    /// Run the frame on the inference device (`engine::device`): None = on for GPU providers,
    /// off on the CPU provider (where the host path is faster).
    pub device_path: Option<bool>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            refiner_batch: 4,
            upscale: UpscaleFilter::Lanczos3,
            use_cache: true,
            device_path: None,
        }
    }
}

/// The process-wide keying engine. Sessions live behind a lock, are created lazily on the first
/// frame that needs them and are rebuilt when the runtime config, S or the manifest changes.
/// Inference is serialised by that lock; preparation and finishing run outside it.
pub struct Engine {
    sessions: Mutex<Option<session::Loaded>>,
    cache: cache::FrameCache,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// Err(Aborted) when the host asked to stop.
fn checked(abort: &dyn Fn() -> bool) -> Result<(), EngineError> {
    if abort() {
        Err(EngineError::Aborted)
    } else {
        Ok(())
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Replaces NaN/Inf by 0; borrows when nothing needs replacing. Returns the non-finite pixel count.
fn sanitise_rgba(img: &RgbaImage) -> (Cow<'_, RgbaImage>, usize) {
    let bad = img
        .data
        .par_chunks(4)
        .filter(|p| p.iter().any(|v| !v.is_finite()))
        .count();
    if bad == 0 {
        return (Cow::Borrowed(img), 0);
    }
    let mut copy = img.clone();
    copy.data.par_iter_mut().for_each(|v| {
        if !v.is_finite() {
            *v = 0.0;
        }
    });
    (Cow::Owned(copy), bad)
}

fn sanitise_matte(m: &MatteImage) -> (Cow<'_, [f32]>, usize) {
    let bad = m.data.par_iter().filter(|v| !v.is_finite()).count();
    if bad == 0 {
        return (Cow::Borrowed(&m.data[..]), 0);
    }
    (
        Cow::Owned(
            m.data
                .par_iter()
                .map(|&v| if v.is_finite() { v } else { 0.0 })
                .collect(),
        ),
        bad,
    )
}

impl Engine {
    /// A separate engine (tests, tools). The ONNX Runtime environment is still one per process.
    pub fn new() -> Self {
        // Two 4K frames of f32 RGBA are ~283 MB; keep at most that.
        Self {
            sessions: Mutex::new(None),
            cache: cache::FrameCache::new(2, 300 << 20),
        }
    }

    /// The one process-wide engine (hosts create/destroy instances freely; models load once).
    pub fn global() -> &'static Engine {
        static ENGINE: OnceLock<Engine> = OnceLock::new();
        ENGINE.get_or_init(Engine::new)
    }

    /// Keys one frame. Never panics. Err(ModelMissing) when the model folder has no usable manifest
    /// and the output mode needs the network; the Hint and Status views work without a model
    /// (Status then shows the hint-based matte). Polls `abort` between stages and refiner batches.
    pub fn render(
        &self,
        input: &FrameInput<'_>,
        params: &KeyParams,
        runtime: &RuntimeConfig,
        abort: &dyn Fn() -> bool,
    ) -> Result<FrameOutput, EngineError> {
        self.render_with(input, params, runtime, &RenderOptions::default(), abort)
    }

    /// [`Engine::render`] with engine options.
    pub fn render_with(
        &self,
        input: &FrameInput<'_>,
        params: &KeyParams,
        runtime: &RuntimeConfig,
        options: &RenderOptions,
        abort: &dyn Fn() -> bool,
    ) -> Result<FrameOutput, EngineError> {
        match catch_unwind(AssertUnwindSafe(|| {
            self.render_inner(input, params, runtime, options, abort)
        })) {
            Ok(r) => r,
            Err(p) => Err(EngineError::Inference(format!(
                "internal error: {}",
                panic_message(p)
            ))),
        }
    }

    /// One line for the node's info param: model variant, S, precision, device in use, or why none.
    pub fn describe(&self, runtime: &RuntimeConfig, inference_size: usize) -> String {
        let r = catch_unwind(AssertUnwindSafe(|| {
            if let Some(l) = self.sessions.lock().as_ref() {
                if l.key == session::SessionKey::new(runtime, inference_size) {
                    return l.describe();
                }
            }
            match session::probe(runtime, inference_size) {
                Ok(choice) => format!(
                    "model ready: S={} ({}), loads on the first frame",
                    choice.coarse.size.unwrap_or(inference_size),
                    runtime.model_dir.display()
                ),
                Err(e) => e.to_string(),
            }
        }));
        r.unwrap_or_else(|p| format!("internal error: {}", panic_message(p)))
    }

    /// The session set for `want`, loading it when absent or stale.
    fn ensure_loaded<'g>(
        guard: &'g mut Option<session::Loaded>,
        want: &session::SessionKey,
    ) -> Result<&'g mut session::Loaded, EngineError> {
        if guard.as_ref().map(|l| &l.key != want).unwrap_or(true) {
            *guard = None;
            *guard = Some(session::load(&want.runtime, want.requested_size)?);
        }
        guard
            .as_mut()
            .ok_or_else(|| EngineError::Inference("sessions not loaded".into()))
    }

    /// ONNX Runtime arena statistics of the loaded sessions (empty before the first frame); one
    /// Err per session whose arena could not be read. For the benchmark; never panics.
    pub fn arena_stats(&self) -> Vec<Result<arena::ArenaStats, String>> {
        catch_unwind(AssertUnwindSafe(|| {
            self.sessions
                .lock()
                .as_ref()
                .map(arena::collect)
                .unwrap_or_default()
        }))
        .unwrap_or_else(|p| vec![Err(format!("internal error: {}", panic_message(p)))])
    }

    /// Drops the sessions and cached frames (tests, tools).
    pub fn unload(&self) {
        *self.sessions.lock() = None;
        self.cache.clear();
    }

    fn render_inner(
        &self,
        input: &FrameInput<'_>,
        params: &KeyParams,
        runtime: &RuntimeConfig,
        options: &RenderOptions,
        abort: &dyn Fn() -> bool,
    ) -> Result<FrameOutput, EngineError> {
        let src = input.source;
        let (w, h) = (src.width, src.height);
        if src.data.len() != w * h * 4 {
            return Err(EngineError::BadInput(format!(
                "source has {} values, expected {w}x{h}x4",
                src.data.len()
            )));
        }
        for (name, m) in [
            ("hint", input.hint),
            ("garbage", input.garbage),
            ("core", input.core),
        ] {
            if let Some(m) = m {
                if m.width != w || m.height != h || m.data.len() != w * h {
                    return Err(EngineError::BadInput(format!(
                        "{name} matte is {}x{} ({} values), the source is {w}x{h}",
                        m.width,
                        m.height,
                        m.data.len()
                    )));
                }
            }
        }
        if w == 0 || h == 0 {
            // Nothing to key: an empty image, not an error (hosts ask for empty windows).
            return Ok(FrameOutput {
                image: RgbaImage::new(w, h),
                premultiplied: output::is_premultiplied(params.output),
                stats: FrameStats::default(),
                warnings: Vec::new(),
                notes: Vec::new(),
            });
        }
        if !(params.render_scale.is_finite() && params.render_scale > 0.0) {
            return Err(EngineError::BadInput(format!(
                "render scale {} is not positive",
                params.render_scale
            )));
        }
        let cache_key = options.use_cache.then(|| {
            cache::key(
                input,
                params,
                runtime,
                (options.upscale == UpscaleFilter::Bilinear) as u64,
            )
        });
        if let Some(k) = cache_key {
            if let Some(hit) = self.cache.get(k) {
                return Ok(hit);
            }
        }
        let out = self.render_uncached(input, params, runtime, options, abort)?;
        if let Some(k) = cache_key {
            self.cache.put(k, &out);
        }
        Ok(out)
    }

    fn render_uncached(
        &self,
        input: &FrameInput<'_>,
        params: &KeyParams,
        runtime: &RuntimeConfig,
        options: &RenderOptions,
        abort: &dyn Fn() -> bool,
    ) -> Result<FrameOutput, EngineError> {
        let check_abort = || checked(abort);
        let (w, h) = (input.source.width, input.source.height);
        let mut stats = FrameStats::default();
        let mut warnings = Vec::new();
        let mut notes = Vec::new();
        let t_prepare = Instant::now();

        let (src, bad) = sanitise_rgba(input.source);
        stats.non_finite_pixels += bad;
        let mut mattes: [Option<Cow<'_, [f32]>>; 3] = [None, None, None];
        for (slot, m) in mattes
            .iter_mut()
            .zip([input.hint, input.garbage, input.core])
        {
            if let Some(m) = m {
                let (clean, bad) = sanitise_matte(m);
                stats.non_finite_pixels += bad;
                *slot = Some(clean);
            }
        }
        if stats.non_finite_pixels > 0 {
            warnings.push(format!(
                "{} input pixels were NaN or infinite and were replaced by 0",
                stats.non_finite_pixels
            ));
        }
        let [hint_clip, garbage, core] = mattes;

        let hint: Cow<'_, [f32]> = match (params.hint_source, hint_clip) {
            (HintSource::Clip, Some(clip)) => clip,
            (HintSource::SourceAlpha, _) => Cow::Owned(hint::source_alpha(&src)),
            (source, _) => {
                if source == HintSource::Clip {
                    notes
                        .push("AlphaHint clip not connected; using the built-in chroma key".into());
                }
                Cow::Owned(hint::chroma_key(
                    &src,
                    params.input_colour,
                    &params.chroma,
                    params.render_scale,
                ))
            }
        };
        check_abort()?;

        if params.output == OutputMode::Hint {
            stats.prepare_ms = ms(t_prepare);
            return Ok(FrameOutput {
                image: output::hint_image(&hint, w, h),
                premultiplied: false,
                stats,
                warnings,
                notes,
            });
        }

        // Sessions (lazily built; rebuilt when the runtime, S or the manifest changed). The lock is
        // not held while the input is prepared, so other instances can run inference meanwhile.
        let want = session::SessionKey::new(runtime, params.inference_size);
        // Session loading is not preparation: its time is left out of prepare_ms (the cold first
        // frame's total shows it).
        let t_load = Instant::now();
        let (s, provider) = {
            let mut guard = self.sessions.lock();
            match Self::ensure_loaded(&mut guard, &want) {
                Ok(l) => (l.size, l.provider),
                Err(EngineError::ModelMissing { dir, detail })
                    if params.output == OutputMode::Status =>
                {
                    drop(guard);
                    warnings.push(format!(
                        "no model in {} ({detail}); status shows the hint",
                        dir.display()
                    ));
                    stats.prepare_ms = ms(t_prepare);
                    let t_finish = Instant::now();
                    let f = finish::finish_from_hint(
                        &hint,
                        (w, h),
                        params,
                        garbage.as_deref(),
                        core.as_deref(),
                    );
                    let image = output::status_image(&f, None);
                    stats.finish_ms = ms(t_finish);
                    return Ok(FrameOutput {
                        image,
                        premultiplied: false,
                        stats,
                        warnings,
                        notes,
                    });
                }
                Err(e) => return Err(e),
            }
        };
        let load_ms = ms(t_load);
        let on_device = options
            .device_path
            .unwrap_or(provider != session::Provider::Cpu);
        if on_device {
            match self.render_on_device(
                DeviceFrame {
                    src: &src,
                    hint: &hint,
                    garbage: garbage.as_deref(),
                    core: core.as_deref(),
                    t_prepare,
                    load_ms,
                },
                params,
                options,
                &want,
                (stats.clone(), warnings.clone(), notes.clone()),
                abort,
            ) {
                Ok(out) => return Ok(out),
                Err(e @ (EngineError::Aborted | EngineError::ModelMissing { .. })) => {
                    return Err(e)
                }
                // The frame still renders: the host path needs nothing the device path built.
                Err(e) => warnings.push(format!(
                    "the GPU frame path failed ({e}); this frame was keyed on the host path"
                )),
            }
        }

        let mut tensor = prepare::prepare_input(&src, &hint, params.input_colour, s)
            .map_err(EngineError::Inference)?;
        check_abort()?;
        let mut guard = self.sessions.lock();
        let loaded = Self::ensure_loaded(&mut guard, &want)?;
        if loaded.size != s {
            // Another instance reloaded the model meanwhile and S differs: prepare again.
            tensor = prepare::prepare_input(&src, &hint, params.input_colour, loaded.size)
                .map_err(EngineError::Inference)?;
        }
        warnings.extend(loaded.warnings.iter().cloned());
        notes.extend(loaded.notes.iter().cloned());
        let s = loaded.size;
        stats.prepare_ms = (ms(t_prepare) - load_ms).max(0.0);

        let settings = refine_settings(params, options, s, loaded.refiner.is_some());
        let t_coarse = Instant::now();
        let logits = coarse::run_coarse(&mut loaded.coarse, &tensor, s)?;
        stats.coarse_ms = ms(t_coarse);
        check_abort()?;
        let t_refine = Instant::now();
        let up = refine::upsample_logits(&logits, s)?;
        drop(logits);
        let mut run = |batch: &[f32], b: usize, t: usize| -> Result<Vec<f32>, EngineError> {
            match loaded.refiner.as_mut() {
                Some(r) => coarse::run_refiner(r, batch, b, t),
                None => Err(EngineError::Inference("no refiner session".into())),
            }
        };
        let refined = refine::refine(&tensor, &up, s, &settings, &mut run, abort)?;
        stats.refine_ms = ms(t_refine);
        drop(guard);
        drop(up);
        drop(tensor);
        stats.tiles_run = refined.tiles_run.len();
        stats.tiles_skipped = refined.tiles_skipped.len();
        check_abort()?;

        let t_finish = Instant::now();
        let image = finish_on_host(
            &refined,
            (w, h),
            params,
            garbage.as_deref(),
            core.as_deref(),
            options.upscale,
        )?;
        stats.finish_ms = ms(t_finish);
        Ok(FrameOutput {
            image,
            premultiplied: output::is_premultiplied(params.output),
            stats,
            warnings,
            notes,
        })
    }
}

/// The refiner settings of one frame at S.
fn refine_settings(
    params: &KeyParams,
    options: &RenderOptions,
    s: usize,
    have_refiner: bool,
) -> refine::RefineSettings {
    let tile = match params.refiner.tile {
        TileSize::T512 => 512,
        TileSize::T1024 => 1024,
        TileSize::FullFrame => s,
    };
    refine::RefineSettings {
        enabled: params.refiner.enabled && have_refiner,
        strength: params.refiner.strength,
        tile,
        overlap: params.refiner.overlap,
        sparse_skip: params.refiner.sparse_skip,
        skip_low: params.refiner.skip_low,
        skip_high: params.refiner.skip_high,
        batch: if tile >= s { 1 } else { options.refiner_batch },
    }
}

/// Stage 4 on the host: back to the plate, mattes, then the output mode (or the Status view).
fn finish_on_host(
    refined: &refine::Refined,
    size: (usize, usize),
    params: &KeyParams,
    garbage: Option<&[f32]>,
    core: Option<&[f32]>,
    filter: UpscaleFilter,
) -> Result<RgbaImage, EngineError> {
    let f = finish::finish(refined, size, params, garbage, core, filter)
        .map_err(EngineError::Inference)?;
    Ok(if params.output == OutputMode::Status {
        output::status_image(
            &f,
            Some((refined.s, &refined.tiles_run, &refined.tiles_skipped)),
        )
    } else {
        output::compose(f, params.output)
    })
}

/// What the device path needs of a frame that the host already has.
struct DeviceFrame<'a> {
    src: &'a RgbaImage,
    hint: &'a [f32],
    garbage: Option<&'a [f32]>,
    core: Option<&'a [f32]>,
    t_prepare: Instant,
    load_ms: f64,
}

impl Engine {
    /// Stages 1-4 on the inference device (`engine::device`); despeckle and the Status view take
    /// the refined matte back to the host finish.
    fn render_on_device(
        &self,
        frame: DeviceFrame<'_>,
        params: &KeyParams,
        options: &RenderOptions,
        want: &session::SessionKey,
        (mut stats, mut warnings, mut notes): (FrameStats, Vec<String>, Vec<String>),
        abort: &dyn Fn() -> bool,
    ) -> Result<FrameOutput, EngineError> {
        let check_abort = || checked(abort);
        let (w, h) = (frame.src.width, frame.src.height);
        if std::env::var_os("CORRIDORKEY_TEST_DEVICE_PATH_FAIL").is_some() {
            // Test hook (tests/engine_device_fallback.rs): the host-path fallback must key the frame.
            return Err(EngineError::Inference(
                "device path failure injected".into(),
            ));
        }
        let mut guard = self.sessions.lock();
        let loaded = Self::ensure_loaded(&mut guard, want)?;
        warnings.extend(loaded.warnings.iter().cloned());
        notes.extend(loaded.notes.iter().cloned());
        let s = loaded.size;
        if loaded.kernels.is_none() {
            let (env, _) = session::environment(&loaded.key.runtime.ort_library)?;
            loaded.kernels = Some(device::Kernels::new(
                &env,
                loaded.provider,
                &loaded.key.runtime,
            ));
        }
        let settings = refine_settings(params, options, s, loaded.refiner.is_some());
        let session::Loaded {
            coarse,
            refiner,
            kernels,
            ..
        } = &mut *loaded;
        let k = kernels
            .as_mut()
            .ok_or_else(|| EngineError::Inference("device kernels missing".into()))?;

        let host_finish = params.despeckle_px > 0 || params.output == OutputMode::Status;
        k.prewarm(
            params.input_colour,
            &settings,
            (!host_finish).then_some(frame.garbage.is_some() || frame.core.is_some()),
        )?;
        let image = device::prepare::prepare(k, frame.src, frame.hint, params.input_colour, s)?;
        stats.prepare_ms = (ms(frame.t_prepare) - frame.load_ms).max(0.0);
        check_abort()?;

        let t_coarse = Instant::now();
        let c = device::refine::run_coarse(coarse, k, image)?;
        stats.coarse_ms = ms(t_coarse);
        check_abort()?;

        let t_refine = Instant::now();
        let refined = device::refine::refine(refiner.as_mut(), k, c, s, &settings, abort)?;
        stats.refine_ms = ms(t_refine);
        stats.tiles_run = refined.tiles_run.len();
        stats.tiles_skipped = refined.tiles_skipped.len();
        check_abort()?;

        let t_finish = Instant::now();
        let image = if host_finish {
            let host = refined.to_host(k)?;
            drop(refined);
            drop(guard);
            finish_on_host(
                &host,
                (w, h),
                params,
                frame.garbage,
                frame.core,
                options.upscale,
            )?
        } else {
            let premultiply = params.output == OutputMode::Premultiplied;
            let rgba = device::finish::finish(
                k,
                &refined,
                (w, h),
                params,
                (frame.garbage, frame.core),
                options.upscale,
                premultiply,
            )?;
            drop(refined);
            drop(guard);
            let image = RgbaImage {
                width: w,
                height: h,
                data: rgba,
            };
            match params.output {
                OutputMode::Premultiplied | OutputMode::Unpremultiplied => image,
                mode => output::compose(
                    finish::Finished {
                        width: w,
                        height: h,
                        rgba: image.data,
                        overrides: Vec::new(),
                    },
                    mode,
                ),
            }
        };
        stats.finish_ms = ms(t_finish);
        Ok(FrameOutput {
            image,
            premultiplied: output::is_premultiplied(params.output),
            stats,
            warnings,
            notes,
        })
    }
}
