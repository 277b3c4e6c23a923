//! Tidy: determinism is a rule, checked by a test (TigerBeetle's `tidy.zig`, turmoil issue #19).
//!
//! Code that runs inside a simulation (`sim/`, `broker/`, `client/`, `scenarios/` sources) must not
//! reach for the wall clock, an unseeded random generator, an OS thread, an iterated hash map, or
//! an unbiased `select!`. The runner is exempt from the wall-clock and thread rules: it measures
//! wall time and owns the run thread, outside the simulation.

use std::path::{Path, PathBuf};

/// (pattern, why it is banned)
const BANNED: &[(&str, &str)] = &[
    (
        "thread_rng",
        "unseeded randomness: draw from a named seed stream",
    ),
    (
        "rand::random",
        "unseeded randomness: draw from a named seed stream",
    ),
    (
        "Instant::now",
        "wall clock: use simulated time (sim::time) or take now_ms as an argument",
    ),
    (
        "SystemTime::now",
        "wall clock: use simulated time (sim::time) or take now_ms as an argument",
    ),
    (
        "std::thread::spawn",
        "OS threads break determinism: spawn a madsim task",
    ),
    (
        "thread::Builder",
        "OS threads break determinism: spawn a madsim task",
    ),
    (
        "HashMap",
        "iteration order is random: use BTreeMap (or mark a lookup-only map `tidy: lookup-only`)",
    ),
    (
        "HashSet",
        "iteration order is random: use BTreeSet (or mark a lookup-only set `tidy: lookup-only`)",
    ),
];

/// Files allowed to break a given rule, with the reason.
const EXEMPT: &[(&str, &str)] = &[
    ("sim/src/runner.rs", "Instant::now"),
    ("sim/src/runner.rs", "thread::Builder"),
    // Campaign workers run whole simulations side by side, outside any simulation.
    ("scenarios/src/campaign.rs", "thread::Builder"),
];

const CHECKED_DIRS: &[&str] = &[
    "sim/src",
    "broker/src",
    "client/src",
    "scenarios/src",
    "wire/src",
];

#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    rule: String,
}

fn check_source(file: &str, source: &str) -> Vec<Violation> {
    let mut violations = Vec::new();
    let lines: Vec<&str> = source.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        // madsim's Instant is simulated time, not the wall clock.
        let code = code.replace(
            "madsim::time::Instant::now",
            "madsim::time::Instant::sim_now",
        );
        let code = code.as_str();
        let allowed = line.contains("tidy: lookup-only");
        for (pattern, why) in BANNED {
            if !code.contains(pattern) {
                continue;
            }
            if allowed && pattern.starts_with("Hash") {
                continue;
            }
            if EXEMPT
                .iter()
                .any(|(f, p)| file.ends_with(f) && p == pattern)
            {
                continue;
            }
            violations.push(Violation {
                file: file.to_string(),
                line: index + 1,
                rule: format!("{pattern}: {why}"),
            });
        }
        if code.contains("select!") {
            // The first statement inside the macro must be `biased;`.
            let rest: String = lines[index..lines.len().min(index + 3)].join("\n");
            let after = rest
                .split_once("select!")
                .map(|(_, after)| after)
                .unwrap_or("");
            let after = after
                .trim_start()
                .trim_start_matches(['{', '('])
                .trim_start();
            if !after.starts_with("biased;") {
                violations.push(Violation {
                    file: file.to_string(),
                    line: index + 1,
                    rule: "select! without `biased;`: its branch order would be random".to_string(),
                });
            }
        }
    }
    violations
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn simulation_code_is_free_of_nondeterminism() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in CHECKED_DIRS {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        files.len() >= 5,
        "tidy found too few files to check: {files:?}"
    );
    let mut violations = Vec::new();
    for path in &files {
        let source = std::fs::read_to_string(path).unwrap();
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        // Unit-test modules at the end of a file may use anything.
        let source = source.split("#[cfg(test)]").next().unwrap_or("");
        violations.extend(check_source(&relative, source));
    }
    assert!(
        violations.is_empty(),
        "nondeterminism in simulation code:\n{}",
        violations
            .iter()
            .map(|v| format!("  {}:{}: {}", v.file, v.line, v.rule))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn tidy_catches_each_banned_construct() {
    let source = r#"
fn bad() {
    let mut rng = rand::thread_rng();
    let t = std::time::Instant::now();
    let s = std::time::SystemTime::now();
    std::thread::spawn(|| {});
    let m: std::collections::HashMap<u8, u8> = Default::default();
    let ok: std::collections::HashMap<u8, u8> = Default::default(); // tidy: lookup-only
    tokio::select! {
        _ = a => {},
    }
    tokio::select! {
        biased;
        _ = b => {},
    }
}
"#;
    let violations = check_source("broker/src/bad.rs", source);
    let lines: Vec<usize> = violations.iter().map(|v| v.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 9], "{violations:#?}");
    // The runner may measure wall time.
    assert!(check_source("sim/src/runner.rs", "let t = Instant::now();").is_empty());
}

/// The longest a non-test source file may grow: past it, a file holds more than one room and
/// should split by role (docs in ARCHITECTURE.md name the rooms).
const SOURCE_LINES_MAX: usize = 1_200;

#[test]
fn no_source_file_is_longer_than_the_limit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Every crate of the workspace: the root and each directory with a Cargo.toml and a src/
    // (vendored crates are not ours).
    let mut crates = vec![root.to_path_buf()];
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("Cargo.toml").is_file() && path.join("src").is_dir())
        .collect();
    entries.sort();
    crates.extend(entries);
    let mut files = Vec::new();
    for krate in &crates {
        rust_files(&krate.join("src"), &mut files);
    }
    assert!(
        files.len() >= 50,
        "too few source files found: {}",
        files.len()
    );
    let too_long: Vec<String> = files
        .iter()
        .filter(|path| {
            // Test modules of their own and test directories are not counted.
            path.file_name().is_some_and(|name| name != "tests.rs")
                && !path.components().any(|part| part.as_os_str() == "tests")
        })
        .filter_map(|path| {
            let lines = std::fs::read_to_string(path).unwrap().lines().count();
            (lines > SOURCE_LINES_MAX).then(|| {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                format!("  {relative}: {lines} lines")
            })
        })
        .collect();
    assert!(
        too_long.is_empty(),
        "source files longer than {SOURCE_LINES_MAX} lines:\n{}",
        too_long.join("\n")
    );
}
