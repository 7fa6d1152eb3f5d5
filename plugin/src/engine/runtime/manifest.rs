//! `manifest.json` (docs/MODEL-FORMAT.md): parsing, graph choice and file verification. Files are
//! read through `files.rs` (regular files only, lengths first, bounded reads in bounded time).

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::files::{self, FileError, Stamp};
use crate::engine::abort::Abort;
use crate::engine::error::ModelProblem;
use crate::engine::limits::{MAX_GRAPH_BYTES, MAX_MANIFEST_BYTES};

pub const SCHEMA: &str = "corridorkey-model/1";
pub const MANIFEST: &str = "manifest.json";

#[derive(Clone, Debug, Deserialize)]
pub struct IoSpec {
    pub name: String,
    pub dtype: String,
    /// Integers for static dimensions, strings for dynamic ones.
    pub shape: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct GraphEntry {
    pub role: String,
    pub size: Option<usize>,
    pub precision: String,
    pub file: String,
    pub sha256: String,
    #[serde(default)]
    pub bytes: Option<u64>,
    pub inputs: Vec<IoSpec>,
    pub outputs: Vec<IoSpec>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    pub schema: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub variant: String,
    pub graphs: Vec<GraphEntry>,
}

/// Why a manifest or a graph could not be used: missing (no model), invalid (a model, but broken),
/// or the read stopped (the host aborted, no memory for the file).
#[derive(Debug)]
pub enum ManifestError {
    Missing(Box<ModelProblem>),
    Invalid(Box<ModelProblem>),
    Aborted,
    OutOfMemory(usize),
}

impl ManifestError {
    /// A failed read of `file` as the problem it is.
    pub fn from_file(file: &str, e: FileError) -> ManifestError {
        let file = file.to_string();
        ManifestError::Invalid(Box::new(match e {
            FileError::Missing => ModelProblem::GraphMissing(file),
            FileError::NotRegular(kind) => ModelProblem::NotRegular {
                file,
                kind: kind.name(),
            },
            FileError::TooLarge { bytes, max } => ModelProblem::TooLarge { file, bytes, max },
            FileError::Length { have, want } => ModelProblem::Length { file, have, want },
            FileError::Changed => ModelProblem::Changed(file),
            FileError::Io(e) => ModelProblem::Unreadable {
                file,
                source: Arc::new(e),
            },
            FileError::Stalled { path, secs } => ModelProblem::Stalled { path, secs },
            FileError::Hung { dir, secs } => ModelProblem::Hung { dir, secs },
            FileError::OutOfMemory(bytes) => return ManifestError::OutOfMemory(bytes),
            FileError::Aborted => return ManifestError::Aborted,
        }))
    }
}

/// The manifest of `dir` and the stamp of the file it was read from (None when there is none).
pub fn load(
    dir: &Path,
    abort: Abort<'_>,
) -> Result<(Manifest, Stamp), (ManifestError, Option<Stamp>)> {
    let path = dir.join(MANIFEST);
    let read = match files::read(dir, &path, None, MAX_MANIFEST_BYTES, abort) {
        Ok(r) => r,
        Err((FileError::Missing, stamp)) => {
            let problem = if dir.is_dir() {
                ModelProblem::NoManifest
            } else {
                ModelProblem::NoFolder
            };
            return Err((ManifestError::Missing(Box::new(problem)), stamp));
        }
        Err((e, stamp)) => return Err((ManifestError::from_file(MANIFEST, e), stamp)),
    };
    let stamp = read.stamp;
    let invalid = |p| Err((ManifestError::Invalid(Box::new(p)), Some(stamp)));
    let m: Manifest = match serde_json::from_slice(&read.bytes) {
        Ok(m) => m,
        Err(e) => return invalid(ModelProblem::Json(Arc::new(e))),
    };
    if m.schema != SCHEMA {
        return invalid(ModelProblem::Schema {
            found: m.schema,
            expected: SCHEMA,
        });
    }
    for g in &m.graphs {
        let plain = !g.file.is_empty()
            && g.file != "."
            && !g.file.contains(['/', '\\', '\0'])
            && !g.file.contains("..");
        if !plain {
            return invalid(ModelProblem::FileName(g.file.clone()));
        }
    }
    Ok((m, stamp))
}

/// The chosen graphs for one session set.
#[derive(Clone, Debug)]
pub struct Choice {
    pub coarse: GraphEntry,
    pub refiner: Option<GraphEntry>,
    /// Expected substitutions (closest size, other precision).
    pub notes: Vec<String>,
    /// Things that change the result (no refiner, mixed precisions).
    pub warnings: Vec<String>,
}

/// Picks the coarse graph for `size` (closest available otherwise) in `precision` (the other one
/// otherwise), and the refiner of the same precision (the other one otherwise).
pub fn choose(m: &Manifest, size: usize, precision: &str) -> Result<Choice, ManifestError> {
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    let coarse: Vec<&GraphEntry> = m
        .graphs
        .iter()
        .filter(|g| g.role == "coarse" && g.size.is_some())
        .collect();
    if coarse.is_empty() {
        return Err(ManifestError::Invalid(Box::new(
            ModelProblem::NoCoarseGraph,
        )));
    }
    let best_size = coarse
        .iter()
        .map(|g| g.size.unwrap_or(0))
        .min_by_key(|&s| (s.abs_diff(size), std::cmp::Reverse(s)))
        .unwrap_or(size);
    if best_size != size {
        notes.push(format!(
            "no {size} graph in the model folder; using the closest size, {best_size}"
        ));
    }
    let at_size: Vec<&GraphEntry> = coarse
        .into_iter()
        .filter(|g| g.size == Some(best_size))
        .collect();
    let coarse = match at_size.iter().find(|g| g.precision == precision) {
        Some(g) => (*g).clone(),
        None => {
            let g = at_size[0].clone();
            notes.push(format!(
                "no {precision} coarse graph at {best_size}; using {}",
                g.precision
            ));
            g
        }
    };
    let refiners: Vec<&GraphEntry> = m.graphs.iter().filter(|g| g.role == "refiner").collect();
    let refiner = refiners
        .iter()
        .find(|g| g.precision == coarse.precision)
        .or_else(|| refiners.iter().find(|g| g.precision == precision))
        .or(refiners.first())
        .map(|g| (*g).clone());
    match &refiner {
        None => warnings.push("model folder has no refiner graph; the refiner is off".into()),
        Some(r) if r.precision != coarse.precision => warnings.push(format!(
            "refiner is {} while the coarse graph is {}",
            r.precision, coarse.precision
        )),
        _ => {}
    }
    Ok(Choice {
        coarse,
        refiner,
        notes,
        warnings,
    })
}

/// A graph file read whole and checked against its entry: length (required, before reading) and
/// sha256 (of the bytes read, which are the bytes ONNX Runtime gets: nothing can swap the file
/// between the check and the load). Hashed on every load, so a rewrite in place is always seen.
pub struct VerifiedGraph {
    pub bytes: Vec<u8>,
    pub stamp: Stamp,
}

/// Reads and checks `g`'s file in `dir`. On failure, the stamp of what is there (to watch it).
pub fn read_graph(
    dir: &Path,
    g: &GraphEntry,
    abort: Abort<'_>,
) -> Result<VerifiedGraph, (ManifestError, Option<Stamp>)> {
    let Some(want) = g.bytes else {
        return Err((
            ManifestError::Invalid(Box::new(ModelProblem::NoLength(g.file.clone()))),
            None,
        ));
    };
    let read = files::read(dir, &dir.join(&g.file), Some(want), MAX_GRAPH_BYTES, abort)
        .map_err(|(e, stamp)| (ManifestError::from_file(&g.file, e), stamp))?;
    if !read.sha256.eq_ignore_ascii_case(&g.sha256) {
        return Err((
            ManifestError::Invalid(Box::new(ModelProblem::Digest {
                file: g.file.clone(),
                have: read.sha256,
                want: g.sha256.clone(),
            })),
            Some(read.stamp),
        ));
    }
    Ok(VerifiedGraph {
        bytes: read.bytes,
        stamp: read.stamp,
    })
}

/// A manifest dimension as ORT reports it: static -> its value, dynamic (string) -> -1.
pub fn dim_value(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(_) => Some(-1),
        _ => None,
    }
}
