//! Shrinking (`scenarios::shrink`): a failing seed's fault schedule shrinks to a scenario with no
//! more faults that still fails with the same anomaly kind — replayed from its own TOML file, as
//! `streamsim run --scenario-file` would — and a passing seed has nothing to shrink.

use scenarios::report::Verdict;
use scenarios::shrink::{self, ShrinkError, SHRINK_RUNS_MAX};
use scenarios::spec::Scenario;
use scenarios::RunRequest;

/// `streamsim shrink --scenario smoke --seed 1 --bug hw-before-isr`: 2 faults -> 1, lost-write
/// (the README shrinks swarm seed 1 the same way, 5 faults -> 2).
const SCENARIO: &str = "smoke";
const SEED: u64 = 1;
const BUG: &str = "hw-before-isr";

#[test]
fn a_failing_seed_shrinks_to_fewer_faults_that_fail_the_same_way() {
    let request = RunRequest::named(SCENARIO, SEED).with_bugs(vec![BUG.to_string()]);
    let original = scenarios::run(&request).expect("the seed runs");
    assert_eq!(
        original.verdict,
        Verdict::Fail,
        "the bug makes the seed fail"
    );
    let kind = original.anomalies[0].kind;

    let mut progress = Vec::new();
    let outcome = shrink::shrink(&request, &mut |line: &str| progress.push(line.to_string()))
        .expect("the seed shrinks");
    assert_eq!(
        outcome.kind, kind,
        "shrinking keeps the first anomaly's kind"
    );
    assert_eq!(outcome.original, request.scenario().expect("swarm builds"));
    assert!(
        outcome.minimal.faults.len() <= outcome.original.faults.len(),
        "{} faults -> {}",
        outcome.original.faults.len(),
        outcome.minimal.faults.len()
    );
    // This seed's schedule has a fault the failure does not need; the bug needs the other.
    assert!(outcome.minimal.faults.len() < outcome.original.faults.len());
    assert!(!outcome.minimal.faults.is_empty());
    assert!(outcome.runs > 1 && outcome.runs <= SHRINK_RUNS_MAX + 1);
    assert!(
        progress[0].contains(&format!("fails with {kind}")),
        "{progress:?}"
    );
    // Everything but the faults (and the name and description) is the original scenario.
    let unchanged = Scenario {
        faults: outcome.original.faults.clone(),
        name: outcome.original.name.clone(),
        description: outcome.original.description.clone(),
        ..outcome.minimal.clone()
    };
    assert_eq!(unchanged, outcome.original);

    // The minimal scenario's own run fails with the kind...
    assert_eq!(outcome.report.verdict, Verdict::Fail);
    assert!(outcome.report.anomalies.iter().any(|a| a.kind == kind));
    // ...and so does its file, read back and run with the same seed and bug: the same run.
    let file = Scenario::from_toml(&outcome.minimal.to_toml()).expect("the shrunk file reads");
    let replay = scenarios::run(
        &RunRequest::fixed(file, "shrunk.toml", SEED).with_bugs(vec![BUG.to_string()]),
    )
    .expect("the shrunk file runs");
    assert!(replay.anomalies.iter().any(|a| a.kind == kind));
    assert_eq!(replay.trace_hash, outcome.report.trace_hash);
}

#[test]
fn a_passing_seed_has_nothing_to_shrink() {
    let request = RunRequest::named(SCENARIO, SEED);
    let error = shrink::shrink(&request, &mut |_: &str| {}).unwrap_err();
    assert_eq!(
        error,
        ShrinkError::DoesNotFail {
            scenario: SCENARIO.to_string(),
            seed: SEED
        }
    );
}

/// A protocol-aware fault shrinks too: the smoke cluster with a short latency fault and a leader
/// crash right after an append (the race `hw-before-isr` loses), filtered to one partition with
/// a wide window. The shrunk schedule keeps the triggered fault and narrows its window or drops
/// its filter while the failure stays.
#[test]
fn a_triggered_fault_keeps_its_trigger_and_tightens_its_window() {
    use scenarios::spec::*;
    let mut scenario = RunRequest::named(SCENARIO, SEED)
        .scenario()
        .expect("smoke builds");
    scenario.faults = vec![
        latency(1, 5).at_ms(500).for_ms(200),
        crash(Target::Trigger)
            .when(Trigger::Appended, 40)
            .on("events", Some(0))
            .at_ms(1_000)
            .for_ms(3_000),
    ];
    // Seed 5 of this file fails (seeds 1 to 4 do not: the crash misses the window).
    let request = RunRequest::fixed(scenario, "triggered.toml", 5).with_bugs(vec![BUG.to_string()]);
    let outcome = shrink::shrink(&request, &mut |_: &str| {}).expect("the run fails and shrinks");
    let fault = outcome
        .minimal
        .faults
        .iter()
        .find(|fault| fault.when.is_some())
        .expect("the triggered fault is what fails the run");
    assert_eq!(fault.when, Some(Trigger::Appended));
    assert!(
        fault.within_ms.unwrap_or(WITHIN_MS_DEFAULT) < 40 || fault.on.is_none(),
        "{fault:?}"
    );
    let file = Scenario::from_toml(&outcome.minimal.to_toml()).expect("the shrunk file reads");
    assert_eq!(file.faults, outcome.minimal.faults);
}
