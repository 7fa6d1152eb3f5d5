//! The hidden temporary files of writes in flight, and their removal when the process is told to
//! stop (SIGINT, SIGTERM): a render interrupted mid-write leaves no `.NAME.partial` behind.
//!
//! The signal handler only stores the signal number (all a handler may safely do); a watcher
//! thread sees it, takes the registry's lock (so no temporary is being created at that moment),
//! removes every registered temporary and ends the process with 128 + the signal, as a shell does.

use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static PENDING: AtomicI32 = AtomicI32::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Creates the temporary file `tmp` (a new file: an existing one, or a link of that name, is
/// removed first, so nothing is ever written through it) and registers it for removal on a signal.
pub fn create(tmp: &Path) -> std::io::Result<File> {
    let mut live = LIVE.lock();
    let _ = std::fs::remove_file(tmp);
    let f = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    live.push(tmp.to_owned());
    Ok(f)
}

/// `tmp` was renamed into place or removed: no longer ours to clean.
pub fn forget(tmp: &Path) {
    LIVE.lock().retain(|p| p != tmp);
}

extern "C" fn on_signal(sig: libc::c_int) {
    PENDING.store(sig, Ordering::SeqCst);
}

/// Installs the SIGINT/SIGTERM clean-up (once per process).
pub fn remove_on_signal() -> Result<(), String> {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("signal-cleanup".into())
        .spawn(|| loop {
            std::thread::sleep(Duration::from_millis(50));
            let sig = PENDING.load(Ordering::SeqCst);
            if sig != 0 {
                let live = LIVE.lock();
                for p in live.iter() {
                    let _ = std::fs::remove_file(p);
                }
                eprintln!(
                    "ofx-render: stopped by signal {sig}; {} temporary file{} removed",
                    live.len(),
                    if live.len() == 1 { "" } else { "s" }
                );
                // SAFETY: ends the process at once, the registry lock held, so no new temporary
                // can appear; nothing else must run (the node may be mid-render).
                unsafe { libc::_exit(128 + sig) };
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        if unsafe { libc::signal(sig, handler) } == libc::SIG_ERR {
            return Err(format!(
                "cannot handle signal {sig}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}
