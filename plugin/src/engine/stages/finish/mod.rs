//! Stage 4: back to the plate (resize alpha/fg from S), despeckle, clip, garbage/core mattes,
//! despill, sRGB -> linear, then the output mode. `cpu.rs` does it in fused bands on the CPU;
//! `gpu.rs` on the device (despeckle, the edge controls and the Status view take the CPU form);
//! `output.rs` holds the output modes, `despeckle.rs` upstream's island clean-up, `edges.rs` the
//! matte's shrink/grow, softness and gamma.

pub mod cpu;
pub mod despeckle;
pub mod edges;
pub mod finished;
pub mod gpu;
pub mod output;
