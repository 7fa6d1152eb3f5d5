//! `tools/system-deps.sh`, the check behind `make demo` / `make test`: quiet on a machine that has
//! everything, and, where it may not install, one command naming exactly what is missing (CI runs as
//! root and always takes the install path, so this is where the other path is exercised).

mod common;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    ofx_test_host::workspace_root().join("tools/system-deps.sh")
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

#[test]
fn quiet_when_everything_is_there() {
    let out = Command::new("bash")
        .arg(script())
        .arg("demo")
        .env("SYSTEM_DEPS_NO_INSTALL", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "this machine builds the project, so nothing may be missing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

#[test]
fn a_missing_tool_stops_with_the_one_command_to_run() {
    // A PATH with what the build calls except `unzip`.
    let bin = common::empty_dir("system-deps");
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = PathBuf::from(String::from_utf8_lossy(&python.stdout).trim());
    let mut tools: Vec<(String, PathBuf)> = vec![("python3".into(), python)];
    for t in [
        "bash", "cc", "strip", "nm", "grep", "id", "env", "apt-get", "ldconfig",
    ] {
        if let Some(p) =
            which(t).or_else(|| Some(Path::new("/sbin").join(t)).filter(|p| p.is_file()))
        {
            tools.push((t.into(), p));
        }
    }
    for (name, target) in &tools {
        symlink(target, bin.join(name)).unwrap();
    }
    let out = Command::new(bin.join("bash"))
        .arg(script())
        .arg("demo")
        .env("PATH", &bin)
        .env("SYSTEM_DEPS_NO_INSTALL", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("missing system packages: unzip\n"), "{err}");
    let commands: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("apt-get install"))
        .collect();
    assert_eq!(
        commands,
        ["  sudo apt-get install -y --no-install-recommends unzip"],
        "{err}"
    );
}
