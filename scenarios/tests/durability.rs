//! Sync policies and acks on the whole cluster: the correct build loses nothing it promised, and the
//! oracle fails when a promise is broken.
//!
//! - `sync = "never"` or an interval: a crashed broker comes back without its unsynced tail (all of
//!   it, under never, but for a torn prefix) and must recover from its replicas, as a follower
//!   (truncation by leader epochs) or as a leader elected from the ISR; acknowledged records survive
//!   while some in-sync replica did not crash. A crash of every replica at once loses them (Kafka's
//!   default too): why swarm draws these policies only without broker crashes.
//! - `acks = 1`: a record lost with its leader is no anomaly; a loss without a leader change still is.
//! - `acks = 0`: never lost, but a duplicate still is an anomaly.

use scenarios::report::{FindingKind, RunReport, Verdict};
use scenarios::spec::*;
use scenarios::RunRequest;

fn run(scenario: &Scenario, seed: u64, bugs: &[&str]) -> RunReport {
    let request = RunRequest::fixed(scenario.clone(), "durability.toml", seed)
        .with_bugs(bugs.iter().map(|bug| bug.to_string()).collect());
    scenarios::run(&request).expect("the scenario runs")
}

#[track_caller]
fn assert_passes(scenario: &Scenario, seed: u64) -> RunReport {
    let report = run(scenario, seed, &[]);
    assert_eq!(
        report.verdict,
        Verdict::Pass,
        "{} seed {seed} failed: {:?}\n{:#?}",
        scenario.name,
        report.counts,
        report.fault_log
    );
    report
}

fn oracle_count(report: &RunReport, kind: oracle::AnomalyKind) -> u64 {
    report
        .counts
        .get(&FindingKind::Oracle(kind))
        .copied()
        .unwrap_or(0)
}

/// One partition on three brokers, a producer and a consumer; the leader crashes, comes back, and
/// later a follower does, one at a time.
fn one_crash_at_a_time(sync: SyncPolicy) -> Scenario {
    Scenario::named("one-crash-at-a-time")
        .cluster(|c| c.sync = sync)
        .topic("events", 1)
        .producer(ProducerSpec::new("events").records(400).rate_per_sec(60))
        .consumer(ConsumerSpec::new("events").group("readers"))
        .fault(crash(leader_of("events", 0)).at_ms(2_000).for_ms(1_500))
        .fault(crash(follower_of("events", 0)).at_ms(6_500).for_ms(1_500))
        .fault(crash(leader_of("events", 0)).at_ms(10_000).for_ms(1_000))
        .fault_phase_ms(13_000)
        .liveness_phase_ms(30_000)
}

#[test]
fn without_fsync_a_crashed_leader_or_follower_recovers_its_lost_tail_from_its_replicas() {
    for sync in [SyncPolicy::Never, SyncPolicy::IntervalMs(300)] {
        let scenario = one_crash_at_a_time(sync);
        for seed in 1..=4 {
            let report = assert_passes(&scenario, seed);
            assert!(
                report.coverage.get("leader-changed").copied().unwrap_or(0) > 0,
                "{sync:?} seed {seed}: {:?}",
                report.coverage
            );
        }
    }
}

/// Every broker of a one-partition topic crashes at the same moment.
fn every_replica_crashes_at_once(sync: SyncPolicy) -> Scenario {
    let mut scenario = Scenario::named("every-replica-crashes")
        .cluster(|c| c.sync = sync)
        .topic("events", 1)
        .producer(ProducerSpec::new("events").records(400).rate_per_sec(60))
        .consumer(ConsumerSpec::new("events").group("readers"))
        .fault_phase_ms(10_000)
        .liveness_phase_ms(30_000);
    for id in 1..=3 {
        scenario = scenario.fault(crash(broker(id)).at_ms(5_000).for_ms(1_000));
    }
    scenario
}

#[test]
fn without_fsync_a_crash_of_every_replica_at_once_loses_acknowledged_records() {
    // With every append synced, nothing acknowledged is lost.
    for seed in 1..=2 {
        assert_passes(
            &every_replica_crashes_at_once(SyncPolicy::EveryAppend),
            seed,
        );
    }
    // Without, the records only the page caches held are gone (Kafka's default loses them too),
    // and the oracle says so.
    for seed in 1..=2 {
        let report = run(&every_replica_crashes_at_once(SyncPolicy::Never), seed, &[]);
        let lost = oracle_count(&report, oracle::AnomalyKind::LostWrite)
            + oracle_count(&report, oracle::AnomalyKind::Unseen)
            + oracle_count(&report, oracle::AnomalyKind::InconsistentOffsets);
        assert!(
            report.verdict == Verdict::Fail && lost > 0,
            "seed {seed}: {:?}",
            report.counts
        );
    }
}

/// `smoke`'s workload and faults (a leader crash, then an isolated broker) with producers that ask
/// for `acks` without idempotence.
fn smoke_with_acks(acks: Acks, seed: u64) -> Scenario {
    let mut scenario = scenarios::named::find("smoke")
        .expect("smoke exists")
        .build(sim::Seed::new(seed));
    for producer in &mut scenario.producers {
        producer.acks = acks;
        producer.idempotence = false;
        producer.max_in_flight = 1;
    }
    scenario
}

#[test]
fn acks_1_and_acks_0_pass_on_the_correct_build_across_leader_failures() {
    let mut lost_with_leader = 0;
    for seed in 1..=6 {
        let report = assert_passes(&smoke_with_acks(Acks::Leader, seed), seed);
        assert!(
            report
                .history
                .iter()
                .any(|event| event.to_json_line().contains(r#""acks":"1""#)),
            "seed {seed}: no acks=1 acknowledgement"
        );
        lost_with_leader += report.stats.as_ref().map_or(0, |stats| stats.acks1_lost);
        let report = assert_passes(&smoke_with_acks(Acks::None, seed), seed);
        assert!(
            report
                .history
                .iter()
                .any(|event| event.to_json_line().contains(r#""error":"acks_0""#)),
            "seed {seed}: no acks=0 send"
        );
    }
    println!("acks=1 records lost with their leader over 6 seeds: {lost_with_leader}");
}

/// `offset-commit`'s scenario (consumers crash and restart; no broker fault, so no leader change)
/// with producers that ask for acks=1.
fn offset_commit_with_acks_1(seed: u64) -> Scenario {
    let mut scenario = scenarios::named::find("offset-commit")
        .expect("offset-commit exists")
        .build(sim::Seed::new(seed));
    for producer in &mut scenario.producers {
        producer.acks = Acks::Leader;
        producer.idempotence = false;
        producer.max_in_flight = 1;
    }
    scenario
}

#[test]
fn an_acks_1_record_lost_without_a_leader_change_is_still_a_lost_write() {
    // commit-on-fetch loses records at the consumer; no leader changes, so acks=1 excuses nothing.
    let scenario = offset_commit_with_acks_1(1);
    assert_passes(&scenario, 1);
    let report = run(&scenario, 1, &["commit-on-fetch"]);
    assert!(
        oracle_count(&report, oracle::AnomalyKind::LostWrite) > 0,
        "{:?}",
        report.counts
    );
    assert_eq!(report.stats.as_ref().map(|stats| stats.acks1_lost), Some(0));
}
