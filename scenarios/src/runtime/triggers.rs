//! Protocol-aware faults: turning the cluster's events into [`ClusterMoment`]s, and the fault
//! phase that fires armed faults on them.
//!
//! The cluster's observer ([`Moments::observe`]) runs inside the brokers' and the controller's
//! steps; it only queues the moments some armed fault waits for. The fault phase
//! ([`Runner::fault_phase_with_triggers`]) waits for whichever comes first, the next scheduled
//! step or a moment; a moment that fires a fault schedules it a delay drawn from the seed's
//! `triggers` stream later. Everything stays deterministic: the moments arrive in simulation
//! order and the delays come from the seed.

use super::{Runner, Step};
use crate::spec::{ClusterMoment, Trigger, WITHIN_MS_DEFAULT};
use broker::controller::ControllerEvent;
use broker::core::Observation;
use broker::node::ClusterEvent;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// A moment and when it happened.
pub(super) type Timed = (madsim::time::Instant, ClusterMoment);

/// What the observer needs to turn events into moments: the triggers still awaited, and the
/// state that tells a shrink from an expansion and growth from creation.
pub(super) struct Moments {
    wanted: Arc<Mutex<BTreeSet<Trigger>>>,
    sender: mpsc::UnboundedSender<Timed>,
    isrs: BTreeMap<(Arc<str>, u32), Vec<u32>>,
    partition_counts: BTreeMap<String, u32>,
}

impl Moments {
    pub(super) fn new(
        wanted: Arc<Mutex<BTreeSet<Trigger>>>,
        sender: mpsc::UnboundedSender<Timed>,
    ) -> Moments {
        Moments {
            wanted,
            sender,
            isrs: BTreeMap::new(),
            partition_counts: BTreeMap::new(),
        }
    }

    /// Queues the moments of `event` that an armed fault waits for.
    pub(super) fn observe(&mut self, event: &ClusterEvent) {
        let moments = self.moments_of(event);
        if moments.is_empty() {
            return;
        }
        let wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner());
        for moment in moments {
            if wanted.contains(&moment.trigger) {
                let _ = self.sender.send((sim::time::instant(), moment));
            }
        }
    }

    fn moments_of(&mut self, event: &ClusterEvent) -> Vec<ClusterMoment> {
        let moment = |trigger, topic: &str, partition, broker| ClusterMoment {
            trigger,
            topic: Some(topic.to_string()),
            partition: Some(partition),
            broker: Some(broker),
        };
        match event {
            // The new leader takes office: it learned of its election and acts on it.
            ClusterEvent::Broker(Observation::BecameLeader {
                partition,
                broker,
                leader_epoch,
            }) if *leader_epoch > 0 => vec![moment(
                Trigger::LeaderElected,
                &partition.topic,
                partition.partition,
                *broker,
            )],
            ClusterEvent::Controller(ControllerEvent::IsrChanged { partition, isr }) => {
                let key = (partition.topic.clone(), partition.partition);
                let before = self.isrs.insert(key, isr.clone());
                let Some(before) = before else {
                    return Vec::new();
                };
                let mut moments = Vec::new();
                if let Some(left) = before.iter().find(|b| !isr.contains(b)) {
                    moments.push(moment(
                        Trigger::IsrShrunk,
                        &partition.topic,
                        partition.partition,
                        *left,
                    ));
                }
                if let Some(joined) = isr.iter().find(|b| !before.contains(b)) {
                    moments.push(moment(
                        Trigger::IsrExpanded,
                        &partition.topic,
                        partition.partition,
                        *joined,
                    ));
                }
                moments
            }
            ClusterEvent::Controller(ControllerEvent::PartitionsChanged { topic, count }) => {
                let before = self.partition_counts.insert(topic.clone(), *count);
                match before {
                    Some(before) if *count > before => vec![ClusterMoment {
                        trigger: Trigger::PartitionsAdded,
                        topic: Some(topic.clone()),
                        partition: None,
                        broker: None,
                    }],
                    _ => Vec::new(),
                }
            }
            ClusterEvent::Controller(ControllerEvent::BrokerFenced { broker }) => {
                vec![ClusterMoment {
                    trigger: Trigger::BrokerFenced,
                    topic: None,
                    partition: None,
                    broker: Some(*broker),
                }]
            }
            ClusterEvent::Broker(Observation::FollowerTruncated {
                partition,
                broker,
                from,
                to,
            }) if to < from => vec![moment(
                Trigger::FollowerTruncated,
                &partition.topic,
                partition.partition,
                *broker,
            )],
            ClusterEvent::Broker(Observation::Appended {
                partition, broker, ..
            }) => vec![moment(
                Trigger::Appended,
                &partition.topic,
                partition.partition,
                *broker,
            )],
            ClusterEvent::Broker(Observation::LogStartAdvanced {
                partition, broker, ..
            }) => vec![moment(
                Trigger::LogStartAdvanced,
                &partition.topic,
                partition.partition,
                *broker,
            )],
            ClusterEvent::Broker(Observation::ProducerExpired {
                partition, broker, ..
            }) => vec![moment(
                Trigger::ProducerExpired,
                &partition.topic,
                partition.partition,
                *broker,
            )],
            _ => Vec::new(),
        }
    }
}

impl Runner {
    /// The triggers the scenario's faults wait for.
    pub(super) fn awaited_triggers(&self) -> BTreeSet<Trigger> {
        self.scenario.faults.iter().filter_map(|f| f.when).collect()
    }

    /// The fault phase when some faults wait for events: the scheduled steps, and the armed
    /// faults fired by the moments as they come.
    pub(super) async fn fault_phase_with_triggers(
        &mut self,
        mut steps: Vec<(u64, usize, Step)>,
        mut moments: mpsc::UnboundedReceiver<Timed>,
    ) {
        let phase_end = self.start + Duration::from_millis(self.scenario.fault_phase_ms);
        let mut rng = self.world.seed().stream("triggers");
        // Armed faults not fired yet, in schedule order.
        let mut waiting: Vec<usize> = (0..self.scenario.faults.len())
            .filter(|&index| self.scenario.faults[index].when.is_some())
            .collect();
        let mut order = steps.len();
        loop {
            steps.sort_by_key(|(at, order, _)| (*at, *order));
            let next_at = steps
                .first()
                .map(|(at, _, _)| self.start + Duration::from_millis(*at))
                .unwrap_or(phase_end)
                .min(phase_end);
            tokio::select! {
                biased;
                received = moments.recv(), if !waiting.is_empty() => {
                    let Some((at, moment)) = received else { continue };
                    let fired = self.match_moment(at, &moment, &mut waiting);
                    for index in fired {
                        let fault = self.scenario.faults[index].clone();
                        let within = fault.within_ms.unwrap_or(WITHIN_MS_DEFAULT);
                        let delay = rng.gen_range(0..=within);
                        let fire_ms = self.elapsed_ms() + delay;
                        self.log_fault(format!(
                            "fault {index} armed by {}{}{}, fires in {delay} ms",
                            moment.trigger,
                            moment
                                .topic
                                .as_ref()
                                .map(|t| match moment.partition {
                                    Some(p) => format!(" of {t}/{p}"),
                                    None => format!(" of {t}"),
                                })
                                .unwrap_or_default(),
                            moment
                                .broker
                                .map(|b| format!(" (broker-{b})"))
                                .unwrap_or_default(),
                        ));
                        self.moments.insert(index, moment.clone());
                        if fire_ms < self.scenario.fault_phase_ms {
                            steps.push((fire_ms, order, Step::Apply(index)));
                            order += 1;
                            if let Some(for_ms) = fault.for_ms {
                                let repair_at = fire_ms.saturating_add(for_ms);
                                if repair_at < self.scenario.fault_phase_ms {
                                    steps.push((repair_at, order, Step::Repair(index)));
                                    order += 1;
                                }
                            }
                        }
                    }
                    let still: BTreeSet<Trigger> = waiting
                        .iter()
                        .filter_map(|&index| self.scenario.faults[index].when)
                        .collect();
                    *self.wanted.lock().unwrap_or_else(|p| p.into_inner()) = still;
                }
                _ = madsim::time::sleep_until(next_at) => {
                    let due = steps
                        .first()
                        .is_some_and(|(at, _, _)| self.start + Duration::from_millis(*at) <= next_at);
                    if !due {
                        break;
                    }
                    let (_, _, step) = steps.remove(0);
                    self.run_step(step).await;
                }
            }
        }
        for index in waiting {
            let fault = &self.scenario.faults[index];
            self.log_fault(format!(
                "fault {index}: never fired (no {} event{} after {} ms)",
                fault.when.map(Trigger::as_str).unwrap_or("?"),
                fault
                    .on
                    .as_ref()
                    .map(|filter| format!(" of {filter}"))
                    .unwrap_or_default(),
                fault.at_ms
            ));
        }
        *self.wanted.lock().unwrap_or_else(|p| p.into_inner()) = BTreeSet::new();
    }

    /// The waiting faults `moment` fires (removed from `waiting`): those armed by then whose
    /// trigger and filter it matches.
    fn match_moment(
        &self,
        at: madsim::time::Instant,
        moment: &ClusterMoment,
        waiting: &mut Vec<usize>,
    ) -> Vec<usize> {
        let since_start = at.saturating_duration_since(self.start).as_millis() as u64;
        let armed = at >= self.start;
        let (fired, still): (Vec<usize>, Vec<usize>) = waiting.iter().partition(|&&index| {
            let fault = &self.scenario.faults[index];
            armed
                && since_start >= fault.at_ms
                && fault
                    .when
                    .is_some_and(|trigger| moment.matches(trigger, fault.on.as_ref()))
        });
        *waiting = still;
        fired
    }
}
