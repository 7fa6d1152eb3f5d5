//! Pixel formats and bounds-checked views of host image memory (any rowBytes sign).

use std::ffi::CStr;

use openfx_sys::OfxRectI;

use crate::status::{Error, Result, Status};

/// Integer pixel rectangle, x2/y2 exclusive (OFX `OfxRectI`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RectI {
    pub x1: i32,
    pub y1: i32,
    pub x2: i32,
    pub y2: i32,
}

impl RectI {
    pub fn width(&self) -> usize {
        (self.x2 as i64 - self.x1 as i64).max(0) as usize
    }
    pub fn height(&self) -> usize {
        (self.y2 as i64 - self.y1 as i64).max(0) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.width() == 0 || self.height() == 0
    }
    pub fn intersect(&self, o: &RectI) -> RectI {
        RectI {
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
            x2: self.x2.min(o.x2),
            y2: self.y2.min(o.y2),
        }
    }
    pub fn contains_row(&self, y: i32) -> bool {
        y >= self.y1 && y < self.y2
    }
}

impl From<OfxRectI> for RectI {
    fn from(r: OfxRectI) -> Self {
        RectI {
            x1: r.x1,
            y1: r.y1,
            x2: r.x2,
            y2: r.y2,
        }
    }
}

/// Canonical-coordinate rectangle (OFX `OfxRectD`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RectD {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
}

impl RectD {
    pub fn to_array(self) -> [f64; 4] {
        [self.x1, self.y1, self.x2, self.y2]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitDepth {
    None,
    Byte,
    Short,
    Half,
    Float,
}

impl BitDepth {
    pub fn name(self) -> &'static CStr {
        match self {
            BitDepth::None => crate::k!(kOfxBitDepthNone),
            BitDepth::Byte => crate::k!(kOfxBitDepthByte),
            BitDepth::Short => crate::k!(kOfxBitDepthShort),
            BitDepth::Half => crate::k!(kOfxBitDepthHalf),
            BitDepth::Float => crate::k!(kOfxBitDepthFloat),
        }
    }
    pub fn parse(s: &str) -> Option<BitDepth> {
        [
            BitDepth::None,
            BitDepth::Byte,
            BitDepth::Short,
            BitDepth::Half,
            BitDepth::Float,
        ]
        .into_iter()
        .find(|d| d.name().to_bytes() == s.as_bytes())
    }
    /// Bytes per channel sample.
    pub fn sample_bytes(self) -> usize {
        match self {
            BitDepth::None => 0,
            BitDepth::Byte => 1,
            BitDepth::Short | BitDepth::Half => 2,
            BitDepth::Float => 4,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Components {
    None,
    Rgba,
    Rgb,
    Alpha,
}

impl Components {
    pub fn name(self) -> &'static CStr {
        match self {
            Components::None => crate::k!(kOfxImageComponentNone),
            Components::Rgba => crate::k!(kOfxImageComponentRGBA),
            Components::Rgb => crate::k!(kOfxImageComponentRGB),
            Components::Alpha => crate::k!(kOfxImageComponentAlpha),
        }
    }
    pub fn parse(s: &str) -> Option<Components> {
        [
            Components::None,
            Components::Rgba,
            Components::Rgb,
            Components::Alpha,
        ]
        .into_iter()
        .find(|c| c.name().to_bytes() == s.as_bytes())
    }
    pub fn count(self) -> usize {
        match self {
            Components::None => 0,
            Components::Rgba => 4,
            Components::Rgb => 3,
            Components::Alpha => 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Premult {
    Opaque,
    PreMultiplied,
    UnPreMultiplied,
}

impl Premult {
    pub fn name(self) -> &'static CStr {
        match self {
            Premult::Opaque => crate::k!(kOfxImageOpaque),
            Premult::PreMultiplied => crate::k!(kOfxImagePreMultiplied),
            Premult::UnPreMultiplied => crate::k!(kOfxImageUnPreMultiplied),
        }
    }
    pub fn parse(s: &str) -> Option<Premult> {
        [
            Premult::Opaque,
            Premult::PreMultiplied,
            Premult::UnPreMultiplied,
        ]
        .into_iter()
        .find(|p| p.name().to_bytes() == s.as_bytes())
    }
}

/// The layout of one host image: where row `bounds.y1` starts and how far apart rows are.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub bounds: RectI,
    /// Byte distance from row y to row y+1; negative when rows go down in memory.
    pub row_bytes: isize,
    pub depth: BitDepth,
    pub components: Components,
}

impl Layout {
    fn pixel_bytes(&self) -> usize {
        self.depth.sample_bytes() * self.components.count()
    }

    fn validate(&self, data: *const u8) -> Result<()> {
        let bad = |why: &str| {
            Err(Error::new(
                Status::ErrImageFormat,
                format!("image {why}: {self:?}"),
            ))
        };
        if matches!(self.depth, BitDepth::None | BitDepth::Half) {
            return bad("has an unsupported depth");
        }
        if self.components == Components::None {
            return bad("has no components");
        }
        if self.bounds.is_empty() {
            return Ok(());
        }
        if data.is_null() {
            return bad("has NULL data");
        }
        let align = self.depth.sample_bytes();
        if !(data as usize).is_multiple_of(align)
            || !self.row_bytes.unsigned_abs().is_multiple_of(align)
        {
            return bad("is misaligned");
        }
        if self.row_bytes.unsigned_abs() < self.bounds.width() * self.pixel_bytes() {
            return bad("has rows shorter than its width");
        }
        Ok(())
    }

    /// Byte offset of row `y` from the data pointer, or None outside the bounds.
    fn row_offset(&self, y: i32) -> Option<isize> {
        self.bounds
            .contains_row(y)
            .then(|| (y - self.bounds.y1) as isize * self.row_bytes)
    }

    fn samples_per_row(&self) -> usize {
        self.bounds.width() * self.components.count()
    }
}

/// One row of samples, `width * components` long.
#[derive(Debug)]
pub enum Row<'a> {
    Byte(&'a [u8]),
    Short(&'a [u16]),
    Float(&'a [f32]),
}

/// One writable row of samples.
#[derive(Debug)]
pub enum RowMut<'a> {
    Byte(&'a mut [u8]),
    Short(&'a mut [u16]),
    Float(&'a mut [f32]),
}

/// Read-only view of host pixels, rows addressed by their OFX y coordinate (bottom-up).
#[derive(Clone, Copy, Debug)]
pub struct ImageView<'a> {
    data: *const u8,
    layout: Layout,
    _life: std::marker::PhantomData<&'a [u8]>,
}

// SAFETY: a read-only view of memory the host keeps alive for 'a; sharing reads across threads is fine.
unsafe impl Send for ImageView<'_> {}
// SAFETY: as above.
unsafe impl Sync for ImageView<'_> {}

impl<'a> ImageView<'a> {
    /// # Safety
    /// `data` points at pixel (x1, y1); every row in `layout.bounds`, `row_bytes` apart, is readable
    /// for `width * components` samples for 'a, and nobody writes it meanwhile.
    pub unsafe fn from_raw_parts(data: *const u8, layout: Layout) -> Result<Self> {
        layout.validate(data)?;
        Ok(Self {
            data,
            layout,
            _life: std::marker::PhantomData,
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }
    pub fn bounds(&self) -> RectI {
        self.layout.bounds
    }

    /// Row `y` (OFX coordinates), or None outside the bounds.
    pub fn row(&self, y: i32) -> Option<Row<'a>> {
        let off = self.layout.row_offset(y)?;
        let n = self.layout.samples_per_row();
        let len = n * self.layout.depth.sample_bytes();
        // SAFETY: y is inside the bounds, so the row start is inside the host buffer (constructor
        // contract) and a row holds n samples (validate()).
        let bytes = unsafe { std::slice::from_raw_parts(self.data.offset(off), len) };
        // validate() checked the alignment, so the typed views cannot fail.
        Some(match self.layout.depth {
            BitDepth::Byte => Row::Byte(bytes),
            BitDepth::Short => Row::Short(bytemuck::try_cast_slice(bytes).ok()?),
            BitDepth::Float => Row::Float(bytemuck::try_cast_slice(bytes).ok()?),
            BitDepth::None | BitDepth::Half => return None,
        })
    }
}

/// Writable view of host pixels, rows addressed by their OFX y coordinate.
#[derive(Debug)]
pub struct ImageViewMut<'a> {
    data: *mut u8,
    layout: Layout,
    _life: std::marker::PhantomData<&'a mut [u8]>,
}

// SAFETY: exclusive access to host memory for 'a; moving it to another thread is fine.
unsafe impl Send for ImageViewMut<'_> {}

impl<'a> ImageViewMut<'a> {
    /// # Safety
    /// As [`ImageView::from_raw_parts`], and the rows are writable and not accessed elsewhere for 'a.
    pub unsafe fn from_raw_parts(data: *mut u8, layout: Layout) -> Result<Self> {
        layout.validate(data)?;
        Ok(Self {
            data,
            layout,
            _life: std::marker::PhantomData,
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }
    pub fn bounds(&self) -> RectI {
        self.layout.bounds
    }

    /// Row `y` (OFX coordinates) for writing, or None outside the bounds.
    pub fn row_mut(&mut self, y: i32) -> Option<RowMut<'_>> {
        let off = self.layout.row_offset(y)?;
        let n = self.layout.samples_per_row();
        let len = n * self.layout.depth.sample_bytes();
        // SAFETY: as in ImageView::row; &mut self makes the returned row the only live borrow.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.data.offset(off), len) };
        Self::typed(self.layout.depth, bytes)
    }

    /// Every row at once with its OFX y, bottom to top, for writing them in parallel.
    pub fn rows_mut(&mut self) -> Vec<(i32, RowMut<'_>)> {
        let b = self.layout.bounds;
        let n = self.layout.samples_per_row();
        let len = n * self.layout.depth.sample_bytes();
        let (data, depth) = (self.data, self.layout.depth);
        (b.y1..b.y2)
            .filter_map(|y| {
                let off = self.layout.row_offset(y)?;
                // SAFETY: each row start is inside the host buffer (constructor contract) and holds
                // n samples; validate() checked |rowBytes| >= a row's bytes, so the rows of distinct
                // y never overlap, and &mut self keeps them the only live borrows for their lifetime.
                let bytes = unsafe { std::slice::from_raw_parts_mut(data.offset(off), len) };
                Some((y, Self::typed(depth, bytes)?))
            })
            .collect()
    }

    fn typed(depth: BitDepth, bytes: &mut [u8]) -> Option<RowMut<'_>> {
        // validate() checked the alignment, so the typed views cannot fail.
        Some(match depth {
            BitDepth::Byte => RowMut::Byte(bytes),
            BitDepth::Short => RowMut::Short(bytemuck::try_cast_slice_mut(bytes).ok()?),
            BitDepth::Float => RowMut::Float(bytemuck::try_cast_slice_mut(bytes).ok()?),
            BitDepth::None | BitDepth::Half => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(bounds: RectI, row_bytes: isize, depth: BitDepth, components: Components) -> Layout {
        Layout {
            bounds,
            row_bytes,
            depth,
            components,
        }
    }

    #[test]
    fn negative_row_bytes_walks_down_in_memory() {
        // 3 rows of 2 RGBA float pixels with 1 float of padding; row y1 is the LAST in memory.
        let stride = 2 * 4 + 1;
        let mut buf = vec![0.0f32; stride * 3];
        for (mem_row, chunk) in buf.chunks_mut(stride).enumerate() {
            chunk.iter_mut().for_each(|v| *v = mem_row as f32);
        }
        let bounds = RectI {
            x1: 10,
            y1: 20,
            x2: 12,
            y2: 23,
        };
        let rb = -((stride * 4) as isize);
        // SAFETY: the pointer is at the last memory row; rows 20..23 walk back inside `buf`.
        let view = unsafe {
            ImageView::from_raw_parts(
                buf.as_ptr().add(stride * 2) as *const u8,
                layout(bounds, rb, BitDepth::Float, Components::Rgba),
            )
        }
        .unwrap();
        for (y, mem_row) in [(20, 2.0f32), (21, 1.0), (22, 0.0)] {
            match view.row(y).unwrap() {
                Row::Float(r) => {
                    assert_eq!(r.len(), 8);
                    assert!(r.iter().all(|&v| v == mem_row), "row {y}");
                }
                _ => panic!("wrong depth"),
            }
        }
        assert!(view.row(19).is_none());
        assert!(view.row(23).is_none());
    }

    #[test]
    fn positive_row_bytes_and_writes() {
        let mut buf = vec![0u16; 3 * 2];
        let bounds = RectI {
            x1: -1,
            y1: -1,
            x2: 0,
            y2: 1,
        };
        // SAFETY: 2 rows of 1 RGB short pixel, 6 bytes apart, inside `buf`.
        let mut view = unsafe {
            ImageViewMut::from_raw_parts(
                buf.as_mut_ptr() as *mut u8,
                layout(bounds, 6, BitDepth::Short, Components::Rgb),
            )
        }
        .unwrap();
        match view.row_mut(0).unwrap() {
            RowMut::Short(r) => r.copy_from_slice(&[7, 8, 9]),
            _ => panic!("wrong depth"),
        }
        assert!(view.row_mut(1).is_none());
        assert_eq!(buf, vec![0, 0, 0, 7, 8, 9]);
    }

    #[test]
    fn rejects_bad_layouts() {
        let buf = [0u8; 64];
        let b = RectI {
            x1: 0,
            y1: 0,
            x2: 4,
            y2: 1,
        };
        let check = |p: *const u8, l: Layout| {
            // SAFETY: validation fails before any read.
            unsafe { ImageView::from_raw_parts(p, l) }
                .map(|_| ())
                .unwrap_err()
                .status()
        };
        let short_rows = layout(b, 8, BitDepth::Float, Components::Rgba);
        assert_eq!(
            check(buf.as_ptr(), short_rows),
            Some(Status::ErrImageFormat)
        );
        let null = layout(b, 64, BitDepth::Byte, Components::Rgba);
        assert_eq!(check(std::ptr::null(), null), Some(Status::ErrImageFormat));
        let half = layout(b, 64, BitDepth::Half, Components::Rgba);
        assert_eq!(check(buf.as_ptr(), half), Some(Status::ErrImageFormat));
        let aligned = buf.as_ptr().align_offset(4);
        let misaligned = layout(b, 64, BitDepth::Float, Components::Alpha);
        // SAFETY: pointer arithmetic inside `buf`.
        let p = unsafe { buf.as_ptr().add(aligned + 1) };
        assert_eq!(check(p, misaligned), Some(Status::ErrImageFormat));
    }

    #[test]
    fn names_round_trip() {
        for d in [BitDepth::Byte, BitDepth::Short, BitDepth::Float] {
            assert_eq!(BitDepth::parse(d.name().to_str().unwrap()), Some(d));
        }
        assert_eq!(
            Components::parse("OfxImageComponentAlpha"),
            Some(Components::Alpha)
        );
        assert_eq!(
            Premult::parse("OfxImageAlphaPremultiplied"),
            Some(Premult::PreMultiplied)
        );
        assert_eq!(Components::parse("OfxImageComponentMotionVectors"), None);
    }
}
