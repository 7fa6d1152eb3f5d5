//! Stage 3: upsample the coarse logits to S, run the refiner over tiles (sparse skip, batches),
//! blend the deltas with linear ramps, add them in logit space, sigmoid.

use rayon::prelude::*;

use super::coarse::CoarseLogits;
use super::colour::sigmoid;
use super::resize::resize_plane_bilinear_into;
use super::tiles::{axis_weights, plan, Tile};
use super::EngineError;

/// How the refiner runs for one frame (resolved from `RefinerParams` and the session set).
#[derive(Clone, Copy, Debug)]
pub struct RefineSettings {
    pub enabled: bool,
    pub strength: f32,
    /// Tile edge in model pixels (>= S means one full-frame tile).
    pub tile: usize,
    pub overlap: usize,
    pub sparse_skip: bool,
    pub skip_low: f32,
    pub skip_high: f32,
    /// Tiles per refiner run.
    pub batch: usize,
}

/// Refined alpha and straight sRGB foreground at S, plus the tiles that ran or were skipped.
#[derive(Clone, Debug, Default)]
pub struct Refined {
    pub s: usize,
    /// `[S*S]` in (0, 1).
    pub alpha: Vec<f32>,
    /// `[3*S*S]` planes R, G, B in (0, 1), sRGB, straight.
    pub fg: Vec<f32>,
    pub tiles_run: Vec<Tile>,
    pub tiles_skipped: Vec<Tile>,
}

/// `F.interpolate(bilinear, align_corners=False)` of the four logit planes to S: `[4*S*S]`.
pub fn upsample_logits(c: &CoarseLogits, s: usize) -> Result<Vec<f32>, EngineError> {
    let q = c.q;
    let plane = s * s;
    let mut up = vec![0.0f32; 4 * plane];
    let err = |e: String| EngineError::Inference(format!("upsampling coarse logits: {e}"));
    let (a, f) = up.split_at_mut(plane);
    resize_plane_bilinear_into(&c.alpha, (q, q), a, (s, s)).map_err(err)?;
    for (i, dst) in f.chunks_mut(plane).enumerate() {
        resize_plane_bilinear_into(&c.fg[i * q * q..(i + 1) * q * q], (q, q), dst, (s, s))
            .map_err(err)?;
    }
    Ok(up)
}

/// True when the tile's coarse alpha is uniform enough to skip (sigmoid is monotonic, so the test
/// runs on logits' min/max).
pub fn tile_is_uniform(alpha_logits: &[f32], s: usize, t: &Tile, low: f32, high: f32) -> bool {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for y in t.y..t.y + t.size {
        for &v in &alpha_logits[y * s + t.x..y * s + t.x + t.size] {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    sigmoid(hi) < low || sigmoid(lo) > high
}

/// Fills `[B,7,T,T]` for `tiles`: image channels 0-2, then sigmoid of the upsampled logits.
pub fn tile_batch(image: &[f32], up: &[f32], s: usize, tiles: &[Tile], t: usize) -> Vec<f32> {
    let plane = s * s;
    let mut batch = vec![0.0f32; tiles.len() * 7 * t * t];
    batch
        .par_chunks_mut(t)
        .enumerate()
        .for_each(|(row_idx, dst)| {
            let y = row_idx % t;
            let c = (row_idx / t) % 7;
            let tile = &tiles[row_idx / (7 * t)];
            let start = (tile.y + y) * s + tile.x;
            if c < 3 {
                dst.copy_from_slice(&image[c * plane + start..c * plane + start + t]);
            } else {
                let src = &up[(c - 3) * plane + start..(c - 3) * plane + start + t];
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = sigmoid(v);
                }
            }
        });
    batch
}

/// The tile edge and overlap used at S: the edge clamped to the image, the overlap to half a tile
/// (an overlap of a whole tile would never advance).
pub fn tile_geometry(settings: &RefineSettings, s: usize) -> (usize, usize) {
    let t = settings.tile.clamp(1, s);
    (t, settings.overlap.min(t / 2))
}

/// The tiles to run in batches of `batch`, each with its count of real tiles. Every batch has the
/// same shape: a short last batch is padded with copies of its last tile (their outputs are
/// dropped), because a shape that changes from run to run makes the CUDA arena re-plan every frame
/// (measured on an H100 it slowed the next frame's coarse pass from 66 to ~290 ms, BENCHMARKS.md).
/// Fewer tiles than a batch (one full-frame tile) are not padded.
pub fn batches(run: &[Tile], batch: usize) -> Vec<(Vec<Tile>, usize)> {
    let shape = batch.max(1).min(run.len().max(1));
    run.chunks(shape)
        .map(|c| {
            let mut padded = c.to_vec();
            padded.resize(shape, c[c.len() - 1]);
            (padded, c.len())
        })
        .collect()
}

/// Splits the plan into tiles to run and uniform tiles to skip, both in plan order.
pub fn split_tiles(
    tiles: &[Tile],
    alpha_logits: &[f32],
    s: usize,
    settings: &RefineSettings,
) -> (Vec<Tile>, Vec<Tile>) {
    tiles.iter().partition(|tile| {
        !(settings.sparse_skip
            && tile_is_uniform(alpha_logits, s, tile, settings.skip_low, settings.skip_high))
    })
}

/// The blend weights' sum per pixel over every tile of the plan (run or skipped: a skipped tile's
/// delta counts as zero), accumulated in plan order. `[S*S]`, never zero.
pub fn weight_sum(s: usize, t: usize, overlap: usize) -> Vec<f32> {
    let mut wsum = vec![0.0f32; s * s];
    for tile in plan(s, t, overlap) {
        let wx = axis_weights(tile.x, t, s, overlap);
        let wy = axis_weights(tile.y, t, s, overlap);
        wsum.par_chunks_mut(s)
            .skip(tile.y)
            .take(t)
            .enumerate()
            .for_each(|(y, row)| {
                for (x, w) in row[tile.x..tile.x + t].iter_mut().enumerate() {
                    *w += wx[x] * wy[y];
                }
            });
    }
    wsum
}

/// Evaluates the refiner graph on a `[B,7,T,T]` batch: `(batch, B, T) -> [B,4,T,T]` delta logits.
pub type RefinerRun<'a> = dyn FnMut(&[f32], usize, usize) -> Result<Vec<f32>, EngineError> + 'a;

/// Runs the refiner over the tile plan. `run(batch, b, t)` evaluates the refiner graph; `abort`
/// is polled between batches.
pub fn refine(
    image: &[f32],
    up: &[f32],
    s: usize,
    settings: &RefineSettings,
    run: &mut RefinerRun<'_>,
    abort: &dyn Fn() -> bool,
) -> Result<Refined, EngineError> {
    let plane = s * s;
    if image.len() < 3 * plane || up.len() != 4 * plane {
        return Err(EngineError::Inference(
            "refiner inputs do not match S".into(),
        ));
    }
    let mut out = Refined {
        s,
        ..Default::default()
    };
    let mut delta: Option<(Vec<f32>, Vec<f32>)> = None;
    if settings.enabled {
        let (t, overlap) = tile_geometry(settings, s);
        let tiles = plan(s, t, overlap);
        let (run_tiles, skip) = split_tiles(&tiles, &up[..plane], s, settings);
        // Tiles are accumulated in plan order, so a pixel that no skipped tile touches sums exactly
        // the same terms in the same order as in a run without skipping.
        let mut acc = vec![0.0f32; 4 * plane];
        for (padded, real) in batches(&run_tiles, settings.batch) {
            if abort() {
                return Err(EngineError::Aborted);
            }
            let input = tile_batch(image, up, s, &padded, t);
            let deltas = run(&input, padded.len(), t)?;
            if deltas.len() != padded.len() * 4 * t * t {
                return Err(EngineError::Inference(
                    "refiner returned a wrong-sized batch".into(),
                ));
            }
            for (bi, tile) in padded[..real].iter().enumerate() {
                let wx = axis_weights(tile.x, t, s, overlap);
                let wy = axis_weights(tile.y, t, s, overlap);
                for c in 0..4 {
                    let d = &deltas[(bi * 4 + c) * t * t..(bi * 4 + c + 1) * t * t];
                    let a = &mut acc[c * plane..(c + 1) * plane];
                    a.par_chunks_mut(s)
                        .skip(tile.y)
                        .take(t)
                        .enumerate()
                        .for_each(|(y, row)| {
                            let row = &mut row[tile.x..tile.x + t];
                            let drow = &d[y * t..(y + 1) * t];
                            for x in 0..t {
                                row[x] += drow[x] * settings.strength * (wx[x] * wy[y]);
                            }
                        });
                }
            }
        }
        let wsum = weight_sum(s, t, overlap);
        out.tiles_run = run_tiles;
        out.tiles_skipped = skip;
        delta = Some((acc, wsum));
    }
    out.alpha = vec![0.0f32; plane];
    out.fg = vec![0.0f32; 3 * plane];
    let (fr, fgb) = out.fg.split_at_mut(plane);
    let (fgp, fb) = fgb.split_at_mut(plane);
    out.alpha
        .par_chunks_mut(s)
        .zip(fr.par_chunks_mut(s))
        .zip(fgp.par_chunks_mut(s))
        .zip(fb.par_chunks_mut(s))
        .enumerate()
        .for_each(|(y, (((a, r), g), b))| {
            let dst: [&mut [f32]; 4] = [a, r, g, b];
            for (c, d) in dst.into_iter().enumerate() {
                let base = c * plane + y * s;
                for x in 0..s {
                    let mut v = up[base + x];
                    if let Some((acc, wsum)) = &delta {
                        v += acc[base + x] / wsum[y * s + x];
                    }
                    d[x] = sigmoid(v);
                }
            }
        });
    Ok(out)
}
