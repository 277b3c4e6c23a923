//! SyncGroup, Heartbeat, LeaveGroup and the OffsetCommit membership check of one group.

use super::*;

impl Group {
    /// Checks who sends a request in a generation (fencing, membership, generation).
    fn validate_member(
        &self,
        member_id: &str,
        instance: &Option<String>,
        generation: u32,
    ) -> Result<(), ErrorCode> {
        if self.state == GroupState::Dead {
            return Err(ErrorCode::UnknownMemberId);
        }
        if self.is_static_fenced(member_id, instance) {
            return Err(ErrorCode::FencedInstanceId);
        }
        if !self.members.contains_key(member_id) {
            return Err(ErrorCode::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
        Ok(())
    }

    pub(crate) fn sync(
        &mut self,
        now_ms: u64,
        reply: ReplyTo,
        request: SyncGroupRequest,
        out: &mut Effects<'_>,
    ) {
        if let Err(error) = self.validate_member(
            &request.member_id,
            &request.group_instance_id,
            request.generation,
        ) {
            out.push((reply, sync_answer(Err(error))));
            return;
        }
        let member_id = request.member_id.clone();
        match self.state {
            GroupState::Empty | GroupState::Dead => {
                out.push((reply, sync_answer(Err(ErrorCode::UnknownMemberId))))
            }
            GroupState::PreparingRebalance => {
                out.push((reply, sync_answer(Err(ErrorCode::RebalanceInProgress))))
            }
            GroupState::CompletingRebalance => {
                self.touch(now_ms, &member_id);
                self.sync_received(&member_id);
                let member = self.members.get_mut(&member_id).expect("validated");
                if let Some(superseded) = member.awaiting_sync.replace(reply) {
                    out.push((superseded, sync_answer(Err(ErrorCode::RebalanceInProgress))));
                }
                if self.leader.as_deref() == Some(member_id.as_str()) {
                    let assignments: BTreeMap<String, Bytes> =
                        request.assignments.into_iter().collect();
                    let formed_at = self.state_timestamp_ms;
                    self.transition(GroupState::Stable, now_ms);
                    for member in self.members.values_mut() {
                        member.assignment = assignments
                            .get(&member.member_id)
                            .cloned()
                            .unwrap_or_default();
                    }
                    // Kafka's `storeGroup` before any member learns its assignment; if it
                    // fails, every parked sync is refused and the group rebalances
                    // (`resetAndPropagateAssignmentError`, `maybePrepareRebalance`).
                    if !self.store(out) {
                        self.state = GroupState::CompletingRebalance;
                        self.state_timestamp_ms = formed_at;
                        self.prepare_rebalance(now_ms, out);
                        return;
                    }
                    let mut parked: Vec<(ReplyTo, Bytes)> = Vec::new();
                    for member in self.members.values_mut() {
                        if let Some(r) = member.awaiting_sync.take() {
                            member.session_deadline_ms = now_ms + member.session_timeout_ms;
                            parked.push((r, member.assignment.clone()));
                        }
                    }
                    parked.sort_by_key(|(r, _)| *r);
                    for (r, assignment) in parked {
                        out.push((r, sync_answer(Ok(assignment))));
                    }
                }
            }
            GroupState::Stable => {
                self.touch(now_ms, &member_id);
                self.sync_received(&member_id);
                let assignment = self.members[&member_id].assignment.clone();
                out.push((reply, sync_answer(Ok(assignment))));
            }
        }
    }

    fn sync_received(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_deadline_ms = None;
        }
    }

    pub(crate) fn heartbeat(
        &mut self,
        now_ms: u64,
        request: &HeartbeatGroupRequest,
    ) -> Result<(), ErrorCode> {
        self.validate_member(
            &request.member_id,
            &request.group_instance_id,
            request.generation,
        )?;
        match self.state {
            GroupState::Empty | GroupState::Dead => Err(ErrorCode::UnknownMemberId),
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.touch(now_ms, &request.member_id);
                Ok(())
            }
            GroupState::PreparingRebalance => {
                self.touch(now_ms, &request.member_id);
                Err(ErrorCode::RebalanceInProgress)
            }
        }
    }

    pub(crate) fn leave(
        &mut self,
        now_ms: u64,
        request: &LeaveGroupRequest,
        out: &mut Effects<'_>,
    ) -> Result<(), ErrorCode> {
        if self.state == GroupState::Dead {
            return Err(ErrorCode::UnknownMemberId);
        }
        let member_id = match &request.group_instance_id {
            Some(instance) => match self.static_members.get(instance) {
                Some(current) if !request.member_id.is_empty() && *current != request.member_id => {
                    return Err(ErrorCode::FencedInstanceId)
                }
                Some(current) => current.clone(),
                None => return Err(ErrorCode::UnknownMemberId),
            },
            None => {
                if self.pending_members.remove(&request.member_id).is_some() {
                    self.try_complete_join(now_ms, out);
                    return Ok(());
                }
                if !self.members.contains_key(&request.member_id) {
                    return Err(ErrorCode::UnknownMemberId);
                }
                request.member_id.clone()
            }
        };
        self.remove_member_and_update(now_ms, &member_id, out);
        Ok(())
    }

    /// Whether a commit from this member may be applied now (Kafka's `validateOffsetCommit`
    /// and the CompletingRebalance check after it). `None` = a commit without membership.
    pub(crate) fn validate_commit(&self, member: Option<&CommitMember>) -> Result<(), ErrorCode> {
        match member {
            None if self.state == GroupState::Empty => Ok(()),
            // When the group has members, only members can commit.
            None => Err(ErrorCode::UnknownMemberId),
            Some(member) => {
                self.validate_member(
                    &member.member_id,
                    &member.group_instance_id,
                    member.generation,
                )?;
                match self.state {
                    GroupState::CompletingRebalance => Err(ErrorCode::RebalanceInProgress),
                    GroupState::Stable | GroupState::PreparingRebalance => Ok(()),
                    GroupState::Empty | GroupState::Dead => Err(ErrorCode::UnknownMemberId),
                }
            }
        }
    }
}
