//! `--torch MODES`: upstream's PyTorch frame path (bench/torch_reference.py, onnx-export's seeded
//! model) in a child process per mode, on the same GPU and plate size, so ratios come from one run.
//! NVML follows the child's PID as well, so both sides' memory is measured the same way. A missing
//! torch or CUDA is reported and the run goes on.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::args::Args;
use crate::gpu_memory::{Gpu, MemoryReport, Sampler};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceResult {
    pub mode: String,
    pub ok: bool,
    pub error: Option<String>,
    pub command: String,
    /// The script's JSON (median_ms, p99_ms, min_ms, cold_ms, device_peak_mb, torch, gpu, ...).
    pub result: Option<serde_json::Value>,
    /// NVML, polled by ck-bench while the child ran (its PID for the process peak).
    pub memory: MemoryReport,
    pub wall_s: f64,
}

impl ReferenceResult {
    pub fn number(&self, key: &str) -> Option<f64> {
        self.result.as_ref()?.get(key)?.as_f64()
    }
}

/// The last line of `stdout` that parses as a JSON object.
pub fn parse_output(stdout: &str) -> Option<serde_json::Value> {
    stdout
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .find(|v| v.is_object())
}

/// The last `n` non-empty lines of `text`, joined by " | " (why a child failed, in one line).
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

pub fn run_all(
    args: &Args,
    root: &Path,
    frames: usize,
    gpu: Result<&Gpu, &str>,
) -> Vec<ReferenceResult> {
    args.torch
        .iter()
        .map(|m| run_one(args, root, m, frames, gpu))
        .collect()
}

fn run_one(
    args: &Args,
    root: &Path,
    mode: &str,
    frames: usize,
    gpu: Result<&Gpu, &str>,
) -> ReferenceResult {
    let script = root.join("bench/torch_reference.py");
    let argv: Vec<String> = vec![
        script.display().to_string(),
        "--mode".into(),
        mode.into(),
        "--frames".into(),
        frames.to_string(),
        "--size".into(),
        args.size.to_string(),
        "--width".into(),
        args.width.to_string(),
        "--height".into(),
        args.height.to_string(),
        "--seed".into(),
        args.seed.to_string(),
        "--device".into(),
        args.torch_device.clone(),
    ];
    let mut r = ReferenceResult {
        mode: mode.into(),
        command: format!("{} {}", args.python.display(), argv.join(" ")),
        ..Default::default()
    };
    eprintln!("ck-bench: torch {mode}: {}", r.command);
    // onnx-export's package (the model) and bench/ on the path, ahead of whatever is set.
    let mut pythonpath = format!(
        "{}:{}",
        root.join("onnx-export").display(),
        root.join("bench").display()
    );
    if let Some(p) = std::env::var_os("PYTHONPATH") {
        pythonpath = format!("{pythonpath}:{}", p.to_string_lossy());
    }
    let sampler = Sampler::start(gpu, 0);
    let start = Instant::now();
    let child = Command::new(&args.python)
        .args(&argv)
        .current_dir(root)
        .env("PYTHONPATH", pythonpath)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            r.error = Some(format!("cannot start {}: {e}", args.python.display()));
            r.memory = sampler.finish();
            return r;
        }
    };
    sampler.set_pid(child.id());
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let timeout = Duration::from_secs(args.torch_timeout_s);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {} s", args.torch_timeout_s));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => break Err(e.to_string()),
        }
    };
    r.wall_s = start.elapsed().as_secs_f64();
    r.memory = sampler.finish();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Ok(s) if s.success() => match parse_output(&stdout) {
            Some(v) => {
                r.result = Some(v);
                r.ok = true;
            }
            None => r.error = Some(format!("no JSON on stdout: {}", tail(&stdout, 3))),
        },
        // A Python traceback ends with the exception line: that is the reason.
        Ok(s) => r.error = Some(format!("failed ({s}): {}", tail(&stderr, 1))),
        Err(e) => r.error = Some(format!("{e}: {}", tail(&stderr, 1))),
    }
    match &r.error {
        Some(e) => eprintln!("ck-bench: torch {mode} failed: {e}"),
        None => eprintln!(
            "ck-bench: torch {mode}: median {:.1} ms, cold {:.1} ms",
            r.number("median_ms").unwrap_or(f64::NAN),
            r.number("cold_ms").unwrap_or(f64::NAN)
        ),
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_json_object_line_wins() {
        let out = "warming up\n{\"mode\": \"x\", \"median_ms\": 1.0}\nnoise\n{\"mode\": \"eager-fp16\", \"median_ms\": 486.2}\n";
        let v = parse_output(out).unwrap();
        assert_eq!(v["mode"], "eager-fp16");
        assert!(parse_output("no json here\n[1, 2]\n").is_none());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b | c");
        assert_eq!(tail("", 3), "");
    }

    #[test]
    fn a_missing_interpreter_is_reported_not_fatal() {
        let argv = ["--torch", "eager-fp16", "--python", "/nonexistent/python3"].map(String::from);
        let args = crate::args::parse(&argv, crate::args::defaults(&|_| None, Path::new("/repo")))
            .unwrap()
            .unwrap();
        let r = run_all(&args, Path::new("/repo"), 1, Err("no NVML"));
        assert_eq!(r.len(), 1);
        assert!(!r[0].ok);
        assert!(r[0].error.as_deref().unwrap().contains("cannot start"));
    }
}
