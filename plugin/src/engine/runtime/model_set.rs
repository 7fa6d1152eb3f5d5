//! The model set: the coarse and refiner sessions for one inference size, built from a verified
//! model folder on the first execution provider (of those the device setting allows) that works.

use std::path::Path;
use std::time::SystemTime;

use ort::session::Session;

use super::environment::environment;
use super::manifest::{self, ManifestError};
use super::providers::{candidates, provider_lib, Provider, Role, PROBE_GRAPH};
use super::session::{build, check_io, GraphSource};
use super::shared_arena;
use crate::engine::contract::{RuntimeConfig, ScreenColour};
use crate::engine::error::EngineError;

/// What a model set was built for: rebuilt when any of this changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelSetKey {
    pub runtime: RuntimeConfig,
    pub requested_size: usize,
    pub screen: ScreenColour,
    pub manifest_stamp: Option<(SystemTime, u64)>,
}

impl ModelSetKey {
    pub fn new(runtime: &RuntimeConfig, size: usize, screen: ScreenColour) -> Self {
        Self {
            runtime: runtime.clone(),
            requested_size: size,
            screen,
            manifest_stamp: manifest::stamp(&runtime.model_dir.join("manifest.json")),
        }
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

/// `CORRIDORKEY_GPU_REFINER=0` keeps the portable refiner on a GPU (measurements, a farm's fallback).
fn gpu_refiner_allowed() -> bool {
    std::env::var("CORRIDORKEY_GPU_REFINER").map_or(true, |v| v.trim() != "0")
}

fn build_refiner_gpu(
    env: &ort::environment::Environment,
    dir: &Path,
    entry: &manifest::GraphEntry,
    p: Provider,
    rt: &RuntimeConfig,
) -> Result<Session, EngineError> {
    let invalid = |detail| EngineError::ModelInvalid {
        dir: dir.to_path_buf(),
        detail: Box::new(detail),
    };
    let path = manifest::verify_file(dir, entry).map_err(|e| manifest_err(dir, e))?;
    let s = build(env, GraphSource::File(&path), p, rt, Role::Refiner).map_err(|e| {
        EngineError::Inference {
            step: "building the GPU refiner",
            source: e.into_ort(),
        }
    })?;
    check_io(&s, entry).map_err(invalid)?;
    Ok(s)
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
            detail: Box::new(detail),
        },
        ManifestError::Invalid(detail) => EngineError::ModelInvalid {
            dir: dir.to_path_buf(),
            detail: Box::new(detail),
        },
    }
}

/// Checks the manifest and the graph files for size S without loading ONNX Runtime (for the info line).
pub fn probe(
    rt: &RuntimeConfig,
    size: usize,
    screen: ScreenColour,
) -> Result<manifest::Choice, EngineError> {
    let dir = &rt.model_dir;
    let m = manifest::load(dir).map_err(|e| manifest_err(dir, e))?;
    manifest::choose(&m, size, "fp32", screen).map_err(|e| manifest_err(dir, e))
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
    let key = ModelSetKey::new(rt, size, screen);
    let dir = &rt.model_dir;
    let invalid = |detail| EngineError::ModelInvalid {
        dir: dir.clone(),
        detail: Box::new(detail),
    };
    // The manifest first: a missing model must be reported as such even without a runtime.
    let m = manifest::load(dir).map_err(|e| manifest_err(dir, e))?;
    let (env, env_warning) = environment(&rt.ort_library)?;
    let mut warnings: Vec<String> = env_warning.into_iter().collect();

    let mut last_err = String::new();
    for p in candidates(rt.device, &rt.ort_library) {
        let choice =
            manifest::choose(&m, size, p.precision(), screen).map_err(|e| manifest_err(dir, e))?;
        let coarse_path =
            manifest::verify_file(dir, &choice.coarse).map_err(|e| manifest_err(dir, e))?;
        let refiner_path = match &choice.refiner {
            Some(r) => Some(manifest::verify_file(dir, r).map_err(|e| manifest_err(dir, e))?),
            None => None,
        };
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
            match shared_arena::ensure(&env, rt.gpu_index, rt.gpu_mem_limit_mb) {
                Ok(note) => note,
                Err(e) => Some(format!(
                    "no shared GPU arena ({e}); each graph keeps its own, which needs more memory"
                )),
            }
        } else {
            None
        };
        let coarse = match build(&env, GraphSource::File(&coarse_path), p, rt, Role::Coarse) {
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
        // On a GPU provider the fused-GroupNorm refiner when the folder has one and it builds; the
        // portable refiner otherwise (it has the same I/O).
        if let Some(entry) = choice
            .refiner_gpu
            .as_ref()
            .filter(|_| p.is_gpu() && gpu_refiner_allowed())
        {
            match build_refiner_gpu(&env, dir, entry, p, rt) {
                Ok(s) => {
                    warnings.extend(choice.warnings.iter().cloned());
                    warnings.extend(arena_note);
                    return Ok(ModelSet {
                        notes: choice.notes.clone(),
                        key,
                        coarse,
                        refiner: Some(s),
                        refiner_form: RefinerForm::FusedGroupNorm,
                        size: choice.coarse.size.unwrap_or(size),
                        precision: choice.coarse.precision.clone(),
                        provider: p,
                        variant: m.variant.clone(),
                        warnings,
                    });
                }
                Err(e) => warnings.push(format!(
                    "the fused-GroupNorm refiner did not load ({e}); using the portable refiner"
                )),
            }
        }
        let refiner = match (&choice.refiner, refiner_path) {
            (Some(entry), Some(path)) => {
                let s = match build(&env, GraphSource::File(&path), p, rt, Role::Refiner) {
                    Ok(s) => s,
                    Err(e) => {
                        let w = format!("{} failed for the refiner ({e}); falling back", p.label());
                        fall_back(&mut warnings, &mut last_err, w, e.to_string());
                        continue;
                    }
                };
                check_io(&s, entry).map_err(invalid)?;
                Some(s)
            }
            _ => None,
        };
        warnings.extend(choice.warnings.iter().cloned());
        warnings.extend(arena_note);
        return Ok(ModelSet {
            notes: choice.notes.clone(),
            key,
            coarse,
            refiner,
            refiner_form: RefinerForm::Portable,
            size: choice.coarse.size.unwrap_or(size),
            precision: choice.coarse.precision.clone(),
            provider: p,
            variant: m.variant.clone(),
            warnings,
        });
    }
    Err(EngineError::NoProvider(last_err))
}
