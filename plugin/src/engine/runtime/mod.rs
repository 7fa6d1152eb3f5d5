//! The runtime layer: the one ONNX Runtime environment, execution providers with explicit fallback,
//! the model set (manifest-checked coarse and refiner sessions), the shared GPU arena and its
//! statistics, the CUDA runtime for host images in device memory (`cuda`) and the probe that says
//! whether the CUDA provider loads. It knows nothing of the stages that use it.

pub mod arena_stats;
pub mod auto_size;
pub mod cuda;
pub mod environment;
pub mod files;
pub mod manifest;
pub mod model_set;
pub mod out_of_memory;
pub mod provider_probe;
pub mod providers;
pub mod session;
pub mod shared_arena;

pub use model_set::{ModelSet, ModelSetKey};
pub use providers::Provider;
