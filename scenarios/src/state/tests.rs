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
        log: Some(ReplicaLog::new(log_start_offset, log_end_offset, records)),
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
            process: "consumer-0".into(),
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

/// A log configuration whose segments hold a few one-record batches.
fn small_segments() -> broker::log::LogConfig {
    broker::log::LogConfig {
        segment_bytes_max: 300,
        index_interval_bytes: 100,
        ..broker::log::LogConfig::default()
    }
}

/// Appends a one-record batch of value `{tag}{n}` for each `n` of `values`, at leader epoch `epoch`.
fn append_tagged(
    log: &mut broker::log::Log<sim::disk::Disk>,
    values: std::ops::Range<u64>,
    tag: &str,
    epoch: u32,
) {
    use broker::batch::{Record, RecordBatch};
    for n in values {
        let record = Record::new(None, Bytes::from(format!("{tag}{n}")), n as i64);
        log.append_as_leader(RecordBatch::new(vec![record]), epoch, n as i64)
            .expect("append");
    }
}

/// What a broker does to its log, or a fault does to its disk, between two reads.
#[derive(Debug, Clone)]
enum LogOp {
    /// `records` batches of one record each, synced or not.
    Append { batches: u8, sync: bool },
    /// The log start moves `percent` of the way to the log end (retention; past 100, beyond
    /// the log end, where the log allows it).
    AdvanceLogStart { percent: u8 },
    /// The log is cut back `percent` of the way from the log end (a follower's truncation).
    Truncate { percent: u8 },
    /// The broker crashes, leaving one of the three tails; it recovers after a read.
    Crash { tail: u8 },
    /// One byte of a segment file flips; the broker recovers after a read.
    Corrupt { segment: u8, position: u16 },
    /// Bytes that are no batch land at the end of the newest segment; the broker recovers
    /// after a read, or goes on without noticing.
    AppendJunk { bytes: u8, recover: bool },
    /// A segment file holding one valid batch appears `ahead` offsets past the log end (0: where
    /// the log ends; more: past a gap); the broker recovers after a read, or goes on without
    /// noticing.
    StraySegment { ahead: u8, recover: bool },
    /// The log start's journal records `delta` past the log start (or past the log end), behind
    /// the log's back; the broker recovers after a read.
    JournalLogStart { past_end: bool, delta: i8 },
    /// The disk is replaced by an empty one.
    Wipe,
}

fn log_op() -> impl proptest::strategy::Strategy<Value = LogOp> {
    use proptest::prelude::*;
    prop_oneof![
        6 => (1u8..12, any::<bool>()).prop_map(|(batches, sync)| LogOp::Append { batches, sync }),
        2 => (0u8..=150).prop_map(|percent| LogOp::AdvanceLogStart { percent }),
        1 => (0u8..=100).prop_map(|percent| LogOp::Truncate { percent }),
        1 => (0u8..3).prop_map(|tail| LogOp::Crash { tail }),
        1 => (any::<u8>(), any::<u16>()).prop_map(|(segment, position)| LogOp::Corrupt { segment, position }),
        1 => (1u8..80, any::<bool>()).prop_map(|(bytes, recover)| LogOp::AppendJunk { bytes, recover }),
        1 => (0u8..3, any::<bool>()).prop_map(|(ahead, recover)| LogOp::StraySegment { ahead, recover }),
        1 => (any::<bool>(), -10i8..10).prop_map(|(past_end, delta)| LogOp::JournalLogStart { past_end, delta }),
        1 => Just(LogOp::Wipe),
    ]
}

proptest::proptest! {
    /// A log [`LogReads`] follows is what opening a fresh snapshot of the disk gives, after
    /// each of a random run of appends (synced or not, over segment rolls), log start moves,
    /// truncations, crashes with each tail, corrupted bytes, junk at a segment's end, a segment
    /// past a gap, a log start moved back and wiped disks, read both before the broker recovers
    /// and after.
    #[test]
    fn a_followed_log_is_what_a_fresh_snapshot_opens(ops in proptest::collection::vec(log_op(), 1..40)) {
        use super::collect::LogReads;
        use broker::batch::{Record, RecordBatch};
        use broker::journal::Journal;
        use broker::log::Log;
        use sim::disk::{CrashTail, Disk};
        let partition = TopicPartition::new("orders", 0);
        let directory = broker::inspect::log_directory(&partition);
        let config = small_segments();
        let disk = Disk::new(sim::Seed::new(3).stream("disk"));
        disk.update_faults(|faults| faults.torn_writes = true);
        let open = || Log::open(disk.clone(), &directory, config.clone()).expect("open").0;
        let segments = |disk: &Disk| -> Vec<String> {
            let mut names = disk.list_prefix(&directory);
            names.retain(|name| name.ends_with(".log"));
            names
        };
        let mut reads = LogReads::default();
        let mut check = |what: &str| -> Result<(), proptest::test_runner::TestCaseError> {
            let fresh = broker::inspect::replica_log(disk.snapshot(), &partition).expect("open");
            for _ in 0..2 {
                let read = reads.read("broker-1", disk.clone(), &partition).expect("open");
                proptest::prop_assert_eq!(&read, &fresh, "{}", what);
            }
            Ok(())
        };
        let mut log = open();
        let mut value = 0u64;
        for (step, op) in ops.iter().enumerate() {
            match *op {
                LogOp::Append { batches, sync } => {
                    let batches = u64::from(batches);
                    append_tagged(&mut log, value + 1..value + 1 + batches, "v", 1);
                    value += batches;
                    if sync {
                        log.sync().expect("sync");
                    }
                }
                LogOp::AdvanceLogStart { percent } => {
                    let (start, end) = (log.log_start_offset(), log.log_end_offset());
                    let _ = log.advance_log_start(start + (end - start) * u64::from(percent) / 100);
                }
                LogOp::Truncate { percent } => {
                    let (start, end) = (log.log_start_offset(), log.log_end_offset());
                    // A log that missed junk or a stray segment behind its back may refuse.
                    let _ = log.truncate_to(end - (end - start) * u64::from(percent) / 100);
                }
                LogOp::Crash { tail } => {
                    disk.crash_leaving([CrashTail::Torn, CrashTail::Garbage, CrashTail::Zeros][tail as usize]);
                }
                LogOp::Corrupt { segment, position } => {
                    let segments = segments(&disk);
                    let name = &segments[segment as usize % segments.len()];
                    let len = disk.len(name).expect("listed");
                    if len > 0 {
                        disk.corrupt_byte(name, u64::from(position) % len).expect("corrupt");
                    }
                }
                LogOp::AppendJunk { bytes, .. } => {
                    let newest = segments(&disk).pop().expect("a segment");
                    disk.append(&newest, &vec![bytes; usize::from(bytes)]).expect("append");
                }
                LogOp::StraySegment { ahead, .. } => {
                    let base = log.log_end_offset() + u64::from(ahead);
                    let name = format!("{directory}{base:020}.log");
                    let batch = RecordBatch {
                        base_offset: base,
                        ..RecordBatch::new(vec![Record::new(None, Bytes::from("stray"), 0)])
                    };
                    if disk.create(&name).is_ok() {
                        disk.append(&name, &batch.encode()).expect("append");
                    }
                }
                LogOp::JournalLogStart { past_end, delta } => {
                    let from = if past_end {
                        log.log_end_offset()
                    } else {
                        log.log_start_offset()
                    };
                    let offset = from.saturating_add_signed(i64::from(delta));
                    let (mut journal, _) =
                        Journal::open(disk.clone(), &format!("{directory}log-start-offset-"))
                            .expect("journal");
                    journal.append(&offset.to_be_bytes()).expect("append");
                }
                LogOp::Wipe => {
                    disk.wipe();
                }
            }
            check(&format!("step {step}: {op:?}"))?;
            let recover = match *op {
                LogOp::Append { .. } | LogOp::AdvanceLogStart { .. } | LogOp::Truncate { .. } => {
                    false
                }
                LogOp::AppendJunk { recover, .. } | LogOp::StraySegment { recover, .. } => recover,
                _ => true,
            };
            if recover {
                log = open();
                check(&format!("step {step}: recovered after {op:?}"))?;
            }
        }
    }
}

/// A followed log is read from what changed while its files only grow or are cut, and is never
/// taken from another disk whose files have the same marks.
#[test]
fn a_followed_log_reads_only_what_grew_on_its_own_disk() {
    use super::collect::LogReads;
    use broker::log::Log;
    use sim::disk::Disk;
    let partition = TopicPartition::new("orders", 0);
    let directory = broker::inspect::log_directory(&partition);
    let append = |disk: &Disk, values: std::ops::Range<u64>, tag: &str| {
        let (mut log, _) = Log::open(disk.clone(), &directory, small_segments()).expect("open");
        append_tagged(&mut log, values, tag, 1);
        log.sync().expect("sync");
        log
    };
    let mut reads = LogReads::default();
    let check = |reads: &mut LogReads, disk: &Disk, what: &str| {
        let fresh = broker::inspect::replica_log(disk.snapshot(), &partition).expect("open");
        let read = reads
            .read("broker-1", disk.clone(), &partition)
            .expect("open");
        assert_eq!(read, fresh, "{what}");
        read.generation()
    };
    let disk = Disk::new(sim::Seed::new(3).stream("disk"));
    let mut log = append(&disk, 0..3, "v");
    let first = check(&mut reads, &disk, "one segment");
    for n in 3..30 {
        append_tagged(&mut log, n..n + 1, "v", 1);
        assert_eq!(
            check(&mut reads, &disk, "growing over segment rolls"),
            first
        );
    }
    log.advance_log_start(20).expect("log start");
    assert_eq!(
        check(&mut reads, &disk, "segments below the log start deleted"),
        first
    );
    assert_eq!(reads.counts(), (28, 1));
    // A truncation is followed too (the cut segment is read again whole), as a new generation,
    // and so is the growth after it.
    log.truncate_to(25).expect("truncate");
    let truncated = check(&mut reads, &disk, "a truncated log");
    assert_ne!(truncated, first);
    append_tagged(&mut log, 25..28, "w", 2);
    assert_eq!(check(&mut reads, &disk, "grown again"), truncated);
    assert_eq!(reads.counts(), (30, 1));
    // A corrupted byte is not: the log is opened from a snapshot.
    let newest = disk
        .list_prefix(&directory)
        .into_iter()
        .rfind(|name| name.ends_with(".log"))
        .expect("a segment");
    disk.corrupt_byte(&newest, 10).expect("corrupt");
    check(&mut reads, &disk, "a corrupted byte");
    assert_eq!(reads.counts(), (30, 2));
    // Two new disks written the same way with other values: the same marks, other bytes.
    let one = Disk::new(sim::Seed::new(3).stream("disk"));
    append(&one, 0..3, "x");
    check(&mut reads, &one, "a new disk");
    let other = Disk::new(sim::Seed::new(3).stream("disk"));
    append(&other, 0..3, "y");
    assert_eq!(other.marks(&directory), one.marks(&directory));
    check(&mut reads, &other, "another disk with the same marks");
    assert_eq!(reads.counts(), (30, 4));
}

/// [`check::check_agreement_with`] compares a pair of replicas again only from where they agreed,
/// while both logs keep their generations, and from the start once one of them is a new one.
#[test]
fn agreements_skip_only_what_the_same_generations_agreed_on() {
    use super::collect::LogReads;
    use broker::log::Log;
    use sim::disk::Disk;
    let partition = tp();
    let directory = broker::inspect::log_directory(&partition);
    let disks = [1, 2].map(|n| Disk::new(sim::Seed::new(n).stream("disk")));
    let mut logs = disks.clone().map(|disk| {
        Log::open(disk, &directory, small_segments())
            .expect("open")
            .0
    });
    let append = |log: &mut Log<Disk>, values: std::ops::Range<u64>, tag: &str| {
        append_tagged(log, values, tag, 0)
    };
    let mut reads = LogReads::default();
    let mut agreements = check::Agreements::default();
    let mut sample = |high_watermark: u64| {
        let replicas = (0..2)
            .map(|index| {
                let name = format!("broker-{}", index + 1);
                let log = reads
                    .read(&name, disks[index].clone(), &partition)
                    .expect("read");
                ReplicaState {
                    log_start_offset: log.log_start_offset,
                    log_end_offset: log.log_end_offset,
                    log: Some(log),
                    ..replica(index as u32 + 1, high_watermark, Vec::new())
                }
            })
            .collect();
        let state = state(replicas);
        let generations: Vec<u64> = state.partitions[&partition]
            .iter()
            .map(|replica| replica.log.as_ref().expect("read").generation())
            .collect();
        let found = check::check_agreement_with(&state, &mut agreements);
        (generations, found)
    };
    for log in &mut logs {
        append(log, 0..10, "v");
    }
    let (first, found) = sample(10);
    assert!(found.is_empty(), "{found:?}");
    // Broker 2's log is cut and written again below where they agreed: a new generation, compared
    // from the start.
    logs[1].truncate_to(5).expect("truncate");
    append(&mut logs[1], 5..10, "w");
    let (second, found) = sample(10);
    assert_eq!(second[0], first[0]);
    assert_ne!(second[1], first[1]);
    assert_eq!(kinds(&found), ["replicas-diverge"]);
    assert!(found[0].explanation.contains("at offset 5"), "{found:?}");
    assert!(
        found[0].explanation.contains("5 offsets differ"),
        "{found:?}"
    );
    // Both as broker 1 wrote them, then grown alike, then apart: the same generations, compared
    // from where they agreed, and the difference found there.
    logs[1].truncate_to(5).expect("truncate");
    append(&mut logs[1], 5..10, "v");
    let (third, found) = sample(10);
    assert!(found.is_empty(), "{found:?}");
    append(&mut logs[0], 10..12, "v");
    append(&mut logs[1], 10..12, "v");
    append(&mut logs[0], 12..14, "x");
    append(&mut logs[1], 12..14, "y");
    let (fourth, found) = sample(14);
    assert_eq!(fourth, third);
    assert_eq!(kinds(&found), ["replicas-diverge"]);
    assert!(found[0].explanation.contains("at offset 12"), "{found:?}");
    assert!(
        found[0].explanation.contains("2 offsets differ"),
        "{found:?}"
    );
    // Broker 1's log is cut below where they last agreed and written again: compared again from
    // the cut, not from where they agreed.
    logs[0].truncate_to(5).expect("truncate");
    append(&mut logs[0], 5..14, "z");
    let (fifth, found) = sample(14);
    assert_ne!(fifth[0], fourth[0]);
    assert_eq!(kinds(&found), ["replicas-diverge"]);
    assert!(found[0].explanation.contains("at offset 5"), "{found:?}");
}

/// [`check::expose_leaders`] puts each leader record in the ledger once, and looks again from
/// where a leader's log was cut: a record changed there is a committed-record-changed.
#[test]
fn leaders_expose_their_records_once_and_again_from_a_cut() {
    use super::collect::LogReads;
    use broker::log::Log;
    use sim::disk::Disk;
    let partition = tp();
    let directory = broker::inspect::log_directory(&partition);
    let disk = Disk::new(sim::Seed::new(1).stream("disk"));
    let mut log = Log::open(disk.clone(), &directory, small_segments())
        .expect("open")
        .0;
    let mut reads = LogReads::default();
    let mut ledger = check::Ledger::default();
    let mut exposed = check::Exposed::default();
    let mut sample = |high_watermark: u64| {
        let read = reads
            .read("broker-1", disk.clone(), &partition)
            .expect("read");
        let leader = ReplicaState {
            log_start_offset: read.log_start_offset,
            log_end_offset: read.log_end_offset,
            log: Some(read),
            ..leading(replica(1, high_watermark, Vec::new()), 0, &[1])
        };
        check::expose_leaders(&mut ledger, &mut exposed, &state(vec![leader]))
    };
    // A high watermark past the log's end: the records still to come below it are looked at
    // when they come.
    append_tagged(&mut log, 0..10, "v", 0);
    assert!(sample(12).is_empty());
    append_tagged(&mut log, 10..12, "v", 0);
    assert!(sample(12).is_empty());
    // Cut below the high watermark and written again otherwise: the change is seen.
    log.truncate_to(5).expect("truncate");
    append_tagged(&mut log, 5..12, "w", 1);
    // One per offset changed (the checker reports the first of a partition's).
    let found = sample(12);
    assert_eq!(kinds(&found), ["committed-record-changed"; 7]);
    assert!(found[0].explanation.contains("offset 5"), "{found:?}");
}
