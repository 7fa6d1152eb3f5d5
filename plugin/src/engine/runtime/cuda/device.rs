//! Devices and what a pointer is: the questions asked before touching a host's CUDA image.

use std::ffi::c_void;

use super::error::{CudaError, INVALID_VALUE};
use super::library::{Cuda, RawPointerAttributes};

/// `cudaMemoryType`: where an address lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Not known to CUDA (plain CPU memory, or no allocation at all).
    Unregistered,
    /// Page-locked host memory.
    Host,
    /// Device memory.
    Device,
    /// Managed (unified) memory.
    Managed,
}

impl MemoryKind {
    pub fn label(self) -> &'static str {
        match self {
            MemoryKind::Unregistered => "memory CUDA does not know (a CPU pointer?)",
            MemoryKind::Host => "page-locked host memory",
            MemoryKind::Device => "device memory",
            MemoryKind::Managed => "managed memory",
        }
    }

    /// Whether a CUDA image may be there (the GPU reads it as device memory, no CPU mapping).
    pub fn is_device(self) -> bool {
        matches!(self, MemoryKind::Device | MemoryKind::Managed)
    }
}

/// What the runtime knows about an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointerInfo {
    pub kind: MemoryKind,
    /// The device the memory belongs to (meaningless for `Unregistered`).
    pub device: i32,
}

impl Cuda {
    /// Devices this process can use (`cudaGetDeviceCount`); Err when no driver or device.
    pub fn device_count(&self) -> Result<i32, CudaError> {
        let mut n = 0;
        // SAFETY: valid out pointer.
        let code = unsafe { (self.api.get_device_count)(&mut n) };
        self.check("cudaGetDeviceCount", code)?;
        Ok(n)
    }

    /// The calling thread's current device.
    pub fn current_device(&self) -> Result<i32, CudaError> {
        let mut d = 0;
        // SAFETY: valid out pointer.
        let code = unsafe { (self.api.get_device)(&mut d) };
        self.check("cudaGetDevice", code)?;
        Ok(d)
    }

    /// Makes `device` current on the calling thread until the guard drops (then the previous one
    /// is restored): the host's render thread keeps the device it had.
    pub fn use_device(&self, device: i32) -> Result<DeviceGuard<'_>, CudaError> {
        let previous = self.current_device()?;
        if previous != device {
            // SAFETY: plain call; an invalid ordinal is reported as an error.
            let code = unsafe { (self.api.set_device)(device) };
            self.check("cudaSetDevice", code)?;
        }
        Ok(DeviceGuard {
            cuda: self,
            previous: (previous != device).then_some(previous),
        })
    }

    /// The total memory of `device` in bytes (`cudaMemGetInfo`'s total: what the card has, not
    /// what is free now). Makes the device current for the call only.
    pub fn total_memory(&self, device: i32) -> Result<usize, CudaError> {
        let _guard = self.use_device(device)?;
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: valid out pointers for the two size_t results.
        let code = unsafe { (self.api.mem_get_info)(&mut free, &mut total) };
        self.check("cudaMemGetInfo", code)?;
        Ok(total)
    }

    /// What `addr` is. The address is only described, never dereferenced.
    pub fn pointer_info(&self, addr: usize) -> Result<PointerInfo, CudaError> {
        let mut a = RawPointerAttributes {
            memory_type: 0,
            device: -1,
            device_pointer: std::ptr::null_mut(),
            host_pointer: std::ptr::null_mut(),
            reserved: [0; 8],
        };
        // SAFETY: `a` is writable and at least as large as the runtime's struct; the runtime looks
        // the address up in its tables and does not read the memory behind it.
        let code = unsafe { (self.api.pointer_get_attributes)(&mut a, addr as *const c_void) };
        // Runtimes before 11 answered an unknown pointer with cudaErrorInvalidValue (check() also
        // clears the thread's last error it left behind).
        if code == INVALID_VALUE {
            let _ = self.check("cudaPointerGetAttributes", code);
            return Ok(PointerInfo {
                kind: MemoryKind::Unregistered,
                device: -1,
            });
        }
        self.check("cudaPointerGetAttributes", code)?;
        let kind = match a.memory_type {
            1 => MemoryKind::Host,
            2 => MemoryKind::Device,
            3 => MemoryKind::Managed,
            _ => MemoryKind::Unregistered,
        };
        Ok(PointerInfo {
            kind,
            device: a.device,
        })
    }
}

/// Restores the thread's previous current device when dropped.
#[derive(Debug)]
pub struct DeviceGuard<'a> {
    cuda: &'a Cuda,
    previous: Option<i32>,
}

impl Drop for DeviceGuard<'_> {
    fn drop(&mut self) {
        if let Some(d) = self.previous {
            // SAFETY: plain call with the ordinal the thread had before; an error changes nothing.
            let _ = unsafe { (self.cuda.api.set_device)(d) };
        }
    }
}
