//! The finished matte at plate size, before the output mode: what the CPU finish makes and the
//! output modes read.

/// Where a garbage or core matte overrode the network (for the status view).
pub const OVERRIDE_GARBAGE: u8 = 1;
pub const OVERRIDE_CORE: u8 = 2;

/// The finished matte at plate size.
#[derive(Clone, Debug, Default)]
pub struct Finished {
    pub width: usize,
    pub height: usize,
    /// Interleaved R, G, B (straight linear FG, despilled) and A (final alpha).
    pub rgba: Vec<f32>,
    /// Per pixel: 0, OVERRIDE_GARBAGE or OVERRIDE_CORE.
    pub overrides: Vec<u8>,
}
