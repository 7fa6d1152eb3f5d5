//! Stages 2-3 on the device: the coarse graph with its logits left there, then upsample, tile crops,
//! refiner batches, ramp blend and the final sigmoid as kernels. Only the upsampled alpha plane
//! comes to the host, for the skip test. The host path (`engine::refine`) spent ~350 ms of a 4K
//! frame at S=2048 on an H100 on this work; the refiner graph itself took ~115 ms (BENCHMARKS.md).

use ort::session::Session;
use ort::value::DynValue;

use super::{copy_out, err, host_tensor, take, Kernels, MAX_BATCH};
use crate::engine::refine::{
    batches, split_tiles, tile_geometry, weight_sum, RefineSettings, Refined,
};
use crate::engine::tiles::{axis_weights, plan, Tile};
use crate::engine::EngineError;

/// The coarse pass's input and outputs, on the device.
pub struct DeviceCoarse {
    image: DynValue,
    alpha_logits: DynValue,
    fg_logits: DynValue,
}

/// The refined alpha and fg at S on the device: `[1,4,S,S]` planes alpha, R, G, B (sRGB, straight).
pub struct DeviceRefined {
    pub s: usize,
    pub value: DynValue,
    pub tiles_run: Vec<Tile>,
    pub tiles_skipped: Vec<Tile>,
}

impl DeviceRefined {
    /// The same result as the host path's [`Refined`] (for the host finish: despeckle, status).
    pub fn to_host(&self, k: &Kernels) -> Result<Refined, EngineError> {
        let plane = self.s * self.s;
        let host = if k.on_gpu() {
            let t = self
                .value
                .view()
                .downcast::<ort::value::DynTensorValueType>()
                .map_err(err)?;
            Some(
                t.to(ort::memory::AllocationDevice::CPU, 0)
                    .map_err(err)?
                    .into_dyn(),
            )
        } else {
            None
        };
        let mut all = vec![0.0f32; 4 * plane];
        copy_out(host.as_ref().unwrap_or(&self.value), &mut all)?;
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

/// Runs the coarse graph on the `[1,4,S,S]` device image; the logits stay on the device.
pub fn run_coarse(
    coarse: &mut Session,
    k: &Kernels,
    image: DynValue,
) -> Result<DeviceCoarse, EngineError> {
    let dev = k.device()?;
    let mut binding = coarse.create_binding().map_err(err)?;
    binding.bind_input("image", &image).map_err(err)?;
    binding
        .bind_output_to_device("alpha_logits", &dev)
        .map_err(err)?;
    binding
        .bind_output_to_device("fg_logits", &dev)
        .map_err(err)?;
    let mut out = coarse.run_binding(&binding).map_err(err)?;
    let alpha_logits = take(&mut out, "alpha_logits")?;
    let fg_logits = take(&mut out, "fg_logits")?;
    drop(out);
    Ok(DeviceCoarse {
        image,
        alpha_logits,
        fg_logits,
    })
}

/// Runs the refine stage on the device.
pub fn refine(
    refiner: Option<&mut Session>,
    k: &mut Kernels,
    coarse: DeviceCoarse,
    s: usize,
    settings: &RefineSettings,
    abort: &dyn Fn() -> bool,
) -> Result<DeviceRefined, EngineError> {
    let dev = k.device()?;
    let host = Kernels::host()?;

    let prep = k.session("refine_prep")?;
    let mut binding = prep.create_binding().map_err(err)?;
    binding.bind_input("image", &coarse.image).map_err(err)?;
    binding
        .bind_input("alpha_logits", &coarse.alpha_logits)
        .map_err(err)?;
    binding
        .bind_input("fg_logits", &coarse.fg_logits)
        .map_err(err)?;
    binding.bind_output_to_device("up", &dev).map_err(err)?;
    binding
        .bind_output_to_device("up_alpha", &host)
        .map_err(err)?;
    binding.bind_output_to_device("rin", &dev).map_err(err)?;
    binding.bind_output_to_device("acc", &dev).map_err(err)?;
    let mut o = prep.run_binding(&binding).map_err(err)?;
    let (up, up_alpha, rin, mut acc) = (
        take(&mut o, "up")?,
        take(&mut o, "up_alpha")?,
        take(&mut o, "rin")?,
        take(&mut o, "acc")?,
    );
    drop(o);
    drop(binding);
    drop(coarse);

    let refiner = match refiner {
        Some(r) if settings.enabled => r,
        _ => {
            let sig = k.session("sigmoid")?;
            let mut binding = sig.create_binding().map_err(err)?;
            binding.bind_input("up", &up).map_err(err)?;
            binding.bind_output_to_device("out", &dev).map_err(err)?;
            let mut o = sig.run_binding(&binding).map_err(err)?;
            return Ok(DeviceRefined {
                s,
                value: take(&mut o, "out")?,
                tiles_run: Vec::new(),
                tiles_skipped: Vec::new(),
            });
        }
    };

    let (t, overlap) = tile_geometry(settings, s);
    let tiles = plan(s, t, overlap);
    let (run_tiles, skip) = {
        let (_, alpha) = up_alpha.try_extract_tensor::<f32>().map_err(err)?;
        if alpha.len() != s * s {
            return Err(err("upsampled alpha has the wrong size"));
        }
        split_tiles(&tiles, alpha, s, settings)
    };
    drop(up_alpha);
    let strength = host_tensor(&[1], vec![settings.strength])?;
    for (padded, real) in batches(&run_tiles, settings.batch.min(MAX_BATCH)) {
        if abort() {
            return Err(EngineError::Aborted);
        }
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
        let (crop, blend) = k.tile_sessions(b)?;

        let mut binding = crop.create_binding().map_err(err)?;
        binding.bind_input("rin", &rin).map_err(err)?;
        binding
            .bind_input("boxes", &host_tensor(&[b, 4], boxes)?)
            .map_err(err)?;
        binding.bind_output_to_device("tiles", &dev).map_err(err)?;
        let mut o = crop.run_binding(&binding).map_err(err)?;
        let batch = take(&mut o, "tiles")?;
        drop(o);

        let mut binding = refiner.create_binding().map_err(err)?;
        binding.bind_input("refiner_input", &batch).map_err(err)?;
        binding
            .bind_output_to_device("delta_logits", &dev)
            .map_err(err)?;
        let mut o = refiner.run_binding(&binding).map_err(err)?;
        let delta = take(&mut o, "delta_logits")?;
        drop(o);
        drop(batch);

        let mut binding = blend.create_binding().map_err(err)?;
        binding.bind_input("acc", &acc).map_err(err)?;
        binding.bind_input("delta", &delta).map_err(err)?;
        binding
            .bind_input("pads", &host_tensor(&[b, 8], pads)?)
            .map_err(err)?;
        binding
            .bind_input("wy", &host_tensor(&[b, t], wy)?)
            .map_err(err)?;
        binding
            .bind_input("wx", &host_tensor(&[b, t], wx)?)
            .map_err(err)?;
        binding.bind_input("strength", &strength).map_err(err)?;
        binding
            .bind_output_to_device("acc_out", &dev)
            .map_err(err)?;
        let mut o = blend.run_binding(&binding).map_err(err)?;
        let next = take(&mut o, "acc_out")?;
        drop(o);
        acc = next;
    }
    drop(rin);

    k.session("refine_final")?;
    let key = (s, t, overlap);
    if k.wsum
        .as_ref()
        .map(|(have, _)| *have != key)
        .unwrap_or(true)
    {
        k.wsum = None;
        let w = weight_sum(s, t, overlap);
        k.wsum = Some((key, k.upload(&[1, 1, s, s], &w)?));
    }
    let wsum = match &k.wsum {
        Some((_, v)) => v,
        None => return Err(err("weight sum missing")),
    };
    let fin = k
        .sessions
        .get_mut("refine_final")
        .ok_or_else(|| err("kernel refine_final missing"))?;
    let mut binding = fin.create_binding().map_err(err)?;
    binding.bind_input("up", &up).map_err(err)?;
    binding.bind_input("acc", &acc).map_err(err)?;
    binding.bind_input("wsum", wsum).map_err(err)?;
    binding.bind_output_to_device("out", &dev).map_err(err)?;
    let mut o = fin.run_binding(&binding).map_err(err)?;
    Ok(DeviceRefined {
        s,
        value: take(&mut o, "out")?,
        tiles_run: run_tiles,
        tiles_skipped: skip,
    })
}
