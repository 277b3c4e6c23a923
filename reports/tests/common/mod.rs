//! Reports the tests render: a real run of a fixed seed, and hand-made ones for odd input.

#![allow(dead_code)]

use scenarios::report::{Anomaly, FindingKind, RunReport, Verdict};
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
        nodes: 5,
        status: "completed".into(),
        wall_time_ms: 3,
        coverage: scenarios::coverage::empty(),
        fault_log: Vec::new(),
        stats: None,
        history: lines
            .iter()
            .enumerate()
            .map(|(index, line)| {
                oracle::parse_line(line, index as u64 + 1)
                    .expect("a test history line parses")
                    .expect("and is not blank")
            })
            .collect(),
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
        kind: FindingKind::from_name(kind).expect("a finding kind"),
        explanation: explanation.into(),
        events: lines.to_vec(),
    });
    *report
        .counts
        .entry(FindingKind::from_name(kind).expect("a finding kind"))
        .or_insert(0) += 1;
    report.verdict = Verdict::Fail;
    report
}

/// A small hand-made run whose liveness phase is long: faults and sends in the first 10 s, the
/// heal at 10 s, a consumer catching up (with one redelivery) until 34 s and the run ending at
/// 100 s; a duplicate delivery and an unseen write are proven.
pub fn long_liveness_run() -> RunReport {
    const S: u64 = 1_000_000_000;
    let mut lines = Vec::new();
    for offset in 0..8u64 {
        lines.push(format!(
            r#"{{"time":{},"process":"producer-0","type":"ok","f":"send","value":"v{offset}","topic":"t","partition":0,"offset":{offset}}}"#,
            (offset + 1) * S
        ));
    }
    lines.push(format!(
        r#"{{"time":{},"process":"nemesis","type":"info","f":"fault","fault":"crash","target":"consumer-0"}}"#,
        2 * S
    ));
    lines.push(format!(
        r#"{{"time":{},"process":"nemesis","type":"info","f":"fault","fault":"retention","target":"broker-1"}}"#,
        5 * S
    ));
    lines.push(format!(
        r#"{{"time":{},"process":"nemesis","type":"info","f":"fault","fault":"partition","target":"broker-2"}}"#,
        6 * S
    ));
    lines.push(format!(
        r#"{{"time":{},"process":"nemesis","type":"info","f":"fault","fault":"heal"}}"#,
        10 * S
    ));
    for (index, offset) in [0u64, 1, 2, 1, 2, 3, 4, 5].into_iter().enumerate() {
        let time = 10 * S + (index as u64 + 1) * 3 * S;
        lines.push(format!(
            r#"{{"time":{time},"process":"consumer-0","type":"ok","f":"poll","records":[{{"topic":"t","partition":0,"offset":{offset},"value":"v{offset}"}}]}}"#
        ));
    }
    lines.push(format!(
        r#"{{"time":{},"process":"consumer-0","type":"ok","f":"close"}}"#,
        100 * S
    ));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut report = report_with_history(&lines);
    report.sim_time_ms = 100_000;
    // Lines 1-8 are the sends, 9 the crash, 12 the heal, 13-20 the polls.
    let report = with_anomaly(
        report,
        "duplicate-delivery",
        "consumer-0 delivered t/0 offset 1 again (line 16) after line 14",
        &[14, 16],
    );
    with_anomaly(
        report,
        "unseen",
        "value v7 was acknowledged at t/0 offset 7 (line 8) and never read, although the history has a heal (line 12)",
        &[8, 12],
    )
}
