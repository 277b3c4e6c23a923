//! Kafka's `CooperativeStickyAssignor`: valid claims, a balanced sticky assignment (Kafka's
//! constrained algorithm when all members subscribe to the same topics, an optimal min-cost flow
//! otherwise), then the cooperative adjustment. See the parent module's docs.

use super::{MemberSubscription, OwnedClaimsPolicy};
use protocol::api::TopicPartition;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// `members`: sorted by member id, unique.
pub(super) fn assign(
    members: &[&MemberSubscription],
    partitions: &BTreeMap<String, u32>,
    policy: OwnedClaimsPolicy,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let group = Group::new(members, partitions, policy);
    let held = group.balanced();
    members
        .iter()
        .zip(held)
        .enumerate()
        .map(|(m, (member, held))| {
            let kept = held
                .into_iter()
                .filter(|&p| !group.withheld(p, m))
                .map(|p| group.parts[p].clone())
                .collect();
            (member.member_id.clone(), kept)
        })
        .collect()
}

/// The assignment problem, by index: members `0..n` in member-id order, partitions `0..P` in
/// (topic, partition) order (only partitions of topics somebody subscribes to).
pub(super) struct Group {
    members: usize,
    parts: Vec<TopicPartition>,
    /// Per partition: the members subscribed to its topic, ascending.
    eligible: Vec<Vec<usize>>,
    /// Per partition: every member that claims it (any generation, subscribed or not), ascending.
    claimers: Vec<Vec<usize>>,
    /// Per partition: the members whose claim counts (see [`OwnedClaimsPolicy`]), ascending.
    valid: Vec<Vec<usize>>,
    /// Per member: the partitions it validly claims, in Kafka's keeping order (partition number,
    /// then topic).
    valid_claims: Vec<Vec<usize>>,
    policy: OwnedClaimsPolicy,
}

impl Group {
    pub(super) fn new(
        members: &[&MemberSubscription],
        partitions: &BTreeMap<String, u32>,
        policy: OwnedClaimsPolicy,
    ) -> Group {
        let mut parts = Vec::new();
        let mut eligible = Vec::new();
        let mut first_of_topic: BTreeMap<&str, (usize, u32)> = BTreeMap::new();
        for (topic, &count) in partitions {
            let subscribers: Vec<usize> = (0..members.len())
                .filter(|&m| members[m].subscription.topics.contains(topic))
                .collect();
            if count == 0 || subscribers.is_empty() {
                continue;
            }
            first_of_topic.insert(topic, (parts.len(), count));
            for p in 0..count {
                parts.push(TopicPartition::new(topic, p));
                eligible.push(subscribers.clone());
            }
        }
        let index_of = |tp: &TopicPartition| {
            let &(first, count) = first_of_topic.get(&*tp.topic)?;
            (tp.partition < count).then_some(first + tp.partition as usize)
        };
        let mut claimers = vec![Vec::new(); parts.len()];
        for (m, member) in members.iter().enumerate() {
            let claimed: BTreeSet<usize> = member
                .subscription
                .owned
                .iter()
                .filter_map(index_of)
                .collect();
            for p in claimed {
                claimers[p].push(m);
            }
        }
        // Kafka's DEFAULT_GENERATION (-1) for members that never had an assignment.
        let generation = |m: usize| members[m].subscription.generation.map_or(-1, i64::from);
        let highest = (0..members.len()).map(generation).max().unwrap_or(-1);
        let valid: Vec<Vec<usize>> = (0..parts.len())
            .map(|p| {
                let subscribed = |m: &usize| eligible[p].binary_search(m).is_ok();
                match policy {
                    OwnedClaimsPolicy::HighestGeneration => {
                        let current: Vec<usize> = claimers[p]
                            .iter()
                            .copied()
                            .filter(|&m| generation(m) == highest)
                            .collect();
                        match current.as_slice() {
                            [only] if subscribed(only) => vec![*only],
                            _ => Vec::new(),
                        }
                    }
                    OwnedClaimsPolicy::IgnoreGeneration => {
                        claimers[p].iter().copied().filter(subscribed).collect()
                    }
                }
            })
            .collect();
        let mut valid_claims = vec![Vec::new(); members.len()];
        for (p, claimers) in valid.iter().enumerate() {
            for &m in claimers {
                valid_claims[m].push(p);
            }
        }
        for claims in &mut valid_claims {
            claims.sort_by_key(|&p| (parts[p].partition, &*parts[p].topic));
        }
        Group {
            members: members.len(),
            parts,
            eligible,
            claimers,
            valid,
            valid_claims,
            policy,
        }
    }

    fn is_valid_claimer(&self, p: usize, m: usize) -> bool {
        self.valid[p].binary_search(&m).is_ok()
    }

    /// The cooperative adjustment: `m` may not take `p` yet when it does not validly own it and
    /// another member says it owns it (that member revokes it first).
    fn withheld(&self, p: usize, m: usize) -> bool {
        !self.is_valid_claimer(p, m) && self.claimers[p].iter().any(|&c| c != m)
    }

    /// Each member's partitions before the cooperative adjustment.
    pub(super) fn balanced(&self) -> Vec<Vec<usize>> {
        if self.members == 0 {
            return Vec::new();
        }
        let all_equal = self.eligible.iter().all(|e| e.len() == self.members);
        let mut held = if all_equal {
            self.constrained()
        } else {
            self.general()
        };
        if self.policy == OwnedClaimsPolicy::IgnoreGeneration {
            // The bug: each claimer of a partition several claim keeps it too. (The constrained
            // algorithm already let each keep its claims; the flow gave each partition to one.)
            for (p, claimers) in self.valid.iter().enumerate() {
                if claimers.len() < 2 {
                    continue;
                }
                for &m in claimers {
                    if !held[m].contains(&p) {
                        held[m].push(p);
                    }
                }
            }
        }
        held
    }

    /// Kafka's `ConstrainedAssignmentBuilder` (all members subscribe to every topic), iterating
    /// members in member-id order where Kafka iterates a hash map.
    fn constrained(&self) -> Vec<Vec<usize>> {
        let n = self.members;
        let total = self.parts.len();
        let min_quota = total / n;
        let max_quota = total.div_ceil(n);
        let expected_at_max = total % n;
        let mut at_max = 0;
        let mut held: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut taken = vec![false; total];
        // Members below the minimum quota, and members at it that may still take one more.
        let mut under: Vec<usize> = Vec::new();
        let mut at_min: VecDeque<usize> = VecDeque::new();
        for (m, claims) in self.valid_claims.iter().enumerate() {
            let keep = if claims.len() < min_quota {
                under.push(m);
                claims.len()
            } else if claims.len() >= max_quota && at_max < expected_at_max {
                at_max += 1;
                if at_max == expected_at_max {
                    at_min.clear();
                }
                max_quota
            } else {
                if at_max < expected_at_max {
                    at_min.push_back(m);
                }
                min_quota
            };
            held[m].extend_from_slice(&claims[..keep]);
            for &p in &claims[..keep] {
                taken[p] = true;
            }
        }
        // Round-robin over the members below quota, then one more each to those at the minimum.
        let mut cursor = 0;
        for p in (0..total).filter(|&p| !taken[p]) {
            let m = if cursor < under.len() {
                cursor += 1;
                under[cursor - 1]
            } else if !under.is_empty() {
                cursor = 1;
                under[0]
            } else if let Some(m) = at_min.pop_front() {
                m
            } else {
                // Kafka throws ("No more unfilled consumers"); reachable only when claims break
                // the quotas (the bug policy). Give it to the least loaded member.
                (0..n)
                    .min_by_key(|&m| held[m].len())
                    .expect("a group with members")
            };
            held[m].push(p);
            if held[m].len() == min_quota && cursor > 0 && under.get(cursor - 1) == Some(&m) {
                cursor -= 1;
                under.remove(cursor);
                at_min.push_back(m);
            }
        }
        held
    }

    /// The assignment with the smallest sum of squared member counts and, among those, the most
    /// valid claims kept: successive shortest paths in the flow network partition -> member
    /// (cost 1 for giving a validly claimed partition to another member, else 0) -> sink (the
    /// member's k-th partition costs `big * (2k - 1)`, `big` above any total of claim costs),
    /// adding one partition at a time in (topic, partition) order. Each step keeps the
    /// assignment optimal for the partitions placed so far; a path may move placed partitions
    /// along (member A takes the new one, gives one of its own to B, ...). Shortest paths by
    /// queue-based Bellman-Ford (the residual costs can be negative; there is no negative
    /// cycle), with ties to the first found in index order.
    fn general(&self) -> Vec<Vec<usize>> {
        let (np, nm) = (self.parts.len(), self.members);
        let big = np as i64 + 1;
        let sink = np + nm;
        let nodes = sink + 1;
        let mut owner: Vec<Option<usize>> = vec![None; np];
        let mut held: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nm];
        let mut dist = vec![i64::MAX; nodes];
        let mut pred = vec![usize::MAX; nodes];
        let mut queued = vec![false; nodes];
        let mut pushes = vec![0usize; nodes];
        let mut queue = VecDeque::new();
        for source in 0..np {
            dist.fill(i64::MAX);
            pred.fill(usize::MAX);
            queued.fill(false);
            pushes.fill(0);
            dist[source] = 0;
            queue.push_back(source);
            let mut cycle = false;
            while let Some(u) = queue.pop_front() {
                queued[u] = false;
                let d = dist[u];
                let mut relax = |v: usize, cost: i64| {
                    if d + cost < dist[v] {
                        dist[v] = d + cost;
                        pred[v] = u;
                        if !queued[v] && v != sink {
                            queued[v] = true;
                            pushes[v] += 1;
                            queue.push_back(v);
                            if pushes[v] > nodes {
                                cycle = true;
                            }
                        }
                    }
                };
                if u < np {
                    for &m in &self.eligible[u] {
                        if owner[u] != Some(m) {
                            relax(np + m, self.cost(u, m));
                        }
                    }
                } else {
                    let m = u - np;
                    relax(sink, big * (2 * held[m].len() as i64 + 1));
                    for &q in &held[m] {
                        relax(q, -self.cost(q, m));
                    }
                }
                if cycle {
                    break;
                }
            }
            if cycle {
                // Impossible while every step stays optimal; never loop forever on a bug.
                debug_assert!(false, "negative cycle in the sticky assignor's flow");
                queue.clear();
                let m = *self.eligible[source]
                    .iter()
                    .min_by_key(|&&m| held[m].len())
                    .expect("partitions have subscribers");
                owner[source] = Some(m);
                held[m].insert(source);
                continue;
            }
            // The path source, m1, q1, m2, ..., mk, sink: source goes to m1, q1 from m1 to m2...
            let mut path = Vec::new();
            let mut v = pred[sink];
            while v != source {
                path.push(v);
                v = pred[v];
            }
            path.push(source);
            path.reverse();
            for step in path.chunks(2) {
                let (q, m) = (step[0], step[1] - np);
                if let Some(previous) = owner[q] {
                    held[previous].remove(&q);
                }
                owner[q] = Some(m);
                held[m].insert(q);
            }
        }
        held.into_iter().map(|h| h.into_iter().collect()).collect()
    }

    /// What it costs to give `p` to `m` (beyond balance): 1 when another member validly claims it.
    fn cost(&self, p: usize, m: usize) -> i64 {
        i64::from(!self.valid[p].is_empty() && !self.is_valid_claimer(p, m))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{assign, Assignor, OwnedClaimsPolicy, Subscription};
    use super::*;

    fn tp(topic: &str, partition: u32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    fn member(
        id: &str,
        topics: &[&str],
        owned: &[TopicPartition],
        generation: Option<u32>,
    ) -> MemberSubscription {
        MemberSubscription {
            member_id: id.into(),
            group_instance_id: None,
            subscription: Subscription {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                owned: owned.to_vec(),
                generation,
                rack: None,
            },
        }
    }

    fn counts(topics: &[(&str, u32)]) -> BTreeMap<String, u32> {
        topics.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn sticky(
        members: &[MemberSubscription],
        topics: &[(&str, u32)],
        policy: OwnedClaimsPolicy,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        assign(
            Assignor::CooperativeSticky,
            members,
            &counts(topics),
            policy,
        )
    }

    fn t(partitions: &[u32]) -> Vec<TopicPartition> {
        partitions.iter().map(|&p| tp("t", p)).collect()
    }

    #[test]
    fn a_new_group_is_dealt_round_robin() {
        let members = [
            member("c", &["t"], &[], None),
            member("a", &["t"], &[], None),
            member("b", &["t"], &[], None),
        ];
        let got = sticky(&members, &[("t", 7)], OwnedClaimsPolicy::default());
        assert_eq!(got["a"], t(&[0, 3, 6]));
        assert_eq!(got["b"], t(&[1, 4]));
        assert_eq!(got["c"], t(&[2, 5]));
    }

    /// A member joins a group of three owning two partitions each: one partition moves, and it
    /// reaches its new owner only in the follow-up rebalance.
    #[test]
    fn a_joining_member_gets_a_moved_partition_one_generation_later() {
        let gen1 = [
            member("a", &["t"], &t(&[0, 1]), Some(1)),
            member("b", &["t"], &t(&[2, 3]), Some(1)),
            member("c", &["t"], &t(&[4, 5]), Some(1)),
            member("d", &["t"], &[], None),
        ];
        let gen2 = sticky(&gen1, &[("t", 6)], OwnedClaimsPolicy::default());
        assert_eq!(gen2["a"], t(&[0, 1]));
        assert_eq!(gen2["b"], t(&[2, 3]));
        // c keeps its first partition, revokes 5; d may not take 5 while c still owns it.
        assert_eq!(gen2["c"], t(&[4]));
        assert_eq!(gen2["d"], t(&[]));

        let gen2_members: Vec<MemberSubscription> = gen1
            .iter()
            .map(|m| member(&m.member_id, &["t"], &gen2[&m.member_id], Some(2)))
            .collect();
        let gen3 = sticky(&gen2_members, &[("t", 6)], OwnedClaimsPolicy::default());
        assert_eq!(gen3["a"], t(&[0, 1]));
        assert_eq!(gen3["b"], t(&[2, 3]));
        assert_eq!(gen3["c"], t(&[4]));
        assert_eq!(gen3["d"], t(&[5]));
    }

    /// A member leaves: nobody owns its partitions any more, so they go out at once, to the
    /// least loaded, and nobody else's move.
    #[test]
    fn a_departed_members_partitions_move_at_once() {
        let members = [
            member("a", &["t"], &t(&[0, 1]), Some(4)),
            member("c", &["t"], &t(&[4, 5]), Some(4)),
        ];
        let got = sticky(&members, &[("t", 6)], OwnedClaimsPolicy::default());
        assert_eq!(got["a"], t(&[0, 1, 2]));
        assert_eq!(got["c"], t(&[3, 4, 5]));
    }

    #[test]
    fn new_partitions_go_to_the_least_loaded() {
        let members = [
            member("a", &["t"], &t(&[0, 1, 2]), Some(2)),
            member("b", &["t"], &t(&[3]), Some(2)),
        ];
        let got = sticky(&members, &[("t", 6)], OwnedClaimsPolicy::default());
        assert_eq!(got["a"], t(&[0, 1, 2]));
        assert_eq!(got["b"], t(&[3, 4, 5]));
    }

    /// `a` missed generation 2 (it rejoins claiming what it had in generation 1); `b` got
    /// partition 0 in generation 2. The correct assignor believes only `b`; the buggy one
    /// believes both, and both keep partition 0.
    #[test]
    fn stale_claims_are_ignored_or_honoured_by_the_bug() {
        let members = [
            member("a", &["t"], &t(&[0, 1]), Some(1)),
            member("b", &["t"], &t(&[0, 2]), Some(2)),
            member("c", &["t"], &t(&[3]), Some(2)),
        ];
        let good = sticky(&members, &[("t", 4)], OwnedClaimsPolicy::HighestGeneration);
        assert_eq!(good["b"], t(&[0, 2]));
        assert_eq!(good["c"], t(&[3]));
        // Partition 1 is a's by a stale claim only: nobody else claims it, so a may keep it.
        assert_eq!(good["a"], t(&[1]));
        let owners_of_0 = good.values().filter(|ps| ps.contains(&tp("t", 0))).count();
        assert_eq!(owners_of_0, 1);

        let bad = sticky(&members, &[("t", 4)], OwnedClaimsPolicy::IgnoreGeneration);
        assert!(bad["a"].contains(&tp("t", 0)), "{bad:?}");
        assert!(bad["b"].contains(&tp("t", 0)), "{bad:?}");
    }

    /// A stale claim on a partition the balance gives to someone else: the new owner waits for
    /// the stale claimer to revoke it.
    #[test]
    fn a_stale_claim_still_holds_the_partition_back() {
        let members = [
            member("a", &["t"], &t(&[0, 1, 2]), Some(1)),
            member("b", &["t"], &[], Some(3)),
        ];
        let got = sticky(&members, &[("t", 4)], OwnedClaimsPolicy::HighestGeneration);
        // a's claims do not count: the round-robin gives a 0 and 2 (it claims them, nobody else
        // does, so it keeps them), b 1 (withheld: a still owns it) and 3.
        assert_eq!(got["a"], t(&[0, 2]));
        assert_eq!(got["b"], t(&[3]));
    }

    #[test]
    fn a_partition_two_current_members_claim_is_nobodys_claim() {
        let members = [
            member("a", &["t"], &t(&[0, 1]), Some(5)),
            member("b", &["t"], &t(&[1, 2]), Some(5)),
        ];
        let got = sticky(&members, &[("t", 4)], OwnedClaimsPolicy::HighestGeneration);
        assert!(got.values().all(|ps| !ps.contains(&tp("t", 1))), "{got:?}");
        assert_eq!(got["a"], t(&[0]));
        assert_eq!(got["b"], t(&[2, 3]));
        let bad = sticky(&members, &[("t", 4)], OwnedClaimsPolicy::IgnoreGeneration);
        assert!(bad["a"].contains(&tp("t", 1)) && bad["b"].contains(&tp("t", 1)));
    }

    /// Different subscriptions: `a` reads t1, `c` reads t2, `b` both. Balance puts two with each.
    #[test]
    fn unequal_subscriptions_are_balanced() {
        let members = [
            member("a", &["t1"], &[], None),
            member("b", &["t1", "t2"], &[], None),
            member("c", &["t2"], &[], None),
        ];
        let got = sticky(
            &members,
            &[("t1", 3), ("t2", 3)],
            OwnedClaimsPolicy::default(),
        );
        for (id, ps) in &got {
            assert_eq!(ps.len(), 2, "{id}: {got:?}");
        }
        assert!(got["a"].iter().all(|p| &*p.topic == "t1"));
        assert!(got["c"].iter().all(|p| &*p.topic == "t2"));
    }

    /// Unequal subscriptions with claims: `b` owned all of t1 and t2; `a` joins for t1 only and
    /// `c` for t2 only. Balance moves two partitions to each; they wait for b's revocation.
    #[test]
    fn unequal_subscriptions_are_sticky_and_cooperative() {
        let all: Vec<TopicPartition> = (0..3).flat_map(|p| [tp("t1", p), tp("t2", p)]).collect();
        let members = [
            member("a", &["t1"], &[], None),
            member("b", &["t1", "t2"], &all, Some(1)),
            member("c", &["t2"], &[], None),
        ];
        let partitions = counts(&[("t1", 3), ("t2", 3)]);
        let refs: Vec<&MemberSubscription> = members.iter().collect();
        let group = Group::new(&refs, &partitions, OwnedClaimsPolicy::default());
        let held = group.balanced();
        assert_eq!(held.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 2]);
        let got = sticky(
            &members,
            &[("t1", 3), ("t2", 3)],
            OwnedClaimsPolicy::default(),
        );
        assert_eq!(got["b"].len(), 2);
        assert!(got["a"].is_empty() && got["c"].is_empty(), "{got:?}");
    }

    #[test]
    fn claims_on_unsubscribed_or_missing_partitions_do_not_count() {
        let members = [
            member(
                "a",
                &["t"],
                &[tp("gone", 0), tp("t", 9), tp("u", 0)],
                Some(1),
            ),
            member("b", &["t", "u"], &[], Some(1)),
        ];
        let got = sticky(
            &members,
            &[("t", 2), ("u", 1)],
            OwnedClaimsPolicy::default(),
        );
        // a cannot keep u-0 (not subscribed); b may not take it before a revokes it.
        assert!(got.values().all(|ps| !ps.contains(&tp("u", 0))), "{got:?}");
        assert_eq!(got["a"].len() + got["b"].len(), 2);
    }

    #[test]
    fn empty_inputs() {
        let none: BTreeMap<String, u32> = BTreeMap::new();
        assert!(assign(
            Assignor::CooperativeSticky,
            &[],
            &none,
            OwnedClaimsPolicy::default()
        )
        .is_empty());
        let got = sticky(
            &[member("a", &["t"], &[], None)],
            &[("t", 0)],
            OwnedClaimsPolicy::default(),
        );
        assert_eq!(got["a"], vec![]);
    }

    /// (sum of squared counts, claims moved): what the assignment minimises, in that order.
    fn score(group: &Group, held: &[Vec<usize>]) -> (usize, i64) {
        let balance = held.iter().map(|h| h.len() * h.len()).sum();
        let moves = held
            .iter()
            .enumerate()
            .flat_map(|(m, h)| h.iter().map(move |&p| group.cost(p, m)))
            .sum();
        (balance, moves)
    }

    /// The best score over every assignment of every partition to an eligible member.
    fn brute_force(group: &Group) -> (usize, i64) {
        let np = group.parts.len();
        let mut choice = vec![0usize; np];
        let mut best = (usize::MAX, i64::MAX);
        loop {
            let mut held = vec![Vec::new(); group.members];
            for p in 0..np {
                held[group.eligible[p][choice[p]]].push(p);
            }
            best = best.min(score(group, &held));
            // Next combination, odometer style.
            let mut p = 0;
            loop {
                if p == np {
                    return best;
                }
                choice[p] += 1;
                if choice[p] < group.eligible[p].len() {
                    break;
                }
                choice[p] = 0;
                p += 1;
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 1024, ..Default::default() })]

        /// The flow finds the best assignment; with equal subscriptions, Kafka's constrained
        /// algorithm scores as well.
        #[test]
        fn the_flow_is_optimal(
            subscriptions in proptest::collection::vec(
                proptest::sample::subsequence(vec!["x", "y", "z"], 1..=3), 1..4),
            counts in proptest::collection::vec(0u32..3, 3),
            claims in proptest::collection::vec(
                proptest::collection::vec((0usize..3, 0u32..3), 0..4), 3),
            generations in proptest::collection::vec(proptest::option::of(0u32..2), 3),
        ) {
            let topics = ["x", "y", "z"];
            let members: Vec<MemberSubscription> = subscriptions
                .iter()
                .enumerate()
                .map(|(i, subscribed)| {
                    let owned: Vec<TopicPartition> =
                        claims[i].iter().map(|&(t, p)| tp(topics[t], p)).collect();
                    member(&format!("m{i}"), subscribed, &owned, generations[i])
                })
                .collect();
            let refs: Vec<&MemberSubscription> = members.iter().collect();
            let partitions: BTreeMap<String, u32> =
                topics.iter().zip(&counts).map(|(t, &n)| (t.to_string(), n)).collect();
            let group = Group::new(&refs, &partitions, OwnedClaimsPolicy::HighestGeneration);
            let best = brute_force(&group);
            proptest::prop_assert_eq!(score(&group, &group.general()), best);
            if group.eligible.iter().all(|e| e.len() == group.members) {
                proptest::prop_assert_eq!(score(&group, &group.constrained()), best);
            }
        }
    }
}
