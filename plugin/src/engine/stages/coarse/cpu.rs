//! Stage 2 on the CPU path: the coarse session on the packed input, logits copied to the host.

use ort::session::Session;
use ort::value::TensorRef;

use crate::engine::error::EngineError;

/// Coarse logits, planar, at Q = S/4.
#[derive(Clone, Debug)]
pub struct CoarseLogits {
    pub q: usize,
    /// `[Q*Q]`
    pub alpha: Vec<f32>,
    /// `[3*Q*Q]`, planes R, G, B.
    pub fg: Vec<f32>,
}

/// Output `name` of a model run, checked against the shape the stage expects.
pub(crate) fn take_output(
    outputs: &ort::session::SessionOutputs<'_>,
    name: &str,
    want: &[i64],
    step: &'static str,
) -> Result<Vec<f32>, EngineError> {
    let value = outputs
        .get(name)
        .ok_or_else(|| EngineError::Internal(format!("{step} produced no {name:?} output")))?;
    let (shape, data) = value
        .try_extract_tensor::<f32>()
        .map_err(EngineError::ort(step))?;
    if &shape[..] != want {
        return Err(EngineError::Internal(format!(
            "{step}: {name} has shape {:?}, expected {want:?}",
            &shape[..]
        )));
    }
    Ok(data.to_vec())
}

/// Clip of the simulated coarse alpha (kernels.py SIM_EPS): logits of about +-9.2.
const SIM_EPS: f32 = 1e-4;

/// The benchmark's simulated coarse alpha logits (`RenderOptions::simulate_trained_coarse`): the
/// logit of the packed input's hint channel averaged over 4x4 blocks, at Q = S/4.
pub fn simulated_alpha_logits(input: &[f32], s: usize) -> Vec<f32> {
    let (q, plane) = (s / 4, s * s);
    let hint = &input[3 * plane..4 * plane];
    let mut out = vec![0.0f32; q * q];
    for (i, o) in out.iter_mut().enumerate() {
        let (qy, qx) = (i / q, i % q);
        let mut sum = 0.0f32;
        for dy in 0..4 {
            let row = &hint[(qy * 4 + dy) * s + qx * 4..][..4];
            sum += row.iter().sum::<f32>();
        }
        let p = (sum / 16.0).clamp(SIM_EPS, 1.0 - SIM_EPS);
        *o = (p / (1.0 - p)).ln();
    }
    out
}

/// Runs the coarse session on the packed input tensor.
pub fn run_coarse(
    session: &mut Session,
    input: &[f32],
    s: usize,
) -> Result<CoarseLogits, EngineError> {
    if input.len() != 4 * s * s {
        return Err(EngineError::Internal(format!(
            "coarse input has {} values, expected 4x{s}x{s}",
            input.len()
        )));
    }
    let e = EngineError::ort("the coarse graph");
    let q = s / 4;
    let tensor = TensorRef::from_array_view(([1usize, 4, s, s], input)).map_err(e)?;
    let outputs = session.run(ort::inputs!["image" => tensor]).map_err(e)?;
    let qi = q as i64;
    let alpha = take_output(
        &outputs,
        "alpha_logits",
        &[1, 1, qi, qi],
        "the coarse graph",
    )?;
    let fg = take_output(&outputs, "fg_logits", &[1, 3, qi, qi], "the coarse graph")?;
    Ok(CoarseLogits { q, alpha, fg })
}
