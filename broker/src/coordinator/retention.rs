//! Offset retention (KIP-211, `offsets.retention.minutes`): which committed offsets expire, and
//! the check the coordinator runs at its ticks every `offsets_retention_check_interval_ms`.
//!
//! When an offset expires (`retention` = [`GroupConfig::offsets_retention_ms`]):
//! - a group that never had members (simple commits, Kafka's protocol type `None`): at its
//!   commit time + retention;
//! - an Empty group: at max(when it became Empty, its commit time) + retention (Kafka counts
//!   from the Empty time alone when it has one; counting from the later of the two never
//!   expires an offset Kafka would keep);
//! - a group with members: never, under the default [`OffsetExpiryPolicy::WhenEmpty`]. Under
//!   [`OffsetExpiryPolicy::CommitTimestamp`] (KAFKA-13636) a rebalancing `consumer` group with
//!   known subscribed topics (those of its last generation, see `Group::subscribed_topics`)
//!   loses the offsets of the other topics at commit time + retention.
//!
//! An expiry is journaled (a tombstone in the offsets journal) before it is reported with
//! [`ExpiredOffsets`]: a restart does not bring the offsets back, and nothing is reported that
//! a crash could undo. A failed write expires nothing; the next check tries again.

use super::group::{Group, GroupConfig, GroupState};
use crate::api::TopicPartition;
use crate::codec::Reader;
use crate::offsets::{CommittedOffset, COMMITS_PER_REQUEST_MAX};
use crate::policy::OffsetExpiryPolicy;
use std::collections::BTreeSet;

/// Kafka's `ConsumerProtocol.PROTOCOL_TYPE`.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Offsets the coordinator deleted by retention, durably: the history's `offsets_expired`
/// (docs/history-format.md), which the controller reports as
/// `ControllerEvent::OffsetsExpired`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredOffsets {
    pub group: String,
    /// In (topic, partition) order.
    pub partitions: Vec<TopicPartition>,
    /// The group's state at the check (`None`: the group never had membership state, only
    /// simple commits). Not part of the history event: for coverage marks.
    pub group_state: Option<GroupState>,
}

/// From when an offset's retention counts, for one group at one check.
enum Expiry<'a> {
    /// Never expires now.
    Never,
    /// Retention counts from the commit.
    CommitTime,
    /// Retention counts from the later of the commit and the group's Empty time.
    EmptySince(u64),
    /// KAFKA-13636: from the commit, for topics outside the given set.
    CommitTimeOutside(&'a BTreeSet<String>),
}

fn expiry<'a>(group: Option<&'a Group>, policy: OffsetExpiryPolicy) -> Expiry<'a> {
    let Some(group) = group else {
        return Expiry::CommitTime;
    };
    if group.protocol_type.is_none() {
        // Never had a member (only pending member ids or simple commits).
        return Expiry::CommitTime;
    }
    match (group.state, policy) {
        (GroupState::Empty, _) => Expiry::EmptySince(group.state_timestamp_ms),
        (
            GroupState::PreparingRebalance | GroupState::CompletingRebalance,
            OffsetExpiryPolicy::CommitTimestamp,
        ) if group.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE) => {
            match &group.subscribed_topics {
                Some(topics) => Expiry::CommitTimeOutside(topics),
                None => Expiry::Never,
            }
        }
        _ => Expiry::Never,
    }
}

impl Expiry<'_> {
    fn expired(
        &self,
        topic: &str,
        committed: CommittedOffset,
        now_ms: u64,
        retention: u64,
    ) -> bool {
        let since = match self {
            Expiry::Never => return false,
            Expiry::CommitTime => committed.commit_timestamp_ms,
            Expiry::EmptySince(empty) => committed.commit_timestamp_ms.max(*empty),
            Expiry::CommitTimeOutside(topics) => {
                if topics.contains(topic) {
                    return false;
                }
                committed.commit_timestamp_ms
            }
        };
        now_ms >= since.saturating_add(retention)
    }
}

impl<S: crate::storage::Storage + Clone> super::GroupCoordinator<S> {
    /// Runs the retention check if it is due: deletes (durably) every expired offset and
    /// collects what it deleted for [`super::GroupCoordinator::take_expired`].
    pub(super) fn check_retention(&mut self, now_ms: u64) {
        if now_ms < self.next_retention_check_ms {
            return;
        }
        let config: &GroupConfig = &self.config;
        self.next_retention_check_ms =
            now_ms.saturating_add(config.offsets_retention_check_interval_ms.max(1));
        let retention = config.offsets_retention_ms;
        let policy = config.offset_expiry_policy;
        for group_id in self.offsets.groups() {
            let group = self.groups.get(&group_id);
            let rule = expiry(group, policy);
            let expired: Vec<(String, u32)> = self
                .offsets
                .group_entries(&group_id)
                .filter(|(key, committed)| rule.expired(&key.topic, *committed, now_ms, retention))
                .map(|(key, _)| (key.topic.clone(), key.partition))
                .collect();
            let group_state = group.map(|g| g.state);
            for chunk in expired.chunks(COMMITS_PER_REQUEST_MAX) {
                if let Err(error) = self.offsets.delete(&group_id, chunk) {
                    tracing::debug!(group = %group_id, %error, "expired offsets not deleted");
                    break;
                }
                self.expired.push(ExpiredOffsets {
                    group: group_id.clone(),
                    partitions: chunk
                        .iter()
                        .map(|(topic, partition)| TopicPartition::new(topic, *partition))
                        .collect(),
                    group_state,
                });
            }
        }
    }
}

/// Kafka's `computeSubscribedTopics`: for a `consumer` group, the union of the topics in its
/// members' subscriptions for the chosen protocol (the empty set without members); `None` for
/// another protocol type, without a chosen protocol, or when a subscription does not decode.
pub(crate) fn subscribed_topics(group: &Group) -> Option<BTreeSet<String>> {
    if group.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
        return None;
    }
    if group.members.is_empty() {
        return Some(BTreeSet::new());
    }
    let protocol = group.protocol_name.as_deref()?;
    let mut topics = BTreeSet::new();
    for member in group.members.values() {
        let metadata = member
            .protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.as_ref())
            .unwrap_or_default();
        topics.extend(subscription_topics(metadata)?);
    }
    Some(topics)
}

/// The topics of a Kafka consumer protocol subscription (`ConsumerProtocolSubscription`, read
/// as its version-0 prefix, which every version starts with: a version, the topics, the user
/// data); `None` if it does not decode.
pub fn subscription_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut reader = Reader::new(metadata);
    if reader.i16()? < 0 {
        return None;
    }
    let count = usize::try_from(reader.i32()?).ok()?;
    let mut topics = Vec::new();
    for _ in 0..count {
        let len = usize::try_from(reader.i16()?).ok()?;
        topics.push(String::from_utf8(reader.take(len)?.to_vec()).ok()?);
    }
    // The user data: nullable bytes.
    let user_data = reader.i32()?;
    if user_data >= 0 {
        reader.take(user_data as usize)?;
    } else if user_data != -1 {
        return None;
    }
    Some(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    /// A Kafka consumer subscription of `version` (later versions add fields after these).
    pub(crate) fn subscription(version: i16, topics: &[&str]) -> Vec<u8> {
        let mut buf = Vec::new();
        buf.put_i16(version);
        buf.put_i32(topics.len() as i32);
        for topic in topics {
            buf.put_i16(topic.len() as i16);
            buf.put_slice(topic.as_bytes());
        }
        buf.put_i32(-1);
        if version >= 1 {
            buf.put_i32(0); // owned partitions
        }
        buf
    }

    #[test]
    fn subscriptions_decode_by_their_version_zero_prefix() {
        assert_eq!(
            subscription_topics(&subscription(0, &["a", "b"])),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(
            subscription_topics(&subscription(3, &["orders"])),
            Some(vec!["orders".to_string()])
        );
        let good = subscription(1, &["orders"]);
        for cut in 0..10 {
            assert_eq!(subscription_topics(&good[..cut]), None, "cut at {cut}");
        }
        assert_eq!(subscription_topics(b"sub-range"), None);
        assert_eq!(subscription_topics(&subscription(-1, &["a"])), None);
    }

    #[test]
    fn an_offset_expires_from_the_later_of_its_commit_and_the_empty_time() {
        let committed = CommittedOffset {
            offset: 1,
            commit_timestamp_ms: 100,
        };
        assert!(!Expiry::EmptySince(500).expired("t", committed, 1_499, 1_000));
        assert!(Expiry::EmptySince(500).expired("t", committed, 1_500, 1_000));
        assert!(Expiry::CommitTime.expired("t", committed, 1_100, 1_000));
        assert!(!Expiry::Never.expired("t", committed, u64::MAX, 0));
        let topics: BTreeSet<String> = ["t".to_string()].into();
        assert!(!Expiry::CommitTimeOutside(&topics).expired("t", committed, 5_000, 1_000));
        assert!(Expiry::CommitTimeOutside(&topics).expired("u", committed, 5_000, 1_000));
        // No overflow with an endless retention.
        assert!(!Expiry::CommitTime.expired("t", committed, u64::MAX - 1, u64::MAX));
    }
}
