//! The clients' behaviour policies: each names one decision the producer or the consumer makes,
//! and the ways real clients have made it. The `Default` of each is the correct behaviour; the
//! bug catalog (`scenarios::bugs`) switches the others back on by setting these fields, and a
//! client's "personality" is a set of these values.
//!
//! | policy | config field | default |
//! |---|---|---|
//! | [`ProducerStateLossPolicy`] | `ProducerConfig::producer_state_loss_policy` | `BumpEpoch` |
//! | [`PartitionDiscoveryPolicy`] | `ProducerConfig::partition_discovery_policy` | `FollowMetadata` |
//! | [`CommitPositionPolicy`] | `ConsumerConfig::commit_position_policy` | `NextUndelivered` |
//! | [`OffsetEvictedPolicy`] | `ConsumerConfig::offset_evicted_policy` | `SkipToNextAvailable` |
//! | [`FollowerOutOfRangePolicy`] | `ConsumerConfig::follower_out_of_range_policy` | `BackToLeader` |
//! | [`SequenceDesyncPolicy`] | `ProducerConfig::sequence_desync_policy` | `FailUnexplained` |
//! | [`LeaderOutOfRangePolicy`] | `ConsumerConfig::leader_out_of_range_policy` | `ConfirmHighWatermark` |
//! | [`RevokedOffsetsPolicy`] | `ConsumerConfig::revoked_offsets_policy` | `Drop` |
//! | [`OwnedClaimsPolicy`] | `ConsumerConfig::owned_claims_policy` | `HighestGeneration` |
//! | [`LostPartitionsPolicy`] | `ConsumerConfig::lost_partitions_policy` | `Forget` |
//!
//! The last two (and `CommitPositionPolicy::PreviousPoll`) name how real clients react where
//! they differ from streamsim's own defensive client; every default is streamsim's own
//! behaviour, and [`crate::personality::Personality`] sets the values of a real client.
//!
//! Code branches on these values, never on a bug's name; state a non-default variant needs lives
//! in that variant's own place (e.g. the producer's `PartitionDiscovery`).

use serde::{Deserialize, Serialize};

pub use crate::assignor::OwnedClaimsPolicy;

/// What a cooperative group member that learns it was expelled (`UnknownMemberId`,
/// `IllegalGeneration`) claims at its next join.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LostPartitionsPolicy {
    /// Nothing: its partitions were lost (Kafka's `onPartitionsLost`) and may have new owners.
    #[default]
    Forget,
    /// It stops reading them but still names them as owned, with their old generation, in its
    /// next JoinGroup subscription (Kafka 2.4-3.0's consumer did not clear its owned partitions
    /// when it rejoined after such an error, KAFKA-12983 / KAFKA-13419). Harmless with an
    /// assignor that ignores claims of older generations; with one that trusts them
    /// ([`OwnedClaimsPolicy::IgnoreGeneration`]) the partition goes to two members.
    KeepClaiming,
}

/// What a group member does with the positions of the partitions a rebalance takes from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevokedOffsetsPolicy {
    /// Commit what was delivered of them, then forget them: a member commits only partitions
    /// it owns (Kafka's Java client; librdkafka since v1.9).
    #[default]
    Drop,
    /// Revoke without committing, keep what was stored of them and commit it with the next
    /// commit after the rebalance, under the new generation, when the partitions may have a
    /// new owner that committed further (librdkafka #2782: "offsets stored before a rebalance
    /// committed after reassignment"; fixed in v1.9.0, which no longer commits offsets of
    /// partitions that are not assigned).
    KeepStored,
}

/// What the producer does when the broker answers a batch `UnknownProducerId` (it forgot the
/// producer: its state expired, or retention removed its records). `OutOfOrderSequence` and
/// `InvalidProducerEpoch` always take the `BumpEpoch` path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProducerStateLossPolicy {
    /// KIP-360 with franz-go's rule (PR #834): when the log start passed the last acknowledged
    /// offset nothing was lost: bump the epoch and retry (a batch that may already be written
    /// completes as unknown instead); otherwise the oldest batch fails as data loss, and the
    /// producer bumps its epoch and goes on.
    #[default]
    BumpEpoch,
    /// Restart the partition's sequences at 0 under the same epoch, at once, resending batches
    /// in flight or possibly written: the broker takes a resent batch as a new producer's first
    /// and writes it again (the reset KIP-360 forbids).
    ResetWithoutBump,
    /// Give up: every pending and every later send fails (franz-go before PR #834, #805).
    Fatal,
}

/// Which partitions of a topic the producer sends to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionDiscoveryPolicy {
    /// Every partition the latest metadata has, including partitions added later.
    #[default]
    FollowMetadata,
    /// The partitions the topic had when the producer first saw it; later ones are never used
    /// (fluvio #4079).
    FixedAtFirstSight,
}

/// Which offset the consumer commits for a partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitPositionPolicy {
    /// The offset after the last record delivered to the application (Kafka's convention).
    #[default]
    NextUndelivered,
    /// The last delivered record's own offset: after a restart that record is delivered again
    /// (fluvio #4505's "yielding N commits N-1", in Kafka's convention).
    LastDelivered,
    /// Automatic commits name the position after the records delivered by the polls before the
    /// latest one (the latest may still be processing); commits the application asks for and
    /// the commit on close name everything delivered. franz-go's default autocommit ("rather
    /// than committing what has previously been polled", `kgo/config.go`, `GreedyAutoCommit`)
    /// and the Java client's, which commits inside `poll()` before it returns new records
    /// (`ConsumerCoordinator.maybeAutoCommitOffsetsAsync`, `SubscriptionState.allConsumed`).
    PreviousPoll,
    /// The fetch position, delivered or not; in auto-commit mode with a flush interval of 0 a
    /// fetch that made progress asks for a commit at once: a crash before delivery loses the
    /// records (at-most-once).
    Fetched,
}

/// What the consumer does when a fetch is answered `OffsetEvicted { next_available }` by the
/// partition's leader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OffsetEvictedPolicy {
    /// Jump to `next_available` (fluvio PR #4511), or surface the error when the reset policy is
    /// `None`.
    #[default]
    SkipToNextAvailable,
    /// Fetch the same evicted offset again, with backoff, forever (fluvio #4514).
    RetrySameOffset,
}

/// What the consumer does when a KIP-392 follower it reads from answers `OffsetOutOfRange`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FollowerOutOfRangePolicy {
    /// Go back to the leader at once, with no reset (KIP-392's case 3; franz-go PR #886).
    #[default]
    BackToLeader,
    /// Reset as if the leader had answered out-of-range, but send the reset's `ListOffsets` to
    /// that follower, and keep sending it there (franz-go #885).
    ResetAtFollower,
}

/// What the idempotent producer does when the oldest unacknowledged batch of a partition, sent
/// while every older batch was acknowledged, is answered `OutOfOrderSequence`,
/// `UnknownProducerId` or `InvalidProducerEpoch` (under [`ProducerStateLossPolicy::BumpEpoch`]).
/// "Explained" below means the answer's log start offset is above the partition's last
/// acknowledged offset: retention removed the producer's records, and its state with them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SequenceDesyncPolicy {
    /// streamsim's defensive rule: explained, bump the epoch and resend (a batch that may
    /// already be written completes as unknown instead); unexplained, fail the batch as data
    /// loss, report it, bump the epoch and go on.
    #[default]
    FailUnexplained,
    /// The Java client (KIP-360): bump the epoch and resend the batch and every unacknowledged
    /// batch of the partition with new sequences, explained or not, written before or not; no
    /// data-loss report. `TransactionManager.canRetry` (UNKNOWN_PRODUCER_ID: "For the
    /// idempotent producer, always retry"; OUT_OF_ORDER_SEQUENCE_NUMBER: "retry all
    /// OUT_OF_ORDER_SEQUENCE_NUMBER errors ... we bump the epoch") and
    /// `TransactionManager.bumpIdempotentProducerEpoch` (`startSequencesAtBeginning` rewrites
    /// the in-flight batches of the partitions that asked for the bump).
    BumpAndResend,
    /// franz-go (`kgo/sink.go`, `handleReqRespBatch`, after PR #834): as `BumpAndResend`
    /// (`failProducerID(.., errReloadProducerID)`, then the batch is retried), and when the log
    /// start does not explain it the `onDataLoss` hook fires: counted as a data-loss report.
    BumpResendAndReport,
    /// librdkafka (`rdkafka_request.c`, `rd_kafka_handle_idempotent_Produce_error`):
    /// `UNKNOWN_PRODUCER_ID` on a batch that was never retried (a resend after a metadata refresh,
    /// e.g. for `NOT_LEADER_OR_FOLLOWER`, does not count: `rd_kafka_handle_Produce_error` sets
    /// `incr_retry = 0` on `RD_KAFKA_ERR_ACTION_REFRESH`): drain, bump the epoch and
    /// resend ("no risk of duplication/reordering: resetting PID and retrying");
    /// `UNKNOWN_PRODUCER_ID` on a retried batch ("unable to retry without risking
    /// duplication/reordering") and `OUT_OF_ORDER_SEQUENCE_NUMBER` on the head-of-line batch
    /// ("sequence desynchronization with broker") are fatal: the producer stops (every pending
    /// and later send fails) and tells the application (`rd_kafka_idemp_set_fatal_error`: the
    /// `error_cb` gets `RD_KAFKA_RESP_ERR__FATAL`), recorded as a `fatal` history event. The log
    /// start is not consulted.
    FatalUnlessFirstAttempt,
}

/// What the consumer does when the partition's leader answers a fetch `OffsetOutOfRange` (the
/// position is beyond the leader's log end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeaderOutOfRangePolicy {
    /// streamsim's defensive rule: first a `ListOffsets(latest)` to tell a lagging high
    /// watermark from a truncated log, then the reset policy.
    #[default]
    ConfirmHighWatermark,
    /// Reset at once per the reset policy (`auto.offset.reset`): the Java client
    /// (`FetchCollector.handleInitializeErrors`: "Fetch position .. is out of range ..,
    /// resetting offset" -> `SubscriptionState.requestOffsetResetIfPartitionAssigned`) and
    /// librdkafka (`rdkafka_fetcher.c`, `rd_kafka_fetch_reply_handle_partition_error` ->
    /// `rd_kafka_offset_reset`). With reset policy `latest`, an `OffsetEvicted` (Kafka's
    /// out-of-range below the log start) also resets to the latest offset.
    ResetAtOnce,
    /// franz-go (`kgo/source.go`, `OffsetOutOfRange` case): "resetting to the nearest offset"
    /// — once something was consumed, `ListOffsets` by the last consumed record's timestamp,
    /// which for a position beyond the log end is the end (modelled as `ListOffsets(latest)`);
    /// before anything was consumed, the reset policy.
    ResetToNearest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_correct_clients() {
        assert_eq!(
            ProducerStateLossPolicy::default(),
            ProducerStateLossPolicy::BumpEpoch
        );
        assert_eq!(
            PartitionDiscoveryPolicy::default(),
            PartitionDiscoveryPolicy::FollowMetadata
        );
        assert_eq!(
            CommitPositionPolicy::default(),
            CommitPositionPolicy::NextUndelivered
        );
        assert_eq!(
            OffsetEvictedPolicy::default(),
            OffsetEvictedPolicy::SkipToNextAvailable
        );
        assert_eq!(
            FollowerOutOfRangePolicy::default(),
            FollowerOutOfRangePolicy::BackToLeader
        );
        assert_eq!(
            SequenceDesyncPolicy::default(),
            SequenceDesyncPolicy::FailUnexplained
        );
        assert_eq!(
            LeaderOutOfRangePolicy::default(),
            LeaderOutOfRangePolicy::ConfirmHighWatermark
        );
    }
}
