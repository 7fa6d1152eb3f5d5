//! The alpha convention the host takes on the Output clip.
//!
//! The plugin declares PreMultiplied for the Premultiplied view in getClipPreferences, and hosts that
//! honour it (Nuke, Natron, the test host) report that back on the Output clip. MLT (Kdenlive,
//! Shotcut) sets the Output clip to UnPreMultiplied whatever the plugin declares and composites
//! straight alpha, so a premultiplied frame there has every soft edge darkened twice. When the
//! Output clip says UnPreMultiplied at render time, the Premultiplied view is delivered straight
//! (`followHostAlpha`, on by default). A host that says PreMultiplied, Opaque or nothing keeps the
//! premultiplied default.

use ofx_bindings::{ImageEffect, Premult};

use super::describe::CLIP_OUTPUT;
use crate::engine::OutputMode;

/// Whether the host states straight (unpremultiplied) alpha on the Output clip.
pub fn host_takes_straight(effect: &ImageEffect) -> bool {
    effect
        .clip(CLIP_OUTPUT)
        .and_then(|c| c.premultiplication())
        .is_ok_and(|p| p == Premult::UnPreMultiplied)
}

/// The view actually delivered: the Premultiplied view goes out straight to a host that takes
/// straight alpha, unless the user turned `followHostAlpha` off. Every other view is as chosen.
pub fn delivered_mode(chosen: OutputMode, follow_host: bool, host_straight: bool) -> OutputMode {
    if chosen == OutputMode::Premultiplied && follow_host && host_straight {
        OutputMode::Unpremultiplied
    } else {
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_premultiplied_view_follows_a_straight_host() {
        use OutputMode::*;
        assert_eq!(delivered_mode(Premultiplied, true, true), Unpremultiplied);
        assert_eq!(delivered_mode(Premultiplied, false, true), Premultiplied);
        assert_eq!(delivered_mode(Premultiplied, true, false), Premultiplied);
        for m in [Unpremultiplied, Matte, Foreground, Composite, Status, Hint] {
            assert_eq!(delivered_mode(m, true, true), m);
        }
    }
}
