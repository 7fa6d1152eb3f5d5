//! The network's input domain. The coarse and refiner graphs run in fp16 on a GPU (fp16 weights and
//! math behind fp32 inputs, docs/MODEL-FORMAT.md), and fp16 stops at 65504: one plate pixel at 1e10,
//! or a hint at 1e6, becomes Inf inside the graph and NaN everywhere attention reaches, which is the
//! whole frame. So every value the network sees is brought into the range it was trained for, on
//! both paths:
//!
//! * sRGB-encoded colour: unchanged on `[0, 1]` (so upstream parity holds for every SDR plate),
//!   rolled off smoothly beyond it towards `1 + HEADROOM` and `-HEADROOM` (highlights of an HDR plate
//!   keep their order, and nothing, however large, reaches the network as more than that);
//! * the hint: clamped to `[0, 1]`.
//!
//! Tight matters, not just finite: the network (its refiner's GroupNorm in particular) normalises
//! over the whole frame, so a few pixels at, say, 8 shift every output pixel; at 1.5 they act like a
//! few white ones. The plate and hint are also clamped before the resize (`inputs::clean`, with a
//! note), so a bad pixel acts exactly like one at [`plate_bound`] and cannot overflow the resize's
//! sums; the roll-off is applied after encoding (`cpu.rs`, and the `prepare_*` kernels of `gpu.rs`:
//! onnx-export/corridorkey_export/kernels.py), where NaN becomes 0.

use crate::engine::contract::InputColour;
use crate::engine::imaging::colour::srgb_to_linear;

/// How far beyond `[0, 1]` the encoded colour may go (asymptotically).
pub const HEADROOM: f32 = 0.5;
/// The hint's range.
pub const HINT_MIN: f32 = 0.0;
pub const HINT_MAX: f32 = 1.0;
/// The plate clamp before the resize, as an sRGB-encoded value: the roll-off is flat (1.5 in f32)
/// long before it, so clamping there changes nothing the network sees but keeps the resize finite.
const PLATE_BOUND_ENCODED: f32 = 8.0;

/// The bound on the plate's R, G, B magnitudes before the resize, in the plate's own encoding.
pub fn plate_bound(colour: InputColour) -> f32 {
    match colour {
        InputColour::Linear => srgb_to_linear(PLATE_BOUND_ENCODED),
        InputColour::Srgb => PLATE_BOUND_ENCODED,
    }
}

/// An sRGB-encoded colour value brought into the domain: itself on `[0, 1]`, rolled off with tanh
/// beyond (continuous with slope 1 at 0 and 1), NaN -> 0.
#[inline(always)]
pub fn clamp_colour(v: f32) -> f32 {
    if v > 1.0 {
        1.0 + HEADROOM * ((v - 1.0) / HEADROOM).tanh()
    } else if v < 0.0 {
        HEADROOM * (v / HEADROOM).tanh()
    } else if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// A hint value brought into the domain (NaN -> 0).
#[inline(always)]
pub fn clamp_hint(v: f32) -> f32 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(HINT_MIN, HINT_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_roll_off_and_nan() {
        let l = plate_bound(InputColour::Linear);
        assert!((130.0..133.0).contains(&l), "{l}");
        let enc = crate::engine::imaging::colour::linear_to_srgb(l);
        assert!((enc - PLATE_BOUND_ENCODED).abs() < 1e-4, "{enc}");
        // Flat at the plate bound: clamping there before the resize changes nothing after it.
        assert_eq!(clamp_colour(PLATE_BOUND_ENCODED), 1.0 + HEADROOM);
        assert_eq!(clamp_colour(-PLATE_BOUND_ENCODED), -HEADROOM);
        assert_eq!(clamp_colour(1e10), 1.0 + HEADROOM);
        assert_eq!(clamp_colour(-3e38), -HEADROOM);
        assert_eq!(clamp_colour(f32::NAN), 0.0);
        for v in [0.0, 0.25, 0.999, 1.0] {
            assert_eq!(clamp_colour(v), v);
        }
        // Monotonic and continuous through the knees.
        let mut last = f32::NEG_INFINITY;
        for i in -400..=800 {
            let v = clamp_colour(i as f32 / 200.0);
            assert!(v >= last, "{i}");
            last = v;
        }
        assert!((clamp_colour(1.0 + 1e-3) - (1.0 + 1e-3)).abs() < 1e-5);
        assert_eq!(clamp_hint(1e6), 1.0);
        assert_eq!(clamp_hint(-1e6), 0.0);
        assert_eq!(clamp_hint(f32::NAN), 0.0);
        assert_eq!(clamp_hint(0.5), 0.5);
    }
}
