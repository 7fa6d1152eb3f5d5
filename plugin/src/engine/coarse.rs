//! Stage 2: the coarse graph (backbone + decoders): `[1,4,S,S]` -> logits at S/4.

use ort::session::Session;
use ort::value::TensorRef;

use super::EngineError;

/// Coarse logits, planar, at Q = S/4.
#[derive(Clone, Debug)]
pub struct CoarseLogits {
    pub q: usize,
    /// `[Q*Q]`
    pub alpha: Vec<f32>,
    /// `[3*Q*Q]`, planes R, G, B.
    pub fg: Vec<f32>,
}

fn inference(e: impl std::fmt::Display) -> EngineError {
    EngineError::Inference(e.to_string())
}

fn take(
    outputs: &ort::session::SessionOutputs<'_>,
    name: &str,
    want: &[i64],
) -> Result<Vec<f32>, EngineError> {
    let value = outputs
        .get(name)
        .ok_or_else(|| EngineError::Inference(format!("graph produced no {name:?} output")))?;
    let (shape, data) = value.try_extract_tensor::<f32>().map_err(inference)?;
    if &shape[..] != want {
        return Err(EngineError::Inference(format!(
            "{name} has shape {:?}, expected {want:?}",
            &shape[..]
        )));
    }
    Ok(data.to_vec())
}

/// Runs the coarse session on the packed input tensor.
pub fn run_coarse(
    session: &mut Session,
    input: &[f32],
    s: usize,
) -> Result<CoarseLogits, EngineError> {
    if input.len() != 4 * s * s {
        return Err(EngineError::Inference(format!(
            "coarse input has {} values, expected 4x{s}x{s}",
            input.len()
        )));
    }
    let q = s / 4;
    let tensor = TensorRef::from_array_view(([1usize, 4, s, s], input)).map_err(inference)?;
    let outputs = session
        .run(ort::inputs!["image" => tensor])
        .map_err(inference)?;
    let qi = q as i64;
    let alpha = take(&outputs, "alpha_logits", &[1, 1, qi, qi])?;
    let fg = take(&outputs, "fg_logits", &[1, 3, qi, qi])?;
    Ok(CoarseLogits { q, alpha, fg })
}

/// Runs the refiner session on a `[B,7,T,T]` batch; returns `[B,4,T,T]` delta logits.
pub fn run_refiner(
    session: &mut Session,
    input: &[f32],
    b: usize,
    t: usize,
) -> Result<Vec<f32>, EngineError> {
    let tensor = TensorRef::from_array_view(([b, 7, t, t], input)).map_err(inference)?;
    let outputs = session
        .run(ort::inputs!["refiner_input" => tensor])
        .map_err(inference)?;
    take(&outputs, "delta_logits", &[b as i64, 4, t as i64, t as i64])
}
