//! The OpenFX face of the plugin: entry points, describe, params, render. Translates host images
//! and params for the engine and reports back to the host; all raw FFI lives in `ofx-bindings`.

pub mod cache;
pub mod config;
pub mod describe;
pub mod device_layout;
pub mod engine_call;
pub mod entry;
pub mod instance;
pub mod log;
pub mod params;
#[cfg(test)]
pub mod params_doc;
pub mod paths;
pub mod pixels;
pub mod regions;
pub mod render;
pub mod render_cuda;
pub mod temporal;
