//! What the controller decided, as its events tell it: which brokers it has fenced and each
//! partition's ISR. The controller is the one authority on both; a broker's own status may be
//! stale (a broker that has not heard of its election still calls itself a follower).
//!
//! The `truncate-follower` fault reads it: a follower may lose records it has already reported
//! to a leader (its fetch offset), which that leader may count as committed at any time, even
//! after the follower went down (swarm seed 2810: the fetch waited in a paused leader's inbox).
//! Kafka survives that loss only while the replica cannot be elected until it has caught up
//! again: out of the ISR, and kept out until it comes back as a new incarnation (KIP-903).
//! When it is the ISR's last member instead, it is elected again with what it kept: KIP-966's
//! "last replica standing", which loses committed records in Kafka too. So the cut is made only
//! once the controller has fenced the follower after it went down and taken it out of the
//! partition's ISR ([`ControllerView::cannot_rejoin`]).

use broker::api::{BrokerId, TopicPartition};
use broker::controller::ControllerEvent;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub(crate) struct ControllerView {
    /// How many controller events were seen: a clock to tell which came after what.
    seen: u64,
    /// The brokers the controller has fenced, with the event count of their fence.
    fenced: BTreeMap<BrokerId, u64>,
    /// Each partition's ISR as of its last change (unknown until the controller changed it).
    isr: BTreeMap<TopicPartition, Vec<BrokerId>>,
}

impl ControllerView {
    pub(crate) fn observe(&mut self, event: &ControllerEvent) {
        self.seen += 1;
        match event {
            ControllerEvent::BrokerFenced { broker } => {
                self.fenced.insert(*broker, self.seen);
            }
            ControllerEvent::BrokerUnfenced { broker } => {
                self.fenced.remove(broker);
            }
            ControllerEvent::IsrChanged { partition, isr } => {
                self.isr.insert(partition.clone(), isr.clone());
            }
            // An unclean election makes the new leader the ISR's only member.
            ControllerEvent::LeaderElected {
                partition,
                leader: Some(leader),
                unclean: true,
                ..
            } => {
                self.isr.insert(partition.clone(), vec![*leader]);
            }
            _ => {}
        }
    }

    /// Now, in the count of events seen: a fence is after it when it has a higher count.
    pub(crate) fn now(&self) -> u64 {
        self.seen
    }

    /// The controller went down: it forgets whom it fenced (a restarted one counts every
    /// known broker alive until its session runs out), so no fence seen before counts. The ISR
    /// is durable metadata and stays.
    pub(crate) fn controller_lost(&mut self) {
        self.fenced.clear();
    }

    /// `broker` cannot lead `partition` nor rejoin its ISR before it comes back as a new
    /// incarnation and catches up: the controller fenced it after `since` (so no heartbeat of
    /// the incarnation that went down can unfence it: it was silent for a whole session) and
    /// its last ISR of `partition` leaves it out (a fenced broker cannot be added back).
    pub(crate) fn cannot_rejoin(
        &self,
        broker: BrokerId,
        partition: &TopicPartition,
        since: u64,
    ) -> bool {
        self.fenced.get(&broker).is_some_and(|&at| at > since)
            && self
                .isr
                .get(partition)
                .is_some_and(|isr| !isr.contains(&broker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("swarm", 0)
    }

    fn isr(members: &[BrokerId]) -> ControllerEvent {
        ControllerEvent::IsrChanged {
            partition: tp(),
            isr: members.to_vec(),
        }
    }

    #[test]
    fn a_follower_fenced_after_it_went_down_and_out_of_the_isr_cannot_rejoin() {
        let mut view = ControllerView::default();
        view.observe(&isr(&[2, 3]));
        let down = view.now();
        view.observe(&ControllerEvent::BrokerFenced { broker: 3 });
        assert!(!view.cannot_rejoin(3, &tp(), down), "still in the ISR");
        view.observe(&isr(&[2]));
        assert!(view.cannot_rejoin(3, &tp(), down));
        assert!(!view.cannot_rejoin(2, &tp(), down), "never fenced");
    }

    /// Swarm seed 2810: the leader was fenced first, so the follower stayed as the ISR's last
    /// member; fenced later, it stays in the ISR and is elected again when it returns.
    #[test]
    fn the_last_member_of_the_isr_can_lead_again() {
        let mut view = ControllerView::default();
        view.observe(&isr(&[2, 3]));
        view.observe(&ControllerEvent::BrokerFenced { broker: 2 });
        view.observe(&isr(&[3]));
        let down = view.now();
        view.observe(&ControllerEvent::BrokerFenced { broker: 3 });
        assert!(!view.cannot_rejoin(3, &tp(), down));
    }

    #[test]
    fn a_partition_whose_isr_never_changed_keeps_every_replica() {
        let mut view = ControllerView::default();
        let down = view.now();
        view.observe(&ControllerEvent::BrokerFenced { broker: 3 });
        assert!(!view.cannot_rejoin(3, &tp(), down));
    }

    #[test]
    fn a_fence_before_the_follower_went_down_does_not_count() {
        let mut view = ControllerView::default();
        view.observe(&ControllerEvent::BrokerFenced { broker: 3 });
        view.observe(&isr(&[2]));
        let down = view.now();
        assert!(!view.cannot_rejoin(3, &tp(), down));
        view.observe(&ControllerEvent::BrokerUnfenced { broker: 3 });
        view.observe(&ControllerEvent::BrokerFenced { broker: 3 });
        assert!(view.cannot_rejoin(3, &tp(), down));
    }

    #[test]
    fn an_unfence_or_a_lost_controller_undoes_the_fence() {
        let mut view = ControllerView::default();
        view.observe(&isr(&[2]));
        let down = view.now();
        view.observe(&ControllerEvent::BrokerFenced { broker: 3 });
        view.observe(&ControllerEvent::BrokerUnfenced { broker: 3 });
        assert!(!view.cannot_rejoin(3, &tp(), down));
        view.observe(&ControllerEvent::BrokerFenced { broker: 3 });
        assert!(view.cannot_rejoin(3, &tp(), down));
        view.controller_lost();
        assert!(!view.cannot_rejoin(3, &tp(), down));
    }

    #[test]
    fn an_unclean_election_leaves_only_the_new_leader_in_the_isr() {
        let mut view = ControllerView::default();
        let down = view.now();
        view.observe(&ControllerEvent::BrokerFenced { broker: 3 });
        view.observe(&ControllerEvent::LeaderElected {
            partition: tp(),
            leader: Some(2),
            leader_epoch: 1,
            unclean: true,
        });
        assert!(view.cannot_rejoin(3, &tp(), down));
    }
}
