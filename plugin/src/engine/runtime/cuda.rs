//! The CUDA runtime, loaded at run time, for images a host hands over in CUDA memory (OFX CUDA
//! render): what an address is, device buffers, 2D copies and fills, streams and events.
//!
//! `library.rs` finds and loads libcudart (never linked), `error.rs` types its failures,
//! `device.rs` answers about devices and pointers, `memory.rs` owns buffers and moves bytes,
//! `sync.rs` orders work on streams. Nothing here knows about images or OFX.

pub mod device;
pub mod error;
pub mod library;
pub mod memory;
pub mod sync;

pub use device::{DeviceGuard, MemoryKind, PointerInfo};
pub use error::CudaError;
pub use library::{load, Cuda, CUDART_SONAME};
pub use memory::{DeviceBuffer, DeviceRegion};
pub use sync::{Event, StreamRef};
