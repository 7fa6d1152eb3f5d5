//! The job, checked before anything renders: which frames, the files each reads and writes, and
//! whether every input is there and readable at the render scale. A farm learns about a typo in
//! a frame range or a missing plate in the first second, not after an hour of frames.

use crate::args::Args;
use crate::frames;
use crate::sequence::{list, Frames, Outputs};
use crate::views;
use ofx_test_host::imageio::{image_size, partial_path};
use std::path::{Path, PathBuf};

/// What one frame reads and writes.
#[derive(Clone, Debug)]
pub struct FramePlan {
    pub frame: i64,
    pub input: PathBuf,
    pub hint: Option<PathBuf>,
    pub output: PathBuf,
    pub preview: Option<PathBuf>,
    /// `--views`: (view name, PNG path), the contact sheet last.
    pub views: Vec<(&'static str, PathBuf)>,
}

impl FramePlan {
    /// Every file the frame writes, the EXR last: it is renamed into place only after the others,
    /// so its presence means the frame is complete.
    pub fn outputs(&self) -> impl Iterator<Item = &Path> {
        self.preview
            .iter()
            .map(PathBuf::as_path)
            .chain(self.views.iter().map(|(_, p)| p.as_path()))
            .chain(std::iter::once(self.output.as_path()))
    }

    /// `--resume`: every output is there and the EXR's header reads back.
    pub fn is_complete(&self) -> bool {
        self.outputs().all(Path::is_file) && image_size(&self.output).is_ok()
    }

    /// A temporary file a killed write left behind (it is overwritten when the frame renders).
    pub fn leftovers(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.outputs().map(partial_path).filter(|p| p.exists())
    }
}

pub struct Plan {
    pub frames: Vec<FramePlan>,
    /// Render scale as 1/k.
    pub k: usize,
    /// Folders to create before the first frame.
    pub folders: Vec<PathBuf>,
}

/// `--render-scale`: 1/k for an integer k, in (0, 1].
pub fn render_scale(text: Option<&str>) -> Result<usize, String> {
    let Some(text) = text else { return Ok(1) };
    let s: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("--render-scale expects a number, got {text:?}"))?;
    if !(s.is_finite() && s > 0.0 && s <= 1.0) {
        return Err(format!("--render-scale must be in (0, 1], got {text}"));
    }
    let k = (1.0 / s).round();
    if k > 1e6 || ((1.0 / k) - s).abs() > 1e-6 {
        return Err(format!(
            "--render-scale must be 1/k for an integer k, got {text}"
        ));
    }
    Ok(k as usize)
}

pub fn plan(a: &Args) -> Result<Plan, String> {
    let input = a.input.as_deref().ok_or("no INPUT (ofx-render --help)")?;
    let output = a
        .output
        .as_deref()
        .ok_or("no -o OUTPUT (ofx-render --help)")?;
    let k = render_scale(a.render_scale.as_deref())?;
    let wanted = a.frames.as_deref().map(frames::parse).transpose()?;
    let source = Frames::from_arg(input)?;
    let selected = source.select(wanted.as_deref())?;
    if selected.is_empty() {
        return Err(format!(
            "--frames selects no frames of {}",
            source.display()
        ));
    }
    let sequence = !source.is_still() || selected.len() > 1;
    let out = Outputs::from_arg(output, sequence)?;
    if sequence && source.is_still() && !matches!(out, Outputs::Pattern(_)) {
        return Err(format!(
            "{} frames of one still need an output pattern (keyed.####.exr)",
            selected.len()
        ));
    }
    let preview = a
        .preview
        .as_deref()
        .map(|p| Outputs::from_arg(p, sequence))
        .transpose()?;
    let hints = a.hint.as_deref().map(Frames::from_arg).transpose()?;

    let mut frames = Vec::with_capacity(selected.len());
    let mut unreadable = Vec::new();
    let mut first_error = String::new();
    for (frame, file) in selected {
        let size = image_size(&file);
        match size {
            Ok((w, h)) if w / k == 0 || h / k == 0 => {
                return Err(format!(
                    "--render-scale 1/{k} gives an empty image for the {w}x{h} {}",
                    file.display()
                ))
            }
            Ok(_) => {}
            Err(e) => {
                if unreadable.is_empty() {
                    first_error = e;
                }
                unreadable.push(frame);
            }
        }
        let hint = hints.as_ref().map(|h| h.file_for(frame)).transpose()?;
        if let Some(h) = &hint {
            image_size(h)?;
        }
        let output = out.path(frame, &file, "exr");
        let views = match &a.views {
            None => Vec::new(),
            Some(dir) => {
                let stem = output
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                views::NAMES
                    .iter()
                    .chain(std::iter::once(&"contact-sheet"))
                    .map(|v| {
                        let path = if sequence {
                            dir.join(v).join(format!("{stem}.png"))
                        } else {
                            dir.join(format!("{v}.png"))
                        };
                        (*v, path)
                    })
                    .collect()
            }
        };
        frames.push(FramePlan {
            frame,
            preview: preview.as_ref().map(|p| p.path(frame, &file, "png")),
            input: file,
            hint,
            output,
            views,
        });
    }
    if !unreadable.is_empty() {
        return Err(format!(
            "cannot read the input of frame{} {} ({first_error})",
            if unreadable.len() > 1 { "s" } else { "" },
            list(&unreadable)
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(f) = frames.iter().find(|f| !seen.insert(&f.output)) {
        return Err(format!(
            "several frames would write {} (use an output pattern)",
            f.output.display()
        ));
    }
    if let Some(f) = frames.iter().find(|f| f.output == f.input) {
        return Err(format!(
            "frame {} would overwrite its input {}",
            f.frame,
            f.input.display()
        ));
    }
    let mut folders: Vec<PathBuf> = frames
        .iter()
        .flat_map(|f| {
            f.outputs()
                .filter_map(Path::parent)
                .map(Path::to_path_buf)
                .collect::<Vec<_>>()
        })
        .filter(|d| !d.as_os_str().is_empty())
        .collect();
    folders.sort();
    folders.dedup();
    Ok(Plan { frames, k, folders })
}

#[cfg(test)]
mod tests {
    use super::render_scale;

    #[test]
    fn render_scales() {
        assert_eq!(render_scale(None).unwrap(), 1);
        assert_eq!(render_scale(Some("0.5")).unwrap(), 2);
        assert_eq!(render_scale(Some("0.25")).unwrap(), 4);
        for bad in ["0", "-1", "1.5", "0.3", "nan", "inf", "x", "1e-9"] {
            assert!(render_scale(Some(bad)).is_err(), "{bad}");
        }
    }
}
