//! Coverage marks (FoundationDB's code probes, Antithesis' "sometimes"): counters of the events
//! each scenario exists to reach. A campaign reports them and fails when a scenario's defining
//! event never happened — a scenario that never reaches its situation tests nothing.
//!
//! Marks come from the cluster's observations (counted while the run goes) and from the history
//! (computed after it).

use broker::controller::ControllerEvent;
use broker::core::Observation;
use broker::node::ClusterEvent;
use oracle::event::{CommitPhase, Event, Op};
use oracle::FaultKind;
use std::collections::BTreeMap;

/// Retention evicted records a consumer had not read: it asked for an evicted offset.
pub const EVICTED_BELOW_CONSUMER: &str = "evicted-below-consumer";
/// A follower cut its log back (divergence after a leader change, or reset to the leader's start).
pub const FOLLOWER_TRUNCATED: &str = "follower-truncated";
/// A replica forgot a producer id's state (retention passed its last batch, or a forced expiry).
pub const PRODUCER_ID_EXPIRED: &str = "producer-id-expired";
/// A producer bumped its epoch (KIP-360) after losing its state.
pub const EPOCH_BUMPED: &str = "epoch-bumped";
/// A topic's partition count grew while a producer was sending to it.
pub const PARTITIONS_GREW_UNDER_PRODUCER: &str = "partitions-grew-under-producer";
/// A consumer got out-of-range from a follower and went back to the leader.
pub const REDIRECTED_TO_LEADER: &str = "redirected-to-leader";
/// A leader named a preferred read replica (KIP-392).
pub const PREFERRED_REPLICA_CHOSEN: &str = "preferred-replica-chosen";
/// A follower's log start ran ahead of the leader's.
pub const FOLLOWER_LOG_START_AHEAD: &str = "follower-log-start-ahead";
/// A partition got a new leader after the first election.
pub const LEADER_CHANGED: &str = "leader-changed";
/// A consumer process restarted and resumed from its committed offsets.
pub const CONSUMER_RESTARTED: &str = "consumer-restarted";
/// A fault waiting for a cluster event (`when`) fired.
pub const TRIGGERED_FAULT_FIRED: &str = "triggered-fault-fired";
/// A broker crashed within 500 ms of its election as a partition's leader (before a fetch
/// round trip of its followers could settle the new epoch).
pub const LEADER_CRASHED_AFTER_ELECTION: &str = "leader-crashed-after-election";
/// A broker crashed while it led a partition with appended records its high watermark did not
/// cover (written, not committed).
pub const LEADER_CRASHED_WITH_UNCOMMITTED: &str = "leader-crashed-with-uncommitted";
/// A broker that followed some partition was cut off from the controller alone.
pub const FOLLOWER_CUT_FROM_CONTROLLER: &str = "follower-cut-from-controller";
/// A broker came back after an outage longer than the retention time.
pub const DOWN_LONGER_THAN_RETENTION: &str = "down-longer-than-retention";
/// A broker came back with an empty disk.
pub const RESTARTED_WITH_EMPTY_DISK: &str = "restarted-with-empty-disk";
/// A broker crash left garbage or zeros where its unsynced bytes were.
pub const CRASH_LEFT_BAD_TAIL: &str = "crash-left-bad-tail";
/// The controller refused an ISR proposal naming a member's previous incarnation (KIP-903).
pub const STALE_ISR_MEMBER_REFUSED: &str = "stale-isr-member-refused";
/// A consumer group formed a new generation after its first (a member joined a running group,
/// left, was expelled, or the topic grew).
pub const GROUP_REBALANCED: &str = "group-rebalanced";
/// A group member gave partitions up after committing them (`revoke`).
pub const PARTITIONS_REVOKED: &str = "partitions-revoked";
/// A group member learnt it had been expelled and gave its partitions up without committing
/// (`revoke` with `lost`).
pub const MEMBER_EXPELLED: &str = "member-expelled";
/// A group member's commit was refused for its generation or membership (fenced).
pub const COMMIT_FENCED: &str = "commit-fenced";
/// A group member was assigned a partition its group had never been assigned before, after
/// the group's first generation (the topic grew under a running group).
pub const GROUP_ASSIGNED_NEW_PARTITION: &str = "group-assigned-new-partition";
/// A member joined a generation whose assignment was already out: a static member (KIP-345)
/// rejoining under its instance id without a rebalance.
pub const STATIC_MEMBER_REJOINED: &str = "static-member-rejoined";

/// How soon after its election a leader's crash counts for [`LEADER_CRASHED_AFTER_ELECTION`].
pub const SOON_AFTER_ELECTION_NS: u64 = 500_000_000;

/// Every mark, in report order.
pub const ALL_MARKS: &[&str] = &[
    EVICTED_BELOW_CONSUMER,
    FOLLOWER_TRUNCATED,
    PRODUCER_ID_EXPIRED,
    EPOCH_BUMPED,
    PARTITIONS_GREW_UNDER_PRODUCER,
    REDIRECTED_TO_LEADER,
    PREFERRED_REPLICA_CHOSEN,
    FOLLOWER_LOG_START_AHEAD,
    LEADER_CHANGED,
    CONSUMER_RESTARTED,
    TRIGGERED_FAULT_FIRED,
    LEADER_CRASHED_AFTER_ELECTION,
    LEADER_CRASHED_WITH_UNCOMMITTED,
    FOLLOWER_CUT_FROM_CONTROLLER,
    DOWN_LONGER_THAN_RETENTION,
    RESTARTED_WITH_EMPTY_DISK,
    CRASH_LEFT_BAD_TAIL,
    STALE_ISR_MEMBER_REFUSED,
    GROUP_REBALANCED,
    PARTITIONS_REVOKED,
    MEMBER_EXPELLED,
    COMMIT_FENCED,
    GROUP_ASSIGNED_NEW_PARTITION,
    STATIC_MEMBER_REJOINED,
];

/// Counts of marks.
pub type Coverage = BTreeMap<String, u64>;

pub fn empty() -> Coverage {
    ALL_MARKS.iter().map(|mark| (mark.to_string(), 0)).collect()
}

pub fn bump(coverage: &mut Coverage, mark: &str) {
    *coverage.entry(mark.to_string()).or_insert(0) += 1;
}

/// Counts what a cluster event shows. `leader_log_starts` tracks the authoritative log start of
/// each partition, to see a follower's run ahead of it.
pub fn observe(
    coverage: &mut Coverage,
    leader_log_starts: &mut BTreeMap<(std::sync::Arc<str>, u32), u64>,
    event: &ClusterEvent,
) {
    match event {
        ClusterEvent::Broker(Observation::FollowerTruncated { from, to, .. }) if to < from => {
            bump(coverage, FOLLOWER_TRUNCATED)
        }
        ClusterEvent::Broker(Observation::ProducerExpired { .. }) => {
            bump(coverage, PRODUCER_ID_EXPIRED)
        }
        ClusterEvent::Broker(Observation::PreferredReplicaChosen { .. }) => {
            bump(coverage, PREFERRED_REPLICA_CHOSEN)
        }
        ClusterEvent::Broker(Observation::LogStartAdvanced {
            partition,
            offset,
            leader,
            ..
        }) => {
            let key = (partition.topic.clone(), partition.partition);
            let leader_start = leader_log_starts.entry(key).or_insert(0);
            if *leader {
                *leader_start = (*leader_start).max(*offset);
            } else if *offset > *leader_start {
                bump(coverage, FOLLOWER_LOG_START_AHEAD);
            }
        }
        ClusterEvent::Controller(ControllerEvent::LeaderElected { leader_epoch, .. })
            if *leader_epoch > 0 =>
        {
            bump(coverage, LEADER_CHANGED)
        }
        ClusterEvent::Controller(ControllerEvent::StaleIsrMemberRefused { .. }) => {
            bump(coverage, STALE_ISR_MEMBER_REFUSED)
        }
        _ => {}
    }
}

/// Adds the marks the history shows.
pub fn from_history(coverage: &mut Coverage, events: &[Event<'_>]) {
    // Producers' sending windows: first and last send invoke of each process.
    let mut windows: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    // The last request of each (process, partition): (broker, error).
    let mut last_request: BTreeMap<(&str, &str, u32), (u32, Option<&str>)> = BTreeMap::new();
    let mut starts: BTreeMap<&str, u32> = BTreeMap::new();
    // When each broker last became a leader (after a partition's first election).
    let mut elected: BTreeMap<u32, u64> = BTreeMap::new();
    // Per group: the first generation seen, and every partition ever assigned.
    let mut first_generation: BTreeMap<&str, u32> = BTreeMap::new();
    let mut ever_assigned: BTreeMap<&str, std::collections::BTreeSet<(&str, u32)>> =
        BTreeMap::new();
    // Per group: the highest generation some member had its assignment of.
    let mut synced: BTreeMap<&str, u32> = BTreeMap::new();
    for event in events {
        match &event.op {
            Op::Join {
                group, generation, ..
            } => {
                let first = *first_generation.entry(group).or_insert(*generation);
                if *generation > first {
                    bump(coverage, GROUP_REBALANCED);
                }
                // Joined a generation whose assignment was already out: a static member's
                // rejoin answered without a rebalance (KIP-345).
                if synced
                    .get(&**group)
                    .is_some_and(|synced| synced >= generation)
                {
                    bump(coverage, STATIC_MEMBER_REJOINED);
                }
            }
            Op::Assignment {
                group,
                generation,
                partitions,
                ..
            } => {
                let high = synced.entry(group).or_insert(*generation);
                *high = (*high).max(*generation);
                let assigned = ever_assigned.entry(group).or_default();
                let later = first_generation
                    .get(&**group)
                    .is_some_and(|first| generation > first);
                for partition in partitions.iter() {
                    if assigned.insert((&*partition.topic, partition.partition)) && later {
                        bump(coverage, GROUP_ASSIGNED_NEW_PARTITION);
                    }
                }
            }
            Op::Revoke { lost: false, .. } => bump(coverage, PARTITIONS_REVOKED),
            Op::Revoke { lost: true, .. } => bump(coverage, MEMBER_EXPELLED),
            Op::Commit {
                phase: CommitPhase::Fail,
                error: Some(error),
                ..
            } if error == "illegal_generation"
                || error == "unknown_member_id"
                || error == "rebalance_in_progress"
                || error == "fenced_instance_id" =>
            {
                bump(coverage, COMMIT_FENCED)
            }
            Op::Leader { broker, epoch, .. } if *epoch > 0 => {
                elected.insert(*broker, event.time_ns);
            }
            Op::Fault {
                fault,
                target: Some(target),
            } if *fault == FaultKind::Crash.as_str() || *fault == FaultKind::WipeDisk.as_str() => {
                let broker = target
                    .strip_prefix("broker-")
                    .and_then(|id| id.parse::<u32>().ok());
                if let Some(at) = broker.and_then(|broker| elected.get(&broker)) {
                    if event.time_ns.saturating_sub(*at) <= SOON_AFTER_ELECTION_NS {
                        bump(coverage, LEADER_CRASHED_AFTER_ELECTION);
                    }
                }
            }
            Op::SendInvoke { .. } => {
                let window = windows
                    .entry(&*event.process)
                    .or_insert((event.time_ns, event.time_ns));
                window.1 = event.time_ns;
            }
            Op::InitPid { epoch, .. } if *epoch > 0 => bump(coverage, EPOCH_BUMPED),
            Op::Reset { reason, .. } if reason == "offset_evicted" => {
                bump(coverage, EVICTED_BELOW_CONSUMER)
            }
            Op::PollFail { error, .. } if error == "offset_evicted" => {
                bump(coverage, EVICTED_BELOW_CONSUMER)
            }
            Op::Start => {
                let count = starts.entry(&*event.process).or_insert(0);
                *count += 1;
                if *count > 1 && event.process.starts_with("consumer") {
                    bump(coverage, CONSUMER_RESTARTED);
                }
            }
            Op::Request(request) => {
                let key = (&*event.process, &*request.topic, request.partition);
                if let Some((previous_broker, Some("offset_out_of_range"))) = last_request.get(&key)
                {
                    if request.broker != *previous_broker {
                        bump(coverage, REDIRECTED_TO_LEADER);
                    }
                }
                last_request.insert(key, (request.broker, request.error.as_deref()));
            }
            _ => {}
        }
    }
    // A partition count that grew inside some producer's sending window.
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for event in events {
        if let Op::Partitions { topic, count } = &event.op {
            let previous = counts.insert(&**topic, *count);
            if previous.is_some_and(|previous| *count > previous)
                && windows
                    .values()
                    .any(|&(first, last)| first < event.time_ns && event.time_ns < last)
            {
                bump(coverage, PARTITIONS_GREW_UNDER_PRODUCER);
            }
        }
    }
}
