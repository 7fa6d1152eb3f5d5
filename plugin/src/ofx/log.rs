//! `CORRIDORKEY_LOG=1` sends a line per notable event to stderr (farm logs).

use once_cell::sync::Lazy;

static ENABLED: Lazy<bool> =
    Lazy::new(|| std::env::var("CORRIDORKEY_LOG").is_ok_and(|v| v.trim() == "1"));

pub fn enabled() -> bool {
    *ENABLED
}

pub fn log(msg: impl AsRef<str>) {
    if enabled() {
        eprintln!("[CorridorKey] {}", msg.as_ref());
    }
}
