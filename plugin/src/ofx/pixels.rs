//! Host pixels <-> engine images. OFX rows go bottom-up (y grows upwards); the engine's row 0 is
//! the top, so every conversion flips here, at the edge. Depths convert to f32 on the way in and
//! back (clamped, rounded) on the way out.

use ofx_bindings::{Components, ImageView, ImageViewMut, RectI, Row, RowMut};
use rayon::prelude::*;

use super::buffers;
use crate::engine::{cache, limits};
use crate::engine::{EngineError, MatteImage, RgbaImage};

/// Rows of a host image, addressed by OFX y. Implemented by the host's image views (and by test
/// buffers).
pub trait SourceRows: Sync {
    fn bounds(&self) -> RectI;
    fn components(&self) -> Components;
    fn row(&self, y: i32) -> Option<Row<'_>>;
}

/// Writable rows of a host image, addressed by OFX y.
pub trait SinkRows {
    fn bounds(&self) -> RectI;
    fn components(&self) -> Components;
    /// Every row with its OFX y (rows of distinct y never overlap).
    fn rows_mut(&mut self) -> Vec<(i32, RowMut<'_>)>;
}

impl SourceRows for ImageView<'_> {
    fn bounds(&self) -> RectI {
        ImageView::bounds(self)
    }
    fn components(&self) -> Components {
        self.layout().components
    }
    fn row(&self, y: i32) -> Option<Row<'_>> {
        ImageView::row(self, y)
    }
}

impl SinkRows for ImageViewMut<'_> {
    fn bounds(&self) -> RectI {
        ImageViewMut::bounds(self)
    }
    fn components(&self) -> Components {
        self.layout().components
    }
    fn rows_mut(&mut self) -> Vec<(i32, RowMut<'_>)> {
        ImageViewMut::rows_mut(self)
    }
}

const BYTE_MAX: f32 = 255.0;
const SHORT_MAX: f32 = 65535.0;

/// One host row into RGBA f32 (`out` is width * 4 long).
fn load<T: Copy>(src: &[T], comps: Components, out: &mut [f32], f: impl Fn(T) -> f32) {
    match comps {
        Components::Rgba => out.iter_mut().zip(src).for_each(|(o, &s)| *o = f(s)),
        Components::Rgb => out
            .chunks_exact_mut(4)
            .zip(src.chunks_exact(3))
            .for_each(|(o, s)| {
                o[0] = f(s[0]);
                o[1] = f(s[1]);
                o[2] = f(s[2]);
                o[3] = 1.0;
            }),
        Components::Alpha => out
            .chunks_exact_mut(4)
            .zip(src)
            .for_each(|(o, &s)| o.copy_from_slice(&[0.0, 0.0, 0.0, f(s)])),
        Components::None => out.fill(0.0),
    }
}

/// RGBA f32 pixels into one host row span (`dst` holds exactly those pixels).
fn store<T: Copy>(px: &[f32], comps: Components, dst: &mut [T], f: impl Fn(f32) -> T) {
    match comps {
        Components::Rgba => dst.iter_mut().zip(px).for_each(|(d, &v)| *d = f(v)),
        Components::Rgb => dst
            .chunks_exact_mut(3)
            .zip(px.chunks_exact(4))
            .for_each(|(d, p)| {
                d[0] = f(p[0]);
                d[1] = f(p[1]);
                d[2] = f(p[2]);
            }),
        Components::Alpha => dst
            .iter_mut()
            .zip(px.chunks_exact(4))
            .for_each(|(d, p)| *d = f(p[3])),
        Components::None => {}
    }
}

fn to_byte(v: f32) -> u8 {
    // NaN clamps to 0 (`as` saturates and maps NaN to 0).
    (v.clamp(0.0, 1.0) * BYTE_MAX).round() as u8
}

fn to_short(v: f32) -> u16 {
    (v.clamp(0.0, 1.0) * SHORT_MAX).round() as u16
}

/// Rows one thread converts and hashes in one go: enough to amortise the scheduling, few enough
/// that two cores share a 2160-row frame evenly.
const BAND_ROWS: usize = 8;

/// One host row into RGBA f32 (`out` is width * 4 long; every value is written).
fn load_row(row: &Row<'_>, comps: Components, out: &mut [f32]) {
    match row {
        Row::Float(r) => load(r, comps, out, |v| v),
        Row::Short(r) => load(r, comps, out, |v| v as f32 / SHORT_MAX),
        Row::Byte(r) => load(r, comps, out, |v| v as f32 / BYTE_MAX),
    }
}

/// Reads a whole source image into top-down RGBA. RGB gets alpha 1; an Alpha-only image gives
/// black with that alpha. The host's bounds are checked against the engine's plate limits and the
/// buffer is allocated fallibly: a bogus or huge image is an error, never an abort.
pub fn read_rgba(src: &impl SourceRows) -> Result<RgbaImage, EngineError> {
    read_rgba_hashed(src).map(|(img, _)| img)
}

/// [`read_rgba`] and the image's content hash (`cache::hash_image` of the result) in one parallel
/// pass over bands of rows: each row is read, converted and hashed while it is in the core's cache,
/// into a resident buffer kept from an earlier frame when there is one (`buffers.rs`).
pub fn read_rgba_hashed(src: &impl SourceRows) -> Result<(RgbaImage, u128), EngineError> {
    let b = src.bounds();
    let (w, h) = (b.width(), b.height());
    limits::check_plate(w, h).map_err(EngineError::BadInput)?;
    let mut data = buffers::take(w * h * 4, "the source image")?;
    let rows = if w == 0 || h == 0 { 0 } else { h };
    let mut hashes = vec![0u128; rows];
    let comps = src.components();
    data.par_chunks_mut((w * 4 * BAND_ROWS).max(1))
        .zip(hashes.par_chunks_mut(BAND_ROWS))
        .enumerate()
        .for_each(|(band, (out, hs))| {
            for (i, (out, hash)) in out.chunks_mut(w * 4).zip(hs).enumerate() {
                match src.row(b.y2 - 1 - (band * BAND_ROWS + i) as i32) {
                    Some(row) => load_row(&row, comps, out),
                    None => out.fill(0.0),
                }
                *hash = cache::row_hash(out);
            }
        });
    let hash = cache::image_hash(&hashes, w, 4);
    Ok((
        RgbaImage {
            width: w,
            height: h,
            data,
        },
        hash,
    ))
}

/// Reads a matte into `window` (the Source's pixel bounds, already checked), zero outside the
/// matte's own bounds. The alpha channel of RGBA, the single channel of Alpha, the red channel of
/// RGB.
pub fn read_matte(src: &impl SourceRows, window: RectI) -> Result<MatteImage, EngineError> {
    read_matte_hashed(src, window).map(|(img, _)| img)
}

/// One channel of `src` (samples `n` apart from `channel`) into `out`, converted.
fn pick<T: Copy>(src: &[T], n: usize, channel: usize, out: &mut [f32], f: impl Fn(T) -> f32) {
    let samples = src.iter().skip(channel).step_by(n);
    out.iter_mut().zip(samples).for_each(|(o, &s)| *o = f(s));
}

/// Where a matte's samples sit: `n` samples a pixel, the one read is `channel`; `inter` is the part
/// of the window the matte covers, `x0` the matte's first column.
#[derive(Clone, Copy)]
struct MatteLayout {
    n: usize,
    channel: usize,
    inter: RectI,
    x0: i32,
    window_x1: i32,
}

/// One matte row of the window (`out`, every value written): the matte's samples where it has
/// them, zero elsewhere.
fn matte_row(row: Option<Row<'_>>, m: MatteLayout, out: &mut [f32]) {
    let Some(row) = row else {
        out.fill(0.0);
        return;
    };
    let (sx, dx, len) = (
        (m.inter.x1 - m.x0) as usize,
        (m.inter.x1 - m.window_x1) as usize,
        m.inter.width(),
    );
    let span = sx * m.n..(sx + len) * m.n;
    out[..dx].fill(0.0);
    out[dx + len..].fill(0.0);
    let (dst, c) = (&mut out[dx..dx + len], m.channel);
    match row {
        Row::Float(r) => pick(&r[span], m.n, c, dst, |v| v),
        Row::Short(r) => pick(&r[span], m.n, c, dst, |v| v as f32 / SHORT_MAX),
        Row::Byte(r) => pick(&r[span], m.n, c, dst, |v| v as f32 / BYTE_MAX),
    }
}

/// [`read_matte`] and its content hash (`cache::hash_image` of the result), in one parallel pass
/// as [`read_rgba_hashed`].
pub fn read_matte_hashed(
    src: &impl SourceRows,
    window: RectI,
) -> Result<(MatteImage, u128), EngineError> {
    let (w, h) = (window.width(), window.height());
    limits::check_plate(w, h).map_err(EngineError::BadInput)?;
    let mut data = buffers::take(w * h, "a matte")?;
    let comps = src.components();
    let m = MatteLayout {
        n: comps.count(),
        channel: if comps == Components::Rgba { 3 } else { 0 },
        inter: window.intersect(&src.bounds()),
        x0: src.bounds().x1,
        window_x1: window.x1,
    };
    let mut hashes = vec![0u128; if w == 0 || h == 0 { 0 } else { h }];
    data.par_chunks_mut(w.max(1) * BAND_ROWS)
        .zip(hashes.par_chunks_mut(BAND_ROWS))
        .enumerate()
        .for_each(|(band, (out, hs))| {
            for (i, (out, hash)) in out.chunks_mut(w).zip(hs).enumerate() {
                let y = window.y2 - 1 - (band * BAND_ROWS + i) as i32;
                let covered = m.n > 0 && !m.inter.is_empty() && m.inter.contains_row(y);
                matte_row(covered.then(|| src.row(y)).flatten(), m, out);
                *hash = cache::row_hash(out);
            }
        });
    let hash = cache::image_hash(&hashes, w, 1);
    Ok((
        MatteImage {
            width: w,
            height: h,
            data,
        },
        hash,
    ))
}

/// Copies `src` into `dst` over `render_window` row by row, converting depths, without a
/// whole-image buffer: the pass-through for a source the engine cannot take (too large, no memory).
/// Pixels outside `src` become transparent black.
pub fn copy_through(dst: &mut impl SinkRows, src: &impl SourceRows, render_window: RectI) {
    let area = dst.bounds().intersect(&render_window);
    if area.is_empty() {
        return;
    }
    let (comps, n, db) = (dst.components(), dst.components().count(), dst.bounds());
    let (sb, sc) = (src.bounds(), src.components());
    let mut px = vec![0.0f32; area.width() * 4];
    let mut row_in = vec![0.0f32; area.width() * 4];
    for (y, row) in dst.rows_mut() {
        if y < area.y1 || y >= area.y2 {
            continue;
        }
        px.iter_mut().for_each(|v| *v = 0.0);
        let x1 = area.x1.max(sb.x1);
        let x2 = area.x2.min(sb.x2);
        if x1 < x2 {
            if let Some(src_row) = src.row(y) {
                let (k, len) = (sc.count(), (x2 - x1) as usize);
                let span = (x1 - sb.x1) as usize * k..(x2 - sb.x1) as usize * k;
                let out = &mut row_in[..len * 4];
                out.iter_mut().for_each(|v| *v = 0.0);
                match src_row {
                    Row::Float(r) => load(&r[span], sc, out, |v| v),
                    Row::Short(r) => load(&r[span], sc, out, |v| v as f32 / SHORT_MAX),
                    Row::Byte(r) => load(&r[span], sc, out, |v| v as f32 / BYTE_MAX),
                }
                let off = (x1 - area.x1) as usize * 4;
                px[off..off + len * 4].copy_from_slice(out);
            }
        }
        let span = (area.x1 - db.x1) as usize * n..(area.x2 - db.x1) as usize * n;
        match row {
            RowMut::Float(r) => store(&px, comps, &mut r[span], |v| v),
            RowMut::Short(r) => store(&px, comps, &mut r[span], to_short),
            RowMut::Byte(r) => store(&px, comps, &mut r[span], to_byte),
        }
    }
}

/// One host row span (`dst`, the render window's pixels) from RGBA f32 pixels, converted.
fn store_row(px: &[f32], comps: Components, dst: RowMut<'_>, span: std::ops::Range<usize>) {
    match dst {
        RowMut::Float(r) if comps == Components::Rgba => r[span].copy_from_slice(px),
        RowMut::Float(r) => store(px, comps, &mut r[span], |v| v),
        RowMut::Short(r) => store(px, comps, &mut r[span], to_short),
        RowMut::Byte(r) => store(px, comps, &mut r[span], to_byte),
    }
}

/// The pixels of `image` (top-down, covering `win`) on OFX row `y` inside `area`, and where they
/// start in the area's row (in f32 values); None when the image has none there.
fn image_span(image: Option<(&RgbaImage, RectI)>, area: RectI, y: i32) -> Option<(&[f32], usize)> {
    let (img, win) = image?;
    let (x1, x2) = (area.x1.max(win.x1), area.x2.min(win.x2));
    (win.contains_row(y) && x1 < x2).then(|| {
        let r = (win.y2 - 1 - y) as usize * img.width;
        let s = &img.data[(r + (x1 - win.x1) as usize) * 4..(r + (x2 - win.x1) as usize) * 4];
        (s, (x1 - area.x1) as usize * 4)
    })
}

/// Writes `image` (top-down, covering `window`) into `dst` over `render_window`; pixels outside
/// `window` (or all of them when `image` is None) become transparent black. Rows and columns of
/// `dst` outside `render_window` are left alone. One parallel pass over bands of rows: a row the
/// image covers is converted straight from it (float RGBA is a plain copy), others go through a
/// per-thread staging row.
pub fn write_rgba(
    dst: &mut impl SinkRows,
    image: Option<(&RgbaImage, RectI)>,
    render_window: RectI,
) {
    let area = dst.bounds().intersect(&render_window);
    if area.is_empty() {
        return;
    }
    let (comps, db) = (dst.components(), dst.bounds());
    let n = comps.count();
    let span = (area.x1 - db.x1) as usize * n..(area.x2 - db.x1) as usize * n;
    let image = image.filter(|(img, win)| img.width == win.width() && img.height == win.height());
    let rows: Vec<(i32, RowMut<'_>)> = dst
        .rows_mut()
        .into_iter()
        .filter(|(y, _)| (area.y1..area.y2).contains(y))
        .collect();
    rows.into_par_iter().with_min_len(BAND_ROWS).for_each_init(
        || vec![0.0f32; area.width() * 4],
        |px, (y, row)| match image_span(image, area, y) {
            Some((s, 0)) if s.len() == px.len() => store_row(s, comps, row, span.clone()),
            src => {
                px.iter_mut().for_each(|v| *v = 0.0);
                if let Some((s, off)) = src {
                    px[off..off + s.len()].copy_from_slice(s);
                }
                store_row(px, comps, row, span.clone());
            }
        },
    );
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A host-like image in memory: rows bottom-up like OFX, any depth.
    pub struct TestImage {
        pub bounds: RectI,
        pub comps: Components,
        pub data: TestData,
    }

    pub enum TestData {
        Byte(Vec<u8>),
        Short(Vec<u16>),
        Float(Vec<f32>),
    }

    impl TestImage {
        fn stride(&self) -> usize {
            self.bounds.width() * self.comps.count()
        }
        pub fn float(bounds: RectI, comps: Components, f: impl Fn(i32, i32, usize) -> f32) -> Self {
            let mut v = Vec::new();
            for y in bounds.y1..bounds.y2 {
                for x in bounds.x1..bounds.x2 {
                    for c in 0..comps.count() {
                        v.push(f(x, y, c));
                    }
                }
            }
            TestImage {
                bounds,
                comps,
                data: TestData::Float(v),
            }
        }
        fn range(&self, y: i32) -> Option<std::ops::Range<usize>> {
            self.bounds.contains_row(y).then(|| {
                let s = (y - self.bounds.y1) as usize * self.stride();
                s..s + self.stride()
            })
        }
    }

    impl SourceRows for TestImage {
        fn bounds(&self) -> RectI {
            self.bounds
        }
        fn components(&self) -> Components {
            self.comps
        }
        fn row(&self, y: i32) -> Option<Row<'_>> {
            let r = self.range(y)?;
            Some(match &self.data {
                TestData::Byte(v) => Row::Byte(&v[r]),
                TestData::Short(v) => Row::Short(&v[r]),
                TestData::Float(v) => Row::Float(&v[r]),
            })
        }
    }

    impl SinkRows for TestImage {
        fn bounds(&self) -> RectI {
            self.bounds
        }
        fn components(&self) -> Components {
            self.comps
        }
        fn rows_mut(&mut self) -> Vec<(i32, RowMut<'_>)> {
            let stride = self.stride().max(1);
            let ys = self.bounds.y1..self.bounds.y2;
            match &mut self.data {
                TestData::Byte(v) => ys
                    .zip(v.chunks_mut(stride))
                    .map(|(y, r)| (y, RowMut::Byte(r)))
                    .collect(),
                TestData::Short(v) => ys
                    .zip(v.chunks_mut(stride))
                    .map(|(y, r)| (y, RowMut::Short(r)))
                    .collect(),
                TestData::Float(v) => ys
                    .zip(v.chunks_mut(stride))
                    .map(|(y, r)| (y, RowMut::Float(r)))
                    .collect(),
            }
        }
    }

    fn rect(x1: i32, y1: i32, x2: i32, y2: i32) -> RectI {
        RectI { x1, y1, x2, y2 }
    }

    #[test]
    fn read_flips_rows_to_top_down() {
        // Value encodes (x, y): row y = y1 is the bottom of the picture.
        let src = TestImage::float(rect(5, 10, 8, 12), Components::Rgba, |x, y, c| {
            (y * 100 + x) as f32 + c as f32 * 0.1
        });
        let img = read_rgba(&src).unwrap();
        assert_eq!((img.width, img.height), (3, 2));
        // Engine row 0 = OFX y 11 (top); row 1 = y 10.
        assert_eq!(&img.data[0..4], &[1105.0, 1105.1, 1105.2, 1105.3]);
        assert_eq!(img.data[4 * 3], 1005.0);
        assert_eq!(img.data[4 * 5], 1007.0);
    }

    #[test]
    fn hashed_read_hashes_what_it_read() {
        let src = TestImage::float(rect(3, -2, 40, 19), Components::Rgba, |x, y, c| {
            (x * 7 + y * 3) as f32 * 0.01 + c as f32
        });
        let (img, h) = read_rgba_hashed(&src).unwrap();
        assert_eq!(img, read_rgba(&src).unwrap());
        assert_eq!(h, cache::hash_image(&img.data, img.width, 4));
        let mut other = img.clone();
        other.data[77] += 1.0;
        assert_ne!(h, cache::hash_image(&other.data, other.width, 4));
    }

    #[test]
    fn read_converts_depths_and_rgb() {
        let b = rect(0, 0, 1, 1);
        let bytes = TestImage {
            bounds: b,
            comps: Components::Rgba,
            data: TestData::Byte(vec![0, 51, 255, 128]),
        };
        let img = read_rgba(&bytes).unwrap();
        assert_eq!(img.data[0], 0.0);
        assert!((img.data[1] - 0.2).abs() < 1e-6);
        assert_eq!(img.data[2], 1.0);
        let shorts = TestImage {
            bounds: b,
            comps: Components::Rgb,
            data: TestData::Short(vec![65535, 0, 32768]),
        };
        let img = read_rgba(&shorts).unwrap();
        assert_eq!(img.data[0], 1.0);
        assert!((img.data[2] - 0.500_007_6).abs() < 1e-6);
        assert_eq!(img.data[3], 1.0, "RGB gets opaque alpha");
    }

    #[test]
    fn matte_is_placed_in_the_source_window() {
        // Source window 4x3 at (0,0); the matte covers only x 2..6, y 1..2 (one row).
        let window = rect(0, 0, 4, 3);
        let matte = TestImage::float(rect(2, 1, 6, 2), Components::Rgba, |x, _, c| {
            if c == 3 {
                x as f32
            } else {
                -1.0
            }
        });
        let m = read_matte(&matte, window).unwrap();
        assert_eq!((m.width, m.height), (4, 3));
        // OFX y 1 is engine row 1 (window.y2 - 1 - 1).
        assert_eq!(
            m.data,
            vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0]
        );
        let alpha = TestImage {
            bounds: rect(0, 2, 1, 3),
            comps: Components::Alpha,
            data: TestData::Byte(vec![255]),
        };
        let m = read_matte(&alpha, window).unwrap();
        assert_eq!(m.data[0], 1.0, "top-left pixel");
        assert_eq!(m.data.iter().sum::<f32>(), 1.0);
        let outside = TestImage::float(rect(10, 10, 12, 12), Components::Alpha, |_, _, _| 1.0);
        assert!(read_matte(&outside, window)
            .unwrap()
            .data
            .iter()
            .all(|&v| v == 0.0));
    }

    #[test]
    fn write_round_trips_and_clears_outside() {
        let win = rect(1, 1, 3, 3);
        let src = TestImage::float(win, Components::Rgba, |x, y, c| {
            (x * 10 + y) as f32 + c as f32
        });
        let img = read_rgba(&src).unwrap();
        let mut dst = TestImage::float(rect(0, 0, 4, 4), Components::Rgba, |_, _, _| 9.0);
        write_rgba(&mut dst, Some((&img, win)), rect(0, 0, 4, 3));
        for y in 0..4 {
            for x in 0..4 {
                let Some(Row::Float(r)) = dst.row(y) else {
                    panic!()
                };
                let v = r[x as usize * 4];
                let expected = if y == 3 {
                    9.0 // outside the render window: untouched
                } else if (1..3).contains(&x) && (1..3).contains(&y) {
                    (x * 10 + y) as f32
                } else {
                    0.0
                };
                assert_eq!(v, expected, "({x},{y})");
            }
        }
    }

    #[test]
    fn write_clamps_for_integer_depths() {
        let win = rect(0, 0, 2, 1);
        let img = RgbaImage {
            width: 2,
            height: 1,
            data: vec![-0.5, 0.5, 1.5, f32::NAN, 0.2, 0.4, 0.6, 1.0],
        };
        let mut dst = TestImage {
            bounds: win,
            comps: Components::Rgba,
            data: TestData::Byte(vec![7; 8]),
        };
        write_rgba(&mut dst, Some((&img, win)), win);
        let TestData::Byte(v) = &dst.data else {
            panic!()
        };
        assert_eq!(v, &vec![0, 128, 255, 0, 51, 102, 153, 255]);
        let mut dst = TestImage {
            bounds: win,
            comps: Components::Alpha,
            data: TestData::Short(vec![7; 2]),
        };
        write_rgba(&mut dst, Some((&img, win)), win);
        let TestData::Short(v) = &dst.data else {
            panic!()
        };
        assert_eq!(v, &vec![0, 65535]);
        let mut dst = TestImage {
            bounds: win,
            comps: Components::Rgb,
            data: TestData::Float(vec![7.0; 6]),
        };
        write_rgba(&mut dst, None, win);
        let TestData::Float(v) = &dst.data else {
            panic!()
        };
        assert!(v.iter().all(|&x| x == 0.0));
    }
}
