//! `--resume`: whether a frame's files are all there and complete, read back in full. The main
//! output must decode to the end (every chunk), at the size this job renders and with the layers
//! it asks for; previews and views must decode too. Anything less renders the frame again: a
//! frame a killed or older job left half done is never counted as done.

use crate::plan::{Format, FramePlan};
use ofx_test_host::imageio::{read_exr_channels, read_image};

/// Ok when every file of `f` is complete; else why not (said on the frame's line).
pub fn complete(f: &FramePlan, layers: bool) -> Result<(), String> {
    for extra in f.outputs().filter(|p| *p != f.output) {
        let img = read_image(extra, false)?;
        let is_sheet = f.views.last().is_some_and(|(_, p)| p == extra);
        if !is_sheet && (img.width, img.height) != f.size {
            return Err(format!(
                "{} is {}x{}, this job renders {}x{}",
                extra.display(),
                img.width,
                img.height,
                f.size.0,
                f.size.1
            ));
        }
    }
    let (w, h, names) = match f.format {
        Format::Png => {
            let img = read_image(&f.output, false)?;
            (img.width, img.height, Vec::new())
        }
        Format::Exr => {
            let (w, h, channels) = read_exr_channels(&f.output)?;
            (w, h, channels.into_iter().map(|(n, _)| n).collect())
        }
    };
    if (w, h) != f.size {
        return Err(format!(
            "{} is {w}x{h}, this job renders {}x{}",
            f.output.display(),
            f.size.0,
            f.size.1
        ));
    }
    if f.format == Format::Exr {
        let need: &[&str] = if layers {
            &["R", "G", "B", "A", "matte.A", "hint.A"]
        } else {
            &["R", "G", "B", "A"]
        };
        let missing: Vec<&str> = need
            .iter()
            .copied()
            .filter(|n| !names.iter().any(|have| have == n))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{} has no {} channel{}",
                f.output.display(),
                missing.join(", "),
                if missing.len() > 1 { "s" } else { "" }
            ));
        }
    }
    Ok(())
}
