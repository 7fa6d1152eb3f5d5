//! Stage 2: the coarse graph (backbone + decoders), `[1,4,S,S]` -> alpha and foreground logits at
//! S/4. `cpu.rs` brings the logits to the host; `gpu.rs` leaves them on the device.

pub mod cpu;
pub mod gpu;
