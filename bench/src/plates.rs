//! The plates: synthetic green-screen frames (a figure with soft edges and hair strands over an
//! unevenly lit screen, moving a little every frame) or an EXR sequence folder. Rows are top-down
//! (the engine's order); the host mode flips them for OFX.

use std::path::{Path, PathBuf};

use corridorkey::engine::{MatteImage, RgbaImage};
use rayon::prelude::*;

/// One synthetic frame, its true alpha (top-down, `width * height`) and the fraction of its pixels
/// whose true alpha is above one half.
pub struct Plate {
    pub image: RgbaImage,
    pub matte: Vec<f32>,
    pub coverage: f64,
}

/// Where the frames come from.
pub enum PlateSource {
    Synthetic {
        width: usize,
        height: usize,
        seed: u64,
    },
    Exr(Vec<PathBuf>),
}

impl PlateSource {
    /// Frame `i` and its true matte (synthetic plates only: an EXR sequence has none).
    pub fn frame_and_matte(&self, i: usize) -> Result<(RgbaImage, MatteImage), String> {
        match self {
            PlateSource::Synthetic {
                width,
                height,
                seed,
            } => {
                let p = synthetic(*width, *height, i, *seed);
                let matte = MatteImage {
                    width: *width,
                    height: *height,
                    data: p.matte,
                };
                Ok((p.image, matte))
            }
            PlateSource::Exr(_) => Err(
                "--simulate-trained needs the true matte of synthetic plates, not an EXR sequence"
                    .into(),
            ),
        }
    }

    /// Frame `i` (an EXR sequence repeats when asked for more frames than it has).
    pub fn frame(&self, i: usize) -> Result<RgbaImage, String> {
        match self {
            PlateSource::Synthetic {
                width,
                height,
                seed,
            } => Ok(synthetic(*width, *height, i, *seed).image),
            PlateSource::Exr(files) => read_exr_top_down(&files[i % files.len()]),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            PlateSource::Synthetic { width, height, .. } => {
                format!("synthetic {width}x{height}")
            }
            PlateSource::Exr(files) => format!(
                "EXR sequence {} ({} files)",
                files
                    .first()
                    .and_then(|f| f.parent())
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                files.len()
            ),
        }
    }
}

/// The sorted .exr files of `dir`.
pub fn exr_sequence(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("exr"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no .exr files", dir.display()));
    }
    Ok(files)
}

/// Reads an EXR (linear RGBA, as stored) with the test host's reader, whose rows are bottom-up.
pub fn read_exr_top_down(path: &Path) -> Result<RgbaImage, String> {
    let img = ofx_test_host::imageio::read_image(path, false)?;
    Ok(RgbaImage {
        width: img.width,
        height: img.height,
        data: flip_rows(&img.data, img.width),
    })
}

/// The same pixels with the row order reversed (top-down <-> bottom-up), RGBA rows of `width`.
pub fn flip_rows(data: &[f32], width: usize) -> Vec<f32> {
    if width == 0 {
        return Vec::new();
    }
    data.chunks_exact(width * 4)
        .rev()
        .flatten()
        .copied()
        .collect()
}

/// A uniform value in [0, 1) from integer coordinates (splitmix64 finaliser).
fn hash(a: u64, b: u64, c: u64) -> f32 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(c.wrapping_mul(0x94D0_49BB_1331_11EB));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 24) as f32
}

fn len(x: f32, y: f32) -> f32 {
    (x * x + y * y).sqrt()
}

/// Signed distance to a segment of radius r (negative inside).
fn capsule(p: (f32, f32), a: (f32, f32), b: (f32, f32), r: f32) -> f32 {
    let (px, py) = (p.0 - a.0, p.1 - a.1);
    let (bx, by) = (b.0 - a.0, b.1 - a.1);
    let t = ((px * bx + py * by) / (bx * bx + by * by)).clamp(0.0, 1.0);
    len(px - bx * t, py - by * t) - r
}

/// Approximate signed distance to an ellipse (exact on the axes; fine for soft edges).
fn ellipse(p: (f32, f32), c: (f32, f32), r: (f32, f32)) -> f32 {
    let (dx, dy) = ((p.0 - c.0) / r.0, (p.1 - c.1) / r.1);
    (len(dx, dy) - 1.0) * r.0.min(r.1)
}

/// Signed distance to a box of half-size `half` with corners rounded by `round`.
fn rounded_box(p: (f32, f32), c: (f32, f32), half: (f32, f32), round: f32) -> f32 {
    let qx = (p.0 - c.0).abs() - half.0 + round;
    let qy = (p.1 - c.1).abs() - half.1 + round;
    len(qx.max(0.0), qy.max(0.0)) + qx.max(qy).min(0.0) - round
}

/// The figure of frame `f` at one point, in units of the plate height (u right, v down): returns
/// (alpha, foreground colour).
struct Figure {
    cx: f32,
    bob: f32,
    head: (f32, f32),
    hand: (f32, f32),
    frame: u64,
    seed: u64,
    /// Plate pixels per unit (the height).
    px: f32,
}

impl Figure {
    fn new(width: usize, height: usize, frame: usize, seed: u64) -> Self {
        let f = frame as f32;
        let w_units = width as f32 / height as f32;
        // Drifts and sways: sub-pixel to a few pixels per frame, so no two frames are identical.
        let cx = w_units * 0.5 + 0.03 * (0.6 * f).sin() + 0.002 * f;
        let bob = 0.006 * (0.9 * f).sin();
        Self {
            cx,
            bob,
            head: (cx + 0.012 * (0.8 * f).sin(), 0.30 + bob),
            hand: (cx + 0.62, 0.36 + 0.04 * (0.7 * f).sin()),
            frame: frame as u64,
            seed,
            px: height as f32,
        }
    }

    fn soft(&self, sdf: f32, edge_px: f32) -> f32 {
        (0.5 - sdf * self.px / edge_px.max(0.75)).clamp(0.0, 1.0)
    }

    fn sample(&self, u: f32, v: f32) -> (f32, [f32; 3]) {
        let p = (u, v);
        let cx = self.cx;
        let scale = self.px / 2160.0;
        let head = ellipse(p, self.head, (0.13, 0.165));
        let hair_cap = ellipse(p, (self.head.0, self.head.1 - 0.03), (0.145, 0.16));
        let neck = capsule(p, (cx, 0.38 + self.bob), (cx, 0.55 + self.bob), 0.06);
        let torso = rounded_box(p, (cx, 0.92 + self.bob), (0.42, 0.36), 0.16);
        let left_arm = capsule(p, (cx - 0.36, 0.66 + self.bob), (cx - 0.54, 1.08), 0.08);
        let body = head.min(hair_cap).min(neck).min(torso).min(left_arm);
        // The raised arm moves fastest: a wider, motion-blurred edge.
        let right_arm = capsule(p, (cx + 0.36, 0.64 + self.bob), self.hand, 0.075);
        let a_body = self.soft(body, 1.6 * scale);
        let a_arm = self.soft(right_arm, 6.0 * scale);
        let a_hair = self.strands(p, scale);

        let shade = 0.85 + 0.15 * (1.0 - v).clamp(0.0, 1.0);
        let colour = if (hair_cap < 0.0 && head > -0.02) || a_hair > a_body.max(a_arm) {
            [0.09, 0.06, 0.04]
        } else if head < 0.0 || neck < 0.0 {
            [0.62 * shade, 0.40 * shade, 0.30 * shade]
        } else if right_arm < 0.0 && torso > 0.0 {
            [0.55, 0.36, 0.28]
        } else {
            // Clothing with a coarse weave so the refiner sees texture.
            let weave = 0.03 * ((u * 900.0).sin() * (v * 700.0).sin());
            [0.18 * shade + weave, 0.14 * shade, 0.40 * shade + weave]
        };
        (a_body.max(a_arm).max(a_hair), colour)
    }

    /// Hair strands radiating from the top of the head: thin (about a pixel at 4K), wavy, of
    /// random length, partly transparent.
    fn strands(&self, p: (f32, f32), scale: f32) -> f32 {
        let (rx, ry) = (0.15, 0.18);
        let (dx, dy) = (p.0 - self.head.0, p.1 - (self.head.1 - 0.03));
        let rho = len(dx / rx, dy / ry);
        if !(1.0..1.5).contains(&rho) || dy > 0.06 {
            return 0.0;
        }
        let phi = dx.atan2(-dy); // 0 = straight up
        let k = 160.0;
        let t = rho - 1.0;
        let s = phi * k / std::f32::consts::TAU
            + 1.5 * t * (t * 14.0 + 0.4 * self.frame as f32 + phi * 3.0).sin();
        let strand = s.round();
        let id = strand as i64 as u64;
        if hash(id, self.seed, 7) < 0.35 {
            return 0.0;
        }
        let length = 0.12 + 0.38 * hash(id, self.seed, 11);
        if t > length {
            return 0.0;
        }
        // Distance to the strand centre in plate pixels (arc length per unit of s).
        let arc = std::f32::consts::TAU / k * rho * rx.min(ry) * self.px;
        let d = (s - strand).abs() * arc;
        let width = 0.9 * scale.max(0.5);
        let core = (1.0 - d / width).clamp(0.0, 1.0);
        core * 0.85 * (1.0 - t / length)
    }
}

/// Unevenly lit green screen: broad gradients, a hot spot, wrinkles and grain.
fn screen(u: f32, v: f32, w_units: f32, grain: f32) -> [f32; 3] {
    let light = 0.78
        + 0.12 * (2.1 * u + 0.7).sin() * (1.7 * v).cos()
        + 0.10 * (1.0 - 0.6 * ((u - 0.35 * w_units).powi(2) + (v - 0.4).powi(2))).max(0.0)
        + 0.04 * (11.0 * u + 3.0 * v).sin() * (7.0 * v - 5.0 * u).sin();
    let g = (grain - 0.5) * 0.012;
    [
        (0.04 * light + g).max(0.0),
        (0.38 * light + g).max(0.0),
        (0.07 * light + g).max(0.0),
    ]
}

/// Synthetic frame `frame` at `width` x `height`, linear RGB, alpha 1 (it is a plate).
pub fn synthetic(width: usize, height: usize, frame: usize, seed: u64) -> Plate {
    let mut image = RgbaImage::new(width, height);
    let mut matte = vec![0.0f32; width * height];
    if width == 0 || height == 0 {
        return Plate {
            image,
            matte,
            coverage: 0.0,
        };
    }
    let fig = Figure::new(width, height, frame, seed);
    let hf = height as f32;
    let w_units = width as f32 / hf;
    let covered: usize = image
        .data
        .par_chunks_mut(width * 4)
        .zip(matte.par_chunks_mut(width))
        .enumerate()
        .map(|(y, (row, alpha_row))| {
            let v = (y as f32 + 0.5) / hf;
            let mut n = 0;
            for (x, (px, alpha)) in row
                .chunks_exact_mut(4)
                .zip(alpha_row.iter_mut())
                .enumerate()
            {
                let u = (x as f32 + 0.5) / hf;
                let grain = hash(x as u64, y as u64, fig.frame ^ (seed << 32));
                let bg = screen(u, v, w_units, grain);
                let (a, fg) = fig.sample(u, v);
                *alpha = a;
                n += (a > 0.5) as usize;
                for c in 0..3 {
                    px[c] = a * fg[c] + (1.0 - a) * bg[c];
                }
                px[3] = 1.0;
            }
            n
        })
        .sum();
    Plate {
        image,
        matte,
        coverage: covered as f64 / (width * height) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreground_covers_a_quarter_to_two_fifths() {
        for (w, h) in [(1024, 540), (512, 288), (1024, 576)] {
            for f in [0, 5, 17, 40] {
                let p = synthetic(w, h, f, 0);
                eprintln!("{w}x{h} frame {f}: coverage {:.3}", p.coverage);
                assert!(
                    (0.25..=0.40).contains(&p.coverage),
                    "{w}x{h} frame {f}: coverage {}",
                    p.coverage
                );
            }
        }
    }

    #[test]
    fn frames_differ_and_are_repeatable() {
        let a = synthetic(256, 144, 0, 0);
        let b = synthetic(256, 144, 1, 0);
        let a2 = synthetic(256, 144, 0, 0);
        assert_eq!(a.image.data, a2.image.data);
        let changed = a
            .image
            .data
            .iter()
            .zip(&b.image.data)
            .filter(|(x, y)| (*x - *y).abs() > 1e-3)
            .count();
        assert!(
            changed > 1000,
            "only {changed} values changed between frames"
        );
        assert_ne!(synthetic(256, 144, 0, 1).image.data, a.image.data);
    }

    #[test]
    fn screen_is_green_uneven_and_edges_are_soft() {
        let p = synthetic(1024, 540, 3, 0);
        let px = |x: usize, y: usize| &p.image.data[(y * 1024 + x) * 4..(y * 1024 + x) * 4 + 4];
        let corners = [px(5, 5), px(1018, 5), px(5, 300), px(1018, 300)];
        for c in corners {
            assert!(c[1] > 2.0 * c[0] && c[1] > 2.0 * c[2], "not green: {c:?}");
            assert_eq!(c[3], 1.0);
        }
        let greens: Vec<f32> = corners.iter().map(|c| c[1]).collect();
        let spread = greens.iter().cloned().fold(f32::MIN, f32::max)
            - greens.iter().cloned().fold(f32::MAX, f32::min);
        assert!(spread > 0.02, "screen is flat: {greens:?}");
        // Partly covered pixels exist (soft edges and strands), not just 0/1 alpha.
        let green_of_screen = 0.3;
        let mixed = p
            .image
            .data
            .chunks_exact(4)
            .filter(|c| c[1] > 0.15 && c[1] < green_of_screen && c[0] > 0.06)
            .count();
        assert!(mixed > 200, "only {mixed} mixed pixels");
    }

    #[test]
    fn flip_rows_reverses_rows_only() {
        let d: Vec<f32> = (0..16).map(|v| v as f32).collect(); // 2x2 RGBA
        let f = flip_rows(&d, 2);
        assert_eq!(&f[..8], &d[8..]);
        assert_eq!(&f[8..], &d[..8]);
        assert_eq!(flip_rows(&f, 2), d);
    }
}
