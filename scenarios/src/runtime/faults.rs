//! The nemesis: how the runner fires each kind of fault and repairs it.
//!
//! [`Runner::apply`] resolves nothing itself: it dispatches fault `index` of the schedule to the
//! handler of its kind (one method per [`Fault`] variant, below), logs what happened, and
//! remembers what to undo as an [`Active`]. A handler resolves its targets (a fault whose target
//! is not there — a client not started yet, no follower running — is skipped and logged as
//! such), records the `fault` event in the history, then changes the world. [`Runner::repair`]
//! undoes an [`Active`], recording the repair first.

use super::{
    consumer_name, producer_name, Runner, ADMIN_ATTEMPTS_MAX, ADMIN_CALL_TIMEOUT, ADMIN_NODE,
};
use crate::coverage;
use crate::spec::*;
use broker::api::{CreatePartitionsRequest, Request, TopicPartition};
use broker::core::AdminCommand;
use broker::node::Cluster;
use oracle::FaultKind;
use sim::disk::DiskFaults;
use sim::NodeState;
use std::time::Duration;

/// What a fault changed, so that it can be repaired.
#[derive(Debug, Clone)]
pub(super) enum Active {
    Crashed(Node),
    Closed(Node),
    Paused(String),
    Partitioned(Vec<Vec<String>>),
    Clogged(String, String),
    PacketLoss,
    Latency,
    Disk(String),
    Nothing,
}

/// A truncate-follower fault's cut, owed to a broker while it is down.
#[derive(Debug, Clone)]
pub(crate) struct PendingCut {
    /// The fault's index in the schedule.
    index: usize,
    broker: u32,
    partition: TopicPartition,
    /// Where its log is cut: above the committed offset when it went down.
    offset: u64,
    /// The controller's event count when it went down (see [`ControllerView::cannot_rejoin`]).
    ///
    /// [`ControllerView::cannot_rejoin`]: super::controller_view::ControllerView::cannot_rejoin
    down_at: u64,
}

/// A node a fault resolved to.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Server(String),
    Producer(usize),
    Consumer(usize),
}

impl Runner {
    fn resolve(&self, target: &Target) -> Option<Node> {
        match target {
            Target::Broker(id) => Some(Node::Server(Cluster::broker_name(*id))),
            Target::Controller => Some(Node::Server(self.cluster.controller_name.clone())),
            Target::Producer(index) => Some(Node::Producer(*index as usize)),
            Target::Consumer(index) => Some(Node::Consumer(*index as usize)),
            Target::LeaderOf { topic, partition } => self
                .leader_of(&TopicPartition::new(topic, *partition))
                .map(|id| Node::Server(Cluster::broker_name(id))),
            Target::FollowerOf { topic, partition } => self
                .follower_of(&TopicPartition::new(topic, *partition))
                .map(|id| Node::Server(Cluster::broker_name(id))),
            Target::SuccessorOf { topic, partition } => self
                .successor_of(&TopicPartition::new(topic, *partition))
                .map(|id| Node::Server(Cluster::broker_name(id))),
            Target::Trigger => self
                .firing
                .as_ref()
                .and_then(|moment| moment.broker)
                .map(|id| Node::Server(Cluster::broker_name(id))),
        }
    }

    fn node_name(&self, node: &Node) -> String {
        match node {
            Node::Server(name) => name.clone(),
            Node::Producer(index) => producer_name(*index),
            Node::Consumer(index) => consumer_name(*index),
        }
    }

    fn broker_id(&self, node: &Node) -> Option<u32> {
        match node {
            Node::Server(name) => self
                .cluster
                .brokers
                .values()
                .find(|handle| &handle.name == name)
                .map(|handle| handle.id),
            _ => None,
        }
    }

    /// Fires fault `index`; remembers what to repair.
    pub(super) async fn apply(&mut self, index: usize) {
        let fault = self.scenario.faults[index].fault.clone();
        let kind = fault.kind();
        self.firing = self.moments.get(&index).cloned();
        if self.firing.is_some() {
            self.mark(coverage::TRIGGERED_FAULT_FIRED);
        }
        let active = match &fault {
            Fault::Crash { target, tail } => self.crash(kind, target, *tail),
            Fault::WipeDisk { target } => self.wipe_disk(kind, target),
            Fault::IsolateFromController { target } => self.isolate_from_controller(kind, target),
            Fault::Close { target } => self.close(kind, target),
            Fault::Pause { target } => self.pause(kind, target),
            Fault::Isolate { target } => self.isolate(kind, target),
            Fault::IsolateFromCluster { target } => self.isolate_from_cluster(kind, target),
            Fault::Partition { side } => self.partition(kind, side),
            Fault::Clog { from, to } => self.clog(kind, from, to),
            Fault::PacketLoss { rate } => self.packet_loss(kind, *rate),
            Fault::Latency { min_ms, max_ms } => self.latency(kind, *min_ms, *max_ms),
            Fault::Disk {
                target,
                read_error_rate,
                write_error_rate,
                latency_ms,
            } => self.disk(
                kind,
                target,
                *read_error_rate,
                *write_error_rate,
                *latency_ms,
            ),
            Fault::Retention {
                target,
                topic,
                partition,
                offset,
                min_age_ms,
            } => self.retention(kind, target, topic, *partition, *offset, *min_age_ms),
            Fault::TruncateFollower {
                target,
                topic,
                partition,
            } => self.truncate_follower(index, kind, target, topic, *partition),
            Fault::ExpirePids {
                topic,
                partition,
                idle_ms,
            } => self.expire_pids(kind, topic, *partition, *idle_ms),
            Fault::AddPartitions { topic, count } => self.add_partitions(kind, topic, *count),
        };
        let mut description = fired(&fault, kind, &active);
        if let Some(broker) = self.firing.take().and_then(|moment| moment.broker) {
            if fault.targets().contains(&&Target::Trigger) {
                description.push_str(&format!(" (trigger = broker-{broker})"));
            }
        }
        self.log_fault(description);
        self.active.insert(index, active);
    }

    /// Kills a server (its disk crashes, leaving `tail`) or crashes a client's process.
    fn crash(&mut self, kind: FaultKind, target: &Target, tail: Tail) -> Active {
        match self.resolve(target) {
            Some(node) => {
                let name = self.node_name(&node);
                if matches!(node, Node::Server(_))
                    && self.world.node_state(&name) == NodeState::Running
                {
                    self.note_down(&name);
                    if tail != Tail::Torn {
                        self.mark(coverage::CRASH_LEFT_BAD_TAIL);
                    }
                }
                self.history.record_fault(kind, Some(&name));
                if name == self.cluster.controller_name {
                    // It forgets whom it fenced.
                    self.controller_view
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .controller_lost();
                }
                match &node {
                    Node::Server(name) => match tail {
                        Tail::Torn => self.world.kill(name),
                        Tail::Garbage => {
                            self.world
                                .kill_leaving(name, sim::disk::CrashTail::Garbage, false)
                        }
                        Tail::Zeros => {
                            self.world
                                .kill_leaving(name, sim::disk::CrashTail::Zeros, false)
                        }
                    },
                    Node::Producer(i) => {
                        if let Some(producer) = self.producers.get(i) {
                            producer.crash();
                        }
                    }
                    Node::Consumer(i) => {
                        if let Some(consumer) = self.consumers.get(i) {
                            consumer.crash();
                        }
                    }
                }
                Active::Crashed(node)
            }
            None => Active::Nothing,
        }
    }

    /// Takes a running broker down and empties its disk; repaired like a crash (it restarts
    /// empty). Skipped when the broker is the only running in-sync replica of a partition it
    /// holds, or a partition it holds has no leader to tell: the wipe would destroy the last
    /// copy of acknowledged records, which nothing can bring back.
    fn wipe_disk(&mut self, kind: FaultKind, target: &Target) -> Active {
        let Some(id) = self.resolve(target).and_then(|node| self.broker_id(&node)) else {
            return Active::Nothing;
        };
        let name = Cluster::broker_name(id);
        if self.world.node_state(&name) != NodeState::Running || !self.another_copy_survives(id) {
            return Active::Nothing;
        }
        self.note_down(&name);
        self.mark(coverage::RESTARTED_WITH_EMPTY_DISK);
        self.history.record_fault(kind, Some(&name));
        self.world
            .kill_leaving(&name, sim::disk::CrashTail::Torn, true);
        Active::Crashed(Node::Server(name))
    }

    /// Every partition broker `id` holds has another running broker in its leader's ISR.
    fn another_copy_survives(&self, id: u32) -> bool {
        let held: Vec<TopicPartition> = self.cluster.brokers[&id]
            .status()
            .replicas
            .iter()
            .map(|replica| replica.partition.clone())
            .collect();
        held.iter()
            .all(|partition| self.another_copy_of(id, partition))
    }

    /// `partition` has a running broker other than `id` in its leader's ISR (which holds every
    /// acknowledged record).
    fn another_copy_of(&self, id: u32, partition: &TopicPartition) -> bool {
        {
            let Some(leader) = self.leader_of(partition) else {
                return false;
            };
            let isr: Vec<u32> = self.cluster.brokers[&leader]
                .status()
                .replicas
                .iter()
                .find(|replica| &replica.partition == partition && replica.leader)
                .map(|replica| replica.isr.clone())
                .unwrap_or_default();
            isr.iter().any(|&member| {
                member != id
                    && self.world.node_state(&Cluster::broker_name(member)) == NodeState::Running
            })
        }
    }

    /// Cuts a broker off from the controller alone (both ways).
    fn isolate_from_controller(&mut self, kind: FaultKind, target: &Target) -> Active {
        match self.resolve(target) {
            Some(Node::Server(name)) if name != self.cluster.controller_name => {
                let follows = self
                    .cluster
                    .brokers
                    .values()
                    .find(|handle| handle.name == name)
                    .is_some_and(|handle| handle.status().replicas.iter().any(|r| !r.leader));
                if follows {
                    self.mark(coverage::FOLLOWER_CUT_FROM_CONTROLLER);
                }
                let groups = vec![
                    vec![name.clone()],
                    vec![self.cluster.controller_name.clone()],
                ];
                self.history.record_fault(
                    kind,
                    Some(&format!("{name},{}", self.cluster.controller_name)),
                );
                self.world.partition(&groups);
                Active::Partitioned(groups)
            }
            _ => Active::Nothing,
        }
    }

    /// Asks a running client to close cleanly.
    fn close(&mut self, kind: FaultKind, target: &Target) -> Active {
        match self.resolve(target) {
            Some(node) => {
                let name = self.node_name(&node);
                let running = self.world.node_names().contains(&name)
                    && self.world.node_state(&name) == NodeState::Running;
                match &node {
                    Node::Producer(i) if running => {
                        self.history.record_fault(kind, Some(&name));
                        self.producers[i].close();
                        Active::Closed(node)
                    }
                    Node::Consumer(i) if running => {
                        self.history.record_fault(kind, Some(&name));
                        self.consumers[i].close();
                        Active::Closed(node)
                    }
                    _ => Active::Nothing,
                }
            }
            None => Active::Nothing,
        }
    }

    /// Freezes a node: it neither runs nor answers until resumed.
    fn pause(&mut self, kind: FaultKind, target: &Target) -> Active {
        match self.resolve(target) {
            Some(node) => {
                let name = self.node_name(&node);
                if self.world.node_names().contains(&name) {
                    self.history.record_fault(kind, Some(&name));
                    self.world.pause(&name);
                    Active::Paused(name)
                } else {
                    Active::Nothing
                }
            }
            None => Active::Nothing,
        }
    }

    /// Cuts a node off from every other node.
    fn isolate(&mut self, kind: FaultKind, target: &Target) -> Active {
        match self.resolve(target) {
            Some(node) => {
                let name = self.node_name(&node);
                if self.world.node_names().contains(&name) {
                    let groups = self.world.isolation_groups(&name);
                    self.history.record_fault(kind, Some(&name));
                    self.world.partition(&groups);
                    Active::Partitioned(groups)
                } else {
                    Active::Nothing
                }
            }
            None => Active::Nothing,
        }
    }

    /// Cuts a server off from the other brokers and the controller (clients still reach it).
    fn isolate_from_cluster(&mut self, kind: FaultKind, target: &Target) -> Active {
        match self.resolve(target) {
            Some(Node::Server(name)) => {
                let cluster: Vec<String> = self
                    .cluster
                    .brokers
                    .values()
                    .map(|handle| handle.name.clone())
                    .chain([self.cluster.controller_name.clone()])
                    .filter(|other| *other != name)
                    .collect();
                let groups = vec![vec![name.clone()], cluster];
                self.history.record_fault(kind, Some(&name));
                self.world.partition(&groups);
                Active::Partitioned(groups)
            }
            _ => Active::Nothing,
        }
    }

    /// Splits the network in two: the nodes of `side` (those that exist) and the rest.
    fn partition(&mut self, kind: FaultKind, side: &[Target]) -> Active {
        let side: Vec<String> = side
            .iter()
            .filter_map(|target| self.resolve(target))
            .map(|node| self.node_name(&node))
            .filter(|name| self.world.node_names().contains(name))
            .collect();
        if side.is_empty() {
            Active::Nothing
        } else {
            let others: Vec<String> = self
                .world
                .node_names()
                .into_iter()
                .filter(|name| !side.contains(name))
                .collect();
            let groups = vec![side.clone(), others];
            self.history.record_fault(kind, Some(&side.join(",")));
            self.world.partition(&groups);
            Active::Partitioned(groups)
        }
    }

    /// Drops every message from one node to another (one direction only).
    fn clog(&mut self, kind: FaultKind, from: &Target, to: &Target) -> Active {
        match (self.resolve(from), self.resolve(to)) {
            (Some(from), Some(to)) => {
                let (from, to) = (self.node_name(&from), self.node_name(&to));
                let names = self.world.node_names();
                if names.contains(&from) && names.contains(&to) && from != to {
                    self.history
                        .record_fault(kind, Some(&format!("{from}->{to}")));
                    self.world.clog_link(&from, &to);
                    Active::Clogged(from, to)
                } else {
                    Active::Nothing
                }
            }
            _ => Active::Nothing,
        }
    }

    /// Loses a share of every message on the network.
    fn packet_loss(&mut self, kind: FaultKind, rate: f64) -> Active {
        self.history.record_fault(kind, Some(&format!("{rate}")));
        self.world.set_packet_loss(rate);
        Active::PacketLoss
    }

    /// Delays every message on the network.
    fn latency(&mut self, kind: FaultKind, min_ms: u64, max_ms: u64) -> Active {
        self.history
            .record_fault(kind, Some(&format!("{min_ms}..{max_ms}ms")));
        self.world
            .set_latency(Duration::from_millis(min_ms)..Duration::from_millis(max_ms));
        Active::Latency
    }

    /// Makes a node's disk fail reads and writes at the given rates and slows it down.
    fn disk(
        &mut self,
        kind: FaultKind,
        target: &Target,
        read_error_rate: f64,
        write_error_rate: f64,
        latency_ms: u64,
    ) -> Active {
        match self.resolve(target) {
            Some(node) => {
                let name = self.node_name(&node);
                self.history.record_fault(kind, Some(&name));
                let disk = self.world.disk(&name);
                disk.update_faults(|faults| {
                    *faults = DiskFaults {
                        read_error_rate,
                        write_error_rate,
                        latency: Duration::from_millis(latency_ms / 2)
                            ..Duration::from_millis(latency_ms + 1),
                        torn_writes: faults.torn_writes,
                        ..DiskFaults::default()
                    }
                });
                Active::Disk(name)
            }
            None => Active::Nothing,
        }
    }

    /// Makes a broker apply retention to a partition now, up to `offset` (instant: no repair).
    fn retention(
        &mut self,
        kind: FaultKind,
        target: &Target,
        topic: &str,
        partition: u32,
        offset: u64,
        min_age_ms: u64,
    ) -> Active {
        match self.resolve(target).and_then(|node| self.broker_id(&node)) {
            Some(id) => {
                let name = Cluster::broker_name(id);
                self.history.record_fault(kind, Some(&name));
                self.cluster.brokers[&id].inject(AdminCommand::ForceRetention {
                    partition: TopicPartition::new(topic, partition),
                    offset,
                    min_age_ms,
                });
                Active::Nothing
            }
            None => Active::Nothing,
        }
    }

    /// Takes a running follower down, owing it a cut of its log of a partition above the
    /// committed offset, made when it restarts if it cannot be elected by then
    /// ([`Runner::make_pending_cuts`]); repaired like a crash.
    fn truncate_follower(
        &mut self,
        index: usize,
        kind: FaultKind,
        target: &Target,
        topic: &str,
        partition: u32,
    ) -> Active {
        match self.resolve(target).and_then(|node| self.broker_id(&node)) {
            Some(id) => {
                // The follower goes down now, and comes back (a new incarnation) without its
                // tail above the committed offset — if by then it cannot be elected with less.
                let name = Cluster::broker_name(id);
                let tp = TopicPartition::new(topic, partition);
                let high_watermark = self.cluster.brokers[&id]
                    .status()
                    .replicas
                    .iter()
                    .find(|replica| replica.partition == tp && !replica.leader)
                    .map(|replica| replica.high_watermark);
                // Above the highest high watermark any leader announced, not just above its own
                // (which may lag it: swarm 143, 552, 506 cut acknowledged records that way).
                let committed = self
                    .committed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&tp)
                    .copied()
                    .unwrap_or(0);
                match high_watermark.map(|own| own.max(committed)) {
                    Some(offset) if self.world.node_state(&name) == NodeState::Running => {
                        self.note_down(&name);
                        self.history.record_fault(kind, Some(&name));
                        self.world.kill(&name);
                        // Even that tail may hold records it reported to a leader (its fetch
                        // offset), which may count them as committed at any time — swarm 2810:
                        // the fetch waited in a paused leader's inbox, and the follower it was
                        // cut from was the ISR's last member. So the cut waits for the restart,
                        // and is made only if the controller has fenced it and taken it out of
                        // the ISR meanwhile (see `ControllerView`).
                        let down_at = self
                            .controller_view
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .now();
                        self.pending_cuts
                            .entry(name.clone())
                            .or_default()
                            .push(PendingCut {
                                index,
                                broker: id,
                                partition: tp,
                                offset,
                                down_at,
                            });
                        Active::Crashed(Node::Server(name))
                    }
                    _ => Active::Nothing,
                }
            }
            None => Active::Nothing,
        }
    }

    /// Makes the cuts truncate-follower faults owe broker `name`, about to restart: each one
    /// only if the controller fenced the broker after it went down and its last ISR of the
    /// partition leaves it out. Then the broker cannot be elected, nor rejoin the ISR before it
    /// caught up again as a new incarnation (KIP-903), so losing records it had reported to a
    /// leader loses nothing committed. Otherwise it keeps its log: still electable (the ISR's
    /// last member, KIP-966's "last replica standing"), it would lead with less than was
    /// acknowledged, as in Kafka.
    pub(super) fn make_pending_cuts(&mut self, name: &str) {
        let Some(cuts) = self.pending_cuts.remove(name) else {
            return;
        };
        for cut in cuts {
            let allowed = self
                .controller_view
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .cannot_rejoin(cut.broker, &cut.partition, cut.down_at);
            let PendingCut {
                index,
                partition,
                offset,
                ..
            } = cut;
            if !allowed {
                self.log_fault(format!(
                    "fault {index}: {name} keeps its log of {partition} (the controller has not \
                     fenced it and taken it out of the ISR)"
                ));
                continue;
            }
            if let Err(error) =
                broker::inspect::truncate_partition(&self.world.disk(name), &partition, offset)
            {
                tracing::warn!(%error, broker = name, "truncating a follower's log failed");
            }
            self.log_fault(format!(
                "fault {index}: {name} lost its log of {partition} above offset {offset} (fenced \
                 and out of the ISR)"
            ));
        }
    }

    /// Makes every broker forget the producer ids of a partition idle this long (instant).
    fn expire_pids(
        &mut self,
        kind: FaultKind,
        topic: &str,
        partition: u32,
        idle_ms: u64,
    ) -> Active {
        self.history
            .record_fault(kind, Some(&format!("{topic}-{partition}")));
        for handle in self.cluster.brokers.values() {
            handle.inject(AdminCommand::ExpireProducers {
                partition: TopicPartition::new(topic, partition),
                idle_ms,
            });
        }
        Active::Nothing
    }

    /// Grows a topic to `count` partitions through the controller, without waiting (instant).
    fn add_partitions(&mut self, kind: FaultKind, topic: &str, count: u32) -> Active {
        self.history
            .record_fault(kind, Some(&format!("{topic}->{count}")));
        let admin = self.admin.clone();
        let controller = self.cluster.controller_addr;
        let request = Request::CreatePartitions(CreatePartitionsRequest {
            topic: topic.to_string(),
            count,
        });
        // The admin call may take a while under faults; it must not hold up the schedule.
        self.world.spawn_on(ADMIN_NODE, async move {
            let _ = admin
                .call_with_retries(controller, request, ADMIN_CALL_TIMEOUT, ADMIN_ATTEMPTS_MAX)
                .await;
        });
        Active::Nothing
    }

    /// Repairs fault `index` (before the heal).
    pub(super) fn repair(&mut self, index: usize) {
        let Some(active) = self.active.remove(&index) else {
            return;
        };
        match active {
            Active::Crashed(node) => {
                let name = self.node_name(&node);
                self.history.record_fault(FaultKind::Restart, Some(&name));
                self.restart(&node);
            }
            Active::Closed(node) => {
                let name = self.node_name(&node);
                self.history.record_fault(FaultKind::Restart, Some(&name));
                self.restart_closed(&node);
            }
            Active::Paused(name) => {
                self.history.record_fault(FaultKind::Resume, Some(&name));
                self.world.resume(&name);
            }
            Active::Partitioned(groups) => {
                self.history.record_fault(FaultKind::Unpartition, None);
                self.world.unpartition(&groups);
            }
            Active::Clogged(from, to) => {
                self.history
                    .record_fault(FaultKind::Unclog, Some(&format!("{from}->{to}")));
                self.world.unclog_link(&from, &to);
            }
            Active::PacketLoss => {
                self.history
                    .record_fault(FaultKind::Loss, FaultKind::Loss.setting_reset_target());
                self.world.set_packet_loss(0.0);
            }
            Active::Latency => {
                self.history.record_fault(
                    FaultKind::Latency,
                    FaultKind::Latency.setting_reset_target(),
                );
                self.world
                    .set_latency(Duration::from_millis(1)..Duration::from_millis(10));
            }
            Active::Disk(name) => {
                self.history
                    .record_fault(FaultKind::DiskRepaired, Some(&name));
                self.world.disk(&name).heal();
            }
            Active::Nothing => return,
        }
        self.log_fault(format!("repair of fault {index}"));
    }

    /// Starts a new incarnation of a client that was asked to close. If it has not finished
    /// closing, this is a crash, and recorded as one.
    fn restart_closed(&self, node: &Node) {
        // The nodes know whether they closed cleanly (then nothing more is recorded) or were
        // still closing (then this is a crash, and recorded as one).
        match node {
            Node::Producer(i) => self.producers[i].restart(),
            Node::Consumer(i) => self.consumers[i].restart(),
            Node::Server(_) => {}
        }
    }

    fn restart(&mut self, node: &Node) {
        match node {
            Node::Server(name) => {
                if self.world.node_state(name) == NodeState::Killed {
                    self.note_back(name);
                    self.make_pending_cuts(name);
                    self.world.restart(name);
                }
            }
            Node::Producer(i) => {
                if let Some(producer) = self.producers.get(i) {
                    if self.world.node_state(&producer.name) == NodeState::Killed {
                        producer.restart();
                    }
                }
            }
            Node::Consumer(i) => {
                if let Some(consumer) = self.consumers.get(i) {
                    if self.world.node_state(&consumer.name) == NodeState::Killed {
                        consumer.restart();
                    }
                }
            }
        }
    }
}

/// What the fault log says of a fault as it fired: what it did, or why it was skipped.
fn fired(fault: &Fault, kind: FaultKind, active: &Active) -> String {
    match active {
        Active::Nothing
            if !matches!(
                fault,
                Fault::Retention { .. } | Fault::ExpirePids { .. } | Fault::AddPartitions { .. }
            ) =>
        {
            let targets: Vec<String> = fault.targets().iter().map(|t| t.to_string()).collect();
            match targets.as_slice() {
                [target] => format!("{kind}: skipped ({target} not available)"),
                _ => format!(
                    "{kind}: skipped (one of {} not available)",
                    targets.join(", ")
                ),
            }
        }
        _ => format!("{kind}: {}", describe(fault)),
    }
}

fn describe(fault: &Fault) -> String {
    match fault {
        Fault::Crash { target, tail } => match tail {
            Tail::Torn => format!("crash {target}"),
            _ => format!("crash {target}, leaving {} where its unsynced bytes were", tail.as_str()),
        },
        Fault::WipeDisk { target } => format!("wipe the disk of {target} (down until restarted)"),
        Fault::IsolateFromController { target } => {
            format!("cut {target} off from the controller alone")
        }
        Fault::Close { target } => format!("close {target}"),
        Fault::Pause { target } => format!("pause {target}"),
        Fault::Isolate { target } => format!("isolate {target}"),
        Fault::IsolateFromCluster { target } => {
            format!("cut {target} off from the other brokers and the controller")
        }
        Fault::Clog { from, to } => format!("clog {from} -> {to}"),
        Fault::Partition { side } => format!("partition {} from the rest", targets_to_string(side)),
        Fault::PacketLoss { rate } => format!("lose {rate} of messages"),
        Fault::Latency { min_ms, max_ms } => format!("latency {min_ms}..{max_ms} ms"),
        Fault::Disk {
            target,
            read_error_rate,
            write_error_rate,
            latency_ms,
        } => format!(
            "disk of {target}: read errors {read_error_rate}, write errors {write_error_rate}, latency {latency_ms} ms"
        ),
        Fault::Retention {
            target,
            topic,
            partition,
            offset,
            min_age_ms,
        } => format!(
            "retention on {target} of {topic}-{partition} up to {offset} (records older than {min_age_ms} ms)"
        ),
        Fault::TruncateFollower {
            target,
            topic,
            partition,
        } => format!("truncate follower {target} of {topic}-{partition}"),
        Fault::ExpirePids {
            topic,
            partition,
            idle_ms,
        } => format!("expire producer ids of {topic}-{partition} idle for {idle_ms} ms"),
        Fault::AddPartitions { topic, count } => format!("grow {topic} to {count} partitions"),
    }
}
