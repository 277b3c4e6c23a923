//! The gateway is sans-IO: no runtime (sim, madsim, tokio, async), no files, no wall clock, no
//! iterated hash maps, in its sources or its dependencies. (`tests/layering.rs` and
//! `tests/tidy.rs` at the workspace root check the same with the other crates.)

use std::path::{Path, PathBuf};

const BANNED: &[&str] = &[
    "sim::",
    "madsim",
    "tokio",
    "async ",
    ".await",
    "std::fs",
    "std::net::TcpStream",
    "Instant::now",
    "SystemTime::now",
    "thread_rng",
    "HashMap",
    "broker::",
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Lines of `source` before its first `#[cfg(test)]` that contain a banned pattern outside
/// comments.
fn violations(name: &str, source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (number, line) in source.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        for pattern in BANNED {
            if code.contains(pattern) {
                found.push(format!("{name}:{}: {pattern}", number + 1));
            }
        }
    }
    found
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_gateway_imports_no_runtime() {
    let mut files = Vec::new();
    sources(&crate_dir().join("src"), &mut files);
    assert!(files.len() >= 4, "found only {files:?}");
    let found: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let source = std::fs::read_to_string(f).expect("readable source");
            violations(&f.display().to_string(), &source)
        })
        .collect();
    assert!(
        found.is_empty(),
        "runtime in the wire crate:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_gateway_depends_on_no_runtime() {
    let manifest = std::fs::read_to_string(crate_dir().join("Cargo.toml")).expect("manifest");
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] section");
    let dependencies = dependencies.split("\n[").next().unwrap_or("");
    for name in ["madsim", "tokio", "sim", "broker", "client"] {
        assert!(
            !dependencies
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{name}."))
                    || l.trim_start().starts_with(&format!("{name} "))),
            "wire depends on {name}"
        );
    }
}

#[test]
fn the_check_catches_what_it_looks_for() {
    let bad = "use sim::net::Socket; // madsim in a comment is fine\nasync fn f() { x.await }\nuse std::collections::HashMap;\n#[cfg(test)]\nmod tests { use tokio; }\n";
    let found = violations("bad.rs", bad);
    assert_eq!(
        found,
        vec![
            "bad.rs:1: sim::",
            "bad.rs:2: async ",
            "bad.rs:2: .await",
            "bad.rs:3: HashMap"
        ]
    );
}
