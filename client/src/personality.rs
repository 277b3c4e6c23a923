//! Client personalities: the behaviour-policy values ([`crate::policy`]) of a real client, so a
//! run reacts to the broker the way that client does. A broker bug does its real damage only
//! through a real client's reaction: streamsim's own client is defensive (it fails a batch
//! whose sequence the broker lost instead of resending it; it checks an out-of-range with a
//! second `ListOffsets`), so bugs that real clients would turn into loss or duplicates stay
//! invisible under it.
//!
//! Each rule cites the client's source as read (apache/kafka trunk of 2024-10, librdkafka
//! master of 2026-07, franz-go master of 2026-08); `docs/scenarios.md` lists them too.
//!
//! | rule | java | librdkafka | franz-go | streamsim |
//! |---|---|---|---|---|
//! | sequence desync on the head batch | bump, resend all | first attempt of `UnknownProducerId`: bump, resend; else fatal (reported: `fatal`) | bump, resend all, report loss | retention explains it: bump, resend; else fail it as data loss |
//! | a batch written maybe, at that bump | resent | resent | resent | completes unknown |
//! | out-of-range from the leader | reset at once | reset at once | nearest (the end) | confirm with `ListOffsets`, then reset |
//! | out-of-range from a follower | back to the leader | back to the leader | back to the leader | back to the leader |
//! | automatic commit names | what earlier polls delivered | everything delivered | what earlier polls delivered | everything delivered |
//!
//! What stays the same for every personality, because every client does it (or the scenario
//! sets it): `acks`, idempotence and at most 5 batches in flight (the scenario's), retries
//! bounded by the delivery timeout, `NotLeaderOrFollower` and timeouts retried with the same sequence after a metadata
//! refresh (Java `Sender.completeBatch` -> `canRetry`; librdkafka `rd_kafka_handle_Produce_error`
//! `RD_KAFKA_ERR_ACTION_RETRY|REFRESH`; franz-go `kerr.IsRetriable`), the commit on close and on
//! an explicit commit naming everything delivered (Java `commitSync()`/`close()` commit
//! `SubscriptionState.allConsumed`; franz-go's default `OnPartitionsRevoked` commits the dirty
//! offsets), and `OffsetEvicted` (Kafka's out-of-range below the log start) jumping to the
//! next available offset under reset policy `earliest` (what `ListOffsets(earliest)` answers).
//!
//! Timing settings (`delivery.timeout.ms`, `request.timeout.ms`, backoffs, auto-commit
//! interval) are the scenario's, not the personality's: scenarios shorten them to fit runs of
//! seconds.

use crate::consumer::ConsumerConfig;
use crate::policy::{
    CommitPositionPolicy, FollowerOutOfRangePolicy, LeaderOutOfRangePolicy, SequenceDesyncPolicy,
};
use crate::producer::ProducerConfig;
use serde::{Deserialize, Serialize};

/// A real client whose reactions a producer or consumer takes on. In files:
/// `personality = "java" | "librdkafka" | "franz-go" | "streamsim"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Personality {
    /// The Apache Kafka Java client (the most used).
    Java,
    /// librdkafka, the C client (and confluent-kafka-go/-python/-dotnet on top of it).
    Librdkafka,
    /// franz-go (`kgo`), the Go client.
    FranzGo,
    /// streamsim's own defensive client: every policy at its default.
    Streamsim,
}

impl Personality {
    /// Every personality, in the order files and docs list them.
    pub const ALL: [Personality; 4] = [
        Personality::Java,
        Personality::Librdkafka,
        Personality::FranzGo,
        Personality::Streamsim,
    ];

    /// The name files use.
    pub fn name(self) -> &'static str {
        match self {
            Personality::Java => "java",
            Personality::Librdkafka => "librdkafka",
            Personality::FranzGo => "franz-go",
            Personality::Streamsim => "streamsim",
        }
    }

    pub fn from_name(name: &str) -> Option<Personality> {
        Personality::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The policy deciding what a sequence desynchronization on the head batch does.
    pub fn sequence_desync_policy(self) -> SequenceDesyncPolicy {
        match self {
            Personality::Java => SequenceDesyncPolicy::BumpAndResend,
            Personality::Librdkafka => SequenceDesyncPolicy::FatalUnlessFirstAttempt,
            Personality::FranzGo => SequenceDesyncPolicy::BumpResendAndReport,
            Personality::Streamsim => SequenceDesyncPolicy::FailUnexplained,
        }
    }

    pub fn leader_out_of_range_policy(self) -> LeaderOutOfRangePolicy {
        match self {
            Personality::Java | Personality::Librdkafka => LeaderOutOfRangePolicy::ResetAtOnce,
            Personality::FranzGo => LeaderOutOfRangePolicy::ResetToNearest,
            Personality::Streamsim => LeaderOutOfRangePolicy::ConfirmHighWatermark,
        }
    }

    /// KIP-392 case 3 (an out-of-range from the follower a consumer reads from): every real
    /// client goes back to the leader. Java: `FetchCollector.handleInitializeErrors` clears the
    /// preferred read replica ("Unset the preferred read replica"). librdkafka:
    /// `rd_kafka_fetch_reply_handle_partition_error` "reverting to leader" when the position is
    /// above the answer's high watermark, which Kafka sets to -1 on an error answer
    /// (`ReplicaManager.readFromLog`), so always. franz-go: `kgo/source.go`, case 3 back to the
    /// leader (PR #886), case 4 `OffsetForLeaderEpoch` at the leader.
    pub fn follower_out_of_range_policy(self) -> FollowerOutOfRangePolicy {
        FollowerOutOfRangePolicy::BackToLeader
    }

    pub fn commit_position_policy(self) -> CommitPositionPolicy {
        match self {
            // Java: `ClassicKafkaConsumer.poll` -> `ConsumerCoordinator.poll` ->
            // `maybeAutoCommitOffsetsAsync` commits `allConsumed()` before the poll returns its
            // records. franz-go: autocommit commits "what has previously been polled" (the
            // `GreedyAutoCommit` option documents the default it overrides).
            Personality::Java | Personality::FranzGo => CommitPositionPolicy::PreviousPoll,
            // librdkafka: `enable.auto.offset.store=true` stores each message's offset + 1 as
            // it is handed to the application (`rdkafka_op.c`, `rd_kafka_fetch_op_app_prepare`),
            // and the auto-commit timer commits the stored
            // offsets (`rd_kafka_cgrp_offsets_commit`): everything delivered.
            Personality::Librdkafka | Personality::Streamsim => {
                CommitPositionPolicy::NextUndelivered
            }
        }
    }

    /// Sets this personality's producer policies (the bug catalog may override them after).
    pub fn apply_to_producer(self, config: &mut ProducerConfig) {
        config.sequence_desync_policy = self.sequence_desync_policy();
    }

    /// Sets this personality's consumer policies (the bug catalog may override them after).
    pub fn apply_to_consumer(self, config: &mut ConsumerConfig) {
        config.leader_out_of_range_policy = self.leader_out_of_range_policy();
        config.follower_out_of_range_policy = self.follower_out_of_range_policy();
        config.commit_position_policy = self.commit_position_policy();
    }
}

impl From<Personality> for String {
    fn from(personality: Personality) -> String {
        personality.name().to_string()
    }
}

impl TryFrom<String> for Personality {
    type Error = String;
    fn try_from(name: String) -> Result<Personality, String> {
        Personality::from_name(&name).ok_or_else(|| {
            let names: Vec<&str> = Personality::ALL.iter().map(|p| p.name()).collect();
            format!(
                "'{name}' is not a client personality (one of {})",
                names.join(", ")
            )
        })
    }
}

impl std::fmt::Display for Personality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::Subscription;

    #[test]
    fn streamsim_is_every_default() {
        let mut producer = ProducerConfig::new("producer-0");
        Personality::Streamsim.apply_to_producer(&mut producer);
        assert_eq!(producer, ProducerConfig::new("producer-0"));
        let fresh = || ConsumerConfig::new("consumer-0", Subscription::Assign(Vec::new()));
        let mut consumer = fresh();
        Personality::Streamsim.apply_to_consumer(&mut consumer);
        assert_eq!(consumer, fresh());
    }

    #[test]
    fn every_real_client_differs_from_streamsim() {
        for personality in [
            Personality::Java,
            Personality::Librdkafka,
            Personality::FranzGo,
        ] {
            let mut producer = ProducerConfig::new("producer-0");
            personality.apply_to_producer(&mut producer);
            assert_ne!(producer, ProducerConfig::new("producer-0"), "{personality}");
            let fresh = || ConsumerConfig::new("consumer-0", Subscription::Assign(Vec::new()));
            let mut consumer = fresh();
            personality.apply_to_consumer(&mut consumer);
            assert_ne!(consumer, fresh(), "{personality}");
        }
    }

    #[test]
    fn names_round_trip() {
        for personality in Personality::ALL {
            assert_eq!(
                Personality::from_name(personality.name()),
                Some(personality)
            );
        }
        assert_eq!(Personality::from_name("kafka"), None);
    }
}
