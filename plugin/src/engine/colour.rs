//! Colour functions exactly as upstream CorridorKey defines them (GREENFORMER.md 5.3).

/// ImageNet mean of the model's RGB input.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet standard deviation of the model's RGB input.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Upstream `linear_to_srgb`: negatives (and NaN) clamp to 0, no upper clamp.
#[inline]
pub fn linear_to_srgb(x: f32) -> f32 {
    let x = x.max(0.0);
    if x <= 0.003_130_8 {
        12.92 * x
    } else {
        1.055 * x.powf(1.0 / 2.4) - 0.055
    }
}

/// Upstream `srgb_to_linear`: negatives (and NaN) clamp to 0, no upper clamp.
#[inline]
pub fn srgb_to_linear(x: f32) -> f32 {
    let x = x.max(0.0);
    if x <= 0.040_45 {
        x / 12.92
    } else {
        ((x + 0.055) / 1.055).powf(2.4)
    }
}

const LUT_STEPS: usize = 4096;

fn srgb_to_linear_lut() -> &'static [f32] {
    static LUT: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    LUT.get_or_init(|| {
        (0..=LUT_STEPS + 1)
            .map(|i| srgb_to_linear((i as f64 / LUT_STEPS as f64) as f32))
            .collect()
    })
}

/// [`srgb_to_linear`] through a 4096-step table with linear interpolation on [0, 1] (max error
/// ~3e-8, far below f16 and 8-bit steps); exact formula outside. For per-pixel loops at 4K.
#[inline]
pub fn srgb_to_linear_fast(x: f32) -> f32 {
    let x = x.max(0.0);
    if x >= 1.0 {
        return srgb_to_linear(x);
    }
    let lut = srgb_to_linear_lut();
    let f = x * LUT_STEPS as f32;
    let i = f as usize;
    let t = f - i as f32;
    lut[i] + (lut[i + 1] - lut[i]) * t
}

/// Linear-light thresholds where 8-bit sRGB codes change: code k covers `[t[k-1], t[k])`.
fn srgb8_thresholds() -> &'static [f32; 255] {
    static T: std::sync::OnceLock<[f32; 255]> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut t = [0.0f32; 255];
        for (k, v) in t.iter_mut().enumerate() {
            *v = srgb_to_linear((k as f32 + 0.5) / 255.0);
        }
        t
    })
}

/// `round(clamp(linear_to_srgb(x), 0, 1) * 255)` without a power function (binary search of the
/// code boundaries in linear light).
#[inline]
pub fn linear_to_srgb8(x: f32) -> u8 {
    let x = if x.is_nan() { 0.0 } else { x };
    srgb8_thresholds().partition_point(|&t| t <= x) as u8
}

#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Upstream's comp background: 128 px squares, sRGB grey 0.15 / 0.55, returned in linear light.
#[inline]
pub fn checkerboard_linear(x: usize, y: usize) -> f32 {
    if (x / 128 + y / 128).is_multiple_of(2) {
        srgb_to_linear(0.15)
    } else {
        srgb_to_linear(0.55)
    }
}

/// Upstream 'average' despill on straight sRGB RGB, blended with `strength` (<= 0: unchanged).
#[inline]
pub fn despill_average(rgb: [f32; 3], strength: f32) -> [f32; 3] {
    if strength <= 0.0 {
        return rgb;
    }
    let [r, g, b] = rgb;
    let limit = (r + b) * 0.5;
    let spill = (g - limit).max(0.0);
    let d = [r + spill * 0.5, g - spill, b + spill * 0.5];
    if strength >= 1.0 {
        return d;
    }
    let s = strength;
    [
        (1.0 - s) * r + s * d[0],
        (1.0 - s) * g + s * d[1],
        (1.0 - s) * b + s * d[2],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_round_trip_and_breakpoints() {
        for i in 0..=1000 {
            let x = i as f32 / 1000.0 * 1.5;
            let back = srgb_to_linear(linear_to_srgb(x));
            assert!((back - x).abs() < 1e-5 * (1.0 + x), "{x} -> {back}");
        }
        assert_eq!(linear_to_srgb(-1.0), 0.0);
        assert_eq!(srgb_to_linear(-1.0), 0.0);
        assert_eq!(linear_to_srgb(f32::NAN), 0.0);
        assert!((linear_to_srgb(0.003_130_8) - 0.040_449_936).abs() < 1e-6);
        assert!((linear_to_srgb(1.0) - 1.0).abs() < 1e-6);
        assert!((srgb_to_linear(0.5) - 0.214_041_14).abs() < 1e-6);
        // no upper clamp
        assert!(linear_to_srgb(2.0) > 1.3);
    }

    #[test]
    fn fast_paths_match_exact_functions() {
        let mut worst = 0.0f32;
        for i in 0..=200_000 {
            let x = i as f32 / 200_000.0 * 1.2 - 0.1;
            worst = worst.max((srgb_to_linear_fast(x) - srgb_to_linear(x)).abs());
        }
        assert!(worst < 1e-6, "lut error {worst}");
        let mut mismatches = 0;
        for i in 0..=100_000 {
            let x = i as f32 / 100_000.0 * 1.1 - 0.05;
            let exact = (linear_to_srgb(x).clamp(0.0, 1.0) * 255.0).round() as u8;
            if exact != linear_to_srgb8(x) {
                mismatches += 1;
            }
        }
        // only values within float noise of a code boundary may land on the other side
        assert!(mismatches <= 2, "{mismatches} mismatches");
        assert_eq!(linear_to_srgb8(f32::NAN), 0);
        assert_eq!(linear_to_srgb8(5.0), 255);
    }

    #[test]
    fn despill_matches_upstream_formula() {
        let out = despill_average([0.2, 0.8, 0.4], 1.0);
        // limit 0.3, spill 0.5
        assert!((out[0] - 0.45).abs() < 1e-6);
        assert!((out[1] - 0.3).abs() < 1e-6);
        assert!((out[2] - 0.65).abs() < 1e-6);
        // sum preserving
        assert!((out.iter().sum::<f32>() - 1.4).abs() < 1e-6);
        // no spill: unchanged
        assert_eq!(despill_average([0.5, 0.2, 0.5], 1.0), [0.5, 0.2, 0.5]);
        // half strength blends
        let h = despill_average([0.2, 0.8, 0.4], 0.5);
        assert!((h[1] - 0.55).abs() < 1e-6);
        assert_eq!(despill_average([0.2, 0.8, 0.4], 0.0), [0.2, 0.8, 0.4]);
    }

    #[test]
    fn checkerboard_squares() {
        assert_eq!(checkerboard_linear(0, 0), srgb_to_linear(0.15));
        assert_eq!(checkerboard_linear(128, 0), srgb_to_linear(0.55));
        assert_eq!(checkerboard_linear(128, 128), srgb_to_linear(0.15));
        assert_eq!(checkerboard_linear(127, 255), srgb_to_linear(0.55));
    }
}
