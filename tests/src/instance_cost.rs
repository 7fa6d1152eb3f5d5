//! What an instance costs a host that creates one per frame (MLT's frame-threaded mode creates and
//! destroys an instance for every frame of an instance-safe plugin): createInstance, the first
//! render of a fresh instance and destroyInstance, beside a warm render of a kept instance on the
//! same plates. The model set is shared per process, so a fresh instance should cost its own
//! bookkeeping only. `ofx-instance-cost` prints the numbers.

use std::path::PathBuf;
use std::time::Instant;

use crate::synthetic::green_screen_plate;
use crate::{image_from_rgba, BitDepth, Components, Input, Instance, Plugin, RenderRequest};

#[derive(Clone, Debug)]
pub struct CostConfig {
    pub model: PathBuf,
    pub width: usize,
    pub height: usize,
    /// Frames measured (after one warm-up frame that loads the model).
    pub frames: usize,
}

/// Times in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct CostReport {
    /// The very first render of the process (it loads the model set).
    pub first_in_process_ms: f64,
    pub create_ms: Vec<f64>,
    pub fresh_render_ms: Vec<f64>,
    pub destroy_ms: Vec<f64>,
    pub warm_render_ms: Vec<f64>,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

/// Source plate `frame`, the model folder, the CPU provider, the built-in key.
fn prepare(inst: &Instance<'_>, cfg: &CostConfig, frame: u32) -> Result<(), String> {
    let p = green_screen_plate(cfg.width, cfg.height, frame);
    let img = image_from_rgba(
        p.width,
        p.height,
        &p.rgba,
        BitDepth::Float,
        Components::Rgba,
        false,
    )?;
    inst.set_input("Source", Input::Image(img))?;
    for clip in ["AlphaHint", "Garbage", "Core"] {
        inst.set_input(clip, Input::Unstated)?;
    }
    inst.set_string("modelFolder", &cfg.model.to_string_lossy())?;
    inst.set_int("device", 3)?;
    inst.set_int("hintSource", 2)
}

fn render(inst: &Instance<'_>, time: f64) -> Result<f64, String> {
    let t = Instant::now();
    inst.render(&RenderRequest {
        time,
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    if let Some(m) = inst.persistent_message() {
        return Err(format!("frame {time}: {}: {}", m.kind, m.text));
    }
    Ok(ms(t))
}

/// Runs the measurement: one warm-up frame on the kept instance, then per frame a fresh instance
/// (create, render, destroy) and the kept instance on the same plate at another time.
pub fn run(plugin: &Plugin, cfg: &CostConfig) -> Result<CostReport, String> {
    let mut r = CostReport::default();
    let kept = plugin
        .create_instance(crate::FILTER)
        .map_err(|e| e.to_string())?;
    prepare(&kept, cfg, 0)?;
    r.first_in_process_ms = render(&kept, 0.0)?;
    for i in 1..=cfg.frames {
        let t = Instant::now();
        let fresh = plugin
            .create_instance(crate::FILTER)
            .map_err(|e| e.to_string())?;
        r.create_ms.push(ms(t));
        prepare(&fresh, cfg, i as u32)?;
        r.fresh_render_ms.push(render(&fresh, i as f64)?);
        let t = Instant::now();
        fresh.destroy().map_err(|e| e.to_string())?;
        r.destroy_ms.push(ms(t));
        prepare(&kept, cfg, i as u32)?;
        r.warm_render_ms.push(render(&kept, 1000.0 + i as f64)?);
    }
    Ok(r)
}

impl CostReport {
    pub fn summary(&self) -> String {
        let per_instance =
            median(&self.create_ms) + median(&self.fresh_render_ms) + median(&self.destroy_ms)
                - median(&self.warm_render_ms);
        format!(
            "first render in the process (loads the model): {:.1} ms\n\
             createInstance: median {:.2} ms\n\
             first render of a fresh instance: median {:.1} ms\n\
             destroyInstance: median {:.2} ms\n\
             warm render of a kept instance: median {:.1} ms\n\
             cost of an instance per frame (create + first render + destroy - warm render): {:.1} ms\n",
            self.first_in_process_ms,
            median(&self.create_ms),
            median(&self.fresh_render_ms),
            median(&self.destroy_ms),
            median(&self.warm_render_ms),
            per_instance
        )
    }
}
