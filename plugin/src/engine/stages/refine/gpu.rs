//! Stage 3 on the GPU path: upsample, tile crops, refiner batches, ramp blend and the final sigmoid
//! as kernels on the device. Only the upsampled alpha plane comes to CPU memory, for the skip test.
//! The CPU path spent ~350 ms of a 4K frame at S=2048 on an H100 on this work; the refiner graph
//! itself took ~115 ms (BENCHMARKS.md).

use ort::session::Session;
use ort::value::DynValue;

use super::tiles::{axis_weights, plan, Tile};
use super::{batches, split_tiles, tile_geometry, weight_sum, RefineSettings, Refined};
use crate::engine::error::EngineError;
use crate::engine::gpu::tensors::{cpu_memory, cpu_tensor, take, Place};
use crate::engine::gpu::{ConstKey, GpuKernels, Kernel, MAX_BATCH};
use crate::engine::stages::coarse::gpu::DeviceCoarse;

/// The refined alpha and fg at S on the device: `[1,4,S,S]` planes alpha, R, G, B (sRGB, straight).
pub struct DeviceRefined {
    pub s: usize,
    pub value: DynValue,
    pub tiles_run: Vec<Tile>,
    pub tiles_skipped: Vec<Tile>,
}

impl DeviceRefined {
    /// The same result as the CPU path's [`Refined`] (for the CPU finish: despeckle, status).
    pub fn to_cpu(&self, place: Place) -> Result<Refined, EngineError> {
        let plane = self.s * self.s;
        let mut all = vec![0.0f32; 4 * plane];
        place.download(&self.value, &mut all)?;
        let fg = all.split_off(plane);
        Ok(Refined {
            s: self.s,
            alpha: all,
            fg,
            tiles_run: self.tiles_run.clone(),
            tiles_skipped: self.tiles_skipped.clone(),
        })
    }
}

/// Upsampled logits, the refiner's input planes, the accumulator, and the alpha plane in CPU memory.
struct Prepped {
    up: DynValue,
    up_alpha: DynValue,
    rin: DynValue,
    acc: DynValue,
}

fn prep(k: &mut GpuKernels, coarse: DeviceCoarse) -> Result<Prepped, EngineError> {
    let dev = k.place().memory()?;
    let cpu_mem = cpu_memory()?;
    let e = EngineError::ort("GPU refine (upsampling)");
    let session = k.session(Kernel::RefinePrep)?;
    let mut binding = session.create_binding().map_err(e)?;
    binding.bind_input("image", &coarse.image).map_err(e)?;
    binding
        .bind_input("alpha_logits", &coarse.alpha_logits)
        .map_err(e)?;
    binding
        .bind_input("fg_logits", &coarse.fg_logits)
        .map_err(e)?;
    binding.bind_output_to_device("up", &dev).map_err(e)?;
    binding
        .bind_output_to_device("up_alpha", &cpu_mem)
        .map_err(e)?;
    binding.bind_output_to_device("rin", &dev).map_err(e)?;
    binding.bind_output_to_device("acc", &dev).map_err(e)?;
    let mut o = session.run_binding(&binding).map_err(e)?;
    Ok(Prepped {
        up: take(&mut o, "up")?,
        up_alpha: take(&mut o, "up_alpha")?,
        rin: take(&mut o, "rin")?,
        acc: take(&mut o, "acc")?,
    })
}

/// Sigmoid of the upsampled logits (refiner off).
fn sigmoid_only(k: &mut GpuKernels, up: &DynValue) -> Result<DynValue, EngineError> {
    let dev = k.place().memory()?;
    let e = EngineError::ort("GPU refine (sigmoid)");
    let session = k.session(Kernel::Sigmoid)?;
    let mut binding = session.create_binding().map_err(e)?;
    binding.bind_input("up", up).map_err(e)?;
    binding.bind_output_to_device("out", &dev).map_err(e)?;
    let mut o = session.run_binding(&binding).map_err(e)?;
    take(&mut o, "out")
}

/// One batch: crop the tiles, run the refiner, blend the deltas into `acc`.
#[allow(clippy::too_many_arguments)]
fn run_batch(
    k: &mut GpuKernels,
    refiner: &mut Session,
    rin: &DynValue,
    acc: DynValue,
    padded: &[Tile],
    real: usize,
    (s, t, overlap): (usize, usize, usize),
    strength: &DynValue,
) -> Result<DynValue, EngineError> {
    let dev = k.place().memory()?;
    let b = padded.len();
    let (ti, si) = (t as i64, s as i64);
    let mut boxes = Vec::with_capacity(b * 4);
    let mut pads = Vec::with_capacity(b * 8);
    let mut wy = Vec::with_capacity(b * t);
    let mut wx = Vec::with_capacity(b * t);
    for (i, tile) in padded.iter().enumerate() {
        let (y, x) = (tile.y as i64, tile.x as i64);
        boxes.extend([y, x, y + ti, x + ti]);
        pads.extend([0, 0, y, x, 0, 0, si - y - ti, si - x - ti]);
        if i < real {
            wy.extend(axis_weights(tile.y, t, s, overlap));
            wx.extend(axis_weights(tile.x, t, s, overlap));
        } else {
            // Padding repeats the last real tile; zero weights drop its delta.
            wy.extend(std::iter::repeat_n(0.0f32, t));
            wx.extend(std::iter::repeat_n(0.0f32, t));
        }
    }
    let (crop, blend) = k.tile_pair(b)?;

    let e = EngineError::ort("GPU refine (tile crop)");
    let mut binding = crop.create_binding().map_err(e)?;
    binding.bind_input("rin", rin).map_err(e)?;
    binding
        .bind_input("boxes", &cpu_tensor(&[b, 4], boxes)?)
        .map_err(e)?;
    binding.bind_output_to_device("tiles", &dev).map_err(e)?;
    let mut o = crop.run_binding(&binding).map_err(e)?;
    let batch = take(&mut o, "tiles")?;
    drop(o);

    let e = EngineError::ort("the refiner graph");
    let mut binding = refiner.create_binding().map_err(e)?;
    binding.bind_input("refiner_input", &batch).map_err(e)?;
    binding
        .bind_output_to_device("delta_logits", &dev)
        .map_err(e)?;
    let mut o = refiner.run_binding(&binding).map_err(e)?;
    let delta = take(&mut o, "delta_logits")?;
    drop(o);
    drop(batch);

    let e = EngineError::ort("GPU refine (blend)");
    let mut binding = blend.create_binding().map_err(e)?;
    binding.bind_input("acc", &acc).map_err(e)?;
    binding.bind_input("delta", &delta).map_err(e)?;
    binding
        .bind_input("pads", &cpu_tensor(&[b, 8], pads)?)
        .map_err(e)?;
    binding
        .bind_input("wy", &cpu_tensor(&[b, t], wy)?)
        .map_err(e)?;
    binding
        .bind_input("wx", &cpu_tensor(&[b, t], wx)?)
        .map_err(e)?;
    binding.bind_input("strength", strength).map_err(e)?;
    binding.bind_output_to_device("acc_out", &dev).map_err(e)?;
    let mut o = blend.run_binding(&binding).map_err(e)?;
    take(&mut o, "acc_out")
}

/// The blended deltas added to the logits, divided by the plan's weight sum, sigmoid.
fn add_deltas(
    k: &mut GpuKernels,
    up: &DynValue,
    acc: &DynValue,
    (s, t, overlap): (usize, usize, usize),
) -> Result<DynValue, EngineError> {
    let dev = k.place().memory()?;
    k.make_room();
    let wsum = k.constant(ConstKey::WeightSum(s, t, overlap), &[1, 1, s, s], || {
        Ok(weight_sum(s, t, overlap))
    })?;
    let (session, [wsum]) = k.session_with(Kernel::RefineFinal, [wsum])?;
    let e = EngineError::ort("GPU refine (final)");
    let mut binding = session.create_binding().map_err(e)?;
    binding.bind_input("up", up).map_err(e)?;
    binding.bind_input("acc", acc).map_err(e)?;
    binding.bind_input("wsum", wsum).map_err(e)?;
    binding.bind_output_to_device("out", &dev).map_err(e)?;
    let mut o = session.run_binding(&binding).map_err(e)?;
    take(&mut o, "out")
}

/// Runs the refine stage on the device.
pub fn refine(
    refiner: Option<&mut Session>,
    k: &mut GpuKernels,
    coarse: DeviceCoarse,
    s: usize,
    settings: &RefineSettings,
    abort: &dyn Fn() -> bool,
) -> Result<DeviceRefined, EngineError> {
    let Prepped {
        up,
        up_alpha,
        rin,
        mut acc,
    } = prep(k, coarse)?;
    let refiner = match refiner {
        Some(r) if settings.enabled => r,
        _ => {
            return Ok(DeviceRefined {
                s,
                value: sigmoid_only(k, &up)?,
                tiles_run: Vec::new(),
                tiles_skipped: Vec::new(),
            })
        }
    };

    let (t, overlap) = tile_geometry(settings, s);
    let tiles = plan(s, t, overlap);
    let (run_tiles, skip) = {
        let (_, alpha) = up_alpha
            .try_extract_tensor::<f32>()
            .map_err(EngineError::ort("GPU refine (skip test)"))?;
        if alpha.len() != s * s {
            return Err(EngineError::Internal(
                "upsampled alpha has the wrong size".into(),
            ));
        }
        split_tiles(&tiles, alpha, s, settings)
    };
    drop(up_alpha);
    let strength = cpu_tensor(&[1], vec![settings.strength])?;
    for (padded, real) in batches(&run_tiles, settings.batch.min(MAX_BATCH)) {
        if abort() {
            return Err(EngineError::Aborted);
        }
        acc = run_batch(
            k,
            refiner,
            &rin,
            acc,
            &padded,
            real,
            (s, t, overlap),
            &strength,
        )?;
    }
    drop(rin);
    Ok(DeviceRefined {
        s,
        value: add_deltas(k, &up, &acc, (s, t, overlap))?,
        tiles_run: run_tiles,
        tiles_skipped: skip,
    })
}
