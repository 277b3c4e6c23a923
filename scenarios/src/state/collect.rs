//! The runtime's side of the state checker: reading the running cluster into the model, and when.
//!
//! Reading never disturbs the run: a broker's status is a copy its shell published; a disk is read
//! through [`sim::disk::Disk::snapshot`], an independent copy without injected faults, which
//! opening a log on may change (recovery) without touching the real disk, or, for a log whose
//! files only grew, through [`sim::disk::Disk::marks`] and [`sim::disk::Disk::contents_from`],
//! which draw no fault and count nothing; nothing here sends a
//! message, draws from a random stream the run uses, or records into the history. Only the
//! bounded wait for convergence ([`converge`]) lets simulated time pass, and only
//! when the replicas have not converged by the end of the liveness phase.

use super::check::*;
use super::model::*;
use super::{StateAnomaly, StateAnomalyKind};
use crate::spec::{Fault, Scenario, Target};
use broker::api::TopicPartition;
use broker::node::{Cluster, ClusterEvent};
use oracle::Event;
use sim::{NodeState, World};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

/// How long, after the liveness phase, the replicas get to converge (catch up, refill the ISR)
/// before the checker says they did not: several replica lag limits and session timeouts.
pub const CONVERGENCE_WAIT: Duration = Duration::from_secs(20);

/// Samples the cluster during the run and judges it at the end. The runtime shares it with the
/// cluster's observer ([`StateChecker::observe`]): leaders' high watermarks and elections arrive
/// as they happen.
pub struct StateChecker {
    world: World,
    cluster: Option<Cluster>,
    ledger: Ledger,
    /// Per partition, the highest high watermark exposed so far (a leader's report, a leader's
    /// status at a sample, a consumer's read).
    witnesses: BTreeMap<TopicPartition, HighWatermarkWitness>,
    anomalies: Vec<StateAnomaly>,
    reported: BTreeSet<(StateAnomalyKind, String)>,
    expected: Option<Expectation>,
    /// Replicas' logs read so far, kept for the next reads (each sample reads every replica's
    /// log; one whose files only grew since is read from its new bytes).
    logs: LogReads,
    /// Pairs of replicas known to agree below an offset, for the next samples.
    agreements: Agreements,
    /// How far each leader's records went to the ledger, for the next samples.
    exposed: Exposed,
}

impl StateChecker {
    pub fn new(world: World) -> StateChecker {
        StateChecker {
            world,
            cluster: None,
            ledger: Ledger::default(),
            witnesses: BTreeMap::new(),
            anomalies: Vec::new(),
            reported: BTreeSet::new(),
            expected: None,
            logs: LogReads::default(),
            agreements: Agreements::default(),
            exposed: Exposed::default(),
        }
    }

    /// The cluster to read (it exists only after the observer was handed to it).
    pub fn watch(&mut self, cluster: &Cluster) {
        self.cluster = Some(cluster.clone());
    }

    /// Takes a cluster event as it happens. A leader's high watermark raises the partition's
    /// witness. An election reads the new leader's log (a snapshot of its disk): it must reach
    /// every high watermark exposed so far and hold every record exposed as committed.
    pub fn observe(&mut self, event: &ClusterEvent) {
        match event {
            ClusterEvent::Broker(broker::core::Observation::HighWatermark {
                partition,
                broker,
                offset,
            }) => raise_witness(
                &mut self.witnesses,
                partition,
                HighWatermarkWitness {
                    offset: *offset,
                    witness: Witness::Reported {
                        broker: *broker,
                        at_ns: sim::time::now_ns(),
                    },
                    line: None,
                },
            ),
            ClusterEvent::Controller(broker::controller::ControllerEvent::LeaderElected {
                partition,
                leader: Some(leader),
                leader_epoch,
                unclean,
            }) => self.elected(partition, *leader, *leader_epoch, *unclean),
            _ => {}
        }
    }

    fn elected(
        &mut self,
        partition: &TopicPartition,
        leader: u32,
        leader_epoch: u32,
        unclean: bool,
    ) {
        let name = Cluster::broker_name(leader);
        // A broker that is down cannot serve what it lacks; it is checked when it leads.
        if self.world.node_state(&name) == NodeState::Killed {
            return;
        }
        let log = match self.logs.read(&name, self.world.disk(&name), partition) {
            Ok(log) => log,
            Err(error) => {
                tracing::warn!(%partition, broker = leader, %error,
                    "state checker: the new leader's log does not open on a snapshot");
                return;
            }
        };
        let when = format!(
            "when the controller elected it{} at {}",
            if unclean { " (unclean)" } else { "" },
            seconds(sim::time::now_ns())
        );
        if let Some(witness) = self.witnesses.get(partition) {
            let what = format!(
                "broker {leader} had log end {} {when}, as leader epoch {leader_epoch} began",
                log.log_end_offset
            );
            if let Some(anomaly) =
                high_watermark_kept(partition, witness, log.log_end_offset, &what)
            {
                self.report(anomaly);
            }
        }
        let replica = ReplicaState {
            broker: leader,
            leader: true,
            leader_epoch,
            log_start_offset: log.log_start_offset,
            high_watermark: 0,
            log_end_offset: log.log_end_offset,
            isr: Vec::new(),
            log: Some(log),
        };
        let what = format!("broker {leader}, elected leader (leader epoch {leader_epoch}),");
        if let Some(anomaly) = compare_with_ledger(&self.ledger, partition, &replica, &what, &when)
        {
            self.report(anomaly);
        }
    }

    /// Reads the running brokers (status and disk) and checks what can be checked at any moment:
    /// replicas agree below their high watermarks; what leaders expose as committed does not
    /// change.
    pub fn sample(&mut self, moment: &str) {
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        let state = read_cluster_with(&self.world, &cluster, moment, true, &mut self.logs);
        self.absorb(&state);
    }

    fn absorb(&mut self, state: &ClusterState) {
        for anomaly in check_agreement_with(state, &mut self.agreements) {
            self.report(anomaly);
        }
        for (partition, replicas) in &state.partitions {
            for leader in replicas.iter().filter(|replica| replica.leader) {
                raise_witness(
                    &mut self.witnesses,
                    partition,
                    HighWatermarkWitness {
                        offset: leader.high_watermark,
                        witness: Witness::Text(format!(
                            "leader broker {} (leader epoch {}) had it {}",
                            leader.broker,
                            leader.leader_epoch,
                            state.when()
                        )),
                        line: None,
                    },
                );
            }
        }
        for anomaly in expose_leaders(&mut self.ledger, &mut self.exposed, state) {
            self.report(anomaly);
        }
    }

    /// Reports each (kind, subject) once.
    fn report(&mut self, anomaly: StateAnomaly) {
        if self
            .reported
            .insert((anomaly.kind, anomaly.subject.clone()))
        {
            self.anomalies.push(anomaly);
        }
    }

    /// The verdict, at the end of the run (after [`converge`]): the final state is read and every
    /// check runs, with the history's reads and commits.
    pub fn finish(&mut self, scenario: &Scenario, events: &[Event<'_>]) -> Vec<StateAnomaly> {
        let Some(cluster) = self.cluster.clone() else {
            return Vec::new();
        };
        let state = read_cluster_with(&self.world, &cluster, "at the end", true, &mut self.logs);
        self.absorb(&state);
        let expected = self
            .expected
            .take()
            .unwrap_or_else(|| read_expectation(&self.world, &cluster));
        for anomaly in check_convergence(&state, &expected) {
            self.report(anomaly);
        }
        let (reads, read_witnesses) = exposures_read(events);
        for (partition, exposure) in reads {
            if let Some(anomaly) = self.ledger.expose(&partition, exposure) {
                self.report(anomaly);
            }
        }
        for (partition, witness) in read_witnesses {
            raise_witness(&mut self.witnesses, &partition, witness);
        }
        for anomaly in check_high_watermarks(&self.witnesses, &state) {
            self.report(anomaly);
        }
        for anomaly in check_exposed_records(&self.ledger, &state) {
            self.report(anomaly);
        }
        let groups: BTreeMap<String, String> = scenario
            .consumers
            .iter()
            .enumerate()
            .map(|(index, consumer)| (crate::runtime::consumer_name(index), consumer.group.clone()))
            .collect();
        if let Some(committed) = read_committed_offsets(&self.world, &cluster) {
            let attempts = commit_attempts(events, &groups);
            for anomaly in check_committed_offsets(&attempts, &committed) {
                self.report(anomaly);
            }
        }
        std::mem::take(&mut self.anomalies)
    }
}

/// After the liveness phase: reads what the healed cluster should look like, and gives the
/// replicas up to [`CONVERGENCE_WAIT`] to get there (returns at once when they are there). Holds
/// the checker's lock only between polls.
pub async fn converge(checker: &Mutex<StateChecker>) {
    let (world, cluster) = {
        let checker = checker.lock().unwrap_or_else(|p| p.into_inner());
        match &checker.cluster {
            Some(cluster) => (checker.world.clone(), cluster.clone()),
            None => return,
        }
    };
    let expected = read_expectation(&world, &cluster);
    let converged = client::node::wait_for(CONVERGENCE_WAIT, || {
        check_convergence(&read_cluster(&world, &cluster, "", false), &expected).is_empty()
    })
    .await;
    if !converged {
        tracing::info!("state checker: replicas did not converge within {CONVERGENCE_WAIT:?}");
    }
    checker.lock().unwrap_or_else(|p| p.into_inner()).expected = Some(expected);
}

/// Does `fault` disturb the cluster (a broker, the controller, the network, a disk, a log)? The
/// runtime samples the cluster before those only: a fault aimed at clients alone changes nothing a
/// sample would see, and each sample reads every replica's log (the checker's main cost). Fault
/// kinds not named here count as disturbing.
pub fn disturbs_cluster(fault: &Fault) -> bool {
    let client = |target: &Target| matches!(target, Target::Producer(_) | Target::Consumer(_));
    match fault {
        Fault::Crash { target, .. }
        | Fault::Close { target }
        | Fault::Pause { target }
        | Fault::Isolate { target } => !client(target),
        Fault::Clog { from, to } => !(client(from) || client(to)),
        _ => true,
    }
}

/// Every replica of every broker that is not down: its status, and (`with_records`) its records
/// from a snapshot of its disk.
pub fn read_cluster(
    world: &World,
    cluster: &Cluster,
    moment: &str,
    with_records: bool,
) -> ClusterState {
    read_cluster_with(
        world,
        cluster,
        moment,
        with_records,
        &mut LogReads::default(),
    )
}

/// [`read_cluster`], reusing (and adding to) what `cache` kept from earlier reads.
pub fn read_cluster_with(
    world: &World,
    cluster: &Cluster,
    moment: &str,
    with_records: bool,
    logs: &mut LogReads,
) -> ClusterState {
    let mut state = ClusterState {
        time_ns: sim::time::now_ns(),
        moment: moment.to_string(),
        partitions: BTreeMap::new(),
    };
    for handle in cluster.brokers.values() {
        // A killed broker's status is the one it published before it died.
        if world.node_state(&handle.name) == NodeState::Killed {
            continue;
        }
        let status = handle.status();
        for replica in status.replicas {
            let log = if with_records {
                logs.read(&handle.name, world.disk(&handle.name), &replica.partition)
                    .map_err(|error| {
                        tracing::warn!(
                            broker = handle.id,
                            partition = %replica.partition,
                            %error,
                            "state checker: the replica's log does not open on a snapshot; skipped"
                        );
                    })
                    .ok()
            } else {
                None
            };
            state
                .partitions
                .entry(replica.partition.clone())
                .or_default()
                .push(ReplicaState {
                    broker: handle.id,
                    leader: replica.leader,
                    leader_epoch: replica.leader_epoch,
                    log_start_offset: replica.log_start_offset,
                    high_watermark: replica.high_watermark,
                    log_end_offset: replica.log_end_offset,
                    isr: replica.isr,
                    log,
                });
        }
    }
    state
}

/// Replicas' logs as read from their brokers' disks, and what those reads keep for the next ones.
///
/// Each replica's log is followed ([`broker::inspect::FollowedLog`]): while its files only grow,
/// a read costs the bytes added since the last one; otherwise the log is opened from a snapshot
/// of the partition's directory, with [`broker::inspect::InspectCache`]'s scans and decoded
/// batches. Either way the answer is what opening a fresh snapshot gives.
#[derive(Debug, Default)]
pub struct LogReads {
    inspect: broker::inspect::InspectCache,
    followed: BTreeMap<(String, TopicPartition), broker::inspect::FollowedLog<sim::disk::Disk>>,
}

impl LogReads {
    /// `partition`'s log on `disk` (`node`'s), as a snapshot of the disk opens it now.
    pub fn read(
        &mut self,
        node: &str,
        disk: sim::disk::Disk,
        partition: &TopicPartition,
    ) -> Result<broker::inspect::ReplicaLog, broker::log::LogError> {
        self.followed
            .entry((node.to_string(), partition.clone()))
            .or_default()
            .read(&disk, partition, &mut self.inspect)
    }

    /// Reads answered from the bytes added since the last read, and reads that opened a
    /// snapshot (for the tests).
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.followed.values().fold((0, 0), |(grown, opened), log| {
            (grown + log.grown, opened + log.opened)
        })
    }
}

/// The controller's assignment (from a snapshot of its disk) and the running brokers. When the
/// controller's metadata cannot be read, the brokers that hold a replica stand for the assignment.
pub fn read_expectation(world: &World, cluster: &Cluster) -> Expectation {
    let running = cluster
        .brokers
        .values()
        .filter(|handle| world.node_state(&handle.name) == NodeState::Running)
        .map(|handle| handle.id)
        .collect();
    let snapshot = world.disk(&cluster.controller_name).snapshot();
    let assignments = match broker::inspect::controller_metadata(snapshot) {
        Ok(metadata) => metadata
            .topics
            .iter()
            .flat_map(|topic| {
                topic.partitions.iter().map(|partition| {
                    (
                        TopicPartition::new(&topic.name, partition.partition),
                        partition.replicas.clone(),
                    )
                })
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "state checker: the controller's metadata does not open");
            let mut assignments: BTreeMap<TopicPartition, Vec<u32>> = BTreeMap::new();
            for (partition, replicas) in read_cluster(world, cluster, "", false).partitions {
                assignments.insert(partition, replicas.iter().map(|r| r.broker).collect());
            }
            assignments
        }
    };
    Expectation {
        assignments,
        running,
    }
}

/// The committed offsets a crash of the controller would leave: a snapshot of its disk, crashed
/// (unsynced tails lost or torn, from the snapshot's own copy of the disk's random stream), then
/// recovered as the coordinator recovers them. None (logged) when they do not open.
pub fn read_committed_offsets(world: &World, cluster: &Cluster) -> Option<CommittedOffsets> {
    let snapshot = world.disk(&cluster.controller_name).snapshot();
    snapshot.crash();
    match broker::inspect::committed_offsets(snapshot) {
        Ok(offsets) => Some(
            offsets
                .into_iter()
                .map(|(key, offset)| ((key.group, key.topic, key.partition), offset))
                .collect(),
        ),
        Err(error) => {
            tracing::warn!(%error, "state checker: the committed offsets do not open");
            None
        }
    }
}
