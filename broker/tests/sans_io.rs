//! The broker core is sans-IO: it knows nothing of madsim or tokio and has no async code.
//! Only the node shell (any file or directory named `node` under `broker/src`) may.
//! (The workspace's `tests/tidy.rs` checks the determinism rules on the same files.)

use std::path::{Path, PathBuf};

const BANNED: &[&str] = &["madsim", "tokio", "async ", ".await", "std::fs"];

fn core_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("broker/src is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let is_shell = path.file_stem().is_some_and(|stem| stem == "node");
        if is_shell {
            continue;
        }
        if path.is_dir() {
            core_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_core_imports_no_runtime() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    core_files(&src, &mut files);
    assert!(files.len() >= 10, "found only {files:?}");
    let mut violations = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("readable source");
        for (number, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for pattern in BANNED {
                if code.contains(pattern) {
                    violations.push(format!("{}:{}: {pattern}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "runtime in the sans-IO core:\n{}",
        violations.join("\n")
    );
}
