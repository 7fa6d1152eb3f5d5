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

/// Mantissa bits that index [`linear_to_srgb_fast`]'s table: 256 steps per octave.
const POW_LUT_BITS: u32 = 8;
/// The table covers [2^POW_LUT_MIN_EXP, 2^POW_LUT_MAX_EXP); the formula handles the rest.
const POW_LUT_MIN_EXP: i32 = -9;
const POW_LUT_MAX_EXP: i32 = 8;

/// The power branch of [`linear_to_srgb`] at every octave step, for [`linear_to_srgb_fast`].
fn linear_to_srgb_lut() -> &'static [f32] {
    static LUT: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    LUT.get_or_init(|| {
        let steps = 1usize << POW_LUT_BITS;
        let octaves = (POW_LUT_MAX_EXP - POW_LUT_MIN_EXP) as usize;
        (0..=octaves * steps)
            .map(|i| {
                let x = 2f64.powi(POW_LUT_MIN_EXP + (i / steps) as i32)
                    * (1.0 + (i % steps) as f64 / steps as f64);
                (1.055 * x.powf(1.0 / 2.4) - 0.055) as f32
            })
            .collect()
    })
}

/// [`linear_to_srgb`] with the power branch read from a table indexed by the float's exponent and
/// top mantissa bits, interpolated linearly (max error ~5e-7 over 0..256, far below the 1e-4 the
/// goldens allow and below 8-bit steps); the exact formula outside the table. For per-pixel loops.
#[derive(Clone, Copy)]
pub struct LinearToSrgb {
    lut: &'static [f32],
}

impl Default for LinearToSrgb {
    fn default() -> Self {
        Self::new()
    }
}

impl LinearToSrgb {
    pub fn new() -> Self {
        Self {
            lut: linear_to_srgb_lut(),
        }
    }

    #[inline(always)]
    pub fn apply(&self, x: f32) -> f32 {
        const LO: u32 = ((127 + POW_LUT_MIN_EXP) as u32) << 23;
        const HI: u32 = ((127 + POW_LUT_MAX_EXP) as u32) << 23;
        const SHIFT: u32 = 23 - POW_LUT_BITS;
        let x = x.max(0.0);
        if x <= 0.003_130_8 {
            return 12.92 * x;
        }
        let bits = x.to_bits();
        if bits >= HI {
            return linear_to_srgb(x);
        }
        let off = bits - LO;
        let i = (off >> SHIFT) as usize;
        let t = (off & ((1 << SHIFT) - 1)) as f32 * (1.0 / (1u32 << SHIFT) as f32);
        let (a, b) = (self.lut[i], self.lut[i + 1]);
        a + (b - a) * t
    }
}

/// [`linear_to_srgb`] through the table of [`LinearToSrgb`].
#[inline]
pub fn linear_to_srgb_fast(x: f32) -> f32 {
    LinearToSrgb::new().apply(x)
}

/// [`srgb_to_linear_fast`] with the table fetched once, for per-pixel loops.
#[derive(Clone, Copy)]
pub struct SrgbToLinear {
    lut: &'static [f32],
}

impl Default for SrgbToLinear {
    fn default() -> Self {
        Self::new()
    }
}

impl SrgbToLinear {
    pub fn new() -> Self {
        Self {
            lut: srgb_to_linear_lut(),
        }
    }

    /// Same result as [`srgb_to_linear_fast`].
    #[inline(always)]
    pub fn apply(&self, x: f32) -> f32 {
        let x = x.max(0.0);
        if x >= 1.0 {
            return srgb_to_linear(x);
        }
        let f = x * LUT_STEPS as f32;
        let i = f as usize;
        let t = f - i as f32;
        self.lut[i] + (self.lut[i + 1] - self.lut[i]) * t
    }
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

/// Smallest exponent [`LinearToSrgb8`]'s start table covers: below it every value is code 0
/// (code 1 starts at ~1.5e-4 > 2^-13).
const SRGB8_MIN_EXP: i32 = -13;
/// Mantissa bits of the start table's index: a bucket is narrower than a code step everywhere.
const SRGB8_BITS: u32 = 7;

/// [`linear_to_srgb8`] with the same thresholds, without a search: a table indexed by the float's
/// exponent and top 7 mantissa bits gives the code at the bucket's lower end and the next code's
/// threshold; with 7 bits no bucket holds two thresholds, so one comparison finishes it.
/// Identical results (tested at every threshold).
#[derive(Clone, Copy)]
pub struct LinearToSrgb8 {
    table: &'static [(f32, u8)],
}

impl Default for LinearToSrgb8 {
    fn default() -> Self {
        Self::new()
    }
}

impl LinearToSrgb8 {
    pub fn new() -> Self {
        static TABLE: std::sync::OnceLock<Vec<(f32, u8)>> = std::sync::OnceLock::new();
        let table = TABLE.get_or_init(|| {
            let thresholds = srgb8_thresholds();
            let n = ((-SRGB8_MIN_EXP) as usize) << SRGB8_BITS;
            let lo = ((127 + SRGB8_MIN_EXP) as u32) << 23;
            (0..n)
                .map(|i| {
                    let x = f32::from_bits(lo + ((i as u32) << (23 - SRGB8_BITS)));
                    let c = thresholds.partition_point(|&t| t <= x);
                    (thresholds.get(c).copied().unwrap_or(f32::INFINITY), c as u8)
                })
                .collect()
        });
        Self { table }
    }

    #[inline(always)]
    pub fn apply(&self, x: f32) -> u8 {
        const LO: u32 = ((127 + SRGB8_MIN_EXP) as u32) << 23;
        // 1.0: every threshold is below it.
        const HI: u32 = 127 << 23;
        // NaN and everything below 2^-13 (negatives included) is code 0.
        if x.is_nan() || x < f32::from_bits(LO) {
            return 0;
        }
        let bits = x.to_bits();
        if bits >= HI {
            return 255;
        }
        let (next, c) = self.table[((bits - LO) >> (23 - SRGB8_BITS)) as usize];
        c + (x >= next) as u8
    }
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
    fn table_curves_match_the_formulas() {
        let to_srgb = LinearToSrgb::new();
        let to_lin = SrgbToLinear::new();
        let mut worst = 0.0f32;
        for i in 0..=2_000_000 {
            let x = (i as f32 / 2_000_000.0).powi(3) * 300.0 - 1e-3;
            worst = worst.max((to_srgb.apply(x) - linear_to_srgb(x)).abs() / (1.0 + x.abs()));
        }
        assert!(worst < 1e-6, "linear_to_srgb table error {worst}");
        for x in [
            f32::NAN,
            -2.0,
            0.0,
            0.003_130_8,
            1.0,
            255.9,
            256.0,
            1e9,
            f32::INFINITY,
        ] {
            let (a, b) = (to_srgb.apply(x), linear_to_srgb(x));
            assert!(
                a == b || (a - b).abs() <= 1e-6 * (1.0 + b),
                "{x}: {a} vs {b}"
            );
        }
        for i in 0..=100_000 {
            let x = i as f32 / 100_000.0 * 1.2 - 0.1;
            assert_eq!(to_lin.apply(x), srgb_to_linear_fast(x));
        }
        // the 8-bit code table gives exactly the binary search's codes, also at every boundary
        let to8 = LinearToSrgb8::new();
        let mut probes: Vec<f32> = vec![f32::NAN, -1.0, -0.0, 0.0, 1e-30, 0.999, 1.0, 7.0];
        for &t in srgb8_thresholds().iter() {
            let b = t.to_bits();
            probes.extend([t, f32::from_bits(b - 1), f32::from_bits(b + 1)]);
        }
        probes.extend((0..=1_000_000).map(|i| i as f32 / 1_000_000.0 * 1.1 - 0.05));
        for x in probes {
            assert_eq!(to8.apply(x), linear_to_srgb8(x), "{x}");
        }
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
