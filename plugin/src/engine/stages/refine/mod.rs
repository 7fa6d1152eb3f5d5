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
    /// Tiles per refiner run (every run of a frame has this many; a short last run is padded).
    pub batch: usize,
}

/// Device memory one 512 x 512 tile of a refiner run adds to the peak (an earlier round: batch 25
/// at ~10 GB against ~5 GB at batch 4 on an H100; larger tiles scale with the area).
pub const TILE_512_MB: usize = 240;
/// What the rest of a frame holds while the refiner runs, counted against the budget: the CUDA
/// context (~0.7 GB), the sessions' provider instances and weights (~1.2 GB) and the shared arena
/// the coarse pass grew (~2 GB in use; BENCHMARKS.md's memory breakdown). At the default 6144 MiB
/// this leaves room for 9 tiles, which keeps the device peak near 6 GB.
pub const REFINE_RESERVE_MB: usize = 3840;

/// The most tiles of edge `t` one refiner run may take within a GPU budget of `budget_mb` (0: no
/// budget, the engine's bound).
pub fn budget_batch(budget_mb: usize, t: usize) -> usize {
    if budget_mb == 0 {
        return MAX_REFINER_BATCH;
    }
    let per_tile = (TILE_512_MB * t * t).div_ceil(512 * 512).max(1);
    (budget_mb.saturating_sub(REFINE_RESERVE_MB) / per_tile).clamp(1, MAX_REFINER_BATCH)
}

/// Tiles per run for a plan of `tiles` tiles when a run may take at most `most`: the fewest runs,
/// shared out evenly (25 tiles at most 16: two runs of 13, one padding tile). The batch follows
/// the plan, not the tiles the skip leaves, so a frame's runs keep one shape from frame to frame.
pub fn even_batch(tiles: usize, most: usize) -> usize {
    let most = most.max(1);
    let runs = tiles.max(1).div_ceil(most);
    tiles.max(1).div_ceil(runs)
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
    /// `options.refiner_batch` 0 means: as many tiles per run as `budget_mb` (the CUDA memory
    /// budget, 0 = none) allows, shared out evenly over the plan's runs.
    pub fn resolve(
        params: &KeyParams,
        options: &RenderOptions,
        (s, budget_mb): (usize, usize),
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
            } else if options.refiner_batch == 0 {
                let overlap = params.refiner.overlap.min(tile / 2);
                even_batch(plan(s, tile, overlap).len(), budget_batch(budget_mb, tile))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_sets_the_most_tiles_per_run() {
        // The default 6 GB budget: (6144 - 3840) / 240 = 9.
        assert_eq!(budget_batch(6144, 512), 9);
        // 8 GB: 18, bounded by the engine's 16; no budget: the bound.
        assert_eq!(budget_batch(8192, 512), 16);
        assert_eq!(budget_batch(0, 512), MAX_REFINER_BATCH);
        // Tiles of 1024 hold four times the memory.
        assert_eq!(budget_batch(6144, 1024), 2);
        // A budget under the reserve still runs one tile at a time.
        assert_eq!(budget_batch(1024, 512), 1);
    }

    #[test]
    fn runs_share_the_tiles_evenly() {
        // 25 tiles of S=2048: two runs of 13 (one padding tile) rather than 16 + 9.
        assert_eq!(even_batch(25, 16), 13);
        assert_eq!(even_batch(25, 9), 9);
        assert_eq!(even_batch(25, 8), 7);
        assert_eq!(even_batch(9, 16), 9);
        assert_eq!(even_batch(1, 16), 1);
        assert_eq!(even_batch(0, 16), 1);
        let tiles = plan(2048, 512, 128);
        let runs = batches(&tiles, even_batch(tiles.len(), 16));
        assert_eq!(runs.len(), 2);
        assert_eq!(runs.iter().map(|(_, real)| real).sum::<usize>(), 25);
    }

    #[test]
    fn the_default_batch_follows_the_plan_and_the_budget() {
        let params = KeyParams::default();
        let auto = RenderOptions::default();
        assert_eq!(auto.refiner_batch, 0);
        let at = |s, budget| RefineSettings::resolve(&params, &auto, (s, budget), true).batch;
        assert_eq!(at(2048, 6144), 9);
        assert_eq!(at(1024, 6144), 9);
        assert_eq!(at(2048, 8192), 13);
        assert_eq!(at(2048, 0), 13);
        let fixed = RenderOptions {
            refiner_batch: 4,
            ..Default::default()
        };
        assert_eq!(
            RefineSettings::resolve(&params, &fixed, (2048, 6144), true).batch,
            4
        );
    }
}
