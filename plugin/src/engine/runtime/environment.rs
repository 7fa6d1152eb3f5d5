//! The ONNX Runtime library and its environment: loaded once per process from an absolute path.

use std::path::{Path, PathBuf};

use ort::environment::Environment;

use crate::engine::error::{EngineError, RuntimeProblem};

/// ORT allows one environment per process, ever, so it lives here for the process lifetime; a
/// failed load leaves it empty so a later call may retry.
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
    let err = |detail: RuntimeProblem| EngineError::Runtime {
        path: lib.to_path_buf(),
        detail,
    };
    if !lib.is_absolute() {
        return Err(err(RuntimeProblem::NotAbsolute));
    }
    if !lib.is_file() {
        return Err(err(RuntimeProblem::NotFound));
    }
    // ort panics inside `ort::api()` when a load fails; init_from is the one call that reports it.
    let builder = ort::init_from(lib).map_err(|e| err(RuntimeProblem::Load(e.to_string())))?;
    let e = builder
        .with_name("corridorkey")
        .with_telemetry(false)
        .build()
        .map_err(|e| err(RuntimeProblem::Environment(e)))?;
    *env = Some((lib.to_path_buf(), e.clone()));
    Ok((e, None))
}
