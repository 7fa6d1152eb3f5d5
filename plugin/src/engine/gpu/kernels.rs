//! The kernel sessions of one model set's provider (built on first use) and the device constants
//! the GPU stages reuse from frame to frame.

use std::collections::HashMap;
use std::time::Instant;

use fast_image_resize::FilterType;
use ort::environment::Environment;
use ort::session::Session;
use ort::value::DynValue;

use super::graphs::{Kernel, MAX_BATCH, STEP};
use super::matrices;
use super::staging::Staging;
use super::tensors::Place;
use crate::engine::contract::{Medium, RuntimeConfig, Stage, StepTime};
use crate::engine::error::EngineError;
use crate::engine::runtime::providers::{Provider, Role};
use crate::engine::runtime::session::{build, GraphSource};

/// A constant kept on the device: a resampling matrix (source length, destination length, filter,
/// transposed) or a refine plan's weight sum (S, tile, overlap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConstKey {
    Matrix(usize, usize, u8, bool),
    WeightSum(usize, usize, usize),
    /// Zero deltas for a batch of `b` tiles of edge `t` (the first refine step blends nothing).
    ZeroDeltas(usize, usize),
}

fn borrow_all<const N: usize>(
    constants: &HashMap<ConstKey, DynValue>,
    keys: [ConstKey; N],
) -> Result<[&DynValue; N], EngineError> {
    let mut values = Vec::with_capacity(N);
    for key in keys {
        values.push(
            constants
                .get(&key)
                .ok_or_else(|| EngineError::Internal(format!("constant {key:?} missing")))?,
        );
    }
    values
        .try_into()
        .map_err(|_| EngineError::Internal("constant count".into()))
}

/// Constants beyond this many are dropped at the start of a frame (a frame makes six: two plate
/// sizes alternating fit).
const MAX_CONSTANTS: usize = 16;

pub struct GpuKernels {
    env: Environment,
    provider: Provider,
    runtime: RuntimeConfig,
    sessions: HashMap<Kernel, Session>,
    steps: HashMap<usize, Session>,
    constants: HashMap<ConstKey, DynValue>,
    /// Pinned host tensors for the plate going up and the frame coming down.
    staging: Staging,
    /// The stage now running and the steps timed so far (the benchmark's breakdown).
    stage: Stage,
    timed: Vec<StepTime>,
}

impl GpuKernels {
    pub fn new(env: &Environment, provider: Provider, runtime: &RuntimeConfig) -> Self {
        Self {
            env: env.clone(),
            provider,
            runtime: runtime.clone(),
            sessions: HashMap::new(),
            steps: HashMap::new(),
            constants: HashMap::new(),
            staging: Staging::default(),
            stage: Stage::Prepare,
            timed: Vec::new(),
        }
    }

    /// The stage the next recorded steps belong to.
    pub fn begin(&mut self, stage: Stage) {
        self.stage = stage;
    }

    /// Records a step of the current stage that started at `start` and moved `bytes` in `medium`.
    pub fn record(&mut self, name: &'static str, start: Instant, bytes: usize, medium: Medium) {
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        self.record_ms(name, ms, bytes, medium);
    }

    /// Records a step of the current stage that took `ms`.
    pub fn record_ms(&mut self, name: &'static str, ms: f64, bytes: usize, medium: Medium) {
        self.timed.push(StepTime {
            stage: self.stage,
            name,
            ms,
            bytes: bytes as u64,
            medium,
        });
    }

    /// The steps recorded since the last call.
    pub fn take_steps(&mut self) -> Vec<StepTime> {
        std::mem::take(&mut self.timed)
    }

    pub fn place(&self) -> Place {
        Place {
            gpu: self.provider.is_gpu().then_some(self.runtime.gpu_index),
        }
    }

    fn build(&self, bytes: &[u8]) -> Result<Session, EngineError> {
        build(
            &self.env,
            GraphSource::Memory(bytes),
            self.provider,
            &self.runtime,
            Role::Kernel,
        )
        .map_err(|e| EngineError::Inference {
            step: "building a GPU kernel",
            source: e.into_ort(),
        })
    }

    /// Kernel `k`, built when first asked for.
    pub fn session(&mut self, k: Kernel) -> Result<&mut Session, EngineError> {
        if !self.sessions.contains_key(&k) {
            let s = self.build(k.bytes())?;
            self.sessions.insert(k, s);
        }
        self.sessions
            .get_mut(&k)
            .ok_or_else(|| EngineError::Internal(format!("kernel {k:?} missing")))
    }

    /// Kernel `k` with the device constants `keys` borrowed beside it.
    pub fn session_with<const N: usize>(
        &mut self,
        k: Kernel,
        keys: [ConstKey; N],
    ) -> Result<(&mut Session, [&DynValue; N]), EngineError> {
        self.session(k)?;
        let Self {
            sessions,
            constants,
            ..
        } = self;
        let values = borrow_all(constants, keys)?;
        let session = sessions
            .get_mut(&k)
            .ok_or_else(|| EngineError::Internal(format!("kernel {k:?} missing")))?;
        Ok((session, values))
    }

    /// Kernel `k` with the device constants `keys` and the pinned staging tensors beside it.
    pub fn session_staged<const N: usize>(
        &mut self,
        k: Kernel,
        keys: [ConstKey; N],
    ) -> Result<(&mut Session, [&DynValue; N], &mut Staging), EngineError> {
        self.session(k)?;
        let Self {
            sessions,
            constants,
            staging,
            ..
        } = self;
        let values = borrow_all(constants, keys)?;
        let session = sessions
            .get_mut(&k)
            .ok_or_else(|| EngineError::Internal(format!("kernel {k:?} missing")))?;
        Ok((session, values, staging))
    }

    /// The refine-step kernel (blend, then crop) for a batch of `batch` tiles.
    pub fn tile_step(&mut self, batch: usize) -> Result<&mut Session, EngineError> {
        if !(1..=MAX_BATCH).contains(&batch) {
            return Err(EngineError::Internal(format!(
                "no tile kernels for a batch of {batch}"
            )));
        }
        if !self.steps.contains_key(&batch) {
            let step = self.build(STEP[batch - 1])?;
            self.steps.insert(batch, step);
        }
        self.steps
            .get_mut(&batch)
            .ok_or_else(|| EngineError::Internal("tile kernels missing".into()))
    }

    /// The refine-step kernel for `batch` with the device constants `keys` borrowed beside it.
    pub fn tile_step_with<const N: usize>(
        &mut self,
        batch: usize,
        keys: [ConstKey; N],
    ) -> Result<(&mut Session, [&DynValue; N]), EngineError> {
        self.tile_step(batch)?;
        let Self {
            steps, constants, ..
        } = self;
        let values = borrow_all(constants, keys)?;
        let step = steps
            .get_mut(&batch)
            .ok_or_else(|| EngineError::Internal("tile kernels missing".into()))?;
        Ok((step, values))
    }

    /// Drops the cached constants when they are many. Called once, before a frame's stages ask
    /// for theirs, so no constant a frame made goes away before the frame ends.
    pub fn make_room(&mut self) {
        if self.constants.len() > MAX_CONSTANTS {
            self.constants.clear();
        }
    }

    /// Uploads (once) the constant `key`, made by `make` with `shape`.
    pub fn constant(
        &mut self,
        key: ConstKey,
        shape: &[usize],
        make: impl FnOnce() -> Result<Vec<f32>, EngineError>,
    ) -> Result<ConstKey, EngineError> {
        if !self.constants.contains_key(&key) {
            let data = make()?;
            let value = self.place().upload(shape, &data)?;
            self.constants.insert(key, value);
        }
        Ok(key)
    }

    /// The resampling matrix for one axis: `[src, dst]`, or `[dst, src]` when `transposed` (the
    /// vertical pass multiplies from the left).
    pub fn matrix(
        &mut self,
        src: usize,
        dst: usize,
        filter: FilterType,
        transposed: bool,
    ) -> Result<ConstKey, EngineError> {
        let tag = match filter {
            FilterType::Bilinear => 0,
            FilterType::Lanczos3 => 1,
            _ => {
                return Err(EngineError::Internal(
                    "unsupported resampling filter".into(),
                ))
            }
        };
        let shape = if transposed { [dst, src] } else { [src, dst] };
        self.constant(ConstKey::Matrix(src, dst, tag, transposed), &shape, || {
            let m = matrices::axis_matrix(src, dst, filter)
                .map_err(|e| EngineError::Internal(format!("resampling matrix: {e}")))?;
            Ok(if transposed {
                matrices::transpose(&m, src, dst)
            } else {
                m
            })
        })
    }
}
