//! A group coordinator driven directly with explicit time, on a simulated disk that can crash
//! (the coordinator restarts from it) and fail writes: for the retention and durability tests.
#![allow(dead_code)]

use broker::api::*;
use broker::coordinator::{ExpiredOffsets, GroupConfig, GroupCoordinator, GroupState, ReplyTo};
use bytes::{BufMut, Bytes};
use sim::disk::Disk;
use sim::Seed;
use std::collections::BTreeMap;

pub const SESSION_MS: u64 = 10_000;
pub const REBALANCE_MS: u64 = 20_000;

/// A Kafka consumer protocol subscription (version 1: topics, no user data, no owned
/// partitions), as real consumers put in their JoinGroup metadata.
pub fn subscription(topics: &[&str]) -> Bytes {
    let mut buf = Vec::new();
    buf.put_i16(1);
    buf.put_i32(topics.len() as i32);
    for topic in topics {
        buf.put_i16(topic.len() as i16);
        buf.put_slice(topic.as_bytes());
    }
    buf.put_i32(-1);
    buf.put_i32(0);
    Bytes::from(buf)
}

/// One `range` protocol with this metadata.
pub fn range(metadata: Bytes) -> Vec<GroupProtocol> {
    vec![GroupProtocol {
        name: "range".into(),
        metadata,
    }]
}

pub struct Coord {
    pub disk: Disk,
    pub config: GroupConfig,
    pub coordinator: GroupCoordinator<Disk>,
    /// The coordinator's incarnation (part of every member id).
    pub epoch: u64,
    pub now: u64,
    next_reply: ReplyTo,
    pub replies: BTreeMap<ReplyTo, Response>,
    /// Everything reported expired, in order.
    pub expired: Vec<ExpiredOffsets>,
}

impl Coord {
    pub fn new(seed: u64, config: GroupConfig) -> Coord {
        let disk = Disk::new(Seed::new(seed).stream("disk"));
        disk.update_faults(|faults| faults.torn_writes = true);
        let coordinator = GroupCoordinator::open(disk.clone(), config.clone(), 1, 0).unwrap();
        Coord {
            disk,
            config,
            coordinator,
            epoch: 1,
            now: 0,
            next_reply: 0,
            replies: BTreeMap::new(),
            expired: Vec::new(),
        }
    }

    /// The coordinator's node crashes (unsynced bytes lost or torn) and comes back: a new
    /// incarnation opens the state on the disk at the same time. Parked requests are lost.
    pub fn restart(&mut self) {
        self.disk.crash();
        self.epoch += 1;
        self.coordinator =
            GroupCoordinator::open(self.disk.clone(), self.config.clone(), self.epoch, self.now)
                .expect("recovery succeeds");
        self.check();
    }

    /// The next `writes` writes to the disk fail.
    pub fn fail_next_writes(&self, writes: u32) {
        self.disk
            .update_faults(|faults| faults.fail_next_writes = writes);
    }

    fn collect(&mut self) {
        for (reply, response) in self.coordinator.take_replies() {
            assert!(
                self.replies.insert(reply, response).is_none(),
                "answered twice"
            );
        }
        self.expired.extend(self.coordinator.take_expired());
        self.check();
    }

    fn check(&self) {
        for group in self.coordinator.groups() {
            group.check_invariants();
        }
    }

    /// Moves time on by `ms`, ticking every `step` ms (the controller ticks every 50 ms).
    pub fn advance_by(&mut self, ms: u64, step: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + step).min(end);
            self.coordinator.tick(self.now);
            self.collect();
        }
    }

    pub fn advance(&mut self, ms: u64) {
        self.advance_by(ms, 50);
    }

    pub fn join_request(
        group: &str,
        member_id: &str,
        instance: Option<&str>,
        protocols: Vec<GroupProtocol>,
    ) -> JoinGroupRequest {
        JoinGroupRequest {
            group: group.into(),
            member_id: member_id.into(),
            group_instance_id: instance.map(str::to_string),
            client_id: "client".into(),
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: REBALANCE_MS,
            protocol_type: "consumer".into(),
            protocols,
        }
    }

    pub fn send_join(&mut self, request: JoinGroupRequest) -> ReplyTo {
        let reply = self.next_reply;
        self.next_reply += 1;
        self.coordinator.join_group(self.now, reply, request);
        self.collect();
        reply
    }

    pub fn join_answer(&mut self, reply: ReplyTo) -> Option<JoinGroupResponse> {
        match self.replies.remove(&reply)? {
            Response::JoinGroup(response) => Some(response),
            other => panic!("not a join answer: {other:?}"),
        }
    }

    /// A dynamic member's KIP-394 first join and its real join: (member id, second join).
    pub fn join_dynamic(
        &mut self,
        group: &str,
        protocols: Vec<GroupProtocol>,
    ) -> (String, ReplyTo) {
        let first = self.send_join(Self::join_request(group, "", None, protocols.clone()));
        let answer = self.join_answer(first).expect("answered at once");
        assert_eq!(answer.result, Err(ErrorCode::MemberIdRequired));
        let second = self.send_join(Self::join_request(
            group,
            &answer.member_id,
            None,
            protocols,
        ));
        (answer.member_id, second)
    }

    pub fn send_sync(
        &mut self,
        group: &str,
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
                group: group.into(),
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

    pub fn sync_answer(&mut self, reply: ReplyTo) -> Option<Result<Bytes, ErrorCode>> {
        match self.replies.remove(&reply)? {
            Response::SyncGroup(response) => Some(response.result),
            other => panic!("not a sync answer: {other:?}"),
        }
    }

    /// One dynamic member joins `group` alone (no initial delay configured) and syncs as its
    /// leader: returns its id and generation.
    pub fn lone_member(&mut self, group: &str, protocols: Vec<GroupProtocol>) -> (String, u32) {
        let (member, join) = self.join_dynamic(group, protocols);
        if !self.replies.contains_key(&join) {
            // The initial rebalance delay.
            self.advance(self.config.initial_rebalance_delay_ms + 50);
        }
        let joined = self.join_answer(join).expect("joined").result.expect("ok");
        let sync = self.send_sync(group, &member, joined.generation, &[(&member, "all")]);
        assert_eq!(self.sync_answer(sync), Some(Ok(Bytes::from("all"))));
        (member, joined.generation)
    }

    pub fn heartbeat(
        &mut self,
        group: &str,
        member_id: &str,
        generation: u32,
    ) -> Result<(), ErrorCode> {
        let answer = self.coordinator.heartbeat(
            self.now,
            HeartbeatGroupRequest {
                group: group.into(),
                generation,
                member_id: member_id.into(),
                group_instance_id: None,
            },
        );
        self.collect();
        answer.result
    }

    pub fn leave(&mut self, group: &str, member_id: &str) -> Result<(), ErrorCode> {
        let answer = self.coordinator.leave_group(
            self.now,
            LeaveGroupRequest {
                group: group.into(),
                member_id: member_id.into(),
                group_instance_id: None,
            },
        );
        self.collect();
        answer.result
    }

    /// Commits `offset` for `topic`-0 (with a member, fenced by its generation).
    pub fn commit(
        &mut self,
        group: &str,
        member: Option<(&str, u32)>,
        topic: &str,
        offset: u64,
    ) -> Result<(), ErrorCode> {
        let answer = self.coordinator.offset_commit(
            self.now,
            OffsetCommitRequest {
                group: group.into(),
                offsets: vec![(TopicPartition::new(topic, 0), offset)],
                member: member.map(|(member_id, generation)| CommitMember {
                    generation,
                    member_id: member_id.into(),
                    group_instance_id: None,
                }),
            },
        );
        answer.result
    }

    /// The committed offset of `topic`-0, as OffsetFetch answers it.
    pub fn committed(&self, group: &str, topic: &str) -> Option<u64> {
        let answer = self.coordinator.offset_fetch(OffsetFetchRequest {
            group: group.into(),
            partitions: Some(vec![TopicPartition::new(topic, 0)]),
        });
        answer.result.expect("fetch")[0].1
    }

    pub fn state(&self, group: &str) -> GroupState {
        self.coordinator.group(group).expect("group").state
    }

    pub fn generation(&self, group: &str) -> u32 {
        self.coordinator.group(group).expect("group").generation
    }

    /// Keeps `members` (id, generation) of `group` alive for `ms`, heartbeating every second.
    pub fn keep_alive(&mut self, group: &str, members: &[(&str, u32)], ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.advance((end - self.now).min(1_000));
            for (member, generation) in members {
                assert_eq!(self.heartbeat(group, member, *generation), Ok(()));
            }
        }
    }

    /// The partitions reported expired for `group`, as (topic, partition), in report order.
    pub fn expired_of(&self, group: &str) -> Vec<(String, u32)> {
        self.expired
            .iter()
            .filter(|e| e.group == group)
            .flat_map(|e| {
                e.partitions
                    .iter()
                    .map(|p| (p.topic.to_string(), p.partition))
            })
            .collect()
    }
}
