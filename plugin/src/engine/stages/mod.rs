//! The four stages of a frame, each a folder with its CPU form (`cpu.rs`) and GPU form (`gpu.rs`)
//! side by side, and the two paths that chain them behind one trait ([`path::FramePath`]):
//!
//! | stage   | does                                                                 |
//! |---------|----------------------------------------------------------------------|
//! | prepare | plate + hint -> `[1,4,S,S]` network input (resize, sRGB, ImageNet)    |
//! | coarse  | the coarse graph (backbone + decoders) -> logits at S/4               |
//! | refine  | logits up to S, refiner over tiles (sparse skip, batches, ramp blend) |
//! | finish  | back to the plate, mattes, despill, linear, output mode               |

pub mod coarse;
pub mod cpu_path;
pub mod finish;
pub mod gpu_path;
pub mod path;
pub mod prepare;
pub mod refine;
