//! Region of definition (the Source's) and regions of interest (each input's full RoD).

use ofx_bindings::names::{clip_prop, CLIP_ROI_PREFIX};
use ofx_bindings::{k, ImageEffect, PropertySet, Result, Status};

use super::describe::{CLIP_SOURCE, MATTE_CLIPS};

fn time_of(in_args: Option<&PropertySet>) -> f64 {
    in_args
        .and_then(|a| a.get_double(k!(kOfxPropTime), 0).ok())
        .unwrap_or(0.0)
}

pub fn region_of_definition(
    effect: &ImageEffect,
    in_args: Option<&PropertySet>,
    out_args: &PropertySet,
) -> Result<Status> {
    let rod = match effect
        .clip(CLIP_SOURCE)
        .and_then(|c| c.region_of_definition(time_of(in_args)))
    {
        Ok(r) => r,
        // The host's default is the Source RoD too.
        Err(_) => return Ok(Status::ReplyDefault),
    };
    out_args.set_double_n(k!(kOfxImageEffectPropRegionOfDefinition), &rod.to_array())?;
    Ok(Status::Ok)
}

pub fn regions_of_interest(
    effect: &ImageEffect,
    in_args: Option<&PropertySet>,
    out_args: &PropertySet,
) -> Result<Status> {
    let time = time_of(in_args);
    for name in std::iter::once(CLIP_SOURCE).chain(MATTE_CLIPS) {
        let Ok(clip) = effect.clip(name) else {
            continue;
        };
        if name != CLIP_SOURCE && !clip.is_connected() {
            continue;
        }
        if let Ok(rod) = clip.region_of_definition(time) {
            let prop = clip_prop(CLIP_ROI_PREFIX, name)?;
            // A host without this clip's RoI property keeps its default.
            let _ = out_args.set_double_n(&prop, &rod.to_array());
        }
    }
    Ok(Status::Ok)
}
