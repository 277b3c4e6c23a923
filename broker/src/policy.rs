//! The broker's behaviour policies: each names one decision the broker (or its controller, or a
//! partition log) makes, and the ways it can make it. The `Default` of each is the correct
//! behaviour; the other variants are behaviours real systems had, which the bug catalog
//! (`scenarios::bugs`) switches back on by setting these fields of the configs:
//!
//! | policy | config field | default |
//! |---|---|---|
//! | [`SegmentViewPolicy`] | `LogConfig::segment_view_policy` | `Current` |
//! | [`HighWatermarkPolicy`] | `BrokerConfig::high_watermark_policy` | `MaximalIsr` |
//! | [`TruncationPolicy`] | `BrokerConfig::truncation_policy` | `LeaderEpoch` |
//! | [`ElectionPolicy`] | `ControllerConfig::election_policy` | `IsrOnly` |
//! | [`IsrEligibilityPolicy`] | `ControllerConfig::isr_eligibility_policy` | `BrokerEpochs` |
//! | [`ConsumerFetchRangePolicy`] | `BrokerConfig::consumer_fetch_range_policy` | `CurrentLogEnd` |
//! | [`OffsetExpiryPolicy`] | `ControllerConfig::groups` (`GroupConfig::offset_expiry_policy`) | `WhenEmpty` |
//!
//! Code branches on these values, never on a bug's name; state a non-default variant needs lives
//! next to the code of that variant (e.g. the log's cached segment view in `log/read/cached.rs`).

use serde::{Deserialize, Serialize};

/// Which segments a partition log's reads look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegmentViewPolicy {
    /// Plan a read from the current segments and check the plan again when it executes: an
    /// offset retention removed in between answers `OffsetEvicted` with the current log start,
    /// a deleted or cut segment is planned again (fluvio PR #3902).
    #[default]
    Current,
    /// Plan from a cached segment view that retention never updates (appends, rolls, truncations
    /// and reopening do), and execute the plan as it is: a read of an offset whose segment
    /// retention deleted opens the deleted file, and the storage's "not found" (or the view's
    /// "segment not found") is answered as an internal error (fluvio #3891).
    CachedIgnoringRetention,
}

/// How far a leader moves the high watermark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HighWatermarkPolicy {
    /// To the smallest log end among the leader and every member of the maximal ISR (the
    /// controller's ISR plus any member the leader asked to add): a record counts as committed
    /// once every in-sync replica has it.
    #[default]
    MaximalIsr,
    /// To the leader's own log end at once: acks=all is answered before replication, and a
    /// leader change loses what only the old leader had (the pre-KIP-101 family, KAFKA-1211).
    LeaderLogEnd,
}

/// How a follower finds where its log diverged from its leader's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TruncationPolicy {
    /// KIP-101/KIP-279: a follower of a new leader asks where its latest leader epoch ends at
    /// the leader (`OffsetForLeaderEpoch`) and truncates a divergent tail before it fetches;
    /// after out-of-range while ahead of the leader, it asks again.
    #[default]
    LeaderEpoch,
    /// Kafka 0.10's out-of-range handling: a follower of a new leader fetches at once; after
    /// out-of-range while ahead of the leader it asks for the leader's log end (`ListOffsets`)
    /// and cuts only what lies beyond it, keeping any divergent records below.
    LeaderLogEnd,
    /// KIP-101 without KIP-279: the leader answers `OffsetForLeaderEpoch` with an end offset
    /// alone, and the follower truncates to it (or its own log end) without asking which epoch
    /// the leader answered for. After a fast double fail-over the leader may not know the
    /// follower's latest epoch at all and answers the end of an older one, which lies past
    /// where the follower's own records of that older epoch end: the follower keeps a tail
    /// written in an epoch the leader never had (KAFKA-6361).
    EpochEndOffsetOnly,
}

/// Whom the controller may elect when a partition needs a leader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ElectionPolicy {
    /// The first live ISR member in replica order; with none alive the partition stays
    /// offline.
    #[default]
    IsrOnly,
    /// As `IsrOnly`, but with no live ISR member the first live replica, which becomes the
    /// whole ISR (Kafka's `unclean.leader.election.enable=true`): acknowledged records it
    /// missed are lost.
    AnyLiveReplica,
}

/// Which proposed ISR members the controller lets join.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IsrEligibilityPolicy {
    /// KIP-903: a joining member must be unfenced and its broker epoch - the incarnation the
    /// leader saw it fetch with - must be its current registration's: a broker that restarted
    /// since (maybe with an empty disk) is refused (`IneligibleReplica`).
    #[default]
    BrokerEpochs,
    /// Before KIP-903: any unfenced replica may join, whatever incarnation caught up. A
    /// proposal built from fetches of a broker's previous life, answered after it restarted
    /// with an empty disk, puts the empty replica in the ISR, from where it can be elected and
    /// lose committed records (KAFKA-14139).
    IdsOnly,
}

/// Which log end a leader checks a consumer's fetch offset against (beyond it: `OffsetOutOfRange`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsumerFetchRangePolicy {
    /// The log end now: the records an append wrote and the end that admits fetches of them are
    /// one state (KAFKA-2477's fix, apache/kafka PR #204, 0.9.0.0: `Log.read` takes the log end
    /// once and reads no further than it).
    #[default]
    CurrentLogEnd,
    /// The log end before the latest append, for
    /// [`UNPUBLISHED_APPEND_MS`](crate::core::UNPUBLISHED_APPEND_MS) after it: the append's
    /// records are in the log (followers fetch them, the high watermark moves over them) before
    /// the end the check reads catches up. Kafka 0.8.2's `Log.read` compared the fetch offset with
    /// `nextOffsetMetadata`, which an append moved only after writing its records to the segment
    /// (KAFKA-2477); a consumer caught up past the old end is answered `OffsetOutOfRange` for an
    /// offset at or below a high watermark it was shown.
    EndBeforeLatestAppend,
}

/// Which committed offsets of a group with members the coordinator's retention check may delete
/// (`offsets.retention.minutes`; the group coordinator's `GroupConfig::offset_expiry_policy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OffsetExpiryPolicy {
    /// KIP-211: a group with members never loses its offsets. An empty group's offsets expire
    /// once the retention has passed since the group became empty and since their commit; the
    /// offsets of a group that never had members (simple commits) once it has passed since
    /// their commit. With KAFKA-13636's fix (apache/kafka PR #11742, `is(Stable)` added to the
    /// non-empty case of `removeExpiredOffsets`) no offset expires while the group rebalances.
    #[default]
    WhenEmpty,
    /// Kafka 2.4 (KIP-496, apache/kafka PR #7276) to 3.1 (KAFKA-13636):
    /// `GroupMetadata.removeExpiredOffsets` let a non-empty
    /// `consumer` group expire, by commit time, the offsets of the topics outside the
    /// subscribed topics computed when its last generation formed (or when it became empty)
    /// also while it rebalances (`PreparingRebalance`, `CompletingRebalance`), where that set
    /// is stale. After the group was empty it is the empty set: while the first members rejoin
    /// (the initial rebalance delay) every offset committed longer than the retention ago is
    /// deleted, though the group just stopped being empty. (Kafka keeps the rule in `Stable`
    /// for topics no member subscribes to, KIP-496; neither policy models that.)
    CommitTimestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_correct_broker() {
        assert_eq!(SegmentViewPolicy::default(), SegmentViewPolicy::Current);
        assert_eq!(
            HighWatermarkPolicy::default(),
            HighWatermarkPolicy::MaximalIsr
        );
        assert_eq!(TruncationPolicy::default(), TruncationPolicy::LeaderEpoch);
        assert_eq!(ElectionPolicy::default(), ElectionPolicy::IsrOnly);
        assert_eq!(
            IsrEligibilityPolicy::default(),
            IsrEligibilityPolicy::BrokerEpochs
        );
        assert_eq!(
            ConsumerFetchRangePolicy::default(),
            ConsumerFetchRangePolicy::CurrentLogEnd
        );
        assert_eq!(OffsetExpiryPolicy::default(), OffsetExpiryPolicy::WhenEmpty);
    }
}
