//! Reports the tests render: a real run of a fixed seed, and hand-made ones for odd input.

#![allow(dead_code)]

use scenarios::report::{Anomaly, RunReport, Verdict};
use scenarios::spec::{Scenario, TopicSpec};
use std::collections::BTreeMap;

/// The fixed failing seed: offset-commit, seed 1, with fluvio #4505's bug switched back on
/// (`last-record-never-committed`), which the oracle catches as `duplicate-delivery`.
pub fn failing_run() -> RunReport {
    let request = scenarios::RunRequest::named("offset-commit", 1)
        .with_bugs(vec!["last-record-never-committed".into()]);
    let report = scenarios::run(&request).expect("offset-commit runs");
    assert!(
        !report.anomalies.is_empty(),
        "the bug must be caught for these tests to mean anything"
    );
    report
}

/// The same seed without the bug: a passing run.
pub fn passing_run() -> RunReport {
    let report = scenarios::run(&scenarios::RunRequest::named("offset-commit", 1))
        .expect("offset-commit runs");
    assert!(report.anomalies.is_empty(), "{:?}", report.anomalies);
    report
}

/// A report around a hand-written history, with one topic `t` of two partitions.
pub fn report_with_history(lines: &[&str]) -> RunReport {
    let mut spec = Scenario::named("hand-made");
    spec.topics.push(TopicSpec {
        name: "t".into(),
        partitions: 2,
    });
    RunReport {
        scenario: "hand-made".into(),
        seed: 7,
        bugs: Vec::new(),
        verdict: Verdict::Pass,
        trace_hash: "00000000000000ff".into(),
        anomalies: Vec::new(),
        counts: BTreeMap::new(),
        repro: "streamsim run --scenario-file hand-made.toml --seed 7".into(),
        sim_time_ms: 10_000,
        events: lines.len() as u64,
        network_messages: 0,
        timer_wakeups: 0,
        status: "completed".into(),
        wall_time_ms: 3,
        coverage: scenarios::coverage::empty(),
        fault_log: Vec::new(),
        stats: None,
        history: lines.iter().map(|line| line.to_string()).collect(),
        high_watermarks: Vec::new(),
        spec,
    }
}

/// Adds an anomaly and makes the verdict a failure.
pub fn with_anomaly(
    mut report: RunReport,
    kind: &str,
    explanation: &str,
    lines: &[u64],
) -> RunReport {
    report.anomalies.push(Anomaly {
        kind: kind.into(),
        explanation: explanation.into(),
        events: lines.to_vec(),
    });
    *report.counts.entry(kind.into()).or_insert(0) += 1;
    report.verdict = Verdict::Fail;
    report
}
