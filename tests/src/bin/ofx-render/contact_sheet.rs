//! The contact sheet a user opens first: plate | hint | matte | composite | status side by side,
//! each labelled, as one sRGB PNG; below them the same panels at 1:1 over the part of the frame
//! with the most soft edges (hair, blur, a veil: where a keyer earns its keep), outlined above.

use image::{imageops, ImageBuffer, Rgb, RgbImage};
use ofx_test_host::imageio::{linear_to_srgb, Rgba};

/// Panel width in pixels (a 1920x1080 plate becomes 384x216 panels, a sheet about 1.9k wide).
const PANEL_W: u32 = 384;
const LABEL_H: u32 = 30;
const GUTTER: u32 = 4;
const BACKGROUND: [u8; 3] = [24, 24, 24];
const OUTLINE: [u8; 3] = [255, 214, 0];

type Linear = ImageBuffer<Rgb<f32>, Vec<f32>>;

/// Lays out labelled panels (linear RGBA, rows bottom-up, all one size) in a row, with a 1:1
/// detail row chosen from `alpha` (the key's alpha, rows bottom-up) when the panels are reduced.
pub fn contact_sheet(panels: &[(&str, &Rgba)], alpha: &[f32]) -> RgbImage {
    let (w0, h0) = panels
        .first()
        .map_or((1, 1), |(_, p)| (p.width.max(1), p.height.max(1)));
    let pw = PANEL_W.min(w0 as u32);
    let ph = ((h0 as f64 * pw as f64 / w0 as f64).round() as u32).max(1);
    let detail = (pw < w0 as u32 && alpha.len() == w0 * h0)
        .then(|| softest_window(alpha, w0, h0, pw as usize, ph as usize));
    let n = panels.len() as u32;
    let rows_h = ph + LABEL_H + GUTTER + detail.map_or(0, |_| ph + LABEL_H + GUTTER);
    let mut sheet = RgbImage::from_pixel(n * pw + (n + 1) * GUTTER, rows_h, Rgb(BACKGROUND));
    for (k, (label, img)) in panels.iter().enumerate() {
        let x0 = GUTTER + k as u32 * (pw + GUTTER);
        let lin = linear(img);
        let small = imageops::resize(&lin, pw, ph, imageops::FilterType::Triangle);
        imageops::replace(&mut sheet, &srgb(&small), x0 as i64, LABEL_H as i64);
        draw_label(&mut sheet, x0 + 6, 6, label);
        if let Some((dx, dy)) = detail {
            let crop = imageops::crop_imm(&lin, dx as u32, dy as u32, pw, ph).to_image();
            let y0 = LABEL_H + ph + GUTTER + LABEL_H;
            imageops::replace(&mut sheet, &srgb(&crop), x0 as i64, y0 as i64);
            if k == 0 {
                // Where the detail is, on the reduced plate.
                let f = pw as f64 / w0 as f64;
                let r = [dx, dy, dx + pw as usize, dy + ph as usize].map(|v| (v as f64 * f) as u32);
                outline(
                    &mut sheet,
                    x0 + r[0],
                    LABEL_H + r[1],
                    x0 + r[2],
                    LABEL_H + r[3],
                );
                draw_label(&mut sheet, x0 + 6, LABEL_H + ph + GUTTER + 6, "detail 1:1");
            }
        }
    }
    sheet
}

/// The top-left corner (top-down) of the `cw` x `ch` window holding the most soft-edge pixels
/// (partial alpha that also changes from pixel to pixel: strands and blurred edges rather than
/// the flat inside of a veil), on an 8-pixel grid (an integral image makes each window O(1)).
fn softest_window(alpha: &[f32], w: usize, h: usize, cw: usize, ch: usize) -> (usize, usize) {
    let mut sum = vec![0u32; (w + 1) * (h + 1)];
    for y in 0..h {
        let row = &alpha[(h - 1 - y) * w..(h - y) * w];
        let below = (y + 1 < h).then(|| &alpha[(h - 2 - y) * w..(h - 1 - y) * w]);
        let mut acc = 0;
        for x in 0..w {
            let a = row[x];
            let dx = if x + 1 < w {
                (row[x + 1] - a).abs()
            } else {
                0.0
            };
            let dy = below.map_or(0.0, |b| (b[x] - a).abs());
            acc += u32::from(a > 0.02 && a < 0.98 && dx + dy > 0.05);
            sum[(y + 1) * (w + 1) + x + 1] = sum[y * (w + 1) + x + 1] + acc;
        }
    }
    let at = |x: usize, y: usize| sum[y * (w + 1) + x];
    let (mut best, mut pos) = (0, (0, 0));
    for y in (0..=h.saturating_sub(ch)).step_by(8) {
        for x in (0..=w.saturating_sub(cw)).step_by(8) {
            let n = at(x + cw, y + ch) + at(x, y) - at(x + cw, y) - at(x, y + ch);
            if n > best {
                (best, pos) = (n, (x, y));
            }
        }
    }
    pos
}

fn outline(img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) {
    let (x1, y1) = (x1.min(img.width() - 1), y1.min(img.height() - 1));
    for x in x0..=x1 {
        img.put_pixel(x, y0, Rgb(OUTLINE));
        img.put_pixel(x, y1, Rgb(OUTLINE));
    }
    for y in y0..=y1 {
        img.put_pixel(x0, y, Rgb(OUTLINE));
        img.put_pixel(x1, y, Rgb(OUTLINE));
    }
}

/// Linear RGB, top-down.
fn linear(img: &Rgba) -> Linear {
    let (iw, ih) = (img.width as u32, img.height as u32);
    let mut lin: Linear = ImageBuffer::new(iw, ih);
    for (x, y, px) in lin.enumerate_pixels_mut() {
        let i = (((ih - 1 - y) * iw + x) * 4) as usize;
        *px = Rgb([img.data[i], img.data[i + 1], img.data[i + 2]].map(|v| v.max(0.0)));
    }
    lin
}

fn srgb(lin: &Linear) -> RgbImage {
    let mut out = RgbImage::new(lin.width(), lin.height());
    for (o, s) in out.pixels_mut().zip(lin.pixels()) {
        *o = Rgb(s
            .0
            .map(|v| (linear_to_srgb(v).clamp(0.0, 1.0) * 255.0).round() as u8));
    }
    out
}

/// Upper-case labels in a 5x7 pixel font drawn 3x.
fn draw_label(img: &mut RgbImage, x0: u32, y0: u32, text: &str) {
    const SCALE: u32 = 3;
    let mut x = x0;
    for ch in text.chars().map(|c| c.to_ascii_uppercase()) {
        if let Some(rows) = glyph(ch) {
            for (ry, bits) in rows.iter().enumerate() {
                for rx in 0..5u32 {
                    if bits & (0b10000 >> rx) == 0 {
                        continue;
                    }
                    for dy in 0..SCALE {
                        for dx in 0..SCALE {
                            let (px, py) = (x + rx * SCALE + dx, y0 + ry as u32 * SCALE + dy);
                            if px < img.width() && py < img.height() {
                                img.put_pixel(px, py, Rgb([235, 235, 235]));
                            }
                        }
                    }
                }
            }
        }
        x += 6 * SCALE;
    }
}

/// The letters the labels use (5 bits a row, 7 rows).
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c {
        'A' => [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'C' => [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
        'D' => [0x1e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1e],
        'E' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
        'H' => [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'I' => [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
        'M' => [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11],
        'O' => [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'P' => [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
        'S' => [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
        'T' => [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'Y' => [0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        ':' => [0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_side_by_side_with_labels_and_a_detail_row() {
        let (w, h) = (768, 432);
        let red = Rgba {
            width: w,
            height: h,
            data: [1.0, 0.0, 0.0, 1.0].repeat(w * h),
        };
        // Soft edges (a ramp) only in the top-right corner (rows bottom-up: high index = top).
        let mut alpha = vec![1.0f32; w * h];
        for y in h - 100..h {
            for x in w - 200..w {
                alpha[y * w + x] = ((x % 8) as f32 + 1.0) / 10.0;
            }
        }
        assert_eq!(softest_window(&alpha, w, h, 384, 216), (384, 0));
        let sheet = contact_sheet(&[("plate", &red), ("matte", &red)], &alpha);
        assert_eq!(sheet.width(), 2 * 384 + 3 * GUTTER);
        assert_eq!(sheet.height(), 2 * (216 + LABEL_H + GUTTER));
        assert_eq!(sheet.get_pixel(GUTTER + 100, LABEL_H + 100).0, [255, 0, 0]);
        let detail_y = 2 * LABEL_H + 216 + GUTTER + 50;
        assert_eq!(
            sheet.get_pixel(GUTTER + 384 + GUTTER + 50, detail_y).0,
            [255, 0, 0]
        );
        let label_px = (0..LABEL_H)
            .flat_map(|y| (0..sheet.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| sheet.get_pixel(x, y).0 == [235, 235, 235])
            .count();
        assert!(label_px > 100, "labels drawn: {label_px}");
        for c in "PLATEHINTMATTECOMPOSITESTATUSDETAIL1:".chars() {
            assert!(glyph(c).is_some(), "{c}");
        }
        // Panels no larger than PANEL_W: no detail row.
        let small = Rgba {
            width: 100,
            height: 50,
            data: vec![0.0; 100 * 50 * 4],
        };
        assert_eq!(
            contact_sheet(&[("plate", &small)], &[0.0; 5000]).height(),
            50 + LABEL_H + GUTTER
        );
    }
}
