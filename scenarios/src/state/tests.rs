//! Each check with and without its anomaly, on states built by hand.

use super::*;
use broker::api::TopicPartition;
use broker::inspect::{Bytes, ReplicaLog, StoredRecord};
use oracle::event::CommitPhase;
use oracle::{Event, Op};
use std::collections::BTreeMap;

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

/// Records `from..to`, value `v{offset}`, leader epoch `epoch`.
fn records(from: u64, to: u64, epoch: u32) -> Vec<StoredRecord> {
    (from..to)
        .map(|offset| StoredRecord {
            offset,
            leader_epoch: epoch,
            value: format!("v{offset}").into_bytes().into(),
        })
        .collect()
}

fn replica(broker: u32, high_watermark: u64, records: Vec<StoredRecord>) -> ReplicaState {
    let log_start_offset = records.first().map_or(0, |record| record.offset);
    let log_end_offset = records.last().map_or(0, |record| record.offset + 1);
    ReplicaState {
        broker,
        leader: false,
        leader_epoch: 0,
        log_start_offset,
        high_watermark,
        log_end_offset,
        isr: Vec::new(),
        log: Some(ReplicaLog {
            log_start_offset,
            log_end_offset,
            records,
        }),
    }
}

fn leading(mut replica: ReplicaState, epoch: u32, isr: &[u32]) -> ReplicaState {
    replica.leader = true;
    replica.leader_epoch = epoch;
    replica.isr = isr.to_vec();
    replica
}

fn state(replicas: Vec<ReplicaState>) -> ClusterState {
    ClusterState {
        time_ns: 12_345_000_000,
        moment: "before fault 3".to_string(),
        partitions: BTreeMap::from([(tp(), replicas)]),
    }
}

fn kinds(anomalies: &[StateAnomaly]) -> Vec<&'static str> {
    anomalies
        .iter()
        .map(|anomaly| anomaly.kind.as_str())
        .collect()
}

// ---- replicas-diverge -------------------------------------------------------------------------

#[test]
fn replicas_that_agree_below_their_high_watermarks_pass() {
    let a = leading(replica(1, 10, records(0, 12, 0)), 0, &[1, 2]);
    let b = replica(2, 8, records(0, 10, 0));
    assert!(check_agreement(&state(vec![a, b])).is_empty());
}

#[test]
fn a_different_value_below_both_high_watermarks_diverges() {
    let mut b_records = records(0, 10, 0);
    b_records[4].value = Bytes::from_static(b"other");
    b_records[6].value = Bytes::from_static(b"other");
    let a = replica(1, 10, records(0, 10, 0));
    let b = replica(2, 9, b_records);
    let anomalies = check_agreement(&state(vec![a, b]));
    assert_eq!(kinds(&anomalies), ["replicas-diverge"]);
    let explanation = &anomalies[0].explanation;
    // The facts: partition, brokers, high watermarks, when, the first offset, both records.
    for fact in [
        "t-0: brokers 1 and 2",
        "(10 and 9)",
        "at 12.345 s (before fault 3)",
        "at offset 4 broker 1 holds \"v4\" (leader epoch 0)",
        "broker 2 holds \"other\"",
        "2 offsets differ",
    ] {
        assert!(explanation.contains(fact), "{fact:?} in {explanation}");
    }
}

#[test]
fn a_different_leader_epoch_below_both_high_watermarks_diverges() {
    let mut b_records = records(0, 10, 0);
    b_records[7].leader_epoch = 1;
    let anomalies = check_agreement(&state(vec![
        replica(1, 10, records(0, 10, 0)),
        replica(2, 10, b_records),
    ]));
    assert_eq!(kinds(&anomalies), ["replicas-diverge"]);
    assert!(anomalies[0].explanation.contains("(leader epoch 1)"));
}

#[test]
fn differences_at_or_above_a_high_watermark_are_not_committed() {
    // Broker 2's tail from offset 8 differs, but its high watermark is 8: uncommitted.
    let mut b_records = records(0, 8, 0);
    b_records.extend(records(8, 12, 1).into_iter().map(|mut record| {
        record.value = Bytes::from_static(b"uncommitted");
        record
    }));
    let anomalies = check_agreement(&state(vec![
        replica(1, 12, records(0, 12, 0)),
        replica(2, 8, b_records),
    ]));
    assert!(anomalies.is_empty(), "{anomalies:?}");
}

#[test]
fn offsets_only_one_replica_still_holds_are_not_compared() {
    // Retention forced on broker 1 alone: it starts at 5; broker 2 at 0. A broker whose disk
    // lost its tail (a crash) holds less: neither is a divergence.
    let a = replica(1, 10, records(5, 10, 0));
    let b = replica(2, 10, records(0, 10, 0));
    let c = replica(3, 10, records(0, 6, 0));
    assert!(check_agreement(&state(vec![a, b, c])).is_empty());
}

#[test]
fn a_hole_inside_the_range_a_disk_holds_diverges() {
    let mut holed = records(0, 10, 0);
    holed.remove(3);
    let anomalies = check_agreement(&state(vec![
        replica(1, 10, records(0, 10, 0)),
        replica(2, 10, holed),
    ]));
    assert_eq!(kinds(&anomalies), ["replicas-diverge"]);
    assert!(anomalies[0]
        .explanation
        .contains("broker 2 holds no record there"));
}

#[test]
fn replicas_not_read_take_no_part() {
    let mut b = replica(2, 10, Vec::new());
    b.log = None;
    assert!(check_agreement(&state(vec![replica(1, 10, records(0, 10, 0)), b])).is_empty());
}

// ---- convergence ------------------------------------------------------------------------------

fn expectation(assigned: &[u32], running: &[u32]) -> Expectation {
    Expectation {
        assignments: BTreeMap::from([(tp(), assigned.to_vec())]),
        running: running.to_vec(),
    }
}

#[test]
fn a_converged_partition_passes() {
    let leader = leading(replica(1, 10, records(0, 10, 0)), 2, &[1, 2, 3]);
    let state = state(vec![
        leader,
        replica(2, 10, records(0, 10, 0)),
        replica(3, 9, records(0, 10, 0)),
    ]);
    assert!(check_convergence(&state, &expectation(&[1, 2, 3], &[1, 2, 3])).is_empty());
}

#[test]
fn a_lagging_follower_and_a_short_isr_are_named() {
    let leader = leading(replica(1, 10, records(0, 10, 0)), 2, &[1, 2]);
    let state = state(vec![
        leader,
        replica(2, 10, records(0, 10, 0)),
        replica(3, 7, records(0, 7, 0)),
    ]);
    let anomalies = check_convergence(&state, &expectation(&[1, 2, 3], &[1, 2, 3]));
    assert_eq!(kinds(&anomalies), ["replica-not-caught-up", "isr-not-full"]);
    assert!(anomalies[0]
        .explanation
        .contains("broker 3's log end is 7 at 12.345 s (before fault 3), the leader broker 1's (leader epoch 2) is 10"));
    assert!(anomalies[1].explanation.contains(
        "broker 3 is assigned a replica and runs but is not in leader broker 1's ISR [1, 2]"
    ));
}

#[test]
fn a_broker_that_is_down_is_not_expected_in_the_isr() {
    let leader = leading(replica(1, 10, records(0, 10, 0)), 2, &[1, 2]);
    let state = state(vec![leader, replica(2, 10, records(0, 10, 0))]);
    assert!(check_convergence(&state, &expectation(&[1, 2, 3], &[1, 2])).is_empty());
}

#[test]
fn a_missing_replica_and_a_missing_leader_are_named() {
    let leader = leading(replica(1, 10, records(0, 10, 0)), 2, &[1, 2, 3]);
    let anomalies = check_convergence(
        &state(vec![leader, replica(2, 10, records(0, 10, 0))]),
        &expectation(&[1, 2, 3], &[1, 2, 3]),
    );
    assert_eq!(kinds(&anomalies), ["replica-not-caught-up"]);
    assert!(anomalies[0].explanation.contains("holds none"));

    let anomalies = check_convergence(
        &state(vec![replica(1, 10, records(0, 10, 0))]),
        &expectation(&[1, 2], &[1, 2]),
    );
    assert_eq!(kinds(&anomalies), ["partition-leaderless"]);
}

#[test]
fn the_newest_leader_epoch_leads() {
    let stale = leading(replica(1, 10, records(0, 10, 0)), 1, &[1]);
    let current = leading(replica(2, 10, records(0, 10, 0)), 2, &[1, 2]);
    let state = state(vec![stale, current]);
    assert_eq!(state.leader(&tp()).map(|leader| leader.broker), Some(2));
    assert!(check_convergence(&state, &expectation(&[1, 2], &[1, 2])).is_empty());
}

// ---- high-watermark-lost ----------------------------------------------------------------------

fn witness(offset: u64) -> BTreeMap<TopicPartition, HighWatermarkWitness> {
    BTreeMap::from([(
        tp(),
        HighWatermarkWitness {
            offset,
            witness: Witness::Text("leader broker 3 reported it at 5.420 s".to_string()),
            line: Some(77),
        },
    )])
}

#[test]
fn a_high_watermark_within_the_final_log_is_kept() {
    let state = state(vec![leading(replica(1, 10, records(0, 20, 0)), 2, &[1])]);
    assert!(check_high_watermarks(&witness(20), &state).is_empty());
}

#[test]
fn a_high_watermark_above_the_final_log_end_is_lost() {
    let state = state(vec![leading(replica(1, 10, records(0, 17, 0)), 2, &[1])]);
    let anomalies = check_high_watermarks(&witness(20), &state);
    assert_eq!(kinds(&anomalies), ["high-watermark-lost"]);
    assert_eq!(anomalies[0].events, [77]);
    let explanation = &anomalies[0].explanation;
    assert!(explanation.contains("high watermark 20 was exposed (leader broker 3 reported it"));
    assert!(explanation.contains("leader broker 1 (leader epoch 2) has log end 17"));
    assert!(explanation.contains("offsets 17..20 were committed and are gone"));
}

// ---- committed-record-changed -----------------------------------------------------------------

fn from_leader(offset: u64, value: &str, epoch: u32) -> Exposure {
    Exposure {
        offset,
        value: value.as_bytes().to_vec(),
        leader_epoch: Some(epoch),
        source: ExposureSource::Leader {
            broker: 1,
            high_watermark: 10,
            time_ns: 3_000_000_000,
        },
    }
}

fn from_poll(offset: u64, value: &str, line: u64) -> Exposure {
    Exposure {
        offset,
        value: value.as_bytes().to_vec(),
        leader_epoch: None,
        source: ExposureSource::Poll {
            line,
            process: "consumer-0".to_string(),
        },
    }
}

#[test]
fn the_same_record_exposed_twice_is_no_change() {
    let mut ledger = Ledger::default();
    assert!(ledger.expose(&tp(), from_leader(3, "v3", 0)).is_none());
    assert!(ledger.expose(&tp(), from_leader(3, "v3", 0)).is_none());
    assert!(ledger.expose(&tp(), from_poll(3, "v3", 9)).is_none());
}

#[test]
fn a_record_exposed_with_another_value_or_epoch_changed() {
    let mut ledger = Ledger::default();
    ledger.expose(&tp(), from_leader(3, "v3", 0));
    let anomaly = ledger
        .expose(&tp(), from_poll(3, "w3", 9))
        .expect("a changed value");
    assert_eq!(anomaly.kind, StateAnomalyKind::CommittedRecordChanged);
    assert_eq!(anomaly.events, [9]);
    assert!(anomaly.explanation.contains(
        "offset 3 was exposed as committed as \"v3\" (leader epoch 0) (leader broker 1 held it below its high watermark 10 at 3.000 s) and later as \"w3\" (consumer-0 read it (line 9))"
    ));
    assert!(ledger.expose(&tp(), from_leader(3, "v3", 1)).is_some());
}

#[test]
fn two_reads_that_differ_are_the_oracles_business() {
    let mut ledger = Ledger::default();
    ledger.expose(&tp(), from_poll(3, "v3", 5));
    assert!(ledger.expose(&tp(), from_poll(3, "w3", 9)).is_none());
}

#[test]
fn exposed_records_must_stay_unless_retention_removed_them() {
    let mut ledger = Ledger::default();
    for offset in 0..10 {
        ledger.expose(&tp(), from_leader(offset, &format!("v{offset}"), 0));
    }
    // Retention moved the log start to 4: offsets 0..4 are gone, rightly.
    let kept = state(vec![leading(replica(1, 10, records(4, 12, 0)), 1, &[1])]);
    assert!(check_exposed_records(&ledger, &kept).is_empty());
    // Offsets at or above the log end are high-watermark-lost's.
    let short = state(vec![leading(replica(1, 6, records(0, 6, 0)), 1, &[1])]);
    assert!(check_exposed_records(&ledger, &short).is_empty());

    let mut changed = records(0, 12, 0);
    changed[5].value = Bytes::from_static(b"new");
    changed[5].leader_epoch = 1;
    let changed = state(vec![leading(replica(1, 10, changed), 1, &[1])]);
    let anomalies = check_exposed_records(&ledger, &changed);
    assert_eq!(kinds(&anomalies), ["committed-record-changed"]);
    assert!(anomalies[0].explanation.contains(
        "offset 5 was exposed as committed as \"v5\" (leader epoch 0) (leader broker 1 held it below its high watermark 10 at 3.000 s), but leader broker 1 (leader epoch 1, log start 0) holds \"new\" (leader epoch 1) there at 12.345 s (before fault 3)"
    ));
}

#[test]
fn reads_are_exposures_and_high_watermark_witnesses() {
    let events = vec![Event::new(
        1,
        "consumer-0",
        Op::PollOk {
            records: vec![
                oracle::Record {
                    topic: "t".into(),
                    partition: 0,
                    offset: 4,
                    value: "v4".into(),
                },
                oracle::Record {
                    topic: "t".into(),
                    partition: 0,
                    offset: 5,
                    value: "v5".into(),
                },
            ]
            .into(),
        },
    )];
    let (exposures, witnesses) = exposures_read(&events);
    assert_eq!(exposures.len(), 2);
    assert_eq!(exposures[1].1.value, b"v5");
    assert_eq!(witnesses[&tp()].offset, 6);
    assert_eq!(witnesses[&tp()].line, Some(1));
}

// ---- committed-offset-lost --------------------------------------------------------------------

fn commit(process: &str, phase: CommitPhase, offset: u64) -> Event<'static> {
    Event::new(
        0,
        process.to_string(),
        Op::Commit {
            phase,
            topic: "t".into(),
            partition: 0,
            offset,
            group: None,
            generation: None,
            error: None,
        },
    )
}

fn groups() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("consumer-0".to_string(), "g".to_string()),
        ("consumer-1".to_string(), "g".to_string()),
    ])
}

fn verdict(events: &[Event<'static>], stored: Option<u64>) -> Vec<StateAnomaly> {
    let committed: CommittedOffsets = stored
        .map(|offset| (("g".to_string(), "t".to_string(), 0), offset))
        .into_iter()
        .collect();
    check_committed_offsets(&commit_attempts(events, &groups()), &committed)
}

#[test]
fn the_last_acknowledged_commit_survives() {
    let events = [
        commit("consumer-0", CommitPhase::Invoke, 10),
        commit("consumer-0", CommitPhase::Ok, 10),
        commit("consumer-0", CommitPhase::Invoke, 20),
        commit("consumer-0", CommitPhase::Ok, 20),
    ];
    assert!(verdict(&events, Some(20)).is_empty());
    // Going back to a commit that a later one replaced, or to nothing, is a loss.
    let anomalies = verdict(&events, Some(10));
    assert_eq!(kinds(&anomalies), ["committed-offset-lost"]);
    assert_eq!(anomalies[0].events, [4]);
    assert!(anomalies[0].explanation.contains(
        "group g, t-0: the controller's disk, crashed, recovers offset 10, but consumer-0 committed offset 20 (commit ok, line 4)"
    ));
    assert!(verdict(&events, None)[0]
        .explanation
        .contains("recovers no offset"));
}

#[test]
fn a_commit_of_unknown_outcome_may_land_last() {
    let events = [
        commit("consumer-0", CommitPhase::Invoke, 5),
        commit("consumer-0", CommitPhase::Info, 5),
        commit("consumer-0", CommitPhase::Invoke, 20),
        commit("consumer-0", CommitPhase::Ok, 20),
        // Asked, then the process crashed before the answer.
        commit("consumer-0", CommitPhase::Invoke, 30),
        Event::new(0, "consumer-0", Op::Crash),
    ];
    assert!(verdict(&events, Some(5)).is_empty());
    assert!(verdict(&events, Some(30)).is_empty());
    assert!(verdict(&events, Some(20)).is_empty());
    assert_eq!(
        kinds(&verdict(&events, Some(10))),
        ["committed-offset-lost"]
    );
}

#[test]
fn a_failed_commit_is_not_stored_and_concurrent_ones_may_land_in_any_order() {
    // consumer-0 and consumer-1 of one group commit the partition at once (lines 1-4): either
    // may be applied last. consumer-0's failed commit of 3 cannot be what is stored.
    let events = [
        commit("consumer-0", CommitPhase::Invoke, 10),
        commit("consumer-1", CommitPhase::Invoke, 20),
        commit("consumer-1", CommitPhase::Ok, 20),
        commit("consumer-0", CommitPhase::Ok, 10),
        commit("consumer-0", CommitPhase::Invoke, 3),
        commit("consumer-0", CommitPhase::Fail, 3),
    ];
    assert!(verdict(&events, Some(10)).is_empty());
    assert!(verdict(&events, Some(20)).is_empty());
    assert_eq!(kinds(&verdict(&events, Some(3))), ["committed-offset-lost"]);
}

#[test]
fn commits_pair_with_their_answers() {
    let events = [
        commit("consumer-0", CommitPhase::Invoke, 10),
        commit("consumer-1", CommitPhase::Invoke, 7),
        commit("consumer-0", CommitPhase::Ok, 10),
        commit("consumer-9", CommitPhase::Ok, 1),
        Event::new(0, "consumer-1", Op::Start),
    ];
    let attempts = commit_attempts(&events, &groups());
    assert_eq!(
        attempts.len(),
        2,
        "consumer-9 has no known group: {attempts:?}"
    );
    assert_eq!(
        (
            attempts[0].outcome,
            attempts[0].invoke_line,
            attempts[0].end_line
        ),
        (CommitOutcome::Ok, 1, Some(3))
    );
    assert_eq!(
        (
            attempts[1].outcome,
            attempts[1].invoke_line,
            attempts[1].end_line
        ),
        (CommitOutcome::Unknown, 2, None)
    );
}

// ---- names ------------------------------------------------------------------------------------

#[test]
fn names_are_unique_among_every_finding_and_read_back() {
    let names: Vec<&str> = crate::report::FindingKind::all()
        .map(|kind| kind.as_str())
        .collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    for kind in StateAnomalyKind::ALL {
        assert_eq!(StateAnomalyKind::from_name(kind.as_str()), Some(kind));
        assert_eq!(
            crate::report::FindingKind::from_name(kind.as_str()),
            Some(crate::report::FindingKind::State(kind))
        );
        assert!(kind.meaning().ends_with(|c: char| c.is_alphanumeric()));
    }
}

#[test]
fn samples_are_taken_before_faults_that_disturb_the_cluster() {
    use crate::spec::{broker, crash, Fault, Tail, Target};
    assert!(collect::disturbs_cluster(&crash(broker(1)).fault));
    assert!(collect::disturbs_cluster(&Fault::PacketLoss { rate: 0.1 }));
    assert!(!collect::disturbs_cluster(&Fault::Crash {
        target: Target::Consumer(0),
        tail: Tail::Torn,
    }));
    assert!(!collect::disturbs_cluster(&Fault::Clog {
        from: Target::Producer(0),
        to: broker(2),
    }));
    assert!(collect::disturbs_cluster(&Fault::Clog {
        from: broker(1),
        to: Target::Controller,
    }));
}

/// A log [`LogReads`] kept is what opening a fresh snapshot of the disk gives, through appends,
/// an unsynced tail lost in a crash, a corrupted byte, a log start moved past segments, a wiped
/// disk; and a log is never taken from another disk whose files have the same versions.
#[test]
fn a_kept_log_is_what_a_fresh_snapshot_opens() {
    use super::collect::LogReads;
    use broker::batch::{Record, RecordBatch};
    use broker::log::{Log, LogConfig};
    use sim::disk::Disk;
    let partition = TopicPartition::new("orders", 0);
    let directory = broker::inspect::log_directory(&partition);
    let config = LogConfig {
        segment_bytes_max: 300,
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let append = |disk: &Disk, values: std::ops::Range<u64>, tag: &str, sync: bool| {
        let (mut log, _) = Log::open(disk.clone(), &directory, config.clone()).expect("open");
        for n in values {
            let record = Record::new(None, Bytes::from(format!("{tag}{n}")), n as i64);
            let batch = RecordBatch::new(vec![record]);
            log.append_as_leader(batch, 1, n as i64).expect("append");
        }
        if sync {
            log.sync().expect("sync");
        }
        log
    };
    let mut reads = LogReads::default();
    let mut check = |disk: &Disk, what: &str| {
        let fresh = broker::inspect::replica_log(disk.snapshot(), &partition).expect("open");
        for _ in 0..2 {
            let read = reads.read("broker-1", disk.clone(), &partition);
            assert_eq!(read.expect("open"), fresh, "{what}");
        }
    };
    let disk = Disk::new(sim::Seed::new(3).stream("disk"));
    check(&disk, "no log");
    append(&disk, 0..3, "v", true);
    check(&disk, "one segment");
    append(&disk, 3..30, "v", true);
    check(&disk, "several segments");
    append(&disk, 30..34, "v", false);
    check(&disk, "an unsynced tail");
    disk.crash();
    check(&disk, "the tail lost in a crash");
    let last = disk
        .list_prefix(&directory)
        .into_iter()
        .rfind(|name| name.ends_with(".log"));
    disk.corrupt_byte(&last.expect("a segment"), 70)
        .expect("corrupt");
    check(&disk, "a corrupted byte");
    let mut log = append(&disk, 34..36, "v", true);
    log.advance_log_start(20).expect("log start");
    check(&disk, "segments below the log start deleted");
    disk.wipe();
    check(&disk, "a wiped disk");
    append(&disk, 0..3, "w", true);
    check(&disk, "a new log on the wiped disk");
    // Two new disks written the same way with other values: the same versions, other bytes.
    let first = Disk::new(sim::Seed::new(3).stream("disk"));
    append(&first, 0..3, "x", true);
    check(&first, "a new disk");
    let second = Disk::new(sim::Seed::new(3).stream("disk"));
    append(&second, 0..3, "y", true);
    assert_eq!(second.versions(&directory), first.versions(&directory));
    check(&second, "another disk with the same versions");
    assert!(
        reads.reused >= 9 && reads.opened >= 9,
        "{} reused, {} opened",
        reads.reused,
        reads.opened
    );
}
