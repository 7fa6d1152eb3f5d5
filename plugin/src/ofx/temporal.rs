//! Steady mattes at the OFX edge: which frames the node needs from the host (t-1..t+1 when on,
//! t alone when off) and the per-instance cache key of a steadied frame. The neighbours themselves
//! are read by `render.rs` as frame t is; the blend is the engine's (`engine::steady`).

use ofx_bindings::{k, ImageEffect, PropertySet, Result, Status};

use super::describe::{CLIP_CORE, CLIP_GARBAGE, CLIP_HINT, CLIP_SOURCE};
use super::params::ParamValues;
use crate::engine::{MatteImage, RgbaImage, SteadyParams};

/// The input clips that follow frame t (the Output clip is never asked for).
const INPUT_CLIPS: [&str; 4] = [CLIP_SOURCE, CLIP_HINT, CLIP_GARBAGE, CLIP_CORE];

/// A neighbour of frame t as the host gave it, with the content hash the cache key needs.
pub struct Neighbour {
    pub source: RgbaImage,
    pub hint: Option<MatteImage>,
    pub garbage: Option<MatteImage>,
    pub core: Option<MatteImage>,
    pub hash: u64,
}

/// The frame offsets read around frame t: before, after.
pub const OFFSETS: [f64; 2] = [-1.0, 1.0];

/// kOfxImageEffectActionGetFramesNeeded: frames t-1..t+1 of every input clip when steady mattes
/// are on, frame t alone when off (what a host assumes for an effect without temporal access).
pub fn frames_needed(
    effect: &ImageEffect,
    in_args: &PropertySet,
    out_args: &PropertySet,
) -> Result<Status> {
    let t = in_args.get_double(k!(kOfxPropTime), 0)?;
    let steady = ParamValues::read(&effect.param_set()?, t)?.steady_params();
    let reach = if steady.is_on() { 1.0 } else { 0.0 };
    for name in INPUT_CLIPS {
        if effect.clip(name).is_err() {
            continue;
        }
        let prop = format!("OfxImageClipPropFrameRange_{name}");
        let Ok(prop) = std::ffi::CString::new(prop) else {
            continue;
        };
        out_args.set_double_n(&prop, &[t - reach, t + reach])?;
    }
    Ok(Status::Ok)
}

/// Frame t's per-instance cache content key with steady mattes: frame t's own inputs, each
/// neighbour's (absent ones differ from present ones) and the settings. Off = frame t's key.
pub fn content_key(own: u64, neighbours: &[Option<Neighbour>; 2], steady: SteadyParams) -> u64 {
    let s = steady.clamped();
    if !s.is_on() {
        return own;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    use std::hash::{Hash, Hasher};
    own.hash(&mut h);
    s.strength.to_bits().hash(&mut h);
    s.tolerance.to_bits().hash(&mut h);
    for n in neighbours {
        n.as_ref().map(|n| n.hash).hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(hash: u64) -> Option<Neighbour> {
        Some(Neighbour {
            source: RgbaImage::new(1, 1),
            hint: None,
            garbage: None,
            core: None,
            hash,
        })
    }

    #[test]
    fn content_key_covers_neighbours_and_settings() {
        let on = SteadyParams {
            strength: 0.5,
            tolerance: 0.02,
        };
        assert_eq!(content_key(7, &[n(1), n(2)], SteadyParams::OFF), 7);
        let base = content_key(7, &[n(1), n(2)], on);
        assert_ne!(base, 7);
        assert_ne!(base, content_key(7, &[n(1), n(3)], on));
        assert_ne!(base, content_key(7, &[None, n(2)], on));
        assert_ne!(base, content_key(8, &[n(1), n(2)], on));
        let other = SteadyParams {
            tolerance: 0.03,
            ..on
        };
        assert_ne!(base, content_key(7, &[n(1), n(2)], other));
        let stronger = SteadyParams {
            strength: 0.6,
            ..on
        };
        assert_ne!(base, content_key(7, &[n(1), n(2)], stronger));
        assert_eq!(base, content_key(7, &[n(1), n(2)], on));
    }
}
