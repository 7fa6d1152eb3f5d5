//! ONNX Runtime: the one process environment, execution-provider choice with explicit fallback, and
//! the coarse/refiner session pair built from a verified model folder.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ort::environment::Environment;
use ort::ep::{self, ArbitrarilyConfigurableExecutionProvider, ExecutionProviderDispatch};
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::Session;
use ort::value::{TensorElementType, ValueType};

use super::device::Kernels;
use super::manifest::{self, GraphEntry, ManifestError};
use super::shared_arena;
use super::{Device, EngineError, RuntimeConfig};

/// The loaded library and its environment. ORT allows one environment per process, ever, so it
/// lives here for the process lifetime; a failed load leaves it empty so a later call may retry.
static ENV: parking_lot::Mutex<Option<(PathBuf, Environment)>> = parking_lot::const_mutex(None);

/// Loads ONNX Runtime from `lib` (absolute path) once per process. Returns the environment and a
/// warning when an earlier call already loaded a different library.
pub fn environment(lib: &Path) -> Result<(Environment, Option<String>), EngineError> {
    let mut env = ENV.lock();
    if let Some((loaded, e)) = env.as_ref() {
        let warning = (loaded != lib).then(|| {
            format!(
                "ONNX Runtime is already loaded from {}; {} takes effect after a restart",
                loaded.display(),
                lib.display()
            )
        });
        return Ok((e.clone(), warning));
    }
    let err = |detail: String| EngineError::Runtime {
        path: lib.to_path_buf(),
        detail,
    };
    if !lib.is_absolute() {
        return Err(err("the library path must be absolute".into()));
    }
    if !lib.is_file() {
        return Err(err("file not found".into()));
    }
    // ort panics inside `ort::api()` when a load fails; init_from is the one call that reports it.
    let builder = ort::init_from(lib).map_err(|e| err(e.to_string()))?;
    let e = builder
        .with_name("corridorkey")
        .with_telemetry(false)
        .build()
        .map_err(|e| err(e.to_string()))?;
    *env = Some((lib.to_path_buf(), e.clone()));
    Ok((e, None))
}

/// What a session set was built for: rebuilt when any of this changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub runtime: RuntimeConfig,
    pub requested_size: usize,
    pub manifest_stamp: Option<(SystemTime, u64)>,
}

impl SessionKey {
    pub fn new(runtime: &RuntimeConfig, size: usize) -> Self {
        Self {
            runtime: runtime.clone(),
            requested_size: size,
            manifest_stamp: manifest::stamp(&runtime.model_dir.join("manifest.json")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    TensorRt,
    Cuda,
    Cpu,
}

impl Provider {
    pub fn label(self) -> &'static str {
        match self {
            Provider::TensorRt => "TensorRT",
            Provider::Cuda => "CUDA",
            Provider::Cpu => "CPU",
        }
    }
    fn precision(self) -> &'static str {
        match self {
            Provider::Cpu => "fp32",
            _ => "fp16",
        }
    }
}

/// The coarse and refiner sessions plus what they are.
pub struct Loaded {
    pub key: SessionKey,
    pub coarse: Session,
    pub refiner: Option<Session>,
    /// The inference size actually in use (the closest available when the requested one is missing).
    pub size: usize,
    pub precision: String,
    pub provider: Provider,
    pub variant: String,
    /// Fallbacks made while loading; repeated in every frame's warnings.
    pub warnings: Vec<String>,
    /// Substitutions made while loading (closest size, other precision); repeated in every frame's notes.
    pub notes: Vec<String>,
    /// The device-side refine graphs, built on first use.
    pub kernels: Option<Kernels>,
}

impl Loaded {
    pub fn describe(&self) -> String {
        let device = match self.provider {
            Provider::Cpu => "CPU".to_string(),
            p => format!("{} (GPU {})", p.label(), self.key.runtime.gpu_index),
        };
        let refiner = if self.refiner.is_some() {
            ""
        } else {
            ", no refiner"
        };
        format!(
            "GreenFormer {} S={} {} on {device}{refiner}",
            self.variant, self.size, self.precision
        )
    }
}

fn provider_lib(ort_lib: &Path, name: &str) -> PathBuf {
    let real = std::fs::canonicalize(ort_lib).unwrap_or_else(|_| ort_lib.to_path_buf());
    real.parent()
        .unwrap_or(Path::new("/"))
        .join(format!("libonnxruntime_providers_{name}.so"))
}

fn cuda_ep(rt: &RuntimeConfig, role: Role) -> ExecutionProviderDispatch {
    let mut cuda = ep::CUDA::default()
        .with_device_id(rt.gpu_index)
        // TF32 keeps 10 mantissa bits: fine inside the fp16 graphs, not for the kernels' fp32
        // resampling products (1e-3 errors).
        .with_tf32(role != Role::Kernel)
        .with_arena_extend_strategy(ep::ArenaExtendStrategy::SameAsRequested)
        .with_conv_algorithm_search(ep::cuda::ConvAlgorithmSearch::Heuristic)
        .with_conv_max_workspace(false);
    if rt.gpu_mem_limit_mb > 0 {
        cuda = cuda.with_memory_limit(rt.gpu_mem_limit_mb << 20);
    }
    // Pipeline TDs can tune the CUDA provider per farm without a rebuild, with ORT's own option
    // names: CORRIDORKEY_CUDA_OPTIONS="prefer_nhwc=1,cudnn_conv_algo_search=EXHAUSTIVE".
    for (key, value) in
        cuda_option_overrides(std::env::var("CORRIDORKEY_CUDA_OPTIONS").ok().as_deref())
    {
        cuda = cuda.with_arbitrary_config(key, value);
    }
    cuda.build().error_on_failure()
}

/// Parses `key=value,key=value`; malformed items are ignored (and logged by ORT as unknown keys).
fn cuda_option_overrides(spec: Option<&str>) -> Vec<(String, String)> {
    spec.unwrap_or_default()
        .split(',')
        .filter_map(|item| item.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn trt_ep(rt: &RuntimeConfig) -> ExecutionProviderDispatch {
    let mut trt = ep::TensorRT::default()
        .with_device_id(rt.gpu_index)
        .with_fp16(true);
    if let Some(dir) = &rt.engine_cache_dir {
        let dir = dir.display().to_string();
        trt = trt
            .with_engine_cache(true)
            .with_engine_cache_path(dir.clone())
            .with_timing_cache(true)
            .with_timing_cache_path(dir);
    }
    trt.build().error_on_failure()
}

/// What a session runs: the provider options and session settings differ per role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Coarse,
    Refiner,
    /// The weight-free device kernels (`engine::device`).
    Kernel,
}

fn providers(p: Provider, rt: &RuntimeConfig, role: Role) -> Vec<ExecutionProviderDispatch> {
    match p {
        // The refiner's B and T are dynamic; TensorRT would need shape profiles sized for the
        // largest tile batch, so the refiner runs on the CUDA EP even when the coarse graph is on TRT.
        Provider::TensorRt if role == Role::Coarse => vec![trt_ep(rt), cuda_ep(rt, role)],
        Provider::TensorRt | Provider::Cuda => vec![cuda_ep(rt, role)],
        Provider::Cpu => vec![],
    }
}

/// Where a graph comes from: a verified model file or bytes embedded in the plugin.
pub enum GraphSource<'a> {
    File(&'a Path),
    Memory(&'a [u8]),
}

fn build_session(
    env: &Environment,
    path: &Path,
    p: Provider,
    rt: &RuntimeConfig,
    coarse: bool,
) -> Result<Session, String> {
    let role = if coarse { Role::Coarse } else { Role::Refiner };
    build_session_from(env, GraphSource::File(path), p, rt, role)
}

/// A session on provider `p` (TensorRT only for the coarse graph, see `providers`).
pub fn build_session_from(
    env: &Environment,
    source: GraphSource<'_>,
    p: Provider,
    rt: &RuntimeConfig,
    role: Role,
) -> Result<Session, String> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let builder = Session::builder(env).map_err(|e| e.to_string())?;
    let builder = builder
        .with_intra_threads(threads)
        .map_err(|e| e.to_string())?;
    // No busy-waiting: the host application shares these cores.
    let builder = builder
        .with_intra_op_spinning(false)
        .map_err(|e| e.to_string())?;
    let builder = builder
        .with_execution_providers(providers(p, rt, role))
        .map_err(|e| e.to_string())?;
    // One arena for all GPU sessions when the environment has it (shared_arena.rs).
    let builder = if p != Provider::Cpu && shared_arena::is_registered(rt.gpu_index) {
        builder.with_env_allocators().map_err(|e| e.to_string())?
    } else {
        builder
    };
    let mut builder = if role == Role::Coarse {
        builder
    } else {
        // Tile batches and sizes vary between frames: don't plan buffers per shape.
        builder
            .with_memory_pattern(false)
            .map_err(|e| e.to_string())?
    };
    let session = match source {
        GraphSource::File(path) => builder.commit_from_file(path),
        GraphSource::Memory(bytes) => builder.commit_from_memory(bytes),
    }
    .map_err(|e| e.to_string())?;
    if p != Provider::Cpu {
        // Registration can succeed while the provider is unusable; only a CUDA allocator proves
        // the session really runs on the GPU.
        let info = MemoryInfo::new(
            AllocationDevice::CUDA,
            rt.gpu_index,
            AllocatorType::Arena,
            MemoryType::Default,
        )
        .map_err(|e| e.to_string())?;
        Allocator::new(&session, info)
            .map_err(|e| format!("CUDA is not active in the session: {e}"))?;
    }
    Ok(session)
}

fn dtype_name(ty: TensorElementType) -> &'static str {
    match ty {
        TensorElementType::Float32 => "float32",
        TensorElementType::Float16 => "float16",
        TensorElementType::Float64 => "float64",
        TensorElementType::Int64 => "int64",
        TensorElementType::Int32 => "int32",
        _ => "other",
    }
}

/// Compares a session's inputs/outputs with the manifest entry; the message says what differs.
pub fn check_io(session: &Session, g: &GraphEntry) -> Result<(), String> {
    let sides = [
        ("input", session.inputs(), &g.inputs),
        ("output", session.outputs(), &g.outputs),
    ];
    for (side, outlets, specs) in sides {
        let names: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
        let want: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        if names != want {
            return Err(format!(
                "{}: {side}s are {names:?}, the manifest says {want:?}",
                g.file
            ));
        }
        for (o, spec) in outlets.iter().zip(specs.iter()) {
            let ValueType::Tensor { ty, shape, .. } = o.dtype() else {
                return Err(format!("{}: {side} {} is not a tensor", g.file, spec.name));
            };
            if dtype_name(*ty) != spec.dtype {
                return Err(format!(
                    "{}: {side} {} is {}, the manifest says {}",
                    g.file,
                    spec.name,
                    dtype_name(*ty),
                    spec.dtype
                ));
            }
            let want: Vec<Option<i64>> = spec.shape.iter().map(manifest::dim_value).collect();
            let have: Vec<Option<i64>> = shape
                .iter()
                .map(|&d| Some(if d < 0 { -1 } else { d }))
                .collect();
            if have != want {
                let have: Vec<i64> = shape.iter().copied().collect();
                return Err(format!(
                    "{}: {side} {} has shape {have:?} (-1 = dynamic), the manifest says {:?}",
                    g.file, spec.name, spec.shape
                ));
            }
        }
    }
    Ok(())
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
    }
}

/// Checks the manifest and the graph files for size S without loading ONNX Runtime (for the info line).
pub fn probe(rt: &RuntimeConfig, size: usize) -> Result<manifest::Choice, EngineError> {
    let dir = &rt.model_dir;
    let m = manifest::load(dir).map_err(|e| manifest_err(dir, e))?;
    manifest::choose(&m, size, "fp32").map_err(|e| manifest_err(dir, e))
}

/// Builds the sessions for `rt` and size S: tries the providers the device setting allows, in order,
/// falling back (with a warning) when one fails. Model problems are errors, not fallbacks.
pub fn load(rt: &RuntimeConfig, size: usize) -> Result<Loaded, EngineError> {
    let key = SessionKey::new(rt, size);
    let dir = &rt.model_dir;
    // The manifest first: a missing model must be reported as such even without a runtime.
    let m = manifest::load(dir).map_err(|e| manifest_err(dir, e))?;
    let (env, env_warning) = environment(&rt.ort_library)?;
    let mut warnings: Vec<String> = env_warning.into_iter().collect();

    let trt_lib = provider_lib(&rt.ort_library, "tensorrt");
    let cuda_lib = provider_lib(&rt.ort_library, "cuda");
    let candidates: Vec<Provider> = match rt.device {
        Device::Cpu => vec![Provider::Cpu],
        Device::Cuda => vec![Provider::Cuda, Provider::Cpu],
        Device::TensorRt => vec![Provider::TensorRt, Provider::Cuda, Provider::Cpu],
        Device::Auto => {
            let mut c = Vec::new();
            if trt_lib.is_file() {
                c.push(Provider::TensorRt);
            }
            // A CPU-only bundle has no CUDA provider: Auto then means CPU, without complaint.
            if cuda_lib.is_file() {
                c.push(Provider::Cuda);
            }
            c.push(Provider::Cpu);
            c
        }
    };

    let mut last_err = String::new();
    for p in candidates {
        let choice = manifest::choose(&m, size, p.precision()).map_err(|e| manifest_err(dir, e))?;
        let coarse_path =
            manifest::verify_file(dir, &choice.coarse).map_err(|e| manifest_err(dir, e))?;
        let refiner_path = match &choice.refiner {
            Some(r) => Some(manifest::verify_file(dir, r).map_err(|e| manifest_err(dir, e))?),
            None => None,
        };
        if p != Provider::Cpu {
            let lib = if p == Provider::TensorRt {
                &trt_lib
            } else {
                &cuda_lib
            };
            if !lib.is_file() {
                let msg = format!("{} provider library {} not found", p.label(), lib.display());
                warnings.push(format!("{msg}; falling back"));
                last_err = msg;
                continue;
            }
        }
        // The shared arena makes ORT load the CUDA provider, and a failed load there aborts the
        // process; a small probe session proves the provider loads first (its failure is an
        // ordinary error and a fallback).
        let arena_note = if p == Provider::Cpu {
            None
        } else {
            if let Err(e) = build_session_from(
                &env,
                GraphSource::Memory(super::device::PROBE_GRAPH),
                p,
                rt,
                Role::Kernel,
            ) {
                warnings.push(format!("{} failed ({e}); falling back", p.label()));
                last_err = e;
                continue;
            }
            match shared_arena::ensure(&env, rt.gpu_index, rt.gpu_mem_limit_mb) {
                Ok(note) => note,
                Err(e) => Some(format!(
                    "no shared GPU arena ({e}); each graph keeps its own, which needs more memory"
                )),
            }
        };
        let coarse = match build_session(&env, &coarse_path, p, rt, true) {
            Ok(s) => s,
            Err(e) => {
                warnings.push(format!("{} failed ({e}); falling back", p.label()));
                last_err = e;
                continue;
            }
        };
        check_io(&coarse, &choice.coarse).map_err(|detail| EngineError::ModelInvalid {
            dir: dir.clone(),
            detail,
        })?;
        let refiner = match (&choice.refiner, refiner_path) {
            (Some(entry), Some(path)) => {
                let s = match build_session(&env, &path, p, rt, false) {
                    Ok(s) => s,
                    Err(e) => {
                        warnings.push(format!(
                            "{} failed for the refiner ({e}); falling back",
                            p.label()
                        ));
                        last_err = e;
                        continue;
                    }
                };
                check_io(&s, entry).map_err(|detail| EngineError::ModelInvalid {
                    dir: dir.clone(),
                    detail,
                })?;
                Some(s)
            }
            _ => None,
        };
        warnings.extend(choice.warnings.iter().cloned());
        warnings.extend(arena_note);
        return Ok(Loaded {
            notes: choice.notes.clone(),
            key,
            coarse,
            refiner,
            size: choice.coarse.size.unwrap_or(size),
            precision: choice.coarse.precision.clone(),
            provider: p,
            variant: m.variant.clone(),
            warnings,
            kernels: None,
        });
    }
    Err(EngineError::Inference(format!(
        "no execution provider could load the model: {last_err}"
    )))
}

#[cfg(test)]
mod tests {
    use super::cuda_option_overrides;

    #[test]
    fn cuda_option_overrides_parse_pairs() {
        assert!(cuda_option_overrides(None).is_empty());
        assert_eq!(
            cuda_option_overrides(Some(
                " prefer_nhwc=1, bad ,cudnn_conv_algo_search=EXHAUSTIVE,=x"
            )),
            vec![
                ("prefer_nhwc".to_string(), "1".to_string()),
                (
                    "cudnn_conv_algo_search".to_string(),
                    "EXHAUSTIVE".to_string()
                )
            ]
        );
    }
}
