//! The command line. Every mistake is one line naming the option; `--help` prints [`USAGE`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub const USAGE: &str = "\
usage: ofx-render INPUT -o OUTPUT [options]
       ofx-render --write-sample-plate PATH.exr [--size WxH] [--frame N]
       ofx-render --write-demo-plate PATH.exr [--size WxH]

INPUT, --hint: an EXR/PNG file, a folder of them, or a numbered pattern (plate.####.exr,
plate.%04d.exr; at most 20 digits of padding; negative frames as printf writes them, -001).
Only regular files are read (a FIFO, device or socket is refused).
OUTPUT: a file, a pattern, or a folder for a sequence. The format follows the extension:
.exr is half-float PXR24 RGBA, .png 16-bit RGBA (sRGB colour); a folder gets .exr files.

  --frames SPEC          1001-1100, 1001-1100x2 (every 2nd), lists: 1-10,20, negative: -5--1
                         (default: every frame)
  --param NAME=VALUE     a node parameter (docs/PARAMS.md); choices by index or label
  --show MODE            the Show parameter (Premultiplied, Matte, Composite, Status, Hint, ...)
  --model-dir DIR        the Model folder parameter (any file name)
  --render-scale S       1/k for an integer k (proxy renders)
  --context filter|general
  --hint H               AlphaHint clip (a file for every frame, a folder or a pattern)
  --preview P            sRGB PNG of the output (a .png, a pattern or folder for sequences)
  --layers               add `matte` and `hint` layers (channels matte.A, hint.A) to the EXR
  --views DIR            PNGs of every view from the one render (key, matte, composite, hint,
                         status) and a contact sheet
  --resume               skip frames whose files all read back complete (every chunk, this
                         job's size and layers); others are rendered again
  --threads N            run on N CPUs (ONNX Runtime and the node's CPU passes); at most the
                         CPUs this process may use (said when capped)
  --log-json PATH        one JSON line per frame (`-`: stdout)
  --allow-passthrough    frames the node passed through on an error still count as written
  --allow-degraded       frames keyed at a smaller S or on the CPU (GPU memory ran out) count
                         as written
  --bundle PATH          the bundle (default: $CORRIDORKEY_BUNDLE, else CorridorKey.ofx.bundle
                         in a folder of $OFX_PLUGIN_PATH, else ./build/CorridorKey.ofx.bundle)

Before anything renders: every input frame's header (size within the node's limits, an EXR
whole), free space, and every file written compared by identity (device and inode) with every
file read (inputs, hints, bundle, model folder): an overlap is refused, naming both.
Temporary files (.NAME.partial) are removed on SIGINT/SIGTERM and at the next start.

exit status: 0 every frame written; 1 bad arguments or input (nothing rendered);
2 a frame failed, was passed through or was degraded, or the JSON log could not be written (the
job stops there); named on stderr. 128+N: stopped by signal N.";

#[derive(Clone, Debug, Default)]
pub struct Args {
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub hint: Option<PathBuf>,
    pub frames: Option<String>,
    pub params: Vec<(String, String)>,
    pub render_scale: Option<String>,
    pub context: Option<String>,
    pub preview: Option<PathBuf>,
    pub layers: bool,
    pub views: Option<PathBuf>,
    pub resume: bool,
    pub threads: Option<usize>,
    pub log_json: Option<PathBuf>,
    pub allow_passthrough: bool,
    pub allow_degraded: bool,
    pub bundle: Option<PathBuf>,
    /// `--model-dir`: the Model folder parameter (a path, any bytes).
    pub model_dir: Option<PathBuf>,
    pub sample_plate: Option<PathBuf>,
    pub demo_plate: Option<PathBuf>,
    pub size: Option<(usize, usize)>,
    pub frame: u32,
    pub help: bool,
}

/// Parses the arguments as the OS gave them: paths keep any bytes (a non-UTF-8 file name works);
/// a value that must be text (a frame range, a param) and is not UTF-8 is refused by its option.
pub fn parse(argv: impl IntoIterator<Item = OsString>) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = argv.into_iter();
    while let Some(raw) = it.next() {
        let Some(arg) = raw.to_str().map(str::to_owned) else {
            // Not UTF-8: only a path can be that, and the only bare path is INPUT.
            if a.input.is_none() {
                a.input = Some(nonempty_path("INPUT", raw)?);
                continue;
            }
            return Err(format!(
                "unexpected argument {:?} (ofx-render --help)",
                Path::new(&raw)
            ));
        };
        match arg.as_str() {
            "-h" | "--help" => a.help = true,
            "-o" | "--output" => a.output = Some(path(&mut it, &arg)?),
            "--hint" => a.hint = Some(path(&mut it, &arg)?),
            "--preview" => a.preview = Some(path(&mut it, &arg)?),
            "--views" => a.views = Some(path(&mut it, &arg)?),
            "--log-json" => a.log_json = Some(path(&mut it, &arg)?),
            "--bundle" => a.bundle = Some(path(&mut it, &arg)?),
            "--write-sample-plate" => a.sample_plate = Some(path(&mut it, &arg)?),
            "--write-demo-plate" => a.demo_plate = Some(path(&mut it, &arg)?),
            "--model-dir" => a.model_dir = Some(path(&mut it, &arg)?),
            "--frames" => a.frames = Some(text(&mut it, &arg)?),
            "--param" => {
                let kv = text(&mut it, &arg)?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--param expects NAME=VALUE, got {kv:?}"))?;
                a.params.push((k.trim().to_owned(), v.to_owned()));
            }
            "--show" => a.params.push(("show".into(), text(&mut it, &arg)?)),
            "--render-scale" => a.render_scale = Some(text(&mut it, &arg)?),
            "--context" => a.context = Some(text(&mut it, &arg)?),
            "--layers" => a.layers = true,
            "--resume" => a.resume = true,
            "--threads" => {
                let v = text(&mut it, &arg)?;
                a.threads = Some(
                    v.parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| format!("--threads expects a count >= 1, got {v:?}"))?,
                );
            }
            "--allow-passthrough" => a.allow_passthrough = true,
            "--allow-degraded" => a.allow_degraded = true,
            "--size" => {
                let v = text(&mut it, &arg)?;
                let bad = || format!("--size expects WxH (each 1..=16384), got {v:?}");
                let (w, h) = v.split_once(['x', 'X']).ok_or_else(bad)?;
                let dim = |s: &str| {
                    s.parse::<usize>()
                        .ok()
                        .filter(|d| (1..=16384).contains(d))
                        .ok_or_else(bad)
                };
                a.size = Some((dim(w)?, dim(h)?));
            }
            "--frame" => {
                let v = text(&mut it, &arg)?;
                a.frame = v
                    .parse()
                    .map_err(|_| format!("--frame expects a frame number, got {v:?}"))?;
            }
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(format!("unknown option {s} (ofx-render --help)"))
            }
            _ if a.input.is_none() => a.input = Some(nonempty_path("INPUT", raw)?),
            _ => return Err(format!("unexpected argument {arg:?} (ofx-render --help)")),
        }
    }
    Ok(a)
}

/// The value of a path option.
fn path(it: &mut impl Iterator<Item = OsString>, flag: &str) -> Result<PathBuf, String> {
    nonempty_path(
        flag,
        it.next().ok_or_else(|| format!("{flag} needs a value"))?,
    )
}

/// A path value: any bytes but none (an empty path would be found out only after rendering).
fn nonempty_path(flag: &str, v: OsString) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err(format!("{flag} is an empty path"));
    }
    Ok(PathBuf::from(v))
}

/// A text value: UTF-8 or refused by its option.
fn text(it: &mut impl Iterator<Item = OsString>, flag: &str) -> Result<String, String> {
    let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
    v.into_string()
        .map_err(|v| format!("{flag}: {:?} is not valid UTF-8", Path::new(&v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<Args, String> {
        parse(v.iter().map(OsString::from))
    }

    #[test]
    fn options_and_mistakes() {
        let a = p(&[
            "in.####.exr",
            "-o",
            "out.####.exr",
            "--frames",
            "1-9x2",
            "--show",
            "Matte",
            "--param",
            "quality=1",
            "--threads",
            "2",
            "--resume",
            "--layers",
        ])
        .unwrap();
        assert_eq!(a.input.unwrap(), PathBuf::from("in.####.exr"));
        assert_eq!(a.frames.as_deref(), Some("1-9x2"));
        assert_eq!(a.params.len(), 2);
        assert_eq!(a.threads, Some(2));
        assert!(a.resume && a.layers && !a.allow_passthrough);
        use std::os::unix::ffi::OsStringExt;
        let odd = OsString::from_vec(b"pl\xffte.exr".to_vec());
        let a = parse([odd.clone(), "-o".into(), odd.clone()]).unwrap();
        assert_eq!(a.input.unwrap().as_os_str(), odd);
        let e = parse(["--frames".into(), odd]).unwrap_err();
        assert!(e.contains("--frames") && e.contains("UTF-8"), "{e}");
        for (bad, why) in [
            (&["--threads", "0"][..], "--threads"),
            (&["--param", "quality"], "NAME=VALUE"),
            (&["--nope"], "unknown option"),
            (&["a", "b"], "unexpected argument"),
            (&["-o"], "needs a value"),
            (&["--size", "0x5"], "--size"),
            (&["a", "-o", ""], "-o is an empty path"),
            (&["", "-o", "x.exr"], "INPUT is an empty path"),
        ] {
            let e = p(bad).unwrap_err();
            assert!(e.contains(why) && !e.contains('\n'), "{bad:?}: {e}");
        }
    }
}
