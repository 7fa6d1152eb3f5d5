//! The host's "stop" request, polled between stages, refiner batches and long CPU loops.

use super::error::EngineError;

/// Wraps the caller's abort poll.
#[derive(Clone, Copy)]
pub struct Abort<'a>(pub &'a dyn Fn() -> bool);

impl Abort<'_> {
    /// A poll that never aborts (tests, tools).
    pub fn never() -> Abort<'static> {
        Abort(&|| false)
    }

    pub fn requested(&self) -> bool {
        (self.0)()
    }

    /// Err(Aborted) when the host asked to stop.
    pub fn check(&self) -> Result<(), EngineError> {
        if self.requested() {
            Err(EngineError::Aborted)
        } else {
            Ok(())
        }
    }
}
