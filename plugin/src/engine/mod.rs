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
//! * `steady.rs`: steady mattes, frame t blended with t-1 and t+1 where the plate held still
//!   ([`Engine::render_steady`]);
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
pub mod steady;

pub use contract::*;
pub use error::{EngineError, InputProblem, ModelProblem, RuntimeProblem};
pub use steady::SteadyParams;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use abort::Abort;
use runtime::arena_stats::{ArenaStats, StatsUnavailable};
use runtime::model_set;
use stages::finish::output::is_premultiplied;

/// Frame t and its neighbours for [`Engine::render_steady`] (a neighbour the host does not have,
/// at the ends of a clip, is None).
pub struct SteadyFrames<'a> {
    pub prev: Option<FrameInput<'a>>,
    pub cur: FrameInput<'a>,
    pub next: Option<FrameInput<'a>>,
}

/// The keying engine: model sets in slots (loaded lazily on the first frame that needs them,
/// rebuilt when the runtime config, S or the manifest changes) and a small frame cache.
pub struct Engine {
    slots: slot::Slots,
    cache: cache::FrameCache,
    /// Each frame's own key for steady mattes, by content and settings (never by time), so a
    /// sequential render keys each frame once and the result never depends on render order.
    mattes: cache::FrameCache,
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
            // Frames t-1, t, t+1 and the one before: four 4K keys are ~566 MB.
            mattes: cache::FrameCache::new(4, 600 << 20),
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
        catch_unwind(AssertUnwindSafe(|| {
            self.render_checked(input, params, runtime, options, Abort(abort))
        }))
        .unwrap_or_else(|p| Err(EngineError::Internal(panic_message(p))))
    }

    fn render_checked(
        &self,
        input: &FrameInput<'_>,
        params: &KeyParams,
        runtime: &RuntimeConfig,
        options: &RenderOptions,
        abort: Abort<'_>,
    ) -> Result<FrameOutput, EngineError> {
        inputs::check(input, params)?;
        let (w, h) = (input.source.width, input.source.height);
        if w == 0 || h == 0 {
            // Nothing to key: an empty image, not an error (hosts ask for empty windows).
            return Ok(FrameOutput {
                image: RgbaImage::new(w, h),
                premultiplied: is_premultiplied(params.output),
                stats: FrameStats::default(),
                warnings: Vec::new(),
                notes: Vec::new(),
            });
        }
        let cache_key = options
            .use_cache
            .then(|| cache::key(input, params, runtime, options));
        if let Some(hit) = cache_key.and_then(|k| self.cache.get(k)) {
            return Ok(hit);
        }
        let out = frame::key(&self.slots, input, params, runtime, options, abort)?;
        if let Some(k) = cache_key {
            self.cache.put(k, &out);
        }
        Ok(out)
    }

    /// Keys frame t with steady mattes ([`steady`]): its key blended with the keys of its
    /// neighbours where the plate held still. Each key comes from a small cache keyed by content and
    /// settings, so the result depends on the three frames only. Off, or for the Hint and Status
    /// views, this is [`Engine::render_with`] of frame t. Never panics.
    pub fn render_steady(
        &self,
        frames: &SteadyFrames<'_>,
        params: &KeyParams,
        steady: SteadyParams,
        runtime: &RuntimeConfig,
        options: &RenderOptions,
        abort: &dyn Fn() -> bool,
    ) -> Result<FrameOutput, EngineError> {
        catch_unwind(AssertUnwindSafe(|| {
            self.steady_checked(frames, params, steady, runtime, options, Abort(abort))
        }))
        .unwrap_or_else(|p| Err(EngineError::Internal(panic_message(p))))
    }

    fn steady_checked(
        &self,
        frames: &SteadyFrames<'_>,
        params: &KeyParams,
        steady: SteadyParams,
        runtime: &RuntimeConfig,
        options: &RenderOptions,
        abort: Abort<'_>,
    ) -> Result<FrameOutput, EngineError> {
        let cur = &frames.cur;
        let size = (cur.source.width, cur.source.height);
        let view = matches!(params.output, OutputMode::Hint | OutputMode::Status);
        if !steady.clamped().is_on() || view || size.0 == 0 || size.1 == 0 {
            return self.render_checked(cur, params, runtime, options, abort);
        }
        let mut out = self.keyed(cur, params, runtime, options, abort)?;
        let mut keys = Vec::new();
        for (which, n) in [("previous", &frames.prev), ("next", &frames.next)] {
            let Some(n) = n else { continue };
            if (n.source.width, n.source.height) != size {
                out.notes
                    .push(format!("the {which} frame differs in size; not blended"));
                continue;
            }
            match self.keyed(n, params, runtime, options, abort) {
                Ok(k) => keys.push((n.source, k.image)),
                Err(EngineError::Aborted) => return Err(EngineError::Aborted),
                Err(e) => out.warnings.push(format!(
                    "steady mattes: the {which} frame could not be keyed ({e}); not blended"
                )),
            }
        }
        let pairs: Vec<_> = keys.iter().map(|(p, k)| (*p, k)).collect();
        out.image = steady::blend(cur.source, &out.image, &pairs, steady);
        abort.check()?;
        out.notes
            .push(format!("steady mattes: {} neighbour frame(s)", pairs.len()));
        Ok(out)
    }

    /// One frame's own key, from the steady-matte cache or keyed and stored there.
    fn keyed(
        &self,
        input: &FrameInput<'_>,
        params: &KeyParams,
        runtime: &RuntimeConfig,
        options: &RenderOptions,
        abort: Abort<'_>,
    ) -> Result<FrameOutput, EngineError> {
        inputs::check(input, params)?;
        let key = cache::key(input, params, runtime, options);
        if let Some(hit) = self.mattes.get(key) {
            return Ok(hit);
        }
        let out = frame::key(&self.slots, input, params, runtime, options, abort)?;
        self.mattes.put(key, &out);
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
        self.mattes.clear();
    }
}
