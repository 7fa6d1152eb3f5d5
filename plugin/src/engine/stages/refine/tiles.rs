//! The refiner's tile plan and blend weights.

/// One refiner tile in S x S model pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tile {
    pub x: usize,
    pub y: usize,
    pub size: usize,
}

/// Tile starts along one axis: stride `size - overlap`, the last tile clamped inside, no duplicates.
pub fn axis_starts(extent: usize, size: usize, overlap: usize) -> Vec<usize> {
    if size >= extent {
        return vec![0];
    }
    let stride = size.saturating_sub(overlap).max(1);
    let mut starts = Vec::new();
    let mut s = 0;
    loop {
        let clamped = s.min(extent - size);
        if starts.last() != Some(&clamped) {
            starts.push(clamped);
        }
        if s + size >= extent {
            break;
        }
        s += stride;
    }
    starts
}

/// The tiles covering an S x S image, row-major. `size >= s` gives one full-frame tile.
pub fn plan(s: usize, size: usize, overlap: usize) -> Vec<Tile> {
    let size = size.min(s);
    let starts = axis_starts(s, size, overlap);
    let mut tiles = Vec::with_capacity(starts.len() * starts.len());
    for &y in &starts {
        for &x in &starts {
            tiles.push(Tile { x, y, size });
        }
    }
    tiles
}

/// Linear-ramp weights along one axis of a tile: rising over the first `overlap` pixels unless the
/// tile touches the image start, falling over the last `overlap` unless it touches the end.
/// Never zero, so every pixel keeps a positive weight sum.
pub fn axis_weights(start: usize, size: usize, extent: usize, overlap: usize) -> Vec<f32> {
    let ramp = overlap.min(size / 2);
    (0..size)
        .map(|i| {
            let mut w = 1.0f32;
            if ramp > 0 {
                if start > 0 && i < ramp {
                    w = w.min((i + 1) as f32 / (ramp + 1) as f32);
                }
                let from_end = size - 1 - i;
                if start + size < extent && from_end < ramp {
                    w = w.min((from_end + 1) as f32 / (ramp + 1) as f32);
                }
            }
            w
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_stride_and_clamp_without_duplicates() {
        assert_eq!(axis_starts(2048, 512, 128), vec![0, 384, 768, 1152, 1536]);
        // 1536 + 512 = 2048 exactly: no extra clamped tile
        assert_eq!(axis_starts(1024, 512, 128), vec![0, 384, 512]);
        assert_eq!(axis_starts(1536, 1024, 128), vec![0, 512]);
        assert_eq!(axis_starts(512, 512, 128), vec![0]);
        assert_eq!(axis_starts(300, 512, 128), vec![0]);
        assert_eq!(axis_starts(600, 512, 0), vec![0, 88]);
        for (extent, size, overlap) in [
            (2048, 512, 128),
            (1536, 512, 200),
            (1000, 256, 255),
            (777, 100, 0),
        ] {
            let st = axis_starts(extent, size, overlap);
            assert_eq!(st[0], 0);
            assert_eq!(*st.last().unwrap() + size, extent);
            assert!(st
                .windows(2)
                .all(|p| p[0] < p[1] && p[1] - p[0] <= size - overlap));
        }
    }

    #[test]
    fn plan_covers_everything_once_per_position() {
        let tiles = plan(1024, 512, 128);
        assert_eq!(tiles.len(), 9);
        let mut cover = vec![0u8; 1024 * 1024];
        for t in &tiles {
            for y in t.y..t.y + t.size {
                for x in t.x..t.x + t.size {
                    cover[y * 1024 + x] = 1;
                }
            }
        }
        assert!(cover.iter().all(|&c| c == 1));
        assert_eq!(
            plan(256, 512, 128),
            vec![Tile {
                x: 0,
                y: 0,
                size: 256
            }]
        );
    }

    #[test]
    fn weights_ramp_only_on_inner_edges() {
        let w = axis_weights(0, 8, 20, 3);
        assert_eq!(&w[..5], &[1.0; 5]);
        assert_eq!(&w[5..], &[0.75, 0.5, 0.25]);
        let w = axis_weights(12, 8, 20, 3);
        assert_eq!(&w[..3], &[0.25, 0.5, 0.75]);
        assert_eq!(&w[3..], &[1.0; 5]);
        assert!(axis_weights(0, 20, 20, 3).iter().all(|&v| v == 1.0));
        assert!(axis_weights(5, 8, 20, 0).iter().all(|&v| v == 1.0));
        // ramps of two neighbours overlapping by exactly `overlap` sum to a constant
        let a = axis_weights(0, 8, 13, 3);
        let b = axis_weights(5, 8, 13, 3);
        for i in 0..3 {
            assert!((a[5 + i] + b[i] - 1.0).abs() < 1e-6);
        }
    }
}
