//! Stage 1: the network input `[1,4,S,S]` (ImageNet-normalised sRGB + raw hint), as upstream builds
//! it. `cpu.rs`: one fused banded pass on the CPU; `gpu.rs`: the same taps as matrix products on the
//! model's provider; `domain.rs`: the value ranges the network sees on both.

pub mod cpu;
pub mod domain;
pub mod gpu;
