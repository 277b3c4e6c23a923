//! The dependency direction, checked on the sources: the sans-IO cores know nothing of the
//! simulation or of each other, so a second driver (real time, real TCP) can run them unchanged.
//!
//! - `protocol` (requests, responses, the record batch) is at the bottom: no runtime, no other
//!   crate of the workspace.
//! - The broker core (everything in `broker/src` but the `node` module, which hosts it in the
//!   madsim shell) and the client cores and processes (everything in `client/src` but `node` and
//!   the `history` recorder, which stamps simulated time) import no runtime: no `sim`, madsim or
//!   tokio, no `async`, no files. They are `protocol::node::Node`s, which any shell can drive.
//! - The client crate does not use the broker at all outside its tests (it speaks `protocol`);
//!   recording the cluster's observations belongs to the harness (`scenarios`).
//!
//! Test code (`#[cfg(test)]` modules and the files they include) is not checked.
//! `tests/tidy.rs` checks the determinism rules on the same files.

use std::path::{Path, PathBuf};

const RUNTIME: &[&str] = &["sim::", "madsim", "tokio", "async ", ".await", "std::fs"];

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `.rs` files under `dir`, sorted, skipping files and folders whose name is in `skip` and
/// the files of test modules.
fn sources(dir: &Path, skip: &[&str], out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let stem = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("");
        if skip.contains(&stem) || ["tests", "model_tests", "testkit"].contains(&stem) {
            continue;
        }
        if path.is_dir() {
            sources(&path, skip, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Lines of `file` (before its first `#[cfg(test)]`) that contain one of `banned`, outside comments.
fn violations(file: &Path, banned: &[&str]) -> Vec<String> {
    let source = std::fs::read_to_string(file).expect("readable source");
    let mut found = Vec::new();
    for (number, line) in source.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        for pattern in banned {
            if contains_token(code, pattern) {
                let relative = file.strip_prefix(workspace()).unwrap_or(file);
                found.push(format!("{}:{}: {pattern}", relative.display(), number + 1));
            }
        }
    }
    found
}

/// Whether `code` holds `pattern` not continued by an identifier character (`.await`, not
/// `.awaiting_join`; `madsim`, not `madsimulated`), when the pattern ends with one.
fn contains_token(code: &str, pattern: &str) -> bool {
    let ends_in_identifier = pattern
        .chars()
        .last()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    code.match_indices(pattern).any(|(at, _)| {
        !ends_in_identifier
            || !code[at + pattern.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn tokens_are_whole_words() {
    assert!(contains_token("x.await;", ".await"));
    assert!(!contains_token("self.awaiting_join", ".await"));
    assert!(contains_token("use madsim::net;", "madsim"));
    assert!(contains_token("use sim::net;", "sim::"));
    assert!(!contains_token("let simulated = 1;", "sim::"));
}

fn check(dir: &str, skip: &[&str], banned: &[&str], files_min: usize) -> Vec<String> {
    let mut files = Vec::new();
    sources(&workspace().join(dir), skip, &mut files);
    assert!(files.len() >= files_min, "{dir}: found only {files:?}");
    files
        .iter()
        .flat_map(|file| violations(file, banned))
        .collect()
}

#[test]
fn protocol_is_at_the_bottom() {
    let banned: Vec<&str> = RUNTIME
        .iter()
        .copied()
        .chain(["broker::", "client::", "oracle::", "scenarios::"])
        .collect();
    let found = check("protocol/src", &[], &banned, 3);
    assert!(
        found.is_empty(),
        "protocol depends on more than bytes:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_broker_core_imports_no_runtime() {
    let found = check("broker/src", &["node"], RUNTIME, 15);
    assert!(
        found.is_empty(),
        "runtime in the broker core:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_client_cores_import_no_runtime_and_not_the_broker() {
    let banned: Vec<&str> = RUNTIME.iter().copied().chain(["broker::"]).collect();
    let found = check("client/src", &["node", "history"], &banned, 4);
    assert!(
        found.is_empty(),
        "runtime or broker in the client cores:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_kafka_gateway_imports_no_runtime_and_not_the_broker() {
    let banned: Vec<&str> = RUNTIME.iter().copied().chain(["broker::"]).collect();
    let found = check("wire/src", &[], &banned, 4);
    assert!(
        found.is_empty(),
        "runtime or broker in the wire gateway:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_client_does_not_use_the_broker() {
    let found = check("client/src", &[], &["broker::"], 6);
    assert!(
        found.is_empty(),
        "the client crate uses the broker:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checks_catch_what_they_look_for() {
    let dir = std::env::temp_dir().join(format!("streamsim-layering-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("core.rs");
    std::fs::write(
        &file,
        "use sim::disk::Disk; // a comment with madsim is fine\nasync fn f() {}\n#[cfg(test)]\nmod tests { use tokio; }\n",
    )
    .unwrap();
    let found = violations(&file, RUNTIME);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].ends_with(":1: sim::") && found[1].ends_with(":2: async "),
        "{found:?}"
    );
}
