//! Every `CORRIDORKEY_*` switch, read here and only here, once per process, into one typed value
//! ([`Config`]; docs/CONFIG.md lists them all). The engine reads no environment variable: what it
//! needs goes in through `RuntimeConfig::tuning` (the model load) and `RenderOptions` (each frame);
//! tests build those values directly. `ck-bench` reads the same switches through
//! [`Config::from_process`].

use std::time::Duration;

use once_cell::sync::Lazy;

use super::paths::Env;
use crate::engine::{PathChoice, RenderOptions, RuntimeTuning};

/// The model folder when the `modelFolder` param is empty.
pub const MODEL_DIR: &str = "CORRIDORKEY_MODEL_DIR";
/// CUDA device index (default 0).
pub const GPU: &str = "CORRIDORKEY_GPU";
/// TensorRT engine cache folder.
pub const ENGINE_CACHE: &str = "CORRIDORKEY_ENGINE_CACHE";
/// `1` logs a line per notable event to stderr.
pub const LOG: &str = "CORRIDORKEY_LOG";
/// `cpu` keeps pre/post-processing and the refine stage on the CPU even on a GPU (a fallback
/// switch for farms); `gpu` forces the GPU path (also on the CPU provider); `auto` (or unset) picks
/// by provider.
pub const FRAME_PATH: &str = "CORRIDORKEY_FRAME_PATH";
/// The earlier name of [`FRAME_PATH`], still read when the new one is unset (`0`/`host` = CPU
/// path, `1`/`device` = GPU path).
pub const FRAME_PATH_ALIAS: &str = "CORRIDORKEY_DEVICE_PATH";
/// `1` lets the plugin offer OFX CUDA render to hosts that ask (Resolve). Off by default: CUDA
/// images are staged through host memory today (`Engine::render_device`), which measured slower
/// than the host's own CPU images on the H200 (BENCHMARKS.md, 2026-11-30).
pub const CUDA_IMAGES: &str = "CORRIDORKEY_CUDA_IMAGES";
/// `key=value,...` ONNX Runtime CUDA-provider options applied after ours.
pub const CUDA_OPTIONS: &str = "CORRIDORKEY_CUDA_OPTIONS";
/// `0` keeps the portable refiner on a GPU (measurements, a farm's fallback).
pub const GPU_REFINER: &str = "CORRIDORKEY_GPU_REFINER";
/// `1` turns the coarse graph's planned memory block back on (a tuning knob).
pub const COARSE_MEMORY_PATTERN: &str = "CORRIDORKEY_COARSE_MEMORY_PATTERN";
/// The shared GPU arena's first region in one piece, MiB (a tuning knob).
pub const ARENA_INITIAL_MB: &str = "CORRIDORKEY_ARENA_INITIAL_MB";
/// Seconds a model-file read may make no progress before it fails (default 10, at most 3600).
pub const FS_STALL_S: &str = "CORRIDORKEY_FS_STALL_S";
/// Set by `ck-bench --simulate-trained` (never in production): see `RenderOptions`.
pub const SIMULATE_TRAINED_COARSE: &str = "CORRIDORKEY_BENCH_SIMULATE_TRAINED_COARSE";
/// Test hook: panic in the OFX action of this name (tests/tests/panic.rs).
pub const TEST_PANIC: &str = "CORRIDORKEY_TEST_PANIC";
/// Test hook: model-file calls on paths containing this hang (tests/tests/hostile.rs).
pub const TEST_FS_HANG: &str = "CORRIDORKEY_TEST_FS_HANG";
/// Test hook: the GPU frame path fails, and the CPU path must key the frame.
pub const TEST_GPU_PATH_FAIL: &str = "CORRIDORKEY_TEST_GPU_PATH_FAIL";

/// Every switch (docs/CONFIG.md's table is checked against this list).
pub const ALL: &[&str] = &[
    MODEL_DIR,
    GPU,
    ENGINE_CACHE,
    LOG,
    FRAME_PATH,
    FRAME_PATH_ALIAS,
    CUDA_IMAGES,
    CUDA_OPTIONS,
    GPU_REFINER,
    COARSE_MEMORY_PATTERN,
    ARENA_INITIAL_MB,
    FS_STALL_S,
    SIMULATE_TRAINED_COARSE,
    TEST_PANIC,
    TEST_FS_HANG,
    TEST_GPU_PATH_FAIL,
];

/// The process's switches, typed.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The parts of `RuntimeConfig` that come from the environment (paths.rs joins them with the
    /// node's Device page).
    pub env: Env,
    pub log: bool,
    pub path: PathChoice,
    pub cuda_images: bool,
    pub simulate_trained_coarse: bool,
    pub test_panic: Option<String>,
    pub fail_gpu_path: bool,
}

impl Config {
    /// The switches as `get` reports them (the process environment, or a test's table).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Config {
        let set = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let one = |k: &str| get(k).is_some_and(|v| v.trim() == "1");
        let defaults = RuntimeTuning::default();
        Config {
            env: Env {
                model_dir: set(MODEL_DIR),
                gpu: set(GPU),
                engine_cache: set(ENGINE_CACHE),
                tuning: RuntimeTuning {
                    gpu_refiner: get(GPU_REFINER).is_none_or(|v| v.trim() != "0"),
                    cuda_options: get(CUDA_OPTIONS),
                    coarse_memory_pattern: one(COARSE_MEMORY_PATTERN),
                    arena_initial_mb: set(ARENA_INITIAL_MB)
                        .and_then(|v| v.trim().parse().ok())
                        .filter(|&mb: &usize| mb > 0 && mb < (1 << 20)),
                    fs_stall: set(FS_STALL_S)
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .filter(|s| s.is_finite() && *s > 0.0)
                        .map_or(defaults.fs_stall, |s| {
                            Duration::from_secs_f64(s.min(3600.0))
                        }),
                    test_fs_hang: set(TEST_FS_HANG),
                },
            },
            log: one(LOG),
            path: path_choice(set(FRAME_PATH).or_else(|| set(FRAME_PATH_ALIAS)).as_deref()),
            cuda_images: one(CUDA_IMAGES),
            simulate_trained_coarse: get(SIMULATE_TRAINED_COARSE).is_some(),
            test_panic: get(TEST_PANIC),
            fail_gpu_path: get(TEST_GPU_PATH_FAIL).is_some(),
        }
    }

    /// The process environment now (the plugin uses [`get`], read once).
    pub fn from_process() -> Config {
        Self::from_lookup(|k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned()))
    }

    /// The engine options of every render call from the OFX layer.
    pub fn render_options(&self) -> RenderOptions {
        RenderOptions {
            // The OFX layer answers repeated frames from its own per-instance cache before it
            // calls the engine; the engine's cache would hash the inputs again and copy every new
            // 4K frame.
            use_cache: false,
            path: self.path,
            // Benchmark simulation of a trained model's coarse alpha (RenderOptions docs):
            // ck-bench sets it for the bundle it drives, with the true matte as the AlphaHint clip.
            simulate_trained_coarse: self.simulate_trained_coarse,
            fail_gpu_path: self.fail_gpu_path,
            ..Default::default()
        }
    }
}

/// The process's configuration, read on first use (hosts load the plugin once per process).
pub fn get() -> &'static Config {
    static CONFIG: Lazy<Config> = Lazy::new(Config::from_process);
    &CONFIG
}

fn path_choice(value: Option<&str>) -> PathChoice {
    match value
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
        .unwrap_or("")
    {
        "cpu" | "0" | "off" | "false" | "host" => PathChoice::Cpu,
        "gpu" | "1" | "on" | "true" | "device" => PathChoice::Gpu,
        _ => PathChoice::Auto,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_lookup(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn frame_path_switch_and_its_old_spellings() {
        assert_eq!(path_choice(None), PathChoice::Auto);
        assert_eq!(path_choice(Some("cpu")), PathChoice::Cpu);
        assert_eq!(path_choice(Some(" GPU ")), PathChoice::Gpu);
        assert_eq!(path_choice(Some("0")), PathChoice::Cpu);
        assert_eq!(path_choice(Some(" Host ")), PathChoice::Cpu);
        assert_eq!(path_choice(Some("1")), PathChoice::Gpu);
        assert_eq!(path_choice(Some("device")), PathChoice::Gpu);
        assert_eq!(path_choice(Some("auto")), PathChoice::Auto);
        // The alias counts only while the new name is unset.
        assert_eq!(config(&[(FRAME_PATH_ALIAS, "host")]).path, PathChoice::Cpu);
        let both = config(&[(FRAME_PATH, "gpu"), (FRAME_PATH_ALIAS, "host")]);
        assert_eq!(both.path, PathChoice::Gpu);
        let blank = config(&[(FRAME_PATH, " "), (FRAME_PATH_ALIAS, "host")]);
        assert_eq!(blank.path, PathChoice::Cpu);
    }

    #[test]
    fn unset_environment_gives_the_defaults() {
        let c = config(&[]);
        assert_eq!(c.env, Env::default());
        assert_eq!(c.env.tuning, RuntimeTuning::default());
        assert!(c.env.tuning.gpu_refiner);
        assert_eq!(c.env.tuning.fs_stall, Duration::from_secs(10));
        assert!(!c.log && !c.cuda_images && !c.simulate_trained_coarse && !c.fail_gpu_path);
        assert_eq!(c.test_panic, None);
        let o = c.render_options();
        assert!(!o.use_cache);
        assert_eq!(
            o,
            RenderOptions {
                use_cache: false,
                ..Default::default()
            }
        );
    }

    #[test]
    fn every_switch_reaches_its_field() {
        let c = config(&[
            (MODEL_DIR, "/m"),
            (GPU, "2"),
            (ENGINE_CACHE, "/trt"),
            (LOG, " 1 "),
            (CUDA_IMAGES, "1"),
            (CUDA_OPTIONS, "prefer_nhwc=1"),
            (GPU_REFINER, "0"),
            (COARSE_MEMORY_PATTERN, "1"),
            (ARENA_INITIAL_MB, "2560"),
            (FS_STALL_S, "0.5"),
            (SIMULATE_TRAINED_COARSE, ""),
            (TEST_PANIC, "OfxActionLoad"),
            (TEST_FS_HANG, "hung"),
            (TEST_GPU_PATH_FAIL, "1"),
        ]);
        assert_eq!(c.env.model_dir.as_deref(), Some("/m"));
        assert_eq!(c.env.gpu.as_deref(), Some("2"));
        assert_eq!(c.env.engine_cache.as_deref(), Some("/trt"));
        assert!(c.log && c.cuda_images && c.simulate_trained_coarse && c.fail_gpu_path);
        let t = &c.env.tuning;
        assert_eq!(t.cuda_options.as_deref(), Some("prefer_nhwc=1"));
        assert!(!t.gpu_refiner && t.coarse_memory_pattern);
        assert_eq!(t.arena_initial_mb, Some(2560));
        assert_eq!(t.fs_stall, Duration::from_millis(500));
        assert_eq!(t.test_fs_hang.as_deref(), Some("hung"));
        assert_eq!(c.test_panic.as_deref(), Some("OfxActionLoad"));
        let o = c.render_options();
        assert!(o.simulate_trained_coarse && o.fail_gpu_path);
        // Nonsense values keep the defaults.
        let bad = config(&[
            (ARENA_INITIAL_MB, "-3"),
            (FS_STALL_S, "NaN"),
            (GPU_REFINER, "yes"),
        ]);
        assert_eq!(bad.env.tuning, RuntimeTuning::default());
    }

    #[test]
    fn config_md_lists_every_switch() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/CONFIG.md");
        let doc = std::fs::read_to_string(path).expect("docs/CONFIG.md");
        for name in ALL {
            assert!(
                doc.contains(&format!("| `{name}` |")),
                "{name} missing from CONFIG.md"
            );
        }
        let rows = doc
            .lines()
            .filter(|l| l.starts_with("| `CORRIDORKEY_"))
            .count();
        assert_eq!(
            rows,
            ALL.len(),
            "CONFIG.md lists a switch the code does not read"
        );
    }
}
