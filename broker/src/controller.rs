//! The controller: cluster metadata, broker liveness, leader election, partition growth, and the
//! coordinator duties (producer ids here; consumer groups and committed offsets in
//! `crate::coordinator`, to which it hands JoinGroup, SyncGroup, HeartbeatGroup, LeaveGroup,
//! `OffsetCommit` and `OffsetFetch`, and its ticks).
//!
//! A sans-IO state machine, driven as a [`Node`]: the shell feeds it requests and ticks (every
//! [`CONTROLLER_TICK`]); it answers each request at once, sent after the latency of its disk,
//! except JoinGroup and SyncGroup, which the group coordinator may park until the group's
//! rebalance moves on (answered at a later request or tick).
//!
//! Guarantees:
//! - Metadata (topics, replica assignment, leader, leader epoch, ISR, partition epoch) is durable
//!   on the controller's storage before any change is visible; a restarted controller recovers
//!   it, and the metadata `version` never goes backwards across restarts.
//! - Leader election picks only from the ISR (under the default [`ElectionPolicy::IsrOnly`]): a
//!   broker outside the ISR may miss acknowledged records.
//! - A broker whose heartbeats stop for `session_timeout_ms` is fenced: it leaves every ISR it is
//!   in (unless it is the last member), and the partitions it led get a new leader from the ISR
//!   with a new leader epoch; with no ISR member left alive the partition is offline (no leader).
//! - A broker that comes back as a new incarnation (a restart) is treated the same way first (it
//!   may have lost unsynced data), then unfenced; it rejoins ISRs by catching up.
//! - ISR changes come from the partition's leader (`AlterPartition`, KIP-497) and are accepted
//!   only for the current leader epoch and partition epoch.
//!
//! Not modelled: a controller quorum (there is one controller; while it is down nothing is
//! elected), rack-aware assignment, reassignment, topic deletion.

use crate::api::*;
use crate::coordinator::{CoordinatorError, GroupConfig, GroupCoordinator, GroupState, ReplyTo};
use crate::journal::Journal;
use crate::policy::{ElectionPolicy, IsrEligibilityPolicy};
use crate::producer_ids::{ProducerIdError, ProducerIdManager};
use crate::storage::{Storage, StorageError};
use protocol::node::{millis, Node, Output, Step};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// How often the controller ticks (a fixed cadence: its timers are coarse).
pub const CONTROLLER_TICK: Duration = Duration::from_millis(50);

/// Why the controller could not open its state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
    #[error("metadata journal: {0}")]
    Storage(#[from] StorageError),
    #[error("metadata record does not decode: {reason}")]
    CorruptMetadata { reason: String },
    #[error("producer ids: {0}")]
    ProducerIds(#[from] ProducerIdError),
    #[error("group coordinator: {0}")]
    Coordinator(#[from] CoordinatorError),
}

/// Journal file name prefix of the metadata.
const METADATA_JOURNAL: &str = "controller/metadata-";
/// Rewrite the metadata journal when it grows past this.
const METADATA_JOURNAL_BYTES_MAX: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// A broker silent for this long is fenced.
    pub session_timeout_ms: u64,
    /// Whom a partition that needs a leader may get.
    pub election_policy: ElectionPolicy,
    /// Which proposed ISR members may join.
    pub isr_eligibility_policy: IsrEligibilityPolicy,
    /// The group coordinator's settings.
    pub groups: GroupConfig,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            session_timeout_ms: 1_000,
            election_policy: ElectionPolicy::default(),
            isr_eligibility_policy: IsrEligibilityPolicy::default(),
            groups: GroupConfig::default(),
        }
    }
}

/// What the controller reports for the history and for coverage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControllerEvent {
    /// A partition got a new leader (or none).
    LeaderElected {
        partition: TopicPartition,
        leader: Option<BrokerId>,
        leader_epoch: u32,
        /// Whether the leader came from outside the ISR.
        unclean: bool,
    },
    /// A topic's partition count changed (created or grown).
    PartitionsChanged {
        topic: String,
        count: u32,
    },
    BrokerFenced {
        broker: BrokerId,
    },
    BrokerUnfenced {
        broker: BrokerId,
    },
    IsrChanged {
        partition: TopicPartition,
        isr: Vec<BrokerId>,
    },
    /// An ISR proposal named a member's previous incarnation and was refused (KIP-903).
    StaleIsrMemberRefused {
        partition: TopicPartition,
        member: BrokerId,
    },
    /// The group coordinator deleted a group's committed offsets of these partitions by
    /// retention (durably; the history's `offsets_expired`, from
    /// `GroupCoordinator::take_expired`).
    OffsetsExpired {
        group: String,
        partitions: Vec<TopicPartition>,
        /// The group's state when they expired (`None`: a group with only simple commits);
        /// for coverage, not part of the history event.
        group_state: Option<GroupState>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PartitionState {
    replicas: Vec<BrokerId>,
    leader: Option<BrokerId>,
    leader_epoch: u32,
    partition_epoch: u32,
    isr: Vec<BrokerId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
struct DurableMetadata {
    version: u64,
    topics: BTreeMap<String, Vec<PartitionState>>,
    /// Last known address of every broker that ever registered.
    broker_addrs: BTreeMap<BrokerId, SocketAddr>,
    /// The incarnation each broker last registered with. Durable, as Kafka keeps broker
    /// registrations in its metadata log: a broker that restarts while the controller is down
    /// must still be seen as a new incarnation (it may have lost data) when both are back, or it
    /// keeps its ISR places and can be elected with a log that misses acknowledged records
    /// (swarm seed 4563: a follower cut while down, restarted during a controller outage, was
    /// elected and acknowledged records lost).
    #[serde(default)]
    broker_incarnations: BTreeMap<BrokerId, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct BrokerLiveness {
    incarnation: u64,
    last_heartbeat_ms: u64,
    fenced: bool,
}

/// The controller's state machine.
pub struct ControllerCore<S: Storage> {
    config: ControllerConfig,
    journal: Journal<S>,
    metadata: DurableMetadata,
    liveness: BTreeMap<BrokerId, BrokerLiveness>,
    producer_ids: ProducerIdManager<S>,
    /// Consumer groups and committed offsets.
    coordinator: GroupCoordinator<S>,
    /// Parked group requests: the coordinator's reply token -> (sender, correlation id).
    parked: BTreeMap<ReplyTo, (SocketAddr, u64)>,
    next_reply_to: ReplyTo,
    events: Vec<ControllerEvent>,
    /// The controller's disk, for the latency of the write an answer waits for.
    storage: S,
    /// Answers to send (to, answer, after), before the events of the same step.
    outbox: Vec<(SocketAddr, Envelope, Duration)>,
    /// When the next tick is due (the controller ticks at a fixed cadence).
    next_tick: Duration,
}

impl<S: Storage + Clone> ControllerCore<S> {
    /// Opens (or recovers) the controller's state on `storage`. `now_ms` starts every known
    /// broker's session: a restarted controller gives each one a full timeout to heartbeat.
    pub fn open(
        storage: S,
        config: ControllerConfig,
        now_ms: u64,
    ) -> Result<Self, ControllerError> {
        let (journal, recovery) = Journal::open(storage.clone(), METADATA_JOURNAL)?;
        let latest = recovery
            .entries
            .last()
            .map(Vec::as_slice)
            .unwrap_or(recovery.snapshot.as_slice());
        let mut metadata: DurableMetadata = if latest.is_empty() {
            DurableMetadata::default()
        } else {
            serde_json::from_slice(latest).map_err(|error| ControllerError::CorruptMetadata {
                reason: error.to_string(),
            })?
        };
        // A restart is a change clients must be able to see as newer.
        metadata.version += 1;
        let liveness = metadata
            .broker_addrs
            .keys()
            .map(|&broker| {
                (
                    broker,
                    BrokerLiveness {
                        incarnation: metadata
                            .broker_incarnations
                            .get(&broker)
                            .copied()
                            .unwrap_or(0),
                        last_heartbeat_ms: now_ms,
                        fenced: false,
                    },
                )
            })
            .collect();
        let producer_ids = ProducerIdManager::open(storage.clone(), "controller/producer-ids-")?;
        // The metadata version grows across restarts: member ids never repeat.
        let coordinator = GroupCoordinator::open(
            storage.clone(),
            config.groups.clone(),
            metadata.version,
            now_ms,
        )?;
        let mut core = ControllerCore {
            config,
            journal,
            metadata,
            liveness,
            producer_ids,
            coordinator,
            parked: BTreeMap::new(),
            next_reply_to: 0,
            events: Vec::new(),
            storage,
            outbox: Vec::new(),
            next_tick: Duration::ZERO,
        };
        core.persist()?;
        Ok(core)
    }

    pub fn metadata_version(&self) -> u64 {
        self.metadata.version
    }

    /// Events since the last call (for the history and coverage).
    pub fn take_events(&mut self) -> Vec<ControllerEvent> {
        std::mem::take(&mut self.events)
    }

    fn persist(&mut self) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(&self.metadata).expect("metadata serializes");
        if self.journal.needs_rewrite() || self.journal.size_bytes() > METADATA_JOURNAL_BYTES_MAX {
            self.journal.rewrite(&bytes)
        } else {
            self.journal.append(&bytes)
        }
    }

    /// Applies a change to the metadata and makes it durable; on a storage error the change is
    /// rolled back and the error returned.
    fn change(
        &mut self,
        apply: impl FnOnce(&mut DurableMetadata, &BTreeMap<BrokerId, BrokerLiveness>),
    ) -> Result<(), StorageError> {
        let before = self.metadata.clone();
        apply(&mut self.metadata, &self.liveness);
        if self.metadata == before {
            return Ok(());
        }
        self.metadata.version = before.version + 1;
        self.check_invariants(&before);
        if let Err(error) = self.persist() {
            self.metadata = before;
            return Err(error);
        }
        Ok(())
    }

    /// Publishes a change that lives outside the durable metadata (broker liveness).
    fn bump_version(&mut self) {
        self.metadata.version += 1;
        // The version only has to grow; if this write fails, the next change persists it.
        let _ = self.persist();
    }

    fn check_invariants(&self, before: &DurableMetadata) {
        for (topic, partitions) in &self.metadata.topics {
            for (index, state) in partitions.iter().enumerate() {
                assert!(!state.isr.is_empty(), "{topic}-{index}: empty ISR");
                assert!(
                    state.isr.iter().all(|b| state.replicas.contains(b)),
                    "{topic}-{index}: ISR {:?} outside replicas {:?}",
                    state.isr,
                    state.replicas
                );
                if let Some(leader) = state.leader {
                    assert!(
                        state.replicas.contains(&leader),
                        "{topic}-{index}: leader {leader} not a replica"
                    );
                }
                if let Some(old) = before.topics.get(topic).and_then(|p| p.get(index)) {
                    assert!(
                        state.leader_epoch >= old.leader_epoch,
                        "{topic}-{index}: leader epoch went back from {} to {}",
                        old.leader_epoch,
                        state.leader_epoch
                    );
                    assert!(state.partition_epoch >= old.partition_epoch);
                }
            }
            if let Some(old) = before.topics.get(topic) {
                assert!(partitions.len() >= old.len(), "{topic}: partitions shrank");
            }
        }
    }

    fn is_alive(liveness: &BTreeMap<BrokerId, BrokerLiveness>, broker: BrokerId) -> bool {
        liveness.get(&broker).is_some_and(|state| !state.fenced)
    }

    // ---- liveness ---------------------------------------------------------------------------

    /// Fences brokers whose session expired.
    pub fn on_tick(&mut self, now_ms: u64) {
        let expired: Vec<BrokerId> = self
            .liveness
            .iter()
            .filter(|(_, state)| {
                !state.fenced && now_ms >= state.last_heartbeat_ms + self.config.session_timeout_ms
            })
            .map(|(&broker, _)| broker)
            .collect();
        for broker in expired {
            self.fence(broker);
        }
        // An offline partition whose ISR has a live member gets a leader now, not only when some
        // broker is unfenced: after a controller restart every known broker counts as alive at
        // once, with no unfence to wake an election (swarm seed 8703: a partition stayed
        // leaderless to the end while its last in-sync replica ran).
        let electable = self.metadata.topics.values().flatten().any(|state| {
            state.leader.is_none()
                && elect(state, &self.liveness, self.config.election_policy)
                    .0
                    .is_some()
        });
        if electable {
            self.elect_offline();
        }
        // Group timers (sessions, join phases) and offset retention at the controller's
        // cadence.
        self.coordinator.tick(now_ms);
        self.send_group_replies();
        for expired in self.coordinator.take_expired() {
            self.events.push(ControllerEvent::OffsetsExpired {
                group: expired.group,
                partitions: expired.partitions,
                group_state: expired.group_state,
            });
        }
    }

    /// The group coordinator (membership and committed offsets), for inspection.
    pub fn coordinator(&self) -> &GroupCoordinator<S> {
        &self.coordinator
    }

    /// Handles a group request that may be parked (JoinGroup, SyncGroup) from `from`; its
    /// answer, now or later, goes to the outbox. Other requests get `Some(answer)`.
    fn on_group_request(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        correlation_id: u64,
        request: Request,
    ) -> Option<Response> {
        let reply = self.next_reply_to;
        match request {
            Request::JoinGroup(request) => {
                self.next_reply_to += 1;
                self.parked.insert(reply, (from, correlation_id));
                self.coordinator.join_group(now_ms, reply, *request);
            }
            Request::SyncGroup(request) => {
                self.next_reply_to += 1;
                self.parked.insert(reply, (from, correlation_id));
                self.coordinator.sync_group(now_ms, reply, request);
            }
            other => {
                let response = self.on_request(now_ms, other);
                // A leave may end parked requests; they are sent before this answer.
                self.send_group_replies();
                return Some(response);
            }
        }
        self.send_group_replies();
        None
    }

    /// Sends the coordinator's answers to parked requests.
    fn send_group_replies(&mut self) {
        for (reply, response) in self.coordinator.take_replies() {
            if let Some((to, correlation_id)) = self.parked.remove(&reply) {
                let delay = self.storage.latency();
                self.outbox.push((
                    to,
                    Envelope::Response {
                        correlation_id,
                        response,
                    },
                    delay,
                ));
            }
        }
    }

    /// Takes `broker` out of service: out of ISRs, off leadership.
    fn fence(&mut self, broker: BrokerId) {
        if let Some(state) = self.liveness.get_mut(&broker) {
            state.fenced = true;
        }
        self.bump_version();
        let policy = self.config.election_policy;
        let mut elections = Vec::new();
        let mut isr_changes = Vec::new();
        let result = self.change(|metadata, liveness| {
            for (topic, partitions) in metadata.topics.iter_mut() {
                for (index, state) in partitions.iter_mut().enumerate() {
                    let mut changed = false;
                    if state.isr.contains(&broker) && state.isr.len() > 1 {
                        state.isr.retain(|&member| member != broker);
                        changed = true;
                        isr_changes
                            .push((TopicPartition::new(topic, index as u32), state.isr.clone()));
                    }
                    if state.leader == Some(broker) {
                        let (leader, unclean) = elect(state, liveness, policy);
                        state.leader = leader;
                        state.leader_epoch += 1;
                        if unclean {
                            if let Some(leader) = leader {
                                state.isr = vec![leader];
                            }
                        }
                        changed = true;
                        elections.push((
                            TopicPartition::new(topic, index as u32),
                            leader,
                            state.leader_epoch,
                            unclean,
                        ));
                    }
                    if changed {
                        state.partition_epoch += 1;
                    }
                }
            }
        });
        if result.is_err() {
            // The change could not be made durable: it did not happen. The next tick retries.
            if let Some(state) = self.liveness.get_mut(&broker) {
                state.fenced = false;
            }
            return;
        }
        // Reported once it happened (an observer that tracks fences must not see one that was
        // undone).
        self.events.push(ControllerEvent::BrokerFenced { broker });
        self.push_elections(elections);
        for (partition, isr) in isr_changes {
            self.events
                .push(ControllerEvent::IsrChanged { partition, isr });
        }
    }

    fn push_elections(&mut self, elections: Vec<(TopicPartition, Option<BrokerId>, u32, bool)>) {
        for (partition, leader, leader_epoch, unclean) in elections {
            self.events.push(ControllerEvent::LeaderElected {
                partition,
                leader,
                leader_epoch,
                unclean,
            });
        }
    }

    /// Elects leaders for offline partitions whose ISR now has a live member.
    fn elect_offline(&mut self) {
        let policy = self.config.election_policy;
        let mut elections = Vec::new();
        let _ = self.change(|metadata, liveness| {
            for (topic, partitions) in metadata.topics.iter_mut() {
                for (index, state) in partitions.iter_mut().enumerate() {
                    if state.leader.is_some() {
                        continue;
                    }
                    let (leader, unclean) = elect(state, liveness, policy);
                    if let Some(leader) = leader {
                        state.leader = Some(leader);
                        state.leader_epoch += 1;
                        state.partition_epoch += 1;
                        if unclean {
                            state.isr = vec![leader];
                        }
                        elections.push((
                            TopicPartition::new(topic, index as u32),
                            Some(leader),
                            state.leader_epoch,
                            unclean,
                        ));
                    }
                }
            }
        });
        self.push_elections(elections);
    }

    fn on_heartbeat(&mut self, now_ms: u64, request: HeartbeatRequest) -> HeartbeatResponse {
        let broker = request.broker;
        let known = self.liveness.get(&broker).cloned();
        match known {
            Some(state) if request.incarnation < state.incarnation => {
                // A message from an older incarnation, delayed in the network.
                return HeartbeatResponse {
                    metadata: None,
                    accepted: false,
                };
            }
            // The broker restarted: it may have lost unsynced data. Fence it first, so it leaves
            // ISRs and leadership, then let it back in below.
            Some(state)
                if request.incarnation > state.incarnation
                    && state.incarnation > 0
                    && !state.fenced =>
            {
                self.fence(broker);
            }
            _ => {}
        }
        let address_changed = self.metadata.broker_addrs.get(&broker) != Some(&request.addr);
        if address_changed
            && self
                .change(|metadata, _| {
                    metadata.broker_addrs.insert(broker, request.addr);
                })
                .is_err()
        {
            return HeartbeatResponse {
                metadata: None,
                accepted: false,
            };
        }
        if self.metadata.broker_incarnations.get(&broker) != Some(&request.incarnation) {
            // Durable before the new incarnation is accepted (no version bump: clients do not
            // see incarnations).
            let previous = self
                .metadata
                .broker_incarnations
                .insert(broker, request.incarnation);
            if self.persist().is_err() {
                // Not durable: forget it, so the next heartbeat tries again.
                match previous {
                    Some(incarnation) => self
                        .metadata
                        .broker_incarnations
                        .insert(broker, incarnation),
                    None => self.metadata.broker_incarnations.remove(&broker),
                };
                return HeartbeatResponse {
                    metadata: None,
                    accepted: false,
                };
            }
        }
        let was_fenced = self.liveness.get(&broker).is_none_or(|state| state.fenced);
        self.liveness.insert(
            broker,
            BrokerLiveness {
                incarnation: request.incarnation,
                last_heartbeat_ms: now_ms,
                fenced: false,
            },
        );
        if was_fenced {
            self.events.push(ControllerEvent::BrokerUnfenced { broker });
            // Membership changed (the broker list is part of the metadata clients see):
            // publish it, and give offline partitions a leader.
            self.bump_version();
            self.elect_offline();
        }
        let metadata =
            (request.metadata_version < self.metadata.version).then(|| self.cluster_metadata());
        HeartbeatResponse {
            metadata,
            accepted: true,
        }
    }

    // ---- metadata requests --------------------------------------------------------------------

    /// The cluster as clients and brokers see it: only unfenced brokers are listed.
    pub fn cluster_metadata(&self) -> ClusterMetadata {
        ClusterMetadata {
            version: self.metadata.version,
            brokers: self
                .metadata
                .broker_addrs
                .iter()
                .filter(|(broker, _)| Self::is_alive(&self.liveness, **broker))
                .map(|(&broker, &addr)| (broker, addr))
                .collect(),
            topics: self
                .metadata
                .topics
                .iter()
                .map(|(name, partitions)| TopicMetadata {
                    name: name.clone(),
                    partitions: partitions
                        .iter()
                        .enumerate()
                        .map(|(index, state)| partition_metadata(index as u32, state))
                        .collect(),
                })
                .collect(),
        }
    }

    /// Replica assignment for partitions `first..first+count` of a topic: round robin over the
    /// live brokers, starting at a different broker for each partition.
    fn assign(
        &self,
        topic: &str,
        first: u32,
        count: u32,
        replication_factor: u32,
    ) -> Result<Vec<PartitionState>, ErrorCode> {
        let live: Vec<BrokerId> = self
            .liveness
            .iter()
            .filter(|(_, state)| !state.fenced)
            .map(|(&broker, _)| broker)
            .collect();
        if replication_factor == 0 || live.len() < replication_factor as usize {
            return Err(ErrorCode::InvalidRequest {
                reason: format!(
                    "replication factor {replication_factor} for {topic} needs that many live brokers; {} are live",
                    live.len()
                ),
            });
        }
        let offset = crate::stable_hash(topic.as_bytes()) as usize;
        Ok((first..first + count)
            .map(|partition| {
                let start = (offset + partition as usize) % live.len();
                let replicas: Vec<BrokerId> = (0..replication_factor as usize)
                    .map(|i| live[(start + i) % live.len()])
                    .collect();
                PartitionState {
                    leader: Some(replicas[0]),
                    leader_epoch: 0,
                    partition_epoch: 0,
                    isr: replicas.clone(),
                    replicas,
                }
            })
            .collect())
    }

    fn create_topic(&mut self, request: CreateTopicRequest) -> Result<(), ErrorCode> {
        if self.metadata.topics.contains_key(&request.topic) {
            return Err(ErrorCode::TopicAlreadyExists);
        }
        if request.topic.is_empty()
            || request.partitions == 0
            || request.partitions > PARTITIONS_MAX
        {
            return Err(ErrorCode::InvalidRequest {
                reason: format!(
                    "topic '{}' with {} partitions: a topic needs a name and 1..={PARTITIONS_MAX} partitions",
                    request.topic, request.partitions
                ),
            });
        }
        let partitions = self.assign(
            &request.topic,
            0,
            request.partitions,
            request.replication_factor,
        )?;
        let elections: Vec<_> = partitions
            .iter()
            .enumerate()
            .map(|(index, state)| {
                (
                    TopicPartition::new(&request.topic, index as u32),
                    state.leader,
                    0,
                    false,
                )
            })
            .collect();
        let topic = request.topic.clone();
        self.change(|metadata, _| {
            metadata.topics.insert(topic, partitions);
        })
        .map_err(|_| ErrorCode::KafkaStorageError)?;
        self.events.push(ControllerEvent::PartitionsChanged {
            topic: request.topic,
            count: request.partitions,
        });
        self.push_elections(elections);
        Ok(())
    }

    fn create_partitions(&mut self, request: CreatePartitionsRequest) -> Result<(), ErrorCode> {
        let Some(current) = self.metadata.topics.get(&request.topic) else {
            return Err(ErrorCode::UnknownTopicOrPartition);
        };
        let current_count = current.len() as u32;
        if request.count <= current_count || request.count > PARTITIONS_MAX {
            return Err(ErrorCode::InvalidRequest {
                reason: format!(
                    "topic '{}' has {current_count} partitions; the new count {} must be larger (and at most {PARTITIONS_MAX})",
                    request.topic, request.count
                ),
            });
        }
        let replication_factor = current[0].replicas.len() as u32;
        let added = self.assign(
            &request.topic,
            current_count,
            request.count - current_count,
            replication_factor,
        )?;
        let elections: Vec<_> = added
            .iter()
            .enumerate()
            .map(|(i, state)| {
                (
                    TopicPartition::new(&request.topic, current_count + i as u32),
                    state.leader,
                    0,
                    false,
                )
            })
            .collect();
        let topic = request.topic.clone();
        self.change(|metadata, _| {
            metadata
                .topics
                .get_mut(&topic)
                .expect("checked above")
                .extend(added);
        })
        .map_err(|_| ErrorCode::KafkaStorageError)?;
        self.events.push(ControllerEvent::PartitionsChanged {
            topic: request.topic,
            count: request.count,
        });
        self.push_elections(elections);
        Ok(())
    }

    fn alter_partition(
        &mut self,
        request: AlterPartitionRequest,
    ) -> Result<PartitionMetadata, ErrorCode> {
        let tp = request.partition.clone();
        let Some(state) = self
            .metadata
            .topics
            .get(&*tp.topic)
            .and_then(|partitions| partitions.get(tp.partition as usize))
            .cloned()
        else {
            return Err(ErrorCode::UnknownTopicOrPartition);
        };
        if state.leader != Some(request.broker) || request.leader_epoch != state.leader_epoch {
            return Err(ErrorCode::FencedLeaderEpoch);
        }
        if request.partition_epoch != state.partition_epoch {
            // A stale proposal: the leader must wait for the current state (which this very
            // proposal may have made, if an earlier copy of it was applied).
            return Err(ErrorCode::InvalidUpdateVersion);
        }
        let valid = request.new_isr.contains(&request.broker)
            && request.new_isr.iter().all(|b| state.replicas.contains(b))
            && request
                .new_isr
                .iter()
                .filter(|b| !state.isr.contains(b))
                .all(|b| Self::is_alive(&self.liveness, *b));
        if !valid {
            return Err(ErrorCode::InvalidRequest {
                reason: format!(
                    "ISR {:?} must contain the leader {} and only live replicas of {:?}",
                    request.new_isr, request.broker, state.replicas
                ),
            });
        }
        if self.config.isr_eligibility_policy == IsrEligibilityPolicy::BrokerEpochs {
            // KIP-903: a joining member's fetches must come from its current incarnation.
            let stale = request
                .new_isr
                .iter()
                .filter(|b| !state.isr.contains(b) && **b != request.broker)
                .find(|b| {
                    let seen = request
                        .member_epochs
                        .iter()
                        .find(|(member, _)| member == *b)
                        .map(|(_, epoch)| *epoch);
                    let current = self.liveness.get(b).map(|state| state.incarnation);
                    seen.is_none() || seen != current
                });
            if let Some(&member) = stale {
                tracing::debug!(%tp, member, "ISR proposal names a stale incarnation");
                self.events.push(ControllerEvent::StaleIsrMemberRefused {
                    partition: tp.clone(),
                    member,
                });
                return Err(ErrorCode::IneligibleReplica);
            }
        }
        let mut new_isr = request.new_isr.clone();
        new_isr.sort_unstable();
        new_isr.dedup();
        let index = tp.partition as usize;
        let isr_for_change = new_isr.clone();
        self.change(|metadata, _| {
            let state = &mut metadata.topics.get_mut(&*tp.topic).expect("checked")[index];
            if state.isr != isr_for_change {
                state.isr = isr_for_change;
                state.partition_epoch += 1;
            }
        })
        .map_err(|_| ErrorCode::KafkaStorageError)?;
        self.events.push(ControllerEvent::IsrChanged {
            partition: tp.clone(),
            isr: new_isr,
        });
        let state = &self.metadata.topics[&*tp.topic][index];
        Ok(partition_metadata(tp.partition, state))
    }

    /// The current state of a partition, for answers to stale AlterPartition proposals.
    fn partition_state(&self, tp: &TopicPartition) -> Option<PartitionMetadata> {
        self.metadata
            .topics
            .get(&*tp.topic)
            .and_then(|partitions| partitions.get(tp.partition as usize))
            .map(|state| partition_metadata(tp.partition, state))
    }

    // ---- requests ---------------------------------------------------------------------------

    /// Handles one request. Brokers' data-path requests (Produce, Fetch, ...) are not for the
    /// controller: they get `NotLeaderOrFollower`.
    pub fn on_request(&mut self, now_ms: u64, request: Request) -> Response {
        match request {
            Request::Heartbeat(request) => Response::Heartbeat(self.on_heartbeat(now_ms, request)),
            Request::Metadata(request) => {
                let mut metadata = self.cluster_metadata();
                if let Some(topics) = request.topics {
                    metadata.topics.retain(|topic| topics.contains(&topic.name));
                }
                Response::Metadata(MetadataResponse { metadata })
            }
            Request::CreateTopic(request) => Response::CreateTopic(CreateTopicResponse {
                result: self.create_topic(request),
            }),
            Request::CreatePartitions(request) => {
                Response::CreatePartitions(CreatePartitionsResponse {
                    result: self.create_partitions(request),
                })
            }
            Request::AlterPartition(request) => {
                let tp = request.partition.clone();
                let result = self.alter_partition(request);
                let result = match result {
                    Err(ErrorCode::UnknownTopicOrPartition) => {
                        Err(ErrorCode::UnknownTopicOrPartition)
                    }
                    Err(error) => match self.partition_state(&tp) {
                        // Tell the leader where things stand; it adopts the current state.
                        Some(_) => Err(error),
                        None => Err(ErrorCode::UnknownTopicOrPartition),
                    },
                    ok => ok,
                };
                Response::AlterPartition(AlterPartitionResponse { result })
            }
            Request::InitProducerId(request) => {
                let result = self
                    .producer_ids
                    .init_producer_id(request.current)
                    .map_err(producer_id_error);
                Response::InitProducerId(InitProducerIdResponse { result })
            }
            Request::OffsetCommit(request) => {
                Response::OffsetCommit(self.coordinator.offset_commit(now_ms, request))
            }
            Request::HeartbeatGroup(request) => {
                Response::HeartbeatGroup(self.coordinator.heartbeat(now_ms, request))
            }
            Request::LeaveGroup(request) => {
                Response::LeaveGroup(self.coordinator.leave_group(now_ms, request))
            }
            Request::DescribeGroups(request) => {
                Response::DescribeGroups(self.coordinator.describe_groups(request))
            }
            Request::ListGroups(request) => {
                Response::ListGroups(self.coordinator.list_groups(request))
            }
            // Parked requests need a sender to answer later: they come through `on_message`.
            Request::JoinGroup(request) => Response::JoinGroup(JoinGroupResponse {
                member_id: request.member_id,
                result: Err(ErrorCode::InvalidRequest {
                    reason: "JoinGroup is answered through on_message".into(),
                }),
            }),
            Request::SyncGroup(_) => Response::SyncGroup(SyncGroupResponse {
                result: Err(ErrorCode::InvalidRequest {
                    reason: "SyncGroup is answered through on_message".into(),
                }),
            }),
            Request::OffsetFetch(request) => {
                Response::OffsetFetch(self.coordinator.offset_fetch(request))
            }
            Request::Produce(_) => Response::Produce(ProduceResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
                log_start_offset: 0,
            }),
            Request::Fetch(_) => Response::Fetch(FetchResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
                high_watermark: 0,
                log_start_offset: 0,
                leader_epoch: 0,
                preferred_read_replica: None,
            }),
            Request::ListOffsets(_) => Response::ListOffsets(ListOffsetsResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
            Request::OffsetForLeaderEpoch(_) => {
                Response::OffsetForLeaderEpoch(OffsetForLeaderEpochResponse {
                    result: Err(ErrorCode::NotLeaderOrFollower),
                })
            }
        }
    }
}

/// Most partitions a topic may have.
pub const PARTITIONS_MAX: u32 = 1024;

fn partition_metadata(partition: u32, state: &PartitionState) -> PartitionMetadata {
    PartitionMetadata {
        partition,
        leader: state.leader,
        leader_epoch: state.leader_epoch,
        partition_epoch: state.partition_epoch,
        replicas: state.replicas.clone(),
        isr: state.isr.clone(),
    }
}

/// Picks a leader: the first live ISR member in replica order; under
/// [`ElectionPolicy::AnyLiveReplica`] with no live ISR member, the first live replica. Returns
/// (leader, unclean).
fn elect(
    state: &PartitionState,
    liveness: &BTreeMap<BrokerId, BrokerLiveness>,
    policy: ElectionPolicy,
) -> (Option<BrokerId>, bool) {
    let alive = |broker: &BrokerId| liveness.get(broker).is_some_and(|s| !s.fenced);
    if let Some(&leader) = state
        .replicas
        .iter()
        .find(|b| state.isr.contains(b) && alive(b))
    {
        return (Some(leader), false);
    }
    match policy {
        ElectionPolicy::IsrOnly => (None, false),
        ElectionPolicy::AnyLiveReplica => match state.replicas.iter().find(|b| alive(b)) {
            Some(&leader) => (Some(leader), true),
            None => (None, false),
        },
    }
}

fn producer_id_error(error: crate::producer_ids::ProducerIdError) -> ErrorCode {
    use crate::producer_ids::ProducerIdError;
    match error {
        ProducerIdError::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
        ProducerIdError::Storage(_) => ErrorCode::KafkaStorageError,
        #[allow(unreachable_patterns)]
        _ => ErrorCode::InvalidProducerEpoch,
    }
}

impl<S: Storage + Clone> Node for ControllerCore<S> {
    type Observation = ControllerEvent;
    type Command = ();

    /// Answers a request; the answer leaves after the disk's latency (the write it waits for).
    /// Responses are not for the controller and are ignored.
    fn on_message(&mut self, now: Duration, from: SocketAddr, envelope: Envelope) {
        if let Envelope::Request {
            correlation_id,
            request,
        } = envelope
        {
            let response = match request {
                Request::JoinGroup(_)
                | Request::SyncGroup(_)
                | Request::HeartbeatGroup(_)
                | Request::LeaveGroup(_) => {
                    match self.on_group_request(millis(now), from, correlation_id, request) {
                        Some(response) => response,
                        None => return,
                    }
                }
                request => self.on_request(millis(now), request),
            };
            let delay = self.storage.latency();
            self.outbox.push((
                from,
                Envelope::Response {
                    correlation_id,
                    response,
                },
                delay,
            ));
        }
    }

    fn on_tick(&mut self, now: Duration) {
        ControllerCore::on_tick(self, millis(now));
    }

    fn take_outputs(&mut self, outputs: &mut Vec<Output<ControllerEvent>>) {
        outputs.extend(
            self.outbox
                .drain(..)
                .map(|(to, envelope, delay)| Output::Send {
                    to,
                    envelope,
                    delay,
                }),
        );
        outputs.extend(self.events.drain(..).map(Output::Observe));
    }

    /// Every [`CONTROLLER_TICK`] from the start, whatever the messages.
    fn next_tick(&mut self, now: Duration, step: Step) -> Option<Duration> {
        match step {
            Step::Start => {
                self.next_tick = now + CONTROLLER_TICK;
                Some(self.next_tick)
            }
            Step::Tick => {
                self.next_tick += CONTROLLER_TICK;
                Some(self.next_tick)
            }
            Step::Message => None,
        }
    }
}
