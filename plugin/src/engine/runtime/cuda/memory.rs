//! Device memory: owned buffers, pitched regions of anyone's device memory, and the copies and fills
//! between them and host slices.
//!
//! Device-to-device copies and fills are queued on a stream and return at once. Copies to or from a
//! host slice have finished with the slice when they return (so the borrow can end): on a stream
//! they wait for an event recorded right after the copy, which waits for the work queued before it
//! on that stream and for nothing queued later; without a stream they are `cudaMemcpy2D`.

use std::ffi::c_void;

use super::error::{CudaError, NOT_SUPPORTED};
use super::library::{CopyKind, Cuda};
use super::sync::StreamRef;

/// `height` rows of `width_bytes` bytes, `pitch` bytes apart, in device memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceRegion {
    addr: usize,
    pitch: usize,
    width_bytes: usize,
    height: usize,
}

fn bad(what: String) -> CudaError {
    CudaError::Region(what)
}

impl DeviceRegion {
    /// A region of device memory someone else allocated (a host's image). Checks the geometry: a
    /// non-NULL address, rows no wider than the pitch, no address overflow.
    ///
    /// # Safety
    /// Every row `addr + r * pitch .. + width_bytes` (r < height) is CUDA device memory (the caller
    /// asked `Cuda::pointer_info`; never CPU memory), stays allocated until every copy or fill
    /// queued on the region has run, and nobody else writes it while they run.
    pub unsafe fn from_raw(
        addr: usize,
        pitch: usize,
        width_bytes: usize,
        height: usize,
    ) -> Result<DeviceRegion, CudaError> {
        Self::checked(addr, pitch, width_bytes, height)
    }

    fn checked(
        addr: usize,
        pitch: usize,
        width_bytes: usize,
        height: usize,
    ) -> Result<DeviceRegion, CudaError> {
        // One row has no pitch to speak of; the runtime still wants pitch >= width.
        let pitch = if height <= 1 {
            pitch.max(width_bytes)
        } else {
            pitch
        };
        let r = DeviceRegion {
            addr,
            pitch,
            width_bytes,
            height,
        };
        if r.is_empty() {
            return Ok(r);
        }
        if addr == 0 {
            return Err(bad(format!("NULL address for {r:?}")));
        }
        if pitch < width_bytes {
            return Err(bad(format!(
                "rows of {width_bytes} bytes do not fit a pitch of {pitch}"
            )));
        }
        r.extent()
            .and_then(|e| addr.checked_add(e))
            .ok_or_else(|| bad(format!("{r:?} overflows the address space")))?;
        Ok(r)
    }

    /// Bytes from the first byte of the first row to the end of the last row.
    fn extent(&self) -> Option<usize> {
        if self.is_empty() {
            return Some(0);
        }
        self.pitch
            .checked_mul(self.height - 1)?
            .checked_add(self.width_bytes)
    }

    /// The part `width_bytes` x `height` starting `x_bytes` into row `y` (checked to lie inside).
    pub fn sub(
        &self,
        x_bytes: usize,
        y: usize,
        width_bytes: usize,
        height: usize,
    ) -> Result<DeviceRegion, CudaError> {
        let fits = x_bytes
            .checked_add(width_bytes)
            .is_some_and(|e| e <= self.width_bytes)
            && y.checked_add(height).is_some_and(|e| e <= self.height);
        if !fits {
            return Err(bad(format!(
                "{width_bytes}x{height} bytes at ({x_bytes}, {y}) lie outside {self:?}"
            )));
        }
        if width_bytes == 0 || height == 0 {
            return Self::checked(self.addr, self.pitch, width_bytes, height);
        }
        Self::checked(
            self.addr + y * self.pitch + x_bytes,
            self.pitch,
            width_bytes,
            height,
        )
    }

    pub fn addr(&self) -> usize {
        self.addr
    }
    pub fn pitch(&self) -> usize {
        self.pitch
    }
    pub fn width_bytes(&self) -> usize {
        self.width_bytes
    }
    pub fn height(&self) -> usize {
        self.height
    }
    pub fn is_empty(&self) -> bool {
        self.width_bytes == 0 || self.height == 0
    }
    /// The bytes of the region packed without padding.
    pub fn packed_len(&self) -> usize {
        self.width_bytes * self.height
    }
}

/// Device memory we own, freed when dropped (in stream order when allocated on a stream).
#[derive(Debug)]
pub struct DeviceBuffer<'a> {
    cuda: &'a Cuda,
    addr: usize,
    len: usize,
    /// Freed with cudaFreeAsync on this stream; None: cudaFree.
    stream: Option<StreamRef>,
}

impl<'a> DeviceBuffer<'a> {
    /// `len` bytes on the current device (`cudaMalloc`).
    pub fn new(cuda: &'a Cuda, len: usize) -> Result<DeviceBuffer<'a>, CudaError> {
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid out pointer; a size of at least 1 byte so the result is never NULL.
        let code = unsafe { (cuda.api.malloc)(&mut p, len.max(1)) };
        cuda.check("cudaMalloc", code)?;
        Ok(DeviceBuffer {
            cuda,
            addr: p as usize,
            len,
            stream: None,
        })
    }

    /// `len` bytes allocated in `stream`'s order (`cudaMallocAsync`), freed in that order too:
    /// neither waits for the device. Falls back to [`DeviceBuffer::new`] on devices without
    /// memory pools.
    pub fn new_on(
        cuda: &'a Cuda,
        len: usize,
        stream: StreamRef,
    ) -> Result<DeviceBuffer<'a>, CudaError> {
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid out pointer; the stream is live by StreamRef's contract.
        let code = unsafe { (cuda.api.malloc_async)(&mut p, len.max(1), stream.raw()) };
        match cuda.check("cudaMallocAsync", code) {
            Ok(()) => Ok(DeviceBuffer {
                cuda,
                addr: p as usize,
                len,
                stream: Some(stream),
            }),
            Err(CudaError::Call { code, .. }) if code == NOT_SUPPORTED => Self::new(cuda, len),
            Err(e) => Err(e),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn addr(&self) -> usize {
        self.addr
    }

    /// The buffer as `height` rows of `width_bytes`, `pitch` apart (checked to fit).
    pub fn region(
        &self,
        pitch: usize,
        width_bytes: usize,
        height: usize,
    ) -> Result<DeviceRegion, CudaError> {
        let r = DeviceRegion::checked(self.addr, pitch, width_bytes, height)?;
        match r.extent() {
            Some(e) if e <= self.len => Ok(r),
            _ => Err(bad(format!(
                "{r:?} does not fit a buffer of {} bytes",
                self.len
            ))),
        }
    }
}

impl Drop for DeviceBuffer<'_> {
    fn drop(&mut self) {
        // SAFETY: the address came from cudaMalloc / cudaMallocAsync and is freed once, here; a
        // stream-ordered free runs after the work queued on that stream, which is where this
        // buffer's work was queued.
        let _ = unsafe {
            match self.stream {
                Some(s) => (self.cuda.api.free_async)(self.addr as *mut c_void, s.raw()),
                None => (self.cuda.api.free)(self.addr as *mut c_void),
            }
        };
    }
}

fn same_shape(a: &DeviceRegion, b_width: usize, b_height: usize) -> Result<(), CudaError> {
    if a.width_bytes == b_width && a.height == b_height {
        Ok(())
    } else {
        Err(bad(format!(
            "a copy needs equal shapes: {}x{} bytes against {b_width}x{b_height}",
            a.width_bytes, a.height
        )))
    }
}

impl Cuda {
    /// Sets every byte of `dst` to `byte` (queued on `stream`).
    pub fn fill(&self, dst: &DeviceRegion, byte: u8, stream: StreamRef) -> Result<(), CudaError> {
        if dst.is_empty() {
            return Ok(());
        }
        // SAFETY: `dst` is live device memory of this extent (DeviceRegion's contract); the stream
        // is live by StreamRef's.
        let code = unsafe {
            (self.api.memset_2d_async)(
                dst.addr as *mut c_void,
                dst.pitch,
                byte as i32,
                dst.width_bytes,
                dst.height,
                stream.raw(),
            )
        };
        self.check("cudaMemset2DAsync", code)
    }

    /// Copies `src` into `dst` (same shape, device to device, queued on `stream`).
    pub fn copy(
        &self,
        dst: &DeviceRegion,
        src: &DeviceRegion,
        stream: StreamRef,
    ) -> Result<(), CudaError> {
        same_shape(dst, src.width_bytes, src.height)?;
        if dst.is_empty() {
            return Ok(());
        }
        // SAFETY: both regions are live device memory of these extents (DeviceRegion's contract).
        let code = unsafe {
            (self.api.memcpy_2d_async)(
                dst.addr as *mut c_void,
                dst.pitch,
                src.addr as *const c_void,
                src.pitch,
                src.width_bytes,
                src.height,
                CopyKind::DeviceToDevice as i32,
                stream.raw(),
            )
        };
        self.check("cudaMemcpy2DAsync", code)
    }

    /// Copies `src` into `dst`, packed rows (`dst.len() == src.packed_len()`); done when it returns.
    pub fn download(
        &self,
        dst: &mut [u8],
        src: &DeviceRegion,
        stream: StreamRef,
    ) -> Result<(), CudaError> {
        if dst.len() != src.packed_len() {
            return Err(bad(format!(
                "{} host bytes for a region of {}",
                dst.len(),
                src.packed_len()
            )));
        }
        if src.is_empty() {
            return Ok(());
        }
        let args = (
            dst.as_mut_ptr() as *mut c_void,
            src.width_bytes,
            src.addr as *const c_void,
            src.pitch,
            src.width_bytes,
            src.height,
            CopyKind::DeviceToHost as i32,
        );
        if stream.is_legacy() {
            // SAFETY: `dst` holds exactly height packed rows; `src` is live device memory of this
            // extent. cudaMemcpy2D to host memory returns when the copy is done.
            let code = unsafe {
                (self.api.memcpy_2d)(args.0, args.1, args.2, args.3, args.4, args.5, args.6)
            };
            return self.check("cudaMemcpy2D", code);
        }
        // SAFETY: as above; the copy is finished before `dst`'s borrow ends (finish below).
        let code = unsafe {
            (self.api.memcpy_2d_async)(
                args.0,
                args.1,
                args.2,
                args.3,
                args.4,
                args.5,
                args.6,
                stream.raw(),
            )
        };
        self.check("cudaMemcpy2DAsync", code)?;
        self.finish(stream)
    }

    /// Copies packed rows (`src.len() == dst.packed_len()`) into `dst`; `src` is no longer needed
    /// when it returns.
    pub fn upload(
        &self,
        dst: &DeviceRegion,
        src: &[u8],
        stream: StreamRef,
    ) -> Result<(), CudaError> {
        if src.len() != dst.packed_len() {
            return Err(bad(format!(
                "{} host bytes for a region of {}",
                src.len(),
                dst.packed_len()
            )));
        }
        if dst.is_empty() {
            return Ok(());
        }
        let args = (
            dst.addr as *mut c_void,
            dst.pitch,
            src.as_ptr() as *const c_void,
            dst.width_bytes,
            dst.width_bytes,
            dst.height,
            CopyKind::HostToDevice as i32,
        );
        if stream.is_legacy() {
            // SAFETY: `src` holds exactly height packed rows; `dst` is live device memory of this
            // extent. cudaMemcpy2D from pageable memory returns once `src` has been read.
            let code = unsafe {
                (self.api.memcpy_2d)(args.0, args.1, args.2, args.3, args.4, args.5, args.6)
            };
            return self.check("cudaMemcpy2D", code);
        }
        // SAFETY: as above; the copy is finished before `src`'s borrow ends (finish below).
        let code = unsafe {
            (self.api.memcpy_2d_async)(
                args.0,
                args.1,
                args.2,
                args.3,
                args.4,
                args.5,
                args.6,
                stream.raw(),
            )
        };
        self.check("cudaMemcpy2DAsync", code)?;
        self.finish(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(addr: usize, pitch: usize, w: usize, h: usize) -> Result<DeviceRegion, CudaError> {
        DeviceRegion::checked(addr, pitch, w, h)
    }

    #[test]
    fn regions_check_their_geometry() {
        assert!(region(0, 64, 64, 2).is_err(), "NULL");
        assert!(
            region(0x1000, 32, 64, 2).is_err(),
            "rows wider than the pitch"
        );
        assert!(region(usize::MAX - 100, 64, 64, 4).is_err(), "overflow");
        // One row: the pitch is raised to the width; empty regions need no address.
        assert_eq!(region(0x1000, 0, 64, 1).unwrap().pitch(), 64);
        assert!(region(0, 0, 0, 5).unwrap().is_empty());
        let r = region(0x1000, 256, 200, 3).unwrap();
        assert_eq!(r.extent(), Some(256 * 2 + 200));
        assert_eq!(r.packed_len(), 600);
    }

    #[test]
    fn sub_regions_stay_inside() {
        let r = region(0x1000, 256, 200, 10).unwrap();
        let s = r.sub(16, 3, 100, 4).unwrap();
        assert_eq!(
            (s.addr(), s.pitch(), s.width_bytes(), s.height()),
            (0x1000 + 3 * 256 + 16, 256, 100, 4)
        );
        assert!(r.sub(101, 0, 100, 1).is_err(), "past the row");
        assert!(r.sub(0, 7, 10, 4).is_err(), "past the last row");
        assert!(r.sub(0, 10, 10, 0).unwrap().is_empty());
        assert!(r.sub(usize::MAX, 0, 2, 1).is_err(), "overflow");
    }
}
