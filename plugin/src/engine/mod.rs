//! The host-agnostic keying engine: prepare -> coarse -> refine -> finish.
//!
//! Nothing here knows about OFX. The OFX layer (`crate::ofx`) converts host images into
//! [`FrameInput`], calls [`Engine::render`], and writes [`FrameOutput`] back; the benchmark and tools
//! call the same function. A frame runs top to bottom in [`frame::key`]; docs/ARCHITECTURE.md maps
//! the folders:
//!
//! * `contract.rs`, `error.rs`: what callers hand in and get back;
//! * `inputs.rs`, `hint.rs`, `report.rs`, `cache.rs`, `slot.rs`: what happens around the stages;
//! * `stages/`: one folder per stage with its CPU and GPU forms, and the two paths;
//! * `device_frame.rs`, `device_pixels.rs`: frames in CUDA device memory ([`Engine::render_device`]);
//! * `runtime/`: ONNX Runtime (environment, providers, model set, shared arena) and the CUDA runtime,
//!   no stage code;
//! * `gpu/`: the GPU path's kernel graphs and device tensors; `imaging/`: CPU image primitives.

pub mod abort;
pub mod cache;
pub mod contract;
pub mod device_frame;
pub mod device_pixels;
pub mod error;
pub mod frame;
pub mod gpu;
pub mod hint;
pub mod imaging;
pub mod inputs;
pub mod limits;
pub mod report;
pub mod runtime;
pub mod slot;
pub mod stages;

pub use cache::InputHashes;
pub use contract::*;
pub use error::{EngineError, InputProblem, ModelProblem, RuntimeProblem};

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use abort::Abort;
use runtime::arena_stats::{ArenaStats, StatsUnavailable};
use runtime::model_set;
use stages::finish::output::is_premultiplied;

/// The keying engine: model sets in slots (loaded lazily on the first frame that needs them,
/// rebuilt when the runtime config, S or the manifest changes) and a small frame cache.
pub struct Engine {
    slots: slot::Slots,
    cache: cache::FrameCache,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

/// The text of a caught panic; the payload is dropped where a panicking destructor cannot unwind
/// further (a second panic during unwinding aborts the host).
fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let text = if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    };
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(p))) {
        std::mem::forget(p);
    }
    text
}

impl Engine {
    /// A separate engine (tests, tools). The ONNX Runtime environment is still one per process.
    pub fn new() -> Self {
        // Two 4K frames of f32 RGBA are ~283 MB; keep at most that.
        Self {
            slots: slot::Slots::default(),
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
        let out = self.render_shared(input, None, params, runtime, options, abort)?;
        // A frame the cache keeps is copied for the caller; one it does not keep moves out.
        Ok(Arc::try_unwrap(out).unwrap_or_else(|shared| (*shared).clone()))
    }

    /// [`Engine::render_with`] sharing the output with the frame cache (no copy of a new or a
    /// cached frame). `hashes` are `input`'s [`InputHashes`] when the caller took them while it
    /// made the images (None: the engine hashes them when the cache is on).
    pub fn render_shared(
        &self,
        input: &FrameInput<'_>,
        hashes: Option<&InputHashes>,
        params: &KeyParams,
        runtime: &RuntimeConfig,
        options: &RenderOptions,
        abort: &dyn Fn() -> bool,
    ) -> Result<Arc<FrameOutput>, EngineError> {
        catch_unwind(AssertUnwindSafe(|| {
            self.render_checked(input, hashes, params, runtime, options, Abort(abort))
        }))
        .unwrap_or_else(|p| Err(EngineError::Internal(panic_message(p))))
    }

    fn render_checked(
        &self,
        input: &FrameInput<'_>,
        hashes: Option<&InputHashes>,
        params: &KeyParams,
        runtime: &RuntimeConfig,
        options: &RenderOptions,
        abort: Abort<'_>,
    ) -> Result<Arc<FrameOutput>, EngineError> {
        inputs::check(input, params)?;
        let (w, h) = (input.source.width, input.source.height);
        if w == 0 || h == 0 {
            // Nothing to key: an empty image, not an error (hosts ask for empty windows).
            return Ok(Arc::new(FrameOutput {
                image: RgbaImage::new(w, h),
                premultiplied: is_premultiplied(params.output),
                stats: FrameStats::default(),
                warnings: Vec::new(),
                notes: Vec::new(),
            }));
        }
        let cache_key = options.use_cache.then(|| {
            let content = hashes.copied().unwrap_or_else(|| InputHashes::of(input));
            cache::key(&content, params, runtime, options)
        });
        if let Some(hit) = cache_key.and_then(|k| self.cache.get(k)) {
            return Ok(hit);
        }
        let out = Arc::new(frame::key(
            &self.slots,
            input,
            params,
            runtime,
            options,
            abort,
        )?);
        if let Some(k) = cache_key {
            self.cache.put(k, &out);
        }
        Ok(out)
    }

    /// One line for the node's info param: model variant, S, precision, device in use, or why none
    /// (the green-screen model; [`Engine::describe_for`] names the screen).
    pub fn describe(&self, runtime: &RuntimeConfig, inference_size: usize) -> String {
        self.describe_for(runtime, inference_size, ScreenColour::Green)
    }

    /// [`Engine::describe`] for the model keying `screen`.
    pub fn describe_for(
        &self,
        runtime: &RuntimeConfig,
        inference_size: usize,
        screen: ScreenColour,
    ) -> String {
        let r = catch_unwind(AssertUnwindSafe(|| {
            if let Some(line) = self
                .slots
                .find(runtime, inference_size, screen)
                .and_then(|s| s.describe())
            {
                return line;
            }
            match model_set::probe(runtime, inference_size, screen) {
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

    /// ONNX Runtime arena statistics of the loaded model sets (empty before the first frame); one
    /// Err per session whose arena could not be read. For the benchmark; never panics.
    pub fn arena_stats(&self) -> Vec<Result<ArenaStats, StatsUnavailable>> {
        catch_unwind(AssertUnwindSafe(|| self.slots.arena_stats())).unwrap_or_default()
    }

    /// Drops the model sets and cached frames (tests, tools).
    pub fn unload(&self) {
        self.slots.clear();
        self.cache.clear();
    }

    /// Drops the cached frames (a host's purge-caches action).
    pub fn clear_cache(&self) {
        self.cache.clear();
    }
}
