//! Loaded model sets, one slot per (runtime config, inference size), each behind its own lock: one
//! instance loading a model folder never blocks another rendering with a different one, and a
//! frame holds its slot from prepare to finish (the GPU path keeps tensors in the slot's arena).

use std::sync::Arc;

use parking_lot::{MappedMutexGuard, Mutex, MutexGuard};

use super::contract::{RuntimeConfig, ScreenColour};
use super::error::EngineError;
use super::gpu::GpuKernels;
use super::runtime::arena_stats::{self, ArenaStats, StatsUnavailable};
use super::runtime::environment::environment;
use super::runtime::model_set::{self, ModelSet, ModelSetKey};

/// Slots kept loaded at once; beyond this the least recently used idle slot is dropped (two nodes
/// at two sizes, or on two folders, stay loaded; a third evicts).
const MAX_SLOTS: usize = 2;

/// A model set and, once the GPU path has run on it, its kernel sessions.
pub struct Loaded {
    pub models: ModelSet,
    gpu: Option<GpuKernels>,
}

impl Loaded {
    /// The GPU path's kernels on the model set's provider, built on first use.
    pub fn split(&mut self) -> Result<(&mut ModelSet, &mut GpuKernels), EngineError> {
        if self.gpu.is_none() {
            let rt = &self.models.key.runtime;
            let (env, _) = environment(&rt.ort_library)?;
            self.gpu = Some(GpuKernels::new(&env, self.models.provider, rt));
        }
        match &mut self.gpu {
            Some(k) => Ok((&mut self.models, k)),
            None => Err(EngineError::Internal("GPU kernels missing".into())),
        }
    }
}

pub struct Slot {
    runtime: RuntimeConfig,
    size: usize,
    screen: ScreenColour,
    state: Mutex<Option<Loaded>>,
}

impl Slot {
    /// The slot's model set, locked for one frame; loaded when absent or when the model folder's
    /// manifest changed on disk.
    pub fn lock(&self) -> Result<MappedMutexGuard<'_, Loaded>, EngineError> {
        let mut state = self.state.lock();
        let want = ModelSetKey::new(&self.runtime, self.size, self.screen);
        if state.as_ref().is_none_or(|l| l.models.key != want) {
            *state = None;
            *state = Some(Loaded {
                models: model_set::load_for(&self.runtime, self.size, self.screen)?,
                gpu: None,
            });
        }
        MutexGuard::try_map(state, Option::as_mut)
            .map_err(|_| EngineError::Internal("model set missing after loading".into()))
    }

    /// The info line of the loaded model set, when it is loaded and not busy rendering.
    pub fn describe(&self) -> Option<String> {
        let state = self.state.try_lock()?;
        state.as_ref().map(|l| l.models.describe())
    }

    fn arena_stats(&self) -> Vec<Result<ArenaStats, StatsUnavailable>> {
        self.state
            .lock()
            .as_ref()
            .map(|l| arena_stats::collect(&l.models))
            .unwrap_or_default()
    }
}

#[derive(Default)]
pub struct Slots {
    /// Most recently used first.
    slots: Mutex<Vec<Arc<Slot>>>,
}

impl Slots {
    /// The slot for `runtime` at `size` keying `screen`, made (empty) when new. Never loads, never
    /// waits on a load.
    pub fn get(&self, runtime: &RuntimeConfig, size: usize, screen: ScreenColour) -> Arc<Slot> {
        let mut slots = self.slots.lock();
        let slot = match slots
            .iter()
            .position(|s| s.size == size && s.screen == screen && &s.runtime == runtime)
        {
            Some(i) => slots.remove(i),
            None => Arc::new(Slot {
                runtime: runtime.clone(),
                size,
                screen,
                state: Mutex::new(None),
            }),
        };
        slots.insert(0, slot.clone());
        // Drop the least recently used slots nobody is using (a busy one goes when it is idle).
        let mut i = slots.len();
        while slots.len() > MAX_SLOTS && i > 1 {
            i -= 1;
            if Arc::strong_count(&slots[i]) == 1 {
                slots.remove(i);
            }
        }
        slot
    }

    /// The slot for `runtime` at `size` keying `screen`, if it exists.
    pub fn find(
        &self,
        runtime: &RuntimeConfig,
        size: usize,
        screen: ScreenColour,
    ) -> Option<Arc<Slot>> {
        self.slots
            .lock()
            .iter()
            .find(|s| s.size == size && s.screen == screen && &s.runtime == runtime)
            .cloned()
    }

    /// Arena statistics of every loaded model set.
    pub fn arena_stats(&self) -> Vec<Result<ArenaStats, StatsUnavailable>> {
        let slots: Vec<Arc<Slot>> = self.slots.lock().clone();
        slots.iter().flat_map(|s| s.arena_stats()).collect()
    }

    pub fn clear(&self) {
        self.slots.lock().clear();
    }
}
