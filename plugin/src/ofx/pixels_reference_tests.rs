//! The render action's read and write passes (`pixels.rs`) against a straightforward reference
//! written from the OFX spec, over real host layouts: every depth and component set, padded rows,
//! negative rowBytes (rows top-down in memory), bounds off the origin, render windows and matte
//! windows that cut or miss the image. Values compare bit for bit (NaN included).

use ofx_bindings::{BitDepth, Components, ImageView, ImageViewMut, Layout, RectI};

use super::buffers;
use super::pixels::{read_matte_hashed, read_rgba_hashed, write_rgba};
use crate::engine::cache::hash_image;
use crate::engine::RgbaImage;

/// Host memory of one image: 8-byte aligned, `row_bytes` apart, row y1 first or last.
struct HostBuf {
    words: Vec<u64>,
    layout: Layout,
}

fn rect(x1: i32, y1: i32, x2: i32, y2: i32) -> RectI {
    RectI { x1, y1, x2, y2 }
}

/// A deterministic, well-mixed 32-bit value per (sample index, seed).
fn noise(i: usize, seed: u64) -> u32 {
    let mut h = (i as u64 ^ seed.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= h >> 29;
    (h.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 32) as u32
}

impl HostBuf {
    fn new(bounds: RectI, depth: BitDepth, comps: Components, pad: usize, down: bool) -> Self {
        let row = bounds.width() * comps.count() * depth.sample_bytes() + pad;
        let words = vec![0u64; (row * bounds.height()).div_ceil(8).max(1)];
        let row_bytes = if down { -(row as isize) } else { row as isize };
        let layout = Layout {
            bounds,
            row_bytes,
            depth,
            components: comps,
        };
        let mut b = HostBuf { words, layout };
        b.fill(7);
        b
    }
    fn bytes(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.words)
    }
    /// Byte offset of row `y` (OFX) from the start of the allocation.
    fn row_start(&self, y: i32) -> usize {
        let r = (y - self.layout.bounds.y1) as usize;
        let n = self.layout.bounds.height();
        let stride = self.layout.row_bytes.unsigned_abs();
        if self.layout.row_bytes < 0 {
            (n - 1 - r) * stride
        } else {
            r * stride
        }
    }
    /// Offset of sample `c` of pixel (x, y).
    fn at(&self, x: i32, y: i32, c: usize) -> usize {
        let l = &self.layout;
        let px = (x - l.bounds.x1) as usize * l.components.count() + c;
        self.row_start(y) + px * l.depth.sample_bytes()
    }
    /// Every byte, padding included, from `noise`; a few float samples are NaN, Inf or negative.
    fn fill(&mut self, seed: u64) {
        let depth = self.layout.depth;
        let bytes = self.bytes();
        match depth {
            BitDepth::Float => bytes.chunks_exact_mut(4).enumerate().for_each(|(i, s)| {
                let v = match noise(i, seed) % 97 {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    k => (k as f32 - 20.0) * 0.031,
                };
                s.copy_from_slice(&v.to_ne_bytes());
            }),
            _ => bytes
                .chunks_exact_mut(4)
                .enumerate()
                .for_each(|(i, s)| s.copy_from_slice(&noise(i, seed).to_ne_bytes())),
        }
    }
    /// Sample `c` of pixel (x, y) as the engine sees it (the spec's scaling).
    fn sample(&mut self, x: i32, y: i32, c: usize) -> f32 {
        let o = self.at(x, y, c);
        let depth = self.layout.depth;
        let b = &self.bytes()[o..];
        match depth {
            BitDepth::Byte => b[0] as f32 / 255.0,
            BitDepth::Short => u16::from_ne_bytes([b[0], b[1]]) as f32 / 65535.0,
            _ => f32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        }
    }
    /// Pixel (x, y) as RGBA: RGB gets alpha 1, Alpha gets black.
    fn rgba(&mut self, x: i32, y: i32) -> [f32; 4] {
        match self.layout.components {
            Components::Rgba => [0, 1, 2, 3].map(|c| self.sample(x, y, c)),
            Components::Rgb => [
                self.sample(x, y, 0),
                self.sample(x, y, 1),
                self.sample(x, y, 2),
                1.0,
            ],
            _ => [0.0, 0.0, 0.0, self.sample(x, y, 0)],
        }
    }
    /// The pointer to pixel (x1, y1), as a host hands it.
    fn origin(&mut self) -> *mut u8 {
        let o = self.row_start(self.layout.bounds.y1);
        // SAFETY: `o` is inside the allocation (the start of row y1).
        unsafe { self.bytes().as_mut_ptr().add(o) }
    }
    fn view(&mut self) -> ImageView<'_> {
        let (p, l) = (self.origin(), self.layout);
        // SAFETY: every row of the bounds lies in `words`, row_bytes apart from the origin, and
        // the borrow of self keeps it alive and unwritten while the view lives.
        unsafe { ImageView::from_raw_parts(p, l) }.unwrap()
    }
    fn view_mut(&mut self) -> ImageViewMut<'_> {
        let (p, l) = (self.origin(), self.layout);
        // SAFETY: as in `view`, and the mutable borrow of self makes the view the only access.
        unsafe { ImageViewMut::from_raw_parts(p, l) }.unwrap()
    }
}

/// Every host layout the tests run: depth, components, row padding in bytes, rows top-down.
fn layouts() -> Vec<(BitDepth, Components, usize, bool)> {
    let mut v = Vec::new();
    for depth in [BitDepth::Byte, BitDepth::Short, BitDepth::Float] {
        for comps in [Components::Rgba, Components::Rgb, Components::Alpha] {
            for (pad, down) in [(0, false), (8, false), (0, true), (12, true)] {
                v.push((depth, comps, pad, down));
            }
        }
    }
    v
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

#[test]
fn source_read_matches_the_reference_and_its_hash() {
    let bounds = rect(-3, 5, 14, 26); // 17 x 21: bands of 8 rows end in a short one
    for (depth, comps, pad, down) in layouts() {
        let mut host = HostBuf::new(bounds, depth, comps, pad, down);
        let mut want = Vec::new();
        for y in (bounds.y1..bounds.y2).rev() {
            for x in bounds.x1..bounds.x2 {
                want.extend(host.rgba(x, y));
            }
        }
        let (img, hash) = read_rgba_hashed(&host.view()).unwrap();
        let case = format!("{depth:?} {comps:?} pad {pad} down {down}");
        assert_eq!((img.width, img.height), (17, 21), "{case}");
        assert_eq!(bits(&img.data), bits(&want), "{case}");
        assert_eq!(hash, hash_image(&want, 17, 4), "{case}");
    }
}

#[test]
fn matte_read_matches_the_reference_in_every_window() {
    let bounds = rect(2, -4, 19, 13);
    let windows = [
        bounds,
        rect(0, -6, 24, 20),
        rect(10, 0, 30, 9),
        rect(40, 40, 45, 52),
    ];
    for (depth, comps, pad, down) in layouts() {
        let mut host = HostBuf::new(bounds, depth, comps, pad, down);
        let channel = if comps == Components::Rgba { 3 } else { 0 };
        for win in windows {
            let mut want = Vec::new();
            for y in (win.y1..win.y2).rev() {
                for x in win.x1..win.x2 {
                    let inside = (bounds.x1..bounds.x2).contains(&x) && bounds.contains_row(y);
                    want.push(if inside {
                        host.sample(x, y, channel)
                    } else {
                        0.0
                    });
                }
            }
            let (m, hash) = read_matte_hashed(&host.view(), win).unwrap();
            let case = format!("{depth:?} {comps:?} pad {pad} down {down} window {win:?}");
            assert_eq!((m.width, m.height), (win.width(), win.height()), "{case}");
            assert_eq!(bits(&m.data), bits(&want), "{case}");
            assert_eq!(hash, hash_image(&want, win.width(), 1), "{case}");
        }
    }
}

/// The spec's conversion of one engine value into a host sample's bytes.
fn encode(v: f32, depth: BitDepth) -> Vec<u8> {
    let unit = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    match depth {
        BitDepth::Byte => vec![(unit * 255.0).round() as u8],
        BitDepth::Short => ((unit * 65535.0).round() as u16).to_ne_bytes().to_vec(),
        _ => v.to_ne_bytes().to_vec(),
    }
}

#[test]
fn output_write_matches_the_reference_in_every_render_window() {
    let out_bounds = rect(-2, 1, 15, 20);
    let img_win = rect(0, 3, 13, 18);
    let (w, h) = (img_win.width(), img_win.height());
    let image = RgbaImage {
        width: w,
        height: h,
        data: (0..w * h * 4)
            .map(|i| (noise(i, 3) % 300) as f32 / 200.0 - 0.25)
            .collect(),
    };
    let renders = [
        out_bounds,
        rect(1, 5, 9, 12),
        rect(-10, -10, 40, 40),
        rect(5, 30, 9, 40),
    ];
    for (depth, comps, pad, down) in layouts() {
        for rw in renders {
            let mut got = HostBuf::new(out_bounds, depth, comps, pad, down);
            let mut want = HostBuf::new(out_bounds, depth, comps, pad, down);
            write_rgba(&mut got.view_mut(), Some((&image, img_win)), rw);
            let area = out_bounds.intersect(&rw);
            for y in area.y1..area.y2 {
                for x in area.x1..area.x2 {
                    let inside = (img_win.x1..img_win.x2).contains(&x) && img_win.contains_row(y);
                    let px = if inside {
                        let r = (img_win.y2 - 1 - y) as usize * w + (x - img_win.x1) as usize;
                        [0, 1, 2, 3].map(|c| image.data[r * 4 + c])
                    } else {
                        [0.0; 4]
                    };
                    let chans: Vec<f32> = match comps {
                        Components::Rgba => px.to_vec(),
                        Components::Rgb => px[..3].to_vec(),
                        _ => vec![px[3]],
                    };
                    for (c, v) in chans.into_iter().enumerate() {
                        let o = want.at(x, y, c);
                        let e = encode(v, depth);
                        want.bytes()[o..o + e.len()].copy_from_slice(&e);
                    }
                }
            }
            let case = format!("{depth:?} {comps:?} pad {pad} down {down} render {rw:?}");
            assert!(got.words == want.words, "{case}");
        }
    }
}

/// Reads into buffers kept from earlier frames (stale values, here NaN) write every value: the
/// same images and hashes as the reference, for every layout and a matte window the matte only
/// partly covers.
#[test]
fn reads_into_kept_buffers_overwrite_every_value() {
    let _alone = buffers::TEST_LOCK.lock();
    let bounds = rect(0, 0, 256, 257);
    let win = rect(-40, 10, 600, 600);
    for (depth, comps, pad, down) in layouts() {
        let mut host = HostBuf::new(bounds, depth, comps, pad, down);
        let channel = if comps == Components::Rgba { 3 } else { 0 };
        let mut want = Vec::new();
        for y in (bounds.y1..bounds.y2).rev() {
            for x in bounds.x1..bounds.x2 {
                want.extend(host.rgba(x, y));
            }
        }
        let mut want_m = Vec::new();
        for y in (win.y1..win.y2).rev() {
            for x in win.x1..win.x2 {
                let inside = (bounds.x1..bounds.x2).contains(&x) && bounds.contains_row(y);
                want_m.push(if inside {
                    host.sample(x, y, channel)
                } else {
                    0.0
                });
            }
        }
        let case = format!("{depth:?} {comps:?} pad {pad} down {down}");
        buffers::give_back(vec![f32::NAN; want.len()]);
        let (img, hash) = read_rgba_hashed(&host.view()).unwrap();
        assert_eq!(bits(&img.data), bits(&want), "{case}");
        assert_eq!(hash, hash_image(&want, 256, 4), "{case}");
        buffers::give_back(img.data);
        buffers::give_back(vec![f32::NAN; want_m.len()]);
        let (m, hash) = read_matte_hashed(&host.view(), win).unwrap();
        assert_eq!(bits(&m.data), bits(&want_m), "{case}");
        assert_eq!(hash, hash_image(&want_m, win.width(), 1), "{case}");
    }
    buffers::clear();
}
