//! The workspace's source layout keeps its one rule: no two files import each other.
//!
//! Every `.rs` file of every crate root (lib, main, bins) is read; `use` trees and inline
//! `crate::`/`super::`/`self::` paths are resolved to the file that defines the module they name
//! (the longest module prefix that is a file), giving a file-to-file import graph. A pair of files
//! that import each other fails the test with both names. `mod x;` declarations, exported macros
//! (`crate::k!`) and in-file test modules (`#[cfg(test)] mod tests`, which import their own file) are
//! not imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A crate: its root file and the folder its modules live in.
struct CrateRoot {
    file: PathBuf,
    dir: PathBuf,
}

fn crate_roots(ws: &Path) -> Vec<CrateRoot> {
    let mut roots = Vec::new();
    let mut add = |file: PathBuf| {
        let stem = file.file_stem().unwrap_or_default().to_string_lossy();
        let parent = file.parent().unwrap_or(ws).to_path_buf();
        let dir = if ["lib", "main", "mod"].contains(&stem.as_ref()) {
            parent
        } else {
            parent.join(stem.as_ref())
        };
        roots.push(CrateRoot { file, dir });
    };
    for pkg in [
        "ofx-bindings",
        "ofx-bindings/host",
        "plugin",
        "tests",
        "bench",
    ] {
        let src = ws.join(pkg).join("src");
        for f in ["lib.rs", "main.rs"] {
            if src.join(f).is_file() {
                add(src.join(f));
            }
        }
        if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
            for e in bins.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "rs") {
                    add(p);
                } else if p.join("main.rs").is_file() {
                    add(p.join("main.rs"));
                }
            }
        }
    }
    roots
}

/// The files of a crate by module path (the root is the empty path).
fn modules(root: &CrateRoot) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    out.insert(Vec::new(), root.file.clone());
    fn walk(
        dir: &Path,
        prefix: &[String],
        root_file: &Path,
        out: &mut BTreeMap<Vec<String>, PathBuf>,
    ) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() {
                if name == "bin" && prefix.is_empty() {
                    continue;
                }
                let mut m = prefix.to_vec();
                m.push(name.clone());
                if p.join("mod.rs").is_file() {
                    out.insert(m.clone(), p.join("mod.rs"));
                }
                walk(&p, &m, root_file, out);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                if p == root_file
                    || stem == "mod"
                    || (prefix.is_empty() && (stem == "lib" || stem == "main"))
                {
                    continue;
                }
                let mut m = prefix.to_vec();
                m.push(stem.to_string());
                out.insert(m, p);
            }
        }
    }
    walk(&root.dir, &[], &root.file, &mut out);
    out
}

/// The source without comments and without a trailing `#[cfg(test)] mod tests { .. }`.
fn code_of(text: &str) -> String {
    let mut code = without_comments(text);
    if let Some(i) = code.find("#[cfg(test)]\nmod tests") {
        code.truncate(i);
    }
    code
}

/// The source without comments and string literals (test modules kept).
fn without_comments(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut in_str, mut in_block) = (false, 0usize);
    while let Some(c) = chars.next() {
        if in_block > 0 {
            if c == '*' && chars.peek() == Some(&'/') {
                chars.next();
                in_block -= 1;
            } else if c == '/' && chars.peek() == Some(&'*') {
                chars.next();
                in_block += 1;
            }
            continue;
        }
        if in_str {
            if c == '\\' {
                chars.next();
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                code.push(' ');
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                in_block = 1;
            }
            _ => code.push(c),
        }
    }
    code
}

/// Full paths named by one `use` tree (`a::b::{c, d::e}` -> [a::b::c, a::b::d::e]).
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    // `a as b` renames the last segment: keep the path, drop the new name.
    let tree: String = tree
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" as ", "@")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    fn go(s: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
        // Split at top-level commas.
        let mut depth = 0;
        let mut start = 0;
        let bytes: Vec<char> = s.chars().collect();
        let mut parts = Vec::new();
        for (i, &c) in bytes.iter().enumerate() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(bytes[start..i].iter().collect::<String>());
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(bytes[start..].iter().collect::<String>());
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            if let Some(open) = part.find('{') {
                let head = part[..open].trim_end_matches("::");
                let inner = &part[open + 1..part.rfind('}').unwrap_or(part.len())];
                let mut p = prefix.to_vec();
                p.extend(head.split("::").filter(|x| !x.is_empty()).map(String::from));
                go(inner, &p, out);
            } else {
                let path = part.split('@').next().unwrap_or("");
                let mut p = prefix.to_vec();
                p.extend(
                    path.split("::")
                        .filter(|x| !x.is_empty() && *x != "*")
                        .map(String::from),
                );
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    go(&tree, &[], &mut out);
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every module path a file's code names: its `use` trees and inline `crate::`/`super::`/`self::`
/// paths.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let after = &rest[i + 4..];
        if before.is_some_and(is_ident) {
            rest = after;
            continue;
        }
        let end = after.find(';').unwrap_or(after.len());
        paths.extend(expand_use(&after[..end]));
        rest = &after[end..];
    }
    for lead in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(lead) {
            let at = from + i;
            from = at + lead.len();
            if code[..at]
                .chars()
                .last()
                .is_some_and(|c| is_ident(c) || c == ':')
            {
                continue;
            }
            let chain: String = code[at..]
                .chars()
                .take_while(|&c| is_ident(c) || c == ':')
                .collect();
            // `crate::k!(..)`: an exported macro sits at the crate root whichever file defines it.
            if code[at + chain.len()..].starts_with('!') {
                continue;
            }
            paths.push(
                chain
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            );
        }
    }
    paths
}

/// The file a path names from module `here`, if it is a module of this crate.
fn resolve(
    path: &[String],
    here: &[String],
    mods: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<PathBuf> {
    let mut abs: Vec<String>;
    let mut it = path.iter().peekable();
    match it.peek().map(|s| s.as_str()) {
        Some("crate") => {
            it.next();
            abs = Vec::new();
        }
        Some("super") => {
            abs = here.to_vec();
            while it.peek().map(|s| s.as_str()) == Some("super") {
                it.next();
                abs.pop();
            }
        }
        Some("self") => {
            it.next();
            abs = here.to_vec();
        }
        Some(first) => {
            let mut child = here.to_vec();
            child.push(first.to_string());
            if !mods.contains_key(&child) {
                return None;
            }
            abs = here.to_vec();
        }
        None => return None,
    }
    abs.extend(it.cloned());
    (0..=abs.len())
        .rev()
        .find_map(|n| mods.get(&abs[..n]).cloned())
}

/// Every file-to-file import of the workspace.
fn import_graph(ws: &Path) -> BTreeSet<(PathBuf, PathBuf)> {
    let mut edges: BTreeSet<(PathBuf, PathBuf)> = BTreeSet::new();
    let mut files = 0;
    for root in crate_roots(ws) {
        let mods = modules(&root);
        for (module, file) in &mods {
            files += 1;
            let text = std::fs::read_to_string(file).unwrap();
            for path in named_paths(&code_of(&text)) {
                if let Some(target) = resolve(&path, module, &mods) {
                    if &target != file {
                        edges.insert((file.clone(), target));
                    }
                }
            }
        }
    }
    assert!(files > 50, "the layout check found only {files} files");
    edges
}

#[test]
fn no_two_files_import_each_other() {
    let ws = ofx_test_host::workspace_root();
    let edges = import_graph(&ws);
    let rel = |p: &Path| p.strip_prefix(&ws).unwrap_or(p).display().to_string();
    let mutual: Vec<String> = edges
        .iter()
        .filter(|(a, b)| a < b && edges.contains(&(b.clone(), a.clone())))
        .map(|(a, b)| format!("{} <-> {}", rel(a), rel(b)))
        .collect();
    assert!(
        mutual.is_empty(),
        "files that import each other:\n{}",
        mutual.join("\n")
    );
}

/// The runtime layer (ONNX Runtime set-up) stands on its own: it imports the engine's contract,
/// errors (with the CUDA runtime's error type), the abort poll and the size limits, never stage,
/// GPU-path or orchestration code. Those five are leaves: they import nothing but each other, so
/// nothing reaches stage code through them.
#[test]
fn the_runtime_layer_imports_no_stage_code() {
    let ws = ofx_test_host::workspace_root();
    let engine = ws.join("plugin/src/engine");
    let runtime = engine.join("runtime");
    let allowed = [
        "contract.rs",
        "error.rs",
        "abort.rs",
        "limits.rs",
        "runtime/cuda/error.rs",
    ]
    .map(|f| engine.join(f));
    let graph = import_graph(&ws);
    let leaks: Vec<String> = graph
        .iter()
        .filter(|(a, b)| allowed.contains(a) && !allowed.contains(b))
        .map(|(a, b)| format!("{} -> {}", a.display(), b.display()))
        .collect();
    assert!(
        leaks.is_empty(),
        "the runtime layer's allowed imports import more:\n{}",
        leaks.join("\n")
    );
    let bad: Vec<String> = graph
        .into_iter()
        .filter(|(a, b)| {
            a.starts_with(&runtime) && !b.starts_with(&runtime) && !allowed.contains(b)
        })
        .map(|(a, b)| format!("{} -> {}", a.display(), b.display()))
        .collect();
    assert!(
        bad.is_empty(),
        "the runtime layer imports:\n{}",
        bad.join("\n")
    );
}

/// What reads the process environment in Rust source.
/// (`env::var` also covers `env::var_os`, `env::vars` and `use std::env::var`; `env::temp_dir` is a
/// path, not a switch.)
const ENV_READS: &[&str] = &["env::var", "var_os(", "vars_os(", "env::{", "getenv"];

/// The environment reads in `code` (comments and strings already removed).
fn env_reads(code: &str) -> Vec<&'static str> {
    ENV_READS
        .iter()
        .copied()
        .filter(|p| code.contains(p))
        .collect()
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The engine is host-agnostic and configured by its callers: every `CORRIDORKEY_*` switch is read
/// at the OFX edge (plugin/src/ofx/config.rs) and reaches the engine as `RuntimeConfig::tuning` or
/// `RenderOptions`. No file under plugin/src/engine reads the environment, test modules included.
#[test]
fn the_engine_reads_no_environment_variable() {
    let ws = ofx_test_host::workspace_root();
    let mut files = Vec::new();
    rs_files(&ws.join("plugin/src/engine"), &mut files);
    assert!(files.len() > 20, "found only {} engine files", files.len());
    let bad: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let reads = env_reads(&without_comments(&text));
            (!reads.is_empty()).then(|| format!("{}: {reads:?}", f.display()))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "engine files that read the environment:\n{}",
        bad.join("\n")
    );
    // The check sees a read and ignores one in a comment or a message.
    let sample = "fn f() { std::env::var_os(K); }\n// std::env::var(\"X\")\n";
    assert_eq!(
        env_reads(&without_comments(sample)),
        ["env::var", "var_os("]
    );
    assert!(env_reads(&without_comments("let m = \"set std::env::var\";")).is_empty());
}

#[test]
fn the_check_sees_imports_and_ignores_test_modules() {
    let code = code_of(
        "use super::a::{B, c::D as E};\n// use crate::x;\nfn f() { crate::y::z(); crate::m!(1); }\n#[cfg(test)]\nmod tests { use super::*; }\n",
    );
    let paths = named_paths(&code);
    assert!(paths.contains(&vec!["super".into(), "a".into(), "B".into()]));
    assert!(paths.contains(&vec!["super".into(), "a".into(), "c".into(), "D".into()]));
    assert!(paths.contains(&vec!["crate".into(), "y".into(), "z".into()]));
    assert!(!paths.iter().any(|p| p.contains(&"x".to_string())));
    assert!(!paths.iter().any(|p| p.contains(&"m".to_string())), "macro");
    assert!(
        !paths.iter().any(|p| p.contains(&"E".to_string())),
        "rename"
    );
    assert_eq!(
        paths
            .iter()
            .filter(|p| p == &&vec!["super".to_string()])
            .count(),
        0
    );
}
