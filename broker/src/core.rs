//! The broker core: every partition replica this broker holds, as leader or follower.
//!
//! A sans-IO state machine: the node shell feeds it requests, responses to its own requests, and
//! ticks, all with the current simulated time; it answers with [`Output`]s (responses to send,
//! requests to send, observations for the history). It never blocks and never sees madsim.
//!
//! What it guarantees (checked by assertions on every transition):
//! - `log start <= high watermark <= log end` on every replica;
//! - a leader's high watermark only advances when every member of the *maximal* ISR (the
//!   controller's ISR plus any member the leader has asked to add) holds the offset, and never
//!   goes back while it leads; an acks=all produce is answered only once the high watermark
//!   passes the batch;
//! - consumers read only below the high watermark; a read below the log start answers
//!   `OffsetEvicted { next_available = current log start }`, never an IO error;
//! - a follower of a new leader first asks the leader where its epoch ended
//!   (`OffsetForLeaderEpoch`, KIP-101/KIP-279) and truncates a divergent tail before fetching;
//! - KIP-392: a leader names a preferred read replica only among in-sync followers that hold the
//!   requested offset (KAFKA-14372); a follower serving a consumer answers `OffsetOutOfRange` for
//!   an offset below its own log start or beyond what the leader has committed, and
//!   `OffsetNotAvailable` when it is merely behind;
//! - leader epochs fence stale requests (`FencedLeaderEpoch`) and stale senders.
//!
//! Broker bug switches (see [`crate::bugs`]) turn historical mistakes back on:
//! `hw-before-isr`, `no-follower-truncation`, `unclean-election` (in the controller) and
//! `stale-segment-read` (in the log).

use crate::api::*;
use crate::batch::RecordBatch;
use crate::bugs::{BrokerBug, BugSet};
use crate::epoch_cache::EpochCache;
use crate::log::{AppendOutcome, Log, LogConfig, LogError, ReadPlan, ReadResult};
use crate::storage::Storage;
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

/// How many of a broker's outgoing requests may be outstanding at once.
const OUTSTANDING_REQUESTS_MAX: usize = 10_000;
/// How many produce requests may wait for the high watermark at once, per broker.
const PENDING_PRODUCES_MAX: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    pub broker_id: BrokerId,
    /// This broker's rack (KIP-392 matches it against a consumer's rack).
    pub rack: String,
    pub log: LogConfig,
    /// A follower that has not caught up for this long leaves the ISR.
    pub replica_lag_ms_max: u64,
    /// A follower whose fetch failed asks again after this long.
    pub replica_fetch_wait_ms: u64,
    /// How long a leader may hold a follower's fetch that finds nothing new (long poll).
    pub replica_fetch_max_wait_ms: u64,
    /// The longest a broker holds any fetch, whatever the request asks.
    pub fetch_max_wait_ms: u64,
    pub replica_fetch_bytes_max: u64,
    /// An outgoing request unanswered for this long is given up (and retried by its owner).
    pub request_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// acks=all produce needs at least this many in-sync replicas.
    pub min_insync_replicas: u32,
    pub retention_check_interval_ms: u64,
    /// Largest fetch a consumer may ask for.
    pub fetch_bytes_max: u64,
    pub bugs: BugSet,
}

impl BrokerConfig {
    pub fn new(broker_id: BrokerId) -> BrokerConfig {
        BrokerConfig {
            broker_id,
            rack: format!("rack-{broker_id}"),
            log: LogConfig::default(),
            replica_lag_ms_max: 2_000,
            replica_fetch_wait_ms: 20,
            replica_fetch_max_wait_ms: 250,
            fetch_max_wait_ms: 1_000,
            replica_fetch_bytes_max: 1 << 20,
            request_timeout_ms: 1_000,
            heartbeat_interval_ms: 100,
            min_insync_replicas: 1,
            retention_check_interval_ms: 100,
            fetch_bytes_max: 8 << 20,
            bugs: BugSet::none(),
        }
    }
}

/// Something the broker observed, for the history, coverage marks and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A replica's log start advanced. `leader` = this broker leads the partition (its log start
    /// is the authoritative one).
    LogStartAdvanced {
        partition: TopicPartition,
        broker: BrokerId,
        offset: u64,
        leader: bool,
    },
    /// A follower cut its log back (divergence after a leader change, or a reset to the
    /// leader's log start).
    FollowerTruncated {
        partition: TopicPartition,
        broker: BrokerId,
        from: u64,
        to: u64,
    },
    /// Producer state expired (its last batch fell below the log start, or a forced expiry).
    ProducerExpired {
        partition: TopicPartition,
        broker: BrokerId,
        producer_id: i64,
    },
    /// A leader named a preferred read replica for a consumer (KIP-392).
    PreferredReplicaChosen {
        partition: TopicPartition,
        leader: BrokerId,
        replica: BrokerId,
    },
    /// A consumer read below the log start and got `OffsetEvicted`.
    EvictedOffsetRequested {
        partition: TopicPartition,
        broker: BrokerId,
        offset: u64,
        next_available: u64,
    },
    /// The high watermark of a partition this broker leads advanced.
    HighWatermark {
        partition: TopicPartition,
        broker: BrokerId,
        offset: u64,
    },
}

/// What the core asks its shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Answer a request.
    Respond {
        to: SocketAddr,
        correlation_id: u64,
        response: Response,
    },
    /// Send a request to the controller.
    ToController {
        correlation_id: u64,
        request: Request,
    },
    /// Send a request to another broker.
    ToBroker {
        addr: SocketAddr,
        correlation_id: u64,
        request: Request,
    },
    Observe(Observation),
}

/// Faults a scenario injects into one broker (the nemesis's hands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    /// Delete this replica's records below `offset`, as if its own retention had run: its log
    /// start may run ahead of the leader's (franz-go #885). Bounded by its high watermark, and
    /// only records older than `min_age_ms` go — retention never deletes what a producer may
    /// still be retrying (KIP-360: that would let a retried batch be written twice).
    ForceRetention {
        partition: TopicPartition,
        offset: u64,
        min_age_ms: u64,
    },
    /// Forget the state of every producer that has not appended to this replica for `idle_ms`
    /// (Kafka's `producer.id.expiration.ms`, KIP-854, forced now; 0 = active producers too), but
    /// never while the first batch of a producer's epoch may still be unanswered (see
    /// [`PRODUCER_BATCHES_CACHED`]). A producer this broker has not seen append since it started
    /// counts as idle.
    ExpireProducers {
        partition: TopicPartition,
        idle_ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FollowerProgress {
    log_end: u64,
    log_start: u64,
    last_caught_up_ms: u64,
    last_fetch_ms: u64,
    leader_end_at_last_fetch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct LeaderState {
    replicas: Vec<BrokerId>,
    /// The ISR as the controller last confirmed it.
    isr: Vec<BrokerId>,
    /// An ISR change sent to the controller and not yet answered: (proposal, correlation id).
    proposal: Option<(Vec<BrokerId>, u64)>,
    followers: BTreeMap<BrokerId, FollowerProgress>,
}

impl LeaderState {
    /// Committed ISR plus members the leader asked to add: the set the high watermark waits for.
    fn maximal_isr(&self) -> Vec<BrokerId> {
        let mut members = self.isr.clone();
        if let Some((proposal, _)) = &self.proposal {
            for member in proposal {
                if !members.contains(member) {
                    members.push(*member);
                }
            }
        }
        members
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FollowerPhase {
    /// Must ask the leader where our latest epoch ends before fetching.
    NeedsEpochCheck,
    Fetching,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FollowerState {
    leader: Option<BrokerId>,
    phase: FollowerPhase,
    /// The outstanding request to the leader, if any.
    in_flight: Option<u64>,
    next_fetch_ms: u64,
    /// The leader's high watermark as of its last answer.
    leader_high_watermark: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Leader(LeaderState),
    Follower(FollowerState),
}

struct Replica<S: Storage + Clone> {
    partition: TopicPartition,
    log: Log<S>,
    epochs: EpochCache,
    high_watermark: u64,
    leader_epoch: u32,
    partition_epoch: u32,
    role: Role,
}

impl<S: Storage + Clone> Replica<S> {
    fn check_invariants(&self, broker: BrokerId) {
        let start = self.log.log_start_offset();
        let end = self.log.log_end_offset();
        assert!(
            start <= self.high_watermark && self.high_watermark <= end,
            "broker {broker} {}: log start {start} <= high watermark {} <= log end {end} violated",
            self.partition,
            self.high_watermark
        );
    }

    fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum OutgoingKind {
    Heartbeat,
    AlterPartition(TopicPartition),
    ReplicaFetch(TopicPartition, u32),
    EpochCheck(TopicPartition, u32),
    /// `no-follower-truncation`: the leader's log end, to truncate to after out-of-range.
    LogEndQuery(TopicPartition, u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Outgoing {
    kind: OutgoingKind,
    sent_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingProduce {
    to: SocketAddr,
    correlation_id: u64,
    partition: TopicPartition,
    leader_epoch: u32,
    base_offset: u64,
    last_offset: u64,
    deadline_ms: u64,
}

/// A fetch held until data arrives or its wait ends (long poll).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParkedFetch {
    to: SocketAddr,
    correlation_id: u64,
    request: FetchRequest,
    deadline_ms: u64,
}

/// Most fetches a broker holds at once; more are answered at once.
const PARKED_FETCHES_MAX: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingRead {
    to: SocketAddr,
    correlation_id: u64,
    request: FetchRequest,
    plan: ReadPlan,
    execute_at_ms: u64,
}

/// The broker's state machine.
pub struct BrokerCore<S: Storage + Clone> {
    config: BrokerConfig,
    storage: S,
    addr: SocketAddr,
    incarnation: u64,
    metadata: ClusterMetadata,
    replicas: BTreeMap<TopicPartition, Replica<S>>,
    outgoing: BTreeMap<u64, Outgoing>,
    next_correlation_id: u64,
    next_heartbeat_ms: u64,
    next_retention_ms: u64,
    pending_produces: Vec<PendingProduce>,
    pending_reads: VecDeque<PendingRead>,
    parked_fetches: Vec<ParkedFetch>,
    outputs: Vec<Output>,
    /// When each producer last appended to each partition here (for idle expiry).
    producer_activity: BTreeMap<(TopicPartition, i64), ProducerActivity>,
}

impl<S: Storage + Clone> BrokerCore<S> {
    /// A broker process starting (or restarting: `incarnation` grows with each start). Logs are
    /// opened — and recovered — when the controller's metadata assigns their partitions.
    pub fn new(storage: S, config: BrokerConfig, addr: SocketAddr, incarnation: u64) -> Self {
        BrokerCore {
            config,
            storage,
            addr,
            incarnation,
            metadata: ClusterMetadata::default(),
            replicas: BTreeMap::new(),
            outgoing: BTreeMap::new(),
            next_correlation_id: 1,
            next_heartbeat_ms: 0,
            next_retention_ms: 0,
            pending_produces: Vec::new(),
            pending_reads: VecDeque::new(),
            parked_fetches: Vec::new(),
            outputs: Vec::new(),
            producer_activity: BTreeMap::new(),
        }
    }

    pub fn broker_id(&self) -> BrokerId {
        self.config.broker_id
    }

    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    /// The metadata this broker holds.
    pub fn metadata(&self) -> &ClusterMetadata {
        &self.metadata
    }

    /// A view of every replica, for status displays and tests.
    pub fn replica_status(&self) -> Vec<ReplicaStatus> {
        self.replicas
            .values()
            .map(|replica| ReplicaStatus {
                partition: replica.partition.clone(),
                leader: replica.is_leader(),
                leader_epoch: replica.leader_epoch,
                log_start_offset: replica.log.log_start_offset(),
                high_watermark: replica.high_watermark,
                log_end_offset: replica.log.log_end_offset(),
                isr: match &replica.role {
                    Role::Leader(leader) => leader.isr.clone(),
                    Role::Follower(_) => Vec::new(),
                },
            })
            .collect()
    }

    fn correlation_id(&mut self) -> u64 {
        let id = self.next_correlation_id;
        self.next_correlation_id += 1;
        id
    }

    fn send_to_controller(&mut self, now_ms: u64, kind: OutgoingKind, request: Request) -> u64 {
        let correlation_id = self.correlation_id();
        assert!(
            self.outgoing.len() < OUTSTANDING_REQUESTS_MAX,
            "too many outgoing requests"
        );
        self.outgoing.insert(
            correlation_id,
            Outgoing {
                kind,
                sent_ms: now_ms,
            },
        );
        self.outputs.push(Output::ToController {
            correlation_id,
            request,
        });
        correlation_id
    }

    fn send_to_broker(
        &mut self,
        now_ms: u64,
        addr: SocketAddr,
        kind: OutgoingKind,
        request: Request,
    ) -> u64 {
        let correlation_id = self.correlation_id();
        assert!(
            self.outgoing.len() < OUTSTANDING_REQUESTS_MAX,
            "too many outgoing requests"
        );
        self.outgoing.insert(
            correlation_id,
            Outgoing {
                kind,
                sent_ms: now_ms,
            },
        );
        self.outputs.push(Output::ToBroker {
            addr,
            correlation_id,
            request,
        });
        correlation_id
    }

    fn respond(&mut self, to: SocketAddr, correlation_id: u64, response: Response) {
        self.outputs.push(Output::Respond {
            to,
            correlation_id,
            response,
        });
    }

    fn observe(&mut self, observation: Observation) {
        self.outputs.push(Output::Observe(observation));
    }

    // ---- ticks ------------------------------------------------------------------------------

    /// Timers: heartbeats, request timeouts, follower fetches, ISR shrink, retention, produce
    /// timeouts, delayed reads.
    pub fn on_tick(&mut self, now_ms: u64) {
        // Requests that were never answered (lost messages, dead peers).
        let expired: Vec<u64> = self
            .outgoing
            .iter()
            .filter(|(_, outgoing)| now_ms >= outgoing.sent_ms + self.config.request_timeout_ms)
            .map(|(&id, _)| id)
            .collect();
        for correlation_id in expired {
            let outgoing = self.outgoing.remove(&correlation_id).expect("listed above");
            self.on_request_lost(now_ms, outgoing.kind, correlation_id);
        }

        if now_ms >= self.next_heartbeat_ms {
            self.next_heartbeat_ms = now_ms + self.config.heartbeat_interval_ms;
            let request = Request::Heartbeat(HeartbeatRequest {
                broker: self.config.broker_id,
                addr: self.addr,
                incarnation: self.incarnation,
                metadata_version: self.metadata.version,
            });
            self.send_to_controller(now_ms, OutgoingKind::Heartbeat, request);
        }

        if now_ms >= self.next_retention_ms {
            self.next_retention_ms = now_ms + self.config.retention_check_interval_ms;
            self.run_retention(now_ms);
        }

        let partitions: Vec<TopicPartition> = self.replicas.keys().cloned().collect();
        for partition in &partitions {
            self.tick_replica(now_ms, partition);
        }

        self.expire_produces(now_ms);
        self.execute_due_reads(now_ms);
        self.after_event(now_ms);
    }

    fn on_request_lost(&mut self, now_ms: u64, kind: OutgoingKind, correlation_id: u64) {
        match kind {
            OutgoingKind::Heartbeat => {}
            OutgoingKind::AlterPartition(partition) => {
                if let Some(replica) = self.replicas.get_mut(&partition) {
                    if let Role::Leader(leader) = &mut replica.role {
                        if leader
                            .proposal
                            .as_ref()
                            .is_some_and(|(_, id)| *id == correlation_id)
                        {
                            leader.proposal = None;
                        }
                    }
                }
                // The proposal may or may not have been applied; metadata will tell. Until
                // then the high watermark keeps waiting for the maximal ISR.
                let _ = now_ms;
            }
            OutgoingKind::ReplicaFetch(partition, _)
            | OutgoingKind::EpochCheck(partition, _)
            | OutgoingKind::LogEndQuery(partition, _) => {
                if let Some(replica) = self.replicas.get_mut(&partition) {
                    if let Role::Follower(follower) = &mut replica.role {
                        if follower.in_flight == Some(correlation_id) {
                            follower.in_flight = None;
                            follower.next_fetch_ms = now_ms;
                        }
                    }
                }
            }
        }
    }

    fn tick_replica(&mut self, now_ms: u64, partition: &TopicPartition) {
        let broker_id = self.config.broker_id;
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        if let Some(reason) = replica.log.offline_reason() {
            // An operation failed half-way; reopening recovers the log from its files.
            tracing::warn!(broker = broker_id, %partition, reason, "log offline; reopening");
            self.replicas.remove(partition);
            self.reopen_replica(now_ms, partition);
            return;
        }
        if let Err(error) = replica.log.roll_if_due(now_ms as i64) {
            tracing::warn!(broker = broker_id, %partition, %error, "segment roll failed");
        }
        match &replica.role {
            Role::Leader(_) => self.maybe_shrink_isr(now_ms, partition),
            Role::Follower(follower) => {
                if follower.in_flight.is_none() && now_ms >= follower.next_fetch_ms {
                    self.send_follower_request(now_ms, partition);
                }
            }
        }
    }

    fn run_retention(&mut self, now_ms: u64) {
        let broker_id = self.config.broker_id;
        let mut observations = Vec::new();
        for replica in self.replicas.values_mut() {
            let before = replica.log.log_start_offset();
            match replica
                .log
                .apply_retention(now_ms as i64, replica.high_watermark)
            {
                Ok(outcome) => {
                    let after = replica.log.log_start_offset();
                    if after > before {
                        replica.epochs.truncate_before(after);
                        observations.push(Observation::LogStartAdvanced {
                            partition: replica.partition.clone(),
                            broker: broker_id,
                            offset: after,
                            leader: replica.is_leader(),
                        });
                    }
                    for producer_id in outcome.producers_expired {
                        observations.push(Observation::ProducerExpired {
                            partition: replica.partition.clone(),
                            broker: broker_id,
                            producer_id,
                        });
                    }
                }
                Err(error) => {
                    tracing::warn!(broker = broker_id, partition = %replica.partition, %error, "retention failed");
                }
            }
            replica.check_invariants(broker_id);
        }
        for observation in observations {
            self.observe(observation);
        }
    }

    // ---- metadata ---------------------------------------------------------------------------

    fn apply_metadata(&mut self, now_ms: u64, metadata: ClusterMetadata) {
        if metadata.version <= self.metadata.version {
            return;
        }
        self.metadata = metadata;
        let me = self.config.broker_id;
        let assigned: Vec<(TopicPartition, PartitionMetadata)> = self
            .metadata
            .topics
            .iter()
            .flat_map(|topic| {
                topic
                    .partitions
                    .iter()
                    .filter(|p| p.replicas.contains(&me))
                    .map(|p| (TopicPartition::new(&topic.name, p.partition), p.clone()))
            })
            .collect();
        for (partition, state) in assigned {
            self.apply_partition_state(now_ms, &partition, &state);
        }
    }

    /// Opens a replica's log again (after it went offline) and resumes its role.
    fn reopen_replica(&mut self, now_ms: u64, partition: &TopicPartition) {
        let state = self.metadata.partition(partition).cloned();
        match state {
            Some(state) => self.apply_partition_state(now_ms, partition, &state),
            None => {
                self.open_replica(partition);
            }
        }
    }

    fn open_replica(&mut self, partition: &TopicPartition) -> bool {
        if self.replicas.contains_key(partition) {
            return true;
        }
        let directory = format!("log/{}-{}/", partition.topic, partition.partition);
        match Log::open(
            self.storage.clone(),
            &directory,
            self.config.log.clone(),
            self.config.bugs.clone(),
        ) {
            Ok((log, _recovery)) => {
                let epochs = rebuild_epoch_cache(&log);
                let high_watermark = log.log_start_offset();
                self.replicas.insert(
                    partition.clone(),
                    Replica {
                        partition: partition.clone(),
                        log,
                        epochs,
                        high_watermark,
                        leader_epoch: 0,
                        partition_epoch: 0,
                        role: Role::Follower(FollowerState {
                            leader: None,
                            phase: FollowerPhase::NeedsEpochCheck,
                            in_flight: None,
                            next_fetch_ms: 0,
                            leader_high_watermark: 0,
                        }),
                    },
                );
                true
            }
            Err(error) => {
                // The disk failed while recovering; the next metadata update retries.
                tracing::warn!(broker = self.config.broker_id, %partition, %error, "cannot open log");
                false
            }
        }
    }

    fn apply_partition_state(
        &mut self,
        now_ms: u64,
        partition: &TopicPartition,
        state: &PartitionMetadata,
    ) {
        if !self.open_replica(partition) {
            return;
        }
        let me = self.config.broker_id;
        let no_truncation = self.config.bugs.is_on(BrokerBug::NoFollowerTruncation);
        let replica = self.replicas.get_mut(partition).expect("opened above");
        if state.leader_epoch < replica.leader_epoch {
            return; // stale
        }
        let new_epoch = state.leader_epoch > replica.leader_epoch;
        let mut lost_leadership = false;
        let mut became_leader = false;
        if state.leader == Some(me) {
            match &mut replica.role {
                Role::Leader(leader) if !new_epoch => {
                    // Same term: the controller may have changed the ISR (fencing a broker).
                    if state.partition_epoch > replica.partition_epoch {
                        leader.isr = state.isr.clone();
                        leader.replicas = state.replicas.clone();
                        leader.proposal = None;
                    }
                }
                _ => {
                    // Become leader of a new epoch.
                    let log_end = replica.log.log_end_offset();
                    replica.epochs.assign(state.leader_epoch, log_end);
                    let followers = state
                        .replicas
                        .iter()
                        .filter(|&&b| b != me)
                        .map(|&b| {
                            (
                                b,
                                FollowerProgress {
                                    log_end: 0,
                                    log_start: 0,
                                    last_caught_up_ms: now_ms,
                                    last_fetch_ms: now_ms,
                                    leader_end_at_last_fetch: log_end,
                                },
                            )
                        })
                        .collect();
                    became_leader = true;
                    replica.role = Role::Leader(LeaderState {
                        replicas: state.replicas.clone(),
                        isr: state.isr.clone(),
                        proposal: None,
                        followers,
                    });
                    tracing::debug!(broker = me, %partition, epoch = state.leader_epoch, "became leader");
                }
            }
        } else {
            let was_leader = replica.is_leader();
            let same_leader =
                matches!(&replica.role, Role::Follower(f) if f.leader == state.leader);
            if was_leader || new_epoch || !same_leader {
                lost_leadership = was_leader;
                replica.role = Role::Follower(FollowerState {
                    leader: state.leader,
                    phase: if no_truncation {
                        FollowerPhase::Fetching
                    } else {
                        FollowerPhase::NeedsEpochCheck
                    },
                    in_flight: None,
                    next_fetch_ms: now_ms,
                    leader_high_watermark: replica.high_watermark,
                });
            }
        }
        replica.leader_epoch = state.leader_epoch;
        replica.partition_epoch = replica.partition_epoch.max(state.partition_epoch);
        if became_leader {
            // The partition's log start is now this replica's: announce it as authoritative,
            // even when it moved (a follower's own retention may have run ahead of the old
            // leader's).
            let offset = replica.log.log_start_offset();
            self.observe(Observation::LogStartAdvanced {
                partition: partition.clone(),
                broker: me,
                offset,
                leader: true,
            });
        }
        if lost_leadership {
            self.fail_pending_produces(partition, ErrorCode::NotLeaderOrFollower);
        }
        self.advance_high_watermark(now_ms, partition);
    }

    // ---- requests ---------------------------------------------------------------------------

    /// Handles a request from a client or another broker. `read_delay_ms` is the disk latency
    /// the shell drew for this request: a consumer fetch plans its read now and reads after it
    /// (retention may run in between — the race behind fluvio #3891).
    pub fn on_request(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        correlation_id: u64,
        request: Request,
        read_delay_ms: u64,
    ) {
        let response = match request {
            Request::Produce(request) => {
                match self.produce(now_ms, from, correlation_id, request) {
                    Some(response) => Response::Produce(response),
                    None => return, // waits for the high watermark
                }
            }
            Request::Fetch(request) => {
                let max_wait_ms = request.max_wait_ms.min(self.config.fetch_max_wait_ms);
                let parked = request.clone();
                match self.fetch(now_ms, from, correlation_id, request, read_delay_ms) {
                    Some(response)
                        if max_wait_ms > 0
                            && matches!(&response.result, Ok(batches) if batches.is_empty())
                            && response.preferred_read_replica.is_none()
                            && self.parked_fetches.len() < PARKED_FETCHES_MAX =>
                    {
                        // Nothing yet: hold it until data arrives or the wait ends.
                        self.parked_fetches.push(ParkedFetch {
                            to: from,
                            correlation_id,
                            request: parked,
                            deadline_ms: now_ms + max_wait_ms,
                        });
                        self.after_event(now_ms);
                        return;
                    }
                    Some(response) => Response::Fetch(response),
                    None => {
                        self.after_event(now_ms);
                        return; // the read is delayed
                    }
                }
            }
            Request::ListOffsets(request) => Response::ListOffsets(self.list_offsets(request)),
            Request::Metadata(request) => {
                let mut metadata = self.metadata.clone();
                if let Some(topics) = request.topics {
                    metadata.topics.retain(|topic| topics.contains(&topic.name));
                }
                Response::Metadata(MetadataResponse { metadata })
            }
            Request::OffsetForLeaderEpoch(request) => {
                Response::OffsetForLeaderEpoch(self.offset_for_leader_epoch(request))
            }
            // Coordinator and controller requests belong to the controller.
            Request::InitProducerId(_) => Response::InitProducerId(InitProducerIdResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
            Request::OffsetCommit(_) => Response::OffsetCommit(OffsetCommitResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
            Request::OffsetFetch(_) => Response::OffsetFetch(OffsetFetchResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
            Request::CreateTopic(_) => Response::CreateTopic(CreateTopicResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
            Request::CreatePartitions(_) => Response::CreatePartitions(CreatePartitionsResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
            Request::Heartbeat(_) => Response::Heartbeat(HeartbeatResponse {
                metadata: None,
                accepted: false,
            }),
            Request::AlterPartition(_) => Response::AlterPartition(AlterPartitionResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
        };
        self.respond(from, correlation_id, response);
        self.after_event(now_ms);
    }

    /// Work every input may have made due: held fetches that can be answered, follower
    /// fetches to send.
    fn after_event(&mut self, now_ms: u64) {
        self.service_parked_fetches(now_ms);
        let due: Vec<TopicPartition> = self
            .replicas
            .iter()
            .filter(|(_, replica)| {
                matches!(&replica.role, Role::Follower(f)
                    if f.in_flight.is_none() && f.leader.is_some() && now_ms >= f.next_fetch_ms)
            })
            .map(|(partition, _)| partition.clone())
            .collect();
        for partition in due {
            self.send_follower_request(now_ms, &partition);
        }
    }

    /// Answers the held fetches that have data now, whose replica changed role, or whose wait
    /// is over.
    fn service_parked_fetches(&mut self, now_ms: u64) {
        if self.parked_fetches.is_empty() {
            return;
        }
        let parked = std::mem::take(&mut self.parked_fetches);
        let mut still = Vec::with_capacity(parked.len());
        for fetch in parked {
            let ready = now_ms >= fetch.deadline_ms
                || match self.replicas.get(&fetch.request.partition) {
                    None => true,
                    Some(replica) => match (&replica.role, fetch.request.replica_id) {
                        (Role::Leader(_), Some(_)) => {
                            replica.log.log_end_offset() > fetch.request.offset
                        }
                        (Role::Follower(_), Some(_)) => true,
                        (_, None) => replica.high_watermark > fetch.request.offset,
                    },
                };
            if ready {
                let mut request = fetch.request;
                request.max_wait_ms = 0;
                match self.fetch(now_ms, fetch.to, fetch.correlation_id, request, 0) {
                    Some(response) => {
                        self.respond(fetch.to, fetch.correlation_id, Response::Fetch(response))
                    }
                    None => {} // a delayed read answers later
                }
            } else {
                still.push(fetch);
            }
        }
        // Answers above may have been parked again by nothing; keep the rest in order.
        still.append(&mut self.parked_fetches);
        self.parked_fetches = still;
    }

    /// When the core next needs a tick (simulated ms): its earliest timer, and at least every
    /// heartbeat interval. Inputs (requests, responses) also wake it.
    pub fn next_deadline_ms(&self, now_ms: u64) -> u64 {
        let mut deadline = now_ms + self.config.heartbeat_interval_ms;
        let mut consider = |at: u64| deadline = deadline.min(at.max(now_ms + 1));
        consider(self.next_heartbeat_ms);
        consider(self.next_retention_ms);
        for outgoing in self.outgoing.values() {
            consider(outgoing.sent_ms + self.config.request_timeout_ms);
        }
        for produce in &self.pending_produces {
            consider(produce.deadline_ms);
        }
        for read in &self.pending_reads {
            consider(read.execute_at_ms);
        }
        for fetch in &self.parked_fetches {
            consider(fetch.deadline_ms);
        }
        for replica in self.replicas.values() {
            match &replica.role {
                Role::Follower(follower) => {
                    if follower.in_flight.is_none() && follower.leader.is_some() {
                        consider(follower.next_fetch_ms);
                    }
                }
                Role::Leader(leader) => {
                    for member in &leader.isr {
                        if let Some(progress) = leader.followers.get(member) {
                            consider(
                                progress.last_caught_up_ms + self.config.replica_lag_ms_max + 1,
                            );
                        }
                    }
                }
            }
        }
        deadline
    }

    /// Checks the sender's idea of the leader epoch against ours.
    fn check_epoch(
        replica: &Replica<S>,
        current_leader_epoch: Option<u32>,
    ) -> Result<(), ErrorCode> {
        match current_leader_epoch {
            Some(epoch) if epoch < replica.leader_epoch => Err(ErrorCode::FencedLeaderEpoch),
            Some(epoch) if epoch > replica.leader_epoch => Err(ErrorCode::UnknownLeaderEpoch),
            _ => Ok(()),
        }
    }

    fn produce(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        correlation_id: u64,
        request: ProduceRequest,
    ) -> Option<ProduceResponse> {
        let partition = request.partition.clone();
        let Some(replica) = self.replicas.get_mut(&partition) else {
            let known = self.metadata.partition(&partition).is_some();
            return Some(ProduceResponse {
                result: Err(if known {
                    ErrorCode::NotLeaderOrFollower
                } else {
                    ErrorCode::UnknownTopicOrPartition
                }),
                log_start_offset: 0,
            });
        };
        let log_start_offset = replica.log.log_start_offset();
        let reject = |error| {
            Some(ProduceResponse {
                result: Err(error),
                log_start_offset,
            })
        };
        let Role::Leader(leader) = &replica.role else {
            return reject(ErrorCode::NotLeaderOrFollower);
        };
        if let Err(error) = Self::check_epoch(replica, request.current_leader_epoch) {
            return reject(error);
        }
        if (request.batch.len() as u64) > crate::batch::BATCH_BYTES_MAX {
            return reject(ErrorCode::MessageTooLarge);
        }
        let batch = match RecordBatch::decode(&request.batch) {
            Ok(batch) => batch,
            Err(_) => return reject(ErrorCode::CorruptMessage),
        };
        if (leader.isr.len() as u32) < self.config.min_insync_replicas {
            return reject(ErrorCode::NotEnoughReplicas);
        }
        if self.pending_produces.len() >= PENDING_PRODUCES_MAX {
            return reject(ErrorCode::RequestTimedOut);
        }
        let epoch = replica.leader_epoch;
        let producer_id = batch.producer_id;
        let producer_epoch = batch.producer_epoch;
        let outcome = match replica.log.append_as_leader(batch, epoch, now_ms as i64) {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::debug!(broker = self.config.broker_id, %partition, %error, "produce refused");
                return reject(error_code(&error));
            }
        };
        if producer_id >= 0 {
            let appended = matches!(outcome, AppendOutcome::Appended { .. });
            note_producer_append(
                &mut self.producer_activity,
                &partition,
                producer_id,
                producer_epoch,
                appended,
                now_ms,
            );
        }
        let (base_offset, last_offset) = match outcome {
            AppendOutcome::Appended {
                base_offset,
                last_offset,
            } => (base_offset, last_offset),
            AppendOutcome::Duplicate {
                base_offset,
                last_offset,
            } => (base_offset, last_offset),
        };
        if replica.high_watermark > last_offset {
            return Some(ProduceResponse {
                result: Ok(base_offset),
                log_start_offset,
            });
        }
        self.pending_produces.push(PendingProduce {
            to: from,
            correlation_id,
            partition: partition.clone(),
            leader_epoch: epoch,
            base_offset,
            last_offset,
            deadline_ms: now_ms + request.timeout_ms,
        });
        self.advance_high_watermark(now_ms, &partition);
        None
    }

    fn fetch(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        correlation_id: u64,
        request: FetchRequest,
        read_delay_ms: u64,
    ) -> Option<FetchResponse> {
        let me = self.config.broker_id;
        let partition = request.partition.clone();
        let Some(replica) = self.replicas.get_mut(&partition) else {
            let known = self.metadata.partition(&partition).is_some();
            return Some(fetch_error(
                if known {
                    ErrorCode::NotLeaderOrFollower
                } else {
                    ErrorCode::UnknownTopicOrPartition
                },
                0,
                0,
                0,
            ));
        };
        let high_watermark = replica.high_watermark;
        let log_start = replica.log.log_start_offset();
        let log_end = replica.log.log_end_offset();
        let epoch = replica.leader_epoch;
        let error = |code| Some(fetch_error(code, high_watermark, log_start, epoch));
        if let Err(code) = Self::check_epoch(replica, request.current_leader_epoch) {
            return error(code);
        }
        if request.max_bytes == 0 || request.max_bytes > self.config.fetch_bytes_max {
            return error(ErrorCode::InvalidRequest {
                reason: format!(
                    "fetch size {} outside 1..={}",
                    request.max_bytes, self.config.fetch_bytes_max
                ),
            });
        }

        if let Some(follower) = request.replica_id {
            // A follower fetching from us, the leader.
            let Role::Leader(leader) = &mut replica.role else {
                return error(ErrorCode::NotLeaderOrFollower);
            };
            let Some(progress) = leader.followers.get_mut(&follower) else {
                return error(ErrorCode::NotLeaderOrFollower);
            };
            if request.offset < log_start || request.offset > log_end {
                return error(ErrorCode::OffsetOutOfRange);
            }
            if request.offset >= progress.leader_end_at_last_fetch {
                progress.last_caught_up_ms = progress.last_fetch_ms;
            }
            if request.offset >= log_end {
                progress.last_caught_up_ms = now_ms;
            }
            tracing::trace!(
                broker = me,
                %partition,
                follower,
                offset = request.offset,
                log_end,
                high_watermark,
                "follower fetch"
            );
            progress.last_fetch_ms = now_ms;
            progress.leader_end_at_last_fetch = log_end;
            progress.log_end = request.offset;
            if let Some(follower_start) = request.replica_log_start_offset {
                progress.log_start = follower_start;
            }
            let max_bytes = request.max_bytes.min(self.config.replica_fetch_bytes_max);
            let result = match replica.log.read(request.offset, max_bytes) {
                Ok(read) => Ok(encode_batches(read, u64::MAX)),
                Err(read_error) => Err(error_code(&read_error)),
            };
            self.maybe_expand_isr(now_ms, &partition, follower);
            self.advance_high_watermark(now_ms, &partition);
            let replica = &self.replicas[&partition];
            return Some(FetchResponse {
                result,
                high_watermark: replica.high_watermark,
                log_start_offset: replica.log.log_start_offset(),
                leader_epoch: replica.leader_epoch,
                preferred_read_replica: None,
            });
        }

        // A consumer.
        match &replica.role {
            Role::Leader(leader) => {
                // Beyond the log end is out of range; between the high watermark and the log
                // end there is simply nothing committed to read yet (answered empty below).
                if request.offset > log_end {
                    return error(ErrorCode::OffsetOutOfRange);
                }
                if request.offset >= log_start {
                    if let Some(rack) = &request.rack {
                        if let Some(preferred) =
                            preferred_read_replica(leader, rack, request.offset, me)
                        {
                            self.observe(Observation::PreferredReplicaChosen {
                                partition: partition.clone(),
                                leader: me,
                                replica: preferred,
                            });
                            return Some(FetchResponse {
                                result: Ok(Vec::new()),
                                high_watermark,
                                log_start_offset: log_start,
                                leader_epoch: epoch,
                                preferred_read_replica: Some(preferred),
                            });
                        }
                    }
                }
            }
            Role::Follower(follower) => {
                // KIP-392: serve a consumer from a follower.
                if request.offset < log_start {
                    return error(ErrorCode::OffsetOutOfRange);
                }
                if request.offset > high_watermark {
                    // Behind: we hold it uncommitted, or the leader has committed it and we
                    // have not caught up. Beyond both: out of range (the consumer must go
                    // back to the leader, KIP-392 case 4).
                    let known_end = log_end.max(follower.leader_high_watermark);
                    return error(if request.offset <= known_end {
                        ErrorCode::OffsetNotAvailable
                    } else {
                        ErrorCode::OffsetOutOfRange
                    });
                }
            }
        }
        if request.offset >= high_watermark {
            // Nothing new yet.
            return Some(FetchResponse {
                result: Ok(Vec::new()),
                high_watermark,
                log_start_offset: log_start,
                leader_epoch: epoch,
                preferred_read_replica: None,
            });
        }
        match replica.log.plan_read(request.offset, request.max_bytes) {
            Err(read_error) => {
                let code = error_code(&read_error);
                self.note_evicted(&partition, request.offset, &code);
                error(code)
            }
            Ok(plan) => {
                if read_delay_ms == 0 {
                    Some(self.execute_read(&partition, request.offset, plan))
                } else {
                    self.pending_reads.push_back(PendingRead {
                        to: from,
                        correlation_id,
                        request,
                        plan,
                        execute_at_ms: now_ms + read_delay_ms,
                    });
                    None
                }
            }
        }
    }

    fn note_evicted(&mut self, partition: &TopicPartition, offset: u64, code: &ErrorCode) {
        if let ErrorCode::OffsetEvicted { next_available } = code {
            self.observe(Observation::EvictedOffsetRequested {
                partition: partition.clone(),
                broker: self.config.broker_id,
                offset,
                next_available: *next_available,
            });
        }
    }

    /// Reads a planned fetch, limited to the high watermark *now*.
    fn execute_read(
        &mut self,
        partition: &TopicPartition,
        offset: u64,
        plan: ReadPlan,
    ) -> FetchResponse {
        let Some(replica) = self.replicas.get_mut(partition) else {
            return fetch_error(ErrorCode::NotLeaderOrFollower, 0, 0, 0);
        };
        let high_watermark = replica.high_watermark;
        let log_start = replica.log.log_start_offset();
        let epoch = replica.leader_epoch;
        let result = match replica.log.execute_read(&plan) {
            Ok(read) => Ok(encode_batches(read, high_watermark)),
            Err(read_error) => Err(error_code(&read_error)),
        };
        if let Err(code) = &result {
            self.note_evicted(partition, offset, &code.clone());
        }
        FetchResponse {
            result,
            high_watermark,
            log_start_offset: log_start,
            leader_epoch: epoch,
            preferred_read_replica: None,
        }
    }

    fn execute_due_reads(&mut self, now_ms: u64) {
        while self
            .pending_reads
            .front()
            .is_some_and(|read| read.execute_at_ms <= now_ms)
        {
            let read = self.pending_reads.pop_front().expect("checked");
            let response =
                self.execute_read(&read.request.partition, read.request.offset, read.plan);
            self.respond(read.to, read.correlation_id, Response::Fetch(response));
        }
    }

    fn list_offsets(&mut self, request: ListOffsetsRequest) -> ListOffsetsResponse {
        let Some(replica) = self.replicas.get(&request.partition) else {
            let known = self.metadata.partition(&request.partition).is_some();
            return ListOffsetsResponse {
                result: Err(if known {
                    ErrorCode::NotLeaderOrFollower
                } else {
                    ErrorCode::UnknownTopicOrPartition
                }),
            };
        };
        if !replica.is_leader() {
            return ListOffsetsResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            };
        }
        if let Err(error) = Self::check_epoch(replica, request.current_leader_epoch) {
            return ListOffsetsResponse { result: Err(error) };
        }
        ListOffsetsResponse {
            result: Ok(match request.spec {
                OffsetSpec::Earliest => replica.log.log_start_offset(),
                OffsetSpec::Latest => replica.high_watermark,
                OffsetSpec::LogEnd => replica.log.log_end_offset(),
            }),
        }
    }

    fn offset_for_leader_epoch(
        &mut self,
        request: OffsetForLeaderEpochRequest,
    ) -> OffsetForLeaderEpochResponse {
        let Some(replica) = self.replicas.get(&request.partition) else {
            return OffsetForLeaderEpochResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            };
        };
        if !replica.is_leader() {
            return OffsetForLeaderEpochResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            };
        }
        if let Err(error) = Self::check_epoch(replica, Some(request.current_leader_epoch)) {
            return OffsetForLeaderEpochResponse { result: Err(error) };
        }
        let log_end = replica.log.log_end_offset();
        let result = match replica.epochs.end_offset_for(request.leader_epoch, log_end) {
            Some(found) => found,
            // Everything we know is newer than the asker's history: it diverged from us below
            // our log start; it must start over there.
            None => (request.leader_epoch, replica.log.log_start_offset()),
        };
        OffsetForLeaderEpochResponse { result: Ok(result) }
    }

    // ---- leader duties ----------------------------------------------------------------------

    fn advance_high_watermark(&mut self, now_ms: u64, partition: &TopicPartition) {
        let me = self.config.broker_id;
        let hw_before_isr = self.config.bugs.is_on(BrokerBug::HwBeforeIsr);
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        let Role::Leader(leader) = &replica.role else {
            return;
        };
        let log_end = replica.log.log_end_offset();
        let candidate = if hw_before_isr {
            // Historical bug: the leader counts an append as committed at once.
            log_end
        } else {
            leader
                .maximal_isr()
                .iter()
                .filter(|&&b| b != me)
                .map(|b| leader.followers.get(b).map_or(0, |p| p.log_end))
                .fold(log_end, u64::min)
        };
        if candidate > replica.high_watermark {
            replica.high_watermark = candidate;
            replica.check_invariants(me);
            let offset = candidate;
            self.observe(Observation::HighWatermark {
                partition: partition.clone(),
                broker: me,
                offset,
            });
            self.complete_produces(partition);
        }
        let _ = now_ms;
    }

    fn complete_produces(&mut self, partition: &TopicPartition) {
        let Some(replica) = self.replicas.get(partition) else {
            return;
        };
        let high_watermark = replica.high_watermark;
        let epoch = replica.leader_epoch;
        let log_start = replica.log.log_start_offset();
        let (done, waiting): (Vec<PendingProduce>, Vec<PendingProduce>) =
            std::mem::take(&mut self.pending_produces)
                .into_iter()
                .partition(|p| {
                    &p.partition == partition
                        && p.leader_epoch == epoch
                        && p.last_offset < high_watermark
                });
        self.pending_produces = waiting;
        for produce in done {
            self.respond(
                produce.to,
                produce.correlation_id,
                Response::Produce(ProduceResponse {
                    result: Ok(produce.base_offset),
                    log_start_offset: log_start,
                }),
            );
        }
    }

    fn fail_pending_produces(&mut self, partition: &TopicPartition, error: ErrorCode) {
        let (failed, waiting): (Vec<PendingProduce>, Vec<PendingProduce>) =
            std::mem::take(&mut self.pending_produces)
                .into_iter()
                .partition(|p| &p.partition == partition);
        self.pending_produces = waiting;
        for produce in failed {
            self.respond(
                produce.to,
                produce.correlation_id,
                Response::Produce(ProduceResponse {
                    result: Err(error.clone()),
                    log_start_offset: 0,
                }),
            );
        }
    }

    fn expire_produces(&mut self, now_ms: u64) {
        let (expired, waiting): (Vec<PendingProduce>, Vec<PendingProduce>) =
            std::mem::take(&mut self.pending_produces)
                .into_iter()
                .partition(|p| now_ms >= p.deadline_ms);
        self.pending_produces = waiting;
        if !expired.is_empty() {
            tracing::debug!(
                broker = self.config.broker_id,
                count = expired.len(),
                "produce requests timed out waiting for the ISR"
            );
        }
        for produce in expired {
            self.respond(
                produce.to,
                produce.correlation_id,
                Response::Produce(ProduceResponse {
                    result: Err(ErrorCode::RequestTimedOut),
                    log_start_offset: 0,
                }),
            );
        }
    }

    fn propose_isr(&mut self, now_ms: u64, partition: &TopicPartition, new_isr: Vec<BrokerId>) {
        let me = self.config.broker_id;
        let Some(replica) = self.replicas.get(partition) else {
            return;
        };
        let request = Request::AlterPartition(AlterPartitionRequest {
            broker: me,
            partition: partition.clone(),
            leader_epoch: replica.leader_epoch,
            partition_epoch: replica.partition_epoch,
            new_isr: new_isr.clone(),
        });
        tracing::debug!(broker = me, %partition, ?new_isr, "proposing an ISR change");
        let correlation_id = self.send_to_controller(
            now_ms,
            OutgoingKind::AlterPartition(partition.clone()),
            request,
        );
        if let Some(Role::Leader(leader)) = self.replicas.get_mut(partition).map(|r| &mut r.role) {
            leader.proposal = Some((new_isr, correlation_id));
        }
    }

    fn maybe_shrink_isr(&mut self, now_ms: u64, partition: &TopicPartition) {
        let me = self.config.broker_id;
        let lag_max = self.config.replica_lag_ms_max;
        let Some(replica) = self.replicas.get(partition) else {
            return;
        };
        let Role::Leader(leader) = &replica.role else {
            return;
        };
        if leader.proposal.is_some() {
            return;
        }
        let lagging: Vec<BrokerId> = leader
            .isr
            .iter()
            .filter(|&&b| b != me)
            .filter(|b| {
                leader
                    .followers
                    .get(b)
                    .is_none_or(|p| now_ms > p.last_caught_up_ms + lag_max)
            })
            .copied()
            .collect();
        if lagging.is_empty() {
            return;
        }
        let new_isr: Vec<BrokerId> = leader
            .isr
            .iter()
            .filter(|b| !lagging.contains(b))
            .copied()
            .collect();
        self.propose_isr(now_ms, partition, new_isr);
    }

    fn maybe_expand_isr(&mut self, now_ms: u64, partition: &TopicPartition, follower: BrokerId) {
        let Some(replica) = self.replicas.get(partition) else {
            return;
        };
        let Role::Leader(leader) = &replica.role else {
            return;
        };
        if leader.proposal.is_some() || leader.isr.contains(&follower) {
            return;
        }
        let Some(progress) = leader.followers.get(&follower) else {
            return;
        };
        // Caught up to the high watermark and into this leader's epoch.
        let epoch_start = replica
            .epochs
            .entries()
            .last()
            .map_or(0, |&(_, start)| start);
        if progress.log_end >= replica.high_watermark && progress.log_end >= epoch_start {
            let mut new_isr = leader.isr.clone();
            new_isr.push(follower);
            new_isr.sort_unstable();
            self.propose_isr(now_ms, partition, new_isr);
        }
    }

    // ---- follower duties --------------------------------------------------------------------

    fn send_follower_request(&mut self, now_ms: u64, partition: &TopicPartition) {
        let me = self.config.broker_id;
        let Some(replica) = self.replicas.get(partition) else {
            return;
        };
        let Role::Follower(follower) = &replica.role else {
            return;
        };
        let Some(leader) = follower.leader else {
            return;
        };
        let Some(addr) = self.metadata.broker_addr(leader) else {
            return;
        };
        let epoch = replica.leader_epoch;
        let (kind, request) = match follower.phase {
            FollowerPhase::NeedsEpochCheck => {
                let latest = replica.epochs.latest_epoch();
                match latest {
                    None => {
                        // An empty history: nothing can diverge.
                        if let Some(Role::Follower(f)) =
                            self.replicas.get_mut(partition).map(|r| &mut r.role)
                        {
                            f.phase = FollowerPhase::Fetching;
                        }
                        return self.send_follower_request(now_ms, partition);
                    }
                    Some(latest) => (
                        OutgoingKind::EpochCheck(partition.clone(), epoch),
                        Request::OffsetForLeaderEpoch(OffsetForLeaderEpochRequest {
                            partition: partition.clone(),
                            leader_epoch: latest,
                            current_leader_epoch: epoch,
                            replica_id: me,
                        }),
                    ),
                }
            }
            FollowerPhase::Fetching => (
                OutgoingKind::ReplicaFetch(partition.clone(), epoch),
                Request::Fetch(FetchRequest {
                    partition: partition.clone(),
                    offset: replica.log.log_end_offset(),
                    max_bytes: self.config.replica_fetch_bytes_max,
                    replica_id: Some(me),
                    current_leader_epoch: Some(epoch),
                    replica_log_start_offset: Some(replica.log.log_start_offset()),
                    rack: None,
                    max_wait_ms: self.config.replica_fetch_max_wait_ms,
                }),
            ),
        };
        let correlation_id = self.send_to_broker(now_ms, addr, kind, request);
        if let Some(Role::Follower(f)) = self.replicas.get_mut(partition).map(|r| &mut r.role) {
            f.in_flight = Some(correlation_id);
        }
    }

    fn truncate_replica(&mut self, partition: &TopicPartition, offset: u64) {
        let me = self.config.broker_id;
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        let from = replica.log.log_end_offset();
        if offset >= from {
            return;
        }
        if let Err(error) = replica.log.truncate_to(offset) {
            tracing::warn!(broker = me, %partition, %error, "truncation failed");
            return;
        }
        let to = replica.log.log_end_offset();
        replica.epochs.truncate_from(to);
        replica.high_watermark = replica.high_watermark.min(to);
        replica.check_invariants(me);
        self.observe(Observation::FollowerTruncated {
            partition: partition.clone(),
            broker: me,
            from,
            to,
        });
    }

    fn restart_log_at(&mut self, partition: &TopicPartition, offset: u64) {
        let me = self.config.broker_id;
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        let from = replica.log.log_end_offset();
        if let Err(error) = replica.log.truncate_fully_and_start_at(offset) {
            tracing::warn!(broker = me, %partition, %error, "log reset failed");
            return;
        }
        replica.epochs.clear();
        replica.high_watermark = offset;
        replica.check_invariants(me);
        self.observe(Observation::FollowerTruncated {
            partition: partition.clone(),
            broker: me,
            from,
            to: offset,
        });
        self.observe(Observation::LogStartAdvanced {
            partition: partition.clone(),
            broker: me,
            offset,
            leader: false,
        });
    }

    fn on_epoch_check_response(
        &mut self,
        now_ms: u64,
        partition: &TopicPartition,
        epoch: u32,
        response: OffsetForLeaderEpochResponse,
    ) {
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        if replica.leader_epoch != epoch {
            return;
        }
        let Role::Follower(follower) = &mut replica.role else {
            return;
        };
        follower.in_flight = None;
        match response.result {
            Ok((leader_epoch, end_offset)) => {
                let log_end = replica.log.log_end_offset();
                let own_end = replica.epochs.end_offset_for(leader_epoch, log_end).map_or(
                    log_end,
                    |(found, end)| if found == leader_epoch { end } else { log_end },
                );
                let truncate_at = end_offset.min(own_end).min(log_end);
                follower.phase = FollowerPhase::Fetching;
                follower.next_fetch_ms = now_ms;
                if truncate_at < replica.log.log_start_offset() {
                    self.restart_log_at(partition, end_offset);
                } else {
                    self.truncate_replica(partition, truncate_at);
                }
            }
            Err(error) => {
                tracing::debug!(broker = self.config.broker_id, %partition, %error, "epoch check refused");
                follower.next_fetch_ms = now_ms + self.config.replica_fetch_wait_ms;
            }
        }
    }

    fn send_log_end_query(&mut self, now_ms: u64, partition: &TopicPartition) {
        let Some(replica) = self.replicas.get(partition) else {
            return;
        };
        let Role::Follower(follower) = &replica.role else {
            return;
        };
        let Some(addr) = follower
            .leader
            .and_then(|leader| self.metadata.broker_addr(leader))
        else {
            return;
        };
        let epoch = replica.leader_epoch;
        let request = Request::ListOffsets(ListOffsetsRequest {
            partition: partition.clone(),
            spec: OffsetSpec::LogEnd,
            current_leader_epoch: Some(epoch),
        });
        let correlation_id = self.send_to_broker(
            now_ms,
            addr,
            OutgoingKind::LogEndQuery(partition.clone(), epoch),
            request,
        );
        if let Some(Role::Follower(f)) = self.replicas.get_mut(partition).map(|r| &mut r.role) {
            f.phase = FollowerPhase::Fetching;
            f.in_flight = Some(correlation_id);
        }
    }

    fn on_log_end_response(
        &mut self,
        now_ms: u64,
        partition: &TopicPartition,
        epoch: u32,
        response: ListOffsetsResponse,
    ) {
        let wait_ms = self.config.replica_fetch_wait_ms;
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        if replica.leader_epoch != epoch {
            return;
        }
        let Role::Follower(follower) = &mut replica.role else {
            return;
        };
        follower.in_flight = None;
        match response.result {
            Ok(leader_end) => {
                follower.next_fetch_ms = now_ms;
                self.truncate_replica(partition, leader_end);
            }
            Err(_) => follower.next_fetch_ms = now_ms + wait_ms,
        }
    }

    fn on_replica_fetch_response(
        &mut self,
        now_ms: u64,
        partition: &TopicPartition,
        epoch: u32,
        response: FetchResponse,
    ) {
        let me = self.config.broker_id;
        let wait_ms = self.config.replica_fetch_wait_ms;
        let sync_each_append = self.config.log.sync_each_append;
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        if replica.leader_epoch != epoch {
            return;
        }
        let Role::Follower(follower) = &mut replica.role else {
            return;
        };
        follower.in_flight = None;
        follower.leader_high_watermark = response.high_watermark;
        match response.result {
            Ok(batches) => {
                let decoded: Result<Vec<RecordBatch>, _> = batches
                    .iter()
                    .map(|bytes| RecordBatch::decode(bytes))
                    .collect();
                let Ok(batches) = decoded else {
                    tracing::warn!(broker = me, %partition, "corrupt batch from the leader");
                    follower.next_fetch_ms = now_ms + wait_ms;
                    return;
                };
                // The leader answers from the batch holding our offset; skip what we have.
                let log_end = replica.log.log_end_offset();
                let batches: Vec<RecordBatch> = batches
                    .into_iter()
                    .filter(|batch| batch.base_offset >= log_end)
                    .collect();
                let got_data = !batches.is_empty();
                if got_data {
                    if let Err(error) = replica.log.append_replicated(&batches, now_ms as i64) {
                        tracing::warn!(broker = me, %partition, %error, "replicated append failed");
                        follower.next_fetch_ms = now_ms + wait_ms;
                        return;
                    }
                    if sync_each_append {
                        if let Err(error) = replica.log.sync() {
                            tracing::warn!(broker = me, %partition, %error, "sync failed");
                        }
                    }
                    for batch in &batches {
                        replica
                            .epochs
                            .assign(batch.partition_leader_epoch, batch.base_offset);
                        if batch.producer_id >= 0 {
                            note_producer_append(
                                &mut self.producer_activity,
                                partition,
                                batch.producer_id,
                                batch.producer_epoch,
                                true,
                                now_ms,
                            );
                        }
                    }
                }
                // An empty answer already waited at the leader (long poll): ask again at once.
                follower.next_fetch_ms = now_ms;
                let log_end = replica.log.log_end_offset();
                replica.high_watermark = replica
                    .high_watermark
                    .max(response.high_watermark.min(log_end));
                // Follow the leader's log start (Kafka's maybeIncrementLogStartOffset).
                if response.log_start_offset > replica.log.log_start_offset() {
                    let target = response.log_start_offset.min(replica.high_watermark);
                    if target > replica.log.log_start_offset() {
                        match replica.log.advance_log_start(target) {
                            Ok(outcome) => {
                                let expired = outcome.producers_expired;
                                let offset = replica.log.log_start_offset();
                                replica.epochs.truncate_before(offset);
                                let partition = partition.clone();
                                self.observe(Observation::LogStartAdvanced {
                                    partition: partition.clone(),
                                    broker: me,
                                    offset,
                                    leader: false,
                                });
                                for producer_id in expired {
                                    self.observe(Observation::ProducerExpired {
                                        partition: partition.clone(),
                                        broker: me,
                                        producer_id,
                                    });
                                }
                            }
                            Err(error) => {
                                tracing::warn!(broker = me, %partition, %error, "log start advance failed");
                            }
                        }
                    }
                }
                if let Some(replica) = self.replicas.get(partition) {
                    replica.check_invariants(me);
                }
            }
            Err(ErrorCode::OffsetOutOfRange) => {
                let log_end = replica.log.log_end_offset();
                if log_end < response.log_start_offset {
                    // We fell behind the leader's retention: start over at its log start.
                    follower.next_fetch_ms = now_ms;
                    self.restart_log_at(partition, response.log_start_offset);
                } else {
                    // We are ahead of the leader: find the divergence again.
                    follower.phase = FollowerPhase::NeedsEpochCheck;
                    follower.next_fetch_ms = now_ms;
                    if self.config.bugs.is_on(BrokerBug::NoFollowerTruncation) {
                        // Historical bug (pre-KIP-101): no epoch check; ask the leader for its
                        // log end and cut only what lies beyond it, keeping any divergent
                        // records below.
                        self.send_log_end_query(now_ms, partition);
                    }
                }
            }
            Err(error) => {
                tracing::debug!(broker = me, %partition, %error, "replica fetch refused");
                follower.next_fetch_ms = now_ms + wait_ms;
            }
        }
    }

    // ---- responses to our own requests ----------------------------------------------------

    /// A response to a request this broker sent (heartbeat, ISR change, follower fetch, epoch
    /// check). Unknown or late correlation ids are ignored.
    pub fn on_response(&mut self, now_ms: u64, correlation_id: u64, response: Response) {
        let Some(outgoing) = self.outgoing.remove(&correlation_id) else {
            return;
        };
        match (outgoing.kind, response) {
            (OutgoingKind::Heartbeat, Response::Heartbeat(response)) => {
                if let Some(metadata) = response.metadata {
                    self.apply_metadata(now_ms, metadata);
                }
            }
            (OutgoingKind::AlterPartition(partition), Response::AlterPartition(response)) => {
                let Some(replica) = self.replicas.get_mut(&partition) else {
                    return;
                };
                let Role::Leader(leader) = &mut replica.role else {
                    return;
                };
                if leader.proposal.as_ref().map(|(_, id)| *id) != Some(correlation_id) {
                    return;
                }
                leader.proposal = None;
                tracing::debug!(%partition, result = ?response.result, "ISR change answered");
                if let Ok(state) = response.result {
                    if state.leader_epoch == replica.leader_epoch {
                        leader.isr = state.isr;
                        replica.partition_epoch = state.partition_epoch;
                    }
                }
                self.advance_high_watermark(now_ms, &partition);
            }
            (OutgoingKind::ReplicaFetch(partition, epoch), Response::Fetch(response)) => {
                self.on_replica_fetch_response(now_ms, &partition, epoch, response);
            }
            (OutgoingKind::LogEndQuery(partition, epoch), Response::ListOffsets(response)) => {
                self.on_log_end_response(now_ms, &partition, epoch, response);
            }
            (
                OutgoingKind::EpochCheck(partition, epoch),
                Response::OffsetForLeaderEpoch(response),
            ) => {
                self.on_epoch_check_response(now_ms, &partition, epoch, response);
            }
            (kind, response) => {
                tracing::warn!(?kind, ?response, "response does not match its request");
            }
        }
        self.after_event(now_ms);
    }

    // ---- faults -----------------------------------------------------------------------------

    pub fn on_admin(&mut self, now_ms: u64, command: AdminCommand) {
        let me = self.config.broker_id;
        match command {
            AdminCommand::ForceRetention {
                partition,
                offset,
                min_age_ms,
            } => {
                let Some(replica) = self.replicas.get_mut(&partition) else {
                    return;
                };
                let cutoff_ms = now_ms.saturating_sub(min_age_ms) as i64;
                let old_enough = replica
                    .log
                    .segments()
                    .iter()
                    .find(|segment| segment.max_timestamp_ms.is_some_and(|ts| ts > cutoff_ms))
                    .map_or(replica.log.log_end_offset(), |segment| segment.base_offset);
                let target = offset.min(replica.high_watermark).min(old_enough);
                if target <= replica.log.log_start_offset() {
                    return;
                }
                match replica.log.advance_log_start(target) {
                    Ok(outcome) => {
                        let expired = outcome.producers_expired;
                        let offset = replica.log.log_start_offset();
                        replica.epochs.truncate_before(offset);
                        let leader = replica.is_leader();
                        replica.check_invariants(me);
                        self.observe(Observation::LogStartAdvanced {
                            partition: partition.clone(),
                            broker: me,
                            offset,
                            leader,
                        });
                        for producer_id in expired {
                            self.observe(Observation::ProducerExpired {
                                partition: partition.clone(),
                                broker: me,
                                producer_id,
                            });
                        }
                    }
                    Err(error) => {
                        tracing::warn!(broker = me, %partition, %error, "forced retention failed")
                    }
                }
            }
            AdminCommand::ExpireProducers { partition, idle_ms } => {
                let Some(replica) = self.replicas.get_mut(&partition) else {
                    return;
                };
                let activity = &self.producer_activity;
                let producer_ids: Vec<i64> = replica
                    .log
                    .producer_state()
                    .producers()
                    .map(|(id, _)| id)
                    .filter(|id| match activity.get(&(partition.clone(), *id)) {
                        // Not seen appending since this broker started: idle.
                        None => true,
                        Some(activity) => {
                            now_ms >= activity.last_append_ms + idle_ms
                                && activity.batches_in_epoch > PRODUCER_BATCHES_CACHED as u64
                        }
                    })
                    .collect();
                let expired: Vec<i64> = producer_ids
                    .into_iter()
                    .filter(|&id| replica.log.expire_producer(id))
                    .collect();
                for producer_id in expired {
                    self.observe(Observation::ProducerExpired {
                        partition: partition.clone(),
                        broker: me,
                        producer_id,
                    });
                }
            }
        }
    }
}

/// What a broker saw of one producer on one partition (for forced expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProducerActivity {
    last_append_ms: u64,
    epoch: i16,
    /// Batches appended in `epoch` (duplicates not counted).
    batches_in_epoch: u64,
}

/// Forced expiry spares a producer while the first batch of its epoch may still be unanswered:
/// a producer has at most this many batches in flight, so once more than this many of the
/// epoch are in the log, the first one was answered (or given up, which bumps the epoch).
/// Forgetting the producer before that would let a retry of that first batch (sequence 0) be
/// taken for a new producer's first batch and written twice — KIP-360's unavoidable case, not a
/// client bug.
const PRODUCER_BATCHES_CACHED: usize = crate::producer_state::PRODUCER_BATCHES_CACHED;

fn note_producer_append(
    activity: &mut BTreeMap<(TopicPartition, i64), ProducerActivity>,
    partition: &TopicPartition,
    producer_id: i64,
    producer_epoch: i16,
    appended: bool,
    now_ms: u64,
) {
    let entry = activity
        .entry((partition.clone(), producer_id))
        .or_insert(ProducerActivity {
            last_append_ms: now_ms,
            epoch: producer_epoch,
            batches_in_epoch: 0,
        });
    entry.last_append_ms = now_ms;
    if producer_epoch != entry.epoch {
        entry.epoch = producer_epoch;
        entry.batches_in_epoch = 0;
    }
    if appended {
        entry.batches_in_epoch += 1;
    }
}

/// One replica as a status display sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    pub partition: TopicPartition,
    pub leader: bool,
    pub leader_epoch: u32,
    pub log_start_offset: u64,
    pub high_watermark: u64,
    pub log_end_offset: u64,
    /// The ISR, when this replica leads.
    pub isr: Vec<BrokerId>,
}

/// KIP-392 with KAFKA-14372: an in-sync follower on the consumer's rack that holds the offset.
fn preferred_read_replica(
    leader: &LeaderState,
    rack: &str,
    offset: u64,
    me: BrokerId,
) -> Option<BrokerId> {
    leader
        .isr
        .iter()
        .filter(|&&b| b != me)
        .filter(|b| format!("rack-{b}") == rack)
        .find(|b| {
            leader
                .followers
                .get(b)
                .is_some_and(|p| p.log_start <= offset && offset <= p.log_end)
        })
        .copied()
}

fn rebuild_epoch_cache<S: Storage + Clone>(log: &Log<S>) -> EpochCache {
    let mut cache = EpochCache::new();
    for start in log.leader_epoch_starts() {
        cache.assign(start.leader_epoch, start.start_offset);
    }
    cache
}

fn fetch_error(
    code: ErrorCode,
    high_watermark: u64,
    log_start_offset: u64,
    leader_epoch: u32,
) -> FetchResponse {
    FetchResponse {
        result: Err(code),
        high_watermark,
        log_start_offset,
        leader_epoch,
        preferred_read_replica: None,
    }
}

/// The API answer for a log error. Storage failures are `KafkaStorageError`; only the
/// `stale-segment-read` bug produces `Internal`, answered as `unknown_server_error`.
fn error_code(error: &LogError) -> ErrorCode {
    use crate::producer_state::ProducerStateError;
    match error {
        LogError::OffsetEvicted { next_available, .. } => ErrorCode::OffsetEvicted {
            next_available: *next_available,
        },
        LogError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        LogError::InvalidBatch(crate::batch::BatchError::BatchTooLarge { .. })
        | LogError::InvalidBatch(crate::batch::BatchError::TooManyRecords { .. }) => {
            ErrorCode::MessageTooLarge
        }
        LogError::InvalidBatch(_) => ErrorCode::CorruptMessage,
        LogError::Producer(ProducerStateError::OutOfOrderSequence { .. }) => {
            ErrorCode::OutOfOrderSequence
        }
        LogError::Producer(ProducerStateError::InvalidProducerEpoch { .. }) => {
            ErrorCode::InvalidProducerEpoch
        }
        LogError::Producer(ProducerStateError::UnknownProducerId { .. }) => {
            ErrorCode::UnknownProducerId
        }
        LogError::NonContiguous { .. } | LogError::LogStartBeyondEnd { .. } => {
            ErrorCode::InvalidRequest {
                reason: error.to_string(),
            }
        }
        LogError::Internal { .. } => ErrorCode::UnknownServerError {
            detail: error.to_string(),
        },
        LogError::InvalidConfig { .. } => ErrorCode::UnknownServerError {
            detail: error.to_string(),
        },
        LogError::Storage(_)
        | LogError::NotDurable { .. }
        | LogError::CorruptSegment { .. }
        | LogError::Offline { .. } => ErrorCode::KafkaStorageError,
    }
}

/// Encodes the batches of a read for the wire, keeping those that start below `end_offset`.
fn encode_batches(read: ReadResult, end_offset: u64) -> Vec<Bytes> {
    read.batches
        .into_iter()
        .filter(|batch| batch.base_offset < end_offset)
        .map(|batch| batch.encode())
        .collect()
}
