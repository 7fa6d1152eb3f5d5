//! Page-locked (pinned) host tensors for the frame's two big transfers, the plate going up and the
//! finished frame coming down, allocated once per size and reused from frame to frame. They are
//! bound straight to the kernel graphs: ONNX Runtime copies a pinned input to the device, and a
//! device output to pinned memory, on the session's own stream at the link's full speed (pageable
//! memory goes through the driver's bounce buffers, and `Tensor::to` through a session of its own).
//! On the CPU provider the same code runs on plain CPU memory, so the CPU tests cover it.

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::Session;
use ort::value::{DynValue, Tensor};
use rayon::prelude::*;

use super::tensors::Place;
use crate::engine::error::EngineError;

/// Which transfer a staged tensor serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// One staged tensor and its shape (the tensor keeps its allocator alive).
struct Slot {
    shape: Vec<usize>,
    tensor: DynValue,
}

/// The cached staging tensors of one kernel set.
#[derive(Default)]
pub struct Staging {
    up: Option<Slot>,
    down: Option<Slot>,
}

/// Host memory the device reaches directly: the CUDA provider's pinned allocator.
fn pinned(direction: Direction) -> Result<MemoryInfo<'static>, EngineError> {
    let kind = match direction {
        Direction::Up => MemoryType::CPUInput,
        Direction::Down => MemoryType::CPUOutput,
    };
    MemoryInfo::new(
        AllocationDevice::CUDA_PINNED,
        0,
        AllocatorType::Device,
        kind,
    )
    .map_err(EngineError::ort("pinned memory info"))
}

/// Copies `src` into `dst` in parallel (one 140 MB memcpy is ~10 ms on one core).
fn par_copy(dst: &mut [f32], src: &[f32]) {
    dst.par_chunks_mut(1 << 16)
        .zip(src.par_chunks(1 << 16))
        .for_each(|(d, s)| d.copy_from_slice(s));
}

impl Staging {
    /// The staged tensor of `direction` shaped `shape`, made from `session`'s pinned allocator
    /// (plain CPU memory on the CPU provider) when there is none of that shape yet.
    fn slot(
        &mut self,
        direction: Direction,
        session: &Session,
        place: Place,
        shape: &[usize],
    ) -> Result<&mut DynValue, EngineError> {
        let slot = match direction {
            Direction::Up => &mut self.up,
            Direction::Down => &mut self.down,
        };
        if slot.as_ref().is_none_or(|s| s.shape != shape) {
            // The old buffer goes back before the new one is taken.
            *slot = None;
            let e = EngineError::ort("pinned staging buffer");
            // Without a pinned allocator (a provider that has none) plain CPU memory still works:
            // ONNX Runtime then copies through the driver's bounce buffers, as before.
            let allocator = match place.gpu {
                Some(_) => Allocator::new(session, pinned(direction)?).unwrap_or_default(),
                None => Allocator::default(),
            };
            let tensor = Tensor::<f32>::new(&allocator, shape.to_vec()).map_err(e)?;
            *slot = Some(Slot {
                shape: shape.to_vec(),
                tensor: tensor.into_dyn(),
            });
        }
        match slot {
            Some(s) => Ok(&mut s.tensor),
            None => Err(EngineError::Internal("staging buffer missing".into())),
        }
    }

    /// `data` copied into the staged input of `shape`, ready to bind as a kernel's input.
    pub fn input(
        &mut self,
        session: &Session,
        place: Place,
        shape: &[usize],
        data: &[f32],
    ) -> Result<&DynValue, EngineError> {
        let tensor = self.slot(Direction::Up, session, place, shape)?;
        let (_, dst) = tensor
            .try_extract_tensor_mut::<f32>()
            .map_err(EngineError::ort("filling the staging buffer"))?;
        if dst.len() != data.len() {
            return Err(EngineError::Internal(format!(
                "{} values for a staging buffer of {}",
                data.len(),
                dst.len()
            )));
        }
        par_copy(dst, data);
        Ok(tensor)
    }

    /// The staged output of `shape`, to bind as a kernel's output; read it with [`Staging::read`].
    pub fn output(
        &mut self,
        session: &Session,
        place: Place,
        shape: &[usize],
    ) -> Result<&mut DynValue, EngineError> {
        self.slot(Direction::Down, session, place, shape)
    }

    /// The staged output's values, copied into a new vector.
    pub fn read(&mut self) -> Result<Vec<f32>, EngineError> {
        let Some(slot) = self.down.as_mut() else {
            return Err(EngineError::Internal("no staged output".into()));
        };
        let (_, src) = slot
            .tensor
            .try_extract_tensor::<f32>()
            .map_err(EngineError::ort("reading the staging buffer"))?;
        // Zeroed pages come from the allocator untouched; the parallel copy faults them in.
        let mut out = vec![0.0f32; src.len()];
        par_copy(&mut out, src);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_copies_keep_every_value_in_place() {
        let src: Vec<f32> = (0..200_003).map(|i| i as f32 * 0.5).collect();
        let mut dst = vec![-1.0f32; src.len()];
        par_copy(&mut dst, &src);
        assert_eq!(dst, src);
    }
}
