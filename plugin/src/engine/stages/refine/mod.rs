//! Stage 3: upsample the coarse logits to S, run the refiner over tiles (sparse skip, batches),
//! blend the deltas with linear ramps, add them in logit space, sigmoid. The tile plan, the skip
//! rule, batching and the blend weights here are shared by both forms (`cpu.rs`, `gpu.rs`), so the
//! two paths run the same tiles in the same order.

pub mod cpu;
pub mod gpu;
pub mod tiles;

use rayon::prelude::*;

use crate::engine::contract::{KeyParams, RenderOptions, TileSize};
use crate::engine::imaging::colour::sigmoid;
use crate::engine::limits::MAX_REFINER_BATCH;
use tiles::{axis_weights, plan, Tile};

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

impl RefineSettings {
    /// The refiner settings of one frame at S.
    pub fn resolve(
        params: &KeyParams,
        options: &RenderOptions,
        s: usize,
        have_refiner: bool,
    ) -> RefineSettings {
        let tile = match params.refiner.tile {
            TileSize::T512 => 512,
            TileSize::T1024 => 1024,
            TileSize::FullFrame => s,
        };
        RefineSettings {
            enabled: params.refiner.enabled && have_refiner,
            strength: params.refiner.strength,
            tile,
            overlap: params.refiner.overlap,
            sparse_skip: params.refiner.sparse_skip,
            skip_low: params.refiner.skip_low,
            skip_high: params.refiner.skip_high,
            batch: if tile >= s {
                1
            } else {
                options.refiner_batch.clamp(1, MAX_REFINER_BATCH)
            },
        }
    }
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
