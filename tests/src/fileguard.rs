//! Files from outside, opened the way a farm needs them: only regular files are read (a FIFO, a
//! device or a socket given as a plate would block the open or a read forever, or never end), the
//! open itself uses O_NONBLOCK so it cannot hang on a FIFO, and the file type is checked with fstat
//! on the open descriptor before a byte is read. Stats of paths that may sit on a hung network mount
//! run under a time bound. Image sizes from headers are checked against the plugin's own bounds.

use std::fs::{File, FileType, Metadata, OpenOptions};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::Duration;

/// How long one stat may take before the file is reported as not answering.
pub const STAT_TIMEOUT: Duration = Duration::from_secs(5);

/// Widest or tallest image read, and most pixels: the plugin's own bounds
/// (plugin/src/engine/limits.rs, `MAX_PLATE_SIDE` and `MAX_PLATE_PIXELS`), so a header that
/// declares more is refused before anything is allocated, as the node would refuse the frame.
pub const MAX_SIDE: usize = 32_768;
pub const MAX_PIXELS: usize = 1 << 28;

/// What a non-regular file is, for messages.
pub fn kind(ft: &FileType) -> &'static str {
    if ft.is_file() {
        "a regular file"
    } else if ft.is_dir() {
        "a folder"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// `std::fs::metadata` (symlinks followed) that gives up after [`STAT_TIMEOUT`]: a path on a hung
/// network mount is an error naming it, not a job that never starts. The stat thread of a hung
/// path is left behind (it ends when the mount answers or the process exits).
pub fn stat_bounded(path: &Path) -> std::io::Result<Metadata> {
    let (tx, rx) = std::sync::mpsc::channel();
    let p = path.to_owned();
    std::thread::Builder::new()
        .name("stat".into())
        .spawn(move || {
            let _ = tx.send(std::fs::metadata(&p));
        })?;
    rx.recv_timeout(STAT_TIMEOUT).unwrap_or_else(|_| {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no answer within {} s (a hung network mount?)",
                STAT_TIMEOUT.as_secs()
            ),
        ))
    })
}

/// The metadata of `path` when it is a regular file the job may read; else one line naming it.
pub fn check_regular(path: &Path) -> Result<Metadata, String> {
    let m = stat_bounded(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !m.file_type().is_file() {
        return Err(format!(
            "{} is {}, not a regular file",
            path.display(),
            kind(&m.file_type())
        ));
    }
    Ok(m)
}

/// Opens `path` for reading when it is a regular file, without ever blocking in the open.
pub fn open_regular(path: &Path) -> Result<File, String> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let m = f
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if !m.file_type().is_file() {
        return Err(format!(
            "{} is {}, not a regular file",
            path.display(),
            kind(&m.file_type())
        ));
    }
    // Regular files ignore O_NONBLOCK; it is cleared so every later read has the usual meaning.
    let fd = f.as_raw_fd();
    // SAFETY: `fd` is the open descriptor owned by `f`, alive for both calls.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(f)
}

/// Err naming `path` when a `w x h` image is beyond [`MAX_SIDE`] / [`MAX_PIXELS`].
pub fn check_dims(path: &Path, w: usize, h: usize) -> Result<(), String> {
    if w == 0 || h == 0 {
        return Err(format!("{}: empty image ({w}x{h})", path.display()));
    }
    if w > MAX_SIDE || h > MAX_SIDE || w.checked_mul(h).is_none_or(|p| p > MAX_PIXELS) {
        return Err(format!(
            "{}: {w}x{h} is beyond the node's limits ({MAX_SIDE} a side, {} M pixels)",
            path.display(),
            MAX_PIXELS >> 20
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("ck-fileguard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("plate.exr");
        let _ = std::fs::remove_file(&fifo);
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_regular(&fifo).unwrap_err();
        assert!(e.contains("a FIFO"), "{e}");
        assert!(check_regular(&fifo).unwrap_err().contains("a FIFO"));
        let e = open_regular(Path::new("/dev/null")).unwrap_err();
        assert!(e.contains("a character device"), "{e}");
        assert!(check_dims(Path::new("x"), 40_000, 2).is_err());
        assert!(check_dims(Path::new("x"), 20_000, 20_000).is_err());
        assert!(check_dims(Path::new("x"), 4096, 2160).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
