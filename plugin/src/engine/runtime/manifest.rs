//! `manifest.json` (docs/MODEL-FORMAT.md): parsing, graph choice and file verification. Files are
//! read through `files.rs` (regular files only, lengths first, bounded reads in bounded time).

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::files::{self, FileError, Stamp};
use crate::engine::abort::Abort;
use crate::engine::contract::ScreenColour;
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
    /// The screen colour the graph keys (`"green"` when absent: manifests before screens).
    #[serde(default)]
    pub screen: Option<String>,
    /// Measured device peak of a whole frame at this coarse graph's S, in MiB (CUDA context,
    /// sessions, weights and activations; `bench/gpu-memory-pressure.sh` prints it): Quality `Auto`
    /// reads it (`auto_size.rs`). Absent: an estimate from S.
    #[serde(default)]
    pub device_peak_mib: Option<u64>,
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
    /// The refiner with ORT's fused CUDA GroupNorm (`refiner_gpu`, fp16): GPU providers only.
    pub refiner_gpu: Option<GraphEntry>,
    /// Expected substitutions (closest size, other precision).
    pub notes: Vec<String>,
    /// Things that change the result (no refiner, mixed precisions).
    pub warnings: Vec<String>,
}

impl GraphEntry {
    /// The screen colour the graph keys.
    pub fn screen(&self) -> Result<ScreenColour, ModelProblem> {
        match self.screen.as_deref() {
            None | Some("green") => Ok(ScreenColour::Green),
            Some("blue") => Ok(ScreenColour::Blue),
            Some(other) => Err(ModelProblem::Screen {
                file: self.file.clone(),
                screen: other.to_string(),
            }),
        }
    }
}

impl Manifest {
    /// The coarse sizes S for `screen` (the other screen's when it has none), largest first.
    pub fn coarse_sizes(&self, screen: ScreenColour) -> Vec<usize> {
        let sizes_for = |want: ScreenColour| -> Vec<usize> {
            let mut v: Vec<usize> = self
                .graphs
                .iter()
                .filter(|g| g.role == "coarse" && g.screen().is_ok_and(|s| s == want))
                .filter_map(|g| g.size)
                .collect();
            v.sort_unstable_by(|a, b| b.cmp(a));
            v.dedup();
            v
        };
        let own = sizes_for(screen);
        if !own.is_empty() {
            return own;
        }
        sizes_for(match screen {
            ScreenColour::Green => ScreenColour::Blue,
            ScreenColour::Blue => ScreenColour::Green,
        })
    }
}

/// Picks, among the graphs for `screen` (the other screen's when the folder has none, with a
/// warning), the coarse graph for `size` (closest available otherwise) in `precision` (the other
/// one otherwise), and the refiner of the same precision (the other one otherwise).
pub fn choose(
    m: &Manifest,
    size: usize,
    precision: &str,
    screen: ScreenColour,
) -> Result<Choice, ManifestError> {
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    let mut screens = Vec::with_capacity(m.graphs.len());
    for g in &m.graphs {
        screens.push(
            g.screen()
                .map_err(|p| ManifestError::Invalid(Box::new(p)))?,
        );
    }
    let keyed = if screens.contains(&screen) {
        screen
    } else {
        let other = match screen {
            ScreenColour::Green => ScreenColour::Blue,
            ScreenColour::Blue => ScreenColour::Green,
        };
        warnings.push(format!(
            "the model folder has no {} screen model; using its {} one, which keys a {} screen badly",
            screen.name(),
            other.name(),
            screen.name()
        ));
        other
    };
    let graphs: Vec<&GraphEntry> = m
        .graphs
        .iter()
        .zip(&screens)
        .filter(|(_, s)| **s == keyed)
        .map(|(g, _)| g)
        .collect();
    let coarse: Vec<&GraphEntry> = graphs
        .iter()
        .copied()
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
    let refiners: Vec<&GraphEntry> = graphs
        .iter()
        .copied()
        .filter(|g| g.role == "refiner")
        .collect();
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
    let refiner_gpu = graphs
        .iter()
        .find(|g| g.role == "refiner_gpu" && g.precision == "fp16")
        .map(|g| (*g).clone());
    Ok(Choice {
        coarse,
        refiner,
        refiner_gpu,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(role: &str, size: Option<usize>, precision: &str) -> serde_json::Value {
        serde_json::json!({"role": role, "size": size, "precision": precision,
            "file": format!("{role}_{precision}.onnx"), "sha256": "00", "inputs": [], "outputs": []})
    }

    #[test]
    fn the_gpu_refiner_is_offered_only_in_fp16_and_never_replaces_the_refiner() {
        let with = |extra: Vec<serde_json::Value>| -> Manifest {
            let mut graphs = vec![
                entry("coarse", Some(128), "fp32"),
                entry("coarse", Some(128), "fp16"),
                entry("refiner", None, "fp32"),
                entry("refiner", None, "fp16"),
            ];
            graphs.extend(extra);
            serde_json::from_value(serde_json::json!({"schema": SCHEMA, "graphs": graphs})).unwrap()
        };
        let g = ScreenColour::Green;
        let plain = with(vec![]);
        assert!(choose(&plain, 128, "fp16", g)
            .unwrap()
            .refiner_gpu
            .is_none());
        let m = with(vec![entry("refiner_gpu", None, "fp16")]);
        let gpu = choose(&m, 128, "fp16", g).unwrap();
        assert_eq!(gpu.refiner_gpu.unwrap().role, "refiner_gpu");
        assert_eq!(gpu.refiner.unwrap().role, "refiner");
        let cpu = choose(&m, 128, "fp32", g).unwrap();
        assert_eq!(cpu.refiner.unwrap().precision, "fp32");
        let odd = with(vec![entry("refiner_gpu", None, "fp32")]);
        assert!(choose(&odd, 128, "fp16", g).unwrap().refiner_gpu.is_none());
    }

    fn screened(role: &str, size: Option<usize>, screen: Option<&str>) -> serde_json::Value {
        let mut e = entry(role, size, "fp16");
        e["file"] = serde_json::json!(format!("{role}.{}.onnx", screen.unwrap_or("none")));
        if let Some(s) = screen {
            e["screen"] = serde_json::json!(s);
        }
        e
    }

    #[test]
    fn graphs_are_chosen_for_the_screen_colour() {
        let m: Manifest = serde_json::from_value(serde_json::json!({"schema": SCHEMA, "graphs": [
            screened("coarse", Some(128), None),
            screened("refiner", None, None),
            screened("coarse", Some(128), Some("blue")),
            screened("refiner", None, Some("blue")),
        ]}))
        .unwrap();
        let green = choose(&m, 128, "fp16", ScreenColour::Green).unwrap();
        assert_eq!(green.coarse.file, "coarse.none.onnx");
        assert!(green.warnings.is_empty(), "{:?}", green.warnings);
        let blue = choose(&m, 128, "fp16", ScreenColour::Blue).unwrap();
        assert_eq!(blue.coarse.file, "coarse.blue.onnx");
        assert_eq!(blue.refiner.unwrap().file, "refiner.blue.onnx");
        let green_only: Manifest = serde_json::from_value(serde_json::json!({"schema": SCHEMA,
            "graphs": [screened("coarse", Some(128), Some("green"))]}))
        .unwrap();
        let c = choose(&green_only, 128, "fp16", ScreenColour::Blue).unwrap();
        assert_eq!(c.coarse.file, "coarse.green.onnx");
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("no blue screen model")),
            "{:?}",
            c.warnings
        );
        let odd: Manifest = serde_json::from_value(serde_json::json!({"schema": SCHEMA,
            "graphs": [screened("coarse", Some(128), Some("red"))]}))
        .unwrap();
        assert!(matches!(
            choose(&odd, 128, "fp16", ScreenColour::Green),
            Err(ManifestError::Invalid(p)) if matches!(*p, ModelProblem::Screen { .. })
        ));
    }
}
