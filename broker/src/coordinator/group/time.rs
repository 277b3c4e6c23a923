//! A group's timers (sessions, pending member ids, the join phase, members that never synced)
//! and its structural invariants.

use super::*;

impl Group {
    /// Fires whatever is due at `now_ms`: pending-member and session expiries, the end of the
    /// join phase, members that never synced.
    pub(crate) fn tick(&mut self, now_ms: u64, out: &mut Effects<'_>) {
        let expired_pending: Vec<String> = self
            .pending_members
            .iter()
            .filter(|(_, deadline)| **deadline <= now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        if !expired_pending.is_empty() {
            for id in expired_pending {
                self.pending_members.remove(&id);
            }
            self.try_complete_join(now_ms, out);
        }
        // A member with a parked join or sync is kept alive (the rebalance timeout governs).
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.session_deadline_ms <= now_ms && !m.is_awaiting_join() && !m.is_awaiting_sync()
            })
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in expired {
            self.remove_member_and_update(now_ms, &member_id, out);
        }
        if self.sync_deadline_ms.is_some_and(|d| d <= now_ms)
            && matches!(
                self.state,
                GroupState::CompletingRebalance | GroupState::Stable
            )
        {
            let never_synced: Vec<String> = self.pending_sync.iter().cloned().collect();
            for member_id in never_synced {
                self.remove_member(&member_id, out);
            }
            self.sync_deadline_ms = None;
            self.prepare_rebalance(now_ms, out);
            self.try_complete_join(now_ms, out);
        }
        if self.state == GroupState::PreparingRebalance
            && self.join_deadline_ms.is_some_and(|d| d <= now_ms)
        {
            match self.initial_delay.clone() {
                Some(delay) if delay.new_member_added && delay.remaining_ms > 0 => {
                    let step = config_delay(self).min(delay.remaining_ms);
                    self.initial_delay = Some(InitialDelay {
                        remaining_ms: delay.remaining_ms - step,
                        new_member_added: false,
                    });
                    self.join_deadline_ms = Some(now_ms + step);
                }
                _ => {
                    self.initial_delay = None;
                    self.complete_join(now_ms, out);
                }
            }
        }
    }

    /// The earliest time at which the group has a timer to fire.
    pub fn next_deadline(&self) -> Option<u64> {
        let sessions = self
            .members
            .values()
            .filter(|m| !m.is_awaiting_join() && !m.is_awaiting_sync())
            .map(|m| m.session_deadline_ms);
        let join = if self.state == GroupState::PreparingRebalance {
            self.join_deadline_ms
        } else {
            None
        };
        let sync = if matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) {
            self.sync_deadline_ms
        } else {
            None
        };
        sessions
            .chain(self.pending_members.values().copied())
            .chain(join)
            .chain(sync)
            .min()
    }

    /// Structural invariants; panics on a violation (tests and debug checks).
    pub fn check_invariants(&self) {
        for (instance, member_id) in &self.static_members {
            let member = self
                .members
                .get(member_id)
                .unwrap_or_else(|| panic!("{}: static {instance} -> missing {member_id}", self.id));
            assert_eq!(member.group_instance_id.as_ref(), Some(instance));
        }
        match self.state {
            GroupState::Empty => {
                assert!(self.members.is_empty(), "{}: Empty with members", self.id);
                assert!(self.leader.is_none());
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                assert!(
                    !self.members.is_empty(),
                    "{}: {:?} without members",
                    self.id,
                    self.state
                );
                let leader = self
                    .leader
                    .as_ref()
                    .expect("a formed generation has a leader");
                assert!(
                    self.members.contains_key(leader),
                    "{}: leader gone",
                    self.id
                );
                assert!(self.members.values().all(|m| !m.is_awaiting_join()));
                assert!(self.protocol_name.is_some());
            }
            GroupState::PreparingRebalance => {
                assert!(self.join_deadline_ms.is_some());
                assert!(self.members.values().all(|m| !m.is_awaiting_sync()));
            }
            GroupState::Dead => {}
        }
        if !matches!(
            self.state,
            GroupState::Stable | GroupState::PreparingRebalance
        ) {
            assert!(
                self.members.values().all(|m| m.assignment.is_empty()),
                "{}: assignments held in {:?}",
                self.id,
                self.state
            );
        }
    }
}
