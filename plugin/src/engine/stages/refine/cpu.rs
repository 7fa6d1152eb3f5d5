//! Stage 3 on the CPU path: logits upsampled on the CPU, tile batches packed there, the refiner
//! session per batch, deltas blended on the CPU.

use ort::session::Session;
use ort::value::TensorRef;
use rayon::prelude::*;

use super::tiles::{axis_weights, plan, Tile};
use super::{batches, split_tiles, tile_geometry, weight_sum, RefineSettings, Refined};
use crate::engine::error::EngineError;
use crate::engine::imaging::colour::sigmoid;
use crate::engine::imaging::resize::resize_plane_bilinear_into;
use crate::engine::stages::coarse::cpu::{take_output, CoarseLogits};

/// `F.interpolate(bilinear, align_corners=False)` of the four logit planes to S: `[4*S*S]`.
pub fn upsample_logits(c: &CoarseLogits, s: usize) -> Result<Vec<f32>, EngineError> {
    let q = c.q;
    let plane = s * s;
    let mut up = vec![0.0f32; 4 * plane];
    let err = |e| EngineError::Internal(format!("upsampling coarse logits: {e}"));
    let (a, f) = up.split_at_mut(plane);
    resize_plane_bilinear_into(&c.alpha, (q, q), a, (s, s)).map_err(err)?;
    for (i, dst) in f.chunks_mut(plane).enumerate() {
        resize_plane_bilinear_into(&c.fg[i * q * q..(i + 1) * q * q], (q, q), dst, (s, s))
            .map_err(err)?;
    }
    Ok(up)
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
        return Err(EngineError::Internal(
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
                return Err(EngineError::Internal(
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

/// Runs the refiner session on a `[B,7,T,T]` batch; returns `[B,4,T,T]` delta logits.
pub fn run_refiner(
    session: &mut Session,
    input: &[f32],
    b: usize,
    t: usize,
) -> Result<Vec<f32>, EngineError> {
    let e = EngineError::ort("the refiner graph");
    let tensor = TensorRef::from_array_view(([b, 7, t, t], input)).map_err(e)?;
    let outputs = session
        .run(ort::inputs!["refiner_input" => tensor])
        .map_err(e)?;
    take_output(
        &outputs,
        "delta_logits",
        &[b as i64, 4, t as i64, t as i64],
        "the refiner graph",
    )
}
