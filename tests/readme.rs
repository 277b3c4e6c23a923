//! The README's tour, run as written: every `$ streamsim ...` line of a `console` block is run in a
//! scratch folder and its standard output must match the lines shown under it. A shown line `...`
//! stands for any number of lines; on a line that reports wall-clock time (`N seeds in T s:
//! R seeds/s`) only the part before the time is compared, since timings depend on the machine.
//! Everything else (verdicts, trace hashes, counts, anomalies) is deterministic and must not drift.

use std::path::Path;
use std::process::Command;

struct Example {
    /// The README line of the command.
    line: usize,
    args: Vec<String>,
    expected: Vec<String>,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut examples: Vec<Example> = Vec::new();
    let mut in_console = false;
    for (index, text) in readme.lines().enumerate() {
        if text.starts_with("```") {
            in_console = text == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(command) = text.strip_prefix("$ ") {
            let mut words = command.split_whitespace().map(str::to_string);
            assert_eq!(
                words.next().as_deref(),
                Some("streamsim"),
                "README line {}: a tour command runs streamsim",
                index + 1
            );
            examples.push(Example {
                line: index + 1,
                args: words.collect(),
                expected: Vec::new(),
            });
        } else if let Some(example) = examples.last_mut() {
            example.expected.push(text.to_string());
        }
    }
    examples
}

/// The part of a line that does not depend on the machine: `N seeds in T s: R seeds/s; rest` keeps
/// `N` and `rest`.
fn machine_independent(line: &str) -> String {
    match (line.find(" seeds in "), line.find(" seeds/s")) {
        (Some(start), Some(end)) if start < end => {
            format!(
                "{} seeds in _ s: _ seeds/s{}",
                &line[..start],
                &line[end + " seeds/s".len()..]
            )
        }
        _ => line.to_string(),
    }
}

/// Whether `actual` matches `expected`, where an expected `...` line stands for any lines.
fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => match actual.split_first() {
            Some((line, actual_rest)) => {
                machine_independent(first) == machine_independent(line)
                    && matches(rest, actual_rest)
            }
            None => false,
        },
    }
}

#[test]
fn the_readme_tour_prints_what_the_readme_shows() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let examples = examples(&readme);
    assert!(examples.len() >= 6, "the tour has its commands");
    let scratch = std::env::temp_dir().join(format!("streamsim-readme-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut drifted = Vec::new();
    for example in &examples {
        let output = Command::new(env!("CARGO_BIN_EXE_streamsim"))
            .args(&example.args)
            .current_dir(&scratch)
            .env("CI", "true")
            .env_remove("RUST_LOG")
            .output()
            .expect("run streamsim");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let actual: Vec<&str> = stdout.lines().collect();
        if !matches(&example.expected, &actual) {
            drifted.push(format!(
                "README line {}: `streamsim {}`\n--- the README shows\n{}\n--- it printed\n{}",
                example.line,
                example.args.join(" "),
                example.expected.join("\n"),
                stdout.trim_end()
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        drifted.is_empty(),
        "the README tour drifted:\n\n{}",
        drifted.join("\n\n")
    );
}

#[test]
fn an_ellipsis_matches_any_lines_and_timings_are_ignored() {
    let expected: Vec<String> = [
        "a",
        "...",
        "70 seeds in 1.8 s: 38.0 seeds/s; 0 failing",
        "PASS",
    ]
    .map(str::to_string)
    .to_vec();
    assert!(matches(
        &expected,
        &[
            "a",
            "x",
            "y",
            "70 seeds in 9.9 s: 7.1 seeds/s; 0 failing",
            "PASS"
        ]
    ));
    assert!(matches(
        &expected,
        &["a", "70 seeds in 1.0 s: 70.0 seeds/s; 0 failing", "PASS"]
    ));
    assert!(!matches(
        &expected,
        &["a", "70 seeds in 1.0 s: 70.0 seeds/s; 1 failing", "PASS"]
    ));
    assert!(!matches(
        &expected,
        &["b", "70 seeds in 1.8 s: 38.0 seeds/s; 0 failing", "PASS"]
    ));
    assert!(!matches(
        &expected,
        &["a", "70 seeds in 1.8 s: 38.0 seeds/s; 0 failing"]
    ));
}
