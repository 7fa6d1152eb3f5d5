//! CorridorKey OFX: the GreenFormer neural keyer as an OpenFX image effect.
//!
//! `engine` keys frames (host-agnostic); `ofx` is the plugin the host loads. The cdylib exports only
//! `OfxGetNumberOfPlugins`, `OfxGetPlugin` and `OfxSetHost` (see build.rs and `ofx/exports.map`).

pub mod engine;
pub mod ofx;
