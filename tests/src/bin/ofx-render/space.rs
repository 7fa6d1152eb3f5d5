//! Free space, where it can be known (statvfs of the folder each output goes to), checked before
//! anything renders. Compressed sizes cannot be known ahead, so the bound is a frame's uncompressed
//! size: a file system that cannot hold one such frame is refused; one that cannot hold every frame
//! of the job uncompressed gets a warning (PXR24 and PNG usually need a half or less).

use crate::plan::{Format, FramePlan};
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Bytes free to this process on the file system of `dir` (its nearest existing folder).
fn free_bytes(dir: &Path) -> Option<(u64, u64)> {
    let mut d = dir;
    while !d.as_os_str().is_empty() && !d.is_dir() {
        d = d.parent()?;
    }
    let d = if d.as_os_str().is_empty() {
        Path::new(".")
    } else {
        d
    };
    let c = std::ffi::CString::new(d.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain data; zeroed is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid path and `st` a valid statvfs for the call.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((
        st.f_fsid as u64,
        (st.f_bavail as u64).saturating_mul(st.f_frsize as u64),
    ))
}

/// Uncompressed bytes of one frame's files.
fn frame_bytes(f: &FramePlan, layers: bool) -> u64 {
    let px = (f.size.0 as u64) * (f.size.1 as u64);
    let main = match f.format {
        Format::Exr => px * 2 * if layers { 6 } else { 4 },
        Format::Png => px * 8,
    };
    main + f.preview.as_ref().map_or(0, |_| px * 3) + f.views.len() as u64 * px * 3
}

/// Err when a file system cannot hold one frame; Ok(warnings) when it may not hold them all.
pub fn check(frames: &[FramePlan], layers: bool) -> Result<Vec<String>, String> {
    // Per file system: (a folder on it, bytes free, the largest frame, the whole job).
    let mut per_fs: HashMap<u64, (std::path::PathBuf, u64, u64, u64)> = HashMap::new();
    let mut by_dir: HashMap<&Path, Option<(u64, u64)>> = HashMap::new();
    for f in frames {
        let dir = f.output.parent().unwrap_or(Path::new("."));
        let Some((fsid, free)) = *by_dir.entry(dir).or_insert_with(|| free_bytes(dir)) else {
            continue;
        };
        let bytes = frame_bytes(f, layers);
        let e = per_fs
            .entry(fsid)
            .or_insert_with(|| (dir.to_owned(), free, 0, 0));
        e.2 = e.2.max(bytes);
        e.3 = e.3.saturating_add(bytes);
    }
    let mut warnings = Vec::new();
    for (dir, free, one, all) in per_fs.into_values() {
        let mb = |b: u64| b.div_ceil(1 << 20);
        if free < one {
            return Err(format!(
                "{}: {} MiB free, a frame needs up to {} MiB",
                dir.display(),
                mb(free),
                mb(one)
            ));
        }
        if free < all {
            warnings.push(format!(
                "{}: {} MiB free, the job needs up to {} MiB uncompressed (it may run out)",
                dir.display(),
                mb(free),
                mb(all)
            ));
        }
    }
    Ok(warnings)
}
