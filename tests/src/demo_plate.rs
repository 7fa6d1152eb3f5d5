//! The `make demo` plate: a deterministic green-screen shot built to show what a neural keyer does
//! that a chroma key cannot. A head-and-shoulders figure on an unevenly lit, creased screen with
//!
//! * hair: a fuzzy hair mass and a few hundred sub-pixel strands flying off it,
//! * a motion-blurred hand (a wave: the shape averaged over the shutter),
//! * a semi-transparent chiffon veil draped from the shoulder out over the screen,
//! * green spill on the subject (strongest at its edges, where the screen's bounce light lands),
//! * an uneven screen: a hot spot, vignetting, fabric creases and grain.
//!
//! Nothing random: every value comes from a seeded hash, so the plate (and the committed contact
//! sheet) can be regenerated bit for bit. Rows are bottom-up and colours linear, as
//! [`crate::synthetic`]; the true alpha comes with it.

use crate::synthetic::Plate;

/// Screen green (linear), as [`crate::synthetic`].
const SCREEN: [f32; 3] = [0.05, 0.55, 0.08];
const SKIN: [f32; 3] = [0.56, 0.32, 0.22];
const HAIR: [f32; 3] = [0.16, 0.075, 0.035];
const SHIRT: [f32; 3] = [0.72, 0.71, 0.69];
const VEIL: [f32; 3] = [0.62, 0.16, 0.42];

/// A small deterministic generator (splitmix64) for the strand and crease layout.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next()
    }
}

fn grain(x: usize, y: usize) -> f32 {
    let mut h = (x as u32).wrapping_mul(0x27d4_eb2d) ^ (y as u32).wrapping_mul(0x1656_67b1);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    (h & 0xffff) as f32 / 65535.0 - 0.5
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Pixel coverage of a signed distance (pixels, negative inside): a one-pixel box filter.
fn cover(sd: f32) -> f32 {
    (0.5 - sd).clamp(0.0, 1.0)
}

/// Signed distance to an ellipse, good to about a pixel near its edge.
fn sd_ellipse(px: f32, py: f32, cx: f32, cy: f32, rx: f32, ry: f32) -> f32 {
    let (dx, dy) = ((px - cx) / rx, (py - cy) / ry);
    let k = (dx * dx + dy * dy).sqrt().max(1e-6);
    let grad = ((dx / rx).powi(2) + (dy / ry).powi(2)).sqrt().max(1e-9) / k;
    (k - 1.0) / grad
}

/// Distance from a point to the segment a-b.
fn dist_segment(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let t = (((p.0 - a.0) * abx + (p.1 - a.1) * aby) / (abx * abx + aby * aby).max(1e-9))
        .clamp(0.0, 1.0);
    let (dx, dy) = (p.0 - a.0 - t * abx, p.1 - a.1 - t * aby);
    (dx * dx + dy * dy).sqrt()
}

/// One layer of the figure: premultiplied colour and alpha per pixel (top-down rows).
struct LayerBuf {
    w: usize,
    h: usize,
    rgb: Vec<[f32; 3]>,
    a: Vec<f32>,
}

impl LayerBuf {
    fn new(w: usize, h: usize) -> Self {
        LayerBuf {
            w,
            h,
            rgb: vec![[0.0; 3]; w * h],
            a: vec![0.0; w * h],
        }
    }
    /// `colour` with coverage `a` over what the pixel holds.
    fn over(&mut self, x: usize, y: usize, colour: [f32; 3], a: f32) {
        if a <= 0.0 {
            return;
        }
        let i = y * self.w + x;
        for (dst, src) in self.rgb[i].iter_mut().zip(colour) {
            *dst = src * a + *dst * (1.0 - a);
        }
        self.a[i] = a + self.a[i] * (1.0 - a);
    }
}

/// Signed distance to a box with rounded corners (radius `r`).
fn sd_round_box(px: f32, py: f32, x0: f32, y0: f32, x1: f32, y1: f32, r: f32) -> f32 {
    let (cx, cy) = ((x0 + x1) * 0.5, (y0 + y1) * 0.5);
    let (hx, hy) = ((x1 - x0) * 0.5 - r, (y1 - y0) * 0.5 - r);
    let (qx, qy) = ((px - cx).abs() - hx, (py - cy).abs() - hy);
    let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
    outside + qx.max(qy).min(0.0) - r
}

/// Geometry of the shot in pixels (top-down y), scaled from the 1920x1080 layout.
struct Shot {
    s: f32,
    /// Face ellipse (centre x, y; radii).
    head: (f32, f32, f32, f32),
    /// Hair mass behind the head.
    hair: (f32, f32, f32, f32),
}

impl Shot {
    fn new(w: usize, h: usize) -> Shot {
        let s = (w as f32 / 1920.0).min(h as f32 / 1080.0);
        let cx = 0.42 * w as f32;
        let hy = 0.45 * h as f32;
        Shot {
            s,
            head: (cx, hy, 100.0 * s, 130.0 * s),
            hair: (cx, hy - 40.0 * s, 150.0 * s, 150.0 * s),
        }
    }

    fn shoulders(&self, px: f32, py: f32, h: f32) -> f32 {
        let (cx, s) = (self.head.0, self.s);
        sd_round_box(
            px,
            py,
            cx - 330.0 * s,
            0.68 * h,
            cx + 330.0 * s,
            h + 300.0 * s,
            160.0 * s,
        )
    }

    fn neck(&self, px: f32, py: f32, h: f32) -> f32 {
        let (cx, cy, _, ry) = self.head;
        let s = self.s;
        sd_round_box(
            px,
            py,
            cx - 48.0 * s,
            cy + 0.4 * ry,
            cx + 48.0 * s,
            0.72 * h,
            30.0 * s,
        )
    }

    /// The hair mass's edge wobbles with the angle, so it is not a clean ellipse; it stops at
    /// the jaw line.
    fn hair_mass(&self, px: f32, py: f32) -> f32 {
        let (cx, cy, rx, ry) = self.hair;
        let ang = (py - cy).atan2(px - cx);
        let wobble = 5.0 * self.s * ((ang * 23.0).sin() + 0.6 * (ang * 57.0 + 1.3).sin());
        let d = sd_ellipse(px, py, cx, cy, rx, ry) + wobble;
        d.max(py - (self.head.1 + 0.55 * self.head.3))
    }

    /// The hair over the top of the head: the part of the head above a curved hairline.
    fn hair_cap(&self, px: f32, py: f32) -> f32 {
        let (cx, cy, rx, ry) = self.head;
        let u = (px - cx) / rx;
        let hairline = cy - 0.45 * ry + 0.55 * ry * u * u;
        sd_ellipse(px, py, cx, cy, rx * 1.04, ry * 1.04).max(py - hairline)
    }
}

/// Opaque figure, back to front: hair mass, neck, shirt, face, the hair over the forehead.
fn paint_figure(shot: &Shot, fig: &mut LayerBuf) {
    let (w, h) = (fig.w, fig.h);
    let (hx, hy, hrx, hry) = shot.head;
    let hf = h as f32;
    for y in 0..h {
        for x in 0..w {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            // Light from the upper left: a shading ramp across the figure.
            let side = (1.0 - (px - hx + 1.5 * hrx) / (3.0 * hrx)).clamp(0.0, 1.0);
            let streak = 0.85 + 0.15 * ((px * 0.5 + py * 0.12).sin() * (px * 0.13).cos());
            let hair = HAIR.map(|c| c * streak * (0.8 + 0.5 * side));
            let layers = [
                (shot.hair_mass(px, py), hair),
                (shot.neck(px, py, hf), SKIN.map(|c| c * (0.7 + 0.2 * side))),
                (
                    shot.shoulders(px, py, hf),
                    SHIRT.map(|c| c * (0.9 + 0.1 * (px * 0.02).sin() * (py * 0.013).cos())),
                ),
                (
                    sd_ellipse(px, py, hx, hy, hrx, hry),
                    SKIN.map(|c| c * (0.8 + 0.35 * side)),
                ),
                (shot.hair_cap(px, py), hair),
            ];
            for (d, colour) in layers {
                if d < 1.0 {
                    fig.over(x, y, colour, cover(d));
                }
            }
        }
    }
}

/// A few hundred strands off the hair mass: quadratic curves, sub-pixel wide, tapering.
fn paint_strands(shot: &Shot, rng: &mut Rng, fig: &mut LayerBuf) {
    let (w, h) = (fig.w as f32, fig.h as f32);
    let (cx, cy, rx, ry) = shot.hair;
    let s = shot.s;
    for i in 0..420 {
        // Roots around the top and sides of the hair mass; the sides fall towards the shoulders.
        let ang = rng.range(-3.0, -0.14) + if i % 5 == 0 { 0.5 } else { 0.0 };
        let (ca, sa) = (ang.cos(), ang.sin());
        let root = (cx + ca * rx * 0.93, cy + sa * ry * 0.93);
        let len = rng.range(40.0, 170.0) * s;
        let gravity = (1.0 - (-sa).max(0.0)) * 0.9;
        let dir = (
            ca + rng.range(-0.35, 0.35),
            sa + gravity + rng.range(-0.3, 0.3),
        );
        let norm = (dir.0 * dir.0 + dir.1 * dir.1).sqrt().max(1e-3);
        let tip = (root.0 + dir.0 / norm * len, root.1 + dir.1 / norm * len);
        let bend = rng.range(-0.45, 0.45) * len;
        let ctrl = (
            (root.0 + tip.0) * 0.5 - dir.1 / norm * bend,
            (root.1 + tip.1) * 0.5 + dir.0 / norm * bend,
        );
        let width = rng.range(0.35, 1.3) * s.max(0.5);
        let tone = rng.range(0.8, 1.5);
        let colour = HAIR.map(|c| c * tone);
        const SEGMENTS: usize = 20;
        let pts: Vec<(f32, f32)> = (0..=SEGMENTS)
            .map(|k| {
                let t = k as f32 / SEGMENTS as f32;
                let u = 1.0 - t;
                (
                    u * u * root.0 + 2.0 * u * t * ctrl.0 + t * t * tip.0,
                    u * u * root.1 + 2.0 * u * t * ctrl.1 + t * t * tip.1,
                )
            })
            .collect();
        let reach = (width + 1.0) * 0.5;
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in &pts {
            x0 = x0.min(p.0);
            y0 = y0.min(p.1);
            x1 = x1.max(p.0);
            y1 = y1.max(p.1);
        }
        let xs =
            (x0 - reach - 1.0).max(0.0) as usize..((x1 + reach + 1.0).min(w)).max(0.0) as usize;
        let ys =
            (y0 - reach - 1.0).max(0.0) as usize..((y1 + reach + 1.0).min(h)).max(0.0) as usize;
        for y in ys {
            for x in xs.clone() {
                let p = (x as f32 + 0.5, y as f32 + 0.5);
                let (mut best, mut at) = (f32::MAX, 0.0);
                for k in 0..SEGMENTS {
                    let d = dist_segment(p, pts[k], pts[k + 1]);
                    if d < best {
                        best = d;
                        at = k as f32 / SEGMENTS as f32;
                    }
                }
                // Box-filtered line of `width` pixels, thinning towards the tip.
                let taper = (1.0 - at).sqrt();
                let a = width.min(1.0) * (reach - best).clamp(0.0, 1.0) * taper;
                fig.over(x, y, colour, a);
            }
        }
    }
}

/// An arm raised at the right, its forearm and hand waving: the moving parts are averaged over
/// the shutter (motion blur growing from the elbow to the fingertips).
fn paint_waving_arm(shot: &Shot, fig: &mut LayerBuf) {
    let s = shot.s;
    let (w, h) = (fig.w, fig.h);
    let shoulder = (shot.head.0 + 270.0 * s, 0.80 * h as f32);
    let elbow = (shot.head.0 + 480.0 * s, 0.66 * h as f32);
    let wrist = (shot.head.0 + 540.0 * s, 0.44 * h as f32);
    let travel = 40.0 * s;
    const SAMPLES: usize = 32;
    let x0 = (shoulder.0 - 80.0 * s).max(0.0) as usize;
    let x1 = ((wrist.0 + travel + 120.0 * s) as usize).min(w);
    let y0 = (wrist.1 - 200.0 * s).max(0.0) as usize;
    let y1 = ((shoulder.1 + 80.0 * s) as usize).min(h);
    for y in y0..y1 {
        for x in x0..x1 {
            let p = (x as f32 + 0.5, y as f32 + 0.5);
            let upper = dist_segment(p, shoulder, elbow) - 46.0 * s;
            let (mut skin, mut fore) = (0.0, 0.0);
            for k in 0..SAMPLES {
                let dx = travel * ((k as f32 + 0.5) / SAMPLES as f32 * 2.0 - 1.0);
                let wr = (wrist.0 + dx, wrist.1);
                let forearm = dist_segment(p, elbow, wr) - 36.0 * s;
                let palm = sd_ellipse(
                    p.0,
                    p.1,
                    wr.0 + dx * 0.2,
                    wr.1 - 55.0 * s,
                    42.0 * s,
                    55.0 * s,
                );
                let mut fingers = f32::MAX;
                for f in 0..4 {
                    let fx = wr.0 + dx * 0.35 + (f as f32 - 1.5) * 20.0 * s;
                    let tip = (
                        fx + (f as f32 - 1.5) * 6.0 * s,
                        wr.1 - (150.0 - 8.0 * (f as f32 - 1.5).abs()) * s,
                    );
                    fingers = fingers.min(dist_segment(p, (fx, wr.1 - 80.0 * s), tip) - 9.0 * s);
                }
                let thumb = dist_segment(
                    p,
                    (wr.0 + dx * 0.25 - 35.0 * s, wr.1 - 40.0 * s),
                    (wr.0 + dx * 0.3 - 75.0 * s, wr.1 - 95.0 * s),
                ) - 10.0 * s;
                skin += cover(palm.min(fingers).min(thumb));
                fore += cover(forearm);
            }
            let (skin, fore) = (skin / SAMPLES as f32, fore / SAMPLES as f32);
            let sleeve = cover(upper);
            let sleeve = sleeve + fore * (1.0 - sleeve);
            fig.over(x, y, SHIRT.map(|c| c * 0.85), sleeve);
            fig.over(x, y, SKIN, skin);
        }
    }
}

/// A chiffon veil from the right shoulder out over the screen on the left: 35-55 % opaque with
/// soft folds and a hem.
fn paint_veil(shot: &Shot, fig: &mut LayerBuf) {
    let s = shot.s;
    let (w, h) = (fig.w as f32, fig.h as f32);
    for y in 0..fig.h {
        for x in 0..fig.w {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            // The band's centre line sags from the shoulder to the left edge of the frame.
            let u = px / w;
            if u > 0.56 {
                continue;
            }
            let centre = 0.80 * h - 0.34 * h * (0.56 - u) + 60.0 * s * ((u * 9.0).sin());
            let half = 70.0 * s + 90.0 * s * (0.56 - u);
            let d = (py - centre).abs() - half;
            let edge = cover(d / 1.5);
            if edge <= 0.0 {
                continue;
            }
            let folds = 0.5 + 0.5 * ((px * 0.045 + py * 0.02).sin() * (py * 0.011).cos());
            let density = 0.35 + 0.2 * folds;
            // The hem (the band's lower edge) is a denser, darker line.
            let hem = smoothstep(6.0 * s, 0.0, (py - (centre + half - 5.0 * s)).abs());
            // It tucks in at the shoulder: fades out over the shirt instead of ending in a cut.
            let tuck = smoothstep(0.56, 0.47, u);
            let a = (density + 0.35 * hem).min(0.95) * edge * tuck;
            let colour = VEIL.map(|c| c * (0.8 + 0.3 * folds));
            fig.over(x, y, colour, a);
        }
    }
}

/// The screen's light (multiplies [`SCREEN`]): a hot spot at the upper left, darker corners and
/// diagonal creases.
fn screen_light(u: f32, v: f32, creases: &[(f32, f32, f32)]) -> f32 {
    let hot = 0.35 * (-((u - 0.22).powi(2) + (v - 0.2).powi(2)) / 0.08).exp();
    let vignette = 1.0 - 0.45 * ((u - 0.5).powi(2) + (v - 0.5).powi(2)).sqrt();
    let mut crease = 0.0;
    for &(offset, slope, depth) in creases {
        let d = v - (offset + slope * u);
        crease += depth * (-(d * d) / 0.0006).exp();
    }
    (0.72 + hot) * vignette - crease
}

/// The demo plate (and its true alpha) at `width` x `height`.
pub fn demo_plate(width: usize, height: usize) -> Plate {
    let shot = Shot::new(width, height);
    let mut rng = Rng(0x0000_c044_1d0c_7e57);
    let mut fig = LayerBuf::new(width, height);
    paint_figure(&shot, &mut fig);
    paint_strands(&shot, &mut rng, &mut fig);
    paint_waving_arm(&shot, &mut fig);
    paint_veil(&shot, &mut fig);
    let creases: Vec<(f32, f32, f32)> = (0..4)
        .map(|_| {
            (
                rng.range(0.1, 0.9),
                rng.range(-0.5, 0.5),
                rng.range(0.06, 0.14),
            )
        })
        .collect();

    // Spill: screen light bouncing onto the subject, strongest within ~25 px of its silhouette.
    let inside = distance_inside(&fig.a, width, height, 40);
    let (w, h) = (width as f32, height as f32);
    let mut rgba = vec![0f32; width * height * 4];
    let mut alpha = vec![0f32; width * height];
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let (u, v) = ((x as f32 + 0.5) / w, (y as f32 + 0.5) / h);
            let light = screen_light(u, v, &creases);
            let n = grain(x, y) * 0.03;
            let screen = SCREEN.map(|c| (c * light * (1.0 + n)).max(0.0));
            let a = fig.a[i];
            let spill = 0.07 + 0.28 * (-(inside[i] as f32) / (25.0 * shot.s)).exp();
            let mut out = [0f32; 3];
            for c in 0..3 {
                // fig.rgb is premultiplied: spill adds screen-coloured light in proportion to the
                // subject's coverage, and tints the colour towards green.
                let lit = fig.rgb[i][c] * (1.0 - 0.45 * spill) + a * spill * screen[c] * 0.9;
                out[c] = lit + screen[c] * (1.0 - a);
            }
            // Rows bottom-up in the plate.
            let o = (height - 1 - y) * width + x;
            rgba[o * 4..o * 4 + 3].copy_from_slice(&out);
            rgba[o * 4 + 3] = 1.0;
            alpha[o] = a;
        }
    }
    Plate {
        width,
        height,
        rgba,
        alpha,
    }
}

/// Chessboard distance (pixels, capped at `cap`) from each pixel to the nearest pixel with alpha
/// below 0.5: how deep inside the subject a pixel is. Two passes of a chamfer transform.
fn distance_inside(a: &[f32], w: usize, h: usize, cap: u16) -> Vec<u16> {
    let mut d: Vec<u16> = a.iter().map(|&v| if v < 0.5 { 0 } else { cap }).collect();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let mut m = d[i];
            if x > 0 {
                m = m.min(d[i - 1] + 1);
            }
            if y > 0 {
                m = m.min(d[i - w] + 1);
                if x > 0 {
                    m = m.min(d[i - w - 1] + 1);
                }
                if x + 1 < w {
                    m = m.min(d[i - w + 1] + 1);
                }
            }
            d[i] = m;
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            let i = y * w + x;
            let mut m = d[i];
            if x + 1 < w {
                m = m.min(d[i + 1] + 1);
            }
            if y + 1 < h {
                m = m.min(d[i + w] + 1);
                if x + 1 < w {
                    m = m.min(d[i + w + 1] + 1);
                }
                if x > 0 {
                    m = m.min(d[i + w - 1] + 1);
                }
            }
            d[i] = m;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_plate_is_deterministic_and_has_every_hard_case() {
        let (w, h) = (480, 270);
        let p = demo_plate(w, h);
        assert_eq!(p.rgba, demo_plate(w, h).rgba);
        let n = p.alpha.len() as f64;
        let frac = |f: &dyn Fn(f32) -> bool| p.alpha.iter().filter(|a| f(**a)).count() as f64 / n;
        let solid = frac(&|a| a > 0.99);
        let partial = frac(&|a| a > 0.05 && a < 0.95);
        assert!(
            (0.15..0.6).contains(&solid),
            "opaque subject covers {solid}"
        );
        // Veil, blur and strands: a large semi-transparent share, far beyond anti-aliased edges.
        assert!(partial > 0.08, "semi-transparent share {partial}");
        // The veil sits on the left, over the screen: mid alphas there.
        let veil = (0..h)
            .flat_map(|y| (0..w / 8).map(move |x| (x, y)))
            .filter(|&(x, y)| (0.3..0.7).contains(&p.alpha[y * w + x]))
            .count();
        assert!(veil > 200, "veil pixels {veil}");
        // Spill: fully opaque shirt pixels are greener than the shirt's own colour.
        let i = p
            .alpha
            .iter()
            .position(|a| *a > 0.999)
            .expect("an opaque pixel");
        let px = &p.rgba[i * 4..i * 4 + 3];
        assert!(px[1] / px[0] > SHIRT[1] / SHIRT[0] || px[1] / px[0] > HAIR[1] / HAIR[0]);
        // Uneven screen: the brightest and darkest pure-screen pixels differ by more than 30 %.
        let screen: Vec<f32> = p
            .alpha
            .iter()
            .zip(p.rgba.chunks_exact(4))
            .filter(|(a, _)| **a == 0.0)
            .map(|(_, c)| c[1])
            .collect();
        let (lo, hi) = screen
            .iter()
            .fold((f32::MAX, 0f32), |(l, h), v| (l.min(*v), h.max(*v)));
        assert!(hi / lo > 1.3, "screen {lo}..{hi}");
        assert!(p.rgba.iter().all(|v| v.is_finite() && *v >= 0.0));
    }
}
