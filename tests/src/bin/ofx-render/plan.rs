//! The job, checked before anything renders: which frames, the files each reads and writes, and
//! whether every input is there and readable at the render scale. A farm learns about a typo in
//! a frame range or a missing plate in the first second, not after an hour of frames.
//!
//! Inputs are regular files only (a FIFO or a device is refused, never opened blocking), each
//! frame's header is read (its size within the node's limits, an EXR's chunks all inside the
//! file), and every file written is compared by identity with every file read (`identity`).

use crate::args::Args;
use crate::frames;
use crate::identity::Job;
use crate::sequence::{list, Frames, Outputs};
use crate::views;
use ofx_test_host::fileguard::check_regular;
use ofx_test_host::imageio::{image_size, partial_path};
use std::path::{Path, PathBuf};

/// The file format of an output, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Half-float PXR24 EXR (RGBA, `--layers` adds matte.A and hint.A).
    Exr,
    /// 16-bit RGBA PNG, sRGB colour.
    Png,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format, String> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("exr") => Ok(Format::Exr),
            Some(e) if e.eq_ignore_ascii_case("png") => Ok(Format::Png),
            _ => Err(format!(
                "{}: the output must end in .exr or .png (the format follows the extension)",
                path.display()
            )),
        }
    }
}

/// What one frame reads and writes.
#[derive(Clone, Debug)]
pub struct FramePlan {
    pub frame: i64,
    pub input: PathBuf,
    pub hint: Option<PathBuf>,
    pub output: PathBuf,
    pub format: Format,
    /// The size of the node's output (the input's at the render scale).
    pub size: (usize, usize),
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

/// Checks the whole job; `bundle` and `model_dir` are read too (no output may land on them).
pub fn plan(a: &Args, bundle: &Path, model_dir: Option<&Path>) -> Result<Plan, String> {
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
    if let (Some(Outputs::File(_) | Outputs::Pattern(_)), Some(p)) = (&preview, &a.preview) {
        if Format::of(p).ok() != Some(Format::Png) {
            return Err(format!("--preview {}: a preview is a .png", p.display()));
        }
    }
    let hints = a.hint.as_deref().map(Frames::from_arg).transpose()?;

    let mut frames = Vec::with_capacity(selected.len());
    let mut unreadable = Vec::new();
    let mut first_error = String::new();
    let mut job = Job::default();
    for (frame, file) in selected {
        let size = check_regular(&file).and_then(|_| image_size(&file));
        let out_size = match size {
            Ok((w, h)) if w / k == 0 || h / k == 0 => {
                return Err(format!(
                    "--render-scale 1/{k} gives an empty image for the {w}x{h} {}",
                    file.display()
                ))
            }
            Ok((w, h)) => {
                job.read(&file)?;
                (w / k, h / k)
            }
            Err(e) => {
                if unreadable.is_empty() {
                    first_error = e;
                }
                unreadable.push(frame);
                continue;
            }
        };
        let hint = hints.as_ref().map(|h| h.file_for(frame)).transpose()?;
        if let Some(h) = &hint {
            check_regular(h)
                .and_then(|_| image_size(h))
                .map_err(|e| format!("--hint: {e}"))?;
            job.read(h)?;
        }
        let output = out.path(frame, &file, "exr");
        let format = Format::of(&output)?;
        if format == Format::Png && a.layers {
            return Err(format!(
                "--layers needs an EXR output ({} is a PNG)",
                output.display()
            ));
        }
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
            format,
            size: out_size,
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
    for f in read_tree(bundle, 4096)?.iter().chain(
        &model_dir
            .map(|d| read_tree(d, 4096))
            .transpose()?
            .unwrap_or_default(),
    ) {
        job.read(f)?;
    }
    for f in &frames {
        for out in f.outputs() {
            job.write(out, false)?;
            job.write(&partial_path(out), true)?;
        }
    }
    if let Some(log) = a.log_json.as_deref().filter(|p| *p != Path::new("-")) {
        job.write(log, false)
            .map_err(|e| format!("--log-json: {e}"))?;
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

/// The regular files in `root` (a file: itself; a folder: its tree, at most `max` entries): the
/// bundle and the model folder, which no output may land on. Missing: nothing (the node says).
fn read_tree(root: &Path, max: usize) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_owned()];
    let mut seen = 0;
    while let Some(d) = dirs.pop() {
        let Ok(m) = std::fs::metadata(&d) else {
            continue;
        };
        if m.is_file() {
            files.push(d);
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            seen += 1;
            if seen > max {
                return Ok(files);
            }
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(e.path()),
                Ok(t)
                    if (t.is_file() || t.is_symlink())
                        && std::fs::metadata(e.path()).is_ok_and(|m| m.is_file()) =>
                {
                    files.push(e.path());
                }
                _ => {}
            }
        }
    }
    Ok(files)
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
