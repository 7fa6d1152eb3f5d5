//! A deterministic synthetic green-screen plate with a known foreground matte: the test input for
//! keying (IoU against the truth), for `ofx-render --write-sample-plate` and for `make demo`.
//!
//! Rows are bottom-up (row 0 is the bottom, as OFX images); colours are linear. The foreground (a
//! figure: body, head, arm) uses colours well outside the built-in key's green hue band, with
//! 1-pixel anti-aliased edges, and sits over a green screen with a gentle gradient and a little
//! deterministic grain.

/// A plate and its ground truth.
pub struct Plate {
    pub width: usize,
    pub height: usize,
    /// Linear RGBA (alpha 1: a camera plate), row 0 = bottom.
    pub rgba: Vec<f32>,
    /// The foreground's true alpha, row 0 = bottom.
    pub alpha: Vec<f32>,
}

/// Green screen colour (linear): sRGB about (63, 194, 79), OpenCV hue ~63, sat ~172.
const SCREEN: [f32; 3] = [0.05, 0.55, 0.08];

fn hash(x: u32, y: u32, f: u32) -> f32 {
    let mut h =
        x.wrapping_mul(0x27d4_eb2d) ^ y.wrapping_mul(0x1656_67b1) ^ f.wrapping_mul(0x9e37_79b9);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    (h & 0xffff) as f32 / 65535.0 - 0.5
}

fn sd_ellipse(px: f32, py: f32, cx: f32, cy: f32, rx: f32, ry: f32) -> f32 {
    // Distance approximation good to ~1 px near the boundary (gradient-normalised).
    let (dx, dy) = ((px - cx) / rx, (py - cy) / ry);
    let k = (dx * dx + dy * dy).sqrt();
    let grad = ((dx / rx).powi(2) + (dy / ry).powi(2)).sqrt().max(1e-6) / k.max(1e-6);
    (k - 1.0) / grad
}

fn sd_box(px: f32, py: f32, x0: f32, y0: f32, x1: f32, y1: f32) -> f32 {
    let dx = (x0 - px).max(px - x1);
    let dy = (y0 - py).max(py - y1);
    if dx > 0.0 && dy > 0.0 {
        (dx * dx + dy * dy).sqrt()
    } else {
        dx.max(dy)
    }
}

/// The plate for `frame` (the figure drifts a few pixels per frame so frames differ).
pub fn green_screen_plate(width: usize, height: usize, frame: u32) -> Plate {
    let (w, h) = (width as f32, height as f32);
    let shift = ((frame % 16) as f32 - 8.0) * 0.004 * w;
    let cx = 0.5 * w + shift;
    let mut rgba = vec![0f32; width * height * 4];
    let mut alpha = vec![0f32; width * height];
    for y in 0..height {
        for x in 0..width {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let body = sd_ellipse(px, py, cx, 0.36 * h, 0.2 * w, 0.3 * h);
            let head = sd_ellipse(px, py, cx, 0.76 * h, 0.09 * w.min(h * 1.6), 0.12 * h);
            let arm = sd_box(px, py, cx + 0.1 * w, 0.45 * h, cx + 0.33 * w, 0.53 * h);
            let d = body.min(head).min(arm);
            let a = (0.5 - d).clamp(0.0, 1.0);
            let fg: [f32; 3] = if head <= body.min(arm) {
                [0.62, 0.36, 0.26] // skin
            } else if arm < body {
                [0.55, 0.08, 0.06] // red sleeve
            } else {
                let stripe = (((py / (0.04 * h)) as i32) & 1) as f32;
                [0.08 + 0.04 * stripe, 0.1 + 0.04 * stripe, 0.45] // blue shirt with stripes
            };
            let grad = 0.85 + 0.3 * (px / w) * (1.0 - 0.3 * py / h);
            let n = hash(x as u32, y as u32, frame) * 0.02;
            let i = y * width + x;
            for c in 0..3 {
                let bg = (SCREEN[c] * grad + n * SCREEN[c]).max(0.0);
                rgba[i * 4 + c] = fg[c] * a + bg * (1.0 - a);
            }
            rgba[i * 4 + 3] = 1.0;
            alpha[i] = a;
        }
    }
    Plate {
        width,
        height,
        rgba,
        alpha,
    }
}

/// Intersection over union of two mattes thresholded at `thr`.
pub fn iou(a: &[f32], b: &[f32], thr: f32) -> f64 {
    let (mut inter, mut union) = (0usize, 0usize);
    for (x, y) in a.iter().zip(b) {
        let (p, q) = (*x > thr, *y > thr);
        inter += (p && q) as usize;
        union += (p || q) as usize;
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// Bilinear-free box downscale of an RGBA image by an integer factor (for render-scale inputs).
pub fn downscale_rgba(rgba: &[f32], w: usize, h: usize, factor: usize) -> (Vec<f32>, usize, usize) {
    let (ow, oh) = (w / factor, h / factor);
    let mut out = vec![0f32; ow * oh * 4];
    let n = (factor * factor) as f32;
    for y in 0..oh {
        for x in 0..ow {
            for c in 0..4 {
                let mut s = 0.0;
                for dy in 0..factor {
                    for dx in 0..factor {
                        s += rgba[((y * factor + dy) * w + x * factor + dx) * 4 + c];
                    }
                }
                out[(y * ow + x) * 4 + c] = s / n;
            }
        }
    }
    (out, ow, oh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plate_is_deterministic_and_has_a_sizeable_figure() {
        let a = green_screen_plate(128, 96, 3);
        let b = green_screen_plate(128, 96, 3);
        assert_eq!(a.rgba, b.rgba);
        let cover = a.alpha.iter().filter(|v| **v > 0.5).count() as f64 / a.alpha.len() as f64;
        assert!((0.15..0.5).contains(&cover), "foreground covers {cover}");
        let edge = a.alpha.iter().filter(|v| **v > 0.0 && **v < 1.0).count();
        assert!(edge > 0, "no soft edge pixels");
        let c = green_screen_plate(128, 96, 4);
        assert_ne!(a.alpha, c.alpha, "frames must differ");
    }

    #[test]
    fn iou_counts() {
        assert_eq!(
            iou(&[1.0, 1.0, 0.0, 0.0], &[1.0, 0.0, 1.0, 0.0], 0.5),
            1.0 / 3.0
        );
    }
}
