//! `CORRIDORKEY_LOG=1` sends a line per notable event to stderr (farm logs).

use super::config;

pub fn enabled() -> bool {
    config::get().log
}

pub fn log(msg: impl AsRef<str>) {
    if enabled() {
        eprintln!("[CorridorKey] {}", msg.as_ref());
    }
}
