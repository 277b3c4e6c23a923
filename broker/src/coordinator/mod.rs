//! The group coordinator: consumer group membership (Kafka's classic protocol: JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, static membership) and committed offsets (`OffsetCommit`
//! fenced by generation and member, `OffsetFetch`), on the controller node.
//!
//! It runs on the controller node, which hands it the coordinator requests
//! ([`crate::controller::ControllerCore::on_request`] and its `Node::on_message`) and ticks;
//! it has its own state and its own journal and knows nothing of the cluster metadata.
//!
//! Sans-IO: time enters as `now_ms`. JoinGroup and SyncGroup may be parked until the group's
//! rebalance moves on; the caller names each with a [`ReplyTo`] and collects answers with
//! [`GroupCoordinator::take_replies`] after every call (requests and [`GroupCoordinator::tick`]).
//!
//! Durability: committed offsets are durable (guarantees of [`OffsetStore`]: an acknowledged
//! commit is durable; a failed one is not what a later fetch answers). Group membership
//! (members, generations, assignments) lives in memory only: a coordinator restart forgets
//! every group, whose members then get `UnknownMemberId` and rejoin (Kafka persists it in
//! `__consumer_offsets`). Member ids carry the coordinator's epoch so they never repeat across
//! restarts.

mod group;

pub use group::{Group, GroupConfig, GroupState, Member, Replies, ReplyTo};

use crate::api::*;
use crate::offsets::{OffsetStore, OffsetStoreError, PartitionOffset, NAME_BYTES_MAX};
use crate::storage::Storage;
use group::MemberIds;
use std::collections::BTreeMap;

/// Journal file name prefix of the committed offsets.
pub(crate) const OFFSETS_JOURNAL: &str = "controller/offsets-";
/// Compact the offsets journal when it grows past this.
pub(crate) const OFFSETS_JOURNAL_BYTES_MAX: u64 = 1 << 20;

/// The coordinator's state machine: every group's membership and committed offsets.
pub struct GroupCoordinator<S: Storage> {
    offsets: OffsetStore<S>,
    config: GroupConfig,
    groups: BTreeMap<String, Group>,
    ids: MemberIds,
    replies: Replies,
}

impl<S: Storage> GroupCoordinator<S> {
    /// Opens (or recovers) the committed offsets on `storage`. `epoch` must differ between
    /// incarnations of the coordinator (it is part of every member id).
    pub fn open(storage: S, config: GroupConfig, epoch: u64) -> Result<Self, OffsetStoreError> {
        let (offsets, _recovery) =
            OffsetStore::open(storage, OFFSETS_JOURNAL, OFFSETS_JOURNAL_BYTES_MAX)?;
        Ok(GroupCoordinator {
            offsets,
            config,
            groups: BTreeMap::new(),
            ids: MemberIds { epoch, next: 0 },
            replies: Vec::new(),
        })
    }

    /// A group's membership, if it has any state.
    pub fn group(&self, group: &str) -> Option<&Group> {
        self.groups.get(group)
    }

    /// Every group, in name order.
    pub fn groups(&self) -> impl Iterator<Item = &Group> + '_ {
        self.groups.values()
    }

    /// Answers produced since the last call, in completion order.
    pub fn take_replies(&mut self) -> Replies {
        std::mem::take(&mut self.replies)
    }

    fn check_group_name(group: &str) -> Result<(), ErrorCode> {
        if group.is_empty() || group.len() > NAME_BYTES_MAX {
            return Err(ErrorCode::InvalidRequest {
                reason: format!("group id of {} bytes", group.len()),
            });
        }
        Ok(())
    }

    /// JoinGroup; the answer (now or when the join phase ends) comes from
    /// [`GroupCoordinator::take_replies`] under `reply`.
    pub fn join_group(&mut self, now_ms: u64, reply: ReplyTo, request: JoinGroupRequest) {
        let error = if let Err(error) = Self::check_group_name(&request.group) {
            Some(error)
        } else if request.session_timeout_ms < self.config.min_session_timeout_ms
            || request.session_timeout_ms > self.config.max_session_timeout_ms
        {
            Some(ErrorCode::InvalidSessionTimeout)
        } else if !request.member_id.is_empty() && !self.groups.contains_key(&request.group) {
            Some(ErrorCode::UnknownMemberId)
        } else {
            None
        };
        if let Some(error) = error {
            self.replies.push((
                reply,
                Response::JoinGroup(JoinGroupResponse {
                    member_id: request.member_id,
                    result: Err(error),
                }),
            ));
            return;
        }
        let delay = self.config.initial_rebalance_delay_ms;
        let group = self
            .groups
            .entry(request.group.clone())
            .or_insert_with(|| Group::new(&request.group, delay));
        group.join(
            now_ms,
            reply,
            request,
            &self.config,
            &mut self.ids,
            &mut self.replies,
        );
    }

    /// SyncGroup; the answer (now or when the leader's assignment arrives) comes from
    /// [`GroupCoordinator::take_replies`] under `reply`.
    pub fn sync_group(&mut self, now_ms: u64, reply: ReplyTo, request: SyncGroupRequest) {
        match self.groups.get_mut(&request.group) {
            Some(group) => group.sync(now_ms, reply, request, &mut self.replies),
            None => self.replies.push((
                reply,
                Response::SyncGroup(SyncGroupResponse {
                    result: Err(ErrorCode::UnknownMemberId),
                }),
            )),
        }
    }

    /// A group member's heartbeat: answered at once.
    pub fn heartbeat(
        &mut self,
        now_ms: u64,
        request: HeartbeatGroupRequest,
    ) -> HeartbeatGroupResponse {
        let result = match self.groups.get_mut(&request.group) {
            Some(group) => group.heartbeat(now_ms, &request),
            None => Err(ErrorCode::UnknownMemberId),
        };
        HeartbeatGroupResponse { result }
    }

    /// LeaveGroup: answered at once (parked requests it ends go to the replies).
    pub fn leave_group(&mut self, now_ms: u64, request: LeaveGroupRequest) -> LeaveGroupResponse {
        let result = match self.groups.get_mut(&request.group) {
            Some(group) => group.leave(now_ms, &request, &mut self.replies),
            None => Err(ErrorCode::UnknownMemberId),
        };
        LeaveGroupResponse { result }
    }

    /// Fires the group timers due at `now_ms`; returns the next deadline, if any.
    pub fn tick(&mut self, now_ms: u64) -> Option<u64> {
        for group in self.groups.values_mut() {
            group.tick(now_ms, &mut self.replies);
        }
        self.next_deadline()
    }

    /// The earliest group timer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.groups.values().filter_map(Group::next_deadline).min()
    }

    /// Commits a group's offsets; `Ok` means durable. A commit with a member is fenced by the
    /// group's generation and membership; one without is accepted while the group has no
    /// members (Kafka's generation -1 commit).
    pub fn offset_commit(&mut self, request: OffsetCommitRequest) -> OffsetCommitResponse {
        let fenced = match self.groups.get(&request.group) {
            Some(group) => group.validate_commit(request.member.as_ref()),
            // Kafka: a commit with a generation to a group it does not know is from an older
            // generation (or another coordinator's).
            None if request.member.is_some() => Err(ErrorCode::IllegalGeneration),
            None => Ok(()),
        };
        if let Err(error) = fenced {
            return OffsetCommitResponse { result: Err(error) };
        }
        let commits: Vec<PartitionOffset> = request
            .offsets
            .iter()
            .map(|(partition, offset)| PartitionOffset {
                topic: partition.topic.clone(),
                partition: partition.partition,
                offset: *offset,
            })
            .collect();
        let result = match self.offsets.commit(&request.group, &commits) {
            Ok(()) => Ok(()),
            Err(OffsetStoreError::Storage(_)) => Err(ErrorCode::KafkaStorageError),
            Err(error) => Err(ErrorCode::InvalidRequest {
                reason: error.to_string(),
            }),
        };
        OffsetCommitResponse { result }
    }

    /// A group's committed offsets for the asked partitions (`None` where nothing was committed).
    pub fn offset_fetch(&self, request: OffsetFetchRequest) -> OffsetFetchResponse {
        let offsets = request
            .partitions
            .iter()
            .map(|partition| {
                let offset =
                    self.offsets
                        .fetch(&request.group, &partition.topic, partition.partition);
                (partition.clone(), offset)
            })
            .collect();
        OffsetFetchResponse {
            result: Ok(offsets),
        }
    }
}
