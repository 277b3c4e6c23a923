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
//!   passes the batch (acks=1 once the leader appended it; acks=0 never);
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
//! Two decisions are policies of [`BrokerConfig`] (see [`crate::policy`]), the correct
//! behaviour by default: how far the high watermark moves ([`HighWatermarkPolicy`], in
//! `leader`) and how a follower finds its divergence ([`TruncationPolicy`], in `follower`).
//!
//! Where things live (each file adds its own `impl BrokerCore` block):
//! - this file — configuration, the public types ([`Output`], [`Observation`], [`AdminCommand`],
//!   [`ReplicaStatus`]), the replica and outgoing-request state, and the entry points that
//!   dispatch every input: [`BrokerCore::on_tick`], [`BrokerCore::on_request`],
//!   [`BrokerCore::on_response`], [`BrokerCore::next_deadline_ms`];
//! - `leader` — the leader role: the high watermark over the maximal ISR, ISR shrink and
//!   expand, answering a follower's `OffsetForLeaderEpoch`;
//! - `follower` — the follower role: fetching from the leader, the epoch check and truncation;
//! - `fetch` — serving fetches (consumers, followers, fetch-from-follower), delayed reads, held
//!   long-poll fetches, `ListOffsets`;
//! - `produce` — the produce path and produces waiting for the high watermark;
//! - `admin` — metadata updates (opening replicas, becoming leader or follower), retention, and
//!   the faults a scenario injects ([`BrokerCore::on_admin`]).

mod admin;
mod fetch;
mod follower;
mod interface;
mod leader;
mod produce;

use crate::api::*;
use crate::epoch_cache::EpochCache;
use crate::log::{Log, LogConfig, LogError, SyncPolicy};
use crate::policy::{ConsumerFetchRangePolicy, HighWatermarkPolicy, TruncationPolicy};
use crate::storage::Storage;
pub use fetch::UNPUBLISHED_APPEND_MS;
use fetch::{ParkedFetch, PendingRead, UnpublishedAppend};
use follower::FollowerState;
use leader::LeaderState;
use produce::{PendingProduce, ProducerActivity};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

/// How many of a broker's outgoing requests may be outstanding at once.
const OUTSTANDING_REQUESTS_MAX: usize = 10_000;

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
    /// How far a leader moves the high watermark.
    pub high_watermark_policy: HighWatermarkPolicy,
    /// How a follower finds where its log diverged from the leader's.
    pub truncation_policy: TruncationPolicy,
    /// Which log end a leader checks a consumer's fetch offset against.
    pub consumer_fetch_range_policy: ConsumerFetchRangePolicy,
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
            high_watermark_policy: HighWatermarkPolicy::default(),
            truncation_policy: TruncationPolicy::default(),
            consumer_fetch_range_policy: ConsumerFetchRangePolicy::default(),
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
    /// This broker took office as the leader of a partition (it learned of its election).
    BecameLeader {
        partition: TopicPartition,
        broker: BrokerId,
        leader_epoch: u32,
    },
    /// A leader appended a batch its high watermark does not cover yet: written here, not yet
    /// committed (a crash now tests what happens to it).
    Appended {
        partition: TopicPartition,
        broker: BrokerId,
        last_offset: u64,
        high_watermark: u64,
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
    /// [`PRODUCER_BATCHES_CACHED`](crate::producer_state::PRODUCER_BATCHES_CACHED)). A producer
    /// this broker has not seen append since it started counts as idle.
    ExpireProducers {
        partition: TopicPartition,
        idle_ms: u64,
    },
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
    /// The assigned replicas in the controller's order (its election order), when this replica
    /// leads.
    pub replicas: Vec<BrokerId>,
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
    /// Under [`ConsumerFetchRangePolicy::EndBeforeLatestAppend`]: the latest append whose end the
    /// consumer fetch check does not see yet (`fetch.rs`).
    unpublished_append: Option<UnpublishedAppend>,
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
    /// A follower's question to its leader before it truncates (see [`TruncationQuery`]).
    Truncation(TopicPartition, u32, TruncationQuery),
}

/// What a follower asks its leader to find where to truncate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TruncationQuery {
    /// `OffsetForLeaderEpoch` (KIP-101/KIP-279): where the follower's latest epoch ends.
    EpochEnd,
    /// `ListOffsets` for the log end; only under [`TruncationPolicy::LeaderLogEnd`].
    LeaderLogEnd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Outgoing {
    kind: OutgoingKind,
    sent_ms: u64,
}

/// The broker's state machine.
pub struct BrokerCore<S: Storage + Clone> {
    config: BrokerConfig,
    storage: S,
    addr: SocketAddr,
    /// Where [`Output::ToController`] requests go.
    controller_addr: SocketAddr,
    incarnation: u64,
    metadata: ClusterMetadata,
    replicas: BTreeMap<TopicPartition, Replica<S>>,
    outgoing: BTreeMap<u64, Outgoing>,
    next_correlation_id: u64,
    next_heartbeat_ms: u64,
    next_retention_ms: u64,
    /// When the logs are synced next, under [`SyncPolicy::Interval`].
    next_sync_ms: u64,
    pending_produces: Vec<PendingProduce>,
    pending_reads: VecDeque<PendingRead>,
    parked_fetches: Vec<ParkedFetch>,
    outputs: Vec<Output>,
    /// When each producer last appended to each partition here (for idle expiry).
    producer_activity: BTreeMap<(TopicPartition, i64), ProducerActivity>,
    /// The time of this incarnation's first tick: a producer it has not seen append is idle
    /// at most since then.
    started_ms: Option<u64>,
}

impl<S: Storage + Clone> BrokerCore<S> {
    /// A broker process at `addr` starting (or restarting: `incarnation` grows with each start),
    /// with its controller at `controller_addr`. Logs are opened — and recovered — when the
    /// controller's metadata assigns their partitions.
    pub fn new(
        storage: S,
        config: BrokerConfig,
        addr: SocketAddr,
        controller_addr: SocketAddr,
        incarnation: u64,
    ) -> Self {
        BrokerCore {
            config,
            storage,
            addr,
            controller_addr,
            incarnation,
            metadata: ClusterMetadata::default(),
            replicas: BTreeMap::new(),
            outgoing: BTreeMap::new(),
            next_correlation_id: 1,
            next_heartbeat_ms: 0,
            next_retention_ms: 0,
            next_sync_ms: 0,
            pending_produces: Vec::new(),
            pending_reads: VecDeque::new(),
            parked_fetches: Vec::new(),
            outputs: Vec::new(),
            producer_activity: BTreeMap::new(),
            started_ms: None,
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
        let mut status = Vec::new();
        self.write_replica_status(&mut status);
        status
    }

    /// [`BrokerCore::replica_status`] written over `out`, reusing its allocations: a shell publishes
    /// it after every tick, and the replicas rarely change (no partition name is copied again).
    pub fn write_replica_status(&self, out: &mut Vec<ReplicaStatus>) {
        out.truncate(self.replicas.len());
        for (index, replica) in self.replicas.values().enumerate() {
            let (isr, replicas): (&[BrokerId], &[BrokerId]) = match &replica.role {
                Role::Leader(leader) => (&leader.isr, &leader.replicas),
                Role::Follower(_) => (&[], &[]),
            };
            if index == out.len() {
                out.push(ReplicaStatus {
                    partition: replica.partition.clone(),
                    leader: false,
                    leader_epoch: 0,
                    log_start_offset: 0,
                    high_watermark: 0,
                    log_end_offset: 0,
                    isr: Vec::new(),
                    replicas: Vec::new(),
                });
            }
            // Every field, so that a new one cannot be forgotten here.
            let ReplicaStatus {
                partition,
                leader,
                leader_epoch,
                log_start_offset,
                high_watermark,
                log_end_offset,
                isr: isr_out,
                replicas: replicas_out,
            } = &mut out[index];
            if *partition != replica.partition {
                *partition = replica.partition.clone();
            }
            *leader = replica.is_leader();
            *leader_epoch = replica.leader_epoch;
            *log_start_offset = replica.log.log_start_offset();
            *high_watermark = replica.high_watermark;
            *log_end_offset = replica.log.log_end_offset();
            isr_out.clear();
            isr_out.extend_from_slice(isr);
            replicas_out.clear();
            replicas_out.extend_from_slice(replicas);
        }
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
        self.started_ms.get_or_insert(now_ms);
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

        if let SyncPolicy::Interval { ms } = self.config.log.sync {
            if now_ms >= self.next_sync_ms {
                self.next_sync_ms = now_ms + ms;
                self.sync_logs();
            }
        }

        let partitions: Vec<TopicPartition> = self.replicas.keys().cloned().collect();
        for partition in &partitions {
            self.tick_replica(now_ms, partition);
        }

        self.expire_produces(now_ms);
        self.execute_due_reads(now_ms);
        self.after_event(now_ms);
    }

    /// Syncs every log with unsynced appends (Kafka's log flusher, `flush.ms`). A failed sync is
    /// tried again at the next interval: until then the appends stay in the disk's cache, as
    /// under [`SyncPolicy::Never`].
    fn sync_logs(&mut self) {
        let broker_id = self.config.broker_id;
        for (partition, replica) in self.replicas.iter_mut() {
            if let Err(error) = replica.log.sync() {
                tracing::warn!(broker = broker_id, %partition, %error, "interval sync failed");
            }
        }
    }

    fn on_request_lost(&mut self, now_ms: u64, kind: OutgoingKind, correlation_id: u64) {
        match kind {
            OutgoingKind::Heartbeat => {}
            OutgoingKind::AlterPartition(partition) => {
                // The proposal may or may not have been applied: send it again as it was
                // (Kafka's pending ISR state); the controller's answer, or metadata with a
                // newer partition epoch, ends it. Until then the high watermark keeps waiting
                // for the maximal ISR.
                let lost = self
                    .replicas
                    .get(&partition)
                    .and_then(|replica| match &replica.role {
                        Role::Leader(leader) => leader
                            .proposal
                            .as_ref()
                            .filter(|(_, id)| *id == correlation_id)
                            .map(|(request, _)| request.clone()),
                        Role::Follower(_) => None,
                    });
                if let Some(request) = lost {
                    self.send_proposal(now_ms, request);
                }
            }
            OutgoingKind::ReplicaFetch(partition, _)
            | OutgoingKind::Truncation(partition, _, _) => {
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

    /// When the core next needs a tick (simulated ms): its earliest timer, and at least every
    /// heartbeat interval. Inputs (requests, responses) also wake it.
    pub fn next_deadline_ms(&self, now_ms: u64) -> u64 {
        let mut deadline = now_ms + self.config.heartbeat_interval_ms;
        let mut consider = |at: u64| deadline = deadline.min(at.max(now_ms + 1));
        consider(self.next_heartbeat_ms);
        consider(self.next_retention_ms);
        if let SyncPolicy::Interval { .. } = self.config.log.sync {
            consider(self.next_sync_ms);
        }
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
                let acks = request.acks;
                match self.produce(now_ms, from, correlation_id, request) {
                    Some(response) => Response::Produce(response),
                    // acks=0: never answered.
                    None if acks == Acks::None => {
                        self.after_event(now_ms);
                        return;
                    }
                    None => return, // waits for the high watermark
                }
            }
            Request::Fetch(request) => {
                match self.fetch_or_park(now_ms, from, correlation_id, request, read_delay_ms) {
                    Some(response) => Response::Fetch(response),
                    None => {
                        self.after_event(now_ms);
                        return; // held until data arrives (long poll), or the read is delayed
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
            Request::JoinGroup(request) => Response::JoinGroup(JoinGroupResponse {
                member_id: request.member_id,
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
            Request::SyncGroup(_) => Response::SyncGroup(SyncGroupResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
            Request::HeartbeatGroup(_) => Response::HeartbeatGroup(HeartbeatGroupResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
            Request::LeaveGroup(_) => Response::LeaveGroup(LeaveGroupResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
            Request::DescribeGroups(_) => Response::DescribeGroups(DescribeGroupsResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
            Request::ListGroups(_) => Response::ListGroups(ListGroupsResponse {
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

    // ---- responses to our own requests ------------------------------------------------------

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
                tracing::debug!(%partition, result = ?response.result, "ISR change answered");
                match response.result {
                    Ok(state) => {
                        leader.proposal = None;
                        if state.leader_epoch == replica.leader_epoch {
                            leader.isr = state.isr;
                            replica.partition_epoch = state.partition_epoch;
                        }
                    }
                    // The proposal may have been applied by an earlier copy whose answer was
                    // lost (then a newer leader epoch or partition epoch is all the controller
                    // can say): as Kafka's `handleAlterPartitionError`, the leader keeps the
                    // pending maximal ISR, proposes nothing more, and waits for metadata.
                    // Falling back to the last ISR it knew let it count an append as committed
                    // without a member the controller had added, which then led with less
                    // (swarm seed 9784: high-watermark-lost).
                    Err(
                        ErrorCode::FencedLeaderEpoch
                        | ErrorCode::InvalidUpdateVersion
                        | ErrorCode::UnknownTopicOrPartition,
                    ) => {}
                    // Refused on its merits, with the partition epoch current: not applied, now
                    // or before.
                    Err(_) => leader.proposal = None,
                }
                self.advance_high_watermark(now_ms, &partition);
            }
            (OutgoingKind::ReplicaFetch(partition, epoch), Response::Fetch(response)) => {
                self.on_replica_fetch_response(now_ms, &partition, epoch, response);
            }
            (
                OutgoingKind::Truncation(partition, epoch, TruncationQuery::LeaderLogEnd),
                Response::ListOffsets(response),
            ) => {
                self.on_log_end_response(now_ms, &partition, epoch, response);
            }
            (
                OutgoingKind::Truncation(partition, epoch, TruncationQuery::EpochEnd),
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
}

/// The API answer for a log error. Storage failures are `KafkaStorageError`; only a log under
/// `SegmentViewPolicy::CachedIgnoringRetention` produces `Internal`, answered as
/// `unknown_server_error`.
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
