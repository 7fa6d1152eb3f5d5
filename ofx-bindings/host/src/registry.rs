//! Live-handle registry: every handle the host gives a plugin is checked here before it is
//! dereferenced, so a stale or foreign handle yields kOfxStatErrBadHandle instead of a crash.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    PropSet,
    ParamSet,
    Param,
    Clip,
    Effect,
}

fn table() -> &'static RwLock<HashMap<usize, Kind>> {
    static T: OnceLock<RwLock<HashMap<usize, Kind>>> = OnceLock::new();
    T.get_or_init(|| RwLock::new(HashMap::new()))
}

pub(crate) fn register(addr: usize, kind: Kind) {
    table().write().insert(addr, kind);
}

pub(crate) fn unregister(addr: usize) {
    table().write().remove(&addr);
}

pub(crate) fn is_live(addr: usize, kind: Kind) -> bool {
    addr != 0 && table().read().get(&addr) == Some(&kind)
}
