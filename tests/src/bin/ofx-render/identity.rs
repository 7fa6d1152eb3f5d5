//! What a job reads and writes, compared by what the files are, not by how their paths are
//! spelled: `./in/a.exr`, `/abs/in/a.exr`, a hard link and a symlink to it are one file. A file
//! that exists is its device and inode (symlinks followed); one still to be written is the nearest
//! folder that exists (device and inode) plus the rest of its path. Any path written that is also
//! read, or written twice, is refused before anything renders, naming both paths.

use ofx_test_host::fileguard::{kind, stat_bounded};
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Id {
    Existing {
        dev: u64,
        ino: u64,
    },
    /// Not there yet: the nearest existing folder and the path below it (normalised).
    New {
        dev: u64,
        ino: u64,
        rest: OsString,
    },
}

/// The identity of `path`, and whether the file exists.
pub fn of(path: &Path) -> Result<Id, String> {
    match stat_bounded(path) {
        Ok(m) => Ok(Id::Existing {
            dev: m.dev(),
            ino: m.ino(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => new_id(path),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn new_id(path: &Path) -> Result<Id, String> {
    let abs = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("the working folder: {e}"))?
            .join(path)
    };
    let parts: Vec<Component> = abs.components().collect();
    for i in (1..parts.len()).rev() {
        let dir: PathBuf = parts[..i].iter().collect();
        match stat_bounded(&dir) {
            Ok(m) if m.is_dir() => {
                // Lexically normalised: nothing below `dir` exists, so no symlink can redirect it.
                let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
                for c in &parts[i..] {
                    match c {
                        Component::Normal(n) => rest.push(n),
                        Component::ParentDir => {
                            rest.pop();
                        }
                        _ => {}
                    }
                }
                let rest = rest.iter().fold(OsString::new(), |mut acc, n| {
                    acc.push("/");
                    acc.push(n);
                    acc
                });
                return Ok(Id::New {
                    dev: m.dev(),
                    ino: m.ino(),
                    rest,
                });
            }
            Ok(m) => {
                return Err(format!(
                    "{}: {} is {}, not a folder",
                    path.display(),
                    dir.display(),
                    kind(&m.file_type())
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
    }
    Err(format!("{}: no folder of it exists", path.display()))
}

/// Every file a job reads and writes, checked as they are added.
#[derive(Default)]
pub struct Job {
    reads: HashMap<Id, PathBuf>,
    writes: HashMap<Id, PathBuf>,
}

impl Job {
    /// A file the job reads (already checked to be a regular file).
    pub fn read(&mut self, path: &Path) -> Result<(), String> {
        let id = of(path)?;
        if let Some(w) = self.writes.get(&id) {
            return Err(overwrite(w, path));
        }
        self.reads.entry(id).or_insert_with(|| path.to_owned());
        Ok(())
    }

    /// A file the job writes: an existing regular file (replaced) or a new one in a folder that
    /// exists and is writable or can be created. `temporary`: a hidden `.partial` file, which may
    /// be a leftover of any kind (it is removed, never written through).
    pub fn write(&mut self, path: &Path, temporary: bool) -> Result<(), String> {
        let id = of(path)?;
        if !temporary {
            writable(path, &id)?;
        }
        if let Some(r) = self.reads.get(&id) {
            return Err(overwrite(path, r));
        }
        if let Some(w) = self.writes.get(&id) {
            if w != path || !temporary {
                return Err(format!(
                    "{} and {} are the same file: the job would write it twice",
                    w.display(),
                    path.display()
                ));
            }
        }
        self.writes.insert(id, path.to_owned());
        Ok(())
    }
}

fn overwrite(written: &Path, read: &Path) -> String {
    format!(
        "{} is the same file as {}, which the job reads: refusing to overwrite it",
        written.display(),
        read.display()
    )
}

/// Err unless `path` (of identity `id`) is a regular file, or a new file whose nearest existing
/// folder this process may write in.
fn writable(path: &Path, id: &Id) -> Result<(), String> {
    match id {
        Id::Existing { .. } => {
            let m = stat_bounded(path).map_err(|e| format!("{}: {e}", path.display()))?;
            if !m.is_file() {
                return Err(format!(
                    "{} is {}: only regular files are written",
                    path.display(),
                    kind(&m.file_type())
                ));
            }
            Ok(())
        }
        Id::New { .. } => {
            let mut dir = path.parent().unwrap_or(Path::new("."));
            while !dir.as_os_str().is_empty() && stat_bounded(dir).is_err() {
                dir = dir.parent().unwrap_or(Path::new("."));
            }
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
                .map_err(|_| format!("{}: a NUL byte in the path", path.display()))?;
            // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
            if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
                return Err(format!(
                    "{}: cannot write in {} ({})",
                    path.display(),
                    dir.display(),
                    std::io::Error::last_os_error()
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_links_and_new_files() {
        let dir = std::env::temp_dir().join(format!("ck-identity-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("a/x.exr"), b"x").unwrap();
        std::fs::hard_link(dir.join("a/x.exr"), dir.join("a/y.exr")).unwrap();
        let x = of(&dir.join("a/x.exr")).unwrap();
        assert_eq!(of(&dir.join("a/./x.exr")).unwrap(), x);
        assert_eq!(of(&dir.join("a/../a/y.exr")).unwrap(), x);
        let n = of(&dir.join("b/c/n.exr")).unwrap();
        assert_eq!(of(&dir.join("b/d/../c/./n.exr")).unwrap(), n);
        assert!(matches!(n, Id::New { .. }));
        let mut job = Job::default();
        job.read(&dir.join("a/x.exr")).unwrap();
        let e = job.write(&dir.join("a/y.exr"), false).unwrap_err();
        assert!(e.contains("y.exr") && e.contains("x.exr"), "{e}");
        job.write(&dir.join("b/c/n.exr"), false).unwrap();
        assert!(job.write(&dir.join("b/c/../c/n.exr"), false).is_err());
        let e = job.write(Path::new("/dev/null"), false).unwrap_err();
        assert!(e.contains("character device"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
