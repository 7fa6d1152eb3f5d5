// The synthetic moving plate for steady mattes (shared by `engine_steady.rs` and the
// `steady_flicker` example): a green screen with sensor noise drawn fresh for every frame, a static
// subject on the left and a square moving right, with the true alpha of each frame.
#![allow(dead_code)]

use corridorkey::engine::{
    Engine, FrameInput, KeyParams, RgbaImage, RuntimeConfig, SteadyFrames, SteadyParams,
};

/// Frame `t` of the plate (w x h, noise standard deviation about `noise`) and its true alpha.
pub fn plate(w: usize, h: usize, t: usize, noise: f32) -> (RgbaImage, Vec<f32>) {
    let mut img = RgbaImage::new(w, h);
    let mut truth = vec![0.0f32; w * h];
    // xorshift64*, seeded per frame: the same frame is the same pixels on every run.
    let mut s = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut rnd = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        let u = (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32;
        (u - 0.5) * noise * 3.464 // uniform with standard deviation `noise`
    };
    let side = h / 3;
    let (mx, my) = (w / 2 + 2 * t, h / 3);
    for y in 0..h {
        for x in 0..w {
            let still = x >= w / 8 && x < w / 8 + w / 4 && y >= h / 4;
            let moving = x >= mx && x < mx + side && y >= my && y < my + side;
            let base = if still {
                [0.45, 0.3, 0.22]
            } else if moving {
                [0.25, 0.2, 0.5]
            } else {
                [0.03, 0.42, 0.05]
            };
            let px = &mut img.data[(y * w + x) * 4..][..4];
            for c in 0..3 {
                px[c] = (base[c] + rnd()).max(0.0);
            }
            px[3] = 1.0;
            truth[y * w + x] = f32::from(u8::from(still || moving));
        }
    }
    (img, truth)
}

/// Whether pixel `i` is inside the moving square's path over frames `0..n` (the moving part).
pub fn moving_part(w: usize, h: usize, n: usize) -> Vec<bool> {
    let side = h / 3;
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            (0..n).any(|t| {
                let mx = w / 2 + 2 * t;
                x >= mx && x < mx + side && y >= h / 3 && y < h / 3 + side
            })
        })
        .collect()
}

fn input(src: &RgbaImage) -> FrameInput<'_> {
    FrameInput {
        source: src,
        hint: None,
        garbage: None,
        core: None,
    }
}

/// Keys frame `t` of `plates` (steady mattes with `steady`) and returns its alpha.
pub fn key_alpha(
    engine: &Engine,
    plates: &[RgbaImage],
    t: usize,
    p: &KeyParams,
    steady: SteadyParams,
    rt: &RuntimeConfig,
) -> Vec<f32> {
    let frames = SteadyFrames {
        prev: t.checked_sub(1).map(|i| input(&plates[i])),
        cur: input(&plates[t]),
        next: plates.get(t + 1).map(input),
    };
    let out = engine
        .render_steady(&frames, p, steady, rt, &Default::default(), &|| false)
        .unwrap_or_else(|e| panic!("frame {t}: {e}"));
    out.image.data.chunks(4).map(|px| px[3]).collect()
}

/// Mean frame-to-frame alpha change over pixels static in truth (outside the moving part), and
/// the mean absolute error against truth over the moving part (SAD per pixel per frame).
pub fn flicker_and_sad(alphas: &[Vec<f32>], truths: &[Vec<f32>], moving: &[bool]) -> (f64, f64) {
    let (mut flicker, mut nf) = (0.0f64, 0usize);
    for pair in alphas.windows(2) {
        for (i, m) in moving.iter().enumerate() {
            if !m {
                flicker += f64::from((pair[1][i] - pair[0][i]).abs());
                nf += 1;
            }
        }
    }
    let (mut sad, mut ns) = (0.0f64, 0usize);
    for (a, tr) in alphas.iter().zip(truths) {
        for (i, m) in moving.iter().enumerate() {
            if *m {
                sad += f64::from((a[i] - tr[i]).abs());
                ns += 1;
            }
        }
    }
    (flicker / nf.max(1) as f64, sad / ns.max(1) as f64)
}
