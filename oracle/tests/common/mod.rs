//! Helpers shared by the integration tests.
#![allow(dead_code)]

use oracle::{AnomalyKind, CheckResult};

/// Checks a JSON Lines history given as text.
pub fn check(history: &str) -> CheckResult {
    oracle::check_reader(history.as_bytes())
        .unwrap_or_else(|error| panic!("the test history is bad input: {error}"))
}

/// Asserts that the result has exactly `count` anomalies of `kind` and nothing else.
#[track_caller]
pub fn assert_only(result: &CheckResult, kind: AnomalyKind, count: u64) {
    assert!(
        !result.valid,
        "expected {kind}, got a valid verdict:\n{}",
        result.render_text()
    );
    assert_eq!(
        result.kinds(),
        vec![kind],
        "expected only {kind}:\n{}",
        result.render_text()
    );
    assert_eq!(
        result.count(kind),
        count,
        "expected {count} x {kind}:\n{}",
        result.render_text()
    );
    let listed = result
        .anomalies
        .iter()
        .filter(|anomaly| anomaly.kind == kind)
        .count() as u64;
    assert_eq!(
        listed,
        count.min(oracle::ANOMALIES_LISTED_PER_KIND_MAX as u64)
    );
}

/// Asserts a valid verdict.
#[track_caller]
pub fn assert_valid(result: &CheckResult) {
    assert!(
        result.valid,
        "expected a valid history:\n{}",
        result.render_text()
    );
    assert!(result.anomalies.is_empty() && result.counts.is_empty());
}

/// Joins JSON lines into a history.
pub fn lines(lines: &[&str]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// A send invoke + ok pair (two lines) of `process` for `value` at topic `t`.
pub fn sent(time: u64, process: &str, value: &str, partition: u32, offset: u64) -> [String; 2] {
    [
        format!(
            r#"{{"time":{time},"process":"{process}","type":"invoke","f":"send","topic":"t","key":null,"value":"{value}"}}"#
        ),
        format!(
            r#"{{"time":{time},"process":"{process}","type":"ok","f":"send","value":"{value}","topic":"t","partition":{partition},"offset":{offset}}}"#
        ),
    ]
}
