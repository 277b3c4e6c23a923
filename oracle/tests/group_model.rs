//! Histories of a small correct model of a consumer group (eager and cooperative rebalances, commits in flight
//! across a rebalance, commits of unknown outcome, crashes, restarts, clean leaves, offsets that expire only when
//! the group is empty, a coordinator that forgets the group and counts generations from the start again) are
//! valid; a single bug injected into one is caught as the group anomaly it introduces.

use std::collections::{BTreeMap, BTreeSet};

use oracle::event::{CommitPhase, Event, Op, Record, Text, TopicPartition, TopicPartitionOffset};
use oracle::{check_events, AnomalyKind, CheckResult};
use proptest::prelude::*;

const GROUP: &str = "g";
const TOPIC: &str = "t";

/// splitmix64: the model's only source of choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A bug to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    None,
    /// A member commits a partition it revoked, with its new generation (librdkafka #2782).
    CommitRevoked,
    /// The assignor gives one partition to two members of a generation.
    DoubleAssign,
    /// The coordinator expires the offsets while the group has members; a member commits afterwards.
    ExpireNonEmpty,
    /// A new owner starts below the group's committed offset.
    StartBelowCommitted,
}

#[derive(Default)]
struct Consumer {
    alive: bool,
    /// Wants to be in the group (started and not left).
    wants_in: bool,
    member: Option<String>,
    /// What it owns and its position in each.
    positions: BTreeMap<u32, u64>,
    /// Commits invoked and not answered yet: (partition, offset, generation).
    in_flight: Vec<(u32, u64, u32)>,
}

struct Model {
    rng: Rng,
    events: Vec<Event<'static>>,
    time: u64,
    partitions: u32,
    cooperative: bool,
    consumers: Vec<Consumer>,
    /// The coordinator: its generation, its members (consumer indexes), the committed offsets.
    generation: u32,
    members: Vec<usize>,
    committed: BTreeMap<u32, u64>,
    /// The partitions with a commit ok recorded since the last expiry.
    acked: BTreeSet<u32>,
    next_member: u64,
    bug: Bug,
    /// Whether the bug was injected (some need the right moment).
    injected: bool,
}

fn text(value: impl Into<String>) -> Text<'static> {
    Text::Owned(value.into())
}

fn process(index: usize) -> String {
    format!("c{index}")
}

impl Model {
    fn record(&mut self, index: Option<usize>, op: Op<'static>) {
        self.time += 1;
        let process = index.map_or("cluster".to_string(), process);
        self.events.push(Event::new(self.time, process, op));
    }

    fn commit_op(
        phase: CommitPhase,
        partition: u32,
        offset: u64,
        generation: u32,
        error: Option<&str>,
    ) -> Op<'static> {
        Op::Commit {
            phase,
            topic: text(TOPIC),
            partition,
            offset,
            group: Some(text(GROUP)),
            generation: Some(generation),
            error: error.map(text),
        }
    }

    /// A synchronous commit of everything `index` owns (the coordinator stores it).
    fn commit_owned(&mut self, index: usize, generation: u32) {
        let owned: Vec<(u32, u64)> = self.consumers[index]
            .positions
            .iter()
            .map(|(&p, &o)| (p, o))
            .collect();
        for (partition, offset) in owned {
            if offset > 0 {
                self.commit_one(index, partition, offset, generation);
            }
        }
    }

    fn commit_one(&mut self, index: usize, partition: u32, offset: u64, generation: u32) {
        self.record(
            Some(index),
            Model::commit_op(CommitPhase::Invoke, partition, offset, generation, None),
        );
        self.committed.insert(partition, offset);
        self.record(
            Some(index),
            Model::commit_op(CommitPhase::Ok, partition, offset, generation, None),
        );
        self.acked.insert(partition);
    }

    /// The range assignor over the members, in member order.
    fn range(&self, members: &[usize]) -> BTreeMap<usize, Vec<u32>> {
        let mut assignment: BTreeMap<usize, Vec<u32>> =
            members.iter().map(|&m| (m, Vec::new())).collect();
        for partition in 0..self.partitions {
            let member = members[partition as usize * members.len() / self.partitions as usize];
            assignment
                .get_mut(&member)
                .expect("a member")
                .push(partition);
        }
        assignment
    }

    /// Every live consumer that wants in joins generation `self.generation`; the leader's join comes first
    /// or not (followers may record theirs first). Deferred commit answers come right after the first join.
    fn joins(&mut self, members: &[usize]) {
        let mut order = members.to_vec();
        for i in (1..order.len()).rev() {
            let j = self.rng.below(i + 1);
            order.swap(i, j);
        }
        for (position, &index) in order.iter().enumerate() {
            let member = self.consumers[index].member.clone().expect("a member id");
            self.record(
                Some(index),
                Op::Join {
                    group: text(GROUP),
                    generation: self.generation,
                    member: text(member),
                    leader: index == members[0],
                    protocol: Some(text(if self.cooperative {
                        "cooperative-sticky"
                    } else {
                        "range"
                    })),
                },
            );
            if position == 0 {
                self.answer_deferred_commits();
            }
        }
    }

    fn answer_deferred_commits(&mut self) {
        for index in 0..self.consumers.len() {
            let in_flight = std::mem::take(&mut self.consumers[index].in_flight);
            for (partition, offset, generation) in in_flight {
                self.record(
                    Some(index),
                    Model::commit_op(CommitPhase::Ok, partition, offset, generation, None),
                );
                self.acked.insert(partition);
            }
        }
    }

    fn assignment(&mut self, index: usize, partitions: &[u32]) {
        let member = self.consumers[index].member.clone().expect("a member id");
        self.record(
            Some(index),
            Op::Assignment {
                group: text(GROUP),
                generation: self.generation,
                member: text(member),
                partitions: partitions
                    .iter()
                    .map(|&p| TopicPartition::new(TOPIC, p))
                    .collect::<Vec<_>>()
                    .into(),
            },
        );
    }

    /// `index` starts reading `partitions` at the group's committed offsets.
    fn assign(&mut self, index: usize, partitions: &[u32]) {
        if partitions.is_empty() {
            return;
        }
        let mut assigned = Vec::new();
        let mut below = None;
        for &partition in partitions {
            let mut position = self.committed.get(&partition).copied().unwrap_or(0);
            // Every commit is of an offset > 0 and the group has a commit ok of it: 0 is below all of them.
            if self.bug == Bug::StartBelowCommitted
                && self.acked.contains(&partition)
                && position > 0
                && !self.injected
            {
                position = 0;
                below = Some(partition);
                self.injected = true;
            }
            self.consumers[index].positions.insert(partition, position);
            assigned.push(TopicPartitionOffset::new(TOPIC, partition, position));
        }
        self.record(
            Some(index),
            Op::Assign {
                partitions: assigned.into(),
            },
        );
        if let Some(partition) = below {
            self.poll_partition(index, partition);
        }
    }

    fn revoke(&mut self, index: usize, partitions: &[u32], lost: bool) {
        if partitions.is_empty() {
            return;
        }
        for partition in partitions {
            self.consumers[index].positions.remove(partition);
        }
        self.record(
            Some(index),
            Op::Revoke {
                group: text(GROUP),
                generation: self.generation,
                partitions: partitions
                    .iter()
                    .map(|&p| TopicPartition::new(TOPIC, p))
                    .collect::<Vec<_>>()
                    .into(),
                lost,
            },
        );
    }

    fn wanted_members(&mut self) -> Vec<usize> {
        let members: Vec<usize> = (0..self.consumers.len())
            .filter(|&i| self.consumers[i].alive && self.consumers[i].wants_in)
            .collect();
        for &index in &members {
            if self.consumers[index].member.is_none() {
                self.next_member += 1;
                self.consumers[index].member = Some(format!("c{index}-{}", self.next_member));
            }
        }
        members
    }

    /// A rebalance: crashed members are gone (their sessions expired), new ones are in.
    fn rebalance(&mut self) {
        let old_generation = self.generation;
        let members = self.wanted_members();
        if !self.cooperative {
            // Eager: every member commits and revokes everything, then all join the next generation.
            for index in members.clone() {
                self.commit_owned(index, old_generation);
                let owned: Vec<u32> = self.consumers[index].positions.keys().copied().collect();
                self.revoke(index, &owned, false);
            }
            self.generation += 1;
            self.members = members.clone();
            if members.is_empty() {
                self.answer_deferred_commits();
                return;
            }
            self.joins(&members);
            let mut assignment = self.range(&members);
            if self.bug == Bug::DoubleAssign && members.len() >= 2 && !self.injected {
                let extra = assignment[&members[0]].first().copied();
                if let Some(extra) = extra {
                    assignment
                        .get_mut(&members[1])
                        .expect("a member")
                        .push(extra);
                    self.injected = true;
                }
            }
            for (&index, partitions) in &assignment {
                self.assignment(index, partitions);
            }
            for (index, partitions) in assignment {
                self.assign(index, &partitions);
            }
            self.commit_revoked_bug(&members);
            return;
        }
        // Cooperative: first keep what stays and take what nobody owns; give up the rest; then a second
        // generation hands out what was given up.
        self.generation += 1;
        self.members = members.clone();
        if members.is_empty() {
            self.answer_deferred_commits();
            return;
        }
        self.joins(&members);
        let target = self.range(&members);
        let owned_by_someone: BTreeSet<u32> = members
            .iter()
            .flat_map(|&i| self.consumers[i].positions.keys().copied())
            .collect();
        let mut first = BTreeMap::new();
        for (&index, partitions) in &target {
            let keep: Vec<u32> = partitions
                .iter()
                .copied()
                .filter(|p| {
                    self.consumers[index].positions.contains_key(p) || !owned_by_someone.contains(p)
                })
                .collect();
            first.insert(index, keep);
        }
        for (&index, partitions) in &first {
            self.assignment(index, partitions);
        }
        for (&index, partitions) in &first {
            let new: Vec<u32> = partitions
                .iter()
                .copied()
                .filter(|p| !self.consumers[index].positions.contains_key(p))
                .collect();
            self.assign(index, &new);
        }
        let mut gave_up = false;
        for &index in &members {
            let give_up: Vec<u32> = self.consumers[index]
                .positions
                .keys()
                .copied()
                .filter(|p| !target[&index].contains(p))
                .collect();
            for &partition in &give_up {
                let offset = self.consumers[index].positions[&partition];
                let generation = self.generation;
                if offset > 0 {
                    self.commit_one(index, partition, offset, generation);
                }
            }
            gave_up |= !give_up.is_empty();
            self.revoke(index, &give_up, false);
        }
        if gave_up {
            self.generation += 1;
            self.joins(&members);
            for (&index, partitions) in &target {
                self.assignment(index, partitions);
            }
            for (&index, partitions) in &target {
                let new: Vec<u32> = partitions
                    .iter()
                    .copied()
                    .filter(|p| !self.consumers[index].positions.contains_key(p))
                    .collect();
                self.assign(index, &new);
            }
        }
        self.commit_revoked_bug(&members);
    }

    /// `Bug::CommitRevoked`: a member that lost a partition in this rebalance commits it with the new
    /// generation, and the coordinator accepts it.
    fn commit_revoked_bug(&mut self, members: &[usize]) {
        if self.bug != Bug::CommitRevoked || self.injected {
            return;
        }
        for &index in members {
            let not_owned = (0..self.partitions).find(|p| {
                !self.consumers[index].positions.contains_key(p) && self.committed.contains_key(p)
            });
            if let Some(partition) = not_owned {
                let offset = self.committed[&partition] + 1;
                let generation = self.generation;
                self.commit_one(index, partition, offset, generation);
                self.injected = true;
                return;
            }
        }
    }

    fn poll(&mut self, index: usize) {
        let owned: Vec<u32> = self.consumers[index].positions.keys().copied().collect();
        if owned.is_empty() {
            return;
        }
        let partition = owned[self.rng.below(owned.len())];
        self.poll_partition(index, partition);
    }

    fn poll_partition(&mut self, index: usize, partition: u32) {
        let from = self.consumers[index].positions[&partition];
        let count = 1 + self.rng.below(3) as u64;
        let records: Vec<Record<'static>> = (from..from + count)
            .map(|o| Record::new(TOPIC, partition, o, format!("{TOPIC}-{partition}-{o}")))
            .collect();
        self.consumers[index]
            .positions
            .insert(partition, from + count);
        self.record(
            Some(index),
            Op::PollOk {
                records: records.into(),
            },
        );
    }

    fn step(&mut self) {
        let index = self.rng.below(self.consumers.len());
        let choice = self.rng.below(100);
        let consumer = &self.consumers[index];
        let member_now =
            consumer.alive && self.members.contains(&index) && consumer.member.is_some();
        match choice {
            0..=39 if member_now => self.poll(index),
            40..=54 if member_now => {
                let generation = self.generation;
                if self.rng.chance(20) {
                    // A commit of unknown outcome: stored or not.
                    let owned: Vec<(u32, u64)> = self.consumers[index]
                        .positions
                        .iter()
                        .map(|(&p, &o)| (p, o))
                        .collect();
                    for (partition, offset) in owned.into_iter().filter(|&(_, o)| o > 0) {
                        self.record(
                            Some(index),
                            Model::commit_op(
                                CommitPhase::Invoke,
                                partition,
                                offset,
                                generation,
                                None,
                            ),
                        );
                        if self.rng.chance(50) {
                            self.committed.insert(partition, offset);
                        }
                        self.record(
                            Some(index),
                            Model::commit_op(
                                CommitPhase::Info,
                                partition,
                                offset,
                                generation,
                                Some("request_timed_out"),
                            ),
                        );
                    }
                } else if self.rng.chance(30) {
                    // An asynchronous commit, stored now, answered after the next rebalance's first join.
                    let owned: Vec<(u32, u64)> = self.consumers[index]
                        .positions
                        .iter()
                        .map(|(&p, &o)| (p, o))
                        .collect();
                    for (partition, offset) in owned.into_iter().filter(|&(_, o)| o > 0) {
                        self.record(
                            Some(index),
                            Model::commit_op(
                                CommitPhase::Invoke,
                                partition,
                                offset,
                                generation,
                                None,
                            ),
                        );
                        self.committed.insert(partition, offset);
                        self.consumers[index]
                            .in_flight
                            .push((partition, offset, generation));
                    }
                } else {
                    self.commit_owned(index, generation);
                }
            }
            55..=64 => self.rebalance(),
            65..=69 if consumer.alive => {
                self.record(Some(index), Op::Crash);
                let consumer = &mut self.consumers[index];
                consumer.alive = false;
                consumer.positions.clear();
                consumer.in_flight.clear();
            }
            70..=76 if !consumer.alive => {
                self.record(Some(index), Op::Start);
                let consumer = &mut self.consumers[index];
                consumer.alive = true;
                consumer.wants_in = true;
                consumer.member = None;
                self.rebalance();
            }
            77..=80 if member_now => {
                // A clean leave: commit, revoke, LeaveGroup, close.
                let generation = self.generation;
                self.commit_owned(index, generation);
                let owned: Vec<u32> = self.consumers[index].positions.keys().copied().collect();
                self.revoke(index, &owned, false);
                let member = self.consumers[index].member.clone().expect("a member id");
                self.record(
                    Some(index),
                    Op::Leave {
                        group: text(GROUP),
                        member: text(member),
                    },
                );
                self.answer_deferred_commits();
                self.record(Some(index), Op::Close);
                let consumer = &mut self.consumers[index];
                consumer.alive = false;
                consumer.wants_in = false;
                consumer.member = None;
                self.rebalance();
            }
            81..=86 => self.expire(),
            87..=89 => self.coordinator_restart(),
            _ => {}
        }
    }

    /// Offset retention: only an empty group's offsets expire (unless the bug says otherwise).
    fn expire(&mut self) {
        let bugged = self.bug == Bug::ExpireNonEmpty && !self.injected && !self.members.is_empty();
        if (!self.members.is_empty() && !bugged) || self.committed.is_empty() {
            return;
        }
        let expired: Vec<TopicPartition<'static>> = self
            .committed
            .keys()
            .map(|&p| TopicPartition::new(TOPIC, p))
            .collect();
        self.committed.clear();
        self.acked.clear();
        self.record(
            None,
            Op::OffsetsExpired {
                group: text(GROUP),
                partitions: expired.into(),
                retention_ms: None,
            },
        );
        if bugged {
            // A member that was in the group all along, reading, commits afterwards.
            let reading = self.members.iter().copied().find(|&m| {
                self.consumers[m].alive
                    && self.consumers[m].member.is_some()
                    && !self.consumers[m].positions.is_empty()
                    // An answer the checker could match with an invoke before the expiry proves nothing.
                    && self.consumers[m].in_flight.is_empty()
            });
            if let Some(member) = reading {
                let (&partition, &offset) = self.consumers[member]
                    .positions
                    .iter()
                    .next()
                    .expect("it reads");
                let generation = self.generation;
                self.commit_one(member, partition, offset.max(1), generation);
                self.injected = true;
            }
        }
    }

    /// The coordinator forgets the group: a member's next commit is refused; every member learns it is no
    /// longer one, loses its partitions and joins again with a new id; generations count from 1 again.
    fn coordinator_restart(&mut self) {
        self.members.clear();
        self.answer_deferred_commits();
        for index in 0..self.consumers.len() {
            if !self.consumers[index].alive || self.consumers[index].member.is_none() {
                continue;
            }
            let owned: Vec<(u32, u64)> = self.consumers[index]
                .positions
                .iter()
                .map(|(&p, &o)| (p, o))
                .collect();
            if let Some(&(partition, offset)) = owned.first() {
                // Its last generation, refused.
                let generation = self.events.iter().rev().find_map(|e| match &e.op {
                    Op::Join { generation, .. } if e.process == process(index) => Some(*generation),
                    _ => None,
                });
                if let Some(generation) = generation {
                    self.record(
                        Some(index),
                        Model::commit_op(CommitPhase::Invoke, partition, offset, generation, None),
                    );
                    self.record(
                        Some(index),
                        Model::commit_op(
                            CommitPhase::Fail,
                            partition,
                            offset,
                            generation,
                            Some("illegal_generation"),
                        ),
                    );
                }
            }
            let owned: Vec<u32> = owned.into_iter().map(|(p, _)| p).collect();
            self.revoke(index, &owned, true);
            self.consumers[index].member = None;
        }
        self.generation = 0;
        self.rebalance();
    }
}

fn generate(seed: u64, steps: usize, bug: Bug) -> (Vec<Event<'static>>, bool) {
    let mut rng = Rng(seed);
    let consumers = 2 + rng.below(3);
    let partitions = 1 + rng.below(4) as u32;
    let cooperative = rng.chance(50);
    let mut model = Model {
        rng,
        events: Vec::new(),
        time: 0,
        partitions,
        cooperative,
        consumers: (0..consumers).map(|_| Consumer::default()).collect(),
        generation: 0,
        members: Vec::new(),
        committed: BTreeMap::new(),
        acked: BTreeSet::new(),
        next_member: 0,
        bug,
        injected: false,
    };
    for index in 0..consumers {
        model.record(Some(index), Op::Start);
        let consumer = &mut model.consumers[index];
        consumer.alive = true;
        consumer.wants_in = true;
    }
    model.rebalance();
    for _ in 0..steps {
        model.step();
    }
    (model.events, model.injected)
}

fn kinds(result: &CheckResult) -> Vec<AnomalyKind> {
    result.kinds()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn histories_of_the_correct_group_model_are_valid(seed in any::<u64>(), steps in 20..400usize) {
        let (events, _) = generate(seed, steps, Bug::None);
        let result = check_events(&events);
        prop_assert!(result.valid, "seed {seed}, {steps} steps:\n{}\n{}", result.render_text(), oracle::gen::to_jsonl(&events));
    }

    #[test]
    fn an_injected_group_bug_is_caught(seed in any::<u64>(), steps in 50..400usize, pick in 0..4usize) {
        let (bug, expected) = [
            (Bug::CommitRevoked, AnomalyKind::UnownedCommit),
            (Bug::DoubleAssign, AnomalyKind::DoubleAssignment),
            (Bug::ExpireNonEmpty, AnomalyKind::OffsetsExpiredEarly),
            (Bug::StartBelowCommitted, AnomalyKind::DuplicateDelivery),
        ][pick];
        let (events, injected) = generate(seed, steps, bug);
        let result = check_events(&events);
        if injected {
            prop_assert!(
                kinds(&result).contains(&expected),
                "seed {seed}, {steps} steps, {bug:?}: expected {expected}:\n{}\n{}",
                result.render_text(),
                oracle::gen::to_jsonl(&events)
            );
        }
    }
}

#[test]
fn the_model_exercises_rebalances_expiries_restarts_and_injects_its_bugs() {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut injected = BTreeMap::new();
    for seed in 0..200 {
        let (events, _) = generate(seed, 300, Bug::None);
        for event in &events {
            let name = match &event.op {
                Op::Revoke { lost: true, .. } => "revoke lost",
                Op::Revoke { .. } => "revoke",
                Op::OffsetsExpired { .. } => "offsets_expired",
                Op::Leave { .. } => "leave",
                Op::Commit {
                    phase: CommitPhase::Info,
                    ..
                } => "commit info",
                Op::Commit {
                    phase: CommitPhase::Fail,
                    ..
                } => "commit fail",
                Op::Crash => "crash",
                _ => continue,
            };
            *seen.entry(name).or_default() += 1;
        }
        for bug in [
            Bug::CommitRevoked,
            Bug::DoubleAssign,
            Bug::ExpireNonEmpty,
            Bug::StartBelowCommitted,
        ] {
            if generate(seed, 300, bug).1 {
                *injected.entry(format!("{bug:?}")).or_insert(0) += 1;
            }
        }
    }
    for name in [
        "revoke lost",
        "revoke",
        "offsets_expired",
        "leave",
        "commit info",
        "commit fail",
        "crash",
    ] {
        assert!(
            seen.get(name).copied().unwrap_or(0) > 10,
            "{name}: {seen:?}"
        );
    }
    assert_eq!(injected.len(), 4, "{injected:?}");
    assert!(injected.values().all(|&count| count > 50), "{injected:?}");
}
