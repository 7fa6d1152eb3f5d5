//! Host side of OFX, for the Rust test host (`tests/`, crate `ofx-test-host`): property, parameter,
//! image effect, memory, multithread, message and progress suites, host-owned images, and loading a
//! plugin binary, and the host's CUDA (`cuda`: device images and streams for OFX CUDA render). All
//! raw FFI of the test host is here; the API below is safe.
//!
//! Handles given to the plugin are addresses of host objects that are checked against a registry of
//! live handles before use, so a stale handle is answered with kOfxStatErrBadHandle. C-variadic
//! entry points (paramGetValue & co., message) are in `shim.c`.

pub mod cuda;
mod effect;
mod image;
mod memory;
mod params;
mod plugin;
mod props;
mod registry;
pub mod status;
mod suites;
#[cfg(test)]
mod tests;

pub use effect::{
    unreleased_images, AbortFn, Clip, ClipSource, Effect, FrameLoader, Message, ProgressEvent,
};
pub use image::{BitDepth, Components, HostImage};
pub use memory::live_memory_blocks;
pub use params::{Param, ParamSet, ParamValue};
pub use plugin::{LoadError, LoadedPlugin, PluginInfo};
pub use props::{PropSet, PropValue};
pub use status::Status;
pub use suites::{HostConfig, HostState};
