//! Stage 3 on the GPU path: upsample, tile crops, refiner batches and the ramp blend as kernels on
//! the device. Only the upsampled alpha plane comes to CPU memory, for the skip test. The last
//! step (deltas over the weight sum, added to the logits, sigmoid) runs inside the finish kernel
//! (`finish_refined`), or on its own when the CPU finish needs the refined matte.

use std::time::Instant;

use ort::session::Session;
use ort::value::DynValue;

use super::tiles::{axis_weights, plan, Tile};
use super::{batches, split_tiles, tile_geometry, weight_sum, RefineSettings, Refined};
use crate::engine::contract::Medium;
use crate::engine::error::EngineError;
use crate::engine::gpu::tensors::{cpu_memory, cpu_tensor, take, Place};
use crate::engine::gpu::{ConstKey, GpuKernels, Kernel, MAX_BATCH};
use crate::engine::stages::coarse::gpu::DeviceCoarse;

/// The refined alpha and fg at S on the device.
pub enum RefinedOnDevice {
    /// Upsampled logits `up`, blended deltas `acc` and the plan's weight sum: the refined matte is
    /// `sigmoid(up + acc / wsum)`, computed by the kernel that consumes it.
    Logits {
        up: DynValue,
        acc: DynValue,
        wsum: ConstKey,
    },
    /// `[1,4,S,S]` planes alpha, R, G, B (sRGB, straight), already final (refiner off).
    Final(DynValue),
}

pub struct DeviceRefined {
    pub s: usize,
    pub value: RefinedOnDevice,
    pub tiles_run: Vec<Tile>,
    pub tiles_skipped: Vec<Tile>,
}

impl DeviceRefined {
    /// Calls `f` with the final `[1,4,S,S]` planes on the device (computed from the logits when the
    /// refiner ran; borrowed as they are when it did not).
    pub fn with_final_planes<R>(
        &self,
        k: &mut GpuKernels,
        f: impl FnOnce(&mut GpuKernels, &DynValue) -> Result<R, EngineError>,
    ) -> Result<R, EngineError> {
        match &self.value {
            RefinedOnDevice::Final(v) => f(k, v),
            RefinedOnDevice::Logits { up, acc, wsum } => {
                let dev = k.place().memory()?;
                let (session, [wsum]) = k.session_with(Kernel::RefineFinal, [*wsum])?;
                let e = EngineError::ort("GPU refine (final)");
                let mut binding = session.create_binding().map_err(e)?;
                binding.bind_input("up", up).map_err(e)?;
                binding.bind_input("acc", acc).map_err(e)?;
                binding.bind_input("wsum", wsum).map_err(e)?;
                binding.bind_output_to_device("out", &dev).map_err(e)?;
                let mut o = session.run_binding(&binding).map_err(e)?;
                let planes = take(&mut o, "out")?;
                drop(o);
                drop(binding);
                f(k, &planes)
            }
        }
    }

    /// The same result as the CPU path's [`Refined`] (for the CPU finish: despeckle, status).
    pub fn to_cpu(&self, k: &mut GpuKernels) -> Result<Refined, EngineError> {
        let plane = self.s * self.s;
        let mut all = vec![0.0f32; 4 * plane];
        self.with_final_planes(k, |k, planes| k.place().download(planes, &mut all))?;
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

/// One batch's blend inputs: where its deltas go and with what weights.
struct Blend {
    pads: DynValue,
    wy: DynValue,
    wx: DynValue,
}

impl Blend {
    /// Pads and ramp weights of `padded` (padding tiles, past `real`, get zero weights).
    fn of(
        padded: &[Tile],
        real: usize,
        (s, t, overlap): (usize, usize, usize),
    ) -> Result<Self, EngineError> {
        let b = padded.len();
        let (ti, si) = (t as i64, s as i64);
        let mut pads = Vec::with_capacity(b * 8);
        let mut wy = Vec::with_capacity(b * t);
        let mut wx = Vec::with_capacity(b * t);
        for (i, tile) in padded.iter().enumerate() {
            let (y, x) = (tile.y as i64, tile.x as i64);
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
        Ok(Self {
            pads: cpu_tensor(&[b, 8], pads)?,
            wy: cpu_tensor(&[b, t], wy)?,
            wx: cpu_tensor(&[b, t], wx)?,
        })
    }

    /// Zero weights: the first step blends nothing.
    fn none(b: usize, (s, t): (usize, usize)) -> Result<Self, EngineError> {
        let pads: Vec<i64> = (0..b)
            .flat_map(|_| [0, 0, 0, 0, 0, 0, (s - t) as i64, (s - t) as i64])
            .collect();
        Ok(Self {
            pads: cpu_tensor(&[b, 8], pads)?,
            wy: cpu_tensor(&[b, t], vec![0.0f32; b * t])?,
            wx: cpu_tensor(&[b, t], vec![0.0f32; b * t])?,
        })
    }
}

fn boxes(tiles: &[Tile], t: usize) -> Result<DynValue, EngineError> {
    let ti = t as i64;
    let b: Vec<i64> = tiles
        .iter()
        .flat_map(|tile| {
            let (y, x) = (tile.y as i64, tile.x as i64);
            [y, x, y + ti, x + ti]
        })
        .collect();
    cpu_tensor(&[tiles.len(), 4], b)
}

/// What every refine step of a frame reads: the refiner input planes, the strength, the batch and
/// the tile edge.
struct StepInputs<'a> {
    rin: &'a DynValue,
    strength: &'a DynValue,
    b: usize,
    t: usize,
}

/// One refine step: blend `delta` (weights `blend`) into `acc`, crop the tiles at `next`.
fn step(
    k: &mut GpuKernels,
    inputs: &StepInputs<'_>,
    acc: &DynValue,
    delta: Option<&DynValue>,
    blend: &Blend,
    next: &DynValue,
) -> Result<(DynValue, DynValue), EngineError> {
    let StepInputs {
        rin,
        strength,
        b,
        t,
    } = *inputs;
    let dev = k.place().memory()?;
    let zeros = k.constant(ConstKey::ZeroDeltas(b, t), &[b, 4, t, t], || {
        Ok(vec![0.0f32; b * 4 * t * t])
    })?;
    let (session, [zeros]) = k.tile_step_with(b, [zeros])?;
    let e = EngineError::ort("GPU refine (blend and crop)");
    let mut binding = session.create_binding().map_err(e)?;
    binding.bind_input("acc", acc).map_err(e)?;
    binding
        .bind_input("delta", delta.unwrap_or(zeros))
        .map_err(e)?;
    binding.bind_input("pads", &blend.pads).map_err(e)?;
    binding.bind_input("wy", &blend.wy).map_err(e)?;
    binding.bind_input("wx", &blend.wx).map_err(e)?;
    binding.bind_input("strength", strength).map_err(e)?;
    binding.bind_input("rin", rin).map_err(e)?;
    binding.bind_input("boxes", next).map_err(e)?;
    binding.bind_output_to_device("acc_out", &dev).map_err(e)?;
    binding.bind_output_to_device("tiles", &dev).map_err(e)?;
    let mut o = session.run_binding(&binding).map_err(e)?;
    Ok((take(&mut o, "acc_out")?, take(&mut o, "tiles")?))
}

fn run_refiner(
    refiner: &mut Session,
    place: Place,
    tiles: &DynValue,
) -> Result<DynValue, EngineError> {
    let dev = place.memory()?;
    let e = EngineError::ort("the refiner graph");
    let mut binding = refiner.create_binding().map_err(e)?;
    binding.bind_input("refiner_input", tiles).map_err(e)?;
    binding
        .bind_output_to_device("delta_logits", &dev)
        .map_err(e)?;
    let mut o = refiner.run_binding(&binding).map_err(e)?;
    take(&mut o, "delta_logits")
}

/// Every batch of `plan` through the refiner, its deltas blended into `acc`: step i blends batch
/// i-1 and crops batch i (the first blends nothing); one more step blends the last batch and crops
/// it again for nobody.
fn run_batches(
    k: &mut GpuKernels,
    refiner: &mut Session,
    inputs: &StepInputs<'_>,
    acc: DynValue,
    plan: &[(Vec<Tile>, usize)],
    (s, overlap): (usize, usize),
    abort: &dyn Fn() -> bool,
) -> Result<DynValue, EngineError> {
    let t = inputs.t;
    let Some((first, _)) = plan.first() else {
        return Ok(acc);
    };
    let none = Blend::none(inputs.b, (s, t))?;
    let (mut acc, mut tiles_now) = step(k, inputs, &acc, None, &none, &boxes(first, t)?)?;
    for (i, (padded, real)) in plan.iter().enumerate() {
        if abort() {
            return Err(EngineError::Aborted);
        }
        let started = Instant::now();
        let delta = run_refiner(refiner, k.place(), &tiles_now)?;
        // Tiles in (7 planes), deltas out (4): the graph is bound by its arithmetic.
        let b = padded.len();
        k.record("refiner run", started, 44 * b * t * t, Medium::Device);
        let started = Instant::now();
        let blend = Blend::of(padded, *real, (s, t, overlap))?;
        let next = plan.get(i + 1).map_or(padded, |(p, _)| p);
        let (a, tl) = step(k, inputs, &acc, Some(&delta), &blend, &boxes(next, t)?)?;
        // Deltas read, their tiles of acc read and written, the next tiles cropped.
        let bytes = 104 * b * t * t;
        k.record("tile blend + crop", started, bytes, Medium::Device);
        acc = a;
        tiles_now = tl;
    }
    Ok(acc)
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
    let started = Instant::now();
    let Prepped {
        up,
        up_alpha,
        rin,
        mut acc,
    } = prep(k, coarse)?;
    // Logits in; up, rin and acc written; the alpha plane down for the skip test.
    let prep_bytes = 80 * s * s;
    k.record(
        "refine prep (alpha plane down)",
        started,
        prep_bytes,
        Medium::Device,
    );
    let refiner = match refiner {
        Some(r) if settings.enabled => r,
        _ => {
            return Ok(DeviceRefined {
                s,
                value: RefinedOnDevice::Final(sigmoid_only(k, &up)?),
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
    let plan = batches(&run_tiles, settings.batch.min(MAX_BATCH));
    if let Some((first, _)) = plan.first() {
        let inputs = StepInputs {
            rin: &rin,
            strength: &strength,
            b: first.len(),
            t,
        };
        acc = run_batches(k, refiner, &inputs, acc, &plan, (s, overlap), abort)?;
    }
    drop(rin);
    let wsum = k.constant(ConstKey::WeightSum(s, t, overlap), &[1, 1, s, s], || {
        Ok(weight_sum(s, t, overlap))
    })?;
    Ok(DeviceRefined {
        s,
        value: RefinedOnDevice::Logits { up, acc, wsum },
        tiles_run: run_tiles,
        tiles_skipped: skip,
    })
}
