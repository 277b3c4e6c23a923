//! The classic group coordinator (Kafka's JoinGroup / SyncGroup / Heartbeat / LeaveGroup with
//! KIP-394 member ids and KIP-345 static membership) and OffsetCommit fencing, driven directly
//! as a sans-IO state machine with explicit time.

use broker::api::*;
use broker::controller::{ControllerConfig, ControllerCore};
use broker::coordinator::{GroupConfig, GroupCoordinator, GroupState, ReplyTo};
use bytes::Bytes;
use proptest::prelude::*;
use protocol::node::{Node, Output};
use sim::disk::Disk;
use sim::Seed;
use std::collections::BTreeMap;
use std::time::Duration;

const SESSION_MS: u64 = 10_000;
const REBALANCE_MS: u64 = 20_000;
const GROUP: &str = "g";

fn protocols(names: &[&str]) -> Vec<GroupProtocol> {
    names
        .iter()
        .map(|name| GroupProtocol {
            name: name.to_string(),
            metadata: Bytes::from(format!("sub-{name}")),
        })
        .collect()
}

struct Harness {
    coordinator: GroupCoordinator<Disk>,
    disk: Disk,
    config: GroupConfig,
    epoch: u64,
    now: u64,
    next_reply: ReplyTo,
    replies: BTreeMap<ReplyTo, Response>,
}

impl Harness {
    fn new(initial_rebalance_delay_ms: u64) -> Harness {
        let disk = Disk::new(Seed::new(7).stream("disk"));
        let config = GroupConfig {
            initial_rebalance_delay_ms,
            ..GroupConfig::default()
        };
        Harness {
            coordinator: GroupCoordinator::open(disk.clone(), config.clone(), 1, 0).expect("opens"),
            disk,
            config,
            epoch: 1,
            now: 1_000,
            next_reply: 0,
            replies: BTreeMap::new(),
        }
    }

    /// The coordinator's node crashes and restarts from its disk (parked requests are lost).
    fn restart(&mut self) {
        self.disk
            .update_faults(|faults| faults.fail_next_writes = 0);
        self.disk.crash();
        self.epoch += 1;
        self.coordinator =
            GroupCoordinator::open(self.disk.clone(), self.config.clone(), self.epoch, self.now)
                .expect("recovery succeeds");
    }

    fn collect(&mut self) {
        for (reply, response) in self.coordinator.take_replies() {
            assert!(
                self.replies.insert(reply, response).is_none(),
                "answered twice"
            );
        }
        if let Some(group) = self.coordinator.group(GROUP) {
            group.check_invariants();
        }
    }

    fn join_request(member_id: &str, instance: Option<&str>, names: &[&str]) -> JoinGroupRequest {
        JoinGroupRequest {
            group: GROUP.into(),
            member_id: member_id.into(),
            group_instance_id: instance.map(str::to_string),
            client_id: "client".into(),
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: REBALANCE_MS,
            protocol_type: "consumer".into(),
            protocols: protocols(names),
        }
    }

    /// Sends a JoinGroup; returns its reply token.
    fn send_join(&mut self, request: JoinGroupRequest) -> ReplyTo {
        let reply = self.next_reply;
        self.next_reply += 1;
        self.coordinator.join_group(self.now, reply, request);
        self.collect();
        reply
    }

    fn join_answer(&mut self, reply: ReplyTo) -> Option<JoinGroupResponse> {
        match self.replies.remove(&reply)? {
            Response::JoinGroup(response) => Some(response),
            other => panic!("not a join answer: {other:?}"),
        }
    }

    fn sync_answer(&mut self, reply: ReplyTo) -> Option<Result<Bytes, ErrorCode>> {
        match self.replies.remove(&reply)? {
            Response::SyncGroup(response) => Some(response.result),
            other => panic!("not a sync answer: {other:?}"),
        }
    }

    /// A dynamic member's first join (MEMBER_ID_REQUIRED, KIP-394) then its real join, parked
    /// or answered: returns (member id, reply token of the second join).
    fn join_dynamic(&mut self, names: &[&str]) -> (String, ReplyTo) {
        let first = self.send_join(Self::join_request("", None, names));
        let answer = self.join_answer(first).expect("answered at once");
        assert_eq!(answer.result, Err(ErrorCode::MemberIdRequired));
        assert!(!answer.member_id.is_empty());
        let second = self.send_join(Self::join_request(&answer.member_id, None, names));
        (answer.member_id, second)
    }

    fn send_sync(
        &mut self,
        member_id: &str,
        generation: u32,
        assignments: &[(&str, &str)],
    ) -> ReplyTo {
        let reply = self.next_reply;
        self.next_reply += 1;
        self.coordinator.sync_group(
            self.now,
            reply,
            SyncGroupRequest {
                group: GROUP.into(),
                generation,
                member_id: member_id.into(),
                group_instance_id: None,
                assignments: assignments
                    .iter()
                    .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
                    .collect(),
            },
        );
        self.collect();
        reply
    }

    fn heartbeat(&mut self, member_id: &str, generation: u32) -> Result<(), ErrorCode> {
        self.heartbeat_as(member_id, None, generation)
    }

    fn heartbeat_as(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation: u32,
    ) -> Result<(), ErrorCode> {
        let answer = self.coordinator.heartbeat(
            self.now,
            HeartbeatGroupRequest {
                group: GROUP.into(),
                generation,
                member_id: member_id.into(),
                group_instance_id: instance.map(str::to_string),
            },
        );
        self.collect();
        answer.result
    }

    fn leave(&mut self, member_id: &str, instance: Option<&str>) -> Result<(), ErrorCode> {
        let answer = self.coordinator.leave_group(
            self.now,
            LeaveGroupRequest {
                group: GROUP.into(),
                member_id: member_id.into(),
                group_instance_id: instance.map(str::to_string),
            },
        );
        self.collect();
        answer.result
    }

    fn commit(&mut self, member: Option<(&str, u32)>, offset: u64) -> Result<(), ErrorCode> {
        self.commit_as(
            member.map(|(id, generation)| (id, None, generation)),
            offset,
        )
    }

    fn commit_as(
        &mut self,
        member: Option<(&str, Option<&str>, u32)>,
        offset: u64,
    ) -> Result<(), ErrorCode> {
        let answer = self.coordinator.offset_commit(
            self.now,
            OffsetCommitRequest {
                group: GROUP.into(),
                offsets: vec![(TopicPartition::new("t", 0), offset)],
                member: member.map(|(member_id, instance, generation)| CommitMember {
                    generation,
                    member_id: member_id.into(),
                    group_instance_id: instance.map(str::to_string),
                }),
            },
        );
        answer.result
    }

    fn committed(&self) -> Option<u64> {
        let answer = self.coordinator.offset_fetch(OffsetFetchRequest {
            group: GROUP.into(),
            partitions: Some(vec![TopicPartition::new("t", 0)]),
        });
        answer.result.expect("fetch")[0].1
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.coordinator.tick(self.now);
        self.collect();
    }

    fn state(&self) -> GroupState {
        self.coordinator.group(GROUP).expect("group").state
    }

    fn generation(&self) -> u32 {
        self.coordinator.group(GROUP).expect("group").generation
    }
}

/// Two dynamic members through a full round: both join (the second within the initial delay),
/// the first is leader and sees both subscriptions, the leader's assignment reaches both.
/// Returns the harness and (leader id, follower id).
fn two_member_round() -> (Harness, String, String) {
    let mut h = Harness::new(3_000);
    let (a, join_a) = h.join_dynamic(&["range", "roundrobin"]);
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    h.advance(1_000);
    let (b, join_b) = h.join_dynamic(&["roundrobin", "range"]);
    // The initial delay is extended because a member arrived during it.
    h.advance(2_000);
    assert!(
        h.join_answer(join_a).is_none(),
        "still in the initial delay"
    );
    h.advance(3_000);
    let answer_a = h.join_answer(join_a).expect("join phase over");
    let answer_b = h.join_answer(join_b).expect("join phase over");
    let joined_a = answer_a.result.expect("a joined");
    let joined_b = answer_b.result.expect("b joined");
    assert_eq!(joined_a.generation, 1);
    assert_eq!(joined_b.generation, 1);
    assert_eq!(joined_a.leader, a, "the first member to join leads");
    assert_eq!(joined_b.leader, a);
    // One vote each: the tie goes to the smallest name.
    assert_eq!(joined_a.protocol_name, "range");
    let member_ids: Vec<&str> = joined_a
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(member_ids, vec![a.as_str(), b.as_str()]);
    assert_eq!(joined_a.members[1].metadata, Bytes::from("sub-range"));
    assert!(
        joined_b.members.is_empty(),
        "followers do not see the members"
    );
    assert_eq!(h.state(), GroupState::CompletingRebalance);

    let sync_b = h.send_sync(&b, 1, &[]);
    assert!(
        h.sync_answer(sync_b).is_none(),
        "a follower waits for the leader"
    );
    let sync_a = h.send_sync(&a, 1, &[(&a, "t-0"), (&b, "t-1")]);
    assert_eq!(h.sync_answer(sync_a), Some(Ok(Bytes::from("t-0"))));
    assert_eq!(h.sync_answer(sync_b), Some(Ok(Bytes::from("t-1"))));
    assert_eq!(h.state(), GroupState::Stable);
    (h, a, b)
}

#[test]
fn two_members_join_and_sync_and_get_the_leaders_assignment() {
    let (mut h, a, b) = two_member_round();
    assert_eq!(h.heartbeat(&a, 1), Ok(()));
    assert_eq!(h.heartbeat(&b, 1), Ok(()));
    assert_eq!(h.commit(Some((&b, 1)), 5), Ok(()));
    assert_eq!(h.committed(), Some(5));
    // A late SyncGroup in Stable answers the member's assignment at once.
    let again = h.send_sync(&b, 1, &[]);
    assert_eq!(h.sync_answer(again), Some(Ok(Bytes::from("t-1"))));
}

#[test]
fn a_third_member_rebalances_and_the_old_generation_is_fenced() {
    let (mut h, a, b) = two_member_round();
    let (c, join_c) = h.join_dynamic(&["range"]);
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    // Kafka lets the current generation commit while the group prepares a rebalance (members
    // commit what they give up), and tells heartbeats to rejoin.
    assert_eq!(h.commit(Some((&a, 1)), 7), Ok(()));
    assert_eq!(h.heartbeat(&a, 1), Err(ErrorCode::RebalanceInProgress));
    let rejoin_a = h.send_join(Harness::join_request(&a, None, &["range", "roundrobin"]));
    let rejoin_b = h.send_join(Harness::join_request(&b, None, &["roundrobin", "range"]));
    // Everyone rejoined: the join phase ends without waiting for the timeout.
    let joined_a = h.join_answer(rejoin_a).unwrap().result.unwrap();
    h.join_answer(rejoin_b).unwrap().result.unwrap();
    let joined_c = h.join_answer(join_c).unwrap().result.unwrap();
    assert_eq!((joined_a.generation, joined_c.generation), (2, 2));
    assert_eq!(joined_a.leader, a);
    assert_eq!(joined_a.members.len(), 3);
    assert_eq!(joined_a.protocol_name, "range", "c supports only range");
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    assert_eq!(
        h.commit(Some((&a, 1)), 8),
        Err(ErrorCode::IllegalGeneration)
    );
    assert_eq!(
        h.commit(Some((&a, 2)), 8),
        Err(ErrorCode::RebalanceInProgress)
    );
    let sync_c = h.send_sync(&c, 2, &[]);
    let sync_a = h.send_sync(&a, 2, &[(&a, "x"), (&b, "y"), (&c, "z")]);
    assert_eq!(h.sync_answer(sync_a), Some(Ok(Bytes::from("x"))));
    assert_eq!(h.sync_answer(sync_c), Some(Ok(Bytes::from("z"))));
    assert_eq!(
        h.commit(Some((&b, 1)), 9),
        Err(ErrorCode::IllegalGeneration)
    );
    assert_eq!(h.commit(Some((&c, 2)), 9), Ok(()));
    assert_eq!(h.committed(), Some(9));
    // A sync of the old generation is refused too.
    let stale = h.send_sync(&b, 1, &[]);
    assert_eq!(
        h.sync_answer(stale),
        Some(Err(ErrorCode::IllegalGeneration))
    );
}

#[test]
fn heartbeats_of_a_stale_generation_or_unknown_member_are_refused() {
    let (mut h, a, _b) = two_member_round();
    assert_eq!(h.heartbeat(&a, 0), Err(ErrorCode::IllegalGeneration));
    assert_eq!(h.heartbeat(&a, 2), Err(ErrorCode::IllegalGeneration));
    assert_eq!(h.heartbeat("nobody", 1), Err(ErrorCode::UnknownMemberId));
    let other = h.coordinator.heartbeat(
        h.now,
        HeartbeatGroupRequest {
            group: "other".into(),
            generation: 1,
            member_id: a.clone(),
            group_instance_id: None,
        },
    );
    assert_eq!(other.result, Err(ErrorCode::UnknownMemberId));
}

#[test]
fn an_expired_session_removes_the_member_and_rebalances() {
    let (mut h, a, b) = two_member_round();
    h.advance(SESSION_MS / 2);
    assert_eq!(h.heartbeat(&a, 1), Ok(()));
    h.advance(SESSION_MS / 2);
    // b never heartbeat since its SyncGroup: its session expired.
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert!(!h.coordinator.group(GROUP).unwrap().members.contains_key(&b));
    assert_eq!(h.heartbeat(&a, 1), Err(ErrorCode::RebalanceInProgress));
    let rejoin = h.send_join(Harness::join_request(&a, None, &["range", "roundrobin"]));
    let joined = h.join_answer(rejoin).unwrap().result.unwrap();
    assert_eq!(joined.generation, 2);
    assert_eq!(joined.members.len(), 1);
    assert_eq!(h.heartbeat(&b, 1), Err(ErrorCode::UnknownMemberId));
    assert_eq!(h.commit(Some((&b, 1)), 3), Err(ErrorCode::UnknownMemberId));
}

#[test]
fn the_rebalance_timeout_drops_a_member_that_does_not_rejoin() {
    let (mut h, a, b) = two_member_round();
    // The leader's JoinGroup asks for a rebalance; b keeps heartbeating but never rejoins.
    let rejoin = h.send_join(Harness::join_request(&a, None, &["range", "roundrobin"]));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    let mut waited = 0;
    while h.join_answer(rejoin).is_none() {
        assert_eq!(h.heartbeat(&b, 1), Err(ErrorCode::RebalanceInProgress));
        h.advance(1_000);
        waited += 1_000;
        assert!(
            waited <= REBALANCE_MS,
            "the join phase outlived the rebalance timeout"
        );
    }
    assert_eq!(waited, REBALANCE_MS);
    assert_eq!(h.generation(), 2);
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    assert_eq!(h.heartbeat(&b, 1), Err(ErrorCode::UnknownMemberId));
    let late = h.send_join(Harness::join_request(&b, None, &["range"]));
    assert_eq!(
        h.join_answer(late).unwrap().result,
        Err(ErrorCode::UnknownMemberId)
    );
}

#[test]
fn leaving_rebalances_and_the_last_leave_empties_the_group() {
    let (mut h, a, b) = two_member_round();
    assert_eq!(h.leave("nobody", None), Err(ErrorCode::UnknownMemberId));
    assert_eq!(h.leave(&b, None), Ok(()));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    let rejoin = h.send_join(Harness::join_request(&a, None, &["range"]));
    let joined = h.join_answer(rejoin).unwrap().result.unwrap();
    assert_eq!((joined.generation, joined.members.len()), (2, 1));
    let sync = h.send_sync(&a, 2, &[(&a, "all")]);
    assert_eq!(h.sync_answer(sync), Some(Ok(Bytes::from("all"))));
    assert_eq!(h.leave(&a, None), Ok(()));
    assert_eq!(h.state(), GroupState::Empty);
    assert_eq!(
        h.generation(),
        3,
        "an emptied group still moves to a new generation"
    );
    assert_eq!(h.commit(Some((&a, 2)), 1), Err(ErrorCode::UnknownMemberId));
    // An empty group takes commits without membership again.
    assert_eq!(h.commit(None, 11), Ok(()));
    assert_eq!(h.committed(), Some(11));
}

#[test]
fn a_static_member_restart_keeps_its_assignment_without_a_rebalance_and_fences_the_old_id() {
    let mut h = Harness::new(0);
    let join_a = h.send_join(Harness::join_request("", Some("i-a"), &["range"]));
    let a = h.join_answer(join_a).unwrap().member_id;
    assert!(
        a.starts_with("i-a-"),
        "static member ids start with the instance id: {a}"
    );
    assert_eq!(h.generation(), 1);
    let join_b = h.send_join(Harness::join_request("", Some("i-b"), &["range"]));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    let rejoin_a = h.send_join(Harness::join_request(&a, Some("i-a"), &["range"]));
    let joined = h.join_answer(rejoin_a).unwrap().result.unwrap();
    let b = h.join_answer(join_b).unwrap().member_id;
    assert_eq!(joined.generation, 2);
    let sync_a = h.send_sync(&a, 2, &[(&a, "p0"), (&b, "p1")]);
    let sync_b = h.send_sync(&b, 2, &[]);
    assert_eq!(h.sync_answer(sync_a), Some(Ok(Bytes::from("p0"))));
    assert_eq!(h.sync_answer(sync_b), Some(Ok(Bytes::from("p1"))));

    // b restarts: it joins with its instance id and no member id.
    let restart = h.send_join(Harness::join_request("", Some("i-b"), &["range"]));
    let answer = h
        .join_answer(restart)
        .expect("answered at once: no rebalance");
    let new_b = answer.member_id.clone();
    let joined = answer.result.unwrap();
    assert_ne!(new_b, b);
    assert_eq!(joined.generation, 2, "no new generation");
    assert_eq!(joined.leader, a);
    assert_eq!(h.state(), GroupState::Stable);
    let sync = h.send_sync(&new_b, 2, &[]);
    assert_eq!(
        h.sync_answer(sync),
        Some(Ok(Bytes::from("p1"))),
        "the old assignment"
    );
    // The old incarnation is fenced everywhere.
    assert_eq!(
        h.heartbeat_as(&b, Some("i-b"), 2),
        Err(ErrorCode::FencedInstanceId)
    );
    assert_eq!(
        h.commit_as(Some((&b, Some("i-b"), 2)), 4),
        Err(ErrorCode::FencedInstanceId)
    );
    assert_eq!(h.leave(&b, Some("i-b")), Err(ErrorCode::FencedInstanceId));
    let old_join = h.send_join(Harness::join_request(&b, Some("i-b"), &["range"]));
    assert_eq!(
        h.join_answer(old_join).unwrap().result,
        Err(ErrorCode::FencedInstanceId)
    );
    assert_eq!(h.commit_as(Some((&new_b, Some("i-b"), 2)), 4), Ok(()));
    assert_eq!(h.heartbeat_as(&a, Some("i-a"), 2), Ok(()));

    // A restart with a different subscription rebalances.
    let changed = h.send_join(Harness::join_request("", Some("i-b"), &["range", "sticky"]));
    assert!(
        h.join_answer(changed).is_none(),
        "parked: a rebalance started"
    );
    assert_eq!(h.state(), GroupState::PreparingRebalance);
}

#[test]
fn a_member_that_never_syncs_is_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new(0);
    let (a, join_a) = h.join_dynamic(&["range"]);
    h.join_answer(join_a).unwrap().result.unwrap();
    let (b, join_b) = h.join_dynamic(&["range"]);
    let rejoin_a = h.send_join(Harness::join_request(&a, None, &["range"]));
    h.join_answer(rejoin_a).unwrap().result.unwrap();
    h.join_answer(join_b).unwrap().result.unwrap();
    assert_eq!(h.generation(), 2);
    let sync_a = h.send_sync(&a, 2, &[(&a, "p0"), (&b, "p1")]);
    assert_eq!(h.sync_answer(sync_a), Some(Ok(Bytes::from("p0"))));
    // b heartbeats (its session lives) but never asks for its assignment.
    for _ in 0..(REBALANCE_MS / 2_000) {
        assert_eq!(h.state(), GroupState::Stable);
        assert_eq!(h.heartbeat(&b, 2), Ok(()));
        assert_eq!(h.heartbeat(&a, 2), Ok(()));
        h.advance(2_000);
    }
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert!(!h.coordinator.group(GROUP).unwrap().members.contains_key(&b));
    assert_eq!(h.heartbeat(&b, 2), Err(ErrorCode::UnknownMemberId));
}

#[test]
fn a_static_member_that_does_not_rejoin_stays_in_the_next_generation() {
    let mut h = Harness::new(0);
    let join_a = h.send_join(Harness::join_request("", Some("i-a"), &["range"]));
    let a = h.join_answer(join_a).unwrap().member_id;
    let join_b = h.send_join(Harness::join_request("", Some("i-b"), &["range"]));
    let rejoin_a = h.send_join(Harness::join_request(&a, Some("i-a"), &["range"]));
    h.join_answer(rejoin_a).unwrap().result.unwrap();
    let b = h.join_answer(join_b).unwrap().member_id;
    let sync_a = h.send_sync(&a, 2, &[(&a, "p0"), (&b, "p1")]);
    assert_eq!(h.sync_answer(sync_a), Some(Ok(Bytes::from("p0"))));
    // The leader asks for a rebalance; b does not rejoin but keeps its session.
    let rejoin_a = h.send_join(Harness::join_request(&a, Some("i-a"), &["range"]));
    for _ in 0..(REBALANCE_MS / 5_000) {
        assert_eq!(
            h.heartbeat_as(&b, Some("i-b"), 2),
            Err(ErrorCode::RebalanceInProgress)
        );
        h.advance(5_000);
    }
    let joined = h.join_answer(rejoin_a).unwrap().result.unwrap();
    assert_eq!(joined.generation, 3);
    let members: Vec<&str> = joined
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(
        members,
        vec![a.as_str(), b.as_str()],
        "static b stays a member"
    );
    assert_eq!(
        h.heartbeat_as(&b, Some("i-b"), 2),
        Err(ErrorCode::IllegalGeneration)
    );
    // It rejoins with its id and the same subscription: the current generation, at once.
    let rejoin_b = h.send_join(Harness::join_request(&b, Some("i-b"), &["range"]));
    let joined_b = h.join_answer(rejoin_b).unwrap().result.unwrap();
    assert_eq!(joined_b.generation, 3);
    assert_eq!(h.state(), GroupState::CompletingRebalance);
}

#[test]
fn commits_without_membership_work_as_before() {
    let mut h = Harness::new(0);
    assert_eq!(h.commit(None, 3), Ok(()));
    assert_eq!(h.committed(), Some(3));
    assert!(
        h.coordinator.group(GROUP).is_none(),
        "a simple commit makes no group"
    );
    // With a generation, a commit to a group the coordinator does not know is stale.
    assert_eq!(
        h.commit(Some(("m", 1)), 4),
        Err(ErrorCode::IllegalGeneration)
    );
    assert_eq!(h.committed(), Some(3));
    // Once the group has members, only members commit.
    let (_a, _join) = h.join_dynamic(&["range"]);
    assert_eq!(h.commit(None, 5), Err(ErrorCode::UnknownMemberId));
    assert_eq!(h.committed(), Some(3));
}

#[test]
fn member_ids_are_required_and_pending_ids_expire() {
    let mut h = Harness::new(0);
    let unknown = h.send_join(Harness::join_request("made-up", None, &["range"]));
    assert_eq!(
        h.join_answer(unknown).unwrap().result,
        Err(ErrorCode::UnknownMemberId)
    );
    let first = h.send_join(Harness::join_request("", None, &["range"]));
    let answer = h.join_answer(first).unwrap();
    assert_eq!(answer.result, Err(ErrorCode::MemberIdRequired));
    assert_eq!(answer.member_id, "client-1-1", "ids come from a counter");
    h.advance(SESSION_MS);
    let late = h.send_join(Harness::join_request(&answer.member_id, None, &["range"]));
    assert_eq!(
        h.join_answer(late).unwrap().result,
        Err(ErrorCode::UnknownMemberId),
        "the pending id expired"
    );
    let bad_session = h.send_join(JoinGroupRequest {
        session_timeout_ms: 1,
        ..Harness::join_request("", None, &["range"])
    });
    assert_eq!(
        h.join_answer(bad_session).unwrap().result,
        Err(ErrorCode::InvalidSessionTimeout)
    );
}

#[test]
fn a_member_without_a_common_protocol_is_refused() {
    let (mut h, _a, _b) = two_member_round();
    let first = h.send_join(Harness::join_request("", None, &["sticky"]));
    assert_eq!(
        h.join_answer(first).unwrap().result,
        Err(ErrorCode::InconsistentGroupProtocol)
    );
    let other_type = h.send_join(JoinGroupRequest {
        protocol_type: "connect".into(),
        ..Harness::join_request("", None, &["range"])
    });
    assert_eq!(
        h.join_answer(other_type).unwrap().result,
        Err(ErrorCode::InconsistentGroupProtocol)
    );
    assert_eq!(h.state(), GroupState::Stable);
}

#[test]
fn the_group_size_limit_refuses_new_members() {
    let disk = Disk::new(Seed::new(8).stream("disk"));
    let config = GroupConfig {
        initial_rebalance_delay_ms: 0,
        max_size: 1,
        ..GroupConfig::default()
    };
    let mut coordinator = GroupCoordinator::open(disk, config, 1, 0).unwrap();
    coordinator.join_group(0, 0, Harness::join_request("", Some("i"), &["range"]));
    coordinator.join_group(0, 1, Harness::join_request("", Some("j"), &["range"]));
    let replies = coordinator.take_replies();
    assert!(matches!(
        &replies[1],
        (
            1,
            Response::JoinGroup(JoinGroupResponse {
                result: Err(ErrorCode::GroupMaxSizeReached),
                ..
            })
        )
    ));
}

/// Through the controller: a JoinGroup parks until its join phase ends and is answered to its
/// sender with its correlation id, at a tick.
#[test]
fn the_controller_answers_parked_joins_at_its_ticks() {
    let disk = Disk::new(Seed::new(9).stream("disk"));
    let config = ControllerConfig {
        groups: GroupConfig {
            initial_rebalance_delay_ms: 100,
            ..GroupConfig::default()
        },
        ..ControllerConfig::default()
    };
    let mut controller = ControllerCore::open(disk, config, 0).unwrap();
    let from = "10.0.0.9:9092".parse().unwrap();
    let send = |controller: &mut ControllerCore<Disk>, at: u64, id: u64, request: Request| {
        controller.on_message(
            Duration::from_millis(at),
            from,
            Envelope::Request {
                correlation_id: id,
                request,
            },
        );
        let mut outputs = Vec::new();
        controller.take_outputs(&mut outputs);
        outputs
            .into_iter()
            .filter_map(|output| match output {
                Output::Send {
                    envelope:
                        Envelope::Response {
                            correlation_id,
                            response,
                        },
                    ..
                } => Some((correlation_id, response)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let answers = send(
        &mut controller,
        10,
        41,
        Request::JoinGroup(Box::new(Harness::join_request("", Some("i"), &["range"]))),
    );
    assert!(answers.is_empty(), "parked during the initial delay");
    Node::on_tick(&mut controller, Duration::from_millis(200));
    let mut outputs = Vec::new();
    controller.take_outputs(&mut outputs);
    let answered: Vec<u64> = outputs
        .iter()
        .filter_map(|output| match output {
            Output::Send {
                envelope:
                    Envelope::Response {
                        correlation_id,
                        response: Response::JoinGroup(response),
                    },
                ..
            } if response.result.is_ok() => Some(*correlation_id),
            _ => None,
        })
        .collect();
    assert_eq!(answered, vec![41]);
    let heartbeat = send(
        &mut controller,
        300,
        42,
        Request::HeartbeatGroup(HeartbeatGroupRequest {
            group: GROUP.into(),
            generation: 1,
            member_id: "nobody".into(),
            group_instance_id: None,
        }),
    );
    assert_eq!(
        heartbeat,
        vec![(
            42,
            Response::HeartbeatGroup(HeartbeatGroupResponse {
                result: Err(ErrorCode::UnknownMemberId)
            })
        )]
    );
    assert_eq!(
        controller.coordinator().group(GROUP).unwrap().state,
        GroupState::CompletingRebalance
    );
}

// ---- random sequences ---------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Join {
        client: usize,
        variant: u8,
    },
    Sync {
        client: usize,
    },
    Heartbeat {
        client: usize,
    },
    Leave {
        client: usize,
    },
    Commit {
        client: usize,
        with_member: bool,
    },
    Restart {
        client: usize,
    },
    Advance {
        ms: u64,
    },
    /// The coordinator restarts from its disk.
    CoordinatorRestart,
    /// The coordinator's next disk write fails.
    FailWrite,
}

fn op() -> impl Strategy<Value = Op> {
    let client = 0..4usize;
    prop_oneof![
        3 => (client.clone(), 0..3u8).prop_map(|(client, variant)| Op::Join { client, variant }),
        3 => client.clone().prop_map(|client| Op::Sync { client }),
        2 => client.clone().prop_map(|client| Op::Heartbeat { client }),
        1 => client.clone().prop_map(|client| Op::Leave { client }),
        2 => (client.clone(), any::<bool>())
            .prop_map(|(client, with_member)| Op::Commit { client, with_member }),
        1 => client.prop_map(|client| Op::Restart { client }),
        3 => prop_oneof![Just(0u64), Just(500), Just(3_000), Just(9_000), Just(25_000)]
            .prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::CoordinatorRestart),
        1 => Just(Op::FailWrite),
    ]
}

/// What one client knows (clients 2 and 3 are static members).
#[derive(Debug, Clone, Default)]
struct Client {
    member_id: String,
    generation: Option<u32>,
    leader: bool,
    members: Vec<String>,
}

/// A request in flight: its client and the client's incarnation when sent.
#[derive(Debug, Clone, Copy)]
enum Sent {
    Join(usize, u64),
    Sync { client: usize, generation: u32 },
}

fn instance(client: usize) -> Option<String> {
    (client >= 2).then(|| format!("static-{client}"))
}

fn client_protocols(client: usize, variant: u8) -> Vec<GroupProtocol> {
    match (client % 2, variant) {
        (_, 2) => protocols(&["range"]),
        (0, _) => protocols(&["range", "roundrobin"]),
        _ => protocols(&["roundrobin", "range"]),
    }
}

fn run(ops: Vec<Op>, initial_delay: u64) {
    let mut h = Harness::new(initial_delay);
    let mut clients = vec![Client::default(); 4];
    // Bumped when a client restarts or leaves: answers to its older requests are ignored.
    let mut incarnations = [0u64; 4];
    let mut sent: BTreeMap<ReplyTo, Sent> = BTreeMap::new();
    let mut answered: BTreeMap<ReplyTo, ()> = BTreeMap::new();
    let mut last_generation = 0u32;
    // The highest generation a join answer announced.
    let mut announced = 0u32;
    let mut offset = 0u64;
    // The last acknowledged commit, and a commit that failed after it.
    let mut acked: Option<u64> = None;
    let mut failed_since: Option<u64> = None;
    let mut step = |h: &mut Harness, clients: &mut Vec<Client>, op: Op| {
        match op {
            Op::Join { client, variant } => {
                let c = &clients[client];
                let reply = h.send_join(JoinGroupRequest {
                    group_instance_id: instance(client),
                    protocols: client_protocols(client, variant),
                    ..Harness::join_request(&c.member_id, None, &[])
                });
                sent.insert(reply, Sent::Join(client, incarnations[client]));
            }
            Op::Sync { client } => {
                let c = &clients[client];
                let Some(generation) = c.generation else {
                    return;
                };
                let assignments: Vec<(String, Bytes)> = if c.leader {
                    c.members
                        .iter()
                        .map(|m| (m.clone(), Bytes::from(format!("{generation}:{m}"))))
                        .collect()
                } else {
                    Vec::new()
                };
                let reply = h.next_reply;
                h.next_reply += 1;
                h.coordinator.sync_group(
                    h.now,
                    reply,
                    SyncGroupRequest {
                        group: GROUP.into(),
                        generation,
                        member_id: c.member_id.clone(),
                        group_instance_id: instance(client),
                        assignments,
                    },
                );
                sent.insert(reply, Sent::Sync { client, generation });
                h.collect();
            }
            Op::Heartbeat { client } => {
                let c = &clients[client];
                if let Err(ErrorCode::UnknownMemberId | ErrorCode::FencedInstanceId) = h
                    .heartbeat_as(
                        &c.member_id,
                        instance(client).as_deref(),
                        c.generation.unwrap_or(0),
                    )
                {
                    clients[client] = Client::default();
                }
            }
            Op::Leave { client } => {
                let c = &clients[client];
                let _ = h.leave(&c.member_id, instance(client).as_deref());
                clients[client] = Client::default();
                incarnations[client] += 1;
            }
            Op::Commit {
                client,
                with_member,
            } => {
                let c = &clients[client];
                let group = h.coordinator.group(GROUP).cloned();
                let member = with_member.then(|| CommitMember {
                    generation: c.generation.unwrap_or(0),
                    member_id: c.member_id.clone(),
                    group_instance_id: instance(client),
                });
                offset += 1;
                let write_fails = h.disk.faults().fail_next_writes > 0;
                let result = h
                    .coordinator
                    .offset_commit(
                        h.now,
                        OffsetCommitRequest {
                            group: GROUP.into(),
                            offsets: vec![(TopicPartition::new("t", 0), offset)],
                            member: member.clone(),
                        },
                    )
                    .result;
                let allowed = match (&group, &member) {
                    (None, None) => true,
                    (Some(g), None) => g.state == GroupState::Empty,
                    (None, Some(_)) => false,
                    (Some(g), Some(m)) => {
                        g.members.contains_key(&m.member_id)
                            && g.generation == m.generation
                            && matches!(
                                g.state,
                                GroupState::Stable | GroupState::PreparingRebalance
                            )
                            && instance(client)
                                .is_none_or(|i| g.static_members.get(&i) == Some(&m.member_id))
                    }
                };
                if write_fails && allowed && result == Err(ErrorCode::KafkaStorageError) {
                    failed_since = Some(offset);
                } else {
                    assert_eq!(
                        result.is_ok(),
                        allowed,
                        "commit {member:?} to {group:?}: {result:?}"
                    );
                    if allowed {
                        acked = Some(offset);
                        failed_since = None;
                    }
                }
                assert_eq!(h.committed(), acked);
            }
            Op::Restart { client } => {
                // The process restarts: it forgets its member id (a static member keeps its
                // instance id); its parked requests are abandoned but still answered.
                clients[client] = Client::default();
                incarnations[client] += 1;
            }
            Op::Advance { ms } => h.advance(ms),
            Op::CoordinatorRestart => {
                h.restart();
                // Parked requests die with the coordinator's connections.
                sent.retain(|reply, _| answered.contains_key(reply));
                let recovered = h.committed();
                assert!(
                    recovered == acked || (failed_since.is_some() && recovered == failed_since),
                    "recovered {recovered:?}, acknowledged {acked:?}, failed {failed_since:?}"
                );
                acked = recovered;
                failed_since = None;
                match h.coordinator.group(GROUP) {
                    Some(group) => {
                        group.check_invariants();
                        assert!(
                            group.generation >= announced,
                            "generation {} recovered, {announced} announced",
                            group.generation
                        );
                        last_generation = group.generation;
                    }
                    None => {
                        // Only a group that never announced a generation is forgotten.
                        assert_eq!(announced, 0, "an announced group is durable");
                        last_generation = 0;
                    }
                }
            }
            Op::FailWrite => h.disk.update_faults(|faults| faults.fail_next_writes = 1),
        }
        // Route the answers.
        let replies: Vec<(ReplyTo, Response)> =
            std::mem::take(&mut h.replies).into_iter().collect();
        for (reply, response) in replies {
            assert!(answered.insert(reply, ()).is_none(), "answered twice");
            let Some(&sent) = sent.get(&reply) else {
                panic!("unknown reply {reply}")
            };
            // (A restart may have forgotten a group that never formed a generation.)
            let group = h.coordinator.group(GROUP);
            let group_of =
                |answer: &str| group.unwrap_or_else(|| panic!("{answer} without a group"));
            match (sent, response) {
                (Sent::Join(client, incarnation), Response::JoinGroup(answer)) => match answer
                    .result
                {
                    Ok(joined) => {
                        assert!(joined.generation <= group_of("join").generation);
                        announced = announced.max(joined.generation);
                        if incarnation != incarnations[client] {
                            continue;
                        }
                        clients[client] = Client {
                            member_id: answer.member_id.clone(),
                            generation: Some(joined.generation),
                            leader: joined.leader == answer.member_id,
                            members: joined.members.iter().map(|m| m.member_id.clone()).collect(),
                        };
                    }
                    Err(_) if incarnation != incarnations[client] => {}
                    Err(ErrorCode::MemberIdRequired) => {
                        clients[client] = Client {
                            member_id: answer.member_id,
                            ..Client::default()
                        };
                    }
                    Err(ErrorCode::UnknownMemberId | ErrorCode::FencedInstanceId) => {
                        clients[client] = Client::default();
                    }
                    Err(_) => {}
                },
                (Sent::Sync { client, generation }, Response::SyncGroup(answer)) => {
                    if let Ok(assignment) = answer.result {
                        // Only the current generation's members get assignments, and only once
                        // the group is Stable.
                        let group = group_of("sync");
                        assert_eq!(generation, group.generation);
                        assert_eq!(group.state, GroupState::Stable);
                        if !assignment.is_empty() {
                            let text = String::from_utf8(assignment.to_vec()).unwrap();
                            assert!(
                                text.starts_with(&format!("{generation}:")),
                                "assignment {text} in generation {generation}"
                            );
                        }
                        let _ = client;
                    }
                }
                (sent, response) => panic!("{sent:?} answered with {response:?}"),
            }
        }
        if let Some(group) = h.coordinator.group(GROUP) {
            group.check_invariants();
            assert!(group.generation >= last_generation, "generation went back");
            last_generation = group.generation;
        }
    };
    for op in ops {
        step(&mut h, &mut clients, op);
    }
    // Nothing stays parked forever: with time, every request is answered.
    for _ in 0..4 {
        step(&mut h, &mut clients, Op::Advance { ms: 60_000 });
    }
    let unanswered: Vec<&ReplyTo> = sent.keys().filter(|r| !answered.contains_key(r)).collect();
    assert!(unanswered.is_empty(), "never answered: {unanswered:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_group_traffic_keeps_the_invariants(
        ops in prop::collection::vec(op(), 1..80),
        initial_delay in prop_oneof![Just(0u64), Just(3_000)],
    ) {
        run(ops, initial_delay);
    }
}
