//! The consumer as a group member, driven by hand-made coordinator answers.

use super::*;
use crate::assignor::{self, Assignor};
use crate::testkit::{self, metadata, served_batch, tp, Sent, Wire};
use protocol::api::{
    FetchResponse, HeartbeatGroupResponse, JoinGroupResponse, JoinedGroup, JoinedMember,
    MetadataResponse, OffsetCommitResponse, OffsetFetchResponse, SyncGroupResponse,
};

struct Member {
    consumer: Consumer,
    now_ms: u64,
    wire: Wire,
}

fn settings(assignor: Assignor) -> GroupSettings {
    let mut settings = GroupSettings::new(assignor);
    settings.heartbeat_interval_ms = 100;
    settings
}

fn config(assignor: Assignor) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(
        "consumer-0",
        Subscription::Join {
            topics: vec!["t".to_string()],
            settings: settings(assignor),
        },
    );
    config.group = "g".to_string();
    config.commit_mode = CommitMode::Manual;
    config
}

impl Member {
    /// A member that knows topic t with `partitions` partitions and has not joined yet.
    fn new(config: ConsumerConfig, partitions: usize) -> Member {
        let consumer = Consumer::new(config, testkit::cluster(), 0, testkit::rng());
        let mut member = Member {
            consumer,
            now_ms: 0,
            wire: Wire::default(),
        };
        member.tick(0);
        let leaders = vec![Some(1); partitions];
        for sent in member.wire.take("metadata") {
            member.answer(
                &sent,
                Response::Metadata(MetadataResponse {
                    metadata: metadata(1, &[("t", &leaders)], 0),
                }),
            );
        }
        member.tick(1);
        member
    }

    fn tick(&mut self, ms: u64) {
        self.now_ms += ms;
        self.consumer.on_tick(self.now_ms);
        self.absorb();
    }

    fn absorb(&mut self) {
        let actions = self.consumer.poll_actions();
        self.wire.absorb(actions);
    }

    fn answer(&mut self, sent: &Sent, response: Response) {
        self.consumer
            .on_response(self.now_ms, sent.correlation_id, sent.to, response);
        self.absorb();
    }

    fn one(&mut self, api: &str) -> Sent {
        let mut sent = self.wire.take(api);
        assert_eq!(sent.len(), 1, "exactly one {api} outstanding: {sent:?}");
        sent.pop().unwrap()
    }

    fn none(&mut self, api: &str) {
        let sent = self.wire.take(api);
        assert!(sent.is_empty(), "no {api} expected: {sent:?}");
    }

    /// Answers the outstanding JoinGroup: this member alone in `generation`, as leader.
    fn join_alone(&mut self, member_id: &str, generation: u32) -> Vec<(String, Bytes)> {
        let join = self.one("join_group");
        let Request::JoinGroup(request) = &join.request else {
            unreachable!()
        };
        let metadata = request.protocols[0].metadata.clone();
        self.answer(
            &join,
            Response::JoinGroup(JoinGroupResponse {
                member_id: member_id.to_string(),
                result: Ok(JoinedGroup {
                    generation,
                    protocol_name: request.protocols[0].name.clone(),
                    leader: member_id.to_string(),
                    members: vec![JoinedMember {
                        member_id: member_id.to_string(),
                        group_instance_id: None,
                        metadata,
                    }],
                    skip_assignment: false,
                }),
            }),
        );
        let sync = self.one("sync_group");
        let Request::SyncGroup(request) = &sync.request else {
            unreachable!()
        };
        assert_eq!(request.generation, generation);
        let assignments = request.assignments.clone();
        self.wire.outstanding.push(sync);
        assignments
    }

    /// Answers the outstanding SyncGroup with `partitions`.
    fn sync(&mut self, partitions: &[TopicPartition]) {
        let sync = self.one("sync_group");
        self.answer(
            &sync,
            Response::SyncGroup(SyncGroupResponse {
                result: Ok(assignor::encode_assignment(partitions).unwrap()),
            }),
        );
    }

    /// Answers the OffsetFetch: nothing committed, then ListOffsets(earliest) = 0.
    fn start_at(&mut self, committed: u64) {
        let fetch = self.one("offset_fetch");
        let Request::OffsetFetch(request) = &fetch.request else {
            unreachable!()
        };
        let answers = request
            .partitions
            .iter()
            .flatten()
            .map(|partition| (partition.clone(), Some(committed)))
            .collect();
        self.answer(
            &fetch,
            Response::OffsetFetch(OffsetFetchResponse {
                result: Ok(answers),
            }),
        );
    }

    /// Serves `count` records at `offset` to the outstanding fetch of `partition`, and polls.
    fn deliver(&mut self, partition: &TopicPartition, offset: u64, count: usize) {
        self.tick(1);
        let fetches = self.wire.take("fetch");
        for fetch in fetches {
            if &fetch.partition() != partition {
                self.wire.outstanding.push(fetch);
                continue;
            }
            let values: Vec<String> = (0..count)
                .map(|i| format!("v{}", offset + i as u64))
                .collect();
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            self.answer(
                &fetch,
                Response::Fetch(FetchResponse {
                    result: Ok(vec![served_batch(offset, &values)]),
                    high_watermark: offset + count as u64,
                    log_start_offset: 0,
                    leader_epoch: 0,
                    preferred_read_replica: None,
                }),
            );
        }
        let records = self.consumer.poll(self.now_ms, 1_000);
        assert_eq!(records.len(), count);
        self.absorb();
    }

    /// Answers the latest heartbeat (one may still be out from the sync phase: it goes unanswered).
    fn heartbeat(&mut self, result: Result<(), ErrorCode>) {
        self.tick(100);
        let heartbeat = self
            .wire
            .take("heartbeat_group")
            .pop()
            .expect("a heartbeat");
        self.answer(
            &heartbeat,
            Response::HeartbeatGroup(HeartbeatGroupResponse { result }),
        );
    }

    fn ops(&mut self) -> Vec<Op> {
        self.wire.take_ops()
    }
}

fn names(ops: &[Op]) -> Vec<&str> {
    ops.iter()
        .map(|op| op.f())
        .filter(|f| !matches!(*f, "request" | "poll"))
        .collect()
}

fn revoked(ops: &[Op]) -> Vec<(Vec<u32>, bool)> {
    ops.iter()
        .filter_map(|op| match op {
            Op::Revoke {
                partitions, lost, ..
            } => Some((partitions.iter().map(|p| p.partition).collect(), *lost)),
            _ => None,
        })
        .collect()
}

/// A member alone in generation 1 with t-0 and t-1, reading from offset 0.
fn stable(assignor: Assignor) -> Member {
    let mut member = Member::new(config(assignor), 2);
    let first = member.one("join_group");
    // KIP-394: a first join without a member id gets one to join with.
    member.answer(
        &first,
        Response::JoinGroup(JoinGroupResponse {
            member_id: "m-1".to_string(),
            result: Err(ErrorCode::MemberIdRequired),
        }),
    );
    let assignments = member.join_alone("m-1", 1);
    assert_eq!(assignments.len(), 1);
    let mine = assignor::decode_assignment(&assignments[0].1).unwrap();
    assert_eq!(mine, vec![tp("t", 0), tp("t", 1)], "range gives it both");
    member.sync(&mine);
    member.start_at(0);
    member
}

#[test]
fn a_member_joins_with_the_id_it_is_given_assigns_as_leader_and_reads() {
    let mut member = stable(Assignor::Range);
    let ops = member.ops();
    assert_eq!(names(&ops), ["start", "join", "assignment", "assign"]);
    match &ops[1] {
        Op::Join {
            group,
            generation,
            member,
            leader,
            ..
        } => {
            assert_eq!(
                (&**group, *generation, &**member, *leader),
                ("g", 1, "m-1", true)
            );
        }
        other => panic!("{other:?}"),
    }
    member.deliver(&tp("t", 0), 0, 3);
    member.deliver(&tp("t", 1), 0, 2);
    assert!(
        member.consumer.status().caught_up,
        "stable, everything delivered"
    );
}

#[test]
fn commits_carry_the_generation_and_a_fenced_commit_is_not_retried() {
    let mut member = stable(Assignor::CooperativeSticky);
    member.deliver(&tp("t", 0), 0, 3);
    member.ops();
    member.consumer.commit(member.now_ms);
    member.absorb();
    let commit = member.one("offset_commit");
    let Request::OffsetCommit(request) = &commit.request else {
        unreachable!()
    };
    let who = request.member.clone().expect("a member's commit");
    assert_eq!((who.generation, who.member_id.as_str()), (1, "m-1"));
    member.answer(
        &commit,
        Response::OffsetCommit(OffsetCommitResponse {
            result: Err(ErrorCode::IllegalGeneration),
        }),
    );
    let ops = member.ops();
    assert!(ops.iter().any(|op| matches!(op,
        Op::Commit { phase: CommitPhase::Fail, generation: Some(1), error: Some(error), .. }
            if error == "illegal_generation")));
    // Expelled: both partitions lost without a commit, a new join (same member id).
    assert_eq!(revoked(&ops), [(vec![0, 1], true)]);
    member.tick(1_000);
    member.none("offset_commit");
    let join = member.one("join_group");
    let Request::JoinGroup(request) = &join.request else {
        unreachable!()
    };
    assert_eq!(request.member_id, "m-1");
    let subscription = assignor::decode_subscription(&request.protocols[0].metadata).unwrap();
    assert!(
        subscription.owned.is_empty(),
        "lost partitions are not claimed"
    );
}

#[test]
fn an_eager_member_commits_then_revokes_everything_before_it_rejoins() {
    let mut member = stable(Assignor::Range);
    member.deliver(&tp("t", 0), 0, 5);
    member.ops();
    member.heartbeat(Err(ErrorCode::RebalanceInProgress));
    member.tick(1);
    // The commit on revoke goes out first; no join before it is answered.
    let commit = member.one("offset_commit");
    member.none("join_group");
    member.answer(
        &commit,
        Response::OffsetCommit(OffsetCommitResponse { result: Ok(()) }),
    );
    member.tick(1);
    let ops = member.ops();
    assert_eq!(revoked(&ops), [(vec![0, 1], false)]);
    let join = member.one("join_group");
    let Request::JoinGroup(request) = &join.request else {
        unreachable!()
    };
    let subscription = assignor::decode_subscription(&request.protocols[0].metadata).unwrap();
    assert!(subscription.owned.is_empty(), "eager members claim nothing");
    assert!(member.consumer.status().partitions.is_empty());
}

#[test]
fn a_cooperative_member_gives_up_only_what_moves_and_rejoins() {
    let mut member = stable(Assignor::CooperativeSticky);
    member.deliver(&tp("t", 1), 0, 4);
    member.ops();
    member.heartbeat(Err(ErrorCode::RebalanceInProgress));
    member.tick(1);
    // No revocation before the rejoin; the join claims both partitions of generation 1.
    let join = member.one("join_group");
    let Request::JoinGroup(request) = &join.request else {
        unreachable!()
    };
    let subscription = assignor::decode_subscription(&request.protocols[0].metadata).unwrap();
    assert_eq!(subscription.owned, vec![tp("t", 0), tp("t", 1)]);
    assert_eq!(subscription.generation, Some(1));
    member.wire.outstanding.push(join);
    member.join_alone("m-1", 2);
    // Generation 2 keeps t-0 here; t-1 goes elsewhere: commit it, revoke it, rejoin.
    member.sync(&[tp("t", 0)]);
    member.tick(1);
    let commit = member.one("offset_commit");
    let Request::OffsetCommit(request) = &commit.request else {
        unreachable!()
    };
    assert_eq!(request.offsets, vec![(tp("t", 1), 4)]);
    member.answer(
        &commit,
        Response::OffsetCommit(OffsetCommitResponse { result: Ok(()) }),
    );
    member.tick(1);
    let ops = member.ops();
    assert_eq!(revoked(&ops), [(vec![1], false)]);
    member.one("join_group");
    assert_eq!(
        member
            .consumer
            .status()
            .partitions
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        vec![tp("t", 0)],
        "t-0 reads on without a new start"
    );
}

#[test]
fn an_expelled_member_loses_its_partitions_and_joins_with_a_fresh_id() {
    let mut member = stable(Assignor::Range);
    member.deliver(&tp("t", 0), 0, 2);
    member.ops();
    member.heartbeat(Err(ErrorCode::UnknownMemberId));
    let ops = member.ops();
    assert_eq!(revoked(&ops), [(vec![0, 1], true)]);
    member.none("offset_commit");
    member.tick(1);
    let join = member.one("join_group");
    let Request::JoinGroup(request) = &join.request else {
        unreachable!()
    };
    assert_eq!(request.member_id, "", "UnknownMemberId: join from scratch");
}

#[test]
fn close_commits_revokes_and_leaves_the_group() {
    let mut member = stable(Assignor::Range);
    member.deliver(&tp("t", 0), 0, 2);
    member.ops();
    member.consumer.close(member.now_ms);
    member.absorb();
    let commit = member.one("offset_commit");
    member.answer(
        &commit,
        Response::OffsetCommit(OffsetCommitResponse { result: Ok(()) }),
    );
    member.tick(1);
    let ops = member.ops();
    assert_eq!(
        names(&ops),
        ["commit", "commit", "revoke", "leave", "close"]
    );
    let leave = member.one("leave_group");
    let Request::LeaveGroup(request) = &leave.request else {
        unreachable!()
    };
    assert_eq!(request.member_id, "m-1");
    assert!(member.consumer.is_closed());
}

#[test]
fn with_keep_stored_a_member_commits_a_revoked_partition_after_the_rebalance() {
    let mut config = config(Assignor::Range);
    config.revoked_offsets_policy = RevokedOffsetsPolicy::KeepStored;
    let mut member = Member::new(config, 2);
    member.join_alone("m-1", 1);
    member.sync(&[tp("t", 0), tp("t", 1)]);
    member.start_at(0);
    member.deliver(&tp("t", 1), 0, 3);
    member.ops();
    member.heartbeat(Err(ErrorCode::RebalanceInProgress));
    member.tick(1);
    // The bug: no commit on revoke; straight to the rejoin.
    member.none("offset_commit");
    member.join_alone("m-1", 2);
    member.sync(&[tp("t", 0)]);
    member.start_at(0);
    member.consumer.commit(member.now_ms);
    member.absorb();
    let commit = member.one("offset_commit");
    let Request::OffsetCommit(request) = &commit.request else {
        unreachable!()
    };
    assert_eq!(
        request.offsets,
        vec![(tp("t", 1), 3)],
        "t-1 is no longer its own"
    );
    assert_eq!(request.member.as_ref().unwrap().generation, 2);
}
