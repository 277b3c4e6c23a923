//! One consumer group's membership state machine (Kafka's classic protocol, `GroupMetadata` and
//! the group half of `GroupCoordinator`).
//!
//! States: `Empty` (no members; offsets may be committed without membership),
//! `PreparingRebalance` (waiting for members to (re)join; JoinGroup requests are parked),
//! `CompletingRebalance` (a generation is formed; waiting for the leader's SyncGroup; follower
//! SyncGroups are parked), `Stable` (assignment distributed), `Dead` (never reached: no group
//! deletion or coordinator migration is modelled).
//!
//! Sans-IO: time enters as `now_ms`; parked requests are named by an opaque [`ReplyTo`] and
//! their answers are pushed to the caller's [`Effects`] when they complete. Member ids come
//! from a counter: `{client id or instance id}-{epoch}-{n}`.
//!
//! Durability (`durable.rs`): the group's record is journaled through [`Effects`] where Kafka
//! stores `GroupMetadata` — when the leader's assignment arrives (Stable), when the group
//! becomes Empty, when a static member is replaced without a rebalance — and also when a
//! generation forms (CompletingRebalance), before any member hears of it. Answers that
//! announce a stored state leave only once the record is durable; a failed write undoes the
//! step (the answers become `RebalanceInProgress`), except the Empty one, which is retried.
//!
//! Split by concern: joins and rebalances here, `sync.rs` (SyncGroup, Heartbeat, LeaveGroup,
//! the commit check), `time.rs` (timers, invariants), `durable.rs` (the record).

mod durable;
mod sync;
mod time;

pub(crate) use durable::{Effects, GroupJournal};

use super::retention::subscribed_topics;
use crate::api::*;
use crate::policy::OffsetExpiryPolicy;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// The caller's name for a parked request (JoinGroup or SyncGroup), echoed with its answer.
pub type ReplyTo = u64;

/// Answers to parked (or immediate) requests, in the order they complete.
pub type Replies = Vec<(ReplyTo, Response)>;

/// Coordinator settings (Kafka's broker configs of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members (extended, up to the rebalance timeout, while members arrive).
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`
    pub min_session_timeout_ms: u64,
    /// `group.max.session.timeout.ms`
    pub max_session_timeout_ms: u64,
    /// `group.max.size`
    pub max_size: usize,
    /// `offsets.retention.minutes` (in ms): how long committed offsets outlive their group's
    /// last member, or their commit when the group never had members (KIP-211).
    pub offsets_retention_ms: u64,
    /// `offsets.retention.check.interval.ms`: how often the coordinator looks for expired
    /// offsets (at its ticks; the first check at its first tick).
    pub offsets_retention_check_interval_ms: u64,
    /// Which offsets of a group with members may expire (KAFKA-13636 when not the default).
    pub offset_expiry_policy: OffsetExpiryPolicy,
}

/// Kafka's default `offsets.retention.minutes`: 7 days.
pub const OFFSETS_RETENTION_MS_DEFAULT: u64 = 7 * 24 * 60 * 60 * 1_000;
/// Kafka's default `offsets.retention.check.interval.ms`: 10 minutes.
pub const OFFSETS_RETENTION_CHECK_INTERVAL_MS_DEFAULT: u64 = 600_000;

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_size: usize::MAX,
            offsets_retention_ms: OFFSETS_RETENTION_MS_DEFAULT,
            offsets_retention_check_interval_ms: OFFSETS_RETENTION_CHECK_INTERVAL_MS_DEFAULT,
            offset_expiry_policy: OffsetExpiryPolicy::default(),
        }
    }
}

/// Kafka's group states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// Kafka's name for the state, as DescribeGroups and ListGroups answer it.
    pub fn kafka_name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "empty",
            GroupState::PreparingRebalance => "preparing_rebalance",
            GroupState::CompletingRebalance => "completing_rebalance",
            GroupState::Stable => "stable",
            GroupState::Dead => "dead",
        }
    }
}

/// One member as the coordinator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    pub protocol_type: String,
    pub protocols: Vec<GroupProtocol>,
    /// The assignment of the current generation (empty until the leader's SyncGroup).
    pub assignment: Bytes,
    /// Order of arrival in the group: the leader is the earliest (re)joined member.
    pub joined_seq: u64,
    /// The session expires at this time unless a heartbeat (or join, sync) comes first.
    pub session_deadline_ms: u64,
    awaiting_join: Option<ReplyTo>,
    awaiting_sync: Option<ReplyTo>,
}

impl Member {
    pub fn is_awaiting_join(&self) -> bool {
        self.awaiting_join.is_some()
    }

    pub fn is_awaiting_sync(&self) -> bool {
        self.awaiting_sync.is_some()
    }

    pub(crate) fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }
}

/// The first rebalance of an empty group waits `initial_rebalance_delay_ms`, again as long as
/// new members keep arriving, at most the rebalance timeout in all (Kafka's InitialDelayedJoin).
#[derive(Debug, Clone, PartialEq, Eq)]
struct InitialDelay {
    remaining_ms: u64,
    new_member_added: bool,
}

/// Member-id allocation shared by all groups of a coordinator.
#[derive(Debug, Clone)]
pub(crate) struct MemberIds {
    /// Distinguishes coordinator incarnations (ids never repeat across restarts).
    pub epoch: u64,
    pub next: u64,
}

impl MemberIds {
    fn next(&mut self, prefix: &str) -> String {
        self.next += 1;
        let prefix = if prefix.is_empty() { "member" } else { prefix };
        format!("{prefix}-{}-{}", self.epoch, self.next)
    }
}

/// One group's membership.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    /// When the group entered `state` (Kafka's `currentStateTimestamp`): for an Empty group,
    /// when it became empty, which its offsets' retention counts from.
    pub state_timestamp_ms: u64,
    /// 0 while the group never rebalanced; +1 at every completed join phase.
    pub generation: u32,
    pub protocol_type: Option<String>,
    /// The assignor chosen for the current generation (None while Empty).
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// group.instance.id -> member id.
    pub static_members: BTreeMap<String, String>,
    /// KIP-394: member ids handed out with MEMBER_ID_REQUIRED, and until when they may join.
    pub pending_members: BTreeMap<String, u64>,
    /// Members of the current generation that have not sent SyncGroup yet.
    pub pending_sync: BTreeSet<String>,
    /// When the join phase ends (PreparingRebalance).
    pub join_deadline_ms: Option<u64>,
    /// When members still in `pending_sync` are removed.
    pub sync_deadline_ms: Option<u64>,
    /// The topics the members of the last formed generation subscribe to, from Kafka's
    /// consumer protocol metadata (Kafka's `subscribedTopics`: the empty set once the group is
    /// Empty; `None` unless the protocol type is `consumer` and every subscription decodes).
    /// Only the [`OffsetExpiryPolicy::CommitTimestamp`] expiry reads it.
    pub subscribed_topics: Option<BTreeSet<String>>,
    /// The journaled record is behind (a write when the group became Empty failed): the
    /// coordinator writes it again at its ticks.
    pub(crate) dirty: bool,
    initial_delay: Option<InitialDelay>,
    /// `group.initial.rebalance.delay.ms` when the group was created.
    initial_delay_config: u64,
    next_joined_seq: u64,
}

fn join_error(member_id: &str, error: ErrorCode) -> Response {
    Response::JoinGroup(JoinGroupResponse {
        member_id: member_id.to_string(),
        result: Err(error),
    })
}

fn sync_answer(result: Result<Bytes, ErrorCode>) -> Response {
    Response::SyncGroup(SyncGroupResponse { result })
}

impl Group {
    pub fn new(id: &str, initial_rebalance_delay_ms: u64, now_ms: u64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            join_deadline_ms: None,
            sync_deadline_ms: None,
            subscribed_topics: None,
            dirty: false,
            initial_delay: None,
            initial_delay_config: initial_rebalance_delay_ms,
            next_joined_seq: 0,
        }
    }

    /// Moves to `state`, noting when (a state entered again keeps its timestamp).
    fn transition(&mut self, state: GroupState, now_ms: u64) {
        if self.state != state {
            self.state = state;
            self.state_timestamp_ms = now_ms;
        }
    }

    /// The group's rebalance timeout: the largest of its members'.
    fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// Whether a member with this id is fenced by a newer incarnation of its instance id.
    fn is_static_fenced(&self, member_id: &str, instance: &Option<String>) -> bool {
        match instance {
            Some(instance) => self
                .static_members
                .get(instance)
                .is_some_and(|current| current != member_id),
            None => false,
        }
    }

    /// The assignors every member (and the candidate, if any) supports.
    fn candidate_protocols(&self, extra: Option<&[GroupProtocol]>) -> BTreeSet<String> {
        let mut sets = self
            .members
            .values()
            .map(|m| m.protocols.iter().map(|p| p.name.clone()).collect())
            .chain(extra.map(|protocols| protocols.iter().map(|p| p.name.clone()).collect()));
        let first: BTreeSet<String> = match sets.next() {
            Some(set) => set,
            None => return BTreeSet::new(),
        };
        sets.fold(first, |acc, set: BTreeSet<String>| {
            acc.intersection(&set).cloned().collect()
        })
    }

    /// Kafka's `supportsProtocols`: an empty group takes any non-empty type and protocol list;
    /// otherwise the type must match and the protocols share one with all members.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[GroupProtocol]) -> bool {
        if self.members.is_empty() {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && !self.candidate_protocols(Some(protocols)).is_empty()
        }
    }

    /// Kafka's `selectProtocol`: each member votes for its most preferred protocol among those
    /// all members support; the most votes wins (ties: the smallest name, where Kafka's choice
    /// is arbitrary).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols(None);
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some(vote) = member
                .protocols
                .iter()
                .find(|p| candidates.contains(&p.name))
            {
                *votes.entry(vote.name.as_str()).or_default() += 1;
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for (name, count) in votes {
            if best.is_none_or(|(_, most)| count > most) {
                best = Some((name, count));
            }
        }
        best.map(|(name, _)| name.to_string())
    }

    fn current_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.joined_seq);
        members
            .into_iter()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(&protocol),
            })
            .collect()
    }

    fn joined(&self, member_id: &str, skip_assignment: bool) -> Response {
        let is_leader = self.leader.as_deref() == Some(member_id);
        Response::JoinGroup(JoinGroupResponse {
            member_id: member_id.to_string(),
            result: Ok(JoinedGroup {
                generation: self.generation,
                protocol_name: self.protocol_name.clone().unwrap_or_default(),
                leader: self.leader.clone().unwrap_or_default(),
                members: if is_leader {
                    self.current_members()
                } else {
                    Vec::new()
                },
                skip_assignment,
            }),
        })
    }

    // ---- JoinGroup --------------------------------------------------------------------------

    /// A JoinGroup; its answer goes to `out` (at once or when the join phase completes).
    pub(crate) fn join(
        &mut self,
        now_ms: u64,
        reply: ReplyTo,
        request: JoinGroupRequest,
        config: &GroupConfig,
        ids: &mut MemberIds,
        out: &mut Effects<'_>,
    ) {
        let unknown = request.member_id.is_empty();
        if self.state == GroupState::Dead {
            out.push((
                reply,
                join_error(&request.member_id, ErrorCode::UnknownMemberId),
            ));
        } else if unknown
            && self.members.len() + self.pending_members.len() >= config.max_size
            && !request
                .group_instance_id
                .as_ref()
                .is_some_and(|i| self.static_members.contains_key(i))
        {
            out.push((reply, join_error("", ErrorCode::GroupMaxSizeReached)));
        } else if !self.supports_protocols(&request.protocol_type, &request.protocols) {
            out.push((
                reply,
                join_error(&request.member_id, ErrorCode::InconsistentGroupProtocol),
            ));
        } else if unknown {
            self.join_unknown(now_ms, reply, request, ids, out);
        } else {
            self.join_known(now_ms, reply, request, out);
        }
        if self.state == GroupState::PreparingRebalance {
            self.try_complete_join(now_ms, out);
        }
    }

    fn join_unknown(
        &mut self,
        now_ms: u64,
        reply: ReplyTo,
        request: JoinGroupRequest,
        ids: &mut MemberIds,
        out: &mut Effects<'_>,
    ) {
        let prefix = request
            .group_instance_id
            .clone()
            .unwrap_or_else(|| request.client_id.clone());
        let new_id = ids.next(&prefix);
        match &request.group_instance_id {
            Some(instance) => match self.static_members.get(instance).cloned() {
                Some(old_id) => {
                    self.replace_static_member(now_ms, reply, &old_id, new_id, request, out)
                }
                None => self.add_member_and_rebalance(now_ms, reply, new_id, request, out),
            },
            None => {
                // KIP-394: a dynamic member first gets its id, then joins with it.
                self.pending_members
                    .insert(new_id.clone(), now_ms + request.session_timeout_ms);
                out.push((reply, join_error(&new_id, ErrorCode::MemberIdRequired)));
            }
        }
    }

    fn join_known(
        &mut self,
        now_ms: u64,
        reply: ReplyTo,
        request: JoinGroupRequest,
        out: &mut Effects<'_>,
    ) {
        let member_id = request.member_id.clone();
        if self.pending_members.remove(&member_id).is_some() {
            if request.group_instance_id.is_some() {
                // Pending members are dynamic; a static join names no pending id.
                out.push((reply, join_error(&member_id, ErrorCode::UnknownMemberId)));
            } else {
                self.add_member_and_rebalance(now_ms, reply, member_id, request, out);
            }
            return;
        }
        if self.is_static_fenced(&member_id, &request.group_instance_id) {
            out.push((reply, join_error(&member_id, ErrorCode::FencedInstanceId)));
            return;
        }
        let instance_unknown = request
            .group_instance_id
            .as_ref()
            .is_some_and(|i| !self.static_members.contains_key(i));
        let Some(member) = self.members.get(&member_id) else {
            out.push((reply, join_error(&member_id, ErrorCode::UnknownMemberId)));
            return;
        };
        if instance_unknown || member.group_instance_id != request.group_instance_id {
            out.push((reply, join_error(&member_id, ErrorCode::UnknownMemberId)));
            return;
        }
        let matches = member.protocols == request.protocols;
        let is_leader = self.leader.as_deref() == Some(member_id.as_str());
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(now_ms, reply, request, out)
            }
            GroupState::CompletingRebalance if matches => {
                // A repeated join (its answer was lost): the current generation again.
                self.touch(now_ms, &member_id);
                out.push((reply, self.joined(&member_id, false)));
            }
            GroupState::Stable if matches && !is_leader => {
                self.touch(now_ms, &member_id);
                out.push((reply, self.joined(&member_id, false)));
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                // Changed metadata, or the leader asks for a rebalance.
                self.update_member_and_rebalance(now_ms, reply, request, out)
            }
            GroupState::Empty | GroupState::Dead => {
                out.push((reply, join_error(&member_id, ErrorCode::UnknownMemberId)))
            }
        }
    }

    fn touch(&mut self, now_ms: u64, member_id: &str) {
        if let Some(member) = self.members.get_mut(member_id) {
            member.session_deadline_ms = now_ms + member.session_timeout_ms;
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        now_ms: u64,
        reply: ReplyTo,
        member_id: String,
        request: JoinGroupRequest,
        out: &mut Effects<'_>,
    ) {
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        if let Some(instance) = &request.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member_id.clone());
        }
        self.next_joined_seq += 1;
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: request.group_instance_id,
            client_id: request.client_id,
            session_timeout_ms: request.session_timeout_ms,
            rebalance_timeout_ms: request.rebalance_timeout_ms,
            protocol_type: request.protocol_type,
            protocols: request.protocols,
            assignment: Bytes::new(),
            joined_seq: self.next_joined_seq,
            session_deadline_ms: now_ms + request.session_timeout_ms,
            awaiting_join: Some(reply),
            awaiting_sync: None,
        };
        self.members.insert(member_id, member);
        if let Some(delay) = &mut self.initial_delay {
            delay.new_member_added = true;
        }
        self.maybe_prepare_rebalance(now_ms, out);
    }

    fn update_member_and_rebalance(
        &mut self,
        now_ms: u64,
        reply: ReplyTo,
        request: JoinGroupRequest,
        out: &mut Effects<'_>,
    ) {
        let member = self
            .members
            .get_mut(&request.member_id)
            .expect("caller checked membership");
        member.protocols = request.protocols;
        member.session_timeout_ms = request.session_timeout_ms;
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        member.session_deadline_ms = now_ms + request.session_timeout_ms;
        if let Some(superseded) = member.awaiting_join.replace(reply) {
            // A retried join replaces the parked one; the abandoned request is answered.
            out.push((
                superseded,
                join_error(&request.member_id, ErrorCode::RebalanceInProgress),
            ));
        }
        self.maybe_prepare_rebalance(now_ms, out);
    }

    /// A static member rejoins without its member id (a restart): it takes over the old
    /// member's place and assignment under a new id; the old id is fenced.
    fn replace_static_member(
        &mut self,
        now_ms: u64,
        reply: ReplyTo,
        old_id: &str,
        new_id: String,
        request: JoinGroupRequest,
        out: &mut Effects<'_>,
    ) {
        let unchanged = self
            .members
            .get(old_id)
            .is_some_and(|member| member.protocols == request.protocols);
        // Without a rebalance the replacement is stored (Kafka's `updateStaticMemberAndRebalance`);
        // if that fails it is undone. (In Stable the old member has no parked request.)
        let undo = (self.state == GroupState::Stable
            && unchanged
            && self.select_protocol() == self.protocol_name)
            .then(|| self.clone());
        let mut member = self
            .members
            .remove(old_id)
            .expect("static member is a member");
        if let Some(parked) = member.awaiting_join.take() {
            out.push((parked, join_error(old_id, ErrorCode::FencedInstanceId)));
        }
        if let Some(parked) = member.awaiting_sync.take() {
            out.push((parked, sync_answer(Err(ErrorCode::FencedInstanceId))));
        }
        member.member_id = new_id.clone();
        member.client_id = request.client_id;
        member.protocols = request.protocols;
        member.session_timeout_ms = request.session_timeout_ms;
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        member.session_deadline_ms = now_ms + request.session_timeout_ms;
        self.members.insert(new_id.clone(), member);
        if let Some(instance) = &request.group_instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.clone());
        }
        match self.state {
            GroupState::Stable if undo.is_some() => {
                if !self.store(out) {
                    *self = undo.expect("checked");
                    out.push((reply, join_error("", ErrorCode::RebalanceInProgress)));
                    return;
                }
                // Nothing changed: no rebalance. A leader must not reassign (KIP-814).
                let is_leader = self.leader.as_deref() == Some(new_id.as_str());
                out.push((reply, self.joined(&new_id, is_leader)));
            }
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.members
                    .get_mut(&new_id)
                    .expect("inserted")
                    .awaiting_join = Some(reply);
                self.prepare_rebalance(now_ms, out);
            }
            GroupState::PreparingRebalance => {
                self.members
                    .get_mut(&new_id)
                    .expect("inserted")
                    .awaiting_join = Some(reply);
            }
            GroupState::Empty | GroupState::Dead => {
                // A group with a static member is not empty.
                out.push((
                    reply,
                    join_error(
                        &new_id,
                        ErrorCode::UnknownServerError {
                            detail: "static member in an empty group".into(),
                        },
                    ),
                ));
            }
        }
    }

    // ---- rebalance --------------------------------------------------------------------------

    fn maybe_prepare_rebalance(&mut self, now_ms: u64, out: &mut Effects<'_>) {
        if matches!(
            self.state,
            GroupState::Empty | GroupState::Stable | GroupState::CompletingRebalance
        ) {
            self.prepare_rebalance(now_ms, out);
        }
    }

    fn prepare_rebalance(&mut self, now_ms: u64, out: &mut Effects<'_>) {
        if self.state == GroupState::CompletingRebalance {
            // The generation being formed is abandoned: parked syncs learn it.
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                if let Some(parked) = member.awaiting_sync.take() {
                    out.push((parked, sync_answer(Err(ErrorCode::RebalanceInProgress))));
                }
            }
        }
        self.pending_sync.clear();
        self.sync_deadline_ms = None;
        let timeout = self.rebalance_timeout_ms();
        if self.state == GroupState::Empty {
            let delay = config_delay(self);
            self.initial_delay = (delay > 0).then(|| InitialDelay {
                remaining_ms: timeout.saturating_sub(delay),
                new_member_added: false,
            });
            self.join_deadline_ms = Some(now_ms + if delay > 0 { delay } else { timeout });
        } else {
            self.initial_delay = None;
            self.join_deadline_ms = Some(now_ms + timeout);
        }
        self.transition(GroupState::PreparingRebalance, now_ms);
    }

    fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.is_awaiting_join())
    }

    fn try_complete_join(&mut self, now_ms: u64, out: &mut Effects<'_>) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.all_members_joined()
        {
            self.complete_join(now_ms, out);
        }
    }

    /// The join phase ends: members that did not rejoin are dropped (static ones stay until
    /// their session expires), a new generation forms, is journaled, and every parked join is
    /// answered. If the journal write fails the generation does not form: the parked joins
    /// are answered `RebalanceInProgress` and the join phase starts over.
    fn complete_join(&mut self, now_ms: u64, out: &mut Effects<'_>) {
        let not_rejoined: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.is_awaiting_join() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in not_rejoined {
            self.remove_member(&member_id, out);
        }
        // The leader must be a member that rejoined.
        let leader_rejoined = self
            .leader
            .as_ref()
            .and_then(|leader| self.members.get(leader))
            .is_some_and(Member::is_awaiting_join);
        if !leader_rejoined {
            self.leader = self
                .members
                .values()
                .filter(|m| m.is_awaiting_join())
                .min_by_key(|m| m.joined_seq)
                .map(|m| m.member_id.clone());
        }
        if self.leader.is_none() && !self.members.is_empty() {
            // Only static members that did not rejoin remain: wait another round for them to
            // rejoin or for their sessions to expire.
            self.initial_delay = None;
            self.join_deadline_ms = Some(now_ms + self.rebalance_timeout_ms());
            return;
        }
        let undo = (
            self.generation,
            self.state_timestamp_ms,
            self.protocol_name.clone(),
            self.subscribed_topics.clone(),
        );
        self.generation += 1;
        self.join_deadline_ms = None;
        self.initial_delay = None;
        if self.members.is_empty() {
            self.transition(GroupState::Empty, now_ms);
            self.protocol_name = None;
            self.leader = None;
            self.subscribed_topics = subscribed_topics(self);
            // Kafka logs a failed write of an empty group and goes on; here the coordinator
            // writes it again at its ticks.
            if !self.store(out) {
                self.dirty = true;
            }
            return;
        }
        self.protocol_name = self.select_protocol();
        self.subscribed_topics = subscribed_topics(self);
        self.transition(GroupState::CompletingRebalance, now_ms);
        for member in self.members.values_mut() {
            // The new generation's assignment comes with the leader's SyncGroup.
            member.assignment = Bytes::new();
        }
        if !self.store(out) {
            let (generation, state_timestamp_ms, protocol_name, subscribed) = undo;
            self.generation = generation;
            self.state = GroupState::PreparingRebalance;
            self.state_timestamp_ms = state_timestamp_ms;
            self.protocol_name = protocol_name;
            self.subscribed_topics = subscribed;
            self.join_deadline_ms = Some(now_ms + self.rebalance_timeout_ms());
            let mut parked: Vec<(ReplyTo, String)> = self
                .members
                .values_mut()
                .filter_map(|m| m.awaiting_join.take().map(|r| (r, m.member_id.clone())))
                .collect();
            parked.sort_by_key(|(reply, _)| *reply);
            for (reply, member_id) in parked {
                out.push((
                    reply,
                    join_error(&member_id, ErrorCode::RebalanceInProgress),
                ));
            }
            return;
        }
        self.pending_sync = self.members.keys().cloned().collect();
        self.sync_deadline_ms = Some(now_ms + self.rebalance_timeout_ms());
        let joined: Vec<(ReplyTo, String)> = self
            .members
            .values_mut()
            .filter_map(|m| {
                m.session_deadline_ms = now_ms + m.session_timeout_ms;
                m.awaiting_join.take().map(|r| (r, m.member_id.clone()))
            })
            .collect();
        let mut joined = joined;
        joined.sort_by_key(|(reply, _)| *reply);
        for (reply, member_id) in joined {
            out.push((reply, self.joined(&member_id, false)));
        }
    }

    /// Removes a member (no rebalance here), answering its parked requests
    /// `UnknownMemberId`.
    fn remove_member(&mut self, member_id: &str, out: &mut Effects<'_>) -> Option<Member> {
        let mut member = self.members.remove(member_id)?;
        if let Some(instance) = &member.group_instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        self.pending_sync.remove(member_id);
        if let Some(parked) = member.awaiting_join.take() {
            out.push((parked, join_error(member_id, ErrorCode::UnknownMemberId)));
        }
        if let Some(parked) = member.awaiting_sync.take() {
            out.push((parked, sync_answer(Err(ErrorCode::UnknownMemberId))));
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = self
                .members
                .values()
                .min_by_key(|m| m.joined_seq)
                .map(|m| m.member_id.clone());
        }
        if self.pending_sync.is_empty() {
            self.sync_deadline_ms = None;
        }
        Some(member)
    }

    /// Kafka's `removeMemberAndUpdateGroup`: a leave or an expired session.
    fn remove_member_and_update(&mut self, now_ms: u64, member_id: &str, out: &mut Effects<'_>) {
        if self.remove_member(member_id, out).is_none() {
            return;
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now_ms, out);
                self.try_complete_join(now_ms, out);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, out),
            GroupState::Empty | GroupState::Dead => {}
        }
    }
}

/// The initial rebalance delay in effect (stored on the group when the coordinator creates it).
fn config_delay(group: &Group) -> u64 {
    group.initial_delay_config
}
