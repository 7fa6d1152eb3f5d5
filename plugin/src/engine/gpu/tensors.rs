//! Tensors between CPU memory and the device: uploads, small CPU-side inputs, outputs taken
//! from a run, downloads.

use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::session::SessionOutputs;
use ort::value::{DynValue, Tensor, TensorRef};
use rayon::prelude::*;

use crate::engine::error::EngineError;

/// Where the GPU path keeps its intermediate tensors: a GPU's memory, or CPU memory when the path
/// runs on the CPU provider (tests).
#[derive(Clone, Copy, Debug)]
pub struct Place {
    pub gpu: Option<i32>,
}

fn ort_err(step: &'static str) -> impl Fn(ort::Error) -> EngineError + Copy {
    EngineError::ort(step)
}

impl Place {
    pub fn memory(self) -> Result<MemoryInfo<'static>, EngineError> {
        let (device, id) = match self.gpu {
            Some(i) => (AllocationDevice::CUDA, i),
            None => (AllocationDevice::CPU, 0),
        };
        MemoryInfo::new(device, id, AllocatorType::Device, MemoryType::Default)
            .map_err(ort_err("device memory info"))
    }

    /// A CPU tensor copied to the device (an owned CPU tensor on the CPU provider). Never bind a
    /// borrowed `TensorRef` instead: ort clones borrowed inputs through its identity session, which
    /// deadlocks on the CPU provider (ort 2.0.0-rc.15).
    pub fn upload(self, shape: &[usize], data: &[f32]) -> Result<DynValue, EngineError> {
        let err = ort_err("upload");
        match self.gpu {
            Some(i) => {
                let cpu = TensorRef::from_array_view((shape.to_vec(), data)).map_err(err)?;
                let dev = cpu.to(AllocationDevice::CUDA, i).map_err(err)?;
                Ok(dev.into_dyn())
            }
            None => cpu_tensor(shape, data.to_vec()),
        }
    }

    /// A device tensor's f32 data, brought to CPU memory.
    pub fn download(self, value: &DynValue, dst: &mut [f32]) -> Result<(), EngineError> {
        match self.to_cpu(value)? {
            Some(cpu) => copy_out(&cpu, dst),
            None => copy_out(value, dst),
        }
    }

    /// A device tensor copied to a CPU tensor; None on the CPU provider, where it already is in
    /// CPU memory.
    pub fn to_cpu(self, value: &DynValue) -> Result<Option<DynValue>, EngineError> {
        let Some(_) = self.gpu else {
            return Ok(None);
        };
        let err = ort_err("download");
        let t = value
            .view()
            .downcast::<ort::value::DynTensorValueType>()
            .map_err(err)?;
        Ok(Some(
            t.to(AllocationDevice::CPU, 0).map_err(err)?.into_dyn(),
        ))
    }
}

/// CPU memory, for outputs that come down.
pub fn cpu_memory() -> Result<MemoryInfo<'static>, EngineError> {
    MemoryInfo::new(
        AllocationDevice::CPU,
        0,
        AllocatorType::Device,
        MemoryType::Default,
    )
    .map_err(ort_err("CPU memory info"))
}

/// A small CPU-side input (boxes, weights, parameters).
pub fn cpu_tensor<T>(shape: &[usize], data: Vec<T>) -> Result<DynValue, EngineError>
where
    T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static,
{
    Ok(Tensor::from_array((shape.to_vec(), data))
        .map_err(ort_err("CPU tensor"))?
        .into_dyn())
}

/// Takes output `name` from a run.
pub fn take(outputs: &mut SessionOutputs<'_>, name: &str) -> Result<DynValue, EngineError> {
    outputs
        .remove(name)
        .ok_or_else(|| EngineError::Internal(format!("kernel graph produced no {name:?} output")))
}

/// Copies a CPU tensor's data into `dst` in parallel (one 64 MB memcpy is ~10 ms on one core).
pub fn copy_out(value: &DynValue, dst: &mut [f32]) -> Result<(), EngineError> {
    let (_, data) = value
        .try_extract_tensor::<f32>()
        .map_err(ort_err("reading an output"))?;
    if data.len() != dst.len() {
        return Err(EngineError::Internal(format!(
            "output has {} values, expected {}",
            data.len(),
            dst.len()
        )));
    }
    dst.par_chunks_mut(1 << 16)
        .zip(data.par_chunks(1 << 16))
        .for_each(|(d, s)| d.copy_from_slice(s));
    Ok(())
}
