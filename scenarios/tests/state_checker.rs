//! The state checker end to end: catalog bugs it catches (one the oracle misses in that seed), and
//! the correct build, which it passes. Seeds measured in docs/state-checker.md.

use scenarios::report::{FindingKind, RunReport, Verdict};
use scenarios::state::StateAnomalyKind;
use scenarios::RunRequest;

fn run(scenario: &str, seed: u64, bugs: &[&str]) -> RunReport {
    let request = RunRequest::named(scenario, seed)
        .with_bugs(bugs.iter().map(|bug| bug.to_string()).collect());
    scenarios::run(&request).expect("the run starts")
}

fn state_kinds(report: &RunReport) -> Vec<StateAnomalyKind> {
    report
        .counts
        .keys()
        .filter_map(|kind| match kind {
            FindingKind::State(kind) => Some(*kind),
            _ => None,
        })
        .collect()
}

/// KAFKA-1211 / KIP-101 era: the leader counts an append as committed at once; the follower the
/// controller elects next lacks what the old leader exposed.
#[test]
fn hw_before_isr_loses_an_exposed_high_watermark_at_the_election() {
    let report = run("follower-truncation", 1, &["hw-before-isr"]);
    assert!(
        state_kinds(&report).contains(&StateAnomalyKind::HighWatermarkLost),
        "{}: {:?}",
        report.repro,
        report.counts
    );
    let finding = report
        .anomalies
        .iter()
        .find(|anomaly| anomaly.kind == FindingKind::State(StateAnomalyKind::HighWatermarkLost))
        .expect("listed");
    assert!(
        finding
            .explanation
            .contains("when the controller elected it"),
        "{}",
        finding.explanation
    );
}

/// KIP-101 / KIP-279: a follower of a new leader keeps its divergent tail. In this seed no client
/// notices (the oracle passes the history); the replicas disagree below the high watermark, and
/// the follower never catches up nor rejoins the ISR.
#[test]
fn no_follower_truncation_is_caught_by_the_state_checker_alone() {
    let report = run("follower-truncation", 6, &["no-follower-truncation"]);
    assert_eq!(report.verdict, Verdict::Fail, "{}", report.repro);
    assert!(
        report
            .counts
            .keys()
            .all(|kind| matches!(kind, FindingKind::State(_))),
        "{}: the oracle was expected to miss it: {:?}",
        report.repro,
        report.counts
    );
    let kinds = state_kinds(&report);
    for kind in [
        StateAnomalyKind::ReplicasDiverge,
        StateAnomalyKind::ReplicaNotCaughtUp,
        StateAnomalyKind::IsrNotFull,
    ] {
        assert!(kinds.contains(&kind), "{}: {kinds:?}", report.repro);
    }
}

/// The same seeds without the bugs pass: the checker reads the same cluster and finds it sound.
#[test]
fn the_correct_build_passes_the_same_seeds() {
    for seed in [1, 6] {
        let report = run("follower-truncation", seed, &[]);
        assert_eq!(
            report.verdict,
            Verdict::Pass,
            "{}: {:?}",
            report.repro,
            report.anomalies
        );
    }
}
