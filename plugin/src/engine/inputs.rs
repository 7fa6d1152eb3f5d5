//! Input clean-up, before any stage: size checks, NaN/Inf replaced (and counted), the plate and hint
//! brought into the network's domain, the hint chosen. Plain functions of the caller's frame; what
//! they find goes into the frame report.

use std::borrow::Cow;

use rayon::prelude::*;

use super::abort::Abort;
use super::contract::{FrameInput, KeyParams, MatteImage, RgbaImage};
use super::error::{EngineError, InputProblem};
use super::hint;
use super::limits;
use super::report::FrameReport;
use super::stages::prepare::domain;

/// The frame the stages see: finite plate and mattes, the plate and hint inside the network's
/// domain (`stages/prepare/domain.rs`), the hint in use (all `width x height`), and the host's abort
/// poll for the stages' long CPU loops.
pub struct CleanFrame<'a> {
    pub src: Cow<'a, RgbaImage>,
    pub hint: Cow<'a, [f32]>,
    pub garbage: Option<Cow<'a, [f32]>>,
    pub core: Option<Cow<'a, [f32]>>,
    pub abort: Abort<'a>,
}

impl CleanFrame<'_> {
    pub fn size(&self) -> (usize, usize) {
        (self.src.width, self.src.height)
    }

    pub fn has_mattes(&self) -> bool {
        self.garbage.is_some() || self.core.is_some()
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

/// Replaces non-finite values, brings the plate into the network's domain, resolves the hint and
/// brings it into its domain too. Call after [`check`].
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
    abort.check()?;
    let hint = hint::resolve(params, &src, hint_clip, report, abort)?;
    let (hint, outside) = clamp_hint(hint)?;
    if outside > 0 {
        report.note(format!(
            "{outside} hint values were outside 0..1 and were clamped"
        ));
    }
    Ok(CleanFrame {
        src,
        hint,
        garbage,
        core,
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
