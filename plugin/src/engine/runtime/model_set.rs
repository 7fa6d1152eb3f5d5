//! The model set: the coarse and refiner sessions for one inference size, built from a verified
//! model folder on the first execution provider (of those the device setting allows) that works.

use std::collections::HashMap;
use std::path::Path;

use ort::environment::Environment;
use ort::session::Session;
use ort::value::ValueType;

use super::environment::environment;
use super::files::{self, Stamp};
use super::manifest::{self, GraphEntry, ManifestError};
use super::out_of_memory::classify;
use super::providers::{candidates, provider_lib, Provider, Role, PROBE_GRAPH};
use super::session::{build, check_io, GraphSource, SessionError};
use super::shared_arena;
use crate::engine::abort::Abort;
use crate::engine::contract::{RuntimeConfig, ScreenColour};
use crate::engine::error::{EngineError, ModelProblem};
use crate::engine::limits;

/// What a model set was built from: rebuilt when any of it changes. `files` are the files the load
/// read (the manifest first, then graphs) with their stamps, so a graph rewritten in place, even
/// with its size and mtime restored, makes the next frame load (and verify) again.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelSetKey {
    pub runtime: RuntimeConfig,
    pub requested_size: usize,
    pub screen: ScreenColour,
    pub files: Vec<(String, Option<Stamp>)>,
}

impl ModelSetKey {
    /// The key of what is on disk now, for the files `earlier` read (just the manifest when None).
    pub fn current(
        runtime: &RuntimeConfig,
        size: usize,
        screen: ScreenColour,
        earlier: Option<&ModelSetKey>,
        abort: Abort<'_>,
    ) -> Result<Self, EngineError> {
        files::configure(&runtime.tuning);
        let dir = &runtime.model_dir;
        let names: Vec<String> = match earlier {
            Some(k) => k.files.iter().map(|(n, _)| n.clone()).collect(),
            None => vec![manifest::MANIFEST.to_string()],
        };
        let paths = names.iter().map(|n| dir.join(n)).collect();
        let stamps = files::stamps(dir, paths, abort).map_err(|e| {
            manifest_err(
                dir,
                manifest::ManifestError::from_file(manifest::MANIFEST, e),
            )
        })?;
        Ok(Self {
            runtime: runtime.clone(),
            requested_size: size,
            screen,
            files: names.into_iter().zip(stamps).collect(),
        })
    }
}

/// Which refiner graph a model set runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefinerForm {
    /// `refiner`: standard ONNX ops, every provider.
    Portable,
    /// `refiner_gpu`: GroupNorm as ORT's fused CUDA kernel.
    FusedGroupNorm,
}

/// The coarse and refiner sessions plus what they are.
pub struct ModelSet {
    pub key: ModelSetKey,
    pub coarse: Session,
    pub refiner: Option<Session>,
    pub refiner_form: RefinerForm,
    /// The inference size actually in use (the closest available when the requested one is missing).
    pub size: usize,
    pub precision: String,
    pub provider: Provider,
    pub variant: String,
    /// Fallbacks made while loading; repeated in every frame's warnings.
    pub warnings: Vec<String>,
    /// Substitutions made while loading (closest size, other precision); repeated in every frame's notes.
    pub notes: Vec<String>,
}

impl ModelSet {
    /// One line for the node's info param.
    pub fn describe(&self) -> String {
        let device = match self.provider {
            Provider::Cpu => "CPU".to_string(),
            p => format!("{} (GPU {})", p.label(), self.key.runtime.gpu_index),
        };
        let refiner = match (&self.refiner, self.refiner_form) {
            (None, _) => ", no refiner",
            (Some(_), RefinerForm::FusedGroupNorm) => ", fused GroupNorm refiner",
            (Some(_), RefinerForm::Portable) => "",
        };
        format!(
            "GreenFormer {} S={} {} on {device}{refiner}",
            self.variant, self.size, self.precision
        )
    }
}

fn manifest_err(dir: &Path, e: ManifestError) -> EngineError {
    match e {
        ManifestError::Missing(detail) => EngineError::ModelMissing {
            dir: dir.to_path_buf(),
            detail,
        },
        ManifestError::Invalid(detail) => EngineError::ModelInvalid {
            dir: dir.to_path_buf(),
            detail,
        },
        ManifestError::Aborted => EngineError::Aborted,
        ManifestError::OutOfMemory(bytes) => EngineError::OutOfMemory {
            what: "a model file",
            bytes,
        },
    }
}

/// A GPU provider that ran out of device memory building a session is not a provider that does not
/// work: the frame's degrade ladder (`engine::degrade`) tries a smaller S on it before the CPU.
fn out_of_device_memory(p: Provider, text: String, step: &'static str) -> Result<(), EngineError> {
    match classify(&text) {
        Some(_) if p.is_gpu() => Err(EngineError::Inference {
            step,
            source: ort::Error::new(text),
        }),
        _ => Ok(()),
    }
}

/// The coarse sizes S the folder has for `screen` (the other screen's when it has none), largest
/// first; empty when the manifest cannot be read (loading then says why).
pub fn folder_sizes(rt: &RuntimeConfig, screen: ScreenColour) -> Vec<usize> {
    manifest::load(&rt.model_dir, Abort::never())
        .map(|(m, _)| m.coarse_sizes(screen))
        .unwrap_or_default()
}

/// Checks the manifest and the graph files for size S without loading ONNX Runtime (for the info line).
pub fn probe(
    rt: &RuntimeConfig,
    size: usize,
    screen: ScreenColour,
) -> Result<manifest::Choice, EngineError> {
    files::configure(&rt.tuning);
    let dir = &rt.model_dir;
    let (m, _) = manifest::load(dir, Abort::never()).map_err(|(e, _)| manifest_err(dir, e))?;
    manifest::choose(&m, size, "fp32", screen).map_err(|e| manifest_err(dir, e))
}

/// The inference size S of a coarse session: its own input shape `[1, 4, S, S]`, which the
/// manifest's `size` must repeat. Every buffer of a frame is sized from this number.
fn coarse_size(session: &Session, g: &GraphEntry) -> Result<usize, ModelProblem> {
    let shape: Vec<i64> = match session.inputs().first().map(|i| i.dtype()) {
        Some(ValueType::Tensor { shape, .. }) => shape.iter().copied().collect(),
        _ => Vec::new(),
    };
    let bad = || ModelProblem::BadInputShape {
        file: g.file.clone(),
        shape: shape.clone(),
        min: limits::MIN_INFERENCE_SIZE,
        max: limits::MAX_INFERENCE_SIZE,
    };
    let [1, 4, h, w] = shape[..] else {
        return Err(bad());
    };
    let s = usize::try_from(w).map_err(|_| bad())?;
    if h != w || !limits::inference_size_ok(s) {
        return Err(bad());
    }
    match g.size {
        Some(m) if m == s => Ok(s),
        m => Err(ModelProblem::SizeMismatch {
            file: g.file.clone(),
            manifest: m.unwrap_or(0),
            graph: s,
        }),
    }
}

/// The graph files read during one load, each once: their bytes, and every file's stamp (read or
/// refused) for the model set's key.
struct Reads<'a> {
    dir: &'a Path,
    abort: Abort<'a>,
    bytes: HashMap<String, Vec<u8>>,
    files: Vec<(String, Option<Stamp>)>,
}

impl Reads<'_> {
    fn note(&mut self, name: &str, stamp: Option<Stamp>) {
        if !self.files.iter().any(|(n, _)| n == name) {
            self.files.push((name.to_string(), stamp));
        }
    }

    fn graph(&mut self, g: &GraphEntry) -> Result<&[u8], EngineError> {
        if !self.bytes.contains_key(&g.file) {
            match manifest::read_graph(self.dir, g, self.abort) {
                Ok(v) => {
                    self.note(&g.file, Some(v.stamp));
                    self.bytes.insert(g.file.clone(), v.bytes);
                }
                Err((e, stamp)) => {
                    self.note(&g.file, stamp);
                    return Err(manifest_err(self.dir, e));
                }
            }
        }
        self.bytes
            .get(&g.file)
            .map(Vec::as_slice)
            .ok_or_else(|| EngineError::Internal(format!("{} not read", g.file)))
    }
}

/// Builds the sessions for `rt` and size S: tries the providers the device setting allows, in order,
/// falling back (with a warning) when one fails. Model problems are errors, not fallbacks.
pub fn load(rt: &RuntimeConfig, size: usize) -> Result<ModelSet, EngineError> {
    load_for(rt, size, ScreenColour::Green)
}

/// [`load`] for the model of a folder that keys `screen`.
pub fn load_for(
    rt: &RuntimeConfig,
    size: usize,
    screen: ScreenColour,
) -> Result<ModelSet, EngineError> {
    load_watched(rt, size, screen, Abort::never()).0
}

/// [`load`] with the host's abort polled while files are read, returning the key of what was read
/// either way (the slot remembers a failed load under it until those files change).
pub fn load_watched(
    rt: &RuntimeConfig,
    size: usize,
    screen: ScreenColour,
    abort: Abort<'_>,
) -> (Result<ModelSet, EngineError>, ModelSetKey) {
    files::configure(&rt.tuning);
    let mut reads = Reads {
        dir: &rt.model_dir,
        abort,
        bytes: HashMap::new(),
        files: Vec::new(),
    };
    let r = load_with(rt, size, screen, &mut reads);
    let key = ModelSetKey {
        runtime: rt.clone(),
        requested_size: size,
        screen,
        files: reads.files,
    };
    (r.map(|loaded| loaded.keyed(key.clone())), key)
}

/// A model set before the key of the files its load read is known.
struct Loaded {
    built: Built,
    precision: String,
    variant: String,
    warnings: Vec<String>,
    notes: Vec<String>,
}

impl Loaded {
    fn keyed(self, key: ModelSetKey) -> ModelSet {
        ModelSet {
            key,
            coarse: self.built.coarse,
            refiner: self.built.refiner,
            refiner_form: self.built.refiner_form,
            size: self.built.size,
            precision: self.precision,
            provider: self.built.provider,
            variant: self.variant,
            warnings: self.warnings,
            notes: self.notes,
        }
    }
}

/// The sessions one provider built.
struct Built {
    coarse: Session,
    refiner: Option<Session>,
    refiner_form: RefinerForm,
    size: usize,
    provider: Provider,
    /// Why the sessions keep their own GPU arenas, if they do.
    arena_note: Option<String>,
}

/// Why a provider cannot take the model set: the warning the frame shows, and the error reported
/// when no provider can.
struct FallBack {
    warning: String,
    error: String,
}

impl FallBack {
    fn failed(p: Provider, what: &str, e: impl std::fmt::Display) -> Self {
        FallBack {
            warning: format!("{}{what} failed ({e}); falling back", p.label()),
            error: e.to_string(),
        }
    }
}

/// A step of one provider's attempt: done, a reason to try the next provider, or an error that ends
/// the load (a model problem, an abort).
type Step<T> = Result<Result<T, FallBack>, EngineError>;

/// One provider's attempt at the graphs `choice` names.
struct Attempt<'a> {
    rt: &'a RuntimeConfig,
    env: &'a Environment,
    p: Provider,
    choice: &'a manifest::Choice,
}

impl Attempt<'_> {
    fn invalid(&self) -> impl Fn(ModelProblem) -> EngineError + '_ {
        |detail| EngineError::ModelInvalid {
            dir: self.rt.model_dir.clone(),
            detail: Box::new(detail),
        }
    }

    fn build(&self, bytes: &[u8], role: Role) -> Result<Session, SessionError> {
        build(self.env, GraphSource::Memory(bytes), self.p, self.rt, role)
    }
}

/// Reads the manifest (a missing model must be reported as such even without a runtime), then
/// tries the providers the device setting allows, in order, until one builds the model set.
fn load_with(
    rt: &RuntimeConfig,
    size: usize,
    screen: ScreenColour,
    reads: &mut Reads<'_>,
) -> Result<Loaded, EngineError> {
    let dir = &rt.model_dir;
    let m = match manifest::load(dir, reads.abort) {
        Ok((m, stamp)) => {
            reads.note(manifest::MANIFEST, Some(stamp));
            m
        }
        Err((e, stamp)) => {
            reads.note(manifest::MANIFEST, stamp);
            return Err(manifest_err(dir, e));
        }
    };
    let (env, env_warning) = environment(&rt.ort_library)?;
    let mut warnings: Vec<String> = env_warning.into_iter().collect();
    let mut last_err = String::new();
    for p in candidates(rt.device, &rt.ort_library) {
        let choice =
            manifest::choose(&m, size, p.precision(), screen).map_err(|e| manifest_err(dir, e))?;
        let attempt = Attempt {
            rt,
            env: &env,
            p,
            choice: &choice,
        };
        match try_provider(&attempt, reads, &mut warnings)? {
            Ok(mut built) => {
                warnings.extend(choice.warnings.iter().cloned());
                warnings.extend(built.arena_note.take());
                return Ok(Loaded {
                    built,
                    precision: choice.coarse.precision.clone(),
                    variant: m.variant.clone(),
                    warnings,
                    notes: choice.notes.clone(),
                });
            }
            Err(f) => {
                warnings.push(f.warning);
                last_err = f.error;
            }
        }
    }
    Err(EngineError::NoProvider(last_err))
}

/// One provider: its coarse and refiner sessions, or the reason to fall back to the next one.
fn try_provider(a: &Attempt<'_>, reads: &mut Reads<'_>, warnings: &mut Vec<String>) -> Step<Built> {
    reads.graph(&a.choice.coarse)?;
    if let Some(r) = &a.choice.refiner {
        reads.graph(r)?;
    }
    reads.abort.check()?;
    let arena_note = match gpu_ready(a) {
        Ok(note) => note,
        Err(f) => return Ok(Err(f)),
    };
    let coarse = match a.build(reads.graph(&a.choice.coarse)?, Role::Coarse) {
        Ok(s) => s,
        Err(e) => {
            out_of_device_memory(a.p, e.to_string(), "loading the coarse graph")?;
            return Ok(Err(FallBack::failed(a.p, "", e)));
        }
    };
    check_io(&coarse, &a.choice.coarse).map_err(a.invalid())?;
    let size = coarse_size(&coarse, &a.choice.coarse).map_err(a.invalid())?;
    reads.abort.check()?;
    let (refiner, refiner_form) = match choose_refiner(a, reads, warnings)? {
        Ok(r) => r,
        Err(f) => return Ok(Err(f)),
    };
    Ok(Ok(Built {
        coarse,
        refiner,
        refiner_form,
        size,
        provider: a.p,
        arena_note,
    }))
}

/// A GPU provider's library is there and loads, and the shared arena is in place (Ok(Some(note))
/// when the sessions keep their own arenas). Nothing to do on the CPU.
fn gpu_ready(a: &Attempt<'_>) -> Result<Option<String>, FallBack> {
    if !a.p.is_gpu() {
        return Ok(None);
    }
    let name = if a.p == Provider::TensorRt {
        "tensorrt"
    } else {
        "cuda"
    };
    let lib = provider_lib(&a.rt.ort_library, name);
    if !lib.is_file() {
        let msg = format!(
            "{} provider library {} not found",
            a.p.label(),
            lib.display()
        );
        return Err(FallBack {
            warning: format!("{msg}; falling back"),
            error: msg,
        });
    }
    // The shared arena makes ORT load the CUDA provider, and a failed load there aborts the
    // process; a small probe session proves the provider loads first (its failure is an ordinary
    // error and a fallback).
    a.build(PROBE_GRAPH, Role::Kernel)
        .map_err(|e| FallBack::failed(a.p, "", e))?;
    let rt = a.rt;
    let arena = shared_arena::ensure(
        a.env,
        rt.gpu_index,
        rt.gpu_mem_limit_mb,
        rt.tuning.arena_initial_mb,
    );
    Ok(match arena {
        Ok(note) => note,
        Err(e) => Some(format!(
            "no shared GPU arena ({e}); each graph keeps its own, which needs more memory"
        )),
    })
}

/// The refiner on provider `a.p`: the fused-GroupNorm graph on a GPU when the folder has one and it
/// builds, the portable graph otherwise (same I/O), none when the folder has none.
fn choose_refiner(
    a: &Attempt<'_>,
    reads: &mut Reads<'_>,
    warnings: &mut Vec<String>,
) -> Step<(Option<Session>, RefinerForm)> {
    if let Some(fused) = fused_refiner(a, reads, warnings)? {
        return Ok(Ok((Some(fused), RefinerForm::FusedGroupNorm)));
    }
    let Some(entry) = &a.choice.refiner else {
        return Ok(Ok((None, RefinerForm::Portable)));
    };
    let s = match a.build(reads.graph(entry)?, Role::Refiner) {
        Ok(s) => s,
        Err(e) => {
            out_of_device_memory(a.p, e.to_string(), "loading the refiner")?;
            return Ok(Err(FallBack::failed(a.p, " for the refiner", e)));
        }
    };
    check_io(&s, entry).map_err(a.invalid())?;
    Ok(Ok((Some(s), RefinerForm::Portable)))
}

/// The fused-GroupNorm refiner, when allowed and it loads; a failure to build it is a warning (the
/// portable refiner takes over), an abort ends the load.
fn fused_refiner(
    a: &Attempt<'_>,
    reads: &mut Reads<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<Session>, EngineError> {
    let allowed = a.p.is_gpu() && a.rt.tuning.gpu_refiner;
    let Some(entry) = a.choice.refiner_gpu.as_ref().filter(|_| allowed) else {
        return Ok(None);
    };
    let built = reads.graph(entry).and_then(|bytes| {
        let s = a
            .build(bytes, Role::Refiner)
            .map_err(|e| EngineError::Inference {
                step: "building the GPU refiner",
                source: e.into_ort(),
            })?;
        check_io(&s, entry).map_err(a.invalid())?;
        Ok(s)
    });
    match built {
        Ok(refiner) => Ok(Some(refiner)),
        Err(EngineError::Aborted) => Err(EngineError::Aborted),
        Err(e) => {
            warnings.push(format!(
                "the fused-GroupNorm refiner did not load ({e}); using the portable refiner"
            ));
            Ok(None)
        }
    }
}
