//! Upper bounds on every size that comes from outside (host images, params, model folders), checked
//! before anything is allocated, and fallible allocation for the buffers such sizes make. In Rust a
//! failed allocation aborts the process, which here is the host with the artist's session in it;
//! a bound or a `try_reserve` turns it into an error, a message and the source passed through.

use super::error::{EngineError, InputProblem};

/// Widest or tallest plate the engine keys (16K and then some; a 4K DCI plate is 4096 wide).
pub const MAX_PLATE_SIDE: usize = 32_768;
/// Most pixels in a plate: 16384 x 16384 (a 4K DCI plate is 8.8 M). One RGBA f32 copy of such a
/// plate is 4 GiB, and a frame holds several.
pub const MAX_PLATE_PIXELS: usize = 1 << 28;
/// Smallest and largest inference size S a coarse graph may have (multiples of 32, the exporter's
/// rule: patch stride 4 x mask unit 8). S comes from the graph's own input shape.
pub const MIN_INFERENCE_SIZE: usize = 32;
pub const MAX_INFERENCE_SIZE: usize = 4096;
/// Largest erode, dilate or blur kernel in pixels after render scale (the params stop at 101 and
/// 201; the engine bounds what other callers send too).
pub const MAX_KERNEL_PX: usize = 255;
/// Most refiner tiles per run (a tool's `RenderOptions::refiner_batch` is bounded by it).
pub const MAX_REFINER_BATCH: usize = 16;
/// Largest graph file read (protobuf's limit for a single-file ONNX model).
pub const MAX_GRAPH_BYTES: u64 = 2 << 30;
/// Largest `manifest.json` read.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Err when a `width x height` plate is beyond the bounds above.
pub fn check_plate(width: usize, height: usize) -> Result<(), InputProblem> {
    let pixels = width.checked_mul(height);
    if width > MAX_PLATE_SIDE
        || height > MAX_PLATE_SIDE
        || pixels.is_none_or(|p| p > MAX_PLATE_PIXELS)
    {
        return Err(InputProblem::TooLarge {
            width,
            height,
            max_side: MAX_PLATE_SIDE,
            max_pixels: MAX_PLATE_PIXELS,
        });
    }
    Ok(())
}

/// Whether `s` is an inference size the engine runs.
pub fn inference_size_ok(s: usize) -> bool {
    (MIN_INFERENCE_SIZE..=MAX_INFERENCE_SIZE).contains(&s) && s.is_multiple_of(32)
}

/// `vec![value; n]`, or Err(OutOfMemory) instead of an abort when the memory is not there.
pub fn try_vec<T: Clone>(n: usize, value: T, what: &'static str) -> Result<Vec<T>, EngineError> {
    let mut v = Vec::new();
    let bytes = n.saturating_mul(std::mem::size_of::<T>());
    v.try_reserve_exact(n)
        .map_err(|_| EngineError::OutOfMemory { what, bytes })?;
    v.resize(n, value);
    Ok(v)
}

/// `vec![0.0f32; n]` fallibly, from the allocator's zeroed memory: no pass over a buffer its
/// caller writes anyway (a 4K float frame is 141 MB; for a large buffer the pages are mapped
/// zeroed and first touched by the caller's own, parallel, writes).
pub fn try_zeroed_f32(n: usize, what: &'static str) -> Result<Vec<f32>, EngineError> {
    let bytes = n.saturating_mul(std::mem::size_of::<f32>());
    let err = || EngineError::OutOfMemory { what, bytes };
    if n == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<f32>(n).map_err(|_| err())?;
    // SAFETY: the layout's size is not zero (n > 0).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<f32>();
    if ptr.is_null() {
        return Err(err());
    }
    // SAFETY: `ptr` comes from the global allocator (the one `Vec` uses) with the layout of `n`
    // f32s, so capacity `n` matches; all `n` values are initialised, as zero bytes are 0.0f32.
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

/// A copy of `src` made with [`try_vec`]'s fallible allocation.
pub fn try_copy<T: Copy>(src: &[T], what: &'static str) -> Result<Vec<T>, EngineError> {
    let mut v = Vec::new();
    let bytes = std::mem::size_of_val(src);
    v.try_reserve_exact(src.len())
        .map_err(|_| EngineError::OutOfMemory { what, bytes })?;
    v.extend_from_slice(src);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plates_inside_and_outside_the_bounds() {
        assert!(check_plate(4096, 2160).is_ok());
        assert!(check_plate(16384, 16384).is_ok());
        assert!(check_plate(MAX_PLATE_SIDE + 1, 1).is_err());
        assert!(check_plate(MAX_PLATE_SIDE, MAX_PLATE_SIDE).is_err());
        assert!(check_plate(usize::MAX, usize::MAX).is_err());
        assert!(inference_size_ok(2048) && inference_size_ok(128));
        assert!(!inference_size_ok(100_000) && !inference_size_ok(100) && !inference_size_ok(0));
    }

    #[test]
    fn an_impossible_allocation_is_an_error_not_an_abort() {
        // 2^61 f32 values (2^63 bytes): beyond any address space. (A size the allocator itself
        // refuses cannot be tested safely: with overcommit on, it may be granted.)
        let e = try_vec(1usize << 61, 0.0f32, "a test buffer").unwrap_err();
        assert!(matches!(e, EngineError::OutOfMemory { .. }), "{e}");
        assert_eq!(try_vec(3, 1u8, "small").unwrap(), vec![1, 1, 1]);
        let e = try_zeroed_f32(1usize << 61, "a test buffer").unwrap_err();
        assert!(matches!(e, EngineError::OutOfMemory { .. }), "{e}");
        assert_eq!(try_zeroed_f32(3, "small").unwrap(), vec![0.0; 3]);
        assert!(try_zeroed_f32(0, "empty").unwrap().is_empty());
    }
}
