//! Streams and events: ordering our work after a host's without waiting on the host's later work.

use super::error::{CudaError, NOT_READY};
use super::library::{Cuda, RawEvent, RawStream};

/// A CUDA stream owned by someone else (a host's `cudaStream_t`), or the legacy default stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamRef(usize);

impl StreamRef {
    /// The legacy default stream (NULL): ordered with every blocking stream of the context.
    pub const LEGACY: StreamRef = StreamRef(0);

    /// # Safety
    /// `handle` is 0 or a live `cudaStream_t` of this process that stays alive while work queued
    /// through this reference may run (the runtime dereferences it).
    pub unsafe fn from_raw(handle: usize) -> StreamRef {
        StreamRef(handle)
    }

    pub fn is_legacy(self) -> bool {
        self.0 == 0
    }

    pub fn raw(self) -> RawStream {
        self.0 as RawStream
    }
}

// cudaEventDisableTiming | cudaEventBlockingSync: the cheapest kind, and a waiting CPU thread
// sleeps instead of spinning (the host application shares these cores).
const EVENT_FLAGS: u32 = 0x2 | 0x1;

/// A CUDA event, destroyed when dropped.
#[derive(Debug)]
pub struct Event<'a> {
    cuda: &'a Cuda,
    raw: RawEvent,
}

impl<'a> Event<'a> {
    pub fn new(cuda: &'a Cuda) -> Result<Event<'a>, CudaError> {
        let mut raw: RawEvent = std::ptr::null_mut();
        // SAFETY: valid out pointer.
        let code = unsafe { (cuda.api.event_create_with_flags)(&mut raw, EVENT_FLAGS) };
        cuda.check("cudaEventCreateWithFlags", code)?;
        Ok(Event { cuda, raw })
    }

    /// Marks the point in `stream` reached by the work queued so far.
    pub fn record(&self, stream: StreamRef) -> Result<(), CudaError> {
        // SAFETY: live event; the stream is live by StreamRef's contract.
        let code = unsafe { (self.cuda.api.event_record)(self.raw, stream.raw()) };
        self.cuda.check("cudaEventRecord", code)
    }

    /// Makes work queued on `stream` from now on wait for this event (no CPU wait).
    pub fn make_wait(&self, stream: StreamRef) -> Result<(), CudaError> {
        // SAFETY: live event and stream; flags 0 is the only value the runtime defines.
        let code = unsafe { (self.cuda.api.stream_wait_event)(stream.raw(), self.raw, 0) };
        self.cuda.check("cudaStreamWaitEvent", code)
    }

    /// Blocks until the recorded work has finished.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        // SAFETY: live event.
        let code = unsafe { (self.cuda.api.event_synchronize)(self.raw) };
        self.cuda.check("cudaEventSynchronize", code)
    }

    /// Whether the recorded work has finished (without waiting).
    pub fn is_done(&self) -> Result<bool, CudaError> {
        // SAFETY: live event.
        let code = unsafe { (self.cuda.api.event_query)(self.raw) };
        if code == NOT_READY {
            // Not a failure; check() also clears it from the thread's last error.
            let _ = self.cuda.check("cudaEventQuery", code);
            return Ok(false);
        }
        self.cuda.check("cudaEventQuery", code).map(|()| true)
    }
}

impl Drop for Event<'_> {
    fn drop(&mut self) {
        // SAFETY: created by cudaEventCreateWithFlags and destroyed once, here (the runtime defers
        // the release until the recorded work is done).
        let _ = unsafe { (self.cuda.api.event_destroy)(self.raw) };
    }
}

impl Cuda {
    /// Waits for everything queued on `stream` (including work other threads queue meanwhile).
    pub fn synchronize(&self, stream: StreamRef) -> Result<(), CudaError> {
        // SAFETY: the stream is live by StreamRef's contract.
        let code = unsafe { (self.api.stream_synchronize)(stream.raw()) };
        self.check("cudaStreamSynchronize", code)
    }

    /// Waits for the work queued on `stream` up to now, and for nothing queued after this call.
    pub fn finish(&self, stream: StreamRef) -> Result<(), CudaError> {
        let e = Event::new(self)?;
        e.record(stream)?;
        e.synchronize()
    }
}
