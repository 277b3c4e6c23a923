//! The consumer group's partition assignors and Kafka's consumer protocol: pure functions, no
//! state, no IO. The group leader calls [`assign`] with every member's [`Subscription`] (decoded
//! from the JoinGroup answer's member metadata by [`decode_subscription`]) and the partition count
//! of each topic, and sends each member its share ([`encode_assignment`]) in SyncGroup.
//!
//! # Assignors
//!
//! - [`Assignor::Range`] (`"range"`, the eager protocol): Kafka's `RangeAssignor`. Per topic, the
//!   members subscribed to it, sorted as Kafka sorts them (static members by group instance id
//!   first, then dynamic members by member id), get contiguous ranges of its partitions; the
//!   first `partitions % members` get one more. Owned partitions and generations are ignored (in
//!   the eager protocol every member gives up everything before it rejoins).
//! - [`Assignor::CooperativeSticky`] (`"cooperative-sticky"`, the cooperative protocol): Kafka's
//!   `CooperativeStickyAssignor` (`AbstractStickyAssignor` plus the cooperative adjustment):
//!   1. *Valid claims.* A member's `owned` partitions count only if its subscription generation
//!      is the highest among the members (`None` is below every generation), it still subscribes
//!      to the topic and the partition exists. A partition claimed by two members of that highest
//!      generation is claimed by neither (Kafka cannot tell whose claim is right).
//!   2. *Balanced sticky assignment.* When all members subscribe to the same topics (the common
//!      case, Kafka's `ConstrainedAssignmentBuilder`): every member ends with `⌊P/N⌋` or `⌈P/N⌉`
//!      partitions; members keep their valid claims up to that quota (the first `P % N` members,
//!      by member id, that claim at least `⌈P/N⌉` keep that many; a member keeps the first of
//!      its claims by partition number, then topic), and the rest is dealt round-robin, by
//!      member id, to the members below quota. Otherwise (Kafka's `GeneralAssignmentBuilder`) a
//!      min-cost flow finds the assignment with the smallest sum of squared member counts
//!      (so two members with the same subscriptions differ by at most one, and a partition sits
//!      with a less loaded member whenever the subscriptions allow it), and among those, the one
//!      that keeps the most valid claims.
//!   3. *Cooperative adjustment.* A partition given to a member that does not hold a valid claim
//!      on it, while another member claims it (validly or not), is left out of the new owner's
//!      assignment: the claimer's assignment leaves it out too, so it revokes it, and rejoins;
//!      the follow-up rebalance (where nobody claims it any more) gives it out. No partition is
//!      handed to a member while another member taking part in the rebalance claims it.
//!
//! # Guarantees (with [`OwnedClaimsPolicy::HighestGeneration`], the correct one)
//!
//! - Every member given is in the result, possibly with no partitions; each member's list is
//!   sorted by topic, then partition.
//! - No partition is in two members' assignments; only partitions of topics the member
//!   subscribes to and that exist are assigned.
//! - Range and the sticky assignment without claims assign every partition of every subscribed
//!   topic. With claims, the cooperative adjustment may leave partitions out for one generation;
//!   when every member rejoins owning what it was given (having revoked the rest), the follow-up
//!   assignment gives every subscribed partition to exactly one member and takes nothing away
//!   (`tests.rs` checks this for arbitrary groups).
//! - Deterministic: the result depends only on the set of members (members are sorted by member
//!   id; no hash map iteration), not on their order in the input. Member ids are unique in a group;
//!   should the input repeat one, only its smallest entry is used.
//!
//! # What is not modelled
//!
//! - Rack-aware assignment (KIP-881): the `rack` of a subscription is carried on the wire but
//!   never consulted, as if no partition had rack information.
//! - Kafka's other assignors (`roundrobin`, the eager `sticky`, Streams' and Connect's) and user
//!   data of any assignor: we write none, and read it only for a pre-v2 generation (see
//!   [`decode_subscription`]).
//! - Kafka's general (unequal subscriptions) sticky algorithm itself: its heuristic
//!   (`performReassignments`) can stop at an assignment where a chain of moves would still
//!   improve balance; ours is optimal, so the two can choose different assignments there.
//!   With equal subscriptions we follow Kafka's algorithm, with member-id order where Kafka
//!   iterates a hash map.
//! - Kafka 3.6+ (KAFKA-14639, apache/kafka PR #13550) honours an older generation's claim on a
//!   partition no newer member claims; we follow Kafka 3.0-3.5 (after KAFKA-12984), where only
//!   the highest generation's claims count, but unlike it we still withhold such a partition
//!   from its new owner while the older member claims it (the adjustment above). Kafka
//!   3.0-3.5's constrained algorithm handed it over at once, in the same rebalance that revoked
//!   it from the older member (what KAFKA-14639's title describes); its general algorithm
//!   withheld it, as we do.
//! - Kafka compares topic names as UTF-16 code units, we compare bytes: orders differ only for
//!   topic names or ids mixing characters beyond U+FFFF with ones in U+E000..U+FFFF.
//!
//! # The catalog bug
//!
//! [`OwnedClaimsPolicy::IgnoreGeneration`] models the `CooperativeStickyAssignor` from Kafka
//! 2.4 until KAFKA-12984 (apache/kafka PR #10985, "make AbstractStickyAssignor resilient to
//! invalid input, utilize generation in cooperative", merged in July 2021 and cherry-picked to
//! 3.0). Its `memberData` returned no generation, so every member's `ownedPartitions` counted,
//! whatever generation the member last took part in, and the constrained algorithm added each
//! member's owned partitions to that member's assignment (up to its quota) without looking
//! whether another member claimed them too. The claims go stale when the consumer fails to
//! reset its `SubscriptionState`: it fell out of the group, or its SyncGroup was answered
//! REBALANCE_IN_PROGRESS and it rejoined with the old partitions (KAFKA-12983, KAFKA-13419). A
//! member rejoining with partitions that had since moved kept them, and so did their new owner,
//! which claimed them too: one partition in two members' assignments of one generation. When
//! the extra partitions broke the quotas, Kafka threw instead ("Some consumers are under
//! capacity...") and the rebalance failed; the leader's `ConsumerCoordinator` check of a
//! cooperative assignment could fail on such stale claims too, and the group was stuck
//! rebalancing (KAFKA-13406; fixed for 3.1 by skipping that check for the built-in assignor,
//! apache/kafka PR #11439).
//!
//! The model keeps the double assignment, not the failures: every claim counts (no generation,
//! no conflict detection), and every member that claims a partition several members claim keeps
//! it, beyond its quota if need be (Kafka kept it while within the quota, in hash-map order; so
//! the model is a little more eager to double-assign, and some other member may end below the
//! balanced count where Kafka would have thrown). Everything else (balance, stickiness, the
//! cooperative adjustment for partitions a member does not claim) works as with the correct
//! policy.

mod codec;
mod range;
mod sticky;

#[cfg(test)]
mod tests;

pub use codec::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
    ConsumerProtocolError, ASSIGNMENT_VERSION, SUBSCRIPTION_VERSION,
};

use protocol::api::TopicPartition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Kafka's `ConsumerProtocol.PROTOCOL_TYPE`: the `protocol_type` of a consumer group's JoinGroup.
pub const PROTOCOL_TYPE: &str = "consumer";

/// A partition assignor, named on the wire (JoinGroup's protocol names) as Kafka names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assignor {
    /// Kafka's `RangeAssignor`.
    Range,
    /// Kafka's `CooperativeStickyAssignor`.
    CooperativeSticky,
}

/// How a group rebalances (Kafka's `ConsumerPartitionAssignor.RebalanceProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebalanceProtocol {
    /// Every member revokes all its partitions before it rejoins.
    Eager,
    /// Members keep their partitions through the rebalance and revoke only those their new
    /// assignment leaves out (KIP-429); a member that revoked any rejoins at once.
    Cooperative,
}

impl Assignor {
    pub const ALL: [Assignor; 2] = [Assignor::Range, Assignor::CooperativeSticky];

    /// The protocol name Kafka's clients use in JoinGroup.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The assignor of a JoinGroup protocol name.
    pub fn from_name(name: &str) -> Option<Assignor> {
        Assignor::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The protocol a group using this assignor rebalances with.
    pub fn rebalance_protocol(self) -> RebalanceProtocol {
        match self {
            Assignor::Range => RebalanceProtocol::Eager,
            Assignor::CooperativeSticky => RebalanceProtocol::Cooperative,
        }
    }
}

/// Which members' `owned` claims the cooperative sticky assignor believes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnedClaimsPolicy {
    /// Only claims of members whose subscription generation is the highest in the group; a
    /// partition claimed by two such members counts as claimed by neither (Kafka 3.0-3.5,
    /// after KAFKA-12984).
    #[default]
    HighestGeneration,
    /// Every member's claims, whatever its generation, and every claimer keeps a partition
    /// several members claim: the same partition in two assignments of one generation (Kafka
    /// 2.4-3.0's `CooperativeStickyAssignor`, before KAFKA-12984; KAFKA-13406 is the same stale
    /// claims' other symptom; bug name `sticky-stale-claims`). See the module docs.
    IgnoreGeneration,
}

/// What a member tells the leader in JoinGroup (Kafka's `ConsumerProtocolSubscription`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subscription {
    /// The topics the member wants to read.
    pub topics: Vec<String>,
    /// The partitions it owns now (the cooperative protocol; empty in the eager one).
    pub owned: Vec<TopicPartition>,
    /// The generation in which it was last given its assignment; `None` if never (Kafka's -1).
    pub generation: Option<u32>,
    /// Its `client.rack` (KIP-881); carried, not used.
    pub rack: Option<String>,
}

/// One member of the group as the leader sees it in the JoinGroup answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberSubscription {
    pub member_id: String,
    /// KIP-345 static membership: the member's `group.instance.id`.
    pub group_instance_id: Option<String>,
    pub subscription: Subscription,
}

/// Each member's partitions for the next generation: every member present (possibly with none),
/// each list sorted. See the module docs for what each assignor guarantees; `partitions` is the
/// partition count of each topic (topics missing from it, or with no partitions, get nothing).
/// `policy` matters only to [`Assignor::CooperativeSticky`].
pub fn assign(
    assignor: Assignor,
    members: &[MemberSubscription],
    partitions: &BTreeMap<String, u32>,
    policy: OwnedClaimsPolicy,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let members = unique_members(members);
    let mut assignment = match assignor {
        Assignor::Range => range::assign(&members, partitions),
        Assignor::CooperativeSticky => sticky::assign(&members, partitions, policy),
    };
    for partitions in assignment.values_mut() {
        partitions.sort();
        partitions.dedup();
    }
    assignment
}

/// The members sorted by member id, one entry per id (its smallest, should the input repeat one).
fn unique_members(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort();
    sorted.dedup_by(|later, earlier| later.member_id == earlier.member_id);
    sorted
}

#[cfg(test)]
mod names_tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_kafkas() {
        for assignor in Assignor::ALL {
            assert_eq!(Assignor::from_name(assignor.name()), Some(assignor));
        }
        assert_eq!(Assignor::Range.name(), "range");
        assert_eq!(Assignor::CooperativeSticky.name(), "cooperative-sticky");
        assert_eq!(Assignor::from_name("roundrobin"), None);
        assert_eq!(Assignor::from_name("Range"), None);
    }

    #[test]
    fn protocols() {
        assert_eq!(
            Assignor::Range.rebalance_protocol(),
            RebalanceProtocol::Eager
        );
        assert_eq!(
            Assignor::CooperativeSticky.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
    }

    #[test]
    fn the_default_policy_is_the_correct_one() {
        assert_eq!(
            OwnedClaimsPolicy::default(),
            OwnedClaimsPolicy::HighestGeneration
        );
        assert_eq!(
            serde_json::to_string(&OwnedClaimsPolicy::IgnoreGeneration).unwrap(),
            "\"ignore-generation\""
        );
        assert_eq!(
            serde_json::to_string(&Assignor::CooperativeSticky).unwrap(),
            "\"cooperative-sticky\""
        );
    }

    #[test]
    fn repeated_member_ids_keep_the_smallest_entry() {
        let a = MemberSubscription {
            member_id: "m".into(),
            group_instance_id: None,
            subscription: Subscription {
                topics: vec!["b".into()],
                ..Subscription::default()
            },
        };
        let b = MemberSubscription {
            subscription: Subscription {
                topics: vec!["a".into()],
                ..Subscription::default()
            },
            ..a.clone()
        };
        let ab = [a.clone(), b.clone()];
        let ba = [b.clone(), a];
        assert_eq!(unique_members(&ab), unique_members(&ba));
        assert_eq!(unique_members(&ab), vec![&b]);
    }
}
