//! Where each frame's files are: single files, folders of frames, and numbered patterns
//! (`plate.####.exr`: four digits, zero-padded; `plate.%04d.exr` the same in printf style; `%d` and
//! `#` unpadded). Frame numbers wider than the padding are written in full, as printf does, and
//! negative frames as printf writes them (`-001` for -1 at width 4). The padding is at most
//! [`MAX_WIDTH`] digits (no frame number is wider); a wider one is refused by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Widest zero padding a pattern may ask for (an i64 frame number has at most 20 characters).
pub const MAX_WIDTH: usize = 20;

/// A file name with one frame-number placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    dir: PathBuf,
    prefix: String,
    suffix: String,
    /// Zero-padded width (0 or 1: unpadded).
    width: usize,
}

impl Pattern {
    /// The pattern in `path`'s file name, None when it has no placeholder.
    pub fn parse(path: &Path) -> Result<Option<Pattern>, String> {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Ok(None);
        };
        let hashes: Vec<usize> = name.match_indices('#').map(|(i, _)| i).collect();
        let printf = find_printf(name).transpose().map_err(|w| {
            format!(
                "{}: a {w}-digit padding (at most {MAX_WIDTH})",
                path.display()
            )
        })?;
        let (start, end, width) = match (hashes.first(), printf) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(format!("{}: both # and %d placeholders", path.display()))
            }
            (Some(&first), None) => {
                let run = hashes.len();
                if hashes[run - 1] - first + 1 != run {
                    return Err(format!(
                        "{}: more than one run of # (one frame number per name)",
                        path.display()
                    ));
                }
                if run > MAX_WIDTH {
                    return Err(format!(
                        "{}: a {run}-digit padding (at most {MAX_WIDTH})",
                        path.display()
                    ));
                }
                (first, first + run, run)
            }
            (None, Some(p)) => p,
        };
        let rest = &name[end..];
        if find_printf(rest).is_some() {
            return Err(format!(
                "{}: more than one %d placeholder (one frame number per name)",
                path.display()
            ));
        }
        Ok(Some(Pattern {
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            prefix: name[..start].to_owned(),
            suffix: rest.to_owned(),
            width,
        }))
    }

    /// The file of `frame`.
    pub fn path(&self, frame: i64) -> PathBuf {
        self.dir.join(format!(
            "{}{frame:0width$}{}",
            self.prefix,
            self.suffix,
            width = self.width
        ))
    }

    /// The frame number a file name stands for, if it fits the pattern: exactly the name
    /// [`Pattern::path`] gives that frame (padding, sign and all), so no file maps to two frames.
    pub fn frame_of(&self, name: &str) -> Option<i64> {
        let digits = name
            .strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)?;
        let unsigned = digits.strip_prefix('-').unwrap_or(digits);
        if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let frame: i64 = digits.parse().ok()?;
        (format!("{frame:0width$}", width = self.width) == digits).then_some(frame)
    }

    /// The frames present on disk.
    pub fn scan(&self) -> Result<BTreeMap<i64, PathBuf>, String> {
        let dir = if self.dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.dir
        };
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut frames = BTreeMap::new();
        for e in entries.flatten() {
            if let Some(f) = e.file_name().to_str().and_then(|n| self.frame_of(n)) {
                frames.insert(f, self.path(f));
            }
        }
        Ok(frames)
    }

    pub fn display(&self) -> String {
        let ph = if self.width > 1 {
            "#".repeat(self.width)
        } else {
            "#".into()
        };
        self.dir
            .join(format!("{}{ph}{}", self.prefix, self.suffix))
            .display()
            .to_string()
    }
}

/// `%d` or `%0Nd` (or `%Nd`) in `s`: (start, end, width), or Err(width text) when the width is
/// over [`MAX_WIDTH`].
fn find_printf(s: &str) -> Option<Result<(usize, usize, usize), String>> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j < b.len() && b[j] == b'd' {
                let text = &s[i + 1..j];
                return Some(match text.parse::<usize>() {
                    Ok(w) if w <= MAX_WIDTH => Ok((i, j + 1, w)),
                    _ if text.is_empty() => Ok((i, j + 1, 0)),
                    _ => Err(text.trim_start_matches('0').to_owned()),
                });
            }
        }
        i += 1;
    }
    None
}

/// An input (plate or hint) as given on the command line.
#[derive(Clone, Debug)]
pub enum Frames {
    /// One file for every frame.
    Still(PathBuf),
    /// The EXR/PNG files of a folder: frame numbers from the digits ending each name when every
    /// name has them (`plate.1001.exr`), else their position in name order.
    Folder(PathBuf, BTreeMap<i64, PathBuf>),
    Pattern(Pattern),
}

impl Frames {
    pub fn from_arg(path: &Path) -> Result<Frames, String> {
        if let Some(p) = Pattern::parse(path)? {
            return Ok(Frames::Pattern(p));
        }
        if path.is_dir() {
            return Ok(Frames::Folder(path.to_owned(), list_folder(path)?));
        }
        if !path.exists() {
            return Err(format!("{}: no such file", path.display()));
        }
        Ok(Frames::Still(path.to_owned()))
    }

    pub fn is_still(&self) -> bool {
        matches!(self, Frames::Still(_))
    }

    /// The frames to render: `wanted` (each of which must exist), or every frame there is.
    pub fn select(&self, wanted: Option<&[i64]>) -> Result<Vec<(i64, PathBuf)>, String> {
        let all = match self {
            Frames::Still(p) => {
                let frames = wanted.map_or(vec![0], <[i64]>::to_vec);
                return Ok(frames.into_iter().map(|f| (f, p.clone())).collect());
            }
            Frames::Folder(dir, files) => {
                if files.is_empty() {
                    return Err(format!("{}: no .exr or .png files", dir.display()));
                }
                files.clone()
            }
            Frames::Pattern(p) => match wanted {
                Some(w) => w.iter().map(|&f| (f, p.path(f))).collect(),
                None => {
                    let found = p.scan()?;
                    if found.is_empty() {
                        return Err(format!("{} matches no files", p.display()));
                    }
                    found
                }
            },
        };
        let Some(wanted) = wanted else {
            return Ok(all.into_iter().collect());
        };
        let mut missing = Vec::new();
        let mut out = Vec::with_capacity(wanted.len());
        for &f in wanted {
            match all.get(&f) {
                Some(p) if p.is_file() => out.push((f, p.clone())),
                _ => missing.push(f),
            }
        }
        if !missing.is_empty() {
            return Err(format!(
                "{}: no file for frame{} {}",
                self.display(),
                if missing.len() > 1 { "s" } else { "" },
                list(&missing)
            ));
        }
        Ok(out)
    }

    /// The file for `frame`, for a second input (the hint) that follows the plate's frames.
    pub fn file_for(&self, frame: i64) -> Result<PathBuf, String> {
        match self {
            Frames::Still(p) => Ok(p.clone()),
            Frames::Folder(dir, files) => files
                .get(&frame)
                .cloned()
                .ok_or_else(|| format!("{}: no file for frame {frame}", dir.display())),
            Frames::Pattern(p) => {
                let f = p.path(frame);
                if f.is_file() {
                    Ok(f)
                } else {
                    Err(format!("{}: no file for frame {frame}", p.display()))
                }
            }
        }
    }

    pub fn display(&self) -> String {
        match self {
            Frames::Still(p) | Frames::Folder(p, _) => p.display().to_string(),
            Frames::Pattern(p) => p.display(),
        }
    }
}

/// Frame numbers for a message: the first few, then a count.
pub fn list(frames: &[i64]) -> String {
    const SHOWN: usize = 12;
    let mut s: Vec<String> = frames.iter().take(SHOWN).map(i64::to_string).collect();
    if frames.len() > SHOWN {
        s.push(format!("and {} more", frames.len() - SHOWN));
    }
    s.join(", ")
}

fn list_folder(dir: &Path) -> Result<BTreeMap<i64, PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("exr") || e.eq_ignore_ascii_case("png"))
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    let numbered: Option<BTreeMap<i64, PathBuf>> = files
        .iter()
        .map(|p| trailing_number(p).map(|n| (n, p.clone())))
        .collect();
    match numbered {
        Some(m) if m.len() == files.len() => Ok(m),
        _ => Ok(files
            .into_iter()
            .enumerate()
            .map(|(i, p)| (i as i64, p))
            .collect()),
    }
}

/// The digits that end a file's stem (`plate.1001.exr` -> 1001).
fn trailing_number(p: &Path) -> Option<i64> {
    let stem = p.file_stem()?.to_str()?;
    let digits = stem.len() - stem.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    stem[stem.len() - digits..].parse().ok()
}

/// Where an output (EXR, preview PNG) of each frame goes.
#[derive(Clone, Debug)]
pub enum Outputs {
    File(PathBuf),
    /// A folder: each frame keeps its input's name, with this output's extension.
    Folder(PathBuf),
    Pattern(Pattern),
}

impl Outputs {
    /// A pattern stays a pattern; a sequence (or an existing folder) writes into a folder.
    pub fn from_arg(path: &Path, sequence: bool) -> Result<Outputs, String> {
        if let Some(p) = Pattern::parse(path)? {
            return Ok(Outputs::Pattern(p));
        }
        Ok(if sequence || path.is_dir() {
            Outputs::Folder(path.to_owned())
        } else {
            Outputs::File(path.to_owned())
        })
    }

    pub fn path(&self, frame: i64, input: &Path, ext: &str) -> PathBuf {
        match self {
            Outputs::File(p) => p.clone(),
            Outputs::Folder(d) => {
                let stem = input
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "frame".into());
                d.join(format!("{stem}.{ext}"))
            }
            Outputs::Pattern(p) => p.path(frame),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_printf_patterns() {
        let p = Pattern::parse(Path::new("shots/plate.####.exr"))
            .unwrap()
            .unwrap();
        assert_eq!(p.path(7), Path::new("shots/plate.0007.exr"));
        assert_eq!(p.path(12345), Path::new("shots/plate.12345.exr"));
        assert_eq!(p.frame_of("plate.1001.exr"), Some(1001));
        assert_eq!(p.frame_of("plate.12345.exr"), Some(12345));
        assert_eq!(p.frame_of("plate.001.exr"), None);
        assert_eq!(p.frame_of("plate.01001.exr"), None);
        assert_eq!(p.frame_of("plate.1001.png"), None);
        let q = Pattern::parse(Path::new("shots/plate.%04d.exr"))
            .unwrap()
            .unwrap();
        assert_eq!(q, p);
        let u = Pattern::parse(Path::new("f_%d.png")).unwrap().unwrap();
        assert_eq!(u.path(3), Path::new("f_3.png"));
        assert_eq!(u.frame_of("f_03.png"), None);
        assert_eq!(u.frame_of("f_30.png"), Some(30));
        assert!(Pattern::parse(Path::new("plate.exr")).unwrap().is_none());
        assert!(Pattern::parse(Path::new("a.##.b.##.exr")).is_err());
        assert!(Pattern::parse(Path::new("a.##.%02d.exr")).is_err());
        assert!(Pattern::parse(Path::new("a.%02d.%02d.exr")).is_err());
        // Negative frames, as printf writes them, round-trip; nothing maps to two frames.
        assert_eq!(p.path(-1), Path::new("shots/plate.-001.exr"));
        assert_eq!(p.frame_of("plate.-001.exr"), Some(-1));
        assert_eq!(p.frame_of("plate.-0001.exr"), None);
        assert_eq!(p.frame_of("plate.-000.exr"), None);
        assert_eq!(u.frame_of("f_-3.png"), Some(-3));
        // Absurd widths are refused by name, never handed to the formatter.
        for bad in ["a.%070000d.exr", "a.%099999999999999999999999d.exr"] {
            let e = Pattern::parse(Path::new(bad)).unwrap_err();
            assert!(e.contains("padding"), "{e}");
        }
        let e = Pattern::parse(Path::new(&format!("a.{}.exr", "#".repeat(21)))).unwrap_err();
        assert!(e.contains("21-digit"), "{e}");
        assert!(Pattern::parse(Path::new("a.%020d.exr")).unwrap().is_some());
    }

    #[test]
    fn trailing_numbers_of_folder_names() {
        assert_eq!(trailing_number(Path::new("plate.1001.exr")), Some(1001));
        assert_eq!(trailing_number(Path::new("plate_0007.png")), Some(7));
        assert_eq!(trailing_number(Path::new("plate.exr")), None);
    }
}
