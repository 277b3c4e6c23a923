//! Group membership across coordinator restarts (journaled where Kafka stores `GroupMetadata`,
//! and when a generation forms), failed journal writes undoing what they would have made
//! durable, and a crash at every storage operation of a group workload losing nothing that
//! an answer acknowledged.

mod common;
mod groups;

use broker::api::*;
use broker::coordinator::{GroupConfig, GroupCoordinator, GroupState, ReplyTo};
use bytes::Bytes;
use common::CrashingStorage;
use groups::{range, subscription, Coord, REBALANCE_MS, SESSION_MS};
use std::collections::BTreeMap;

fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        offsets_retention_ms: 60_000,
        offsets_retention_check_interval_ms: 1_000,
        ..GroupConfig::default()
    }
}

/// a alone forms generation 1, then b joins and a rejoins: generation 2, a leads; both sync.
/// Returns (a, b).
fn two_members(h: &mut Coord) -> (String, String) {
    let (a, generation) = h.lone_member("g", range(subscription(&["t"])));
    assert_eq!(generation, 1);
    let (b, join_b) = h.join_dynamic("g", range(subscription(&["t"])));
    assert!(h.join_answer(join_b).is_none(), "parked until a rejoins");
    let rejoin_a = h.send_join(Coord::join_request(
        "g",
        &a,
        None,
        range(subscription(&["t"])),
    ));
    let joined_a = h.join_answer(rejoin_a).unwrap().result.unwrap();
    let joined_b = h.join_answer(join_b).unwrap().result.unwrap();
    assert_eq!((joined_a.generation, joined_b.generation), (2, 2));
    assert_eq!(joined_a.leader, a);
    let sync_b = h.send_sync("g", &b, 2, &[]);
    let sync_a = h.send_sync("g", &a, 2, &[(&a, "t-0"), (&b, "t-1")]);
    assert_eq!(h.sync_answer(sync_a), Some(Ok(Bytes::from("t-0"))));
    assert_eq!(h.sync_answer(sync_b), Some(Ok(Bytes::from("t-1"))));
    (a, b)
}

#[test]
fn a_group_survives_a_restart_with_its_generation_members_and_assignments() {
    let mut h = Coord::new(1, config());
    let (a, b) = two_members(&mut h);
    assert_eq!(h.commit("g", Some((&b, 2)), "t", 5), Ok(()));
    h.advance(2_000);
    h.restart();
    let group = h.coordinator.group("g").expect("restored");
    assert_eq!(group.state, GroupState::Stable);
    assert_eq!(group.generation, 2);
    assert_eq!(group.leader.as_deref(), Some(a.as_str()));
    assert_eq!(h.heartbeat("g", &a, 2), Ok(()));
    assert_eq!(h.heartbeat("g", &b, 2), Ok(()));
    assert_eq!(h.commit("g", Some((&a, 2)), "t", 6), Ok(()));
    // Fenced the same way as before the restart.
    assert_eq!(
        h.commit("g", Some((&a, 1)), "t", 7),
        Err(ErrorCode::IllegalGeneration)
    );
    assert_eq!(
        h.commit("g", Some(("nobody", 2)), "t", 7),
        Err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(h.commit("g", None, "t", 7), Err(ErrorCode::UnknownMemberId));
    assert_eq!(h.heartbeat("g", &b, 3), Err(ErrorCode::IllegalGeneration));
    assert_eq!(h.committed("g", "t"), Some(6));
    // The assignment came back: a late SyncGroup in Stable answers it.
    let sync_b = h.send_sync("g", &b, 2, &[]);
    assert_eq!(h.sync_answer(sync_b), Some(Ok(Bytes::from("t-1"))));
    // A follower's rejoin with the same metadata gets the current generation at once.
    let rejoin_b = h.send_join(Coord::join_request(
        "g",
        &b,
        None,
        range(subscription(&["t"])),
    ));
    assert_eq!(
        h.join_answer(rejoin_b).unwrap().result.unwrap().generation,
        2
    );
    // Member ids carry the new incarnation's epoch: no id repeats.
    let first = h.send_join(Coord::join_request(
        "g",
        "",
        None,
        range(subscription(&["t"])),
    ));
    let new_id = h.join_answer(first).unwrap().member_id;
    assert!(new_id.starts_with("client-2-"), "{new_id}");
    assert!(new_id != a && new_id != b);
}

#[test]
fn restored_members_get_a_fresh_session_and_expire_if_they_stay_silent() {
    let mut h = Coord::new(2, config());
    let (a, b) = two_members(&mut h);
    // b's session would run out 1 s after the restart if it were not renewed.
    h.advance(SESSION_MS - 1_000);
    assert_eq!(h.heartbeat("g", &a, 2), Ok(()));
    h.restart();
    h.keep_alive("g", &[(&a, 2)], SESSION_MS - 1_000);
    assert!(h.coordinator.group("g").unwrap().members.contains_key(&b));
    h.advance(1_000);
    // b is gone: the group rebalances without it.
    assert!(!h.coordinator.group("g").unwrap().members.contains_key(&b));
    assert_eq!(h.heartbeat("g", &a, 2), Err(ErrorCode::RebalanceInProgress));
}

#[test]
fn a_rebalance_that_had_not_formed_its_generation_is_forgotten() {
    let mut h = Coord::new(3, config());
    let (a, generation) = h.lone_member("g", range(subscription(&["t"])));
    let (b, join_b) = h.join_dynamic("g", range(subscription(&["t"])));
    assert!(h.join_answer(join_b).is_none());
    assert_eq!(h.state("g"), GroupState::PreparingRebalance);
    h.restart();
    assert_eq!(h.state("g"), GroupState::Stable);
    assert_eq!(h.generation("g"), generation);
    assert_eq!(h.heartbeat("g", &a, generation), Ok(()));
    let again = h.send_join(Coord::join_request(
        "g",
        &b,
        None,
        range(subscription(&["t"])),
    ));
    assert_eq!(
        h.join_answer(again).unwrap().result,
        Err(ErrorCode::UnknownMemberId),
        "b joined only a rebalance that never formed"
    );
}

#[test]
fn a_formed_generation_survives_a_restart_before_its_assignment() {
    let mut h = Coord::new(4, config());
    let (a, _) = h.lone_member("g", range(subscription(&["t"])));
    let (b, join_b) = h.join_dynamic("g", range(subscription(&["t"])));
    let rejoin_a = h.send_join(Coord::join_request(
        "g",
        &a,
        None,
        range(subscription(&["t"])),
    ));
    assert_eq!(
        h.join_answer(rejoin_a).unwrap().result.unwrap().generation,
        2
    );
    assert_eq!(h.join_answer(join_b).unwrap().result.unwrap().generation, 2);
    h.restart();
    assert_eq!(h.state("g"), GroupState::CompletingRebalance);
    assert_eq!(
        h.generation("g"),
        2,
        "an announced generation is never announced again"
    );
    assert_eq!(
        h.commit("g", Some((&a, 1)), "t", 1),
        Err(ErrorCode::IllegalGeneration)
    );
    assert_eq!(
        h.commit("g", Some((&a, 2)), "t", 1),
        Err(ErrorCode::RebalanceInProgress)
    );
    let sync_b = h.send_sync("g", &b, 2, &[]);
    assert!(h.sync_answer(sync_b).is_none(), "waits for the leader");
    let sync_a = h.send_sync("g", &a, 2, &[(&a, "x"), (&b, "y")]);
    assert_eq!(h.sync_answer(sync_a), Some(Ok(Bytes::from("x"))));
    assert_eq!(h.sync_answer(sync_b), Some(Ok(Bytes::from("y"))));
    assert_eq!(h.commit("g", Some((&b, 2)), "t", 1), Ok(()));
}

#[test]
fn a_restored_generation_whose_leader_never_syncs_rebalances_after_the_rebalance_timeout() {
    let mut h = Coord::new(5, config());
    let (a, _) = h.lone_member("g", range(subscription(&["t"])));
    let rejoin = h.send_join(Coord::join_request(
        "g",
        &a,
        None,
        range(subscription(&["u"])),
    ));
    assert_eq!(h.join_answer(rejoin).unwrap().result.unwrap().generation, 2);
    h.restart();
    h.keep_alive("g", &[(&a, 2)], REBALANCE_MS - 1_000);
    assert_eq!(h.state("g"), GroupState::CompletingRebalance);
    h.advance(1_000);
    assert_eq!(h.state("g"), GroupState::Empty, "a never synced: removed");
    assert_eq!(h.generation("g"), 3);
}

#[test]
fn an_empty_groups_retention_counts_from_when_it_became_empty_across_a_restart() {
    let mut h = Coord::new(6, config());
    let (a, generation) = h.lone_member("g", range(subscription(&["t"])));
    assert_eq!(h.commit("g", Some((&a, generation)), "t", 3), Ok(()));
    assert_eq!(h.leave("g", &a), Ok(()));
    let empty_since = h.now;
    h.advance(30_000);
    h.restart();
    assert_eq!(h.state("g"), GroupState::Empty);
    assert_eq!(
        h.coordinator.group("g").unwrap().state_timestamp_ms,
        empty_since
    );
    h.advance(30_000 - 1_500);
    assert_eq!(h.committed("g", "t"), Some(3));
    h.advance(2_000);
    assert_eq!(h.committed("g", "t"), None, "60 s after it became empty");
}

fn heartbeat_as(
    h: &mut Coord,
    member: &str,
    instance: &str,
    generation: u32,
) -> Result<(), ErrorCode> {
    h.coordinator
        .heartbeat(
            h.now,
            HeartbeatGroupRequest {
                group: "g".into(),
                generation,
                member_id: member.into(),
                group_instance_id: Some(instance.into()),
            },
        )
        .result
}

/// A static member "i" alone in generation 1: its member id.
fn static_member(h: &mut Coord) -> String {
    let join = h.send_join(Coord::join_request(
        "g",
        "",
        Some("i"),
        range(subscription(&["t"])),
    ));
    let answer = h.join_answer(join).expect("no initial delay");
    let id = answer.member_id.clone();
    assert_eq!(answer.result.unwrap().generation, 1);
    let sync = h.send_sync("g", &id, 1, &[(&id, "all")]);
    assert_eq!(h.sync_answer(sync), Some(Ok(Bytes::from("all"))));
    id
}

#[test]
fn a_static_member_replaced_without_a_rebalance_stays_replaced_across_a_restart() {
    let mut h = Coord::new(7, config());
    let old = static_member(&mut h);
    let rejoin = h.send_join(Coord::join_request(
        "g",
        "",
        Some("i"),
        range(subscription(&["t"])),
    ));
    let answer = h.join_answer(rejoin).unwrap();
    let new = answer.member_id.clone();
    assert_eq!(answer.result.unwrap().generation, 1, "no rebalance");
    h.restart();
    assert_eq!(heartbeat_as(&mut h, &new, "i", 1), Ok(()));
    assert_eq!(
        heartbeat_as(&mut h, &old, "i", 1),
        Err(ErrorCode::FencedInstanceId)
    );
    let sync = h.send_sync("g", &new, 1, &[]);
    assert_eq!(h.sync_answer(sync), Some(Ok(Bytes::from("all"))));
}

// ---- failed journal writes --------------------------------------------------------------------

#[test]
fn a_generation_whose_record_is_not_written_does_not_form() {
    let mut h = Coord::new(8, config());
    let first = h.send_join(Coord::join_request(
        "g",
        "",
        None,
        range(subscription(&["t"])),
    ));
    let a = h.join_answer(first).unwrap().member_id;
    h.fail_next_writes(1);
    let join = h.send_join(Coord::join_request(
        "g",
        &a,
        None,
        range(subscription(&["t"])),
    ));
    assert_eq!(
        h.join_answer(join).unwrap().result,
        Err(ErrorCode::RebalanceInProgress)
    );
    assert_eq!(h.generation("g"), 0);
    assert_eq!(h.state("g"), GroupState::PreparingRebalance);
    // The member rejoins: now it forms, durably.
    let join = h.send_join(Coord::join_request(
        "g",
        &a,
        None,
        range(subscription(&["t"])),
    ));
    assert_eq!(h.join_answer(join).unwrap().result.unwrap().generation, 1);
    h.restart();
    assert_eq!(h.generation("g"), 1);
}

#[test]
fn an_assignment_whose_record_is_not_written_is_not_handed_out() {
    let mut h = Coord::new(9, config());
    let (a, b) = two_members(&mut h);
    let rejoin_a = h.send_join(Coord::join_request(
        "g",
        &a,
        None,
        range(subscription(&["u"])),
    ));
    let rejoin_b = h.send_join(Coord::join_request(
        "g",
        &b,
        None,
        range(subscription(&["u"])),
    ));
    assert_eq!(
        h.join_answer(rejoin_a).unwrap().result.unwrap().generation,
        3
    );
    assert_eq!(
        h.join_answer(rejoin_b).unwrap().result.unwrap().generation,
        3
    );
    let sync_b = h.send_sync("g", &b, 3, &[]);
    h.fail_next_writes(1);
    let sync_a = h.send_sync("g", &a, 3, &[(&a, "x"), (&b, "y")]);
    assert_eq!(
        h.sync_answer(sync_a),
        Some(Err(ErrorCode::RebalanceInProgress))
    );
    assert_eq!(
        h.sync_answer(sync_b),
        Some(Err(ErrorCode::RebalanceInProgress))
    );
    assert_eq!(h.state("g"), GroupState::PreparingRebalance);
    h.restart();
    // What is durable is generation 3 formed, without an assignment.
    assert_eq!(h.state("g"), GroupState::CompletingRebalance);
    assert_eq!(h.generation("g"), 3);
    assert!(h
        .coordinator
        .group("g")
        .unwrap()
        .members
        .values()
        .all(|m| m.assignment.is_empty()));
}

#[test]
fn a_static_replacement_whose_record_is_not_written_is_undone() {
    let mut h = Coord::new(10, config());
    let old = static_member(&mut h);
    h.fail_next_writes(1);
    let rejoin = h.send_join(Coord::join_request(
        "g",
        "",
        Some("i"),
        range(subscription(&["t"])),
    ));
    assert_eq!(
        h.join_answer(rejoin).unwrap().result,
        Err(ErrorCode::RebalanceInProgress)
    );
    assert_eq!(
        heartbeat_as(&mut h, &old, "i", 1),
        Ok(()),
        "still the member"
    );
    let rejoin = h.send_join(Coord::join_request(
        "g",
        "",
        Some("i"),
        range(subscription(&["t"])),
    ));
    let new = h.join_answer(rejoin).unwrap().member_id;
    assert_eq!(heartbeat_as(&mut h, &new, "i", 1), Ok(()));
    assert_eq!(
        heartbeat_as(&mut h, &old, "i", 1),
        Err(ErrorCode::FencedInstanceId)
    );
}

#[test]
fn an_empty_group_whose_record_is_not_written_is_written_again_at_a_tick() {
    // Without the retry, a restart brings the last stored generation back.
    let mut h = Coord::new(11, config());
    let (a, generation) = h.lone_member("g", range(subscription(&["t"])));
    h.fail_next_writes(1);
    assert_eq!(h.leave("g", &a), Ok(()));
    assert_eq!(h.state("g"), GroupState::Empty);
    h.restart();
    assert_eq!(
        h.state("g"),
        GroupState::Stable,
        "the leave was not durable"
    );
    assert_eq!(h.heartbeat("g", &a, generation), Ok(()));
    h.advance(SESSION_MS + 100);
    assert_eq!(h.state("g"), GroupState::Empty, "its fresh session ran out");

    // With it: the next tick writes the Empty group.
    let mut h = Coord::new(12, config());
    let (a, _) = h.lone_member("g", range(subscription(&["t"])));
    h.fail_next_writes(1);
    assert_eq!(h.leave("g", &a), Ok(()));
    let empty_since = h.now;
    h.advance(50);
    h.restart();
    assert_eq!(h.state("g"), GroupState::Empty);
    assert_eq!(
        h.coordinator.group("g").unwrap().state_timestamp_ms,
        empty_since
    );
}

// ---- a crash at every storage operation -------------------------------------------------------

/// A committed position's key: (group, topic, partition).
type GroupPartition = (String, String, u32);

/// What the workload's answers acknowledged before (or at) the crash.
#[derive(Debug, Default)]
struct Acknowledged {
    /// Per (group, topic, partition): the acknowledged offset and commit time, or `None` once
    /// reported expired.
    offsets: BTreeMap<GroupPartition, Option<(u64, u64)>>,
    /// The commit that failed when the disk crashed (it may or may not be there).
    commit_in_flight: Option<(GroupPartition, (u64, u64))>,
    /// The time of the retention check the disk crashed in (its deletes may or may not be
    /// there).
    check_in_flight: Option<u64>,
    /// The highest generation a JoinGroup answer announced.
    generation: u32,
    /// The latest assignment answered: its generation and each member's assignment.
    assignment: Option<(u32, BTreeMap<String, Bytes>)>,
    now: u64,
}

const RETENTION: u64 = 5_000;

struct Workload {
    coordinator: GroupCoordinator<CrashingStorage>,
    storage: CrashingStorage,
    acked: Acknowledged,
    next_reply: ReplyTo,
}

/// The disk crashed: stop.
struct Crashed;

impl Workload {
    fn answers(&mut self) -> BTreeMap<ReplyTo, Response> {
        let answers: BTreeMap<ReplyTo, Response> =
            self.coordinator.take_replies().into_iter().collect();
        for response in answers.values() {
            match response {
                Response::JoinGroup(JoinGroupResponse {
                    result: Ok(joined), ..
                }) => self.acked.generation = self.acked.generation.max(joined.generation),
                Response::SyncGroup(SyncGroupResponse { result: Ok(_) }) => {}
                _ => {}
            }
        }
        answers
    }

    fn crashed(&self) -> Result<(), Crashed> {
        if self.storage.crashed() {
            Err(Crashed)
        } else {
            Ok(())
        }
    }

    fn tick(&mut self, ms: u64) -> Result<(), Crashed> {
        let end = self.acked.now + ms;
        while self.acked.now < end {
            self.acked.now += 250;
            self.coordinator.tick(self.acked.now);
            self.answers();
            for expired in self.coordinator.take_expired() {
                for partition in expired.partitions {
                    self.acked.offsets.insert(
                        (
                            expired.group.clone(),
                            partition.topic.to_string(),
                            partition.partition,
                        ),
                        None,
                    );
                }
            }
            if self.storage.crashed() {
                self.acked.check_in_flight = Some(self.acked.now);
                return Err(Crashed);
            }
        }
        Ok(())
    }

    fn commit(
        &mut self,
        group: &str,
        member: Option<(&str, u32)>,
        partition: u32,
        offset: u64,
    ) -> Result<(), Crashed> {
        let now = self.acked.now;
        let result = self
            .coordinator
            .offset_commit(
                now,
                OffsetCommitRequest {
                    group: group.into(),
                    offsets: vec![(TopicPartition::new("t", partition), offset)],
                    member: member.map(|(member_id, generation)| CommitMember {
                        generation,
                        member_id: member_id.into(),
                        group_instance_id: None,
                    }),
                },
            )
            .result;
        let key = (group.to_string(), "t".to_string(), partition);
        match result {
            Ok(()) => {
                self.acked.offsets.insert(key, Some((offset, now)));
            }
            Err(ErrorCode::KafkaStorageError) => {
                self.acked.commit_in_flight = Some((key, (offset, now)));
            }
            Err(error) => panic!("commit refused: {error}"),
        }
        self.crashed()
    }

    /// A JoinGroup; the answers it produced (its own and parked ones it completed).
    fn join(&mut self, member_id: &str) -> Result<BTreeMap<ReplyTo, Response>, Crashed> {
        let reply = self.next_reply;
        self.next_reply += 1;
        self.coordinator.join_group(
            self.acked.now,
            reply,
            Coord::join_request("g", member_id, None, range(subscription(&["t"]))),
        );
        let answers = self.answers();
        self.crashed()?;
        Ok(answers)
    }

    /// A dynamic member's two joins: its id.
    fn join_new(&mut self) -> Result<String, Crashed> {
        let answers = self.join("")?;
        let id = match answers.into_values().next() {
            Some(Response::JoinGroup(answer)) => answer.member_id,
            other => panic!("{other:?}"),
        };
        self.join(&id)?;
        Ok(id)
    }

    fn sync(
        &mut self,
        member: &str,
        generation: u32,
        assignments: &[(&str, &str)],
    ) -> Result<(), Crashed> {
        let reply = self.next_reply;
        self.next_reply += 1;
        self.coordinator.sync_group(
            self.acked.now,
            reply,
            SyncGroupRequest {
                group: "g".into(),
                generation,
                member_id: member.into(),
                group_instance_id: None,
                assignments: assignments
                    .iter()
                    .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
                    .collect(),
            },
        );
        let answers = self.answers();
        if let Some(Response::SyncGroup(SyncGroupResponse { result: Ok(_) })) = answers.get(&reply)
        {
            self.acked.assignment = Some((
                generation,
                assignments
                    .iter()
                    .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
                    .collect(),
            ));
        }
        self.crashed()
    }

    fn leave(&mut self, member: &str) -> Result<(), Crashed> {
        self.coordinator.leave_group(
            self.acked.now,
            LeaveGroupRequest {
                group: "g".into(),
                member_id: member.into(),
                group_instance_id: None,
            },
        );
        self.answers();
        self.crashed()
    }

    fn run(&mut self) -> Result<(), Crashed> {
        for partition in 0..3 {
            self.commit("s", None, partition, partition as u64 + 1)?;
        }
        let a = self.join_new()?;
        self.sync(&a, 1, &[(&a, "a1")])?;
        for n in 0..3 {
            self.commit("g", Some((&a, 1)), n, 10 + n as u64)?;
        }
        self.tick(1_000)?;
        let b = self.join_new()?;
        self.join(&a)?;
        self.sync(&a, 2, &[(&a, "a2"), (&b, "b2")])?;
        for round in 0..6u64 {
            self.commit("g", Some((&a, 2)), 0, 20 + round)?;
            self.commit("g", Some((&b, 2)), 1, 30 + round)?;
            self.tick(1_000)?;
        }
        // The simple commits expired meanwhile; b leaves, a goes on alone, then leaves too.
        self.leave(&b)?;
        self.join(&a)?;
        self.sync(&a, 3, &[(&a, "a3")])?;
        self.commit("g", Some((&a, 3)), 2, 40)?;
        self.leave(&a)?;
        self.tick(RETENTION + 1_000)
    }
}

fn group_config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        offsets_retention_ms: RETENTION,
        offsets_retention_check_interval_ms: 500,
        ..GroupConfig::default()
    }
}

fn check_recovery(disk: &sim::disk::Disk, acked: &Acknowledged) {
    let mut coordinator = GroupCoordinator::open(disk.clone(), group_config(), 99, acked.now)
        .expect("recovery succeeds");
    for group in coordinator.groups() {
        group.check_invariants();
    }
    let mut keys: Vec<(String, String, u32)> = acked.offsets.keys().cloned().collect();
    keys.extend(acked.commit_in_flight.iter().map(|(key, _)| key.clone()));
    for key in keys {
        let recovered = coordinator
            .committed(&key.0, &key.1, key.2)
            .map(|c| (c.offset, c.commit_timestamp_ms));
        let acknowledged = acked.offsets.get(&key).copied().flatten();
        let in_flight = acked
            .commit_in_flight
            .as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, value)| *value);
        let may_have_expired = match (acknowledged, acked.check_in_flight) {
            (Some((_, committed_at)), Some(check)) => committed_at + RETENTION <= check,
            _ => false,
        };
        assert!(
            recovered == acknowledged
                || (in_flight.is_some() && recovered == in_flight)
                || (may_have_expired && recovered.is_none()),
            "{key:?}: recovered {recovered:?}, acknowledged {acknowledged:?}, in flight \
             {in_flight:?}, check in flight {:?}",
            acked.check_in_flight
        );
    }
    if acked.generation > 0 {
        let group = coordinator
            .group("g")
            .expect("an announced group is durable");
        assert!(
            group.generation >= acked.generation,
            "generation {} announced, {} recovered",
            acked.generation,
            group.generation
        );
        if let Some((generation, assignments)) = &acked.assignment {
            if group.generation == *generation {
                assert_eq!(group.state, GroupState::Stable);
                for (member, assignment) in assignments {
                    assert_eq!(&group.members[member].assignment, assignment);
                }
            }
        }
    }
    // The recovered coordinator keeps working and its writes survive another crash.
    let now = acked.now + 1;
    coordinator.tick(now);
    let result = coordinator.offset_commit(
        now,
        OffsetCommitRequest {
            group: "after".into(),
            offsets: vec![(TopicPartition::new("t", 0), 7)],
            member: None,
        },
    );
    assert_eq!(result.result, Ok(()));
    disk.crash();
    let coordinator = GroupCoordinator::open(disk.clone(), group_config(), 100, now).unwrap();
    assert_eq!(
        coordinator.committed("after", "t", 0).map(|c| c.offset),
        Some(7)
    );
}

#[test]
fn a_crash_at_any_storage_operation_loses_nothing_acknowledged() {
    let mut points = 0;
    for crash_at in 0.. {
        let disk = common::disk(crash_at);
        disk.update_faults(|faults| faults.torn_writes = true);
        let storage = CrashingStorage::new(disk.clone(), Some(crash_at));
        let Ok(coordinator) = GroupCoordinator::open(storage.clone(), group_config(), 1, 0) else {
            check_recovery(&disk, &Acknowledged::default());
            continue;
        };
        let mut workload = Workload {
            coordinator,
            storage: storage.clone(),
            acked: Acknowledged::default(),
            next_reply: 0,
        };
        let finished = workload.run().is_ok() && !storage.crashed();
        check_recovery(&disk, &workload.acked);
        points += 1;
        if finished {
            // The workload reached every kind of write.
            assert!(
                workload.acked.offsets.values().any(Option::is_none),
                "expiries"
            );
            assert!(workload.acked.generation >= 3);
            break;
        }
        assert!(crash_at < 20_000, "the workload never finishes");
    }
    assert!(points > 50, "{points} crash points");
}
