//! `manifest.json` (docs/MODEL-FORMAT.md): parsing, graph choice and file verification.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use parking_lot::Mutex;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::engine::contract::ScreenColour;
use crate::engine::error::ModelProblem;

pub const SCHEMA: &str = "corridorkey-model/1";

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

/// Why a manifest could not be used: missing (no model) or invalid (a model, but broken).
#[derive(Debug)]
pub enum ManifestError {
    Missing(ModelProblem),
    Invalid(ModelProblem),
}

/// (mtime, size) of a file, used to notice edits on disk.
pub fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let md = std::fs::metadata(path).ok()?;
    Some((md.modified().ok()?, md.len()))
}

pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
    let path = dir.join("manifest.json");
    if !dir.is_dir() {
        return Err(ManifestError::Missing(ModelProblem::NoFolder));
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ManifestError::Missing(ModelProblem::NoManifest))
        }
        Err(e) => {
            return Err(ManifestError::Invalid(ModelProblem::Unreadable {
                file: "manifest.json".into(),
                source: e,
            }))
        }
    };
    let m: Manifest =
        serde_json::from_str(&text).map_err(|e| ManifestError::Invalid(ModelProblem::Json(e)))?;
    if m.schema != SCHEMA {
        return Err(ManifestError::Invalid(ModelProblem::Schema {
            found: m.schema,
            expected: SCHEMA,
        }));
    }
    for g in &m.graphs {
        if g.file.contains('/') || g.file.contains('\\') || g.file.contains("..") {
            return Err(ManifestError::Invalid(ModelProblem::FileName(
                g.file.clone(),
            )));
        }
    }
    Ok(m)
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
        screens.push(g.screen().map_err(ManifestError::Invalid)?);
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
        return Err(ManifestError::Invalid(ModelProblem::NoCoarseGraph));
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

type HashKey = (PathBuf, SystemTime, u64);

fn verified() -> &'static Mutex<HashMap<HashKey, String>> {
    static CACHE: once_cell::sync::OnceCell<Mutex<HashMap<HashKey, String>>> =
        once_cell::sync::OnceCell::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Checks a graph file's existence, size and sha256 against its entry; the hash of an unchanged
/// file (same path, mtime, size) is computed once per process.
pub fn verify_file(dir: &Path, g: &GraphEntry) -> Result<PathBuf, ManifestError> {
    let path = dir.join(&g.file);
    let (mtime, len) = stamp(&path)
        .ok_or_else(|| ManifestError::Invalid(ModelProblem::GraphMissing(g.file.clone())))?;
    if let Some(bytes) = g.bytes {
        if bytes != len {
            return Err(ManifestError::Invalid(ModelProblem::Length {
                file: g.file.clone(),
                have: len,
                want: bytes,
            }));
        }
    }
    let key = (path.clone(), mtime, len);
    let cached = verified().lock().get(&key).cloned();
    let digest = match cached {
        Some(d) => d,
        None => {
            let d = sha256_file(&path).map_err(|e| {
                ManifestError::Invalid(ModelProblem::Unreadable {
                    file: g.file.clone(),
                    source: e,
                })
            })?;
            verified().lock().insert(key, d.clone());
            d
        }
    };
    if !digest.eq_ignore_ascii_case(&g.sha256) {
        return Err(ManifestError::Invalid(ModelProblem::Digest {
            file: g.file.clone(),
            have: digest,
            want: g.sha256.clone(),
        }));
    }
    Ok(path)
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
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
            Err(ManifestError::Invalid(ModelProblem::Screen { .. }))
        ));
    }
}
