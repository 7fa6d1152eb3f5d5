//! Host-owned pixel buffers handed to the plugin through `kOfxImagePropData`, with any depth,
//! component layout, row padding and row order (negative rowBytes) the test chooses; in CPU memory,
//! in CUDA device memory (OFX CUDA render, rows bottom-up with a positive pitch as the spec asks),
//! or at a fake address that no one may read (a plugin that reads it on the CPU crashes).

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::cuda::{DeviceMemory, Stream};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BitDepth {
    Byte,
    Short,
    Float,
}

impl BitDepth {
    pub fn ofx_name(self) -> &'static str {
        match self {
            BitDepth::Byte => "OfxBitDepthByte",
            BitDepth::Short => "OfxBitDepthShort",
            BitDepth::Float => "OfxBitDepthFloat",
        }
    }
    pub fn from_ofx(s: &str) -> Option<BitDepth> {
        Some(match s {
            "OfxBitDepthByte" => BitDepth::Byte,
            "OfxBitDepthShort" => BitDepth::Short,
            "OfxBitDepthFloat" => BitDepth::Float,
            _ => return None,
        })
    }
    pub fn bytes(self) -> usize {
        match self {
            BitDepth::Byte => 1,
            BitDepth::Short => 2,
            BitDepth::Float => 4,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Components {
    Rgba,
    Rgb,
    Alpha,
}

impl Components {
    pub fn ofx_name(self) -> &'static str {
        match self {
            Components::Rgba => "OfxImageComponentRGBA",
            Components::Rgb => "OfxImageComponentRGB",
            Components::Alpha => "OfxImageComponentAlpha",
        }
    }
    pub fn from_ofx(s: &str) -> Option<Components> {
        Some(match s {
            "OfxImageComponentRGBA" => Components::Rgba,
            "OfxImageComponentRGB" => Components::Rgb,
            "OfxImageComponentAlpha" => Components::Alpha,
            _ => return None,
        })
    }
    pub fn count(self) -> usize {
        match self {
            Components::Rgba => 4,
            Components::Rgb => 3,
            Components::Alpha => 1,
        }
    }
}

/// A zeroed, 64-byte aligned heap block, its pages resident, that the plugin reads and writes
/// through a raw pointer.
struct PixelBuffer {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the buffer is plain bytes owned by this struct; cross-thread access is coordinated by the
// host (pixels are only read through HostImage when no plugin holds the image, see `in_use`).
unsafe impl Send for PixelBuffer {}
// SAFETY: as above.
unsafe impl Sync for PixelBuffer {}

impl PixelBuffer {
    fn zeroed(len: usize) -> PixelBuffer {
        let layout = Layout::from_size_align(len.max(1), 64).expect("image size overflows");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        // Touch every page now: a large zeroed block is mapped lazily, and its first writes (the
        // plugin's, inside the timed render action) would pay the kernel's page faults. A real
        // host's image buffers come from a warm pool. Volatile: a plain zero store into zeroed
        // memory may be optimised away.
        for off in (0..len).step_by(4096) {
            // SAFETY: `off < len`, inside the block just allocated; the value written is the zero
            // already there.
            unsafe { std::ptr::write_volatile(raw.add(off), 0) };
        }
        PixelBuffer { ptr, layout }
    }
    fn len(&self) -> usize {
        self.layout.size()
    }
}

impl Drop for PixelBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// Where an image's pixels live.
enum Storage {
    Host(PixelBuffer),
    /// CUDA device memory: `row_bytes * height` bytes, row 0 (y1) first.
    Device(DeviceMemory),
    /// An address that is neither CPU nor device memory of this process.
    Fake(usize),
}

/// An image as the host hands it to the plugin. Rows are addressed bottom-up as in OFX: row 0 is y1.
pub struct HostImage {
    bounds: [i32; 4],
    depth: BitDepth,
    components: Components,
    row_bytes: isize,
    buf: Storage,
    /// Render scale stamped on the image's kOfxImageEffectPropRenderScale.
    pub render_scale: [f64; 2],
    /// kOfxImageEffectPropPreMultiplication of the image.
    pub premultiplication: String,
    /// How many clipGetImage handles to this image the plugin has not released.
    in_use: AtomicUsize,
}

impl std::fmt::Debug for HostImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostImage")
            .field("bounds", &self.bounds)
            .field("depth", &self.depth)
            .field("components", &self.components)
            .field("row_bytes", &self.row_bytes)
            .finish()
    }
}

impl HostImage {
    /// A zeroed image. `negative_rows` stores rows top-down in memory (negative rowBytes);
    /// `pad` adds bytes at the end of every row.
    pub fn new(
        bounds: [i32; 4],
        depth: BitDepth,
        components: Components,
        negative_rows: bool,
        pad: usize,
    ) -> HostImage {
        let w = (bounds[2] - bounds[0]).max(0) as usize;
        let h = (bounds[3] - bounds[1]).max(0) as usize;
        let stride = w * components.count() * depth.bytes() + pad;
        HostImage {
            bounds,
            depth,
            components,
            row_bytes: if negative_rows {
                -(stride as isize)
            } else {
                stride as isize
            },
            buf: Storage::Host(PixelBuffer::zeroed(stride * h)),
            render_scale: [1.0, 1.0],
            premultiplication: "OfxImageOpaque".to_owned(),
            in_use: AtomicUsize::new(0),
        }
    }

    pub fn bounds(&self) -> [i32; 4] {
        self.bounds
    }
    pub fn width(&self) -> usize {
        (self.bounds[2] - self.bounds[0]).max(0) as usize
    }
    pub fn height(&self) -> usize {
        (self.bounds[3] - self.bounds[1]).max(0) as usize
    }
    pub fn depth(&self) -> BitDepth {
        self.depth
    }
    pub fn components(&self) -> Components {
        self.components
    }
    pub fn row_bytes(&self) -> isize {
        self.row_bytes
    }
    fn stride(&self) -> usize {
        self.row_bytes.unsigned_abs()
    }
    /// Byte offset of row `r` (0 = y1) from the start of the allocation.
    fn row_offset(&self, r: usize) -> usize {
        if self.row_bytes >= 0 {
            r * self.stride()
        } else {
            (self.height() - 1 - r) * self.stride()
        }
    }
    /// `kOfxImagePropData`: the address of pixel (x1, y1) (a device address for device images).
    pub(crate) fn data_ptr(&self) -> *mut u8 {
        let buf = match &self.buf {
            Storage::Host(b) => b,
            Storage::Device(m) => return m.addr() as *mut u8,
            Storage::Fake(a) => return *a as *mut u8,
        };
        if self.height() == 0 {
            return buf.ptr.as_ptr();
        }
        // SAFETY: the offset of row 0 lies inside the allocation.
        unsafe { buf.ptr.as_ptr().add(self.row_offset(0)) }
    }

    /// Whether the pixels are in CUDA device memory (or at a fake device address).
    pub fn is_device(&self) -> bool {
        !matches!(self.buf, Storage::Host(_))
    }
    pub(crate) fn acquire(&self) {
        self.in_use.fetch_add(1, Ordering::SeqCst);
    }
    pub(crate) fn release(&self) {
        self.in_use.fetch_sub(1, Ordering::SeqCst);
    }
    /// Handles to this image the plugin fetched and has not released.
    pub fn outstanding(&self) -> usize {
        self.in_use.load(Ordering::SeqCst)
    }

    fn host_buffer(&self) -> Result<&PixelBuffer, String> {
        match &self.buf {
            Storage::Host(b) => Ok(b),
            _ => Err("the image is in device memory: download it first".into()),
        }
    }

    fn bytes(&self) -> Result<&[u8], String> {
        if self.outstanding() != 0 {
            return Err(format!(
                "image still held by the plugin ({} unreleased handles)",
                self.outstanding()
            ));
        }
        let buf = self.host_buffer()?;
        // SAFETY: no plugin holds a handle to the image, so nothing writes it concurrently.
        Ok(unsafe { std::slice::from_raw_parts(buf.ptr.as_ptr(), buf.len()) })
    }
    fn bytes_mut(&mut self) -> Result<&mut [u8], String> {
        let buf = self.host_buffer()?;
        // SAFETY: `&mut self` proves exclusive access; plugin handles keep only an Arc (shared), so
        // none can exist while we hold `&mut`.
        Ok(unsafe { std::slice::from_raw_parts_mut(buf.ptr.as_ptr(), buf.len()) })
    }

    /// A copy in CUDA device memory: same bounds, depth, components and row padding, rows bottom-up
    /// with a positive pitch. Uploaded synchronously.
    pub fn to_device(&self) -> Result<HostImage, String> {
        let (stride, h) = (self.stride(), self.height());
        let src = self.bytes()?;
        let mut packed = vec![0u8; stride * h];
        for (r, row) in packed.chunks_exact_mut(stride.max(1)).enumerate().take(h) {
            let off = self.row_offset(r);
            row.copy_from_slice(&src[off..off + stride]);
        }
        let mem = DeviceMemory::new(stride * h).map_err(|e| e.to_string())?;
        mem.upload(&packed).map_err(|e| e.to_string())?;
        Ok(self.with_storage(Storage::Device(mem)))
    }

    /// An image of the same geometry in device memory whose every byte is `byte` (garbage for a
    /// plugin that reads before the host's stream has filled it).
    pub fn device_filled_like(&self, byte: u8) -> Result<HostImage, String> {
        let mem = DeviceMemory::new(self.stride() * self.height()).map_err(|e| e.to_string())?;
        mem.fill(byte).map_err(|e| e.to_string())?;
        Ok(self.with_storage(Storage::Device(mem)))
    }

    /// The same geometry at a fake device address (`kOfxImagePropData` = `addr`).
    pub fn fake_device_like(&self, addr: usize) -> HostImage {
        self.with_storage(Storage::Fake(addr))
    }

    fn with_storage(&self, buf: Storage) -> HostImage {
        HostImage {
            bounds: self.bounds,
            depth: self.depth,
            components: self.components,
            row_bytes: self.stride() as isize,
            buf,
            render_scale: self.render_scale,
            premultiplication: self.premultiplication.clone(),
            in_use: AtomicUsize::new(0),
        }
    }

    /// Queues a copy of device image `src` (same geometry) into this device image on `stream`;
    /// both must live until the stream has run it.
    pub fn copy_device_async(&self, src: &HostImage, stream: &Stream) -> Result<(), String> {
        match (&self.buf, &src.buf) {
            (Storage::Device(d), Storage::Device(s)) if d.len() == s.len() => {
                d.copy_from_async(s, stream).map_err(|e| e.to_string())
            }
            _ => Err("copy_device_async needs two device images of one geometry".into()),
        }
    }

    /// Fills this CPU image from device image `src` of the same bounds, depth and components
    /// (synchronously; the caller has synchronised the plugin's work first).
    pub fn download_from(&mut self, src: &HostImage) -> Result<(), String> {
        let Storage::Device(mem) = &src.buf else {
            return Err("download_from needs a device image".into());
        };
        if (src.bounds, src.depth, src.components) != (self.bounds, self.depth, self.components)
            || src.stride() != self.stride()
        {
            return Err(format!("download_from: {src:?} into {self:?}"));
        }
        let (stride, h) = (self.stride(), self.height());
        let mut packed = vec![0u8; stride * h];
        mem.download(&mut packed).map_err(|e| e.to_string())?;
        let offsets: Vec<usize> = (0..h).map(|r| self.row_offset(r)).collect();
        let dst = self.bytes_mut()?;
        for (r, off) in offsets.into_iter().enumerate() {
            dst[off..off + stride].copy_from_slice(&packed[r * stride..(r + 1) * stride]);
        }
        Ok(())
    }

    /// Fills the image from RGBA f32 rows (row 0 = y1), converting to its depth and components
    /// (Alpha keeps A; RGB drops it). Byte and short are clamped to 0..1 and rounded.
    pub fn fill_rgba(&mut self, rgba: &[f32]) -> Result<(), String> {
        let (w, h) = (self.width(), self.height());
        if rgba.len() != w * h * 4 {
            return Err(format!(
                "fill_rgba: {} floats for a {}x{} image",
                rgba.len(),
                w,
                h
            ));
        }
        let (nc, depth) = (self.components.count(), self.depth);
        let comps = self.components;
        let offsets: Vec<usize> = (0..h).map(|r| self.row_offset(r)).collect();
        let bytes = self.bytes_mut()?;
        for (r, off) in offsets.into_iter().enumerate() {
            for x in 0..w {
                let px = &rgba[(r * w + x) * 4..(r * w + x) * 4 + 4];
                for c in 0..nc {
                    let v = match comps {
                        Components::Alpha => px[3],
                        _ => px[c],
                    };
                    let at = off + (x * nc + c) * depth.bytes();
                    match depth {
                        BitDepth::Float => bytes[at..at + 4].copy_from_slice(&v.to_ne_bytes()),
                        BitDepth::Short => {
                            let q = (v.clamp(0.0, 1.0) * 65535.0).round() as u16;
                            bytes[at..at + 2].copy_from_slice(&q.to_ne_bytes())
                        }
                        BitDepth::Byte => bytes[at] = (v.clamp(0.0, 1.0) * 255.0).round() as u8,
                    }
                }
            }
        }
        Ok(())
    }

    /// The pixels as RGBA f32 rows (row 0 = y1). Alpha images give (a, a, a, a); RGB gives A = 1.
    pub fn to_rgba(&self) -> Result<Vec<f32>, String> {
        let (w, h) = (self.width(), self.height());
        let (nc, depth) = (self.components.count(), self.depth);
        let bytes = self.bytes()?;
        let mut out = vec![0f32; w * h * 4];
        for r in 0..h {
            let off = self.row_offset(r);
            for x in 0..w {
                let mut px = [0f32; 4];
                for (c, item) in px.iter_mut().enumerate().take(nc) {
                    let at = off + (x * nc + c) * depth.bytes();
                    *item = match depth {
                        BitDepth::Float => f32::from_ne_bytes([
                            bytes[at],
                            bytes[at + 1],
                            bytes[at + 2],
                            bytes[at + 3],
                        ]),
                        BitDepth::Short => {
                            u16::from_ne_bytes([bytes[at], bytes[at + 1]]) as f32 / 65535.0
                        }
                        BitDepth::Byte => bytes[at] as f32 / 255.0,
                    };
                }
                let px = match self.components {
                    Components::Rgba => px,
                    Components::Rgb => [px[0], px[1], px[2], 1.0],
                    Components::Alpha => [px[0]; 4],
                };
                out[(r * w + x) * 4..(r * w + x) * 4 + 4].copy_from_slice(&px);
            }
        }
        Ok(out)
    }
}

/// Memory handed out by imageMemoryAlloc / memoryAlloc.
pub(crate) struct HostMemory {
    buf: PixelBuffer,
    pub(crate) locks: AtomicUsize,
}

impl HostMemory {
    pub(crate) fn new(len: usize) -> HostMemory {
        HostMemory {
            buf: PixelBuffer::zeroed(len),
            locks: AtomicUsize::new(0),
        }
    }
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.buf.ptr.as_ptr()
    }
}
