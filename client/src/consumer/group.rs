//! Group membership: the consumer as a member of a Kafka consumer group (the classic protocol,
//! as the Java client's `AbstractCoordinator` / `ConsumerCoordinator` run it).
//!
//! The member joins (JoinGroup; a first join without a member id is answered
//! `MemberIdRequired` with the id to use, KIP-394), the leader computes everyone's assignment with
//! the group's assignor and sends it with its SyncGroup, every member learns its own from the
//! SyncGroup answer and heartbeats while it holds it. What it does at each step:
//! - **Eager assignors** (`range`): before every (re)join the member commits what it delivered of
//!   the partitions it owns and revokes all of them (`revoke`), so no two members read a
//!   partition in the same generation; the new assignment starts from the committed offsets.
//! - **Cooperative assignors** (`cooperative-sticky`): the member rejoins keeping its
//!   partitions and names them (with their generation) in its subscription; the new assignment
//!   leaves out those it must give up: it commits and revokes them, then rejoins at once so that
//!   the next generation can hand them to their new owner. Partitions it keeps go on reading
//!   without a new start position.
//! - **Heartbeats** every `heartbeat_interval_ms` while it holds an assignment.
//!   `RebalanceInProgress` (from a heartbeat, a commit or a SyncGroup) makes it rejoin.
//!   `UnknownMemberId` and `IllegalGeneration` mean it was expelled (its session expired while it
//!   was paused or cut off, or the group moved on): it gives its partitions up *without*
//!   committing (`revoke` with `lost`, Kafka's `onPartitionsLost`) and joins again (with a fresh
//!   member id after `UnknownMemberId`). `FencedInstanceId` (a newer incarnation of this static
//!   member took its place) is fatal: the member gives up its partitions and stops.
//! - **Commits** carry the generation and member id (fenced by the coordinator). A fenced commit
//!   is not retried: the member is expelled or rejoining and its partitions are (about to be)
//!   someone else's.
//! - **The leader** watches the partition counts of the subscribed topics and rejoins when one
//!   grows (partition growth triggers a rebalance, as in Kafka).
//! - **Close**: commit, revoke everything, LeaveGroup (`leave`), then `close`. A static member
//!   (KIP-345 `group.instance.id`) does not send LeaveGroup: its partitions wait for it until its
//!   session times out, and a restarted incarnation takes its place without a rebalance.
//!
//! Recorded: `join` (each JoinGroup answer), `assignment` (each SyncGroup answer, the whole
//! assignment), `revoke`, `leave`; commits carry `group` and `generation`, and failed commits
//! their error.
//!
//! Not modelled: the coordinator lookup (FindCoordinator; the coordinator is the controller
//! node), `max.poll.interval.ms` (a member whose application stalls is expelled only by its
//! session timeout here), the consumer-side session timer (Kafka marks the coordinator unknown
//! after a session without heartbeat answers), incremental fetch of new topics by pattern.

use super::*;
use crate::assignor::{self, Assignor, MemberSubscription, RebalanceProtocol};
use crate::history::GroupPartition;
use crate::policy::{LostPartitionsPolicy, RevokedOffsetsPolicy};
use protocol::api::{
    CommitMember, GroupProtocol, HeartbeatGroupRequest, JoinGroupRequest, JoinedGroup,
    LeaveGroupRequest, SyncGroupRequest,
};

/// How long the member waits for a JoinGroup answer beyond the rebalance timeout (the
/// coordinator holds the request until the join phase ends).
const JOIN_ANSWER_GRACE_MS: u64 = 5_000;

/// A group member's settings (Kafka consumer configs of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSettings {
    /// `partition.assignment.strategy` (one assignor).
    pub assignor: Assignor,
    /// `session.timeout.ms`: the coordinator expels a member it has not heard from for this long.
    pub session_timeout_ms: u64,
    /// `max.poll.interval.ms`: how long the coordinator waits for every member to rejoin.
    pub rebalance_timeout_ms: u64,
    /// `heartbeat.interval.ms`
    pub heartbeat_interval_ms: u64,
    /// `group.instance.id` (KIP-345 static membership).
    pub group_instance_id: Option<String>,
}

impl GroupSettings {
    pub fn new(assignor: Assignor) -> GroupSettings {
        GroupSettings {
            assignor,
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            heartbeat_interval_ms: 1_000,
            group_instance_id: None,
        }
    }
}

/// Where the member is in the group protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum MemberPhase {
    /// Must (re)join at `Member::rejoin_at_ms`; an eager member revokes first.
    NeedsJoin,
    /// JoinGroup in flight.
    Joining,
    /// SyncGroup in flight for this generation.
    Syncing { generation: u32 },
    /// Holds its assignment of `Member::generation`.
    Stable,
    /// Fenced (`FencedInstanceId`): does nothing more.
    Fatal,
}

/// A revocation waiting for its commit (commit on revoke); the member rejoins once it is done
/// (an eager member's rejoin, or a cooperative member's after giving partitions up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Revoking {
    pub partitions: BTreeSet<TopicPartition>,
    /// Give up on the commit (and revoke anyway) at this time.
    pub deadline_ms: u64,
}

/// The member's state. See the module documentation.
#[derive(Debug)]
pub(super) struct Member {
    pub settings: GroupSettings,
    pub topics: Vec<String>,
    /// Empty until the coordinator gives one (and again after `UnknownMemberId`).
    pub member_id: String,
    /// The generation of the last join (the one being synced, or of the current assignment):
    /// what commits and heartbeats carry.
    pub generation: Option<u32>,
    /// The generation of the partitions the member holds (its last successful SyncGroup):
    /// what its subscription claims them with, and what `revoke` names.
    pub owned_generation: Option<u32>,
    pub phase: MemberPhase,
    pub revoking: Option<Revoking>,
    /// As leader: the subscribed topics' partition counts the last assignment was made with.
    pub leader_snapshot: Option<BTreeMap<String, u32>>,
    pub rejoin_at_ms: u64,
    pub join_attempts: u32,
    pub next_heartbeat_ms: u64,
    pub heartbeat_in_flight: bool,
    /// Positions of revoked partitions kept by [`RevokedOffsetsPolicy::KeepStored`], committed
    /// with the member's next commits.
    pub stale_stored: BTreeMap<TopicPartition, u64>,
    /// Partitions lost on expulsion that [`LostPartitionsPolicy::KeepClaiming`] still claims at
    /// the next join, with the generation they were owned in.
    pub stale_claims: Option<(Vec<TopicPartition>, Option<u32>)>,
}

impl Member {
    pub(super) fn new(topics: Vec<String>, settings: GroupSettings) -> Member {
        Member {
            settings,
            topics,
            member_id: String::new(),
            generation: None,
            owned_generation: None,
            phase: MemberPhase::NeedsJoin,
            revoking: None,
            leader_snapshot: None,
            rejoin_at_ms: 0,
            join_attempts: 0,
            next_heartbeat_ms: 0,
            heartbeat_in_flight: false,
            stale_stored: BTreeMap::new(),
            stale_claims: None,
        }
    }

    fn eager(&self) -> bool {
        self.settings.assignor.rebalance_protocol() == RebalanceProtocol::Eager
    }

    /// Who commits: `None` while the member has no generation.
    pub(super) fn commit_member(&self) -> Option<CommitMember> {
        Some(CommitMember {
            generation: self.generation?,
            member_id: self.member_id.clone(),
            group_instance_id: self.settings.group_instance_id.clone(),
        })
    }

    /// Holds an assignment and nothing is being revoked.
    pub(super) fn is_stable(&self) -> bool {
        self.phase == MemberPhase::Stable && self.revoking.is_none()
    }
}

fn group_partitions<'p>(
    partitions: impl IntoIterator<Item = &'p TopicPartition>,
) -> Vec<GroupPartition> {
    partitions
        .into_iter()
        .map(|partition| GroupPartition {
            topic: partition.topic.to_string().into(),
            partition: partition.partition,
        })
        .collect()
}

impl Consumer {
    fn member_mut(&mut self) -> &mut Member {
        self.member.as_mut().expect("a group member")
    }

    /// The partitions the member reads now.
    fn owned(&self) -> BTreeSet<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    /// Asks for a rejoin: at once, or after a backoff when the last attempt failed.
    pub(super) fn request_rejoin(&mut self, now_ms: u64, backoff: bool) {
        let delay = if backoff {
            let attempts = self.member_mut().join_attempts;
            backoff_ms(
                &mut self.rng,
                attempts,
                self.config.retry_backoff_ms,
                self.config.retry_backoff_max_ms,
            )
        } else {
            0
        };
        let member = self.member_mut();
        if backoff {
            member.join_attempts = member.join_attempts.saturating_add(1);
        }
        if matches!(member.phase, MemberPhase::Fatal) {
            return;
        }
        member.phase = MemberPhase::NeedsJoin;
        member.rejoin_at_ms = now_ms + delay;
    }

    /// Gives partitions up. `lost`: without committing (the member learnt it was expelled).
    /// Records `revoke`.
    fn revoke_now(&mut self, partitions: &BTreeSet<TopicPartition>, lost: bool) {
        if partitions.is_empty() {
            return;
        }
        let keep_stored = self.config.revoked_offsets_policy == RevokedOffsetsPolicy::KeepStored;
        let mut stale = Vec::new();
        for partition in partitions {
            if let Some(state) = self.partitions.remove(partition) {
                if keep_stored && !lost {
                    if let Some(offset) = self.commit_offset(&state) {
                        if state.committed != Some(offset) {
                            stale.push((partition.clone(), offset));
                        }
                    }
                }
            }
            self.newly_assigned.remove(partition);
        }
        let group = self.config.group.clone();
        let member = self.member_mut();
        member.stale_stored.extend(stale);
        let generation = member.owned_generation.unwrap_or(0);
        self.record(Op::Revoke {
            group: group.into(),
            generation,
            partitions: group_partitions(partitions).into(),
            lost,
        });
    }

    /// Expelled (`UnknownMemberId`, `IllegalGeneration`): partitions lost, join again.
    pub(super) fn on_expelled(&mut self, now_ms: u64, error: &ErrorCode) {
        tracing::info!(process = %self.config.process, %error, "expelled from the group; rejoining");
        let owned = self.owned();
        self.revoke_now(&owned, true);
        let keep_claiming =
            self.config.lost_partitions_policy == LostPartitionsPolicy::KeepClaiming;
        let member = self.member_mut();
        if keep_claiming && !owned.is_empty() {
            member.stale_claims = Some((owned.into_iter().collect(), member.owned_generation));
        }
        member.revoking = None;
        member.generation = None;
        member.owned_generation = None;
        if *error == ErrorCode::UnknownMemberId {
            member.member_id.clear();
        }
        self.request_rejoin(now_ms, false);
    }

    fn on_fenced_instance(&mut self) {
        tracing::warn!(process = %self.config.process, "fenced by a newer static member; stopping");
        let owned = self.owned();
        self.revoke_now(&owned, true);
        self.status.last_error = Some("fenced_instance_id".to_string());
        let member = self.member_mut();
        member.revoking = None;
        member.phase = MemberPhase::Fatal;
    }

    /// Starts revoking `partitions`: commit what was delivered of them, then revoke.
    fn start_revoking(&mut self, now_ms: u64, partitions: BTreeSet<TopicPartition>) {
        let deadline_ms = now_ms + self.member_mut().settings.rebalance_timeout_ms / 2;
        self.member_mut().revoking = Some(Revoking {
            partitions,
            deadline_ms,
        });
        if self.config.revoked_offsets_policy == RevokedOffsetsPolicy::Drop {
            self.commit_requested = true;
        }
    }

    /// Moves a revocation on: revokes once its commit is done (or given up), then goes on.
    /// Returns true while it waits.
    fn step_revoking(&mut self, now_ms: u64) -> bool {
        let Some(revoking) = self.member.as_ref().and_then(|m| m.revoking.clone()) else {
            return false;
        };
        let waiting_commit = self.config.revoked_offsets_policy == RevokedOffsetsPolicy::Drop
            && now_ms < revoking.deadline_ms
            && (self.commit_in_flight
                || self.commit_requested
                || revoking.partitions.iter().any(|partition| {
                    self.partitions.get(partition).is_some_and(|state| {
                        self.commit_offset(state)
                            .is_some_and(|offset| state.committed != Some(offset))
                    })
                }));
        if waiting_commit {
            if !self.commit_in_flight {
                self.commit_requested = true;
            }
            return true;
        }
        self.revoke_now(&revoking.partitions, false);
        let member = self.member_mut();
        member.revoking = None;
        member.rejoin_at_ms = now_ms;
        member.phase = MemberPhase::NeedsJoin;
        false
    }

    /// Close of a group member, after the last commit: revoke everything, LeaveGroup (dynamic
    /// members), `leave`.
    pub(super) fn close_membership(&mut self, now_ms: u64) {
        let owned = self.owned();
        self.revoke_now(&owned, false);
        self.leave_group(now_ms);
    }

    fn leave_group(&mut self, now_ms: u64) {
        let group = self.config.group.clone();
        let member = self.member_mut();
        member.phase = MemberPhase::Fatal;
        if member.settings.group_instance_id.is_some() || member.member_id.is_empty() {
            return;
        }
        let request = LeaveGroupRequest {
            group: group.clone(),
            member_id: member.member_id.clone(),
            group_instance_id: None,
        };
        let member_id = member.member_id.clone();
        let to = self.cluster.controller;
        let correlation_id = self.requests.start(
            to,
            now_ms + self.config.request_timeout_ms,
            RequestKind::LeaveGroup,
        );
        self.actions.push(Action::Send {
            to,
            correlation_id,
            request: Request::LeaveGroup(request),
        });
        self.record(Op::Leave {
            group: group.into(),
            member: member_id.into(),
        });
    }

    /// The subscribed topics' partition counts as the metadata has them.
    fn partition_counts(&self, topics: impl IntoIterator<Item = String>) -> BTreeMap<String, u32> {
        topics
            .into_iter()
            .map(|topic| {
                let count = self
                    .metadata
                    .topic(&topic)
                    .map_or(0, |metadata| metadata.partitions.len() as u32);
                (topic, count)
            })
            .collect()
    }

    /// Metadata changed: a leader whose assignment was made with other partition counts rejoins.
    pub(super) fn check_leader_snapshot(&mut self, now_ms: u64) {
        let Some(member) = &self.member else {
            return;
        };
        let Some(snapshot) = &member.leader_snapshot else {
            return;
        };
        if member.phase != MemberPhase::Stable {
            return;
        }
        let now = self.partition_counts(snapshot.keys().cloned());
        if &now != snapshot {
            tracing::info!(process = %self.config.process, "subscribed partitions changed; rejoining");
            self.member_mut().leader_snapshot = None;
            self.begin_rejoin(now_ms);
        }
    }

    /// A rebalance is needed: an eager member revokes everything first (after committing).
    pub(super) fn begin_rejoin(&mut self, now_ms: u64) {
        let Some(member) = &self.member else {
            return;
        };
        if matches!(member.phase, MemberPhase::Fatal | MemberPhase::Joining)
            || member.revoking.is_some()
        {
            return;
        }
        if member.eager() && !self.partitions.is_empty() {
            let owned = self.owned();
            self.member_mut().phase = MemberPhase::NeedsJoin;
            self.start_revoking(now_ms, owned);
        } else {
            self.request_rejoin(now_ms, false);
        }
    }

    /// The group part of a step: revocations, joins, heartbeats.
    pub(super) fn step_group(&mut self, now_ms: u64) {
        if self.member.is_none() {
            return;
        }
        if self.step_revoking(now_ms) {
            self.maybe_heartbeat(now_ms);
            return;
        }
        let member = self.member.as_ref().expect("checked");
        match member.phase {
            // The leader needs the metadata to assign; so does everyone to check it.
            MemberPhase::NeedsJoin
                if now_ms >= member.rejoin_at_ms && self.metadata.get().is_some() =>
            {
                self.send_join(now_ms);
            }
            // The Java client's heartbeat thread runs from the JoinGroup answer on: a member
            // waiting for its assignment (the leader may be slow) stays alive too.
            MemberPhase::Stable | MemberPhase::Syncing { .. } => self.maybe_heartbeat(now_ms),
            _ => {}
        }
    }

    fn send_join(&mut self, now_ms: u64) {
        let group = self.config.group.clone();
        let process = self.config.process.clone();
        let mut owned: Vec<TopicPartition> = self.owned().into_iter().collect();
        let member = self.member_mut();
        let mut generation = member.owned_generation;
        // LostPartitionsPolicy::KeepClaiming: what it lost, claimed as if it still had it.
        if let Some((claims, claims_generation)) = &member.stale_claims {
            owned.extend(claims.iter().cloned());
            owned.sort();
            owned.dedup();
            generation = generation.or(*claims_generation);
        }
        let subscription = assignor::Subscription {
            topics: member.topics.clone(),
            owned: if member.eager() { Vec::new() } else { owned },
            generation,
            rack: None,
        };
        let request = JoinGroupRequest {
            group,
            member_id: member.member_id.clone(),
            group_instance_id: member.settings.group_instance_id.clone(),
            client_id: process,
            session_timeout_ms: member.settings.session_timeout_ms,
            rebalance_timeout_ms: member.settings.rebalance_timeout_ms,
            protocol_type: "consumer".to_string(),
            protocols: vec![GroupProtocol {
                name: member.settings.assignor.name().to_string(),
                metadata: assignor::encode_subscription(&subscription).unwrap_or_else(|error| {
                    tracing::warn!(%error, "the subscription does not encode; joining without");
                    Bytes::new()
                }),
            }],
        };
        let timeout = member.settings.rebalance_timeout_ms + JOIN_ANSWER_GRACE_MS;
        member.phase = MemberPhase::Joining;
        let to = self.cluster.controller;
        let correlation_id = self
            .requests
            .start(to, now_ms + timeout, RequestKind::JoinGroup);
        self.actions.push(Action::Send {
            to,
            correlation_id,
            request: Request::JoinGroup(Box::new(request)),
        });
    }

    pub(super) fn on_join_answer(
        &mut self,
        now_ms: u64,
        member_id: String,
        result: Result<JoinedGroup, ErrorCode>,
    ) {
        if self.member.as_ref().map(|m| &m.phase) != Some(&MemberPhase::Joining) {
            return;
        }
        let joined = match result {
            Ok(joined) => joined,
            Err(ErrorCode::MemberIdRequired) => {
                self.member_mut().member_id = member_id;
                self.request_rejoin(now_ms, false);
                return;
            }
            Err(error @ (ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration)) => {
                self.on_expelled(now_ms, &error);
                return;
            }
            Err(ErrorCode::FencedInstanceId) => {
                self.on_fenced_instance();
                return;
            }
            Err(ErrorCode::RebalanceInProgress) => {
                self.request_rejoin(now_ms, false);
                return;
            }
            Err(error) => {
                self.status.last_error = Some(format!("join_group: {error}"));
                self.request_rejoin(now_ms, true);
                return;
            }
        };
        let group = self.config.group.clone();
        let is_leader = joined.leader == member_id;
        {
            let member = self.member_mut();
            member.member_id = member_id.clone();
            member.generation = Some(joined.generation);
            member.join_attempts = 0;
            member.phase = MemberPhase::Syncing {
                generation: joined.generation,
            };
            member.leader_snapshot = None;
        }
        self.record(Op::Join {
            group: group.clone().into(),
            generation: joined.generation,
            member: member_id.clone().into(),
            leader: is_leader,
            protocol: Some(joined.protocol_name.clone().into()),
        });
        let assignments = if is_leader && !joined.skip_assignment {
            self.leader_assign(&joined)
        } else {
            if is_leader {
                // A static leader rejoined without a rebalance (KIP-814): it does not know what
                // partition counts the group's assignment was made with (the topics may have
                // grown while it was away and no member watches for that but the leader), so
                // it assumes none: its first metadata check asks for a rebalance.
                let topics = self.member_mut().topics.clone();
                let unknown = topics.into_iter().map(|topic| (topic, 0)).collect();
                self.member_mut().leader_snapshot = Some(unknown);
            }
            Vec::new()
        };
        let member = self.member.as_ref().expect("a member");
        let request = SyncGroupRequest {
            group,
            generation: joined.generation,
            member_id,
            group_instance_id: member.settings.group_instance_id.clone(),
            assignments,
        };
        let to = self.cluster.controller;
        let timeout = member.settings.rebalance_timeout_ms + JOIN_ANSWER_GRACE_MS;
        let correlation_id = self.requests.start(
            to,
            now_ms + timeout,
            RequestKind::SyncGroup {
                generation: joined.generation,
            },
        );
        self.actions.push(Action::Send {
            to,
            correlation_id,
            request: Request::SyncGroup(request),
        });
    }

    /// The leader's assignment of every member (encoded).
    fn leader_assign(&mut self, joined: &JoinedGroup) -> Vec<(String, Bytes)> {
        let mut members = Vec::new();
        let mut topics = BTreeSet::new();
        for joined_member in &joined.members {
            let subscription = match assignor::decode_subscription(&joined_member.metadata) {
                Ok(subscription) => subscription,
                Err(error) => {
                    tracing::warn!(member = %joined_member.member_id, %error,
                        "a member's subscription does not decode; it gets nothing");
                    assignor::Subscription {
                        topics: Vec::new(),
                        owned: Vec::new(),
                        generation: None,
                        rack: None,
                    }
                }
            };
            topics.extend(subscription.topics.iter().cloned());
            members.push(MemberSubscription {
                member_id: joined_member.member_id.clone(),
                group_instance_id: joined_member.group_instance_id.clone(),
                subscription,
            });
        }
        let counts = self.partition_counts(topics);
        let assignor = self.member_mut().settings.assignor;
        let assignment =
            assignor::assign(assignor, &members, &counts, self.config.owned_claims_policy);
        self.member_mut().leader_snapshot = Some(counts);
        assignment
            .into_iter()
            .map(|(member_id, partitions)| {
                let bytes = assignor::encode_assignment(&partitions).unwrap_or_else(|error| {
                    tracing::warn!(%error, member = %member_id, "an assignment does not encode");
                    Bytes::new()
                });
                (member_id, bytes)
            })
            .collect()
    }

    pub(super) fn on_sync_answer(
        &mut self,
        now_ms: u64,
        generation: u32,
        result: Result<Bytes, ErrorCode>,
    ) {
        if self.member.as_ref().map(|m| &m.phase) != Some(&MemberPhase::Syncing { generation }) {
            return;
        }
        let bytes = match result {
            Ok(bytes) => bytes,
            Err(error @ (ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration)) => {
                self.on_expelled(now_ms, &error);
                return;
            }
            Err(ErrorCode::FencedInstanceId) => {
                self.on_fenced_instance();
                return;
            }
            Err(ErrorCode::RebalanceInProgress) => {
                self.begin_rejoin_from_sync(now_ms);
                return;
            }
            Err(error) => {
                self.status.last_error = Some(format!("sync_group: {error}"));
                self.begin_rejoin_from_sync(now_ms);
                return;
            }
        };
        let assigned: BTreeSet<TopicPartition> = match assignor::decode_assignment(&bytes) {
            Ok(partitions) => partitions.into_iter().collect(),
            Err(error) => {
                tracing::warn!(%error, "the assignment does not decode; rejoining");
                self.begin_rejoin_from_sync(now_ms);
                return;
            }
        };
        let group = self.config.group.clone();
        let member_id = self.member_mut().member_id.clone();
        self.record(Op::Assignment {
            group: group.into(),
            generation,
            member: member_id.into(),
            partitions: group_partitions(&assigned).into(),
        });
        let owned = self.owned();
        let revoked: BTreeSet<TopicPartition> = owned.difference(&assigned).cloned().collect();
        for partition in assigned.difference(&owned) {
            self.partitions
                .insert(partition.clone(), PartitionState::new());
        }
        let interval = {
            let member = self.member_mut();
            member.phase = MemberPhase::Stable;
            member.owned_generation = Some(generation);
            member.stale_claims = None;
            member.heartbeat_in_flight = false;
            member.settings.heartbeat_interval_ms
        };
        self.member_mut().next_heartbeat_ms = now_ms + interval;
        if !revoked.is_empty() {
            // Cooperative: give them up (after committing), then rejoin for their new owner.
            self.start_revoking(now_ms, revoked);
        }
    }

    /// The sync failed: a member of this generation still holds what it had (cooperative) or
    /// nothing (eager); either way it rejoins.
    fn begin_rejoin_from_sync(&mut self, now_ms: u64) {
        self.member_mut().phase = MemberPhase::Stable;
        self.begin_rejoin(now_ms);
    }

    fn maybe_heartbeat(&mut self, now_ms: u64) {
        let Some(member) = self.member.as_mut() else {
            return;
        };
        if member.heartbeat_in_flight || now_ms < member.next_heartbeat_ms {
            return;
        }
        let Some(generation) = member.generation else {
            return;
        };
        member.heartbeat_in_flight = true;
        member.next_heartbeat_ms = now_ms + member.settings.heartbeat_interval_ms;
        let request = HeartbeatGroupRequest {
            group: self.config.group.clone(),
            generation,
            member_id: member.member_id.clone(),
            group_instance_id: member.settings.group_instance_id.clone(),
        };
        let timeout = member
            .settings
            .heartbeat_interval_ms
            .max(self.config.request_timeout_ms);
        let to = self.cluster.controller;
        let correlation_id =
            self.requests
                .start(to, now_ms + timeout, RequestKind::Heartbeat { generation });
        self.actions.push(Action::Send {
            to,
            correlation_id,
            request: Request::HeartbeatGroup(request),
        });
    }

    pub(super) fn on_heartbeat_answer(
        &mut self,
        now_ms: u64,
        generation: u32,
        result: Result<(), ErrorCode>,
    ) {
        let Some(member) = self.member.as_mut() else {
            return;
        };
        member.heartbeat_in_flight = false;
        if member.generation != Some(generation) {
            return;
        }
        let stable = member.phase == MemberPhase::Stable;
        let in_generation = stable || matches!(member.phase, MemberPhase::Syncing { .. });
        match result {
            Ok(()) => {}
            // While syncing, the SyncGroup answer says it too.
            Err(ErrorCode::RebalanceInProgress) if stable => self.begin_rejoin(now_ms),
            Err(error @ (ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration))
                if in_generation =>
            {
                self.on_expelled(now_ms, &error)
            }
            Err(ErrorCode::FencedInstanceId) => self.on_fenced_instance(),
            Err(_) => {}
        }
    }

    /// A commit answer's error, for a group member: rejoin or expulsion.
    pub(super) fn on_group_commit_error(&mut self, now_ms: u64, error: &ErrorCode) -> bool {
        if self.member.is_none() {
            return false;
        }
        match error {
            ErrorCode::RebalanceInProgress => {
                let stable = self
                    .member
                    .as_ref()
                    .is_some_and(|m| m.phase == MemberPhase::Stable);
                if stable {
                    self.begin_rejoin(now_ms);
                }
                true
            }
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                let joining = self.member.as_ref().is_some_and(|m| {
                    matches!(m.phase, MemberPhase::Joining | MemberPhase::Syncing { .. })
                });
                if !joining {
                    self.on_expelled(now_ms, error);
                }
                true
            }
            ErrorCode::FencedInstanceId => {
                self.on_fenced_instance();
                true
            }
            _ => false,
        }
    }
}
