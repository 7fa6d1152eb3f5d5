//! A frame's files: previews and views first, the EXR last, each written to a temporary file and
//! renamed into place (imageio), so the EXR's presence means the whole frame is there.

use crate::contact_sheet::contact_sheet;
use crate::node::Rendered;
use crate::plan::{Format, FramePlan};
use crate::views;
use ofx_test_host::imageio::{
    write_exr, write_exr_layers, write_png, write_png_preview, write_png_rgba16, HalfClamp, Rgba,
};

/// What `--layers` and `--views` need besides the key.
#[derive(Clone, Copy)]
pub struct Extras {
    pub layers: bool,
}

/// Writes everything of `plan` from `r`; returns the writer's warnings (values a half float
/// cannot hold).
pub fn frame(plan: &FramePlan, r: &Rendered, x: Extras) -> Result<Vec<String>, String> {
    let key = &r.key;
    if let Some(p) = &plan.preview {
        write_png_preview(p, &key.rgba)?;
    }
    if !plan.views.is_empty() {
        let hint = r.hint.as_ref().ok_or("--views needs the hint render")?;
        let plate = ofx_test_host::imageio::read_image(&plan.input, false)?;
        let (pre, matte, comp, status) = (
            key.premultiplied(),
            key.matte(),
            key.composite(),
            key.status(),
        );
        let plate = scaled_like(plate, &pre);
        for (name, path) in &plan.views {
            let img: &Rgba = match *name {
                "key" => &pre,
                "hint" => hint,
                "matte" => &matte,
                "composite" => &comp,
                "status" => &status,
                _ => {
                    let sheet = contact_sheet(
                        &[
                            ("plate", &plate),
                            ("hint", hint),
                            ("matte", &matte),
                            ("composite", &comp),
                            ("status", &status),
                        ],
                        &key.alpha(),
                    );
                    write_png(path, &sheet)?;
                    continue;
                }
            };
            write_png_preview(path, img)?;
        }
        debug_assert!(views::NAMES
            .iter()
            .all(|n| plan.views.iter().any(|v| v.0 == *n)));
    }
    let clamp: HalfClamp = if plan.format == Format::Png {
        write_png_rgba16(&plan.output, &key.rgba)?;
        HalfClamp::default()
    } else if x.layers {
        let hint = r.hint.as_ref().ok_or("--layers needs the hint render")?;
        let matte = key.alpha();
        let hint = views::hint_matte(hint);
        write_exr_layers(
            &plan.output,
            &key.rgba,
            &[("matte", &matte), ("hint", &hint)],
        )?
    } else {
        write_exr(&plan.output, &key.rgba)?
    };
    Ok(clamp.warning().into_iter().collect())
}

/// `--allow-passthrough`: the image the node handed back, as the plain RGBA EXR (and preview); the
/// views are not written, so `--resume` renders the frame again.
pub fn passthrough(plan: &FramePlan, image: &Rgba) -> Result<Vec<String>, String> {
    if let Some(p) = &plan.preview {
        write_png_preview(p, image)?;
    }
    if plan.format == Format::Png {
        write_png_rgba16(&plan.output, image)?;
        return Ok(Vec::new());
    }
    let clamp = write_exr(&plan.output, image)?;
    Ok(clamp.warning().into_iter().collect())
}

/// The plate at the key's size (a proxy render keys a downscaled plate).
fn scaled_like(plate: Rgba, key: &Rgba) -> Rgba {
    if plate.width == key.width || key.width == 0 {
        return plate;
    }
    let k = (plate.width / key.width).max(1);
    let (data, width, height) =
        ofx_test_host::synthetic::downscale_rgba(&plate.data, plate.width, plate.height, k);
    Rgba {
        width,
        height,
        data,
    }
}
