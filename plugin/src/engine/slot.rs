//! Loaded model sets, one slot per (runtime config, inference size), each behind its own lock: one
//! instance loading a model folder never blocks another rendering with a different one (nothing
//! process-wide is held while a folder loads; file reads are bounded in time, `runtime/files.rs`),
//! and a frame holds its slot from prepare to finish (the GPU path keeps tensors in the slot's
//! arena). A failed load is kept with its error until the folder's files change.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{MappedMutexGuard, Mutex, MutexGuard};

use super::abort::Abort;
use super::contract::{RuntimeConfig, ScreenColour};
use super::error::EngineError;
use super::gpu::GpuKernels;
use super::runtime::arena_stats::{self, ArenaStats, StatsUnavailable};
use super::runtime::environment::environment;
use super::runtime::model_set::{self, ModelSet, ModelSetKey};

/// Slots kept loaded at once; beyond this the least recently used idle slot is dropped (two nodes
/// at two sizes, or on two folders, stay loaded; a third evicts).
const MAX_SLOTS: usize = 2;
/// Slots kept in all, failed loads included.
const MAX_REMEMBERED: usize = 16;

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

/// What a slot holds: nothing yet, a model set, or the error of the last load of the folder as it
/// still is on disk (a broken folder is not re-read every frame; a change to it loads again).
enum State {
    Empty,
    Loaded(Box<Loaded>),
    Failed {
        key: Box<ModelSetKey>,
        error: EngineError,
    },
}

pub struct Slot {
    runtime: RuntimeConfig,
    size: usize,
    screen: ScreenColour,
    state: Mutex<State>,
}

/// How often a render waiting for a slot (another frame, or another instance's load of the same
/// folder) polls its host's abort.
const WAIT_POLL: Duration = Duration::from_millis(20);

impl Slot {
    /// The slot's model set, locked for one frame; loaded when absent or when the files it was
    /// loaded from changed on disk. A folder whose load failed answers with the same error, without
    /// reading it again, until one of its files changes. Waiting for the lock polls `abort`.
    pub fn lock(&self, abort: Abort<'_>) -> Result<MappedMutexGuard<'_, Loaded>, EngineError> {
        let mut state = loop {
            if let Some(g) = self.state.try_lock_for(WAIT_POLL) {
                break g;
            }
            abort.check()?;
        };
        let earlier = match &*state {
            State::Empty => None,
            State::Loaded(l) => Some(&l.models.key),
            State::Failed { key, .. } => Some(&**key),
        };
        let now = ModelSetKey::current(&self.runtime, self.size, self.screen, earlier, abort)?;
        let unchanged = earlier == Some(&now);
        match &*state {
            State::Loaded(_) if unchanged => {}
            State::Failed { error, .. } if unchanged => {
                if let Some(e) = error.replay() {
                    return Err(e);
                }
            }
            _ => {
                *state = State::Empty;
                let (result, key) =
                    model_set::load_watched(&self.runtime, self.size, self.screen, abort);
                match result {
                    Ok(models) => {
                        *state = State::Loaded(Box::new(Loaded { models, gpu: None }));
                    }
                    Err(error) => {
                        if let Some(copy) = error.replay() {
                            *state = State::Failed {
                                key: Box::new(key),
                                error: copy,
                            };
                        }
                        return Err(error);
                    }
                }
            }
        }
        MutexGuard::try_map(state, |s| match s {
            State::Loaded(l) => Some(&mut **l),
            _ => None,
        })
        .map_err(|_| EngineError::Internal("model set missing after loading".into()))
    }

    /// The info line of the loaded model set (or why the folder failed), when the slot is not busy.
    pub fn describe(&self) -> Option<String> {
        let state = self.state.try_lock()?;
        match &*state {
            State::Empty => None,
            State::Loaded(l) => Some(l.models.describe()),
            State::Failed { error, .. } => Some(error.to_string()),
        }
    }

    fn arena_stats(&self) -> Vec<Result<ArenaStats, StatsUnavailable>> {
        match &*self.state.lock() {
            State::Loaded(l) => arena_stats::collect(&l.models),
            _ => Vec::new(),
        }
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
                state: Mutex::new(State::Empty),
            }),
        };
        slots.insert(0, slot.clone());
        // Drop the least recently used slots nobody is using beyond MAX_SLOTS model sets (a busy
        // one goes when it is idle); remembered failures hold no memory and are kept longer.
        let (mut models, mut kept) = (0, 0);
        slots.retain(|s| {
            let holds_model = s
                .state
                .try_lock()
                .is_none_or(|st| matches!(*st, State::Loaded(_)));
            let idle = Arc::strong_count(s) == 1;
            let keep = !idle || (kept < MAX_REMEMBERED && (!holds_model || models < MAX_SLOTS));
            if keep {
                kept += 1;
                models += holds_model as usize;
            }
            keep
        });
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

    /// Unloads the model set of `runtime` at `size` keying `screen` when nobody is using it (its
    /// sessions give their device memory back after the device ran out: `engine::degrade`).
    pub fn evict(&self, runtime: &RuntimeConfig, size: usize, screen: ScreenColour) {
        if let Some(slot) = self.find(runtime, size, screen) {
            if let Some(mut state) = slot.state.try_lock() {
                *state = State::Empty;
            }
        }
    }
}
