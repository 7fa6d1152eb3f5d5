//! Model files read as files, in bounded time.
//!
//! * Only regular files are read: the path is stat'ed (following symlinks) and anything else (a
//!   FIFO, a device such as `/dev/zero`, a directory) is refused before it is opened; the opened
//!   descriptor is checked again (same inode, still regular), so a swap in between is caught.
//! * The length is known and checked before reading, every read is capped, and the file is hashed
//!   while it is read, with the host's abort polled between chunks.
//! * Every file-system call runs on a helper thread while the render thread waits and polls the
//!   host's abort. A call that makes no progress for [`stall_limit`] fails with the path in the
//!   message; the helper is left behind (a thread blocked in a hung NFS read cannot be stopped), and
//!   while one is, further calls for that folder fail at once instead of piling up more threads.
//!   Two folders never wait on each other here.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::engine::abort::Abort;
use crate::engine::contract::RuntimeTuning;

/// The stall limit and the test hang pattern of [`RuntimeTuning`], handed in by the model load
/// ([`configure`]): this module reads no environment (the caller read `CORRIDORKEY_FS_STALL_S`
/// and `CORRIDORKEY_TEST_FS_HANG`).
static LIMITS: Mutex<(Duration, Option<String>)> =
    parking_lot::const_mutex((Duration::from_secs(10), None));

const CHUNK: usize = 1 << 20;
const POLL: Duration = Duration::from_millis(20);

/// Takes the file limits of `tuning` for every later call (they are the process's: one
/// environment). A stall limit outside 0..1 h is clamped into it.
pub fn configure(tuning: &RuntimeTuning) {
    let stall = tuning
        .fs_stall
        .clamp(Duration::from_millis(1), Duration::from_secs(3600));
    let hang = tuning.test_fs_hang.clone().filter(|p| !p.is_empty());
    *LIMITS.lock() = (stall, hang);
}

/// How long a file-system call may go without progress.
pub fn stall_limit() -> Duration {
    LIMITS.lock().0
}

/// What a path is, as stat reports it after following symlinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    File,
    Dir,
    Fifo,
    Device,
    Socket,
    Other,
}

impl Kind {
    fn of(t: std::fs::FileType) -> Kind {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if t.is_fifo() {
                return Kind::Fifo;
            }
            if t.is_block_device() || t.is_char_device() {
                return Kind::Device;
            }
            if t.is_socket() {
                return Kind::Socket;
            }
        }
        if t.is_file() {
            Kind::File
        } else if t.is_dir() {
            Kind::Dir
        } else {
            Kind::Other
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Fifo => "FIFO (named pipe)",
            Kind::Device => "device",
            Kind::Socket => "socket",
            Kind::Other => "special file",
        }
    }
}

/// A file's identity and version as the file system reports it. A rewrite in place keeps the path
/// and may restore the size and mtime, but not the ctime; a replacement has a new inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub kind: Kind,
    pub len: u64,
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(md: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Stamp {
                kind: Kind::of(md.file_type()),
                len: md.len(),
                dev: md.dev(),
                ino: md.ino(),
                mtime: (md.mtime(), md.mtime_nsec()),
                ctime: (md.ctime(), md.ctime_nsec()),
            }
        }
        #[cfg(not(unix))]
        {
            let t = |t: std::io::Result<std::time::SystemTime>| {
                t.ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| (d.as_secs() as i64, d.subsec_nanos() as i64))
                    .unwrap_or_default()
            };
            Stamp {
                kind: Kind::of(md.file_type()),
                len: md.len(),
                dev: 0,
                ino: 0,
                mtime: t(md.modified()),
                ctime: t(md.created()),
            }
        }
    }

    fn same_file(&self, o: &Stamp) -> bool {
        self.dev == o.dev && self.ino == o.ino
    }
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum FileError {
    Missing,
    NotRegular(Kind),
    TooLarge {
        bytes: u64,
        max: u64,
    },
    Length {
        have: u64,
        want: u64,
    },
    /// The file changed between the stat and the end of the read.
    Changed,
    Io(std::io::Error),
    Stalled {
        path: PathBuf,
        secs: u64,
    },
    /// An earlier call in the same folder is still blocked.
    Hung {
        dir: PathBuf,
        secs: u64,
    },
    OutOfMemory(usize),
    Aborted,
}

/// A file read whole: its bytes, their sha256 (lower-case hex) and the stamp of what was read.
pub struct FileRead {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub stamp: Stamp,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum JobState {
    Running,
    Abandoned,
    Done,
}

/// What a helper thread shares with the waiting render thread.
struct Job {
    progress: AtomicU64,
    cancel: AtomicBool,
    state: Mutex<JobState>,
}

impl Job {
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Folders with helpers given up as stalled and still blocked: (how many, since when).
static HUNG: Lazy<Mutex<HashMap<PathBuf, (usize, Instant)>>> =
    Lazy::new(|| Mutex::new(HashMap::new()));

fn hung_since(dir: &Path) -> Option<Instant> {
    HUNG.lock().get(dir).map(|&(_, since)| since)
}

fn mark_hung(dir: &Path) {
    let mut h = HUNG.lock();
    let e = h.entry(dir.to_path_buf()).or_insert((0, Instant::now()));
    e.0 += 1;
}

fn unmark_hung(dir: &Path) {
    let mut h = HUNG.lock();
    if let Some(e) = h.get_mut(dir) {
        e.0 -= 1;
        if e.0 == 0 {
            h.remove(dir);
        }
    }
}

/// Test hook (`RuntimeTuning::test_fs_hang`, tests/tests/hostile.rs): a file-system call on a path
/// containing the pattern blocks for an hour, as on a hung network share.
fn test_hang(path: &Path) {
    let pattern = LIMITS.lock().1.clone();
    if let Some(p) = pattern {
        if path.to_string_lossy().contains(&p) {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// Runs `work` on a helper thread and waits for it, polling `abort`; gives up when the helper makes
/// no progress for [`stall_limit`]. `path` names the file in the stall message; `dir` is the
/// folder whose calls are refused while a helper of it is blocked.
fn run<T: Send + 'static>(
    dir: &Path,
    path: &Path,
    abort: Abort<'_>,
    work: impl FnOnce(&Job) -> Result<T, FileError> + Send + 'static,
) -> Result<T, FileError> {
    if abort.requested() {
        return Err(FileError::Aborted);
    }
    let limit = stall_limit();
    if let Some(since) = hung_since(dir) {
        return Err(FileError::Hung {
            dir: dir.to_path_buf(),
            secs: (since.elapsed() + limit).as_secs(),
        });
    }
    let job = Arc::new(Job {
        progress: AtomicU64::new(0),
        cancel: AtomicBool::new(false),
        state: Mutex::new(JobState::Running),
    });
    let (tx, rx) = mpsc::sync_channel(1);
    let helper = job.clone();
    let owner = dir.to_path_buf();
    std::thread::Builder::new()
        .name("corridorkey-fs".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&helper)))
                .unwrap_or_else(|_| Err(FileError::Io(std::io::Error::other("reader panicked"))));
            let mut state = helper.state.lock();
            if *state == JobState::Abandoned {
                unmark_hung(&owner);
            }
            *state = JobState::Done;
            drop(state);
            let _ = tx.send(r);
        })
        .map_err(FileError::Io)?;
    let mut seen = 0;
    let mut last = Instant::now();
    loop {
        match rx.recv_timeout(POLL) {
            Ok(r) => return r,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(FileError::Io(std::io::Error::other("reader ended early")))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let p = job.progress.load(Ordering::Relaxed);
        if p != seen {
            seen = p;
            last = Instant::now();
        }
        let aborted = abort.requested();
        let stalled = last.elapsed() >= limit;
        if !(aborted || stalled) {
            continue;
        }
        job.cancel.store(true, Ordering::Relaxed);
        let mut state = job.state.lock();
        if *state == JobState::Done {
            drop(state);
            if let Ok(r) = rx.recv() {
                return r;
            }
        } else if stalled && !aborted {
            // Counted as hung until it returns; an aborted one stops at its next chunk.
            *state = JobState::Abandoned;
            mark_hung(dir);
        }
        return Err(if aborted {
            FileError::Aborted
        } else {
            FileError::Stalled {
                path: path.to_path_buf(),
                secs: limit.as_secs().max(1),
            }
        });
    }
}

/// The stamps of `paths` (None: missing or unreadable), in one helper call.
pub fn stamps(
    dir: &Path,
    paths: Vec<PathBuf>,
    abort: Abort<'_>,
) -> Result<Vec<Option<Stamp>>, FileError> {
    let first = paths.first().cloned().unwrap_or_else(|| dir.to_path_buf());
    run(dir, &first, abort, move |job| {
        let mut out = Vec::with_capacity(paths.len());
        for p in &paths {
            test_hang(p);
            out.push(std::fs::metadata(p).ok().map(|m| Stamp::of(&m)));
            job.progress.fetch_add(1, Ordering::Relaxed);
        }
        Ok(out)
    })
}

/// Reads the regular file `path` whole: its length must be `want` (when given) and at most `max`;
/// hashed while read. On failure, the stamp of what is at `path` when it could be taken.
pub fn read(
    dir: &Path,
    path: &Path,
    want: Option<u64>,
    max: u64,
    abort: Abort<'_>,
) -> Result<FileRead, (FileError, Option<Stamp>)> {
    let owned = path.to_path_buf();
    // The stamp rides along with an error so a refused file is still watched for changes.
    let r = run(dir, path, abort, move |job| {
        Ok(read_on_helper(&owned, want, max, job))
    });
    match r {
        Ok(inner) => inner,
        Err(e) => Err((e, None)),
    }
}

fn read_on_helper(
    path: &Path,
    want: Option<u64>,
    max: u64,
    job: &Job,
) -> Result<FileRead, (FileError, Option<Stamp>)> {
    test_hang(path);
    let md = match std::fs::metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err((FileError::Missing, None))
        }
        Err(e) => return Err((FileError::Io(e), None)),
    };
    let stamp = Stamp::of(&md);
    let fail = |e: FileError| Err((e, Some(stamp)));
    if stamp.kind != Kind::File {
        return fail(FileError::NotRegular(stamp.kind));
    }
    let len = stamp.len;
    if len > max {
        return fail(FileError::TooLarge { bytes: len, max });
    }
    if let Some(want) = want {
        if want != len {
            return fail(FileError::Length { have: len, want });
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        // A FIFO swapped in after the stat must not block the open.
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let mut f = match options.open(path) {
        Ok(f) => f,
        Err(e) => return fail(FileError::Io(e)),
    };
    match f.metadata() {
        Ok(m) if Stamp::of(&m) == stamp => {}
        Ok(m) if Stamp::of(&m).kind != Kind::File => {
            return fail(FileError::NotRegular(Stamp::of(&m).kind))
        }
        Ok(m) if !Stamp::of(&m).same_file(&stamp) || m.len() != len => {
            return fail(FileError::Changed)
        }
        Ok(_) => {}
        Err(e) => return fail(FileError::Io(e)),
    }
    // One byte more than the length, to notice a file that grew while it was read.
    let cap = len as usize + 1;
    let mut bytes = Vec::new();
    if bytes.try_reserve_exact(cap).is_err() {
        return fail(FileError::OutOfMemory(cap));
    }
    bytes.resize(cap, 0u8);
    let mut hasher = Sha256::new();
    let mut pos = 0;
    while pos < cap {
        if job.cancelled() {
            return fail(FileError::Aborted);
        }
        let end = (pos + CHUNK).min(cap);
        let n = match f.read(&mut bytes[pos..end]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return fail(FileError::Io(e)),
        };
        hasher.update(&bytes[pos..pos + n]);
        pos += n;
        job.progress.fetch_add(n as u64, Ordering::Relaxed);
    }
    if pos != len as usize {
        return fail(FileError::Changed);
    }
    bytes.truncate(pos);
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(FileRead {
        bytes,
        sha256,
        stamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ck-files-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_regular_files_and_refuses_the_rest() {
        let d = tmp("kinds");
        let f = d.join("a.bin");
        std::fs::write(&f, b"hello").unwrap();
        let never = Abort::never();
        let r = read(&d, &f, Some(5), 100, never).ok().unwrap();
        assert_eq!(r.bytes, b"hello");
        assert_eq!(
            r.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(matches!(
            read(&d, &f, Some(6), 100, never),
            Err((FileError::Length { have: 5, want: 6 }, Some(_)))
        ));
        assert!(matches!(
            read(&d, &f, None, 4, never),
            Err((FileError::TooLarge { .. }, _))
        ));
        assert!(matches!(
            read(&d, &d.join("none"), None, 4, never),
            Err((FileError::Missing, None))
        ));
        assert!(matches!(
            read(&d, &d, None, 1 << 20, never),
            Err((FileError::NotRegular(Kind::Dir), _))
        ));
        #[cfg(unix)]
        {
            let link = d.join("zero");
            std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
            assert!(matches!(
                read(&d, &link, None, 1 << 20, never),
                Err((FileError::NotRegular(Kind::Device), _))
            ));
            let ok_link = d.join("link");
            std::os::unix::fs::symlink(&f, &ok_link).unwrap();
            assert_eq!(
                read(&d, &ok_link, Some(5), 9, never).ok().unwrap().bytes,
                b"hello"
            );
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn abort_stops_a_read_between_chunks() {
        let d = tmp("abort");
        let f = d.join("big.bin");
        std::fs::write(&f, vec![7u8; 8 * CHUNK]).unwrap();
        // Asked before the read: no helper is started.
        let r = read(&d, &f, None, u64::MAX, Abort(&|| true));
        assert!(matches!(r, Err((FileError::Aborted, _))));
        // The helper's chunk loop stops at its next chunk once the waiter cancels it (a local
        // disk reads 8 MB before the waiter's first poll, so the flag is set up front here).
        let job = |cancel: bool| Job {
            progress: AtomicU64::new(0),
            cancel: AtomicBool::new(cancel),
            state: Mutex::new(JobState::Running),
        };
        let stopped = read_on_helper(&f, None, u64::MAX, &job(true));
        assert!(matches!(stopped, Err((FileError::Aborted, Some(_)))));
        let whole = read_on_helper(&f, Some(8 * CHUNK as u64), u64::MAX, &job(false));
        assert_eq!(whole.ok().unwrap().bytes.len(), 8 * CHUNK);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_rewrite_in_place_changes_the_stamp_even_with_size_and_mtime_restored() {
        let d = tmp("stamp");
        let f = d.join("g.onnx");
        std::fs::write(&f, b"aaaa").unwrap();
        let before = stamps(&d, vec![f.clone()], Abort::never()).ok().unwrap()[0].unwrap();
        let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&f, b"bbbb").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let after = stamps(&d, vec![f.clone()], Abort::never()).ok().unwrap()[0].unwrap();
        assert_eq!(before.len, after.len);
        assert_ne!(before, after);
        let _ = std::fs::remove_dir_all(&d);
    }
}
