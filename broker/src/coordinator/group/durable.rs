//! A group's durable record: what is journaled ([`GroupRecord`]), when (the callers in
//! `mod.rs` and `sync.rs`), and how a restarted coordinator rebuilds the group from it.
//!
//! Kafka writes `GroupMetadata` to `__consumer_offsets` when the leader's assignment arrives,
//! when the group becomes Empty and when a static member is replaced without a rebalance; it
//! loads a group with members as `Stable` (an empty one as `Empty`) and gives every member a
//! fresh session. Here a forming generation is journaled too (as `CompletingRebalance`), so a
//! generation number announced in a JoinGroup answer is never handed out again after a
//! restart, and a member of an older generation stays fenced; such a group comes back in
//! `CompletingRebalance` with a fresh rebalance timeout for the SyncGroups.

use super::*;
use crate::coordinator::store::{GroupRecord, GroupStoreError, MemberRecord, StoredState};

/// Where a group's record is journaled (the coordinator's group store).
pub(crate) trait GroupJournal {
    /// Journals `record` as the group's latest; `Ok` means durable.
    fn store(&mut self, record: &GroupRecord) -> Result<(), GroupStoreError>;
}

/// What a group's step produces: answers (pushed only once what they announce is durable)
/// and journal writes.
pub(crate) struct Effects<'a> {
    replies: &'a mut Replies,
    journal: &'a mut dyn GroupJournal,
}

impl<'a> Effects<'a> {
    pub(crate) fn new(replies: &'a mut Replies, journal: &'a mut dyn GroupJournal) -> Self {
        Effects { replies, journal }
    }

    /// An answer to a request, to be sent.
    pub(crate) fn push(&mut self, answer: (ReplyTo, Response)) {
        self.replies.push(answer);
    }
}

impl Group {
    /// Journals the group's current record; true when it is durable.
    pub(super) fn store(&mut self, out: &mut Effects<'_>) -> bool {
        let Some(record) = self.record() else {
            return false;
        };
        match out.journal.store(&record) {
            Ok(()) => {
                self.dirty = false;
                true
            }
            Err(error) => {
                tracing::debug!(group = %self.id, %error, "group record not journaled");
                false
            }
        }
    }

    /// Writes the record again after a failed write, while the group is still in the state
    /// that write was for (Empty); a later state is journaled when it is reached.
    pub(crate) fn store_if_dirty(&mut self, out: &mut Effects<'_>) {
        if self.dirty && self.state == GroupState::Empty {
            self.store(out);
        }
    }

    /// The record of the group as it stands, if its state is one that is journaled.
    pub(crate) fn record(&self) -> Option<GroupRecord> {
        let state = match self.state {
            GroupState::Empty => StoredState::Empty,
            GroupState::CompletingRebalance => StoredState::CompletingRebalance,
            GroupState::Stable => StoredState::Stable,
            GroupState::PreparingRebalance | GroupState::Dead => return None,
        };
        Some(GroupRecord {
            group: self.id.clone(),
            state,
            state_timestamp_ms: self.state_timestamp_ms,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            next_joined_seq: self.next_joined_seq,
            members: self
                .members
                .values()
                .map(|m| MemberRecord {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocol_type: m.protocol_type.clone(),
                    protocols: m.protocols.clone(),
                    assignment: m.assignment.clone(),
                    joined_seq: m.joined_seq,
                })
                .collect(),
        })
    }

    /// Rebuilds a group from its latest record at `now_ms`: every member gets a fresh session
    /// (and, in `CompletingRebalance`, the rebalance timeout to send SyncGroup). A record that
    /// breaks the group's invariants is refused with the reason.
    pub(crate) fn restore(
        record: GroupRecord,
        initial_rebalance_delay_ms: u64,
        now_ms: u64,
    ) -> Result<Group, String> {
        let id = record.group.clone();
        let mut group = Group::new(&id, initial_rebalance_delay_ms, now_ms);
        group.state = match record.state {
            StoredState::Empty => GroupState::Empty,
            StoredState::CompletingRebalance => GroupState::CompletingRebalance,
            StoredState::Stable => GroupState::Stable,
        };
        group.state_timestamp_ms = record.state_timestamp_ms;
        group.generation = record.generation;
        group.protocol_type = record.protocol_type;
        group.protocol_name = record.protocol_name;
        group.leader = record.leader;
        let mut next_joined_seq = record.next_joined_seq;
        for m in record.members {
            if let Some(instance) = &m.group_instance_id {
                if group
                    .static_members
                    .insert(instance.clone(), m.member_id.clone())
                    .is_some()
                {
                    return Err(format!("group {id}: instance {instance} named twice"));
                }
            }
            if group.state != GroupState::Stable && !m.assignment.is_empty() {
                return Err(format!("group {id}: an assignment outside Stable"));
            }
            next_joined_seq = next_joined_seq.max(m.joined_seq);
            let member = Member {
                session_deadline_ms: now_ms.saturating_add(m.session_timeout_ms),
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocol_type: m.protocol_type,
                protocols: m.protocols,
                assignment: m.assignment,
                joined_seq: m.joined_seq,
                awaiting_join: None,
                awaiting_sync: None,
            };
            if group
                .members
                .insert(member.member_id.clone(), member)
                .is_some()
            {
                return Err(format!("group {id}: a member named twice"));
            }
        }
        group.next_joined_seq = next_joined_seq;
        match group.state {
            GroupState::Empty => {
                if !group.members.is_empty() || group.leader.is_some() {
                    return Err(format!("group {id}: Empty with members or a leader"));
                }
            }
            _ => {
                let leader_is_member = group
                    .leader
                    .as_ref()
                    .is_some_and(|leader| group.members.contains_key(leader));
                if !leader_is_member || group.protocol_name.is_none() {
                    return Err(format!(
                        "group {id}: a generation without its leader or protocol"
                    ));
                }
            }
        }
        if group.state == GroupState::CompletingRebalance {
            group.pending_sync = group.members.keys().cloned().collect();
            group.sync_deadline_ms = Some(now_ms.saturating_add(group.rebalance_timeout_ms()));
        }
        group.subscribed_topics = subscribed_topics(&group);
        Ok(group)
    }
}
