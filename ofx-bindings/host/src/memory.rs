//! Blocks the host hands out through imageMemoryAlloc and memoryAlloc, kept until the plugin frees
//! them (tests check that nothing leaks).

use std::collections::HashMap;
use std::sync::OnceLock;

use parking_lot::Mutex;

use super::image::HostMemory;

type Table = Mutex<HashMap<usize, Box<HostMemory>>>;

/// imageMemoryAlloc's blocks.
pub(crate) fn image_memory() -> &'static Table {
    static M: OnceLock<Table> = OnceLock::new();
    M.get_or_init(|| Mutex::new(HashMap::new()))
}

/// memoryAlloc's blocks.
pub(crate) fn plain_memory() -> &'static Table {
    static M: OnceLock<Table> = OnceLock::new();
    M.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Blocks from imageMemoryAlloc and memoryAlloc not yet freed.
pub fn live_memory_blocks() -> usize {
    image_memory().lock().len() + plain_memory().lock().len()
}
