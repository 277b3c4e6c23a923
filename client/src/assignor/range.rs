//! Kafka's `RangeAssignor` (without racks): per topic, its subscribers in Kafka's member order
//! get contiguous ranges, the first `partitions % subscribers` one partition more.

use super::MemberSubscription;
use protocol::api::TopicPartition;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// `members`: sorted by member id, unique.
pub(super) fn assign(
    members: &[&MemberSubscription],
    partitions: &BTreeMap<String, u32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut assignment: BTreeMap<String, Vec<TopicPartition>> = members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect();
    for (topic, &count) in partitions {
        let mut subscribers: Vec<&MemberSubscription> = members
            .iter()
            .copied()
            .filter(|m| m.subscription.topics.iter().any(|t| t == topic))
            .collect();
        if subscribers.is_empty() {
            continue;
        }
        subscribers.sort_by(|a, b| kafka_member_order(a, b));
        let n = subscribers.len() as u32;
        let (per_member, extra) = (count / n, count % n);
        for (i, member) in (0u32..).zip(&subscribers) {
            let start = per_member * i + i.min(extra);
            let len = per_member + u32::from(i < extra);
            let list = assignment
                .get_mut(&member.member_id)
                .expect("every member has an entry");
            list.extend((start..start + len).map(|p| TopicPartition::new(topic, p)));
        }
    }
    assignment
}

/// Kafka's `MemberInfo.compareTo`: static members first, by group instance id, then dynamic
/// members by member id (ties, which Kafka leaves to its sort's stability, by member id).
fn kafka_member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    let by_instance = match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    by_instance.then_with(|| a.member_id.cmp(&b.member_id))
}

#[cfg(test)]
mod tests {
    use super::super::{assign, Assignor, OwnedClaimsPolicy, Subscription};
    use super::*;

    fn tp(topic: &str, partition: u32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    fn member(id: &str, instance: Option<&str>, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.into(),
            group_instance_id: instance.map(str::to_string),
            subscription: Subscription {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                ..Subscription::default()
            },
        }
    }

    fn counts(topics: &[(&str, u32)]) -> BTreeMap<String, u32> {
        topics.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn range(
        members: &[MemberSubscription],
        topics: &[(&str, u32)],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        assign(
            Assignor::Range,
            members,
            &counts(topics),
            OwnedClaimsPolicy::default(),
        )
    }

    /// The example of Kafka's `RangeAssignor` javadoc: two consumers, two topics of three
    /// partitions each.
    #[test]
    fn kafkas_javadoc_example() {
        let members = [
            member("C1", None, &["t1", "t0"]),
            member("C0", None, &["t0", "t1"]),
        ];
        let got = range(&members, &[("t0", 3), ("t1", 3)]);
        assert_eq!(
            got["C0"],
            vec![tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)]
        );
        assert_eq!(got["C1"], vec![tp("t0", 2), tp("t1", 2)]);
    }

    /// The shapes of Kafka's `RangeAssignorTest`: uneven splits, partly shared topics, more
    /// consumers than partitions.
    #[test]
    fn uneven_splits() {
        let got = range(
            &[
                member("consumer1", None, &["topic"]),
                member("consumer2", None, &["topic"]),
            ],
            &[("topic", 3)],
        );
        assert_eq!(got["consumer1"], vec![tp("topic", 0), tp("topic", 1)]);
        assert_eq!(got["consumer2"], vec![tp("topic", 2)]);

        // Only consumer2 subscribes to topic2.
        let got = range(
            &[
                member("consumer1", None, &["topic1"]),
                member("consumer2", None, &["topic1", "topic2"]),
            ],
            &[("topic1", 3), ("topic2", 2)],
        );
        assert_eq!(got["consumer1"], vec![tp("topic1", 0), tp("topic1", 1)]);
        assert_eq!(
            got["consumer2"],
            vec![tp("topic1", 2), tp("topic2", 0), tp("topic2", 1)]
        );

        // More consumers than partitions: the last ones get nothing.
        let got = range(
            &[
                member("a", None, &["t"]),
                member("b", None, &["t"]),
                member("c", None, &["t"]),
            ],
            &[("t", 2)],
        );
        assert_eq!(got["a"], vec![tp("t", 0)]);
        assert_eq!(got["b"], vec![tp("t", 1)]);
        assert_eq!(got["c"], vec![]);
    }

    /// Static members are ordered by instance id, before dynamic ones, whatever their member
    /// ids, so a static member rejoining under a new member id keeps its range.
    #[test]
    fn static_members_sort_by_instance_id_first() {
        let members = [
            member("z-dynamic", None, &["t"]),
            member("a-1", Some("instance-2"), &["t"]),
            member("b-1", Some("instance-1"), &["t"]),
        ];
        let got = range(&members, &[("t", 5)]);
        assert_eq!(got["b-1"], vec![tp("t", 0), tp("t", 1)]);
        assert_eq!(got["a-1"], vec![tp("t", 2), tp("t", 3)]);
        assert_eq!(got["z-dynamic"], vec![tp("t", 4)]);
        // A static member rejoining under a new member id keeps its range.
        let rejoined = [
            member("z-dynamic", None, &["t"]),
            member("a-2", Some("instance-2"), &["t"]),
            member("b-1", Some("instance-1"), &["t"]),
        ];
        assert_eq!(range(&rejoined, &[("t", 5)])["a-2"], got["a-1"]);
    }

    #[test]
    fn unknown_topics_and_unsubscribed_members() {
        let members = [member("a", None, &["missing"]), member("b", None, &[])];
        let got = range(&members, &[("t", 4), ("empty", 0)]);
        assert_eq!(got.len(), 2);
        assert!(got.values().all(Vec::is_empty));
        assert!(range(&[], &[("t", 4)]).is_empty());
    }

    #[test]
    fn claims_and_generations_do_not_matter() {
        let mut claimer = member("b", None, &["t"]);
        claimer.subscription.owned = vec![tp("t", 0), tp("t", 1)];
        claimer.subscription.generation = Some(3);
        let got = range(&[member("a", None, &["t"]), claimer], &[("t", 2)]);
        assert_eq!(got["a"], vec![tp("t", 0)]);
        assert_eq!(got["b"], vec![tp("t", 1)]);
    }
}
