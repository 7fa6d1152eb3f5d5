//! Clips and the images fetched from them.

use std::ptr;

use openfx_sys::{OfxImageClipHandle, OfxPropertySetHandle, OfxRectD};

use crate::image::{BitDepth, Components, ImageView, ImageViewMut, Layout, Premult, RectD, RectI};
use crate::props::PropertySet;
use crate::status::{Error, Result, Status};
use crate::suites::Suites;

/// A clip of an effect instance.
#[derive(Clone, Copy, Debug)]
pub struct Clip {
    handle: OfxImageClipHandle,
    props: PropertySet,
    suites: Suites,
    name_len: usize,
    name: [u8; 32],
}

// SAFETY: an opaque host token; OFX allows clip calls from the threads running the instance's actions.
unsafe impl Send for Clip {}
// SAFETY: as above; no Rust-side mutable state.
unsafe impl Sync for Clip {}

fn parse<T>(s: String, what: &str, f: fn(&str) -> Option<T>) -> Result<T> {
    f(&s).ok_or_else(|| Error::new(Status::ErrFormat, format!("unknown {what} {s:?}")))
}

// Clips and images carry the same format properties; both read them through these.

fn pixel_depth(props: &PropertySet) -> Result<BitDepth> {
    let s = props.get_string(crate::k!(kOfxImageEffectPropPixelDepth), 0)?;
    parse(s, "pixel depth", BitDepth::parse)
}

fn components(props: &PropertySet) -> Result<Components> {
    let s = props.get_string(crate::k!(kOfxImageEffectPropComponents), 0)?;
    parse(s, "components", Components::parse)
}

fn premultiplication(props: &PropertySet) -> Result<Premult> {
    let s = props.get_string(crate::k!(kOfxImageEffectPropPreMultiplication), 0)?;
    parse(s, "premultiplication", Premult::parse)
}

impl Clip {
    pub(crate) fn new(
        handle: OfxImageClipHandle,
        props: PropertySet,
        suites: Suites,
        name: &str,
    ) -> Result<Self> {
        if handle.is_null() {
            return Err(Error::new(
                Status::ErrBadHandle,
                format!("NULL clip {name}"),
            ));
        }
        let mut buf = [0u8; 32];
        let n = name.len().min(32);
        buf[..n].copy_from_slice(&name.as_bytes()[..n]);
        Ok(Self {
            handle,
            props,
            suites,
            name_len: n,
            name: buf,
        })
    }

    pub fn name(&self) -> &str {
        std::str::from_utf8(&self.name[..self.name_len]).unwrap_or("?")
    }

    pub fn properties(&self) -> PropertySet {
        self.props
    }

    /// `kOfxImageClipPropConnected`; a host that lacks the property counts as connected.
    pub fn is_connected(&self) -> bool {
        self.props
            .get_bool(crate::k!(kOfxImageClipPropConnected), 0)
            .unwrap_or(true)
    }

    pub fn pixel_depth(&self) -> Result<BitDepth> {
        pixel_depth(&self.props)
    }

    pub fn components(&self) -> Result<Components> {
        components(&self.props)
    }

    pub fn premultiplication(&self) -> Result<Premult> {
        premultiplication(&self.props)
    }

    /// Region of definition in canonical coordinates.
    pub fn region_of_definition(&self, time: f64) -> Result<RectD> {
        let f = self
            .suites
            .effect
            .clipGetRegionOfDefinition
            .ok_or_else(|| {
                Error::new(
                    Status::ErrMissingHostFeature,
                    "host lacks clipGetRegionOfDefinition",
                )
            })?;
        let mut r = OfxRectD {
            x1: 0.0,
            y1: 0.0,
            x2: 0.0,
            y2: 0.0,
        };
        // SAFETY: live clip handle (from clipGetHandle), valid out pointer.
        let st = unsafe { f(self.handle, time, &mut r) };
        Error::check(st, || format!("RoD of clip {}", self.name()))?;
        Ok(RectD {
            x1: r.x1,
            y1: r.y1,
            x2: r.x2,
            y2: r.y2,
        })
    }

    /// The image at `time` over the default region. `Ok(None)` when the host has none: an
    /// unconnected clip, `kOfxStatFailed` ("assume black and transparent") or a NULL handle
    /// (Resolve's "connected" clips).
    pub fn image(&self, time: f64) -> Result<Option<Image>> {
        let f =
            self.suites.effect.clipGetImage.ok_or_else(|| {
                Error::new(Status::ErrMissingHostFeature, "host lacks clipGetImage")
            })?;
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: live clip handle, NULL region means "the default region", valid out pointer.
        let st = unsafe { f(self.handle, time, ptr::null(), &mut h) };
        if st == Status::Failed.code() {
            return Ok(None);
        }
        Error::check(st, || format!("image of clip {}", self.name()))?;
        if h.is_null() {
            return Ok(None);
        }
        let props = PropertySet::with_suite(h, self.suites.property)?;
        Ok(Some(Image {
            props,
            suites: self.suites,
        }))
    }
}

/// An image fetched from a clip; released when dropped.
#[derive(Debug)]
pub struct Image {
    props: PropertySet,
    suites: Suites,
}

// SAFETY: the image handle and its memory belong to the host until released; one owner.
unsafe impl Send for Image {}

impl Drop for Image {
    fn drop(&mut self) {
        if let Some(f) = self.suites.effect.clipReleaseImage {
            // SAFETY: the handle came from clipGetImage and is released exactly once, here.
            unsafe { f(self.props.raw()) };
        }
    }
}

impl Image {
    pub fn properties(&self) -> PropertySet {
        self.props
    }

    /// Pixel bounds (at render scale).
    pub fn bounds(&self) -> Result<RectI> {
        let b = self.props.get_int_n::<4>(crate::k!(kOfxImagePropBounds))?;
        Ok(RectI {
            x1: b[0],
            y1: b[1],
            x2: b[2],
            y2: b[3],
        })
    }

    pub fn row_bytes(&self) -> Result<isize> {
        Ok(self.props.get_int(crate::k!(kOfxImagePropRowBytes), 0)? as isize)
    }

    pub fn pixel_depth(&self) -> Result<BitDepth> {
        pixel_depth(&self.props)
    }

    pub fn components(&self) -> Result<Components> {
        components(&self.props)
    }

    pub fn premultiplication(&self) -> Result<Premult> {
        premultiplication(&self.props)
    }

    /// `kOfxImageEffectPropRenderScale` of the image, (1, 1) when the host omits it.
    pub fn render_scale(&self) -> [f64; 2] {
        self.props
            .get_double_n::<2>(crate::k!(kOfxImageEffectPropRenderScale))
            .unwrap_or([1.0, 1.0])
    }

    pub fn layout(&self) -> Result<Layout> {
        Ok(Layout {
            bounds: self.bounds()?,
            row_bytes: self.row_bytes()?,
            depth: self.pixel_depth()?,
            components: self.components()?,
        })
    }

    /// `kOfxImagePropData` as an opaque address, for images the host hands in device memory (OFX
    /// CUDA render). Never dereferenced here; only the CUDA runtime may touch what it points at.
    pub fn device_address(&self) -> Result<usize> {
        Ok(self.props.get_pointer(crate::k!(kOfxImagePropData), 0)? as usize)
    }

    fn data(&self) -> Result<*mut u8> {
        Ok(self.props.get_pointer(crate::k!(kOfxImagePropData), 0)? as *mut u8)
    }

    /// Reads the pixels.
    pub fn view(&self) -> Result<ImageView<'_>> {
        let layout = self.layout()?;
        let data = self.data()?;
        // SAFETY: the host keeps the image's memory (bounds x rowBytes from kOfxImagePropData) alive
        // until clipReleaseImage, which only our Drop calls; the view borrows self.
        unsafe { ImageView::from_raw_parts(data, layout) }
    }

    /// Writes the pixels (the output image).
    pub fn view_mut(&mut self) -> Result<ImageViewMut<'_>> {
        let layout = self.layout()?;
        let data = self.data()?;
        // SAFETY: as in view(); &mut self makes this the only view of the memory on our side.
        unsafe { ImageViewMut::from_raw_parts(data, layout) }
    }
}
