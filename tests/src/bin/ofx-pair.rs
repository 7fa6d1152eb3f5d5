//! `ofx-pair`: two CorridorKey instances on two threads, one on a good model folder and one on a
//! hostile one (broken, refused, or on a hung share), rendering at the same time through the built
//! bundle. Prints every frame time and whether the good instance kept its frame time.
//!
//!   ofx-pair --good DIR --hostile DIR [--frames N] [--hostile-frames N] [--size WxH] [--bundle PATH]
//!
//! Exits 1 when the good instance failed a frame or showed a message, or when its median frame
//! beside the hostile one took more than twice its median alone (plus 50 ms of scheduling noise).

use ofx_test_host::pair::{run, PairConfig};
use ofx_test_host::{bundle_path, HostConfig, Plugin};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: ofx-pair --good DIR --hostile DIR [--frames N] [--hostile-frames N] \
[--size WxH] [--bundle PATH]";

fn parse() -> Result<(PairConfig, PathBuf), String> {
    let mut good = None;
    let mut hostile = None;
    let mut cfg = PairConfig {
        good: PathBuf::new(),
        hostile: PathBuf::new(),
        width: 256,
        height: 144,
        frames: 10,
        hostile_frames: 3,
    };
    let mut bundle = bundle_path();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Err(USAGE.into()),
            "--good" => good = Some(PathBuf::from(value()?)),
            "--hostile" => hostile = Some(PathBuf::from(value()?)),
            "--bundle" => bundle = PathBuf::from(value()?),
            "--frames" => cfg.frames = value()?.parse().map_err(|_| "--frames: a count")?,
            "--hostile-frames" => {
                cfg.hostile_frames = value()?.parse().map_err(|_| "--hostile-frames: a count")?
            }
            "--size" => {
                let v = value()?;
                let (w, h) = v.split_once('x').ok_or("--size: WxH")?;
                cfg.width = w.parse().map_err(|_| "--size: WxH")?;
                cfg.height = h.parse().map_err(|_| "--size: WxH")?;
            }
            _ => return Err(format!("unknown argument {arg}\n{USAGE}")),
        }
    }
    cfg.good = good.ok_or(USAGE)?;
    cfg.hostile = hostile.ok_or(USAGE)?;
    if cfg.frames == 0 || cfg.width == 0 || cfg.height == 0 {
        return Err("--frames and --size must be positive".into());
    }
    Ok((cfg, bundle))
}

fn main() -> ExitCode {
    let (cfg, bundle) = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let plugin = match Plugin::load(&bundle, HostConfig::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ofx-pair: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match run(&plugin, &cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ofx-pair: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report.summary());
    let failures = report.good_failures();
    let (alone, beside) = (report.median_alone_ms(), report.median_beside_ms());
    if !failures.is_empty() {
        eprintln!("ofx-pair: the good instance failed or showed a message");
        return ExitCode::FAILURE;
    }
    if beside > 2.0 * alone + 50.0 {
        eprintln!("ofx-pair: the good instance slowed down beside the hostile one");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
