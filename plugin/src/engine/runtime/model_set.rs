//! The model set: the coarse and refiner sessions for one inference size, built from a verified
//! model folder on the first execution provider (of those the device setting allows) that works.

use std::collections::HashMap;
use std::path::Path;

use ort::session::Session;
use ort::value::ValueType;

use super::environment::environment;
use super::files::{self, Stamp};
use super::manifest::{self, GraphEntry, ManifestError};
use super::providers::{candidates, provider_lib, Provider, Role, PROBE_GRAPH};
use super::session::{build, check_io, GraphSource};
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

/// Records a provider that failed: the warning the frame shows, the error the last one reports.
fn fall_back(warnings: &mut Vec<String>, last_err: &mut String, warning: String, err: String) {
    warnings.push(warning);
    *last_err = err;
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
    (
        r.map(|mut set| {
            set.key = key.clone();
            set
        }),
        key,
    )
}

fn load_with(
    rt: &RuntimeConfig,
    size: usize,
    screen: ScreenColour,
    reads: &mut Reads<'_>,
) -> Result<ModelSet, EngineError> {
    let dir = &rt.model_dir;
    let invalid = |detail| EngineError::ModelInvalid {
        dir: dir.clone(),
        detail: Box::new(detail),
    };
    // The manifest first: a missing model must be reported as such even without a runtime.
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
        reads.graph(&choice.coarse)?;
        if let Some(r) = &choice.refiner {
            reads.graph(r)?;
        }
        reads.abort.check()?;
        if p.is_gpu() {
            let name = if p == Provider::TensorRt {
                "tensorrt"
            } else {
                "cuda"
            };
            let lib = provider_lib(&rt.ort_library, name);
            if !lib.is_file() {
                let msg = format!("{} provider library {} not found", p.label(), lib.display());
                fall_back(
                    &mut warnings,
                    &mut last_err,
                    format!("{msg}; falling back"),
                    msg,
                );
                continue;
            }
        }
        // The shared arena makes ORT load the CUDA provider, and a failed load there aborts the
        // process; a small probe session proves the provider loads first (its failure is an
        // ordinary error and a fallback).
        let arena_note = if p.is_gpu() {
            if let Err(e) = build(&env, GraphSource::Memory(PROBE_GRAPH), p, rt, Role::Kernel) {
                fall_back(
                    &mut warnings,
                    &mut last_err,
                    format!("{} failed ({e}); falling back", p.label()),
                    e.to_string(),
                );
                continue;
            }
            let (gpu, cap, initial) = (
                rt.gpu_index,
                rt.gpu_mem_limit_mb,
                rt.tuning.arena_initial_mb,
            );
            match shared_arena::ensure(&env, gpu, cap, initial) {
                Ok(note) => note,
                Err(e) => Some(format!(
                    "no shared GPU arena ({e}); each graph keeps its own, which needs more memory"
                )),
            }
        } else {
            None
        };
        let coarse = match build(
            &env,
            GraphSource::Memory(reads.graph(&choice.coarse)?),
            p,
            rt,
            Role::Coarse,
        ) {
            Ok(s) => s,
            Err(e) => {
                fall_back(
                    &mut warnings,
                    &mut last_err,
                    format!("{} failed ({e}); falling back", p.label()),
                    e.to_string(),
                );
                continue;
            }
        };
        check_io(&coarse, &choice.coarse).map_err(invalid)?;
        let s = coarse_size(&coarse, &choice.coarse).map_err(invalid)?;
        reads.abort.check()?;
        // On a GPU provider the fused-GroupNorm refiner when the folder has one and it builds; the
        // portable refiner otherwise (it has the same I/O).
        let mut fused = None;
        if let Some(entry) = choice
            .refiner_gpu
            .as_ref()
            .filter(|_| p.is_gpu() && rt.tuning.gpu_refiner)
        {
            let built = reads.graph(entry).and_then(|bytes| {
                let s =
                    build(&env, GraphSource::Memory(bytes), p, rt, Role::Refiner).map_err(|e| {
                        EngineError::Inference {
                            step: "building the GPU refiner",
                            source: e.into_ort(),
                        }
                    })?;
                check_io(&s, entry).map_err(invalid)?;
                Ok(s)
            });
            match built {
                Ok(refiner) => fused = Some(refiner),
                Err(EngineError::Aborted) => return Err(EngineError::Aborted),
                Err(e) => warnings.push(format!(
                    "the fused-GroupNorm refiner did not load ({e}); using the portable refiner"
                )),
            }
        }
        let (refiner, refiner_form) = match (fused, &choice.refiner) {
            (Some(f), _) => (Some(f), RefinerForm::FusedGroupNorm),
            (None, Some(entry)) => {
                let bytes = reads.graph(entry)?;
                let s = match build(&env, GraphSource::Memory(bytes), p, rt, Role::Refiner) {
                    Ok(s) => s,
                    Err(e) => {
                        let w = format!("{} failed for the refiner ({e}); falling back", p.label());
                        fall_back(&mut warnings, &mut last_err, w, e.to_string());
                        continue;
                    }
                };
                check_io(&s, entry).map_err(invalid)?;
                (Some(s), RefinerForm::Portable)
            }
            (None, None) => (None, RefinerForm::Portable),
        };
        warnings.extend(choice.warnings.iter().cloned());
        warnings.extend(arena_note);
        return Ok(ModelSet {
            notes: choice.notes.clone(),
            key: ModelSetKey {
                runtime: rt.clone(),
                requested_size: size,
                screen,
                files: Vec::new(),
            },
            coarse,
            refiner,
            refiner_form,
            size: s,
            precision: choice.coarse.precision.clone(),
            provider: p,
            variant: m.variant.clone(),
            warnings,
        });
    }
    Err(EngineError::NoProvider(last_err))
}
