//! Optional clips a host does not supply count as absent, quietly. MLT (Kdenlive, Shotcut) supplies
//! only Source and Output, says nothing about kOfxImageClipPropConnected on the others, and answers
//! clipGetImage with a property set that holds no pixels; Resolve hands NULL images. Either way the
//! frame is keyed without the clip, and the log says so once per clip and reason for the whole
//! process: MLT creates an instance per frame, so "once per instance" would still be every frame.

use std::collections::HashSet;

use once_cell::sync::Lazy;
use parking_lot::Mutex;

use super::log::log;

/// Why a clip that looked connected was treated as absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Absence {
    /// The host handed an image without usable pixels (MLT's unsupplied clips).
    NoPixels,
    /// Fetching the image failed.
    FetchFailed,
    /// The image is on another GPU than the source (CUDA images).
    OtherDevice,
}

/// (clip, reason) pairs already logged. Clip names are the plugin's own (a handful), so the set
/// stays tiny.
static NOTED: Lazy<Mutex<HashSet<(String, Absence)>>> = Lazy::new(|| Mutex::new(HashSet::new()));

/// Whether this (clip, reason) is new to the process; records it.
pub fn first_time(clip: &str, why: Absence) -> bool {
    NOTED.lock().insert((clip.to_owned(), why))
}

/// Logs `detail` for an absent clip the first time this clip is absent for this reason.
pub fn note(clip: &str, why: Absence, detail: impl std::fmt::Display) {
    if first_time(clip, why) {
        log(format!(
            "{clip}: {detail}; treated as absent (noted once per process)"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_clip_and_reason_is_noted_once() {
        assert!(first_time("TestClipA", Absence::NoPixels));
        assert!(!first_time("TestClipA", Absence::NoPixels));
        assert!(first_time("TestClipA", Absence::FetchFailed));
        assert!(first_time("TestClipB", Absence::NoPixels));
        assert!(!first_time("TestClipB", Absence::NoPixels));
    }
}
