//! Every view of a frame from its one keyed render: the node keys once (Show = Premultiplied or
//! Unpremultiplied, the key), and the matte, the checkerboard composite and the status are computed
//! here from that key; the hint comes from a Show = Hint render, which runs only the node's hint
//! stage (no network). This mirrors the node's own output modes (plugin/src/engine/output.rs):
//! the same checkerboard and the same status thresholds; the status here has no refiner-tile
//! overlay (tiles are counted on the node's info line instead).

use ofx_test_host::imageio::{srgb_to_linear, Rgba};

/// The keyed render as the node returned it.
pub struct Key {
    pub rgba: Rgba,
    pub premultiplied: bool,
}

/// The views `--views` writes, in contact-sheet order after the plate.
pub const NAMES: [&str; 5] = ["key", "hint", "matte", "composite", "status"];

impl Key {
    pub fn alpha(&self) -> Vec<f32> {
        self.rgba.data.chunks_exact(4).map(|p| p[3]).collect()
    }

    /// Linear premultiplied RGBA.
    pub fn premultiplied(&self) -> Rgba {
        if self.premultiplied {
            return self.rgba.clone();
        }
        self.map(|p| [p[0] * p[3], p[1] * p[3], p[2] * p[3], p[3]])
    }

    /// Alpha as grey, opaque.
    pub fn matte(&self) -> Rgba {
        self.map(|p| [p[3], p[3], p[3], 1.0])
    }

    /// The key over the node's checkerboard (128 px squares of sRGB grey 0.15 / 0.55), opaque.
    pub fn composite(&self) -> Rgba {
        let pre = self.premultiplied();
        let w = pre.width.max(1);
        let (dark, light) = (srgb_to_linear(0.15), srgb_to_linear(0.55));
        let mut data = pre.data;
        for (i, p) in data.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i % w, i / w);
            let bg = if (x / 128 + y / 128) % 2 == 0 {
                dark
            } else {
                light
            };
            let under = bg * (1.0 - p[3]);
            for c in &mut p[..3] {
                *c += under;
            }
            p[3] = 1.0;
        }
        Rgba { data, ..pre }
    }

    /// Black where alpha is 0, white where it is 1, grey in between (the node's thresholds).
    pub fn status(&self) -> Rgba {
        self.map(|p| {
            let v = if p[3] <= 0.004 {
                0.0
            } else if p[3] >= 0.996 {
                1.0
            } else {
                0.5
            };
            [v, v, v, 1.0]
        })
    }

    fn map(&self, f: impl Fn(&[f32]) -> [f32; 4]) -> Rgba {
        Rgba {
            width: self.rgba.width,
            height: self.rgba.height,
            data: self.rgba.data.chunks_exact(4).flat_map(f).collect(),
        }
    }
}

/// The first channel of the Hint view (grey, opaque).
pub fn hint_matte(hint: &Rgba) -> Vec<f32> {
    hint.data.chunks_exact(4).map(|p| p[0]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_from_a_straight_key() {
        let key = Key {
            rgba: Rgba {
                width: 3,
                height: 1,
                data: vec![1.0, 0.5, 0.0, 0.5, 0.2, 0.2, 0.2, 0.0, 0.3, 0.3, 0.3, 1.0],
            },
            premultiplied: false,
        };
        assert_eq!(key.alpha(), vec![0.5, 0.0, 1.0]);
        assert_eq!(&key.premultiplied().data[..4], &[0.5, 0.25, 0.0, 0.5]);
        assert_eq!(&key.matte().data[..4], &[0.5, 0.5, 0.5, 1.0]);
        let s = key.status().data;
        assert_eq!((s[0], s[4], s[8]), (0.5, 0.0, 1.0));
        let c = key.composite().data;
        let dark = srgb_to_linear(0.15);
        assert!((c[4] - dark).abs() < 1e-6 && c[7] == 1.0);
        assert!((c[0] - (0.5 + 0.5 * dark)).abs() < 1e-6);
    }
}
