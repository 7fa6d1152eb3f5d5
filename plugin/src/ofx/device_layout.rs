//! Where things go when a host hands CUDA images (`render_cuda.rs`), as pure window arithmetic in
//! OFX pixel coordinates (rows bottom-up, positive row bytes: the spec allows no negative row bytes
//! for device images): the engine's view of a host image, a matte placed in the source window, and
//! which parts of the output's render window the key, the clears and nothing at all cover.

use ofx_bindings::{BitDepth, Components, Layout, RectI};

use crate::engine::{DeviceImage, SampleDepth};

pub fn sample_depth(d: BitDepth) -> Option<SampleDepth> {
    match d {
        BitDepth::Float => Some(SampleDepth::Float),
        BitDepth::Half => Some(SampleDepth::Half),
        BitDepth::Short => Some(SampleDepth::Short),
        BitDepth::Byte => Some(SampleDepth::Byte),
        BitDepth::None => None,
    }
}

/// A host image at `addr` (a device address, never dereferenced here) as the engine sees it.
pub fn device_image(addr: usize, layout: &Layout) -> Result<DeviceImage, String> {
    let depth = sample_depth(layout.depth).ok_or("has no pixel depth")?;
    if layout.components == Components::None {
        return Err("has no components".into());
    }
    let img = DeviceImage {
        ptr: addr,
        row_bytes: layout.row_bytes.max(0) as usize,
        width: layout.bounds.width(),
        height: layout.bounds.height(),
        channels: layout.components.count(),
        depth,
    };
    if img.height > 1 && (layout.row_bytes <= 0 || img.row_bytes < img.pixel_row_bytes()) {
        return Err(format!(
            "has a row pitch of {} bytes for rows of {} (device images need a positive pitch)",
            layout.row_bytes,
            img.pixel_row_bytes()
        ));
    }
    if img.ptr == 0 && img.width > 0 && img.height > 0 {
        return Err("has a NULL data pointer".into());
    }
    Ok(img)
}

/// The part `rect` of `img`, whose pixels cover `bounds`; None unless `rect` lies inside `bounds`.
pub fn sub_image(img: &DeviceImage, bounds: RectI, rect: RectI) -> Option<DeviceImage> {
    let inside = rect.x1 >= bounds.x1
        && rect.y1 >= bounds.y1
        && rect.x2 <= bounds.x2
        && rect.y2 <= bounds.y2
        && rect.x1 <= rect.x2
        && rect.y1 <= rect.y2;
    if !inside {
        return None;
    }
    let px = img.channels * img.depth.bytes();
    let (dx, dy) = (
        (rect.x1 - bounds.x1) as usize,
        (rect.y1 - bounds.y1) as usize,
    );
    let ptr = if rect.is_empty() {
        img.ptr
    } else {
        img.ptr + dy * img.row_bytes + dx * px
    };
    Some(DeviceImage {
        ptr,
        width: rect.width(),
        height: rect.height(),
        ..*img
    })
}

/// A window-sized copy of an image with other bounds: `width` x `height` pixels from
/// (`src_x`, `src_y`) of the image go to (`dst_x`, `dst_y`) of the window (offsets from each one's
/// bottom-left corner). None when they do not overlap (the window stays zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub dst_x: usize,
    pub dst_y: usize,
    pub src_x: usize,
    pub src_y: usize,
    pub width: usize,
    pub height: usize,
}

pub fn placement(window: RectI, bounds: RectI) -> Option<Placement> {
    let inter = window.intersect(&bounds);
    if inter.is_empty() {
        return None;
    }
    Some(Placement {
        dst_x: (inter.x1 - window.x1) as usize,
        dst_y: (inter.y1 - window.y1) as usize,
        src_x: (inter.x1 - bounds.x1) as usize,
        src_y: (inter.y1 - bounds.y1) as usize,
        width: inter.width(),
        height: inter.height(),
    })
}

/// The parts of `area` outside `inner`, as at most four rectangles (below, above, left, right).
pub fn outside(area: RectI, inner: RectI) -> Vec<RectI> {
    let inner = area.intersect(&inner);
    if inner.is_empty() {
        return if area.is_empty() { vec![] } else { vec![area] };
    }
    let parts = [
        RectI {
            y2: inner.y1,
            ..area
        },
        RectI {
            y1: inner.y2,
            ..area
        },
        RectI {
            x2: inner.x1,
            y1: inner.y1,
            y2: inner.y2,
            ..area
        },
        RectI {
            x1: inner.x2,
            y1: inner.y1,
            y2: inner.y2,
            ..area
        },
    ];
    parts.into_iter().filter(|r| !r.is_empty()).collect()
}

/// What happens to the host's output image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputPlan {
    /// The render window inside the output's bounds: everything written is in here.
    pub area: RectI,
    /// The keyed pixels: the area inside the source window.
    pub keyed: RectI,
    /// The engine can write straight into the output (the whole source window lies in `area`);
    /// otherwise it writes a temporary and `keyed` is copied over.
    pub direct: bool,
    /// Transparent black: the area outside the source window.
    pub clear: Vec<RectI>,
}

pub fn output_plan(out_bounds: RectI, render_window: RectI, src_bounds: RectI) -> OutputPlan {
    let area = out_bounds.intersect(&render_window);
    let area = if area.is_empty() {
        RectI::default()
    } else {
        area
    };
    let keyed = area.intersect(&src_bounds);
    let keyed = if keyed.is_empty() {
        RectI::default()
    } else {
        keyed
    };
    OutputPlan {
        direct: !src_bounds.is_empty() && keyed == src_bounds,
        clear: outside(area, src_bounds),
        area,
        keyed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x1: i32, y1: i32, x2: i32, y2: i32) -> RectI {
        RectI { x1, y1, x2, y2 }
    }

    fn area(rects: &[RectI]) -> usize {
        rects.iter().map(|r| r.width() * r.height()).sum()
    }

    #[test]
    fn outside_covers_the_rest_exactly_once() {
        let a = rect(0, 0, 10, 8);
        let inner = rect(2, 3, 7, 5);
        let parts = outside(a, inner);
        assert_eq!(parts.len(), 4);
        assert_eq!(area(&parts), 80 - 10);
        for y in 0..8 {
            for x in 0..10 {
                let n = parts
                    .iter()
                    .filter(|r| x >= r.x1 && x < r.x2 && y >= r.y1 && y < r.y2)
                    .count();
                let in_inner = (2..7).contains(&x) && (3..5).contains(&y);
                assert_eq!(n, usize::from(!in_inner), "({x},{y})");
            }
        }
        assert!(outside(a, a).is_empty());
        assert_eq!(outside(a, rect(20, 20, 30, 30)), vec![a]);
        // Inner sticking out of the area: only what is inside counts.
        assert_eq!(area(&outside(a, rect(-5, -5, 5, 20))), 80 - 5 * 8);
        assert!(outside(RectI::default(), inner).is_empty());
    }

    #[test]
    fn mattes_land_in_the_source_window() {
        let window = rect(10, 20, 110, 80);
        // A matte to the lower left, overlapping 30 x 15 pixels.
        let p = placement(window, rect(-5, 0, 40, 35)).unwrap();
        assert_eq!(
            p,
            Placement {
                dst_x: 0,
                dst_y: 0,
                src_x: 15,
                src_y: 20,
                width: 30,
                height: 15
            }
        );
        // Inside the window.
        let p = placement(window, rect(50, 30, 60, 40)).unwrap();
        assert_eq!((p.dst_x, p.dst_y, p.src_x, p.src_y), (40, 10, 0, 0));
        assert_eq!((p.width, p.height), (10, 10));
        assert!(placement(window, rect(200, 0, 210, 10)).is_none());
    }

    #[test]
    fn output_plans() {
        let src = rect(0, 0, 100, 50);
        // Output = render window = source: straight in, nothing to clear.
        let p = output_plan(src, src, src);
        assert!(p.direct && p.clear.is_empty());
        assert_eq!(p.keyed, src);
        // A render window smaller than the source: a temporary, only the window's part is copied.
        let p = output_plan(src, rect(10, 5, 60, 40), src);
        assert!(!p.direct);
        assert_eq!(p.keyed, rect(10, 5, 60, 40));
        assert!(p.clear.is_empty());
        // An output larger than the source: the rest of the render window is cleared.
        let p = output_plan(rect(-10, -10, 120, 60), rect(-10, -10, 120, 60), src);
        assert!(p.direct);
        assert_eq!(area(&p.clear), 130 * 70 - 100 * 50);
        // Disjoint: only clears.
        let p = output_plan(rect(200, 0, 220, 10), rect(200, 0, 220, 10), src);
        assert!(!p.direct && p.keyed.is_empty());
        assert_eq!(p.clear, vec![rect(200, 0, 220, 10)]);
    }

    #[test]
    fn device_images_and_their_parts() {
        let layout = Layout {
            bounds: rect(10, 20, 14, 23),
            row_bytes: 4 * 16 + 32,
            depth: BitDepth::Float,
            components: Components::Rgba,
        };
        let img = device_image(0x10_0000, &layout).unwrap();
        assert_eq!((img.width, img.height, img.channels), (4, 3, 4));
        assert_eq!(img.row_bytes, 96);
        let part = sub_image(&img, layout.bounds, rect(11, 21, 13, 23)).unwrap();
        assert_eq!(part.ptr, 0x10_0000 + 96 + 16);
        assert_eq!((part.width, part.height, part.row_bytes), (2, 2, 96));
        assert!(sub_image(&img, layout.bounds, rect(9, 20, 12, 21)).is_none());
        let negative = Layout {
            row_bytes: -96,
            ..layout
        };
        assert!(device_image(0x10_0000, &negative)
            .unwrap_err()
            .contains("positive pitch"));
        let half = Layout {
            depth: BitDepth::Half,
            row_bytes: 4 * 8,
            components: Components::Rgba,
            ..layout
        };
        assert_eq!(
            device_image(0x10_0000, &half).unwrap().depth,
            SampleDepth::Half
        );
        assert!(device_image(0, &layout).unwrap_err().contains("NULL"));
    }
}
