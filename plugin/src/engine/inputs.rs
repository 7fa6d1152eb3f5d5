//! Input clean-up, before any stage: size checks, NaN/Inf replaced (and counted), the hint chosen.
//! Plain functions of the caller's frame; what they find goes into the frame report.

use std::borrow::Cow;
use std::sync::OnceLock;

use rayon::prelude::*;

use super::contract::{FrameInput, KeyParams, MatteImage, RgbaImage};
use super::error::{EngineError, InputProblem};
use super::hint::{self, HintPlan};
use super::report::FrameReport;

/// The frame the stages see: finite plate and mattes and where the hint comes from (all
/// `width x height`).
pub struct CleanFrame<'a> {
    pub src: Cow<'a, RgbaImage>,
    pub hint_plan: HintPlan<'a>,
    pub garbage: Option<Cow<'a, [f32]>>,
    pub core: Option<Cow<'a, [f32]>>,
    params: KeyParams,
    /// The hint computed on the CPU, when a CPU stage asks for it.
    hint_cpu: OnceLock<Vec<f32>>,
}

impl CleanFrame<'_> {
    pub fn size(&self) -> (usize, usize) {
        (self.src.width, self.src.height)
    }

    pub fn has_mattes(&self) -> bool {
        self.garbage.is_some() || self.core.is_some()
    }

    /// The hint on the CPU (the built-in key and the source's alpha are computed on first use).
    pub fn hint(&self) -> &[f32] {
        match &self.hint_plan {
            HintPlan::Clip(c) => c,
            plan => self
                .hint_cpu
                .get_or_init(|| hint::compute(plan, &self.params, &self.src)),
        }
    }
}

/// Rejects a frame whose buffers do not match their sizes, or a render scale that is not positive.
pub fn check(input: &FrameInput<'_>, params: &KeyParams) -> Result<(), EngineError> {
    let src = input.source;
    let (w, h) = (src.width, src.height);
    if src.data.len() != w * h * 4 {
        return Err(EngineError::BadInput(InputProblem::SourceLength {
            have: src.data.len(),
            width: w,
            height: h,
        }));
    }
    for (name, m) in [
        ("hint", input.hint),
        ("garbage", input.garbage),
        ("core", input.core),
    ] {
        if let Some(m) = m {
            if m.width != w || m.height != h || m.data.len() != w * h {
                return Err(EngineError::BadInput(InputProblem::MatteSize {
                    name,
                    width: m.width,
                    height: m.height,
                    len: m.data.len(),
                    source_width: w,
                    source_height: h,
                }));
            }
        }
    }
    if w > 0 && h > 0 && !(params.render_scale.is_finite() && params.render_scale > 0.0) {
        return Err(EngineError::BadInput(InputProblem::RenderScale(
            params.render_scale,
        )));
    }
    Ok(())
}

/// Replaces non-finite values, then plans the hint. Call after [`check`].
pub fn clean<'a>(
    input: &FrameInput<'a>,
    params: &KeyParams,
    report: &mut FrameReport,
) -> CleanFrame<'a> {
    let (src, mut bad) = sanitise_rgba(input.source);
    let mut clean = |m: Option<&'a MatteImage>| {
        m.map(|m| {
            let (c, n) = sanitise_matte(m);
            bad += n;
            c
        })
    };
    let (hint_clip, garbage, core) = (clean(input.hint), clean(input.garbage), clean(input.core));
    if bad > 0 {
        report.non_finite(bad);
        report.warn(format!(
            "{bad} input pixels were NaN or infinite and were replaced by 0"
        ));
    }
    let hint_plan = hint::plan(params, hint_clip, report);
    CleanFrame {
        src,
        hint_plan,
        garbage,
        core,
        params: params.clone(),
        hint_cpu: OnceLock::new(),
    }
}

/// Replaces NaN/Inf by 0; borrows when nothing needs replacing. Returns the non-finite pixel count.
fn sanitise_rgba(img: &RgbaImage) -> (Cow<'_, RgbaImage>, usize) {
    let bad = img
        .data
        .par_chunks(4)
        .filter(|p| p.iter().any(|v| !v.is_finite()))
        .count();
    if bad == 0 {
        return (Cow::Borrowed(img), 0);
    }
    let mut copy = img.clone();
    copy.data.par_iter_mut().for_each(|v| {
        if !v.is_finite() {
            *v = 0.0;
        }
    });
    (Cow::Owned(copy), bad)
}

fn sanitise_matte(m: &MatteImage) -> (Cow<'_, [f32]>, usize) {
    let bad = m.data.par_iter().filter(|v| !v.is_finite()).count();
    if bad == 0 {
        return (Cow::Borrowed(&m.data[..]), 0);
    }
    (
        Cow::Owned(
            m.data
                .par_iter()
                .map(|&v| if v.is_finite() { v } else { 0.0 })
                .collect(),
        ),
        bad,
    )
}
