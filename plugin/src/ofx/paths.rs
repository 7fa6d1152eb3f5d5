//! Where the plugin's bundle is, and from it the model folder and the ONNX Runtime library.
//!
//! Every path leaves here absolute: a host started with a relative `OFX_PLUGIN_PATH` dlopens the
//! binary by a relative name (so both `kOfxPluginPropFilePath` and our own dladdr path are
//! relative), and ONNX Runtime must be loaded by absolute path. Relative paths are resolved against
//! the working directory at the time they are read, which is the host's launch folder.

use std::path::{Path, PathBuf};

use crate::engine::{Device, RuntimeConfig, RuntimeTuning};

/// The ONNX Runtime shared library shipped beside the .ofx.
pub const ORT_LIBRARY_NAME: &str = "libonnxruntime.so.1.31.1";
/// The bundle's binary folder for this platform.
pub const ARCH_DIR: &str = "Linux-x86-64";

/// `p` made absolute against the working directory (lexically: symlinks and `..` are kept, as the
/// user wrote them). An empty path or an unreadable working directory leaves `p` as it is; the
/// engine then reports the path it could not use.
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundlePaths {
    /// Folder holding the .ofx (and the ORT library).
    pub binary_dir: PathBuf,
    /// `<bundle>/Contents/Resources`.
    pub resources: PathBuf,
}

impl BundlePaths {
    /// From `kOfxPluginPropFilePath` (spec: the bundle folder; some hosts give the .ofx file) or
    /// from the shared object's own path.
    pub fn from_plugin_path(p: &Path) -> Option<BundlePaths> {
        let p = &absolute(p);
        let is_binary = p.extension().is_some_and(|e| e == "ofx" || e == "so");
        if is_binary {
            let binary_dir = p.parent()?.to_path_buf();
            let contents = binary_dir.parent()?;
            return Some(BundlePaths {
                resources: contents.join("Resources"),
                binary_dir,
            });
        }
        if p.file_name().is_some_and(|n| n == ARCH_DIR) {
            let contents = p.parent()?;
            return Some(BundlePaths {
                binary_dir: p.to_path_buf(),
                resources: contents.join("Resources"),
            });
        }
        let contents = if p.file_name().is_some_and(|n| n == "Contents") {
            p.to_path_buf()
        } else {
            p.join("Contents")
        };
        Some(BundlePaths {
            binary_dir: contents.join(ARCH_DIR),
            resources: contents.join("Resources"),
        })
    }

    /// The host's path if it gave one, else where this shared object was loaded from. A host path
    /// whose binary folder lacks the ORT library loses to our own path when that one has it.
    pub fn locate(host_path: Option<&str>) -> Option<BundlePaths> {
        let own = || process_path::get_dylib_path().and_then(|p| Self::from_plugin_path(&p));
        let from_host = host_path
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .and_then(|p| Self::from_plugin_path(Path::new(p)));
        match from_host {
            Some(b) if b.ort_library().exists() => Some(b),
            Some(b) => Some(own().filter(|o| o.ort_library().exists()).unwrap_or(b)),
            None => own(),
        }
    }

    pub fn default_model_dir(&self) -> PathBuf {
        self.resources.join("models")
    }

    pub fn ort_library(&self) -> PathBuf {
        self.binary_dir.join(ORT_LIBRARY_NAME)
    }
}

/// The parts of the engine's runtime settings that come from the environment (`config.rs` reads
/// them once per process; tests pass their own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    pub model_dir: Option<String>,
    pub gpu: Option<String>,
    pub engine_cache: Option<String>,
    pub tuning: RuntimeTuning,
}

/// The model folder: the param, else `$CORRIDORKEY_MODEL_DIR`, else the bundle's; absolute.
pub fn model_dir(param: &str, env: &Env, bundle: Option<&BundlePaths>) -> PathBuf {
    if !param.trim().is_empty() {
        return absolute(Path::new(param.trim()));
    }
    if let Some(d) = &env.model_dir {
        return absolute(Path::new(d.trim()));
    }
    bundle
        .map(|b| b.default_model_dir())
        .unwrap_or_else(|| absolute(Path::new("models")))
}

/// The engine's runtime settings from the node's Device page and the environment.
pub fn runtime_config(
    model_folder: &str,
    device: Device,
    gpu_memory_mb: i32,
    env: &Env,
    bundle: Option<&BundlePaths>,
) -> RuntimeConfig {
    RuntimeConfig {
        model_dir: model_dir(model_folder, env, bundle),
        ort_library: bundle
            .map(|b| b.ort_library())
            .unwrap_or_else(|| absolute(Path::new(ORT_LIBRARY_NAME))),
        device,
        gpu_mem_limit_mb: gpu_memory_mb.max(0) as usize,
        gpu_index: env
            .gpu
            .as_deref()
            .and_then(|g| g.trim().parse().ok())
            .unwrap_or(0),
        engine_cache_dir: env
            .engine_cache
            .as_ref()
            .map(|d| absolute(Path::new(d.trim()))),
        tuning: env.tuning.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> BundlePaths {
        BundlePaths::from_plugin_path(Path::new("/opt/ofx/CorridorKey.ofx.bundle")).unwrap()
    }

    #[test]
    fn bundle_from_folder_or_binary() {
        let b = bundle();
        assert_eq!(
            b.binary_dir,
            Path::new("/opt/ofx/CorridorKey.ofx.bundle/Contents/Linux-x86-64")
        );
        assert_eq!(
            b.resources,
            Path::new("/opt/ofx/CorridorKey.ofx.bundle/Contents/Resources")
        );
        let f = BundlePaths::from_plugin_path(Path::new(
            "/opt/ofx/CorridorKey.ofx.bundle/Contents/Linux-x86-64/CorridorKey.ofx",
        ))
        .unwrap();
        assert_eq!(f, b);
        let slash =
            BundlePaths::from_plugin_path(Path::new("/opt/ofx/CorridorKey.ofx.bundle/")).unwrap();
        assert_eq!(slash, b);
        assert_eq!(
            b.ort_library(),
            Path::new(
                "/opt/ofx/CorridorKey.ofx.bundle/Contents/Linux-x86-64/libonnxruntime.so.1.31.1"
            )
        );
        assert_eq!(
            b.default_model_dir(),
            Path::new("/opt/ofx/CorridorKey.ofx.bundle/Contents/Resources/models")
        );
    }

    #[test]
    fn locate_falls_back_to_own_path() {
        assert_eq!(
            BundlePaths::locate(Some("/opt/ofx/CorridorKey.ofx.bundle")),
            Some(bundle())
        );
        // Empty host path: the test binary's own location (some path, never a panic).
        assert!(BundlePaths::locate(Some("  ")).is_some());
    }

    #[test]
    fn relative_paths_are_made_absolute() {
        let cwd = std::env::current_dir().unwrap();
        let b = BundlePaths::from_plugin_path(Path::new("build/CorridorKey.ofx.bundle")).unwrap();
        assert_eq!(
            b.ort_library(),
            cwd.join("build/CorridorKey.ofx.bundle/Contents/Linux-x86-64")
                .join(ORT_LIBRARY_NAME)
        );
        assert!(b.resources.is_absolute());
        let bin = Path::new("b/CorridorKey.ofx.bundle/Contents/Linux-x86-64/CorridorKey.ofx");
        let f = BundlePaths::from_plugin_path(bin).unwrap();
        assert_eq!(
            f.binary_dir,
            cwd.join("b/CorridorKey.ofx.bundle/Contents/Linux-x86-64")
        );
        assert_eq!(
            model_dir("models/v1", &Env::default(), None),
            cwd.join("models/v1")
        );
        let env = Env {
            model_dir: Some("farm".into()),
            engine_cache: Some("trt".into()),
            ..Default::default()
        };
        let r = runtime_config("", Device::Auto, 0, &env, Some(&b));
        assert_eq!(r.model_dir, cwd.join("farm"));
        assert_eq!(r.engine_cache_dir, Some(cwd.join("trt")));
        assert!(r.ort_library.is_absolute());
    }

    #[test]
    fn model_dir_precedence() {
        let b = bundle();
        let env = Env {
            model_dir: Some("/farm/models".into()),
            ..Default::default()
        };
        assert_eq!(
            model_dir("/my/models", &env, Some(&b)),
            Path::new("/my/models")
        );
        assert_eq!(model_dir("", &env, Some(&b)), Path::new("/farm/models"));
        assert_eq!(
            model_dir(" ", &Env::default(), Some(&b)),
            b.default_model_dir()
        );
    }

    #[test]
    fn relative_paths_become_absolute_against_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        for given in [
            "build/CorridorKey.ofx.bundle",
            "./build/CorridorKey.ofx.bundle/",
            "build/CorridorKey.ofx.bundle/Contents/Linux-x86-64/CorridorKey.ofx",
        ] {
            let b = BundlePaths::from_plugin_path(Path::new(given)).unwrap();
            assert_eq!(
                b.binary_dir,
                cwd.join("build/CorridorKey.ofx.bundle/Contents/Linux-x86-64"),
                "{given}"
            );
            assert!(b.ort_library().is_absolute() && b.default_model_dir().is_absolute());
        }
        let env = Env {
            model_dir: Some("farm/models".into()),
            engine_cache: Some("trt-cache".into()),
            ..Default::default()
        };
        assert_eq!(model_dir(" my/models ", &env, None), cwd.join("my/models"));
        assert_eq!(model_dir("", &env, None), cwd.join("farm/models"));
        assert!(model_dir("", &Env::default(), None).is_absolute());
        let r = runtime_config("", Device::Cpu, 0, &env, None);
        assert!(r.ort_library.is_absolute(), "{}", r.ort_library.display());
        assert_eq!(r.engine_cache_dir, Some(cwd.join("trt-cache")));
        let rel = BundlePaths::from_plugin_path(Path::new("rel/CorridorKey.ofx.bundle")).unwrap();
        let r = runtime_config("", Device::Cpu, 0, &Env::default(), Some(&rel));
        assert!(r.ort_library.is_absolute() && r.model_dir.is_absolute());
    }

    #[test]
    fn runtime_from_env() {
        let env = Env {
            gpu: Some("2".into()),
            engine_cache: Some("/cache/trt".into()),
            ..Default::default()
        };
        let r = runtime_config("", Device::Cuda, 4096, &env, Some(&bundle()));
        assert_eq!(r.gpu_index, 2);
        assert_eq!(r.gpu_mem_limit_mb, 4096);
        assert_eq!(r.device, Device::Cuda);
        assert_eq!(r.engine_cache_dir.as_deref(), Some(Path::new("/cache/trt")));
        assert_eq!(r.ort_library, bundle().ort_library());
        let bad = Env {
            gpu: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(
            runtime_config("", Device::Auto, -5, &bad, None).gpu_index,
            0
        );
        assert_eq!(
            runtime_config("", Device::Auto, -5, &bad, None).gpu_mem_limit_mb,
            0
        );
    }
}
