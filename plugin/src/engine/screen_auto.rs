//! Screen colour `Auto`: green or blue, decided from the frame itself.
//!
//! Where: the pixels the hint calls background (the AlphaHint clip, or the source's alpha, below
//! 0.5) when the hint source gives at least [`MIN_BACKGROUND`] of the frame; otherwise the frame's
//! border (a band of 1/16 of the shorter side), where a locked-off plate shows screen.
//! What: each sampled pixel votes green when green is its largest channel by at least
//! [`CHROMA`] of its value, blue likewise; grey, dark and skin tones do not vote.
//! The rule: blue when blue votes are at least [`MARGIN`] times the green votes and at least
//! [`MIN_SCREEN`] of the samples; green likewise; otherwise the frame is *ambiguous* and keys as
//! green (the node's default), saying so. The margin is what makes a plate give one answer on
//! every frame: noise moves few votes, and a subject would have to cover most of the sampled screen
//! with the other colour to flip it. No state: a frame's answer depends on that frame only.

use super::contract::{FrameInput, HintSource, KeyParams, RgbaImage, ScreenColour};

/// A pixel votes for a screen when that channel leads the other two by this fraction of its value.
pub const CHROMA: f32 = 0.2;
/// The winning colour needs this many times the other's votes.
pub const MARGIN: usize = 2;
/// ... and at least this fraction of the samples (1/10).
pub const MIN_SCREEN: usize = 10;
/// The hint's background is used when it is at least this fraction of the frame (1/100).
pub const MIN_BACKGROUND: usize = 100;
/// At most about this many pixels are sampled (a regular grid), whatever the plate size.
const MAX_SAMPLES: usize = 1 << 16;

/// Where the votes came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampled {
    Hint,
    Border,
}

/// What `Auto` decided, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScreenDecision {
    pub screen: ScreenColour,
    /// Neither colour won by the margin: keyed as green.
    pub ambiguous: bool,
    pub green_votes: usize,
    pub blue_votes: usize,
    pub samples: usize,
    pub from: Sampled,
}

impl ScreenDecision {
    /// One line for the info line and the log.
    pub fn describe(&self) -> String {
        let pct = |v: usize| v * 100 / self.samples.max(1);
        let from = match self.from {
            Sampled::Hint => "the hint's background",
            Sampled::Border => "the frame border",
        };
        let verdict = if self.ambiguous {
            "ambiguous, keyed as green"
        } else {
            self.screen.name()
        };
        format!(
            "screen Auto: {verdict} ({}% green, {}% blue of {from})",
            pct(self.green_votes),
            pct(self.blue_votes)
        )
    }
}

/// How one pixel votes: 1 green, 2 blue, 0 none.
#[inline]
fn vote(p: &[f32]) -> u8 {
    let (r, g, b) = (p[0], p[1], p[2]);
    if !(r.is_finite() && g.is_finite() && b.is_finite()) {
        return 0;
    }
    if g > 0.0 && g - r.max(b) >= CHROMA * g {
        1
    } else if b > 0.0 && b - r.max(g) >= CHROMA * b {
        2
    } else {
        0
    }
}

/// The background the hint source marks (value < 0.5), if the frame has one.
fn hint_background<'a>(input: &'a FrameInput<'_>, params: &KeyParams) -> Option<Background<'a>> {
    match params.hint_source {
        HintSource::Clip => input.hint.map(|h| Background::Matte(&h.data)),
        HintSource::SourceAlpha => Some(Background::SourceAlpha),
        HintSource::ChromaKey => None,
    }
}

enum Background<'a> {
    Matte(&'a [f32]),
    SourceAlpha,
}

/// Votes over the sampled pixels for which `take(x, y, i)` says yes.
fn count(src: &RgbaImage, take: impl Fn(usize, usize, usize) -> bool) -> (usize, usize, usize) {
    let (w, h) = (src.width, src.height);
    let step = ((w * h / MAX_SAMPLES) as f64).sqrt().ceil().max(1.0) as usize;
    let (mut g, mut b, mut n) = (0, 0, 0);
    for y in (0..h).step_by(step) {
        for x in (0..w).step_by(step) {
            let i = y * w + x;
            if !take(x, y, i) {
                continue;
            }
            n += 1;
            match vote(&src.data[i * 4..i * 4 + 4]) {
                1 => g += 1,
                2 => b += 1,
                _ => {}
            }
        }
    }
    (g, b, n)
}

/// Decides the screen colour of one frame (see the module's rule).
pub fn decide(input: &FrameInput<'_>, params: &KeyParams) -> ScreenDecision {
    let src = input.source;
    let (w, h) = (src.width, src.height);
    let from_hint = hint_background(input, params).and_then(|bg| {
        let below = |i: usize| match &bg {
            Background::Matte(m) => m.get(i).is_some_and(|v| *v < 0.5),
            Background::SourceAlpha => src.data.get(i * 4 + 3).is_some_and(|v| *v < 0.5),
        };
        let votes = count(src, |_, _, i| below(i));
        let all = count(src, |_, _, _| true).2;
        (votes.2 * MIN_BACKGROUND >= all && votes.2 > 0).then_some(votes)
    });
    let ((g, b, n), from) = match from_hint {
        Some(v) => (v, Sampled::Hint),
        None => {
            let band = (w.min(h) / 16).max(1);
            let edge = |x: usize, y: usize| x < band || y < band || x + band >= w || y + band >= h;
            (count(src, |x, y, _| edge(x, y)), Sampled::Border)
        }
    };
    let wins = |a: usize, other: usize| a >= MARGIN * other && a * MIN_SCREEN >= n && a > 0;
    let (screen, ambiguous) = if wins(b, g) {
        (ScreenColour::Blue, false)
    } else if wins(g, b) {
        (ScreenColour::Green, false)
    } else {
        (ScreenColour::Green, true)
    };
    ScreenDecision {
        screen,
        ambiguous,
        green_votes: g,
        blue_votes: b,
        samples: n,
        from,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::contract::MatteImage;

    /// A small LCG so the test's noise is the same on every machine.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        }
    }

    /// Frame `t` of a plate: the screen colour with per-frame sensor noise (+-0.06), a static
    /// subject of `subject` colour and a moving one that crosses the frame (and its border).
    fn plate(t: usize, screen: [f32; 3], subject: [f32; 3], (w, h): (usize, usize)) -> RgbaImage {
        let mut n = Noise(1 + t as u64 * 7919);
        let mut img = RgbaImage::new(w, h);
        let mx = (t * 9) % (w + 40);
        for y in 0..h {
            for x in 0..w {
                let still = (w / 3..w / 2).contains(&x) && y > h / 4;
                let moving = x + 40 >= mx && x < mx && (h / 5..h).contains(&y);
                let c = if still || moving { subject } else { screen };
                let p = &mut img.data[(y * w + x) * 4..][..4];
                for k in 0..3 {
                    p[k] = (c[k] + 0.12 * n.next()).max(0.0);
                }
                p[3] = 1.0;
            }
        }
        img
    }

    fn decide_on(src: &RgbaImage, hint: Option<&MatteImage>, source: HintSource) -> ScreenDecision {
        let input = FrameInput {
            source: src,
            hint,
            garbage: None,
            core: None,
        };
        let params = KeyParams {
            hint_source: source,
            ..Default::default()
        };
        decide(&input, &params)
    }

    #[test]
    fn every_frame_of_a_noisy_plate_with_a_moving_subject_gives_one_answer() {
        let size = (160, 90);
        let green = [0.12, 0.62, 0.18];
        let blue = [0.1, 0.2, 0.72];
        // A blue shirt on green, a green-ish jacket on blue: the subject votes for the other screen.
        for (screen, subject, want) in [
            (green, [0.15, 0.25, 0.7], ScreenColour::Green),
            (green, [0.8, 0.55, 0.45], ScreenColour::Green),
            (blue, [0.2, 0.6, 0.25], ScreenColour::Blue),
            (blue, [0.8, 0.55, 0.45], ScreenColour::Blue),
        ] {
            for t in 0..24 {
                let d = decide_on(
                    &plate(t, screen, subject, size),
                    None,
                    HintSource::ChromaKey,
                );
                assert_eq!((d.screen, d.ambiguous), (want, false), "frame {t}: {d:?}");
                assert_eq!(d.from, Sampled::Border);
            }
        }
    }

    #[test]
    fn the_hint_background_is_used_when_it_has_enough_pixels() {
        let (w, h) = (64, 48);
        // Blue screen inside, a green frame border (a set wall): the hint says where the screen is.
        let mut src = plate(0, [0.1, 0.2, 0.72], [0.8, 0.5, 0.4], (w, h));
        for y in 0..h {
            for x in 0..w {
                if x < 6 || y < 6 || x >= w - 6 || y >= h - 6 {
                    src.data[(y * w + x) * 4..][..3].copy_from_slice(&[0.1, 0.6, 0.2]);
                }
            }
        }
        let mut hint = MatteImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let inner = (8..w - 8).contains(&x) && (8..h - 8).contains(&y);
                hint.data[y * w + x] = if inner && x > w / 2 { 1.0 } else { 0.0 };
                if !inner {
                    hint.data[y * w + x] = 1.0; // the wall is not screen
                }
            }
        }
        let d = decide_on(&src, Some(&hint), HintSource::Clip);
        assert_eq!(
            (d.screen, d.from),
            (ScreenColour::Blue, Sampled::Hint),
            "{d:?}"
        );
        // Without the hint the border decides: green.
        let d = decide_on(&src, None, HintSource::Clip);
        assert_eq!((d.screen, d.from), (ScreenColour::Green, Sampled::Border));
        // A hint that is foreground everywhere leaves the border to decide.
        let all = MatteImage {
            data: vec![1.0; w * h],
            ..hint
        };
        assert_eq!(
            decide_on(&src, Some(&all), HintSource::Clip).from,
            Sampled::Border
        );
    }

    #[test]
    fn an_ambiguous_frame_keys_as_green_and_says_so() {
        let (w, h) = (80, 60);
        let mut src = RgbaImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let c = if x < w / 2 {
                    [0.1, 0.6, 0.2]
                } else {
                    [0.1, 0.2, 0.6]
                };
                src.data[(y * w + x) * 4..][..4].copy_from_slice(&[c[0], c[1], c[2], 1.0]);
            }
        }
        let d = decide_on(&src, None, HintSource::ChromaKey);
        assert_eq!(
            (d.screen, d.ambiguous),
            (ScreenColour::Green, true),
            "{d:?}"
        );
        assert!(d.describe().contains("ambiguous, keyed as green"));
        // Grey: nobody votes, also ambiguous.
        let grey = RgbaImage {
            data: vec![0.4; w * h * 4],
            ..src
        };
        let d = decide_on(&grey, None, HintSource::ChromaKey);
        assert_eq!(
            (d.screen, d.ambiguous, d.green_votes + d.blue_votes),
            (ScreenColour::Green, true, 0)
        );
        // NaN pixels do not vote and do not panic.
        let nan = RgbaImage {
            data: vec![f32::NAN; w * h * 4],
            ..grey
        };
        assert!(decide_on(&nan, None, HintSource::ChromaKey).ambiguous);
    }
}
