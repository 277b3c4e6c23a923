//! Properties of both assignors over arbitrary groups: completeness, exclusivity, balance,
//! stickiness, the cooperative adjustment and its follow-up, determinism, and the catalog bug.

use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const TOPICS: [&str; 3] = ["a", "b", "c"];

type Assignment = BTreeMap<String, Vec<TopicPartition>>;

#[derive(Debug, Clone)]
struct Group {
    partitions: BTreeMap<String, u32>,
    members: Vec<MemberSubscription>,
}

fn topics() -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(TOPICS.to_vec(), 0..=TOPICS.len())
        .prop_map(|ts| ts.into_iter().map(str::to_string).collect())
}

fn partition_counts() -> impl Strategy<Value = BTreeMap<String, u32>> {
    proptest::collection::vec(0u32..8, TOPICS.len()).prop_map(|counts| {
        TOPICS
            .iter()
            .zip(counts)
            .map(|(t, n)| (t.to_string(), n))
            .collect()
    })
}

fn member_id(i: usize) -> String {
    // Not in index order, so member-id order differs from generation order.
    format!("m{}", (i * 7) % 10)
}

/// A group without claims; all members subscribe to the same topics when `equal`.
fn fresh_group(equal: bool) -> impl Strategy<Value = Group> {
    (
        partition_counts(),
        topics(),
        proptest::collection::vec((topics(), proptest::option::of("[xy][0-9]")), 1..7),
    )
        .prop_map(move |(partitions, shared, members)| Group {
            partitions,
            members: members
                .into_iter()
                .enumerate()
                .map(|(i, (own, instance))| MemberSubscription {
                    member_id: member_id(i),
                    group_instance_id: instance,
                    subscription: Subscription {
                        topics: if equal { shared.clone() } else { own },
                        ..Subscription::default()
                    },
                })
                .collect(),
        })
}

/// A group whose members claim arbitrary partitions (some missing, some claimed twice) with
/// arbitrary generations.
fn claiming_group(equal: bool) -> impl Strategy<Value = Group> {
    let claims = proptest::collection::vec(
        proptest::collection::vec((0..TOPICS.len(), 0u32..9), 0..6),
        6,
    );
    let generations = proptest::collection::vec(proptest::option::of(0u32..4), 6);
    (fresh_group(equal), claims, generations).prop_map(|(mut group, claims, generations)| {
        for (i, member) in group.members.iter_mut().enumerate() {
            member.subscription.owned = claims[i]
                .iter()
                .map(|&(t, p)| TopicPartition::new(TOPICS[t], p))
                .collect();
            member.subscription.generation = generations[i];
        }
        group
    })
}

fn run(assignor: Assignor, group: &Group, policy: OwnedClaimsPolicy) -> Assignment {
    assign(assignor, &group.members, &group.partitions, policy)
}

fn subscribes(member: &MemberSubscription, topic: &str) -> bool {
    member.subscription.topics.iter().any(|t| t == topic)
}

/// Every partition some member may read.
fn subscribed_partitions(group: &Group) -> BTreeSet<TopicPartition> {
    group
        .partitions
        .iter()
        .filter(|(topic, _)| group.members.iter().any(|m| subscribes(m, topic)))
        .flat_map(|(topic, &n)| (0..n).map(move |p| TopicPartition::new(topic, p)))
        .collect()
}

fn member<'a>(group: &'a Group, id: &str) -> &'a MemberSubscription {
    group.members.iter().find(|m| m.member_id == id).unwrap()
}

/// Every member present, only partitions it subscribes to and that exist, none twice.
fn check_exclusive(group: &Group, got: &Assignment) -> Result<(), TestCaseError> {
    let ids: BTreeSet<&String> = group.members.iter().map(|m| &m.member_id).collect();
    prop_assert_eq!(got.keys().collect::<BTreeSet<_>>(), ids);
    let mut seen = BTreeSet::new();
    for (id, partitions) in got {
        let m = member(group, id);
        let mut sorted = partitions.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(&sorted, partitions, "{} not sorted or repeats", id);
        for tp in partitions {
            prop_assert!(subscribes(m, &tp.topic), "{} got {} unsubscribed", id, tp);
            prop_assert!(
                tp.partition < group.partitions[&*tp.topic],
                "{} got missing {}",
                id,
                tp
            );
            prop_assert!(seen.insert(tp.clone()), "{} assigned twice: {:?}", tp, got);
        }
    }
    Ok(())
}

fn check_complete(group: &Group, got: &Assignment) -> Result<(), TestCaseError> {
    check_exclusive(group, got)?;
    let assigned: BTreeSet<TopicPartition> = got.values().flatten().cloned().collect();
    prop_assert_eq!(assigned, subscribed_partitions(group), "{:?}", got);
    Ok(())
}

/// No partition could move to a member with two fewer partitions that subscribes to its topic
/// (so members with the same subscriptions differ by at most one).
fn check_balanced(group: &Group, got: &Assignment) -> Result<(), TestCaseError> {
    for (from, partitions) in got {
        for (to, theirs) in got {
            let movable = partitions
                .iter()
                .any(|tp| subscribes(member(group, to), &tp.topic));
            prop_assert!(
                !movable || partitions.len() <= theirs.len() + 1,
                "{} has {} and {} only {}: {:?}",
                from,
                partitions.len(),
                to,
                theirs.len(),
                got
            );
        }
    }
    Ok(())
}

/// The members after a rebalance: each owns what it was given (it revoked the rest) and took
/// part in `generation`.
fn rejoined(group: &Group, got: &Assignment, generation: u32) -> Group {
    let mut next = group.clone();
    for m in &mut next.members {
        m.subscription.owned = got[&m.member_id].clone();
        m.subscription.generation = Some(generation);
    }
    next
}

/// Claims the correct policy believes: the member is the only claimer of the highest
/// generation, subscribes to the topic, and the partition exists.
fn valid_claims(group: &Group) -> BTreeMap<TopicPartition, String> {
    let generation = |m: &MemberSubscription| m.subscription.generation.map_or(-1, i64::from);
    let highest = group.members.iter().map(generation).max().unwrap_or(-1);
    let mut claimers: BTreeMap<TopicPartition, BTreeSet<&str>> = BTreeMap::new();
    for m in group.members.iter().filter(|m| generation(m) == highest) {
        for tp in &m.subscription.owned {
            claimers.entry(tp.clone()).or_default().insert(&m.member_id);
        }
    }
    claimers
        .into_iter()
        .filter_map(|(tp, ids)| {
            let [id] = ids.into_iter().collect::<Vec<_>>()[..] else {
                return None;
            };
            let m = member(group, id);
            let exists = group
                .partitions
                .get(&*tp.topic)
                .is_some_and(|&n| tp.partition < n);
            (exists && subscribes(m, &tp.topic)).then(|| (tp, id.to_string()))
        })
        .collect()
}

/// The cooperative rule: a partition given to a member it is not validly claimed by is claimed
/// by no other member.
fn check_cooperative(group: &Group, got: &Assignment) -> Result<(), TestCaseError> {
    let valid = valid_claims(group);
    for (id, partitions) in got {
        for tp in partitions {
            if valid.get(tp) == Some(id) {
                continue;
            }
            for other in group.members.iter().filter(|m| &m.member_id != id) {
                prop_assert!(
                    !other.subscription.owned.contains(tp),
                    "{} given to {} while {} claims it: {:?}",
                    tp,
                    id,
                    other.member_id,
                    got
                );
            }
        }
    }
    Ok(())
}

/// The follow-up rebalance after `got`: everything assigned, nothing taken away.
fn check_follow_up(group: &Group, got: &Assignment, generation: u32) -> Result<(), TestCaseError> {
    let next = rejoined(group, got, generation);
    let follow_up = run(
        Assignor::CooperativeSticky,
        &next,
        OwnedClaimsPolicy::default(),
    );
    check_complete(&next, &follow_up)?;
    check_balanced(&next, &follow_up)?;
    for (id, partitions) in got {
        for tp in partitions {
            prop_assert!(
                follow_up[id].contains(tp),
                "{} lost {} in the follow-up",
                id,
                tp
            );
        }
    }
    Ok(())
}

fn shuffled_is_same(
    assignor: Assignor,
    group: &Group,
    policy: OwnedClaimsPolicy,
    order: &[usize],
) -> Result<(), TestCaseError> {
    let expected = run(assignor, group, policy);
    prop_assert_eq!(&run(assignor, group, policy), &expected);
    let mut permuted = group.clone();
    permuted.members = order
        .iter()
        .map(|&i| group.members[i % group.members.len()].clone())
        .collect();
    // `order` may repeat members: repeats must not matter either.
    let present: BTreeSet<&String> = permuted.members.iter().map(|m| &m.member_id).collect();
    let mut restricted = group.clone();
    restricted
        .members
        .retain(|m| present.contains(&m.member_id));
    prop_assert_eq!(
        run(assignor, &permuted, policy),
        run(assignor, &restricted, policy)
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn range_assigns_everything_once(group in fresh_group(false)) {
        let got = run(Assignor::Range, &group, OwnedClaimsPolicy::default());
        check_complete(&group, &got)?;
        // Per topic, subscribers' shares differ by at most one.
        for topic in group.partitions.keys() {
            let shares: Vec<usize> = got
                .iter()
                .filter(|(id, _)| subscribes(member(&group, id), topic))
                .map(|(_, ps)| ps.iter().filter(|tp| *tp.topic == **topic).count())
                .collect();
            if let (Some(min), Some(max)) = (shares.iter().min(), shares.iter().max()) {
                prop_assert!(max - min <= 1, "{}: {:?}", topic, got);
            }
        }
    }

    #[test]
    fn sticky_assigns_a_new_group_completely_and_balanced(
        group in any::<bool>().prop_flat_map(fresh_group),
    ) {
        let got = run(Assignor::CooperativeSticky, &group, OwnedClaimsPolicy::default());
        check_complete(&group, &got)?;
        check_balanced(&group, &got)?;
    }

    /// A group rebalances after members left and joined and partitions were added: nothing is
    /// handed over while its owner still holds it, and the follow-up assigns everything.
    #[test]
    fn sticky_rebalances_cooperatively(
        start in fresh_group(false),
        equal in any::<bool>(),
        leave in proptest::collection::vec(any::<bool>(), 6),
        join in proptest::collection::vec(topics(), 0..3),
        growth in proptest::collection::vec(0u32..3, TOPICS.len()),
    ) {
        let mut start = start;
        if equal {
            let shared = start.members[0].subscription.topics.clone();
            for m in &mut start.members {
                m.subscription.topics = shared.clone();
            }
        }
        let first = run(Assignor::CooperativeSticky, &start, OwnedClaimsPolicy::default());
        let mut group = rejoined(&start, &first, 1);
        let mut i = 0;
        group.members.retain(|_| { i += 1; !leave[i - 1] });
        for (j, topics) in join.into_iter().enumerate() {
            let topics = if equal { start.members[0].subscription.topics.clone() } else { topics };
            group.members.push(MemberSubscription {
                member_id: format!("new{j}"),
                group_instance_id: None,
                subscription: Subscription { topics, ..Subscription::default() },
            });
        }
        for (count, extra) in group.partitions.values_mut().zip(growth) {
            *count += extra;
        }
        let second = run(Assignor::CooperativeSticky, &group, OwnedClaimsPolicy::default());
        check_exclusive(&group, &second)?;
        check_cooperative(&group, &second)?;
        // Whatever a survivor owned went to nobody else (check_cooperative); the follow-up gives
        // out what was held back, balanced, taking nothing away.
        check_follow_up(&group, &second, 2)?;
    }

    /// Arbitrary (even contradictory) claims: still exclusive and cooperative under the correct
    /// policy, and the follow-up converges.
    #[test]
    fn sticky_survives_arbitrary_claims(group in any::<bool>().prop_flat_map(claiming_group)) {
        let got = run(Assignor::CooperativeSticky, &group, OwnedClaimsPolicy::default());
        check_exclusive(&group, &got)?;
        check_cooperative(&group, &got)?;
        check_follow_up(&group, &got, 9)?;
    }

    /// With equal subscriptions, as many valid claims are kept as the quotas allow.
    #[test]
    fn sticky_keeps_as_many_claims_as_balance_allows(group in claiming_group(true)) {
        let got = run(Assignor::CooperativeSticky, &group, OwnedClaimsPolicy::default());
        let valid = valid_claims(&group);
        let total = subscribed_partitions(&group).len();
        let n = group.members.len();
        let (min_quota, max_quota, at_max) = (total / n, total.div_ceil(n), total % n);
        let claims: Vec<usize> = group
            .members
            .iter()
            .map(|m| valid.values().filter(|id| **id == m.member_id).count())
            .collect();
        let best = claims.iter().map(|&c| c.min(min_quota)).sum::<usize>()
            + claims.iter().filter(|&&c| c >= max_quota && at_max > 0).count().min(at_max);
        let kept = got
            .iter()
            .map(|(id, ps)| ps.iter().filter(|tp| valid.get(*tp) == Some(id)).count())
            .sum::<usize>();
        prop_assert_eq!(kept, best, "{:?}", got);
    }

    #[test]
    fn both_assignors_are_deterministic_and_ignore_member_order(
        group in any::<bool>().prop_flat_map(claiming_group),
        order in proptest::collection::vec(0usize..6, 1..9),
    ) {
        for assignor in Assignor::ALL {
            for policy in [OwnedClaimsPolicy::default(), OwnedClaimsPolicy::IgnoreGeneration] {
                shuffled_is_same(assignor, &group, policy, &order)?;
            }
        }
    }

    /// The catalog bug: a partition two subscribed members claim, whatever their generations,
    /// ends in both members' assignments (the correct policy never assigns a partition twice:
    /// `sticky_survives_arbitrary_claims`).
    #[test]
    fn the_bug_policy_double_assigns_contested_partitions(
        group in any::<bool>().prop_flat_map(claiming_group),
    ) {
        let bad = run(Assignor::CooperativeSticky, &group, OwnedClaimsPolicy::IgnoreGeneration);
        for tp in subscribed_partitions(&group) {
            let claimers: Vec<&MemberSubscription> = group
                .members
                .iter()
                .filter(|m| m.subscription.owned.contains(&tp) && subscribes(m, &tp.topic))
                .collect();
            if claimers.len() > 1 {
                for m in claimers {
                    let kept = bad[&m.member_id].contains(&tp);
                    prop_assert!(kept, "{} not kept by {}: {:?}", tp, m.member_id, bad);
                }
            }
        }
    }
}

/// A worked example across three generations, as the group membership code will drive it.
#[test]
fn three_generations_of_a_cooperative_group() {
    let partitions: BTreeMap<String, u32> = [("orders".to_string(), 4)].into();
    let joiner = |id: &str| MemberSubscription {
        member_id: id.into(),
        group_instance_id: None,
        subscription: Subscription {
            topics: vec!["orders".into()],
            ..Subscription::default()
        },
    };
    let g1 = Group {
        partitions: partitions.clone(),
        members: vec![joiner("a")],
    };
    let first = run(
        Assignor::CooperativeSticky,
        &g1,
        OwnedClaimsPolicy::default(),
    );
    assert_eq!(first["a"].len(), 4);
    let mut g2 = rejoined(&g1, &first, 1);
    g2.members.push(joiner("b"));
    let second = run(
        Assignor::CooperativeSticky,
        &g2,
        OwnedClaimsPolicy::default(),
    );
    // a keeps two, revokes two; b gets nothing yet.
    assert_eq!(
        second["a"],
        vec![
            TopicPartition::new("orders", 0),
            TopicPartition::new("orders", 1)
        ]
    );
    assert_eq!(second["b"], vec![]);
    let g3 = rejoined(&g2, &second, 2);
    let third = run(
        Assignor::CooperativeSticky,
        &g3,
        OwnedClaimsPolicy::default(),
    );
    assert_eq!(third["a"], second["a"]);
    assert_eq!(
        third["b"],
        vec![
            TopicPartition::new("orders", 2),
            TopicPartition::new("orders", 3)
        ]
    );
}
