//! The bug catalog: historical bugs that `--bug NAME` switches back on, each with its real source,
//! the scenario built to expose it, and the oracle anomaly that catches it.

use broker::bugs::{BrokerBug, BugSet};
use client::{ClientBug, ClientBugs};

/// Where a bug lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BugSwitch {
    Broker(BrokerBug),
    Client(ClientBug),
}

/// One entry of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BugInfo {
    pub name: &'static str,
    pub switch: BugSwitch,
    /// The real project and issue/PR the bug reproduces.
    pub source: &'static str,
    /// The named scenario built to reach it.
    pub scenario: &'static str,
    /// The anomaly kinds the oracle reports for it, as measured (docs/bugs.md): the first is the
    /// usual one. `docs/bugs.md` lists the same (`scenarios/tests/docs_bugs.rs` checks it).
    pub anomalies: &'static [&'static str],
    pub summary: &'static str,
}

/// Every bug, in the order `streamsim list` shows them.
pub const CATALOG: &[BugInfo] = &[
    BugInfo {
        name: "stale-segment-read",
        switch: BugSwitch::Broker(BrokerBug::StaleSegmentRead),
        source: "fluvio #3891 (fixed by PR #3902)",
        scenario: "retention-eviction",
        anomalies: &["internal-error"],
        summary: "the broker reads a segment from a stale view after retention deleted it and \
                  answers an IO 'not found' instead of OffsetEvicted",
    },
    BugInfo {
        name: "evicted-offset-retry-loop",
        switch: BugSwitch::Client(ClientBug::EvictedOffsetRetryLoop),
        source: "fluvio #4514 (fixed by PR #4511)",
        scenario: "retention-eviction",
        anomalies: &["spinloop"],
        summary: "on OffsetEvicted the consumer re-requests the same evicted offset forever",
    },
    BugInfo {
        name: "last-record-never-committed",
        switch: BugSwitch::Client(ClientBug::LastRecordNeverCommitted),
        source: "fluvio #4505 (fixed by PR #4504)",
        scenario: "offset-commit",
        anomalies: &["duplicate-delivery"],
        summary: "yielding record N commits N-1: the last record is never committed and is \
                  delivered again after a restart",
    },
    BugInfo {
        name: "commit-on-fetch",
        switch: BugSwitch::Client(ClientBug::CommitOnFetch),
        source: "offset-commit timing (fluvio RFC #3856 discussion; the classic at-most-once bug)",
        scenario: "offset-commit",
        anomalies: &["lost-write"],
        summary: "offsets are committed when fetched, before the application receives the \
                  records: a crash in between loses them",
    },
    BugInfo {
        name: "producer-fixed-partitions",
        switch: BugSwitch::Client(ClientBug::ProducerFixedPartitions),
        source: "fluvio #4079 (fixed by PR #4090)",
        scenario: "partition-growth",
        anomalies: &["stale-partitions"],
        summary: "the producer's partition set is fixed at creation: partitions added later \
                  never get records",
    },
    BugInfo {
        name: "pid-reset-without-bump",
        switch: BugSwitch::Client(ClientBug::PidResetWithoutBump),
        source: "KIP-360 (the unsafe reset it forbids; franz-go #805 context)",
        scenario: "pid-loss",
        anomalies: &["duplicate"],
        summary: "on UnknownProducerId the producer resets sequences to 0 under the same epoch: \
                  a retried batch that was written is written again",
    },
    BugInfo {
        name: "pid-loss-fatal",
        switch: BugSwitch::Client(ClientBug::PidLossFatal),
        source: "franz-go #805 (fixed by PR #834, v1.18.0)",
        scenario: "pid-loss",
        anomalies: &["producer-stalled"],
        summary: "UnknownProducerId after the log start passed the producer's records is \
                  treated as fatal: every later send fails",
    },
    BugInfo {
        name: "follower-ooor-spin",
        switch: BugSwitch::Client(ClientBug::FollowerOoorSpin),
        source: "franz-go #885 (fixed by PR #886, v1.18.1)",
        scenario: "follower-truncation",
        anomalies: &["spinloop"],
        summary: "out-of-range from a follower whose log start is ahead of the leader's: the \
                  consumer keeps asking the follower instead of going back to the leader",
    },
    BugInfo {
        name: "hw-before-isr",
        switch: BugSwitch::Broker(BrokerBug::HwBeforeIsr),
        source: "KAFKA-1211 / KIP-101 era: a high watermark that does not wait for the ISR",
        scenario: "follower-truncation",
        anomalies: &["lost-write", "inconsistent-offsets"],
        summary: "the leader counts an append as committed at once: an acknowledged record is \
                  lost when the leader dies before replicating it",
    },
    BugInfo {
        name: "no-follower-truncation",
        switch: BugSwitch::Broker(BrokerBug::NoFollowerTruncation),
        source: "KIP-101 / KIP-279 (leader-epoch based truncation)",
        scenario: "follower-truncation",
        anomalies: &["inconsistent-offsets", "duplicate"],
        summary: "a follower of a new leader keeps its divergent tail: replicas disagree at the \
                  same offsets",
    },
    BugInfo {
        name: "unclean-election",
        switch: BugSwitch::Broker(BrokerBug::UncleanElection),
        source: "Kafka unclean.leader.election.enable (KIP-106 made it off by default)",
        scenario: "follower-truncation",
        anomalies: &["unseen", "lost-write", "inconsistent-offsets"],
        summary: "a replica outside the ISR may be elected leader: acknowledged records it \
                  missed are lost",
    },
];

pub fn find(name: &str) -> Option<&'static BugInfo> {
    CATALOG.iter().find(|info| info.name == name)
}

pub fn names() -> Vec<&'static str> {
    CATALOG.iter().map(|info| info.name).collect()
}

/// The switches of one run, split by where they live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BugSelection {
    pub broker: BugSet,
    pub client: ClientBugs,
    pub names: Vec<String>,
}

impl BugSelection {
    /// Resolves names; the error names the unknown one and lists the known ones.
    pub fn from_names(names: &[String]) -> Result<BugSelection, String> {
        let mut selection = BugSelection::default();
        for name in names {
            let info = find(name).ok_or_else(|| {
                format!("unknown bug '{name}' (known: {})", self::names().join(", "))
            })?;
            match info.switch {
                BugSwitch::Broker(bug) => {
                    selection.broker.insert(bug);
                }
                BugSwitch::Client(bug) => {
                    selection.client.enable(bug);
                }
            }
            if !selection.names.contains(name) {
                selection.names.push(name.clone());
            }
        }
        Ok(selection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_match_the_switches_and_every_switch_is_listed() {
        for info in CATALOG {
            let switch_name = match info.switch {
                BugSwitch::Broker(bug) => bug.name(),
                BugSwitch::Client(bug) => bug.name(),
            };
            assert_eq!(switch_name, info.name);
        }
        for bug in BrokerBug::ALL {
            assert!(find(bug.name()).is_some(), "{} missing", bug.name());
        }
        for bug in ClientBug::ALL {
            assert!(find(bug.name()).is_some(), "{} missing", bug.name());
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_list() {
        let error = BugSelection::from_names(&["nope".to_string()]).unwrap_err();
        assert!(error.contains("unknown bug 'nope'") && error.contains("stale-segment-read"));
    }
}
