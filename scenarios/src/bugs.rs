//! The bug catalog: historical bugs that `--bug NAME` switches back on, each with its real source,
//! the scenario built to expose it, the oracle anomalies that catch it — and what it *is*: the
//! behaviour policies it sets away from their correct defaults ([`broker::policy`],
//! [`client::policy`]). A bug is data; no broker or client code knows its name.
//!
//! This is the one place a bug's name is written: `streamsim list`, `docs/bugs.md` (kept in step
//! by `scenarios/tests/docs_bugs.rs`) and the reports read it from here.

use broker::node::ClusterConfig;
use broker::policy::{
    ConsumerFetchRangePolicy, ElectionPolicy, HighWatermarkPolicy, IsrEligibilityPolicy,
    OffsetExpiryPolicy, SegmentViewPolicy, TruncationPolicy,
};
use client::policy::{
    CommitPositionPolicy, FollowerOutOfRangePolicy, LostPartitionsPolicy, OffsetEvictedPolicy,
    OwnedClaimsPolicy, PartitionDiscoveryPolicy, ProducerStateLossPolicy, RevokedOffsetsPolicy,
};
use client::{ConsumerConfig, ProducerConfig};
use std::fmt;

/// One policy value a bug sets, by the config field it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Override {
    /// `broker.log.segment_view_policy` (every broker's partition logs).
    SegmentView(SegmentViewPolicy),
    /// `broker.high_watermark_policy`.
    HighWatermark(HighWatermarkPolicy),
    /// `broker.truncation_policy`.
    Truncation(TruncationPolicy),
    /// `controller.election_policy`.
    Election(ElectionPolicy),
    /// `controller.isr_eligibility_policy`.
    IsrEligibility(IsrEligibilityPolicy),
    /// `broker.consumer_fetch_range_policy`.
    ConsumerFetchRange(ConsumerFetchRangePolicy),
    /// `producer.producer_state_loss_policy`.
    ProducerStateLoss(ProducerStateLossPolicy),
    /// `producer.partition_discovery_policy`.
    PartitionDiscovery(PartitionDiscoveryPolicy),
    /// `consumer.commit_position_policy`.
    CommitPosition(CommitPositionPolicy),
    /// `consumer.offset_evicted_policy`.
    OffsetEvicted(OffsetEvictedPolicy),
    /// `consumer.follower_out_of_range_policy`.
    FollowerOutOfRange(FollowerOutOfRangePolicy),
    /// `controller.groups.offset_expiry_policy`.
    OffsetExpiry(OffsetExpiryPolicy),
    /// `consumer.revoked_offsets_policy`.
    RevokedOffsets(RevokedOffsetsPolicy),
    /// `consumer.owned_claims_policy` (the group leader's assignor).
    OwnedClaims(OwnedClaimsPolicy),
    /// `consumer.lost_partitions_policy`.
    LostPartitions(LostPartitionsPolicy),
}

impl Override {
    /// Sets the value if it belongs to the cluster (brokers, their logs, the controller).
    pub fn apply_to_cluster(self, config: &mut ClusterConfig) {
        match self {
            Override::SegmentView(policy) => config.broker.log.segment_view_policy = policy,
            Override::HighWatermark(policy) => config.broker.high_watermark_policy = policy,
            Override::Truncation(policy) => config.broker.truncation_policy = policy,
            Override::Election(policy) => config.controller.election_policy = policy,
            Override::IsrEligibility(policy) => config.controller.isr_eligibility_policy = policy,
            Override::OffsetExpiry(policy) => {
                config.controller.groups.offset_expiry_policy = policy
            }
            Override::ConsumerFetchRange(policy) => {
                config.broker.consumer_fetch_range_policy = policy
            }
            Override::ProducerStateLoss(_)
            | Override::PartitionDiscovery(_)
            | Override::CommitPosition(_)
            | Override::OffsetEvicted(_)
            | Override::FollowerOutOfRange(_)
            | Override::RevokedOffsets(_)
            | Override::OwnedClaims(_)
            | Override::LostPartitions(_) => {}
        }
    }

    /// Sets the value if it belongs to a producer.
    pub fn apply_to_producer(self, config: &mut ProducerConfig) {
        match self {
            Override::ProducerStateLoss(policy) => config.producer_state_loss_policy = policy,
            Override::PartitionDiscovery(policy) => config.partition_discovery_policy = policy,
            Override::SegmentView(_)
            | Override::HighWatermark(_)
            | Override::Truncation(_)
            | Override::Election(_)
            | Override::IsrEligibility(_)
            | Override::OffsetExpiry(_)
            | Override::ConsumerFetchRange(_)
            | Override::CommitPosition(_)
            | Override::OffsetEvicted(_)
            | Override::FollowerOutOfRange(_)
            | Override::RevokedOffsets(_)
            | Override::OwnedClaims(_)
            | Override::LostPartitions(_) => {}
        }
    }

    /// Sets the value if it belongs to a consumer.
    pub fn apply_to_consumer(self, config: &mut ConsumerConfig) {
        match self {
            Override::CommitPosition(policy) => config.commit_position_policy = policy,
            Override::OffsetEvicted(policy) => config.offset_evicted_policy = policy,
            Override::FollowerOutOfRange(policy) => config.follower_out_of_range_policy = policy,
            Override::RevokedOffsets(policy) => config.revoked_offsets_policy = policy,
            Override::OwnedClaims(policy) => config.owned_claims_policy = policy,
            Override::LostPartitions(policy) => config.lost_partitions_policy = policy,
            Override::SegmentView(_)
            | Override::HighWatermark(_)
            | Override::Truncation(_)
            | Override::Election(_)
            | Override::IsrEligibility(_)
            | Override::OffsetExpiry(_)
            | Override::ConsumerFetchRange(_)
            | Override::ProducerStateLoss(_)
            | Override::PartitionDiscovery(_) => {}
        }
    }
}

/// `broker.log.segment_view_policy = CachedIgnoringRetention`: the field and the value.
impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Override::SegmentView(policy) => {
                write!(f, "broker.log.segment_view_policy = {policy:?}")
            }
            Override::HighWatermark(policy) => {
                write!(f, "broker.high_watermark_policy = {policy:?}")
            }
            Override::Truncation(policy) => write!(f, "broker.truncation_policy = {policy:?}"),
            Override::Election(policy) => write!(f, "controller.election_policy = {policy:?}"),
            Override::IsrEligibility(policy) => {
                write!(f, "controller.isr_eligibility_policy = {policy:?}")
            }
            Override::ConsumerFetchRange(policy) => {
                write!(f, "broker.consumer_fetch_range_policy = {policy:?}")
            }
            Override::ProducerStateLoss(policy) => {
                write!(f, "producer.producer_state_loss_policy = {policy:?}")
            }
            Override::PartitionDiscovery(policy) => {
                write!(f, "producer.partition_discovery_policy = {policy:?}")
            }
            Override::CommitPosition(policy) => {
                write!(f, "consumer.commit_position_policy = {policy:?}")
            }
            Override::OffsetEvicted(policy) => {
                write!(f, "consumer.offset_evicted_policy = {policy:?}")
            }
            Override::FollowerOutOfRange(policy) => {
                write!(f, "consumer.follower_out_of_range_policy = {policy:?}")
            }
            Override::OffsetExpiry(policy) => {
                write!(f, "controller.groups.offset_expiry_policy = {policy:?}")
            }
            Override::RevokedOffsets(policy) => {
                write!(f, "consumer.revoked_offsets_policy = {policy:?}")
            }
            Override::OwnedClaims(policy) => write!(f, "consumer.owned_claims_policy = {policy:?}"),
            Override::LostPartitions(policy) => {
                write!(f, "consumer.lost_partitions_policy = {policy:?}")
            }
        }
    }
}

/// One entry of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BugInfo {
    pub name: &'static str,
    pub summary: &'static str,
    /// The real project and issue/PR the bug reproduces.
    pub source: &'static str,
    /// The named scenario built to reach it.
    pub scenario: &'static str,
    /// The anomaly kinds the oracle reports for it, as measured (docs/bugs.md): the first is the
    /// usual one. `docs/bugs.md` lists the same (`scenarios/tests/docs_bugs.rs` checks it).
    pub anomalies: &'static [&'static str],
    /// What switching it on sets: policy values away from the correct defaults.
    pub overrides: &'static [Override],
}

impl BugInfo {
    pub fn apply_to_cluster(&self, config: &mut ClusterConfig) {
        for setting in self.overrides {
            setting.apply_to_cluster(config);
        }
    }

    pub fn apply_to_producer(&self, config: &mut ProducerConfig) {
        for setting in self.overrides {
            setting.apply_to_producer(config);
        }
    }

    pub fn apply_to_consumer(&self, config: &mut ConsumerConfig) {
        for setting in self.overrides {
            setting.apply_to_consumer(config);
        }
    }
}

/// Every bug, in the order `streamsim list` shows them — and the order their overrides apply
/// when several are on: a later bug's value for the same policy wins (`pid-loss-fatal` over
/// `pid-reset-without-bump`, `commit-on-fetch` over `last-record-never-committed`).
pub const CATALOG: &[BugInfo] = &[
    BugInfo {
        name: "stale-segment-read",
        summary: "the broker reads a segment from a stale view after retention deleted it and \
                  answers an IO 'not found' instead of OffsetEvicted",
        source: "fluvio #3891 (fixed by PR #3902)",
        scenario: "retention-eviction",
        anomalies: &["internal-error"],
        overrides: &[Override::SegmentView(
            SegmentViewPolicy::CachedIgnoringRetention,
        )],
    },
    BugInfo {
        name: "evicted-offset-retry-loop",
        summary: "on OffsetEvicted the consumer re-requests the same evicted offset forever",
        source: "fluvio #4514 (fixed by PR #4511)",
        scenario: "retention-eviction",
        anomalies: &["spinloop"],
        overrides: &[Override::OffsetEvicted(
            OffsetEvictedPolicy::RetrySameOffset,
        )],
    },
    BugInfo {
        name: "last-record-never-committed",
        summary: "yielding record N commits N-1: the last record is never committed and is \
                  delivered again after a restart",
        source: "fluvio #4505 (fixed by PR #4504)",
        scenario: "offset-commit",
        anomalies: &["duplicate-delivery"],
        overrides: &[Override::CommitPosition(
            CommitPositionPolicy::LastDelivered,
        )],
    },
    BugInfo {
        name: "commit-on-fetch",
        summary: "offsets are committed when fetched, before the application receives the \
                  records: a crash in between loses them",
        source: "offset-commit timing (fluvio RFC #3856 discussion; the classic at-most-once bug)",
        scenario: "offset-commit",
        anomalies: &["lost-write"],
        overrides: &[Override::CommitPosition(CommitPositionPolicy::Fetched)],
    },
    BugInfo {
        name: "producer-fixed-partitions",
        summary: "the producer's partition set is fixed at creation: partitions added later \
                  never get records",
        source: "fluvio #4079 (fixed by PR #4090)",
        scenario: "partition-growth",
        anomalies: &["stale-partitions"],
        overrides: &[Override::PartitionDiscovery(
            PartitionDiscoveryPolicy::FixedAtFirstSight,
        )],
    },
    BugInfo {
        name: "pid-reset-without-bump",
        summary: "on UnknownProducerId the producer resets sequences to 0 under the same epoch: \
                  a retried batch that was written is written again",
        source: "KIP-360 (the unsafe reset it forbids; franz-go #805 context)",
        scenario: "pid-loss",
        anomalies: &["duplicate"],
        overrides: &[Override::ProducerStateLoss(
            ProducerStateLossPolicy::ResetWithoutBump,
        )],
    },
    BugInfo {
        name: "pid-loss-fatal",
        summary: "UnknownProducerId after the log start passed the producer's records is \
                  treated as fatal: every later send fails",
        source: "franz-go #805 (fixed by PR #834, v1.18.0)",
        scenario: "pid-loss",
        anomalies: &["producer-stalled"],
        overrides: &[Override::ProducerStateLoss(ProducerStateLossPolicy::Fatal)],
    },
    BugInfo {
        name: "follower-ooor-spin",
        summary: "out-of-range from a follower whose log start is ahead of the leader's: the \
                  consumer keeps asking the follower instead of going back to the leader",
        source: "franz-go #885 (fixed by PR #886, v1.18.1)",
        scenario: "follower-truncation",
        anomalies: &["spinloop"],
        overrides: &[Override::FollowerOutOfRange(
            FollowerOutOfRangePolicy::ResetAtFollower,
        )],
    },
    BugInfo {
        name: "hw-before-isr",
        summary: "the leader counts an append as committed at once: an acknowledged record is \
                  lost when the leader dies before replicating it",
        source: "KAFKA-1211 / KIP-101 era: a high watermark that does not wait for the ISR",
        scenario: "follower-truncation",
        anomalies: &["lost-write", "inconsistent-offsets"],
        overrides: &[Override::HighWatermark(HighWatermarkPolicy::LeaderLogEnd)],
    },
    BugInfo {
        name: "no-follower-truncation",
        summary: "a follower of a new leader keeps its divergent tail: replicas disagree at the \
                  same offsets",
        source: "KIP-101 / KIP-279 (leader-epoch based truncation)",
        scenario: "follower-truncation",
        anomalies: &["inconsistent-offsets", "duplicate"],
        overrides: &[Override::Truncation(TruncationPolicy::LeaderLogEnd)],
    },
    BugInfo {
        name: "unclean-election",
        summary: "a replica outside the ISR may be elected leader: acknowledged records it \
                  missed are lost",
        source: "Kafka unclean.leader.election.enable (KIP-106 made it off by default)",
        scenario: "follower-truncation",
        anomalies: &["unseen", "lost-write", "inconsistent-offsets"],
        overrides: &[Override::Election(ElectionPolicy::AnyLiveReplica)],
    },
    BugInfo {
        name: "epoch-end-without-epoch",
        summary: "the follower truncates to the end offset the leader answered without asking \
                  for which epoch: after a fast double fail-over it keeps records of an epoch \
                  the new leader never had",
        source: "KAFKA-6361 (fixed by KIP-279, Kafka 2.0)",
        scenario: "leader-failover",
        anomalies: &["replicas-diverge"],
        overrides: &[Override::Truncation(TruncationPolicy::EpochEndOffsetOnly)],
    },
    BugInfo {
        name: "isr-without-broker-epochs",
        summary: "the controller lets any unfenced replica join the ISR, whatever incarnation the \
                  leader saw catch up: a replica wiped since joins empty and can be elected",
        source: "KAFKA-14139 (fixed by KIP-903, Kafka 3.5)",
        scenario: "wiped-replica",
        anomalies: &["inconsistent-offsets", "high-watermark-lost"],
        overrides: &[Override::IsrEligibility(IsrEligibilityPolicy::IdsOnly)],
    },
    BugInfo {
        name: "stale-log-end-range-check",
        summary: "the leader checks a consumer's fetch offset against the log end from before \
                  its latest append, whose records are already readable and committed: a \
                  caught-up consumer is answered OffsetOutOfRange below the high watermark",
        source: "KAFKA-2477 (fixed by apache/kafka PR #204, 0.9.0.0)",
        scenario: "partition-growth",
        anomalies: &["spurious-out-of-range"],
        overrides: &[Override::ConsumerFetchRange(
            ConsumerFetchRangePolicy::EndBeforeLatestAppend,
        )],
    },
    BugInfo {
        name: "commit-revoked-offsets",
        summary: "a group member keeps the offsets it stored for partitions a rebalance took \
                  away and commits them after the rebalance, under its new generation, over \
                  what the partitions' new owner committed",
        source: "librdkafka #2782 (fixed in v1.9.0: offsets of unassigned partitions are no \
                 longer committed)",
        scenario: "group-rebalance",
        anomalies: &["unowned-commit", "commit-regressed", "duplicate-delivery"],
        overrides: &[Override::RevokedOffsets(RevokedOffsetsPolicy::KeepStored)],
    },
    BugInfo {
        name: "offsets-expire-during-rebalance",
        summary: "the coordinator expires a group's committed offsets by their commit time while \
                  the group rebalances: a partition that got no commit for the retention period \
                  loses its offset and its next owner starts over by the reset policy",
        source: "KAFKA-13636 (fixed by apache/kafka PR #11742, Kafka 3.2)",
        scenario: "group-rebalance",
        anomalies: &["offsets-expired-early"],
        overrides: &[Override::OffsetExpiry(OffsetExpiryPolicy::CommitTimestamp)],
    },
    BugInfo {
        name: "sticky-stale-claims",
        summary: "an expelled cooperative member rejoins still claiming the partitions it lost, \
                  and the leader's cooperative-sticky assignor trusts claims of any generation: \
                  the partition it lost is given to it and to its new owner in one generation",
        source: "KAFKA-12984 with KAFKA-12983 (Kafka 2.4-2.8; fixed in 3.0)",
        scenario: "group-rebalance",
        anomalies: &["double-assignment"],
        overrides: &[
            Override::OwnedClaims(OwnedClaimsPolicy::IgnoreGeneration),
            Override::LostPartitions(LostPartitionsPolicy::KeepClaiming),
        ],
    },
];

pub fn find(name: &str) -> Option<&'static BugInfo> {
    CATALOG.iter().find(|info| info.name == name)
}

pub fn names() -> Vec<&'static str> {
    CATALOG.iter().map(|info| info.name).collect()
}

/// The bugs of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BugSelection {
    /// As named, without repeats, in the order first named.
    pub names: Vec<String>,
    /// The same bugs in catalog order, the order their overrides apply in.
    bugs: Vec<&'static BugInfo>,
}

impl BugSelection {
    /// Resolves names; the error names the unknown one and lists the known ones.
    pub fn from_names(names: &[String]) -> Result<BugSelection, String> {
        let mut selection = BugSelection::default();
        for name in names {
            find(name).ok_or_else(|| {
                format!("unknown bug '{name}' (known: {})", self::names().join(", "))
            })?;
            if !selection.names.contains(name) {
                selection.names.push(name.clone());
            }
        }
        selection.bugs = CATALOG
            .iter()
            .filter(|info| selection.names.iter().any(|name| name == info.name))
            .collect();
        Ok(selection)
    }

    /// The policy values the selection sets, in the order they apply.
    pub fn overrides(&self) -> impl Iterator<Item = Override> + '_ {
        self.bugs
            .iter()
            .flat_map(|info| info.overrides.iter().copied())
    }

    pub fn apply_to_cluster(&self, config: &mut ClusterConfig) {
        for info in &self.bugs {
            info.apply_to_cluster(config);
        }
    }

    pub fn apply_to_producer(&self, config: &mut ProducerConfig) {
        for info in &self.bugs {
            info.apply_to_producer(config);
        }
    }

    pub fn apply_to_consumer(&self, config: &mut ConsumerConfig) {
        for info in &self.bugs {
            info.apply_to_consumer(config);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client::Subscription;

    fn selection(names: &[&str]) -> BugSelection {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        BugSelection::from_names(&names).unwrap()
    }

    #[test]
    fn names_are_unique_kebab_case_and_every_bug_changes_something() {
        for (index, info) in CATALOG.iter().enumerate() {
            assert!(
                info.name
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte == b'-'),
                "{}",
                info.name
            );
            assert!(
                CATALOG[..index].iter().all(|other| other.name != info.name),
                "{} listed twice",
                info.name
            );
            assert!(!info.overrides.is_empty(), "{} sets nothing", info.name);
            assert!(
                !info.anomalies.is_empty(),
                "{} is caught as nothing",
                info.name
            );
        }
    }

    /// Each bug's overrides move its configs away from the defaults, which are the correct
    /// broker and clients: no selection, no change.
    #[test]
    fn each_bug_changes_its_configs_and_no_bug_changes_none() {
        let consumer = || ConsumerConfig::new("consumer-0", Subscription::Assign(Vec::new()));
        let none = BugSelection::default();
        let mut cluster = ClusterConfig::default();
        none.apply_to_cluster(&mut cluster);
        assert_eq!(cluster, ClusterConfig::default());
        for info in CATALOG {
            let mut cluster = ClusterConfig::default();
            let mut producer = ProducerConfig::new("producer-0");
            let mut consumer_config = consumer();
            info.apply_to_cluster(&mut cluster);
            info.apply_to_producer(&mut producer);
            info.apply_to_consumer(&mut consumer_config);
            let changed = cluster != ClusterConfig::default()
                || producer != ProducerConfig::new("producer-0")
                || consumer_config != consumer();
            assert!(changed, "{} changes no config", info.name);
        }
    }

    #[test]
    fn overrides_apply_in_catalog_order_whatever_the_order_named() {
        for names in [
            ["pid-loss-fatal", "pid-reset-without-bump"],
            ["pid-reset-without-bump", "pid-loss-fatal"],
        ] {
            let chosen = selection(&names);
            assert_eq!(chosen.names, names);
            let mut producer = ProducerConfig::new("producer-0");
            chosen.apply_to_producer(&mut producer);
            assert_eq!(
                producer.producer_state_loss_policy,
                ProducerStateLossPolicy::Fatal
            );
        }
        let chosen = selection(&["commit-on-fetch", "last-record-never-committed"]);
        let mut consumer = ConsumerConfig::new("consumer-0", Subscription::Assign(Vec::new()));
        chosen.apply_to_consumer(&mut consumer);
        assert_eq!(
            consumer.commit_position_policy,
            CommitPositionPolicy::Fetched
        );
        assert_eq!(
            chosen.overrides().collect::<Vec<_>>(),
            vec![
                Override::CommitPosition(CommitPositionPolicy::LastDelivered),
                Override::CommitPosition(CommitPositionPolicy::Fetched),
            ]
        );
    }

    #[test]
    fn a_bug_named_twice_is_on_once() {
        let chosen = selection(&["hw-before-isr", "hw-before-isr"]);
        assert_eq!(chosen.names, vec!["hw-before-isr".to_string()]);
        assert_eq!(chosen.overrides().count(), 1);
    }

    #[test]
    fn unknown_names_are_refused_with_the_list() {
        let error = BugSelection::from_names(&["nope".to_string()]).unwrap_err();
        assert!(error.contains("unknown bug 'nope'") && error.contains("stale-segment-read"));
    }
}
