//! Input clean-up, before any stage: size checks, NaN/Inf replaced (and counted), the plate and hint
//! brought into the network's domain, the hint chosen. Plain functions of the caller's frame; what
//! they find goes into the frame report.

use std::borrow::Cow;
use std::sync::OnceLock;

use rayon::prelude::*;

use super::abort::Abort;
use super::contract::{FrameInput, KeyParams, MatteImage, RgbaImage};
use super::error::{EngineError, InputProblem};
use super::hint::{self, HintPlan};
use super::limits;
use super::report::FrameReport;
use super::stages::prepare::domain;

/// The frame the stages see: finite plate and mattes, the plate inside the network's domain
/// (`stages/prepare/domain.rs`), where the hint comes from (all `width x height`), and the host's
/// abort poll for the stages' long CPU loops.
pub struct CleanFrame<'a> {
    pub src: Cow<'a, RgbaImage>,
    pub hint_plan: HintPlan<'a>,
    pub garbage: Option<Cow<'a, [f32]>>,
    pub core: Option<Cow<'a, [f32]>>,
    params: KeyParams,
    /// The hint computed on the CPU, when a CPU stage asks for it (inside 0..1).
    hint_cpu: OnceLock<Vec<f32>>,
    pub abort: Abort<'a>,
}

impl CleanFrame<'_> {
    pub fn size(&self) -> (usize, usize) {
        (self.src.width, self.src.height)
    }

    pub fn has_mattes(&self) -> bool {
        self.garbage.is_some() || self.core.is_some()
    }

    /// The hint on the CPU (the built-in key and the source's alpha are computed on first use,
    /// polling the host's abort; a source alpha outside 0..1 is clamped into the model's domain).
    pub fn hint(&self) -> Result<&[f32], EngineError> {
        match &self.hint_plan {
            HintPlan::Clip(c) => Ok(c),
            plan => {
                if let Some(h) = self.hint_cpu.get() {
                    return Ok(h);
                }
                let computed = hint::compute(plan, &self.params, &self.src, self.abort)?;
                let (computed, _) = clamp_hint(Cow::Owned(computed))?;
                Ok(self.hint_cpu.get_or_init(|| computed.into_owned()))
            }
        }
    }
}

/// Rejects a frame beyond the size bounds (`limits.rs`), buffers that do not match their sizes, or
/// a render scale that is not positive. Nothing is allocated before this passes.
pub fn check(input: &FrameInput<'_>, params: &KeyParams) -> Result<(), EngineError> {
    let src = input.source;
    let (w, h) = (src.width, src.height);
    limits::check_plate(w, h).map_err(EngineError::BadInput)?;
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

/// The note for clip points that cannot clip (clipBlack >= clipWhite).
pub fn clip_off_note(black: f32, white: f32) -> String {
    format!("clipBlack {black} >= clipWhite {white}: the matte is not clipped (clip needs white > black)")
}

/// Replaces non-finite values, brings the plate into the network's domain and plans the hint (a
/// clip hint is brought into its domain here, a computed one when it is computed). Call after
/// [`check`].
pub fn clean<'a>(
    input: &FrameInput<'a>,
    params: &KeyParams,
    report: &mut FrameReport,
    abort: Abort<'a>,
) -> Result<CleanFrame<'a>, EngineError> {
    let bound = domain::plate_bound(params.input_colour);
    let (src, mut bad, clamped) = sanitise_rgba(input.source, bound)?;
    let mut clean = |m: Option<&'a MatteImage>| -> Result<_, EngineError> {
        m.map(|m| {
            let (c, n) = sanitise_matte(m)?;
            bad += n;
            Ok(c)
        })
        .transpose()
    };
    let (hint_clip, garbage, core) = (
        clean(input.hint)?,
        clean(input.garbage)?,
        clean(input.core)?,
    );
    if bad > 0 {
        report.non_finite(bad);
        report.warn(format!(
            "{bad} input pixels were NaN or infinite and were replaced by 0"
        ));
    }
    if clamped > 0 {
        report.note(format!(
            "{clamped} plate pixels were beyond the model's range (|value| > {bound:.0}) and were clamped"
        ));
    }
    if params.clip_black >= params.clip_white {
        // The finish stage clips only when white > black (both paths): said, not silently off.
        report.note(clip_off_note(params.clip_black, params.clip_white));
    }
    abort.check()?;
    let hint_plan = match hint::plan(params, hint_clip, report) {
        HintPlan::Clip(clip) => {
            let (clip, outside) = clamp_hint(clip)?;
            if outside > 0 {
                report.note(format!(
                    "{outside} hint values were outside 0..1 and were clamped"
                ));
            }
            HintPlan::Clip(clip)
        }
        plan => plan,
    };
    Ok(CleanFrame {
        src,
        hint_plan,
        garbage,
        core,
        params: params.clone(),
        hint_cpu: OnceLock::new(),
        abort,
    })
}

/// Replaces NaN/Inf by 0 and clamps R, G, B to `±bound`; borrows when nothing changes. Returns the
/// non-finite and the clamped pixel counts.
fn sanitise_rgba(
    img: &RgbaImage,
    bound: f32,
) -> Result<(Cow<'_, RgbaImage>, usize, usize), EngineError> {
    let (bad, clamped) = img
        .data
        .par_chunks(4)
        .map(|p| {
            let bad = p.iter().any(|v| !v.is_finite());
            let out = p[..3].iter().any(|v| v.abs() > bound);
            (bad as usize, (out && !bad) as usize)
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    if bad == 0 && clamped == 0 {
        return Ok((Cow::Borrowed(img), 0, 0));
    }
    let mut data = limits::try_copy(&img.data, "a copy of the source")?;
    data.par_chunks_mut(4).for_each(|p| {
        for (c, v) in p.iter_mut().enumerate() {
            if !v.is_finite() {
                *v = 0.0;
            } else if c < 3 {
                *v = v.clamp(-bound, bound);
            }
        }
    });
    let copy = RgbaImage {
        width: img.width,
        height: img.height,
        data,
    };
    Ok((Cow::Owned(copy), bad, clamped))
}

fn sanitise_matte(m: &MatteImage) -> Result<(Cow<'_, [f32]>, usize), EngineError> {
    let bad = m.data.par_iter().filter(|v| !v.is_finite()).count();
    if bad == 0 {
        return Ok((Cow::Borrowed(&m.data[..]), 0));
    }
    let mut copy = limits::try_copy(&m.data, "a copy of a matte")?;
    copy.par_iter_mut().for_each(|v| {
        if !v.is_finite() {
            *v = 0.0;
        }
    });
    Ok((Cow::Owned(copy), bad))
}

/// The hint inside `[0, 1]`; borrows when it already is. Returns how many values were outside.
fn clamp_hint(hint: Cow<'_, [f32]>) -> Result<(Cow<'_, [f32]>, usize), EngineError> {
    let outside = hint
        .par_iter()
        .filter(|v| !(domain::HINT_MIN..=domain::HINT_MAX).contains(*v))
        .count();
    if outside == 0 {
        return Ok((hint, 0));
    }
    let mut owned = match hint {
        Cow::Owned(v) => v,
        Cow::Borrowed(b) => limits::try_copy(b, "a copy of the hint")?,
    };
    owned
        .par_iter_mut()
        .for_each(|v| *v = domain::clamp_hint(*v));
    Ok((Cow::Owned(owned), outside))
}
