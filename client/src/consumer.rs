//! The consumer: a sans-IO core.
//!
//! A synchronous `&mut self` state machine. The shell calls [`Consumer::poll`],
//! [`Consumer::commit`] and [`Consumer::close`] (the application), [`Consumer::on_tick`] and
//! [`Consumer::on_response`] (time and the network), and drains [`Consumer::poll_actions`]:
//! requests to send and history events to record.
//!
//! What it guarantees:
//! - **Assignment**: explicit partitions, or a simple group: member `i` of `n` owns the
//!   partitions `p` with `p % n == i` of its topics (static, no rebalance protocol), and
//!   discovers new partitions through the metadata refresh. A partition starts at its committed
//!   offset (OffsetFetch from the controller), else per the reset policy (`earliest`, `latest`,
//!   or `none`: offset 0, and any out-of-range or eviction is surfaced instead of repaired);
//!   `assign` records the starting positions.
//! - **Fetching**: from the leader, or from the KIP-392 preferred read replica the leader names
//!   when the consumer has a rack; back to the leader every `preferred_replica_recheck_ms`, after
//!   `follower_errors_max` errors in a row from the replica, and at once on out-of-range from
//!   the replica (franz-go #885 / PR #886). Out-of-range from the leader: first a
//!   ListOffsets(latest) to tell a lagging high watermark from a truncated log, then the reset
//!   policy (`reset` with reason `out_of_range`, or a `poll` fail and the partition stops);
//!   real clients reset at once instead ([`LeaderOutOfRangePolicy`]).
//!   `OffsetNotAvailable`: retry with backoff. `OffsetEvicted { next_available }` from the
//!   leader: jump there and record a `reset` with reason `offset_evicted` (fluvio PR #4511), or
//!   with policy `none` a `poll` fail carrying `next_available`, and the partition stops; from a
//!   follower (whose log start may be ahead of the leader's): back to the leader, no jump. Every
//!   error is retried with bounded exponential backoff.
//! - **Jumps** keep what was already fetched: those records are delivered first, then the
//!   `reset` is recorded, then the records after it (a lagging consumer loses nothing it had).
//! - **Decoding**: every batch's CRC is checked; a corrupt batch is never delivered (the records
//!   before it are); records below the position are skipped.
//! - **Records** are delivered by [`Consumer::poll`], recorded as `poll` ok in delivery order, and
//!   only then count toward commits. Commits (OffsetCommit to the controller) carry the next
//!   offset to consume: automatically every `offset_flush_ms` (0 = after every poll that
//!   delivered something), or on [`Consumer::commit`]. `commit` invoke / ok / fail / info are
//!   recorded. [`Consumer::close`] flushes the last commit, awaits its answer, then records
//!   `close`.
//! - Every Fetch and ListOffsets is recorded as a `request` with `progress` (did the position
//!   move), which the oracle's spinloop check reads.
//!
//! Not provided: a rebalance protocol, group membership or heartbeats, KIP-320 truncation
//! detection through OffsetForLeaderEpoch (a lagging high watermark is told apart with
//! ListOffsets instead), isolation levels, pausing partitions.

use crate::common::{
    backoff_ms, first_correlation_id, Action, ClusterAddrs, InFlight, MetadataCache,
    MetadataRefresher,
};
use crate::history::{AssignedPartition, CommitPhase, Op, PolledRecord, ResetReason};
use crate::policy::{
    CommitPositionPolicy, FollowerOutOfRangePolicy, LeaderOutOfRangePolicy, LostPartitionsPolicy,
    OffsetEvictedPolicy, OwnedClaimsPolicy, RevokedOffsetsPolicy,
};
use bytes::Bytes;
use protocol::api::{
    BrokerId, ErrorCode, FetchRequest, FetchResponse, ListOffsetsRequest, OffsetCommitRequest,
    OffsetFetchRequest, OffsetSpec, Request, Response, TopicPartition,
};
use protocol::batch::RecordBatch;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;

mod commits;
mod fetching;
mod group;
mod positions;

pub use group::GroupSettings;
use group::{Member, MemberPhase};

use positions::PartitionState;

/// Where a partition without a committed offset starts, and what out-of-range does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetPolicy {
    /// The log start offset.
    Earliest,
    /// The high watermark.
    Latest,
    /// No automatic reset: start at offset 0; out-of-range and evictions are surfaced as `poll`
    /// fail and the partition stops.
    None,
}

impl ResetPolicy {
    pub fn name(self) -> &'static str {
        match self {
            ResetPolicy::Earliest => "earliest",
            ResetPolicy::Latest => "latest",
            ResetPolicy::None => "none",
        }
    }

    pub fn from_name(name: &str) -> Option<ResetPolicy> {
        match name {
            "earliest" => Some(ResetPolicy::Earliest),
            "latest" => Some(ResetPolicy::Latest),
            "none" => Some(ResetPolicy::None),
            _ => None,
        }
    }
}

/// How offsets are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// Every `offset_flush_ms`; 0 = after every poll that delivered records.
    Auto { offset_flush_ms: u64 },
    /// Only when the application calls [`Consumer::commit`] (and on close).
    Manual,
}

/// Which partitions the consumer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// Exactly these partitions.
    Assign(Vec<TopicPartition>),
    /// Member `member_index` of `members`: partitions `p % members == member_index` of the topics,
    /// including partitions added later.
    Group {
        topics: Vec<String>,
        member_index: u32,
        members: u32,
    },
    /// A member of the consumer group `ConsumerConfig::group` (Kafka's `subscribe`): the
    /// partitions its assignor gives this member, rebalanced as members come and go and as the
    /// topics grow (see the `group` module).
    Join {
        topics: Vec<String>,
        settings: GroupSettings,
    },
}

/// The consumer's settings. Names carry units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// The history `process` (`consumer-0`).
    pub process: String,
    /// The committed offsets' key (consumer id or group).
    pub group: String,
    pub subscription: Subscription,
    pub reset_policy: ResetPolicy,
    /// Where to start a partition that has no committed offset, instead of the reset policy's
    /// start ("consume from offset 0"). An offset retention already passed is answered
    /// `OffsetEvicted`, handled like any other eviction.
    pub start_offset: Option<u64>,
    pub commit_mode: CommitMode,
    /// KIP-392: with a rack, the leader may name a preferred read replica.
    pub rack: Option<String>,
    pub request_timeout_ms: u64,
    pub retry_backoff_ms: u64,
    pub retry_backoff_max_ms: u64,
    /// Wait after a fetch that returned nothing new.
    pub fetch_idle_backoff_ms: u64,
    /// How long a broker may hold a fetch that finds nothing new (long poll, Kafka's
    /// `fetch.max.wait.ms`); must stay below `request_timeout_ms`.
    pub fetch_max_wait_ms: u64,
    pub fetch_max_bytes: u64,
    /// Fetched, undelivered records buffered per partition; no fetch beyond it.
    pub fetch_buffer_records_max: usize,
    /// Go back to the leader this often when reading from a preferred replica.
    pub preferred_replica_recheck_ms: u64,
    /// Errors in a row from a preferred replica before going back to the leader.
    pub follower_errors_max: u32,
    pub metadata_max_age_ms: u64,
    pub metadata_refresh_backoff_ms: u64,
    /// Attempts of the final commit on close.
    pub close_commit_attempts_max: u32,
    /// Which offset a commit names.
    pub commit_position_policy: CommitPositionPolicy,
    /// What a fetch answered `OffsetEvicted` by the leader does.
    pub offset_evicted_policy: OffsetEvictedPolicy,
    /// What a fetch answered `OffsetOutOfRange` by a follower does.
    pub follower_out_of_range_policy: FollowerOutOfRangePolicy,
    /// What a fetch answered `OffsetOutOfRange` by the leader does.
    pub leader_out_of_range_policy: LeaderOutOfRangePolicy,
    /// What a group member does with the positions of partitions it gives up.
    pub revoked_offsets_policy: RevokedOffsetsPolicy,
    /// How the group leader's assignor treats the partitions members claim to own.
    pub owned_claims_policy: OwnedClaimsPolicy,
    /// What an expelled group member claims at its next join.
    pub lost_partitions_policy: LostPartitionsPolicy,
}

impl ConsumerConfig {
    pub fn new(process: &str, subscription: Subscription) -> ConsumerConfig {
        ConsumerConfig {
            process: process.to_string(),
            group: process.to_string(),
            subscription,
            reset_policy: ResetPolicy::Earliest,
            start_offset: None,
            commit_mode: CommitMode::Auto {
                offset_flush_ms: 100,
            },
            rack: None,
            request_timeout_ms: 1_000,
            retry_backoff_ms: 20,
            retry_backoff_max_ms: 1_000,
            fetch_idle_backoff_ms: 20,
            fetch_max_wait_ms: 500,
            fetch_max_bytes: 64 * 1024,
            fetch_buffer_records_max: 2_000,
            preferred_replica_recheck_ms: 5_000,
            follower_errors_max: 3,
            metadata_max_age_ms: 1_000,
            metadata_refresh_backoff_ms: 50,
            close_commit_attempts_max: 20,
            commit_position_policy: CommitPositionPolicy::default(),
            offset_evicted_policy: OffsetEvictedPolicy::default(),
            follower_out_of_range_policy: FollowerOutOfRangePolicy::default(),
            leader_out_of_range_policy: LeaderOutOfRangePolicy::default(),
            revoked_offsets_policy: RevokedOffsetsPolicy::default(),
            owned_claims_policy: OwnedClaimsPolicy::default(),
            lost_partitions_policy: LostPartitionsPolicy::default(),
        }
    }

    fn validate(&self) {
        if let Subscription::Group {
            member_index,
            members,
            ..
        } = &self.subscription
        {
            assert!(
                *members > 0 && member_index < members,
                "member {member_index} of {members}"
            );
        }
        assert!(self.fetch_max_bytes > 0, "fetch_max_bytes must be positive");
        assert!(
            self.fetch_max_wait_ms < self.request_timeout_ms,
            "fetch_max_wait_ms must stay below request_timeout_ms"
        );
        assert!(
            self.fetch_buffer_records_max > 0,
            "fetch_buffer_records_max must be positive"
        );
        assert!(
            self.close_commit_attempts_max > 0,
            "close_commit_attempts_max must be positive"
        );
    }
}

/// An error surfaced to the application (a `poll` fail).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumeError {
    #[error("{partition}: offset {offset} is out of range (reset policy none)")]
    OutOfRange {
        partition: TopicPartition,
        offset: u64,
    },
    #[error("{partition}: offset {offset} was evicted; the next available is {next_available}")]
    Evicted {
        partition: TopicPartition,
        offset: u64,
        next_available: u64,
    },
}

/// One partition as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProgress {
    /// Next offset to deliver to the application.
    pub position: u64,
    /// Next offset to fetch (>= position).
    pub fetch_position: u64,
    pub high_watermark: Option<u64>,
    /// The last commit the coordinator acknowledged.
    pub committed: Option<u64>,
    /// The broker fetched from (`None` before the first fetch).
    pub source: Option<BrokerId>,
    /// Stopped after an error surfaced with policy `none`.
    pub stopped: bool,
}

/// What a scenario can see of a consumer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerStatus {
    pub partitions: BTreeMap<TopicPartition, PartitionProgress>,
    pub records_delivered: u64,
    /// Every assigned partition has a known high watermark and nothing below it undelivered.
    pub caught_up: bool,
    pub last_error: Option<String>,
    pub closed: bool,
    /// Close gave up on the final commit (no `close` was recorded).
    pub close_failed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Leader,
    Replica {
        broker: BrokerId,
        since_ms: u64,
    },
    /// The leader named a replica the metadata (of this version) does not list: fetch from the
    /// leader without a rack, so that it serves the records itself, until newer metadata comes
    /// (asking with the rack would only be sent to that replica again, without data).
    LeaderWithoutRack {
        metadata_version: u64,
    },
}

/// Why a ListOffsets is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolve {
    /// No committed offset: the reset policy's start.
    Start(OffsetSpec),
    /// Out of range at the leader: is the high watermark merely behind the position?
    CheckHighWatermark,
    /// Out of range, confirmed: reset per the policy.
    Reset(OffsetSpec),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Waiting for the committed offset.
    Committed,
    /// A ListOffsets is needed (`position` is the offset asked about).
    Resolving(Resolve),
    Fetching,
    /// An error was surfaced (policy `none`); nothing more is fetched.
    Stopped,
}

/// What waits in a partition's buffer for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Buffered {
    Record {
        offset: u64,
        value: String,
    },
    /// The fetch position jumped from `from` to `to`: the records fetched before it are delivered
    /// first, then the `reset` is recorded, then what was fetched after it.
    Reset {
        from: u64,
        to: u64,
        reason: ResetReason,
    },
}

#[derive(Debug, Clone)]
enum RequestKind {
    Metadata,
    OffsetFetch(Vec<TopicPartition>),
    OffsetCommit {
        offsets: Vec<(TopicPartition, u64)>,
        /// The generation the commit was sent under (group members).
        generation: Option<u32>,
    },
    Fetch {
        partition: TopicPartition,
        offset: u64,
        broker: BrokerId,
        from_replica: bool,
    },
    ListOffsets {
        partition: TopicPartition,
        offset: u64,
        broker: BrokerId,
        resolve: Resolve,
    },
    JoinGroup,
    SyncGroup {
        generation: u32,
    },
    Heartbeat {
        generation: u32,
    },
    LeaveGroup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    Open,
    /// Flushing the last commit; attempts so far.
    Flushing {
        attempts: u32,
    },
    Closed,
}

/// The consumer core. See the module documentation.
#[derive(Debug)]
pub struct Consumer {
    config: ConsumerConfig,
    cluster: ClusterAddrs,
    rng: ChaCha8Rng,
    actions: Vec<Action>,
    requests: InFlight<RequestKind>,
    metadata: MetadataCache,
    refresher: MetadataRefresher,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    /// Partitions whose committed offset is being fetched (one OffsetFetch at a time).
    offset_fetch_in_flight: bool,
    offset_fetch_retry_at_ms: u64,
    offset_fetch_attempts: u32,
    /// Partitions whose start position was decided and not yet recorded in an `assign`.
    newly_assigned: BTreeSet<TopicPartition>,
    commit_in_flight: bool,
    commit_requested: bool,
    commit_retry_at_ms: u64,
    commit_attempts: u32,
    last_flush_ms: u64,
    /// Rotates which partition `poll` serves first.
    poll_cursor: usize,
    closing: Closing,
    status: ConsumerStatus,
    /// The group membership of a [`Subscription::Join`] consumer.
    member: Option<Member>,
    /// Scratch space of `step` (the partitions that may fetch), kept to save an allocation a step.
    fetchable: Vec<TopicPartition>,
}

impl Consumer {
    /// A new consumer incarnation; records `start`. `rng` (a seeded stream) only draws backoff
    /// jitter.
    pub fn new(
        config: ConsumerConfig,
        cluster: ClusterAddrs,
        incarnation: u64,
        rng: ChaCha8Rng,
    ) -> Consumer {
        config.validate();
        let refresher = MetadataRefresher::new(
            &cluster,
            config.metadata_max_age_ms,
            config.metadata_refresh_backoff_ms,
        );
        let mut consumer = Consumer {
            config,
            cluster,
            rng,
            actions: vec![Action::Record(Op::Start)],
            requests: InFlight::new(first_correlation_id(incarnation)),
            metadata: MetadataCache::default(),
            refresher,
            partitions: BTreeMap::new(),
            offset_fetch_in_flight: false,
            offset_fetch_retry_at_ms: 0,
            offset_fetch_attempts: 0,
            newly_assigned: BTreeSet::new(),
            commit_in_flight: false,
            commit_requested: false,
            commit_retry_at_ms: 0,
            commit_attempts: 0,
            last_flush_ms: 0,
            poll_cursor: 0,
            closing: Closing::Open,
            status: ConsumerStatus::default(),
            member: None,
            fetchable: Vec::new(),
        };
        if let Subscription::Join { topics, settings } = &consumer.config.subscription {
            consumer.member = Some(Member::new(topics.clone(), settings.clone()));
        }
        if let Subscription::Assign(partitions) = consumer.config.subscription.clone() {
            for partition in partitions {
                consumer.partitions.insert(partition, PartitionState::new());
            }
        }
        consumer
    }

    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Requests to send and history events to record, in order.
    pub fn poll_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    fn record(&mut self, op: Op) {
        self.actions.push(Action::Record(op));
    }

    pub fn is_closed(&self) -> bool {
        self.closing == Closing::Closed
    }

    /// What a scenario or display sees of this consumer.
    pub fn status(&self) -> ConsumerStatus {
        let mut status = ConsumerStatus::default();
        self.write_status(&mut status);
        status
    }

    /// [`Consumer::status`] written over `out`, reusing its allocations (a shell publishes it
    /// after every tick).
    pub fn write_status(&self, out: &mut ConsumerStatus) {
        // Every field, so that a new one cannot be forgotten here.
        let ConsumerStatus {
            partitions,
            records_delivered,
            caught_up,
            last_error,
            closed,
            close_failed,
        } = out;
        let progress = |state: &PartitionState| PartitionProgress {
            position: state.delivered_next,
            fetch_position: state.position,
            high_watermark: state.high_watermark,
            committed: state.committed,
            source: state.last_source,
            stopped: state.phase == Phase::Stopped,
        };
        let same_keys = partitions.len() == self.partitions.len()
            && partitions
                .keys()
                .zip(self.partitions.keys())
                .all(|(a, b)| a == b);
        if same_keys {
            for (slot, state) in partitions.values_mut().zip(self.partitions.values()) {
                *slot = progress(state);
            }
        } else {
            *partitions = self
                .partitions
                .iter()
                .map(|(partition, state)| (partition.clone(), progress(state)))
                .collect();
        }
        *records_delivered = self.status.records_delivered;
        last_error.clone_from(&self.status.last_error);
        *close_failed = self.status.close_failed;
        // Vacuously true for a group member that owns no partition, once metadata is known.
        *caught_up = self.metadata.get().is_some()
            && self.member.as_ref().is_none_or(Member::is_stable)
            && self.partitions.values().all(|state| {
                state.phase == Phase::Fetching
                    && state
                        .high_watermark
                        .is_some_and(|hw| state.delivered_next >= hw)
            });
        *closed = self.closing == Closing::Closed;
    }

    // ---- the application ---------------------------------------------------------------------

    /// Delivers up to `records_max` fetched records (recorded as one `poll` ok).
    pub fn poll(&mut self, now_ms: u64, records_max: usize) -> Vec<PolledRecord> {
        let mut delivered = Vec::new();
        if self.closing != Closing::Open || records_max == 0 {
            return delivered;
        }
        let partitions = self.partitions.len();
        if partitions == 0 {
            return delivered;
        }
        let start = self.poll_cursor % partitions;
        self.poll_cursor = self.poll_cursor.wrapping_add(1);
        // What the polls before this one delivered (`CommitPositionPolicy::PreviousPoll`).
        for state in self.partitions.values_mut() {
            state.delivered_before_poll = state.delivered_next;
        }
        let mut resets = Vec::new();
        // The partitions in key order from the `start`-th, wrapping around (no copy of the keys).
        for (partition, state) in self.partitions.iter_mut().skip(start) {
            deliver_from(partition, state, records_max, &mut delivered, &mut resets);
        }
        for (partition, state) in self.partitions.iter_mut().take(start) {
            deliver_from(partition, state, records_max, &mut delivered, &mut resets);
        }
        for reset in resets {
            self.record(reset);
        }
        if !delivered.is_empty() {
            self.status.records_delivered += delivered.len() as u64;
            self.record(Op::PollOk {
                records: delivered.clone().into(),
            });
            if self.config.commit_mode == (CommitMode::Auto { offset_flush_ms: 0 }) {
                self.commit_requested = true;
            }
        }
        self.step(now_ms);
        delivered
    }

    /// Commits the positions of what the application has received (manual mode, or any time).
    pub fn commit(&mut self, now_ms: u64) {
        self.commit_requested = true;
        self.step(now_ms);
    }

    /// Stops fetching, flushes the last commit and awaits it, then records `close`.
    pub fn close(&mut self, now_ms: u64) {
        if self.closing == Closing::Open {
            self.closing = Closing::Flushing { attempts: 0 };
            self.commit_requested = true;
            for state in self.partitions.values_mut() {
                state.buffer.clear();
            }
        }
        self.step(now_ms);
    }

    // ---- time and the network ----------------------------------------------------------------

    pub fn on_tick(&mut self, now_ms: u64) {
        for (_correlation_id, pending) in self.requests.expire(now_ms) {
            self.on_no_answer(now_ms, pending.kind, "request_timed_out");
        }
        self.step(now_ms);
    }

    /// An answer arrived. Answers to requests that timed out are dropped.
    pub fn on_response(
        &mut self,
        now_ms: u64,
        correlation_id: u64,
        from: SocketAddr,
        response: Response,
    ) {
        let Some(pending) = self.requests.take(correlation_id, from) else {
            return;
        };
        match (pending.kind, response) {
            (RequestKind::Metadata, Response::Metadata(answer)) => {
                self.refresher.on_answer(now_ms);
                self.refresher.learn_brokers(&answer.metadata);
                self.metadata.update(answer.metadata, now_ms);
                self.discover_partitions();
                self.check_leader_snapshot(now_ms);
            }
            (RequestKind::JoinGroup, Response::JoinGroup(answer)) => {
                self.on_join_answer(now_ms, answer.member_id, answer.result);
            }
            (RequestKind::SyncGroup { generation }, Response::SyncGroup(answer)) => {
                self.on_sync_answer(now_ms, generation, answer.result);
            }
            (RequestKind::Heartbeat { generation }, Response::HeartbeatGroup(answer)) => {
                self.on_heartbeat_answer(now_ms, generation, answer.result);
            }
            (RequestKind::LeaveGroup, Response::LeaveGroup(_)) => {}
            (RequestKind::OffsetFetch(asked), Response::OffsetFetch(answer)) => {
                self.on_offset_fetch(now_ms, asked, answer.result);
            }
            (
                RequestKind::OffsetCommit {
                    offsets,
                    generation,
                },
                Response::OffsetCommit(answer),
            ) => {
                self.on_offset_commit(now_ms, offsets, generation, answer.result);
            }
            (
                RequestKind::Fetch {
                    partition,
                    offset,
                    broker,
                    from_replica,
                },
                Response::Fetch(answer),
            ) => {
                self.on_fetch(now_ms, &partition, offset, broker, from_replica, answer);
            }
            (
                RequestKind::ListOffsets {
                    partition,
                    offset,
                    broker,
                    resolve,
                },
                Response::ListOffsets(answer),
            ) => {
                self.on_list_offsets(now_ms, &partition, offset, broker, resolve, answer.result);
            }
            (kind, response) => {
                tracing::warn!(?kind, ?response, "answer of the wrong type; dropped");
                self.on_no_answer(now_ms, kind, "unknown_server_error");
            }
        }
        self.step(now_ms);
    }

    fn on_no_answer(&mut self, now_ms: u64, kind: RequestKind, error: &str) {
        match kind {
            RequestKind::Metadata => self.refresher.on_failure(),
            RequestKind::OffsetFetch(_) => {
                self.offset_fetch_in_flight = false;
                self.offset_fetch_later(now_ms);
            }
            RequestKind::OffsetCommit {
                offsets,
                generation,
            } => {
                self.commit_in_flight = false;
                let group = self.commit_labels().0;
                for (partition, offset) in offsets {
                    self.record(Op::Commit {
                        phase: CommitPhase::Info,
                        topic: partition.topic.to_string().into(),
                        partition: partition.partition,
                        offset,
                        group: group.clone(),
                        generation,
                        error: Some(error.to_string().into()),
                    });
                }
                self.commit_failed(now_ms);
            }
            RequestKind::JoinGroup => {
                if self.member.as_ref().map(|m| &m.phase) == Some(&MemberPhase::Joining) {
                    self.request_rejoin(now_ms, true);
                }
            }
            RequestKind::SyncGroup { generation } => {
                let syncing = self.member.as_ref().map(|m| &m.phase)
                    == Some(&MemberPhase::Syncing { generation });
                if syncing {
                    self.member.as_mut().expect("a member").phase = MemberPhase::Stable;
                    self.begin_rejoin(now_ms);
                }
            }
            RequestKind::Heartbeat { .. } => {
                if let Some(member) = self.member.as_mut() {
                    member.heartbeat_in_flight = false;
                }
            }
            RequestKind::LeaveGroup => {}
            RequestKind::Fetch {
                partition,
                offset,
                broker,
                from_replica,
            } => {
                self.record_request("fetch", &partition, offset, broker, Some(error), false);
                let Some(state) = self.partitions.get_mut(&partition) else {
                    return;
                };
                state.request_in_flight = false;
                self.refresher.request_refresh();
                if from_replica {
                    self.replica_error(&partition);
                }
                self.retry_later(now_ms, &partition, error);
            }
            RequestKind::ListOffsets {
                partition,
                offset,
                broker,
                ..
            } => {
                self.record_request(
                    "list_offsets",
                    &partition,
                    offset,
                    broker,
                    Some(error),
                    false,
                );
                if let Some(state) = self.partitions.get_mut(&partition) {
                    state.request_in_flight = false;
                }
                self.refresher.request_refresh();
                self.retry_later(now_ms, &partition, error);
            }
        }
    }

    fn step(&mut self, now_ms: u64) {
        if let Some((to, request)) = self.refresher.due(now_ms) {
            let correlation_id = self.requests.start(
                to,
                now_ms + self.config.request_timeout_ms,
                RequestKind::Metadata,
            );
            self.actions.push(Action::Send {
                to,
                correlation_id,
                request,
            });
        }
        if let Closing::Flushing { attempts } = self.closing {
            self.maybe_commit(now_ms);
            if !self.commit_in_flight && !self.commit_requested {
                // A member without a generation cannot commit (its partitions are lost).
                let committable = self.member.as_ref().is_none_or(|m| m.generation.is_some());
                let pending = committable
                    && self.partitions.values().any(|state| {
                        self.commit_offset(state)
                            .is_some_and(|offset| state.committed != Some(offset))
                    });
                if !pending {
                    if self.member.is_some() {
                        self.close_membership(now_ms);
                    }
                    self.closing = Closing::Closed;
                    self.record(Op::Close);
                } else if attempts >= self.config.close_commit_attempts_max {
                    tracing::warn!("close: the last commit did not succeed; closing without it");
                    self.closing = Closing::Closed;
                    self.status.close_failed = true;
                } else {
                    self.commit_requested = true;
                }
            }
            return;
        }
        if self.closing == Closing::Closed {
            return;
        }
        if !self.newly_assigned.is_empty() {
            let assigned = std::mem::take(&mut self.newly_assigned);
            let partitions = assigned
                .into_iter()
                .map(|partition| {
                    let offset = self.partitions[&partition].position;
                    AssignedPartition {
                        topic: partition.topic.to_string().into(),
                        partition: partition.partition,
                        offset,
                    }
                })
                .collect();
            self.record(Op::Assign { partitions });
        }
        self.step_group(now_ms);
        self.maybe_offset_fetch(now_ms);
        self.maybe_commit(now_ms);
        // Only the partitions `maybe_request` does not turn away at once (a request in flight, a
        // retry not due): it changes nothing of the other partitions' states, so filtering first
        // is the same, without cloning every partition's name at every step.
        let mut partitions = std::mem::take(&mut self.fetchable);
        partitions.extend(
            self.partitions
                .iter()
                .filter(|(_, state)| !state.request_in_flight && now_ms >= state.retry_at_ms)
                .map(|(partition, _)| partition.clone()),
        );
        for partition in partitions.drain(..) {
            self.maybe_request(now_ms, &partition);
        }
        self.fetchable = partitions;
    }
}

/// One partition's part of a poll: its buffered records up to `records_max` delivered in all,
/// stopping before a reset that follows records it delivered (a reset is recorded before the
/// poll that delivers what follows it).
fn deliver_from(
    partition: &TopicPartition,
    state: &mut PartitionState,
    records_max: usize,
    delivered: &mut Vec<PolledRecord>,
    resets: &mut Vec<Op>,
) {
    let mut delivered_here = 0;
    while delivered.len() < records_max {
        let (offset, value) = match state.buffer.front() {
            None => break,
            Some(Buffered::Reset { .. }) if delivered_here > 0 => {
                // The jump is recorded before the poll that delivers what follows it.
                break;
            }
            Some(Buffered::Reset { from, to, reason }) => {
                resets.push(Op::Reset {
                    topic: partition.topic.to_string().into(),
                    partition: partition.partition,
                    from: *from,
                    to: *to,
                    reason: reason.as_str().into(),
                });
                state.delivered_next = *to;
                state.buffer.pop_front();
                continue;
            }
            Some(Buffered::Record { .. }) => match state.buffer.pop_front() {
                Some(Buffered::Record { offset, value }) => (offset, value),
                _ => unreachable!("the front is a record"),
            },
        };
        delivered_here += 1;
        state.delivered_any = true;
        assert!(
            offset >= state.delivered_next,
            "{partition}: delivering {offset} below the position {}",
            state.delivered_next
        );
        state.delivered_next = offset + 1;
        delivered.push(PolledRecord {
            topic: partition.topic.to_string().into(),
            partition: partition.partition,
            offset,
            value: value.into(),
        });
    }
}

#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
