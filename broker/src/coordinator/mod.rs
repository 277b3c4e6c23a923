//! The group coordinator: consumer group membership (Kafka's classic protocol: JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, static membership) and committed offsets (`OffsetCommit`
//! fenced by generation and member, `OffsetFetch`), on the controller node.
//!
//! It runs on the controller node, which hands it the coordinator requests
//! ([`crate::controller::ControllerCore::on_request`] and its `Node::on_message`) and ticks;
//! it has its own state and its own journals (offsets, group records) and knows nothing of the
//! cluster metadata.
//!
//! Sans-IO: time enters as `now_ms`. JoinGroup and SyncGroup may be parked until the group's
//! rebalance moves on; the caller names each with a [`ReplyTo`] and collects answers with
//! [`GroupCoordinator::take_replies`] after every call (requests and [`GroupCoordinator::tick`]).
//!
//! Durability and what survives a restart (the controller node crashing and coming back):
//! - Committed offsets, each with its commit time: an acknowledged commit is durable, a
//!   failed one is not what a later fetch answers ([`OffsetStore`]'s guarantees).
//! - Group membership: a group's record (protocol type and name, generation, leader, members
//!   with their ids, instance ids, timeouts, subscriptions and assignments, and when it
//!   entered its state) is journaled where Kafka stores `GroupMetadata` — when the leader's
//!   assignment arrives, when the group becomes Empty, when a static member is replaced
//!   without a rebalance — and when a generation forms, before anyone is told of it. An
//!   answer that announces such a step leaves only once its record is durable; if the write
//!   fails the step is undone and the answers are `RebalanceInProgress` (a generation does not
//!   form, an assignment is not handed out and the group rebalances, a static replacement is
//!   reverted), except becoming Empty, which stays and is written again at the next ticks.
//!   A restarted coordinator rebuilds every group from its latest record, giving each member
//!   a fresh session: a member whose session has not expired goes on with its generation
//!   (heartbeats and commits succeed), and a generation number once announced is never
//!   announced again. What happened after the latest record is forgotten, as in Kafka: a
//!   rebalance that had not formed its generation yet (its parked joins are lost with the
//!   connections), members that left or expired since (they come back until their fresh
//!   sessions expire). Pending (KIP-394) member ids are not kept. Member ids carry the
//!   coordinator's epoch, so they never repeat across restarts.
//! - Offset retention (KIP-211, `retention.rs`): at its ticks, every
//!   `offsets_retention_check_interval_ms`, the coordinator deletes expired offsets — an
//!   empty group's once the retention has passed since it became empty and since their
//!   commit, those of a group that never had members once it has passed since their commit,
//!   a group with members' never (unless [`crate::policy::OffsetExpiryPolicy::CommitTimestamp`],
//!   KAFKA-13636). Each deletion is journaled before it is reported
//!   ([`GroupCoordinator::take_expired`]), so a restart does not bring the offsets back.
//!
//! Not modelled: group deletion (Kafka's `Dead` state once an empty group's offsets are gone:
//! a group and its generation count stay), Kafka's expiry of unsubscribed topics' offsets in
//! a `Stable` group (KIP-496), per-request retention times (OffsetCommit v2-v4), commit
//! metadata, coordinator migration between brokers (the one coordinator runs on the
//! controller node).

mod group;
mod retention;
mod store;

pub use group::{
    Group, GroupConfig, GroupState, Member, Replies, ReplyTo,
    OFFSETS_RETENTION_CHECK_INTERVAL_MS_DEFAULT, OFFSETS_RETENTION_MS_DEFAULT,
};
pub use retention::{subscription_topics, ExpiredOffsets, CONSUMER_PROTOCOL_TYPE};
pub use store::GroupStoreError;

use crate::api::*;
use crate::offsets::{OffsetStore, OffsetStoreError, PartitionOffset, NAME_BYTES_MAX};
use crate::storage::Storage;
use group::{Effects, MemberIds};
use std::collections::BTreeMap;
use store::{GroupStore, GROUPS_JOURNAL, GROUPS_JOURNAL_BYTES_MAX};

/// Journal file name prefix of the committed offsets.
pub(crate) const OFFSETS_JOURNAL: &str = "controller/offsets-";
/// Compact the offsets journal when it grows past this.
pub(crate) const OFFSETS_JOURNAL_BYTES_MAX: u64 = 1 << 20;

/// Why the coordinator could not open its state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoordinatorError {
    #[error("committed offsets: {0}")]
    Offsets(#[from] OffsetStoreError),
    #[error("group records: {0}")]
    Groups(#[from] GroupStoreError),
    /// A group record decodes but breaks the group's invariants.
    #[error("group record: {reason}")]
    InvalidGroup { reason: String },
}

/// The coordinator's state machine: every group's membership and committed offsets.
pub struct GroupCoordinator<S: Storage> {
    offsets: OffsetStore<S>,
    store: GroupStore<S>,
    config: GroupConfig,
    groups: BTreeMap<String, Group>,
    ids: MemberIds,
    replies: Replies,
    /// Offsets deleted by retention since the last [`GroupCoordinator::take_expired`].
    expired: Vec<ExpiredOffsets>,
    /// When the next retention check is due.
    next_retention_check_ms: u64,
}

impl<S: Storage + Clone> GroupCoordinator<S> {
    /// Opens (or recovers) the committed offsets and the groups on `storage` at `now_ms`
    /// (restored members' sessions start then; the first retention check runs at the first
    /// tick). `epoch` must differ between incarnations of the coordinator (it is part of
    /// every member id).
    pub fn open(
        storage: S,
        config: GroupConfig,
        epoch: u64,
        now_ms: u64,
    ) -> Result<Self, CoordinatorError> {
        let (offsets, _recovery) =
            OffsetStore::open(storage.clone(), OFFSETS_JOURNAL, OFFSETS_JOURNAL_BYTES_MAX)?;
        let (store, records) = GroupStore::open(storage, GROUPS_JOURNAL, GROUPS_JOURNAL_BYTES_MAX)?;
        let mut groups = BTreeMap::new();
        for record in records {
            let group = Group::restore(record, config.initial_rebalance_delay_ms, now_ms)
                .map_err(|reason| CoordinatorError::InvalidGroup { reason })?;
            groups.insert(group.id.clone(), group);
        }
        Ok(GroupCoordinator {
            offsets,
            store,
            config,
            groups,
            ids: MemberIds { epoch, next: 0 },
            replies: Vec::new(),
            expired: Vec::new(),
            next_retention_check_ms: now_ms,
        })
    }

    /// Offsets deleted by retention since the last call, in the order they were deleted
    /// (each deletion durable). The controller reports each as
    /// `ControllerEvent::OffsetsExpired`.
    pub fn take_expired(&mut self) -> Vec<ExpiredOffsets> {
        std::mem::take(&mut self.expired)
    }

    /// The committed offset of a group's partition and when it was committed.
    pub fn committed(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Option<crate::offsets::CommittedOffset> {
        self.offsets.get(group, topic, partition)
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
            .or_insert_with(|| Group::new(&request.group, delay, now_ms));
        let mut out = Effects::new(&mut self.replies, &mut self.store);
        group.join(
            now_ms,
            reply,
            request,
            &self.config,
            &mut self.ids,
            &mut out,
        );
    }

    /// SyncGroup; the answer (now or when the leader's assignment arrives) comes from
    /// [`GroupCoordinator::take_replies`] under `reply`.
    pub fn sync_group(&mut self, now_ms: u64, reply: ReplyTo, request: SyncGroupRequest) {
        match self.groups.get_mut(&request.group) {
            Some(group) => group.sync(
                now_ms,
                reply,
                request,
                &mut Effects::new(&mut self.replies, &mut self.store),
            ),
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
            Some(group) => group.leave(
                now_ms,
                &request,
                &mut Effects::new(&mut self.replies, &mut self.store),
            ),
            None => Err(ErrorCode::UnknownMemberId),
        };
        LeaveGroupResponse { result }
    }

    /// Fires the group timers due at `now_ms`, writes group records a failed write left
    /// behind, and runs the retention check when it is due; returns the next deadline.
    pub fn tick(&mut self, now_ms: u64) -> Option<u64> {
        for group in self.groups.values_mut() {
            let mut out = Effects::new(&mut self.replies, &mut self.store);
            group.tick(now_ms, &mut out);
            group.store_if_dirty(&mut out);
        }
        self.check_retention(now_ms);
        self.next_deadline()
    }

    /// The earliest group timer or retention check.
    pub fn next_deadline(&self) -> Option<u64> {
        self.groups
            .values()
            .filter_map(Group::next_deadline)
            .chain([self.next_retention_check_ms])
            .min()
    }

    /// Commits a group's offsets at `now_ms` (their commit time, which retention counts
    /// from); `Ok` means durable. A commit with a member is fenced by the group's generation
    /// and membership; one without is accepted while the group has no members (Kafka's
    /// generation -1 commit).
    pub fn offset_commit(
        &mut self,
        now_ms: u64,
        request: OffsetCommitRequest,
    ) -> OffsetCommitResponse {
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
                topic: partition.topic.to_string(),
                partition: partition.partition,
                offset: *offset,
            })
            .collect();
        let result = match self.offsets.commit(&request.group, &commits, now_ms) {
            Ok(()) => Ok(()),
            Err(OffsetStoreError::Storage(_)) => Err(ErrorCode::KafkaStorageError),
            Err(error) => Err(ErrorCode::InvalidRequest {
                reason: error.to_string(),
            }),
        };
        OffsetCommitResponse { result }
    }

    /// A group's committed offsets for the asked partitions (`None` where nothing was committed),
    /// or every offset it has when no partition is named.
    pub fn offset_fetch(&self, request: OffsetFetchRequest) -> OffsetFetchResponse {
        let offsets = match &request.partitions {
            Some(partitions) => partitions
                .iter()
                .map(|partition| {
                    let offset =
                        self.offsets
                            .fetch(&request.group, &partition.topic, partition.partition);
                    (partition.clone(), offset)
                })
                .collect(),
            None => self
                .offsets
                .group_entries(&request.group)
                .map(|(key, committed)| {
                    (
                        TopicPartition::new(&key.topic, key.partition),
                        Some(committed.offset),
                    )
                })
                .collect(),
        };
        OffsetFetchResponse {
            result: Ok(offsets),
        }
    }

    /// Kafka's DescribeGroups: each asked group's state, protocol and members. As Kafka's
    /// `GroupMetadata.summary`, the protocol and the members' subscriptions and assignments are
    /// given only while the group is Stable; a group with committed offsets and no members is
    /// Empty; a group the coordinator does not know is Dead.
    pub fn describe_groups(&self, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
        let groups = request
            .groups
            .iter()
            .map(|id| match self.groups.get(id) {
                Some(group) if group.state != group::GroupState::Dead => {
                    let stable = group.state == group::GroupState::Stable;
                    let protocol = group.protocol_name.clone().filter(|_| stable);
                    GroupDescription {
                        group: id.clone(),
                        state: group.state.kafka_name().to_string(),
                        protocol_type: group.protocol_type.clone().unwrap_or_default(),
                        protocol: protocol.clone().unwrap_or_default(),
                        members: group
                            .members
                            .values()
                            .map(|member| MemberDescription {
                                member_id: member.member_id.clone(),
                                group_instance_id: member.group_instance_id.clone(),
                                client_id: member.client_id.clone(),
                                metadata: protocol
                                    .as_deref()
                                    .map(|name| member.metadata(name))
                                    .unwrap_or_default(),
                                assignment: if stable {
                                    member.assignment.clone()
                                } else {
                                    bytes::Bytes::new()
                                },
                            })
                            .collect(),
                    }
                }
                _ => {
                    let state = if self.offsets.group_entries(id).next().is_some() {
                        group::GroupState::Empty
                    } else {
                        group::GroupState::Dead
                    };
                    GroupDescription {
                        group: id.clone(),
                        state: state.kafka_name().to_string(),
                        protocol_type: String::new(),
                        protocol: String::new(),
                        members: Vec::new(),
                    }
                }
            })
            .collect();
        DescribeGroupsResponse { result: Ok(groups) }
    }

    /// Kafka's ListGroups: every group the coordinator knows (with members, or with committed
    /// offsets only: Empty, no protocol type), in id order, only those in `states` if any are
    /// named (Kafka's state names).
    pub fn list_groups(&self, request: ListGroupsRequest) -> ListGroupsResponse {
        let mut listed: BTreeMap<String, (String, String)> = BTreeMap::new();
        for id in self.offsets.groups() {
            listed.insert(
                id,
                (String::new(), group::GroupState::Empty.kafka_name().into()),
            );
        }
        for (id, group) in &self.groups {
            if group.state == group::GroupState::Dead {
                continue;
            }
            listed.insert(
                id.clone(),
                (
                    group.protocol_type.clone().unwrap_or_default(),
                    group.state.kafka_name().to_string(),
                ),
            );
        }
        let groups = listed
            .into_iter()
            .filter(|(_, (_, state))| request.states.is_empty() || request.states.contains(state))
            .map(|(id, (protocol_type, state))| (id, protocol_type, state))
            .collect();
        ListGroupsResponse { result: Ok(groups) }
    }
}
