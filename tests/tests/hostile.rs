//! A hostile model folder or an out-of-range value never takes the host down or freezes it (issue
//! 15), through the built bundle: every broken folder renders in under 10 s with the source passed
//! through and a persistent error naming the cause; values outside a param's declared range are
//! clamped (and named in the info line) and the frame is keyed; a folder on a hung file system fails
//! after a bounded time and then at once; an instance beside a hostile one keeps its frame time.
//! Cases that need process-wide settings (the hung file system) run in a child process.

mod common;
use common::*;
use ofx_test_host::pair::{run as run_pair, PairConfig};
use ofx_test_host::{Instance, ParamValue, Plugin, GENERAL};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Every hostile case must come back this fast (issue 15).
const LIMIT: Duration = Duration::from_secs(10);
const COARSE: &str = "coarse_128.fp32.onnx";
const REFINER: &str = "refiner.fp32.onnx";

/// A copy of the `small_s128` model folder that a test may break; removed on drop.
struct Folder(PathBuf);

impl Folder {
    fn good(tag: &str) -> Folder {
        let src = ofx_test_host::test_model_dir().unwrap();
        let dir = empty_dir(tag);
        for f in ["manifest.json", COARSE, REFINER] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        Folder(dir)
    }
    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
    fn edit(&self, change: impl FnOnce(&mut Value)) {
        let p = self.path("manifest.json");
        let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        change(&mut m);
        std::fs::write(&p, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    }
    /// The manifest entry of graph file `f`.
    fn entry<'a>(m: &'a mut Value, f: &str) -> &'a mut Value {
        m["graphs"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|g| g["file"] == f)
            .unwrap()
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn instance<'p>(plugin: &'p Plugin, dir: &Path, w: usize, h: usize) -> (Instance<'p>, Vec<f32>) {
    let p = plate(w, h, 3);
    let inst = keyed(plugin, GENERAL, &p, SHOW_PREMULTIPLIED);
    inst.set_string("modelFolder", dir.to_str().unwrap())
        .unwrap();
    inst.set_int("device", 3).unwrap();
    (inst, p.rgba)
}

/// Renders `dir` and checks the hostile-folder contract: back in time, the source passed through,
/// a persistent error naming every `cause`. Returns the message and the time taken.
fn passes_through(dir: &Path, causes: &[&str]) -> (String, Duration) {
    let plugin = Plugin::shared();
    let (inst, source) = instance(plugin, dir, 96, 64);
    let t = Instant::now();
    let out = render(&inst, 0.0);
    let took = t.elapsed();
    assert!(took < LIMIT, "{}: took {took:?}", dir.display());
    assert_eq!(
        out,
        source,
        "{}: the source did not pass through",
        dir.display()
    );
    let m = inst
        .persistent_message()
        .unwrap_or_else(|| panic!("{}: no persistent message", dir.display()));
    assert!(m.kind.contains("Error"), "{m:?}");
    for c in causes {
        assert!(m.text.contains(c), "{:?} does not name {c:?}", m.text);
    }
    eprintln!("{}: {took:?}: {}", dir.display(), m.text);
    (m.text, took)
}

#[test]
fn manifest_size_that_the_graph_does_not_have_is_refused() {
    // The table's first case: "size": 100000 made the plugin allocate 160 GB and abort the host.
    let f = Folder::good("size");
    f.edit(|m| Folder::entry(m, COARSE)["size"] = 100_000.into());
    passes_through(&f.0, &[COARSE, "size 100000", "128x128"]);
}

#[test]
fn fifo_and_dev_zero_graphs_are_refused_without_reading() {
    // A FIFO with no `bytes`: refused for the missing length (hashing it used to read forever).
    let f = Folder::good("fifo");
    std::fs::remove_file(f.path(REFINER)).unwrap();
    let st = Command::new("mkfifo")
        .arg(f.path(REFINER))
        .status()
        .unwrap();
    assert!(st.success());
    f.edit(|m| {
        Folder::entry(m, REFINER)
            .as_object_mut()
            .unwrap()
            .remove("bytes");
    });
    passes_through(&f.0, &[REFINER, "\"bytes\""]);
    // With its `bytes`: refused as what it is.
    let f = Folder::good("fifo-bytes");
    std::fs::remove_file(f.path(REFINER)).unwrap();
    assert!(Command::new("mkfifo")
        .arg(f.path(REFINER))
        .status()
        .unwrap()
        .success());
    passes_through(&f.0, &[REFINER, "FIFO", "not a regular file"]);
    // A symlink to /dev/zero, with and without `bytes`.
    let f = Folder::good("zero");
    std::fs::remove_file(f.path(COARSE)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", f.path(COARSE)).unwrap();
    passes_through(&f.0, &[COARSE, "device", "not a regular file"]);
    f.edit(|m| {
        Folder::entry(m, COARSE)
            .as_object_mut()
            .unwrap()
            .remove("bytes");
    });
    passes_through(&f.0, &[COARSE, "\"bytes\""]);
}

#[test]
fn a_manifest_pointing_outside_its_folder_is_refused() {
    let f = Folder::good("outside");
    let name = format!("../{}/{COARSE}", f.0.file_name().unwrap().to_string_lossy());
    f.edit(|m| Folder::entry(m, COARSE)["file"] = name.clone().into());
    passes_through(&f.0, &[&name, "plain file name"]);
}

#[test]
fn a_directory_or_an_empty_file_where_a_graph_should_be_is_refused() {
    let f = Folder::good("dir");
    std::fs::remove_file(f.path(REFINER)).unwrap();
    std::fs::create_dir(f.path(REFINER)).unwrap();
    passes_through(&f.0, &[REFINER, "directory", "not a regular file"]);
    let f = Folder::good("empty");
    std::fs::write(f.path(COARSE), b"").unwrap();
    passes_through(&f.0, &[COARSE, "is 0 bytes"]);
    // An empty file the manifest agrees with: refused by its hash.
    f.edit(|m| Folder::entry(m, COARSE)["bytes"] = 0.into());
    passes_through(&f.0, &[COARSE, "sha256"]);
}

#[test]
fn graph_io_names_or_types_that_differ_from_the_manifest_are_refused() {
    let f = Folder::good("io-name");
    f.edit(|m| Folder::entry(m, COARSE)["outputs"][0]["name"] = "alpha".into());
    passes_through(&f.0, &[COARSE, "alpha_logits"]);
    let f = Folder::good("io-type");
    f.edit(|m| Folder::entry(m, REFINER)["inputs"][0]["dtype"] = "float16".into());
    passes_through(&f.0, &[REFINER, "float32", "float16"]);
}

#[test]
fn a_graph_rewritten_in_place_with_its_mtime_restored_is_caught() {
    // Issue 16: a same-size rewrite with the mtime put back used to skip the sha256 check.
    let f = Folder::good("rewrite");
    let plugin = Plugin::shared();
    let (inst, source) = instance(plugin, &f.0, 96, 64);
    let first = render(&inst, 0.0);
    assert!(
        inst.persistent_message().is_none(),
        "the good folder failed"
    );
    assert_ne!(first, source);
    let path = f.path(REFINER);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&path, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    let out = render(&inst, 1.0);
    assert_eq!(out, source, "a rewritten graph must not key");
    let m = inst
        .persistent_message()
        .expect("no message for the rewrite");
    assert!(
        m.text.contains(REFINER) && m.text.contains("sha256"),
        "{m:?}"
    );
}

#[test]
fn a_broken_folder_is_remembered_until_it_changes() {
    let f = Folder::good("remember");
    let good = std::fs::read(f.path(COARSE)).unwrap();
    std::fs::write(f.path(COARSE), vec![0u8; good.len()]).unwrap();
    let plugin = Plugin::shared();
    let (inst, source) = instance(plugin, &f.0, 96, 64);
    for t in 0..3 {
        assert_eq!(render(&inst, t as f64), source);
        let m = inst.persistent_message().unwrap();
        assert!(m.text.contains("sha256"), "{m:?}");
    }
    // Fixed on disk: the next frame loads again and keys.
    std::fs::write(f.path(COARSE), &good).unwrap();
    let out = render(&inst, 9.0);
    assert_ne!(out, source);
    assert!(inst.persistent_message().is_none());
}

#[test]
fn params_outside_their_declared_range_are_clamped_and_keyed() {
    // hintErode=2000000000 aborted the host (a 48 GB allocation); hintBlur=2000000000 or 100000
    // never returned. Hosts and scripts can send values outside the declared range.
    let plugin = Plugin::shared();
    let dir = ofx_test_host::test_model_dir().unwrap();
    let (inst, _) = instance(plugin, &dir, 160, 96);
    inst.set_int("show", SHOW_HINT).unwrap();
    inst.set_int("hintSource", HINT_BUILTIN).unwrap();
    inst.set_int("hintErode", 101).unwrap();
    inst.set_int("hintBlur", 201).unwrap();
    let at_max = render(&inst, 0.0);
    for (erode, blur) in [
        (2_000_000_000, 2_000_000_000),
        (2_000_000_000, 21),
        (7, 100_000),
        (-5, -9),
    ] {
        inst.set_int("hintErode", erode).unwrap();
        inst.set_int("hintBlur", blur).unwrap();
        let t = Instant::now();
        let out = render(&inst, 1.0);
        assert!(
            t.elapsed() < LIMIT,
            "erode {erode} blur {blur}: {:?}",
            t.elapsed()
        );
        assert!(out.iter().all(|v| v.is_finite()));
        if erode > 101 && blur > 201 {
            assert_eq!(out, at_max);
        }
        let info = match inst.effect().params().get("info").unwrap().value() {
            ParamValue::Str(s) => s,
            v => panic!("info is {v:?}"),
        };
        if erode > 101 {
            assert!(info.contains("hintErode = 2000000000"), "{info}");
        }
        if blur > 201 {
            assert!(info.contains(&format!("hintBlur = {blur}")), "{info}");
        }
    }
    // Through the network too.
    inst.set_int("show", SHOW_PREMULTIPLIED).unwrap();
    inst.set_int("hintErode", 2_000_000_000).unwrap();
    inst.set_int("hintBlur", 2_000_000_000).unwrap();
    inst.set_double("skipHigh", 1e300).unwrap();
    inst.set_int("refinerOverlap", i32::MAX).unwrap();
    let t = Instant::now();
    let out = render(&inst, 2.0);
    assert!(t.elapsed() < LIMIT);
    assert!(out.iter().all(|v| v.is_finite()));
    assert!(inst.persistent_message().is_none());
}

const CHILD_ENV: &str = "CK_HOSTILE_CHILD";
/// Folder names containing this sit on the "hung file system" (`CORRIDORKEY_TEST_FS_HANG`).
const HUNG_MARK: &str = "ck-hung-share";

/// Runs `test` of this binary in a child process with the hung-share hook on and a short stall
/// limit; the child prints CHILD-OK when its assertions passed.
fn in_child(test: &str, stall_s: &str) {
    Plugin::shared();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            test,
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env("CORRIDORKEY_TEST_FS_HANG", HUNG_MARK)
        .env("CORRIDORKEY_FS_STALL_S", stall_s)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.code().is_some(),
        "the host process was killed by a signal\n{text}"
    );
    assert!(
        out.status.success() && text.contains("CHILD-OK"),
        "child {test} failed\n{text}"
    );
    eprintln!("{text}");
}

#[test]
#[ignore = "run by a_hung_file_system_fails_in_bounded_time in a child process"]
fn hung_share_child() {
    assert!(std::env::var(CHILD_ENV).is_ok(), "child only");
    let f = Folder::good(HUNG_MARK);
    // The first frame waits out the stall limit (2 s here), then fails naming the file.
    let (first, took) = passes_through(&f.0, &["manifest.json", "no progress for 2 s"]);
    assert!(took >= Duration::from_millis(1800), "{took:?}: {first}");
    // The reader is still blocked: later frames fail at once instead of adding readers.
    let (again, took) = passes_through(&f.0, &["not responding"]);
    assert!(took < Duration::from_secs(1), "{took:?}: {again}");
    println!("CHILD-OK");
}

#[test]
fn a_hung_file_system_fails_in_bounded_time() {
    in_child("hung_share_child", "2");
}

#[test]
#[ignore = "run by an_instance_beside_a_hostile_one_keeps_its_frame_time in a child process"]
fn pair_child() {
    assert!(std::env::var(CHILD_ENV).is_ok(), "child only");
    let hostile = Folder::good(HUNG_MARK);
    let cfg = PairConfig {
        good: ofx_test_host::test_model_dir().unwrap(),
        hostile: hostile.0.clone(),
        width: 128,
        height: 96,
        frames: 8,
        hostile_frames: 2,
    };
    let report = run_pair(Plugin::shared(), &cfg).unwrap();
    println!("{}", report.summary());
    assert!(
        report.good_failures().is_empty(),
        "the good instance failed beside the hostile one"
    );
    // The hostile instance was stuck loading (a hung share) all the while.
    assert!(report.overlapped(), "the hostile load ended too early");
    let h = &report.hostile;
    assert!(
        h.iter()
            .all(|r| r.message.as_deref().is_some_and(|m| m.contains("Error"))),
        "{h:?}"
    );
    assert!(h[0].ms < LIMIT.as_secs_f64() * 1000.0);
    // Never blocked: a frame that waited on the hostile load would take the whole stall (6 s).
    let slowest = report.beside.iter().map(|r| r.ms).fold(0.0, f64::max);
    assert!(
        slowest < 3000.0,
        "a frame beside the hostile one took {slowest:.0} ms"
    );
    // And its normal frame time, within what a shared 2-core CI machine's load swings allow.
    let (alone, beside) = (report.median_alone_ms(), report.median_beside_ms());
    assert!(
        beside <= 3.0 * alone + 100.0,
        "median frame {beside:.1} ms beside the hostile instance, {alone:.1} ms alone"
    );
    println!("CHILD-OK");
}

#[test]
fn an_instance_beside_a_hostile_one_keeps_its_frame_time() {
    // The hostile instance's first frame hangs in its load for the stall limit (6 s).
    in_child("pair_child", "6");
}
