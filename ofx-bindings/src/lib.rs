//! Safe layer over `openfx-sys`: the only place for OFX `unsafe` in the project.
//!
//! Plugin side: status codes ([`status`]), names the crate lacks ([`names`], [`k!`]), the host's
//! suites with NULL checks ([`suites`]), property sets ([`props`]), effects, clips, images and
//! params, messages, progress, threads, OFX CUDA render ([`gpu_render`]), and the entry-point
//! trampoline ([`plugin`]).
//! The host side (the Rust test host's FFI) is its own crate, `ofx-host-bindings` (`host/`), so no
//! build of the workspace ever mixes it into the plugin.

pub use openfx_sys as sys;

pub mod clip;
pub mod effect;
pub mod gpu_render;
pub mod host_info;
pub mod image;
pub mod names;
pub mod params;
pub mod plugin;
pub mod props;
pub mod status;
pub mod suites;
pub mod thread;

pub use clip::{Clip, Image};
pub use effect::{ImageEffect, InstanceData, MessageKind};
pub use gpu_render::CudaRenderArgs;
pub use image::{
    BitDepth, Components, ImageView, ImageViewMut, Layout, Premult, RectD, RectI, Row, RowMut,
};
pub use params::{Common, Param, ParamDef, ParamSet, StringMode};
pub use plugin::{Action, Call, Handler, PluginRecord};
pub use props::PropertySet;
pub use status::{Error, Result, Status};
