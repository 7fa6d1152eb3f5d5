//! The command line. Every mistake is one line naming the option; `--help` prints [`USAGE`].

use std::path::PathBuf;

pub const USAGE: &str = "\
usage: ofx-render INPUT -o OUTPUT [options]
       ofx-render --write-sample-plate PATH.exr [--size WxH] [--frame N]
       ofx-render --write-demo-plate PATH.exr [--size WxH]

INPUT, --hint: an EXR/PNG file, a folder of them, or a numbered pattern (plate.####.exr,
plate.%04d.exr). OUTPUT: a half-float PXR24 EXR, a pattern, or a folder for a sequence.

  --frames SPEC          1001-1100, 1001-1100x2 (every 2nd), lists: 1-10,20 (default: every frame)
  --param NAME=VALUE     a node parameter (docs/PARAMS.md); choices by index or label
  --show MODE            the Show parameter (Premultiplied, Matte, Composite, Status, Hint, ...)
  --model-dir DIR        the Model folder parameter
  --render-scale S       1/k for an integer k (proxy renders)
  --context filter|general
  --hint H               AlphaHint clip (a file for every frame, a folder or a pattern)
  --preview P            sRGB PNG of the output (a pattern or folder for sequences)
  --layers               add `matte` and `hint` layers (channels matte.A, hint.A) to the EXR
  --views DIR            PNGs of every view from the one render (key, matte, composite, hint,
                         status) and a contact sheet
  --resume               skip frames whose output is already complete
  --threads N            run on N CPUs (ONNX Runtime and the node's CPU passes)
  --log-json PATH        one JSON line per frame (`-`: stdout)
  --allow-passthrough    frames the node passed through on an error still count as written
  --allow-degraded       frames keyed at a smaller S or on the CPU (GPU memory ran out) count
                         as written
  --bundle PATH          the bundle (default: $CORRIDORKEY_BUNDLE, $OFX_PLUGIN_PATH, build/)

exit status: 0 every frame written; 1 bad arguments or input (nothing rendered);
2 a frame failed, was passed through or was degraded (named on stderr).";

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
    pub sample_plate: Option<PathBuf>,
    pub demo_plate: Option<PathBuf>,
    pub size: Option<(usize, usize)>,
    pub frame: u32,
    pub help: bool,
}

pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = argv.into_iter();
    let need = |it: &mut dyn Iterator<Item = String>, flag: &str| {
        it.next().ok_or_else(|| format!("{flag} needs a value"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => a.help = true,
            "-o" | "--output" => a.output = Some(need(&mut it, &arg)?.into()),
            "--hint" => a.hint = Some(need(&mut it, &arg)?.into()),
            "--frames" => a.frames = Some(need(&mut it, &arg)?),
            "--param" => {
                let kv = need(&mut it, &arg)?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--param expects NAME=VALUE, got {kv:?}"))?;
                a.params.push((k.trim().to_owned(), v.to_owned()));
            }
            "--show" => a.params.push(("show".into(), need(&mut it, &arg)?)),
            "--model-dir" => a.params.push(("modelFolder".into(), need(&mut it, &arg)?)),
            "--render-scale" => a.render_scale = Some(need(&mut it, &arg)?),
            "--context" => a.context = Some(need(&mut it, &arg)?),
            "--preview" => a.preview = Some(need(&mut it, &arg)?.into()),
            "--layers" => a.layers = true,
            "--views" => a.views = Some(need(&mut it, &arg)?.into()),
            "--resume" => a.resume = true,
            "--threads" => {
                let v = need(&mut it, &arg)?;
                a.threads = Some(
                    v.parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| format!("--threads expects a count >= 1, got {v:?}"))?,
                );
            }
            "--log-json" => a.log_json = Some(need(&mut it, &arg)?.into()),
            "--allow-passthrough" => a.allow_passthrough = true,
            "--allow-degraded" => a.allow_degraded = true,
            "--bundle" => a.bundle = Some(need(&mut it, &arg)?.into()),
            "--write-sample-plate" => a.sample_plate = Some(need(&mut it, &arg)?.into()),
            "--write-demo-plate" => a.demo_plate = Some(need(&mut it, &arg)?.into()),
            "--size" => {
                let v = need(&mut it, &arg)?;
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
                let v = need(&mut it, &arg)?;
                a.frame = v
                    .parse()
                    .map_err(|_| format!("--frame expects a frame number, got {v:?}"))?;
            }
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(format!("unknown option {s} (ofx-render --help)"))
            }
            _ if a.input.is_none() => a.input = Some(arg.into()),
            _ => return Err(format!("unexpected argument {arg:?} (ofx-render --help)")),
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<Args, String> {
        parse(v.iter().map(|s| s.to_string()))
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
        for (bad, why) in [
            (&["--threads", "0"][..], "--threads"),
            (&["--param", "quality"], "NAME=VALUE"),
            (&["--nope"], "unknown option"),
            (&["a", "b"], "unexpected argument"),
            (&["-o"], "needs a value"),
            (&["--size", "0x5"], "--size"),
        ] {
            let e = p(bad).unwrap_err();
            assert!(e.contains(why) && !e.contains('\n'), "{bad:?}: {e}");
        }
    }
}
