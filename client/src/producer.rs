//! The idempotent producer: a sans-IO core.
//!
//! A synchronous `&mut self` state machine. The shell calls [`Producer::send`] (the application),
//! [`Producer::on_tick`] and [`Producer::on_response`] (time and the network), and drains
//! [`Producer::poll_actions`]: requests to send and history events to record.
//!
//! What it does:
//! - **Metadata**: a cache of the freshest cluster metadata (by `version`), refreshed every
//!   `metadata_max_age_ms` and soon after any error that hints at stale metadata
//!   (`NotLeaderOrFollower`, `UnknownTopicOrPartition`, fenced epochs, a partition without a
//!   leader), so partitions added while it runs are used (fluvio #4079).
//! - **Partitioner**: keyed = FNV-1a(key) % the topic's partition count; keyless = round robin
//!   over the partitions that have a leader. Sends are routed strictly in invoke order.
//! - **Batching**: per partition, `linger_ms` and `batch_bytes_max`.
//! - **Acks** (`acks`, Kafka's): `all` (the default) is acknowledged once every in-sync replica
//!   holds the batch; `1` once the leader appended it (its `send` ok says so: `acks` and the
//!   leader epoch it was appended under, since a leader change may lose it); `0` is never
//!   answered: its sends complete `info` (`acks_0`) as soon as the batch is sent.
//! - **Without idempotence** (`idempotence = false`; Kafka requires it for acks other than
//!   `all`): no producer id, no sequences, one batch in flight per partition, and a batch an
//!   earlier attempt of which may have been written is never sent again (that would write it
//!   twice: Kafka's at-least-once retries); its sends complete `info`. Only answers that prove the
//!   batch was not written are retried.
//! - **Idempotence** (KIP-98): producer id and epoch from `InitProducerId` (controller);
//!   sequences per partition, assigned when a batch is first sent; at most
//!   `in_flight_per_partition_max` (<= 5) batches in flight per partition. A retried batch keeps
//!   its sequence. After an error, only the oldest unacknowledged batch of a partition is resent
//!   until it is acknowledged, so retries reach the leader in sequence order. Datagrams reorder,
//!   so an out-of-order answer counts as lost state only for an attempt sent while every older
//!   batch of the partition was acknowledged; otherwise it is retried.
//! - **KIP-360 / franz-go #805**: `UnknownProducerId`, `OutOfOrderSequence` or
//!   `InvalidProducerEpoch` on the oldest unacknowledged batch of a partition: if the partition's
//!   last acknowledged offset exists and the response's log start offset is above it, nothing
//!   was lost (retention removed the producer's state): bump the epoch with
//!   `InitProducerId(pid, epoch)` and restart sequences at 0 on EVERY partition (KAFKA-12152),
//!   then retry. Otherwise it is genuine data loss: the batch's sends complete as `fail` (or
//!   `info` when an earlier attempt may have been written) with the error's name, a warning is
//!   logged, the loss is counted in [`ProducerStatus::data_loss_reports`], and the producer bumps
//!   and goes on. That is streamsim's own rule ([`SequenceDesyncPolicy::FailUnexplained`]); the
//!   other values of `sequence_desync_policy` are real clients' (Java and franz-go bump and
//!   resend every batch of the partition; librdkafka resends only a first attempt answered
//!   `UnknownProducerId` and stops otherwise), see [`crate::personality`].
//! - **Epoch bumps** wait until no produce request is in flight. Batches whose outcome is
//!   unknown at that moment (an attempt got no answer) complete as `info` instead of being
//!   written again under the new epoch, which could duplicate them.
//! - **Outcomes**: every send ends as exactly one of `ok` (with partition, offset, pid, epoch,
//!   sequence), `fail` (definitely not written: never sent, or every attempt was answered with an
//!   error that proves the batch was not appended) or `info` (unknown). `delivery_timeout_ms`
//!   and `retries_max` bound every send.
//! - **Bad input**: a send to a topic the cluster does not know (per a metadata answer that
//!   arrived after the send was invoked) fails with `unknown_topic_or_partition`; a record over
//!   `message_bytes_max` fails with `message_too_large`; the producer goes on.
//!
//! Not provided: transactions, compression, per-partition backpressure (the shell bounds the
//! sends it has pending), ordering across partitions, per-key order across partition growth.
//! Not preventable by any client: a leader that lost the producer's state (retention, or the
//! `expire-pid` fault) accepts sequence 0 as from a new producer, so an unanswered batch retried
//! unchanged across that loss may be written twice (`model_tests` states this precisely).

use crate::common::{
    backoff_ms, first_correlation_id, increment_sequence, stable_key_hash, Action, ClusterAddrs,
    InFlight, MetadataCache, MetadataRefresher,
};
use crate::history::Op;
use crate::policy::{PartitionDiscoveryPolicy, ProducerStateLossPolicy, SequenceDesyncPolicy};
use bytes::Bytes;
use oracle::SendAcks;
pub use protocol::api::Acks;
use protocol::api::{
    ErrorCode, InitProducerIdRequest, ProduceRequest, Request, Response, TopicPartition,
};
use protocol::batch::{
    record_len_bound, Compression, Record, RecordBatch, BATCH_BYTES_MAX, BATCH_HEADER_BYTES,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, RECORDS_PER_BATCH_MAX,
};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

mod answers;
mod batches;
mod routing;

use routing::PartitionDiscovery;

/// Kafka's bound for idempotence: at most 5 batches in flight per partition.
pub const IN_FLIGHT_PER_PARTITION_LIMIT: usize = 5;

/// The producer's settings. Names carry units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// The history `process` of this producer (`producer-0`).
    pub process: String,
    /// How long a batch waits for more records before it is sent.
    pub linger_ms: u64,
    /// A batch is sent once its encoding reaches this size (header included).
    pub batch_bytes_max: u64,
    /// The largest batch holding one record; a bigger record fails with `message_too_large`.
    pub message_bytes_max: u64,
    /// How long the producer waits for any answer.
    pub request_timeout_ms: u64,
    /// How long the leader may wait for the ISR (the Produce request's `timeout_ms`).
    pub produce_timeout_ms: u64,
    /// Backoff after a failed attempt: `retry_backoff_ms * 2^n`, capped.
    pub retry_backoff_ms: u64,
    pub retry_backoff_max_ms: u64,
    /// Attempts per batch before its sends complete with the last error.
    pub retries_max: u32,
    /// After this long since a send was invoked, it completes (fail or info); a batch in flight
    /// then completes when its attempt is answered or times out (at most `request_timeout_ms`
    /// later).
    pub delivery_timeout_ms: u64,
    /// Metadata is refreshed at least this often.
    pub metadata_max_age_ms: u64,
    /// Minimum time between two metadata requests.
    pub metadata_refresh_backoff_ms: u64,
    /// At most this many batches in flight per partition (<= 5).
    pub in_flight_per_partition_max: usize,
    /// At most this many sends pending (invoked, not completed); more fail with `buffer_full`.
    pub pending_sends_max: usize,
    /// What to do when the broker forgot this producer (`UnknownProducerId`).
    pub producer_state_loss_policy: ProducerStateLossPolicy,
    /// Which partitions of a topic sends may go to.
    pub partition_discovery_policy: PartitionDiscoveryPolicy,
    /// What a sequence desynchronization (`OutOfOrderSequence`, `UnknownProducerId`,
    /// `InvalidProducerEpoch`) on a partition's oldest batch does, under
    /// `ProducerStateLossPolicy::BumpEpoch`.
    pub sequence_desync_policy: SequenceDesyncPolicy,
    /// Which acknowledgement produce requests ask for (Kafka's `acks`).
    pub acks: Acks,
    /// Producer id and sequences (KIP-98, Kafka's `enable.idempotence`); requires `Acks::All`,
    /// and without it at most one batch in flight per partition.
    pub idempotence: bool,
    /// How batches' records are compressed (Kafka's `compression.type`). Batch sizes count
    /// records uncompressed, as Kafka's producer estimates them.
    pub compression: Compression,
}

impl ProducerConfig {
    pub fn new(process: &str) -> ProducerConfig {
        ProducerConfig {
            process: process.to_string(),
            linger_ms: 5,
            batch_bytes_max: 16 * 1024,
            message_bytes_max: BATCH_BYTES_MAX,
            request_timeout_ms: 1_000,
            produce_timeout_ms: 500,
            retry_backoff_ms: 20,
            retry_backoff_max_ms: 1_000,
            retries_max: 200,
            delivery_timeout_ms: 30_000,
            metadata_max_age_ms: 1_000,
            metadata_refresh_backoff_ms: 50,
            in_flight_per_partition_max: IN_FLIGHT_PER_PARTITION_LIMIT,
            pending_sends_max: 100_000,
            producer_state_loss_policy: ProducerStateLossPolicy::default(),
            partition_discovery_policy: PartitionDiscoveryPolicy::default(),
            sequence_desync_policy: SequenceDesyncPolicy::default(),
            acks: Acks::All,
            idempotence: true,
            compression: Compression::None,
        }
    }

    fn validate(&self) {
        assert!(
            (1..=IN_FLIGHT_PER_PARTITION_LIMIT).contains(&self.in_flight_per_partition_max),
            "in_flight_per_partition_max must be in 1..={IN_FLIGHT_PER_PARTITION_LIMIT}"
        );
        assert!(
            self.batch_bytes_max > BATCH_HEADER_BYTES && self.batch_bytes_max <= BATCH_BYTES_MAX,
            "batch_bytes_max outside the batch format's limits"
        );
        assert!(
            self.message_bytes_max <= BATCH_BYTES_MAX,
            "message_bytes_max above BATCH_BYTES_MAX"
        );
        assert!(
            self.produce_timeout_ms < self.request_timeout_ms,
            "produce_timeout_ms must be below request_timeout_ms"
        );
        assert!(self.retries_max >= 1, "retries_max must be at least 1");
        assert!(
            self.pending_sends_max >= 1,
            "pending_sends_max must be at least 1"
        );
        assert!(
            !self.idempotence || self.acks == Acks::All,
            "idempotence requires acks=all (Kafka's enable.idempotence)"
        );
        assert!(
            self.idempotence || self.in_flight_per_partition_max == 1,
            "without idempotence at most one batch may be in flight per partition"
        );
    }
}

/// Why a send did not succeed; `name()` is the history's `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("topic {topic} is unknown to the cluster")]
    UnknownTopic { topic: String },
    #[error("a record of {batch_bytes} bytes (as a batch) exceeds {message_bytes_max} bytes")]
    MessageTooLarge {
        batch_bytes: u64,
        message_bytes_max: u64,
    },
    #[error("{pending} sends pending, the limit")]
    BufferFull { pending: usize },
    #[error("the producer is closed")]
    Closed,
    #[error("the producer stopped after a fatal error: {error}")]
    Fatal { error: String },
    #[error("the broker answered {0}")]
    Broker(ErrorCode),
    #[error("no answer within the request or delivery timeout")]
    TimedOut,
}

impl SendError {
    /// The error's name in the history.
    pub fn name(&self) -> String {
        match self {
            SendError::UnknownTopic { .. } => "unknown_topic_or_partition".to_string(),
            SendError::MessageTooLarge { .. } => "message_too_large".to_string(),
            SendError::BufferFull { .. } => "buffer_full".to_string(),
            SendError::Closed => "producer_closed".to_string(),
            SendError::Fatal { error } => error.clone(),
            SendError::Broker(code) => code.name().to_string(),
            SendError::TimedOut => "request_timed_out".to_string(),
        }
    }
}

/// What a scenario can see of a producer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStatus {
    pub invoked: u64,
    pub acked: u64,
    pub failed: u64,
    /// Sends that completed as `info` (outcome unknown).
    pub unknown: u64,
    /// Invoked and not yet completed.
    pub pending: usize,
    /// Times an `UnknownProducerId`/`OutOfOrderSequence` could not be explained by retention.
    pub data_loss_reports: u64,
    /// Epoch bumps (KIP-360) and fresh producer ids obtained after the first.
    pub producer_id_resets: u64,
    pub producer_id: Option<(i64, i16)>,
    /// Set when a fatal error stopped the producer (`ProducerStateLossPolicy::Fatal`, or
    /// `SequenceDesyncPolicy::FatalUnlessFirstAttempt`, librdkafka's).
    pub fatal: Option<String>,
    pub closed: bool,
    /// Partitions this producer has sent to, per topic.
    pub partitions_used: BTreeMap<String, Vec<u32>>,
}

#[derive(Debug, Clone)]
struct PendingSend {
    topic: String,
    key: Option<String>,
    value: String,
    invoked_ms: u64,
    record_bytes: u64,
}

#[derive(Debug, Clone)]
struct Sequenced {
    pid: i64,
    epoch: i16,
    base_sequence: i32,
    encoded: Bytes,
}

#[derive(Debug)]
struct Batch {
    id: u64,
    records: Vec<PendingSend>,
    /// Encoded size, header included.
    bytes: u64,
    created_ms: u64,
    sequence: Option<Sequenced>,
    /// The correlation id of the attempt in flight.
    in_flight: Option<u64>,
    attempts: u32,
    /// Some attempt may have been appended (no answer, or an error that does not prove it was not).
    maybe_written: bool,
    /// An attempt ended in a timeout or a retriable error and was (or will be) sent again; a
    /// resend after an epoch bump, or after an error that only asks for a metadata refresh
    /// (`NotLeaderOrFollower`, ...), is not a retry (librdkafka's `retries` count, which
    /// `SequenceDesyncPolicy::FatalUnlessFirstAttempt` reads).
    retried: bool,
    /// The attempt in flight (or the last one) was sent when every older batch of the partition
    /// was acknowledged. Only then does an out-of-order answer say something about the broker's
    /// state: datagrams reorder, so a younger batch may reach the leader before an older one.
    sent_as_oldest: bool,
    /// The leader epoch the attempt in flight (or the last one) was sent under: the broker
    /// appends it only under that epoch (KIP-320), which an acks=1 `send` ok records.
    leader_epoch: Option<u32>,
    /// Acknowledged (its sends completed `ok`; its records are gone).
    acked: bool,
    last_error: Option<String>,
}

impl Batch {
    /// Takes out the sends `expired` says are, keeping the others (and the batch's size) in it.
    fn take_expired(&mut self, expired: impl Fn(u64) -> bool) -> Vec<PendingSend> {
        let (gone, kept): (Vec<PendingSend>, Vec<PendingSend>) = std::mem::take(&mut self.records)
            .into_iter()
            .partition(|send| expired(send.invoked_ms));
        self.bytes = BATCH_HEADER_BYTES + kept.iter().map(|send| send.record_bytes).sum::<u64>();
        self.records = kept;
        gone
    }

    fn oldest_invoke_ms(&self) -> u64 {
        self.records
            .iter()
            .map(|r| r.invoked_ms)
            .min()
            .unwrap_or(self.created_ms)
    }

    fn error_name(&self) -> String {
        self.last_error
            .clone()
            .unwrap_or_else(|| SendError::TimedOut.name())
    }
}

#[derive(Debug, Default)]
struct PartitionState {
    next_sequence: i32,
    /// The last offset the leader acknowledged to this producer (franz-go's `lastAckedOffset`).
    last_acked_offset: Option<u64>,
    /// Sequenced batches from the oldest unacknowledged one to the newest sent, in sequence
    /// order. Acknowledged batches stay (empty, `acked`) until every older one is acknowledged:
    /// the window's length bounds how far back a retry can reach, and the leader remembers only
    /// the producer's last 5 batches for deduplication.
    window: VecDeque<Batch>,
    /// Batches without a sequence yet, oldest first; the last one may still be filling.
    open: VecDeque<Batch>,
    retry_at_ms: u64,
    errors_in_row: u32,
    /// The next epoch bump resends every unacknowledged batch of this partition, even one
    /// that may already be written (Java's `partitionsToRewriteSequences`; set by the
    /// resending `SequenceDesyncPolicy` values).
    resend_on_bump: bool,
}

impl PartitionState {
    fn in_flight(&self) -> usize {
        self.window.iter().filter(|b| b.in_flight.is_some()).count()
    }

    /// Drops acknowledged batches from the front: the front is the oldest unacknowledged.
    fn pop_acked(&mut self) {
        while self.window.front().is_some_and(|b| b.acked) {
            self.window.pop_front();
        }
    }

    fn pending_sends(&self) -> usize {
        self.window
            .iter()
            .chain(self.open.iter())
            .map(|b| b.records.len())
            .sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProducerIdWant {
    /// A fresh producer id.
    Fresh,
    /// Bump the epoch of the current id (KIP-360).
    Bump,
}

#[derive(Debug)]
struct ProducerIdState {
    current: Option<(i64, i16)>,
    wanted: Option<ProducerIdWant>,
    request_in_flight: bool,
    retry_at_ms: u64,
    attempts: u32,
}

#[derive(Debug, Clone)]
enum RequestKind {
    Metadata,
    InitProducerId,
    Produce {
        partition: TopicPartition,
        batch_id: u64,
    },
}

/// The idempotent producer core. See the module documentation.
#[derive(Debug)]
pub struct Producer {
    config: ProducerConfig,
    cluster: ClusterAddrs,
    rng: ChaCha8Rng,
    actions: Vec<Action>,
    requests: InFlight<RequestKind>,
    metadata: MetadataCache,
    refresher: MetadataRefresher,
    producer_id: ProducerIdState,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    /// Sends not yet given a partition, in invoke order.
    unrouted: VecDeque<PendingSend>,
    round_robin: BTreeMap<String, u64>,
    /// What `config.partition_discovery_policy` needs to remember.
    partition_discovery: PartitionDiscovery,
    next_batch_id: u64,
    fatal: Option<String>,
    flush_requested: bool,
    closing: bool,
    closed: bool,
    status: ProducerStatus,
    /// Scratch space of `step` (the partitions to send from), kept to save an allocation a step.
    ready_partitions: Vec<TopicPartition>,
}

impl Producer {
    /// A new producer incarnation; records `start`. `rng` (a seeded stream) only draws backoff
    /// jitter.
    pub fn new(
        config: ProducerConfig,
        cluster: ClusterAddrs,
        incarnation: u64,
        rng: ChaCha8Rng,
    ) -> Producer {
        config.validate();
        let idempotence = config.idempotence;
        let refresher = MetadataRefresher::new(
            &cluster,
            config.metadata_max_age_ms,
            config.metadata_refresh_backoff_ms,
        );
        let partition_discovery = PartitionDiscovery::new(config.partition_discovery_policy);
        Producer {
            config,
            cluster,
            rng,
            actions: vec![Action::Record(Op::Start)],
            requests: InFlight::new(first_correlation_id(incarnation)),
            metadata: MetadataCache::default(),
            refresher,
            producer_id: ProducerIdState {
                current: None,
                wanted: idempotence.then_some(ProducerIdWant::Fresh),
                request_in_flight: false,
                retry_at_ms: 0,
                attempts: 0,
            },
            partitions: BTreeMap::new(),
            unrouted: VecDeque::new(),
            round_robin: BTreeMap::new(),
            partition_discovery,
            next_batch_id: 0,
            fatal: None,
            flush_requested: false,
            closing: false,
            closed: false,
            status: ProducerStatus::default(),
            ready_partitions: Vec::new(),
        }
    }

    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    /// Requests to send and history events to record, in order.
    pub fn poll_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// What a scenario or display sees of this producer.
    pub fn status(&self) -> ProducerStatus {
        let mut status = ProducerStatus::default();
        self.write_status(&mut status);
        status
    }

    /// [`Producer::status`] written over `out`, reusing its allocations (a shell publishes it
    /// after every tick).
    pub fn write_status(&self, out: &mut ProducerStatus) {
        // Every field, so that a new one cannot be forgotten here.
        let ProducerStatus {
            invoked,
            acked,
            failed,
            unknown,
            pending,
            data_loss_reports,
            producer_id_resets,
            producer_id,
            fatal,
            closed,
            partitions_used,
        } = out;
        let s = &self.status;
        *invoked = s.invoked;
        *acked = s.acked;
        *failed = s.failed;
        *unknown = s.unknown;
        *data_loss_reports = s.data_loss_reports;
        *producer_id_resets = s.producer_id_resets;
        if *partitions_used != s.partitions_used {
            partitions_used.clone_from(&s.partitions_used);
        }
        *pending = self.pending_sends();
        *producer_id = self.producer_id.current;
        fatal.clone_from(&self.fatal);
        *closed = self.closed;
    }

    /// Sends invoked and not yet completed. Every invoked send completes exactly once (acknowledged,
    /// failed or unknown), so this is a difference of the status's counts rather than a walk over every
    /// queued batch (the application and each step ask several times a tick).
    pub fn pending_sends(&self) -> usize {
        let status = &self.status;
        let completed = status.acked + status.failed + status.unknown;
        let pending = status
            .invoked
            .checked_sub(completed)
            .expect("a send completes at most once");
        usize::try_from(pending).expect("pending sends fit in memory")
    }

    /// The sends still queued, unrouted or in a partition's batches: what [`Self::pending_sends`]
    /// must equal (the model test checks it after every step).
    #[cfg(test)]
    pub(crate) fn pending_sends_queued(&self) -> usize {
        self.unrouted.len()
            + self
                .partitions
                .values()
                .map(PartitionState::pending_sends)
                .sum::<usize>()
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn record(&mut self, op: Op) {
        self.actions.push(Action::Record(op));
    }

    // ---- the application ---------------------------------------------------------------------

    /// Sends one record (records `send` invoke now, and later exactly one outcome).
    pub fn send(&mut self, now_ms: u64, topic: &str, key: Option<String>, value: String) {
        self.record(Op::SendInvoke {
            topic: topic.to_string().into(),
            key: key.clone().map(Into::into),
            value: value.clone().into(),
        });
        self.status.invoked += 1;
        // An upper bound of the record's size wherever it lands in its batch, so a batch never
        // outgrows `batch_bytes_max`.
        let record_bytes = record_len_bound(key.as_ref().map(String::len), value.len());
        let rejection = if let Some(error) = &self.fatal {
            Some(SendError::Fatal {
                error: error.clone(),
            })
        } else if self.closing {
            Some(SendError::Closed)
        } else if BATCH_HEADER_BYTES + record_bytes > self.config.message_bytes_max {
            Some(SendError::MessageTooLarge {
                batch_bytes: BATCH_HEADER_BYTES + record_bytes,
                message_bytes_max: self.config.message_bytes_max,
            })
        } else if self.pending_sends() >= self.config.pending_sends_max {
            Some(SendError::BufferFull {
                pending: self.pending_sends(),
            })
        } else {
            None
        };
        if let Some(error) = rejection {
            self.complete_send(value, false, &error.name());
            return;
        }
        self.unrouted.push_back(PendingSend {
            topic: topic.to_string(),
            key,
            value,
            invoked_ms: now_ms,
            record_bytes,
        });
        self.step(now_ms);
    }

    /// Sends every batch now, without waiting for `linger_ms`.
    pub fn flush(&mut self, now_ms: u64) {
        self.flush_requested = true;
        self.step(now_ms);
    }

    /// Stops accepting sends, flushes, and records `close` once every send has completed.
    pub fn close(&mut self, now_ms: u64) {
        self.closing = true;
        self.flush_requested = true;
        self.step(now_ms);
    }

    // ---- time and the network ----------------------------------------------------------------

    pub fn on_tick(&mut self, now_ms: u64) {
        for (correlation_id, pending) in self.requests.expire(now_ms) {
            self.on_timeout(now_ms, correlation_id, pending.kind);
        }
        self.step(now_ms);
    }

    /// An answer arrived. Answers to requests that timed out or were forgotten are dropped.
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
                let version = answer.metadata.version;
                let partitions: Vec<usize> = answer
                    .metadata
                    .topics
                    .iter()
                    .map(|t| t.partitions.len())
                    .collect();
                let taken = self.metadata.update(answer.metadata, now_ms);
                tracing::debug!(%from, version, taken, ?partitions, "metadata answer");
                self.note_topics();
            }
            (RequestKind::InitProducerId, Response::InitProducerId(answer)) => {
                self.on_init_producer_id(now_ms, answer.result);
            }
            (
                RequestKind::Produce {
                    partition,
                    batch_id,
                },
                Response::Produce(answer),
            ) => {
                self.on_produce(
                    now_ms,
                    correlation_id,
                    &partition,
                    batch_id,
                    answer.result,
                    answer.log_start_offset,
                );
            }
            (kind, response) => {
                tracing::warn!(?kind, ?response, "answer of the wrong type; dropped");
                // Treat it as no answer: the request will not be answered now.
                self.on_timeout(now_ms, correlation_id, kind);
            }
        }
        self.step(now_ms);
    }

    fn on_timeout(&mut self, now_ms: u64, correlation_id: u64, kind: RequestKind) {
        match kind {
            RequestKind::Metadata => self.refresher.on_failure(),
            RequestKind::InitProducerId => {
                self.producer_id.request_in_flight = false;
                self.producer_id_retry_later(now_ms);
            }
            RequestKind::Produce {
                partition,
                batch_id,
            } => {
                let Some(state) = self.partitions.get_mut(&partition) else {
                    return;
                };
                let Some(index) = state
                    .window
                    .iter()
                    .position(|b| b.id == batch_id && b.in_flight == Some(correlation_id))
                else {
                    return;
                };
                let batch = &mut state.window[index];
                batch.in_flight = None;
                batch.maybe_written = true;
                batch.retried = true;
                batch.last_error = Some(SendError::TimedOut.name());
                self.refresher.request_refresh();
                if !self.config.idempotence {
                    // Sent again, it could be written twice.
                    self.give_up_maybe_written(&partition, index);
                    return;
                }
                self.retry_later(now_ms, &partition, index);
            }
        }
    }

    // ---- producer id -------------------------------------------------------------------------

    /// Everything that does not wait for an input: metadata, producer id, routing, expiry,
    /// sending, closing.
    fn step(&mut self, now_ms: u64) {
        if let Some((to, request)) = self.refresher.due(now_ms) {
            let deadline_ms = now_ms + self.config.request_timeout_ms;
            let correlation_id = self.requests.start(to, deadline_ms, RequestKind::Metadata);
            self.actions.push(Action::Send {
                to,
                correlation_id,
                request,
            });
        }
        self.route(now_ms);
        self.expire(now_ms);
        self.maybe_request_producer_id(now_ms);
        if self.fatal.is_none()
            && (self.producer_id.current.is_some() || !self.config.idempotence)
            && self.producer_id.wanted.is_none()
        {
            // Only partitions with a batch to send or retry (send_ready does nothing for the rest).
            let mut partitions = std::mem::take(&mut self.ready_partitions);
            partitions.extend(
                self.partitions
                    .iter()
                    .filter(|(_, state)| !state.window.is_empty() || !state.open.is_empty())
                    .map(|(partition, _)| partition.clone()),
            );
            for partition in partitions.drain(..) {
                self.send_ready(now_ms, &partition);
            }
            self.ready_partitions = partitions;
        }
        if self.pending_sends() == 0 {
            self.flush_requested = false;
            if self.closing && !self.closed {
                self.closed = true;
                self.record(Op::Close);
            }
        }
    }
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
