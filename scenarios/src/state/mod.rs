//! The state checker: beside the oracle (which reads only the client history), it reads what the
//! cluster itself holds — every replica's log as it is on its broker's disk, the brokers' status
//! (leader flag, leader epoch, log start, high watermark, log end, ISR) and the committed offsets
//! on the controller's disk — and checks the invariants a replicated log owes its clients
//! (TigerBeetle's state checker, iggy's invariants). docs/state-checker.md documents each
//! anomaly.
//!
//! - [`model`] — what a check sees: a cluster's state at one moment, the records leaders and
//!   consumers exposed, the commits clients made; plain data, built by hand in tests;
//! - [`check`] — the checks, pure functions over the model;
//! - [`collect`] — the runtime's side: samples of the running cluster (disk snapshots, never the
//!   disks themselves, so reading changes nothing in the run) and the end-of-run verdict.
//!
//! When it looks: before every scheduled fault that disturbs the cluster fires, and at the heal
//! (agreement below the high watermark, and what leaders exposed); at every leader election (the
//! new leader's log against what was exposed); then at the end, after the liveness phase, once the
//! replicas had a bounded time to converge (everything).
//!
//! What it does not check: replicas of brokers that are down at a sample (their status is stale);
//! logs a snapshot cannot open (a disk fault made them unreadable: skipped, logged); records above
//! every high watermark (uncommitted data may legitimately differ or vanish); producer state,
//! epoch caches and the controller's metadata history.

pub mod check;
pub mod collect;
pub mod model;
#[cfg(test)]
mod tests;

pub use check::*;
pub use collect::{converge, StateChecker};
pub use model::*;

/// A state anomaly: an invariant of the cluster's state that did not hold. Written by name, like
/// the oracle's anomalies (`replicas-diverge`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateAnomalyKind {
    ReplicasDiverge,
    ReplicaNotCaughtUp,
    IsrNotFull,
    PartitionLeaderless,
    HighWatermarkLost,
    CommittedRecordChanged,
    CommittedOffsetLost,
}

impl StateAnomalyKind {
    /// Every kind, in docs/state-checker.md's order.
    pub const ALL: [StateAnomalyKind; 7] = [
        StateAnomalyKind::ReplicasDiverge,
        StateAnomalyKind::ReplicaNotCaughtUp,
        StateAnomalyKind::IsrNotFull,
        StateAnomalyKind::PartitionLeaderless,
        StateAnomalyKind::HighWatermarkLost,
        StateAnomalyKind::CommittedRecordChanged,
        StateAnomalyKind::CommittedOffsetLost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StateAnomalyKind::ReplicasDiverge => "replicas-diverge",
            StateAnomalyKind::ReplicaNotCaughtUp => "replica-not-caught-up",
            StateAnomalyKind::IsrNotFull => "isr-not-full",
            StateAnomalyKind::PartitionLeaderless => "partition-leaderless",
            StateAnomalyKind::HighWatermarkLost => "high-watermark-lost",
            StateAnomalyKind::CommittedRecordChanged => "committed-record-changed",
            StateAnomalyKind::CommittedOffsetLost => "committed-offset-lost",
        }
    }

    pub fn from_name(name: &str) -> Option<StateAnomalyKind> {
        StateAnomalyKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// What the anomaly means, in one sentence (`streamsim list`, docs/state-checker.md).
    pub fn meaning(self) -> &'static str {
        match self {
            StateAnomalyKind::ReplicasDiverge => {
                "two replicas hold a different record (value or leader epoch), or one lacks it, at \
                 an offset below both their high watermarks"
            }
            StateAnomalyKind::ReplicaNotCaughtUp => {
                "after the heal, an assigned replica on a running broker is missing or its log \
                 end is not the leader's"
            }
            StateAnomalyKind::IsrNotFull => {
                "after the heal, an assigned replica on a running broker is not in the leader's ISR"
            }
            StateAnomalyKind::PartitionLeaderless => {
                "after the heal, no running broker leads the partition"
            }
            StateAnomalyKind::HighWatermarkLost => {
                "a high watermark once exposed (by a leader, or by a consumer reading below it) is \
                 above the final leader's log end"
            }
            StateAnomalyKind::CommittedRecordChanged => {
                "a record once exposed below a high watermark (by a leader, or read by a consumer) \
                 is different or missing at its offset later, though retention did not remove it"
            }
            StateAnomalyKind::CommittedOffsetLost => {
                "the committed offset a controller crash would recover is below an acknowledged \
                 commit that no later commit replaced"
            }
        }
    }
}

impl std::fmt::Display for StateAnomalyKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One finding of the state checker: its kind, what it is about, one sentence that states the
/// proving facts (partition, brokers, offsets, epochs, values, when), and the history lines that
/// take part (commit lines, poll lines), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateAnomaly {
    pub kind: StateAnomalyKind,
    /// What it is about (`orders-0`, `orders-0 brokers 1 and 2`, `group-0 orders-0`): a run
    /// reports each (kind, subject) once, at its first sample.
    pub subject: String,
    pub explanation: String,
    pub events: Vec<u64>,
}

impl StateAnomaly {
    pub fn new(kind: StateAnomalyKind, subject: String, explanation: String) -> StateAnomaly {
        StateAnomaly {
            kind,
            subject,
            explanation,
            events: Vec::new(),
        }
    }
}
