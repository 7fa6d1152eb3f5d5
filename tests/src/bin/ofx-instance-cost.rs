//! `ofx-instance-cost`: what a fresh instance costs per frame (MLT creates one per frame) beside a
//! warm render, through the built bundle on the CPU provider, with MLT's host behaviour.
//!
//!   ofx-instance-cost --model DIR [--frames N] [--size WxH] [--bundle PATH]

use ofx_test_host::instance_cost::{run, CostConfig};
use ofx_test_host::{bundle_path, mlt_host_config, Plugin};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str =
    "usage: ofx-instance-cost --model DIR [--frames N] [--size WxH] [--bundle PATH]";

fn parse() -> Result<(CostConfig, PathBuf), String> {
    let mut cfg = CostConfig {
        model: PathBuf::new(),
        width: 320,
        height: 180,
        frames: 5,
    };
    let mut bundle = bundle_path();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Err(USAGE.into()),
            "--model" => cfg.model = PathBuf::from(value()?),
            "--bundle" => bundle = PathBuf::from(value()?),
            "--frames" => cfg.frames = value()?.parse().map_err(|_| "--frames: a count")?,
            "--size" => {
                let v = value()?;
                let (w, h) = v.split_once('x').ok_or("--size: WxH")?;
                cfg.width = w.parse().map_err(|_| "--size: WxH")?;
                cfg.height = h.parse().map_err(|_| "--size: WxH")?;
            }
            _ => return Err(format!("unknown argument {arg}\n{USAGE}")),
        }
    }
    if cfg.model.as_os_str().is_empty() || cfg.frames == 0 || cfg.width == 0 || cfg.height == 0 {
        return Err(USAGE.into());
    }
    Ok((cfg, bundle))
}

fn main() -> ExitCode {
    let (cfg, bundle) = match parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let plugin = match Plugin::load(&bundle, mlt_host_config()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ofx-instance-cost: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "ofx-instance-cost: {} frames of {}x{}, model {}, bundle {}",
        cfg.frames,
        cfg.width,
        cfg.height,
        cfg.model.display(),
        bundle.display()
    );
    match run(&plugin, &cfg) {
        Ok(r) => {
            print!("{}", r.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ofx-instance-cost: {e}");
            ExitCode::from(1)
        }
    }
}
