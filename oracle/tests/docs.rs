//! The example history of docs/history-format.md is what the text says it is.

mod common;

use oracle::AnomalyKind;

fn example() -> Vec<String> {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/history-format.md"
    ))
    .unwrap();
    let start = guide
        .find("```json\n")
        .expect("the guide has an example history")
        + "```json\n".len();
    let end = start + guide[start..].find("```").unwrap();
    guide[start..end].lines().map(str::to_string).collect()
}

fn check(lines: &[String]) -> oracle::CheckResult {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    common::check(&common::lines(&refs))
}

#[test]
fn the_example_history_is_valid_with_one_evicted_record() {
    let lines = example();
    assert!(
        lines[8].contains("\"log_start\""),
        "line 9 is the log start: {}",
        lines[8]
    );
    let result = check(&lines);
    common::assert_valid(&result);
    assert_eq!(result.stats.evicted, 1);
    assert_eq!(
        (
            result.stats.events,
            result.stats.sends_ok,
            result.stats.records_read
        ),
        (18, 2, 1)
    );
}

#[test]
fn moving_or_dropping_the_log_start_makes_it_a_lost_write() {
    let mut moved = example();
    let log_start = moved.remove(8);
    let poll = moved
        .iter()
        .position(|line| line.contains("\"records\""))
        .unwrap();
    // Keep time non-decreasing: the log start now happens at the poll's time.
    moved.insert(poll + 1, log_start.replace("\"time\":50", "\"time\":80"));
    common::assert_only(&check(&moved), AnomalyKind::LostWrite, 1);

    let mut dropped = example();
    dropped.remove(8);
    common::assert_only(&check(&dropped), AnomalyKind::LostWrite, 1);
}
