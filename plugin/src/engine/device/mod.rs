//! The frame path kept on the inference device (issue 5): prepare, coarse, refine and finish run as
//! ONNX graphs on the model's execution provider, and tensors stay on the device between them.
//! Only the plate and mattes go up, the refined matte's alpha plane (for the skip test) and the
//! finished RGBA come down.
//!
//! The steps around the model are small weight-free graphs (`plugin/kernels/`, written by
//! `python -m corridorkey_export kernels`) that reproduce the host path operation for operation:
//! same tile plan, skip rule, batch padding, blend weights and order, same resampling taps
//! (`matrices.rs`). On the CPU provider both paths agree to float rounding
//! (tests/engine_device_path.rs); on a GPU `ck-bench` reports the difference.

pub mod finish;
pub mod matrices;
pub mod prepare;
pub mod refine;

use std::collections::HashMap;

use fast_image_resize::FilterType;
use ort::environment::Environment;
use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::session::Session;
use ort::value::{DynValue, Tensor, TensorRef};
use rayon::prelude::*;

use super::refine::RefineSettings;
use super::session::{build_session_from, GraphSource, Provider, Role};
use super::types::InputColour;
use super::{EngineError, RuntimeConfig};

/// A tiny graph whose session proves an execution provider loads (`session::load`).
pub const PROBE_GRAPH: &[u8] = graphs::SIGMOID;

/// Tile batches the kernels were written for (crop and blend unroll the batch).
pub const MAX_BATCH: usize = 8;

mod graphs {
    pub const REFINE_PREP: &[u8] = include_bytes!("../../../kernels/refine_prep.onnx");
    pub const REFINE_FINAL: &[u8] = include_bytes!("../../../kernels/refine_final.onnx");
    pub const SIGMOID: &[u8] = include_bytes!("../../../kernels/sigmoid.onnx");
    pub const PREPARE_LINEAR: &[u8] = include_bytes!("../../../kernels/prepare_linear.onnx");
    pub const PREPARE_SRGB: &[u8] = include_bytes!("../../../kernels/prepare_srgb.onnx");
    pub const FINISH: &[u8] = include_bytes!("../../../kernels/finish.onnx");
    pub const FINISH_MATTES: &[u8] = include_bytes!("../../../kernels/finish_mattes.onnx");
    pub const CROP: [&[u8]; super::MAX_BATCH] = [
        include_bytes!("../../../kernels/tile_crop_b1.onnx"),
        include_bytes!("../../../kernels/tile_crop_b2.onnx"),
        include_bytes!("../../../kernels/tile_crop_b3.onnx"),
        include_bytes!("../../../kernels/tile_crop_b4.onnx"),
        include_bytes!("../../../kernels/tile_crop_b5.onnx"),
        include_bytes!("../../../kernels/tile_crop_b6.onnx"),
        include_bytes!("../../../kernels/tile_crop_b7.onnx"),
        include_bytes!("../../../kernels/tile_crop_b8.onnx"),
    ];
    pub const BLEND: [&[u8]; super::MAX_BATCH] = [
        include_bytes!("../../../kernels/tile_blend_b1.onnx"),
        include_bytes!("../../../kernels/tile_blend_b2.onnx"),
        include_bytes!("../../../kernels/tile_blend_b3.onnx"),
        include_bytes!("../../../kernels/tile_blend_b4.onnx"),
        include_bytes!("../../../kernels/tile_blend_b5.onnx"),
        include_bytes!("../../../kernels/tile_blend_b6.onnx"),
        include_bytes!("../../../kernels/tile_blend_b7.onnx"),
        include_bytes!("../../../kernels/tile_blend_b8.onnx"),
    ];
}

pub(crate) fn err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Inference(format!("device path: {e}"))
}

/// A resampling matrix on the device: (source length, destination length, filter, transposed).
type MatrixKey = (usize, usize, u8, bool);

/// The kernel sessions (built on first use) on the provider the model sessions use, plus device
/// constants cached across frames.
pub struct Kernels {
    env: Environment,
    provider: Provider,
    runtime: RuntimeConfig,
    sessions: HashMap<&'static str, Session>,
    tiles: HashMap<usize, (Session, Session)>,
    matrices: HashMap<MatrixKey, DynValue>,
    /// The plan's weight sum on the device, for (S, T, overlap).
    wsum: Option<((usize, usize, usize), DynValue)>,
}

impl Kernels {
    pub fn new(env: &Environment, provider: Provider, runtime: &RuntimeConfig) -> Self {
        Self {
            env: env.clone(),
            provider,
            runtime: runtime.clone(),
            sessions: HashMap::new(),
            tiles: HashMap::new(),
            matrices: HashMap::new(),
            wsum: None,
        }
    }

    fn build(&self, bytes: &[u8]) -> Result<Session, EngineError> {
        build_session_from(
            &self.env,
            GraphSource::Memory(bytes),
            self.provider,
            &self.runtime,
            Role::Kernel,
        )
        .map_err(err)
    }

    /// The kernel `name` (one of `graphs`), built when first asked for.
    fn session(&mut self, name: &'static str) -> Result<&mut Session, EngineError> {
        if !self.sessions.contains_key(name) {
            let bytes = match name {
                "refine_prep" => graphs::REFINE_PREP,
                "refine_final" => graphs::REFINE_FINAL,
                "sigmoid" => graphs::SIGMOID,
                "prepare_linear" => graphs::PREPARE_LINEAR,
                "prepare_srgb" => graphs::PREPARE_SRGB,
                "finish" => graphs::FINISH,
                "finish_mattes" => graphs::FINISH_MATTES,
                _ => return Err(err(format!("no kernel {name}"))),
            };
            let s = self.build(bytes)?;
            self.sessions.insert(name, s);
        }
        self.sessions
            .get_mut(name)
            .ok_or_else(|| err(format!("kernel {name} missing")))
    }

    /// Builds every kernel session this frame will use before the coarse graph runs. A session
    /// built later places its constants inside the arena block the coarse pass just freed; the next
    /// frame's coarse pass then finds no room and the shared arena grows by its whole activation
    /// block (measured on an H100: +1.6 GB and a 226 ms frame).
    pub fn prewarm(
        &mut self,
        colour: InputColour,
        settings: &RefineSettings,
        finish_mattes: Option<bool>,
    ) -> Result<(), EngineError> {
        self.session(match colour {
            InputColour::Linear => "prepare_linear",
            InputColour::Srgb => "prepare_srgb",
        })?;
        self.session("refine_prep")?;
        if settings.enabled {
            self.session("refine_final")?;
            self.tile_sessions(settings.batch.clamp(1, MAX_BATCH))?;
        } else {
            self.session("sigmoid")?;
        }
        match finish_mattes {
            Some(true) => self.session("finish_mattes").map(|_| ()),
            Some(false) => self.session("finish").map(|_| ()),
            None => Ok(()),
        }
    }

    fn tile_sessions(&mut self, batch: usize) -> Result<&mut (Session, Session), EngineError> {
        if !(1..=MAX_BATCH).contains(&batch) {
            return Err(err(format!("no tile kernels for a batch of {batch}")));
        }
        if !self.tiles.contains_key(&batch) {
            let pair = (
                self.build(graphs::CROP[batch - 1])?,
                self.build(graphs::BLEND[batch - 1])?,
            );
            self.tiles.insert(batch, pair);
        }
        self.tiles
            .get_mut(&batch)
            .ok_or_else(|| err("tile kernels missing"))
    }

    fn on_gpu(&self) -> bool {
        self.provider != Provider::Cpu
    }

    /// Where intermediate tensors live: the GPU's memory, or host memory on the CPU provider.
    fn device(&self) -> Result<MemoryInfo<'static>, EngineError> {
        let (device, id) = if self.on_gpu() {
            (AllocationDevice::CUDA, self.runtime.gpu_index)
        } else {
            (AllocationDevice::CPU, 0)
        };
        MemoryInfo::new(device, id, AllocatorType::Device, MemoryType::Default).map_err(err)
    }

    fn host() -> Result<MemoryInfo<'static>, EngineError> {
        MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Device,
            MemoryType::Default,
        )
        .map_err(err)
    }

    /// A host tensor copied to the device (an owned host tensor on the CPU provider). Never bind a
    /// borrowed `TensorRef` instead: ort clones borrowed inputs through its identity session, which
    /// deadlocks on the CPU provider (ort 2.0.0-rc.15).
    fn upload(&self, shape: &[usize], data: &[f32]) -> Result<DynValue, EngineError> {
        if self.on_gpu() {
            let host = TensorRef::from_array_view((shape.to_vec(), data)).map_err(err)?;
            let dev = host
                .to(AllocationDevice::CUDA, self.runtime.gpu_index)
                .map_err(err)?;
            Ok(dev.into_dyn())
        } else {
            Ok(Tensor::from_array((shape.to_vec(), data.to_vec()))
                .map_err(err)?
                .into_dyn())
        }
    }

    /// Drops the cached matrices when they are many (one plate size at a time is the norm). Called
    /// before a stage asks for its pair, so a pair is never split by the eviction.
    fn make_room_for_matrices(&mut self) {
        if self.matrices.len() > 6 {
            self.matrices.clear();
        }
    }

    /// Uploads (once) the resampling matrix for one axis and returns its key in `matrices`:
    /// `[src, dst]`, or `[dst, src]` when `transposed` (the vertical pass multiplies from the
    /// left). Callers index `matrices` with the key so the matrices can be borrowed beside a
    /// session.
    fn matrix(
        &mut self,
        src: usize,
        dst: usize,
        filter: FilterType,
        transposed: bool,
    ) -> Result<MatrixKey, EngineError> {
        let tag = match filter {
            FilterType::Bilinear => 0,
            FilterType::Lanczos3 => 1,
            _ => return Err(err("unsupported resampling filter")),
        };
        let key = (src, dst, tag, transposed);
        if !self.matrices.contains_key(&key) {
            let m = matrices::axis_matrix(src, dst, filter).map_err(err)?;
            let value = if transposed {
                self.upload(&[dst, src], &matrices::transpose(&m, src, dst))?
            } else {
                self.upload(&[src, dst], &m)?
            };
            self.matrices.insert(key, value);
        }
        Ok(key)
    }
}

fn host_tensor<T>(shape: &[usize], data: Vec<T>) -> Result<DynValue, EngineError>
where
    T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static,
{
    Ok(Tensor::from_array((shape.to_vec(), data))
        .map_err(err)?
        .into_dyn())
}

fn take(
    outputs: &mut ort::session::SessionOutputs<'_>,
    name: &str,
) -> Result<DynValue, EngineError> {
    outputs
        .remove(name)
        .ok_or_else(|| err(format!("graph produced no {name:?} output")))
}

/// Copies a host tensor's data into `dst` in parallel (one 64 MB memcpy is ~10 ms on one core).
fn copy_out(value: &DynValue, dst: &mut [f32]) -> Result<(), EngineError> {
    let (_, data) = value.try_extract_tensor::<f32>().map_err(err)?;
    if data.len() != dst.len() {
        return Err(err(format!(
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
