//! The scenario model: cluster, workload, fault schedule and phases, as a Rust value and as a TOML
//! file (`docs/scenarios.md`).
//!
//! A scenario is data. The named scenarios are functions from a seed to a `Scenario` (their fault
//! times and targets are drawn from the seed's `scenario` stream), so the same seed always gives
//! the same scenario, and a scenario written out as TOML replays exactly with the same seed.
//!
//! The builder reads like prose:
//!
//! ```
//! use scenarios::spec::*;
//! let scenario = Scenario::named("my-test")
//!     .topic("orders", 2)
//!     .producer(ProducerSpec::new("orders").records(500).rate_per_sec(100))
//!     .consumer(ConsumerSpec::new("orders"))
//!     .fault(crash(broker(1)).at_ms(5_000).for_ms(3_000))
//!     .fault(grow("orders", 4).at_ms(8_000));
//! assert_eq!(scenario.faults.len(), 2);
//! ```

pub use client::Personality;
use oracle::FaultKind;
use serde::{Deserialize, Serialize};
mod builder;
mod errors;
#[cfg(test)]
mod tests;
mod toml_form;
mod trigger;
mod validate;

pub use builder::*;
pub use errors::Invalid;
use toml_form::FaultTable;
pub use toml_form::{FAULT_COMMON_FIELDS, FAULT_KINDS};
pub use trigger::{ClusterMoment, EventFilter, Trigger, WITHIN_MS_DEFAULT};

/// Default length of the fault phase.
pub const FAULT_PHASE_MS_DEFAULT: u64 = 30_000;
/// Default bound on the healed liveness phase (it ends earlier once consumers have drained).
pub const LIVENESS_PHASE_MS_DEFAULT: u64 = 60_000;
/// Most faults one scenario may schedule.
pub const FAULTS_MAX: usize = 1_000;
/// Most client processes one scenario may run.
pub const CLIENTS_MAX: usize = 64;
/// A consumer's request timeout: `fetch_max_wait_ms` stays below it.
pub const CONSUMER_REQUEST_TIMEOUT_MS: u64 = 1_000;
/// A broker's request timeout: `replica_fetch_max_wait_ms` stays below it.
pub const BROKER_REQUEST_TIMEOUT_MS: u64 = 1_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub cluster: ClusterSpec,
    #[serde(default, rename = "topic")]
    pub topics: Vec<TopicSpec>,
    #[serde(default, rename = "producer")]
    pub producers: Vec<ProducerSpec>,
    #[serde(default, rename = "consumer")]
    pub consumers: Vec<ConsumerSpec>,
    #[serde(default, rename = "fault")]
    pub faults: Vec<TimedFault>,
    /// Faults happen in [0, fault_phase_ms); then everything is healed.
    #[serde(default = "fault_phase_ms_default")]
    pub fault_phase_ms: u64,
    /// After the heal, consumers get at most this long to read every acknowledged record.
    #[serde(default = "liveness_phase_ms_default")]
    pub liveness_phase_ms: u64,
}

fn fault_phase_ms_default() -> u64 {
    FAULT_PHASE_MS_DEFAULT
}

fn liveness_phase_ms_default() -> u64 {
    LIVENESS_PHASE_MS_DEFAULT
}

/// Default idleness after which a forced expiry forgets a producer: above the producers'
/// delivery timeout, so no batch can still be in doubt (KIP-360).
pub const EXPIRE_IDLE_MS_DEFAULT: u64 = 12_000;

fn expire_idle_ms_default() -> u64 {
    EXPIRE_IDLE_MS_DEFAULT
}

/// Default age below which forced retention keeps records: above the scenarios' producer
/// delivery timeouts, so nothing a producer may still retry is deleted.
pub const RETENTION_MIN_AGE_MS_DEFAULT: u64 = 12_000;

fn retention_min_age_ms_default() -> u64 {
    RETENTION_MIN_AGE_MS_DEFAULT
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSpec {
    pub brokers: u32,
    pub replication_factor: u32,
    pub min_insync_replicas: u32,
    pub segment_bytes_max: u64,
    pub segment_ms: u64,
    /// 0 = no time-based retention.
    pub retention_ms: u64,
    /// 0 = no size-based retention.
    pub retention_bytes: u64,
    pub retention_check_interval_ms: u64,
    /// When the brokers sync appends to disk. In files: `"every-append"`, `"never"` (Kafka's
    /// default: durability by replication) or `"interval-ms:N"`.
    pub sync: SyncPolicy,
    pub replica_lag_ms_max: u64,
    /// The most bytes a follower's fetch asks for (the leader returns at least one batch).
    pub replica_fetch_bytes_max: u64,
    /// How long a leader may hold a caught-up follower's fetch (long poll); below the brokers'
    /// request timeout (1000 ms).
    pub replica_fetch_max_wait_ms: u64,
    pub session_timeout_ms: u64,
    /// How long the group coordinator keeps a group's committed offsets once the group is
    /// empty (Kafka's `offsets.retention.minutes`, KIP-211); default 7 days.
    pub offsets_retention_ms: u64,
    /// How often the coordinator looks for expired offsets
    /// (`offsets.retention.check.interval.ms`).
    pub offsets_retention_check_interval_ms: u64,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            brokers: 3,
            replication_factor: 3,
            min_insync_replicas: 2,
            segment_bytes_max: 64 * 1024,
            segment_ms: 0,
            retention_ms: 0,
            retention_bytes: 0,
            retention_check_interval_ms: 100,
            sync: SyncPolicy::EveryAppend,
            replica_lag_ms_max: 2_000,
            replica_fetch_bytes_max: 1 << 20,
            replica_fetch_max_wait_ms: 250,
            session_timeout_ms: 1_000,
            offsets_retention_ms: broker::coordinator::OFFSETS_RETENTION_MS_DEFAULT,
            offsets_retention_check_interval_ms:
                broker::coordinator::OFFSETS_RETENTION_CHECK_INTERVAL_MS_DEFAULT,
        }
    }
}

/// When the brokers sync appends to disk (Kafka's `flush.messages` and `flush.ms`). In files:
/// `"every-append"`, `"never"` or `"interval-ms:N"`. What is not synced is lost when its broker
/// crashes (or leaves a torn prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SyncPolicy {
    /// Every append is synced before it counts (`flush.messages = 1`).
    EveryAppend,
    /// Each broker syncs every log with unsynced appends every `ms` (`flush.ms`).
    IntervalMs(u64),
    /// Never (Kafka's default): a record survives a crash only on replicas that did not crash.
    Never,
}

impl From<SyncPolicy> for String {
    fn from(policy: SyncPolicy) -> String {
        match policy {
            SyncPolicy::EveryAppend => "every-append".to_string(),
            SyncPolicy::IntervalMs(ms) => format!("interval-ms:{ms}"),
            SyncPolicy::Never => "never".to_string(),
        }
    }
}

impl TryFrom<String> for SyncPolicy {
    type Error = String;
    fn try_from(text: String) -> Result<SyncPolicy, String> {
        match text.as_str() {
            "every-append" => Ok(SyncPolicy::EveryAppend),
            "never" => Ok(SyncPolicy::Never),
            _ => text
                .strip_prefix("interval-ms:")
                .and_then(|ms| ms.parse::<u64>().ok())
                .filter(|&ms| ms >= 1)
                .map(SyncPolicy::IntervalMs)
                .ok_or_else(|| {
                    format!(
                        "sync '{text}' is not \"every-append\", \"never\" or \"interval-ms:N\" \
                         (N >= 1)"
                    )
                }),
        }
    }
}

/// Which acknowledgement a producer asks for (Kafka's `acks`). In files: `"all"`, `1` or `0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "AcksForm", into = "AcksForm")]
pub enum Acks {
    /// Every in-sync replica holds the record (refused below `min_insync_replicas`).
    All,
    /// The leader appended it: lost if the leader fails before its followers copy it.
    Leader,
    /// No answer at all: the send is done (outcome unknown) once it is sent.
    None,
}

/// Kafka's `compression.type` of a producer's batches: the batch format's own codecs, spelled in
/// files by their Kafka names (`"none"`, `"gzip"`, `"snappy"`, `"lz4"`, `"zstd"`).
pub use broker::batch::Compression;

mod compression_name {
    use super::Compression;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(compression: &Compression, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(compression.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Compression, D::Error> {
        let name = String::deserialize(d)?;
        Compression::from_name(&name).ok_or_else(|| {
            let names: Vec<&str> = Compression::ALL.iter().map(|c| c.name()).collect();
            serde::de::Error::custom(format!(
                "compression '{name}' is not one of {}",
                names.join(", ")
            ))
        })
    }
}

/// `acks` as a file may spell it: `"all"` (or `"-1"`, `"1"`, `"0"`) or a number (`-1`, `1`, `0`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum AcksForm {
    Number(i64),
    Text(String),
}

impl From<Acks> for AcksForm {
    fn from(acks: Acks) -> AcksForm {
        match acks {
            Acks::All => AcksForm::Text("all".to_string()),
            Acks::Leader => AcksForm::Number(1),
            Acks::None => AcksForm::Number(0),
        }
    }
}

impl TryFrom<AcksForm> for Acks {
    type Error = String;
    fn try_from(form: AcksForm) -> Result<Acks, String> {
        let text = match form {
            AcksForm::Number(number) => number.to_string(),
            AcksForm::Text(text) => text,
        };
        match text.as_str() {
            "all" | "-1" => Ok(Acks::All),
            "1" => Ok(Acks::Leader),
            "0" => Ok(Acks::None),
            _ => Err(format!("acks '{text}' is not \"all\", 1 or 0")),
        }
    }
}

impl std::fmt::Display for Acks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Acks::All => f.write_str("\"all\""),
            Acks::Leader => f.write_str("1"),
            Acks::None => f.write_str("0"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
}

/// In files: `"keyless"` or `"keyed:N"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum KeyMode {
    /// No key: round robin over available partitions.
    Keyless,
    /// Keys `key-0` .. `key-(n-1)`, drawn from the workload stream.
    Keyed(u32),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerSpec {
    pub topic: String,
    /// Records to send in all (over the producer's life, across restarts).
    pub records: u64,
    pub rate_per_sec: u64,
    pub keys: KeyMode,
    pub linger_ms: u64,
    pub batch_bytes_max: u64,
    /// Which acknowledgement it asks for (Kafka's `acks`).
    pub acks: Acks,
    /// Producer id and sequences (KIP-98, Kafka's `enable.idempotence`): requires `acks = "all"`.
    pub idempotence: bool,
    /// How its batches' records are compressed (Kafka's `compression.type`).
    #[serde(with = "compression_name")]
    pub compression: Compression,
    /// Batches in flight per partition, 1..=5; 1 without idempotence.
    pub max_in_flight: u32,
    pub delivery_timeout_ms: u64,
    /// How long it waits for any answer (the leader may wait half of it for the ISR).
    pub request_timeout_ms: u64,
    /// Attempts of a batch beyond the first (Kafka's `retries`); the delivery timeout bounds them
    /// too.
    pub retries: u32,
    /// Start sending at this time.
    pub start_ms: u64,
    /// How often the producer refreshes metadata even without errors.
    pub metadata_max_age_ms: u64,
    /// The application goes quiet once, after this many records, for `idle_ms`.
    pub idle_after_records: Option<u64>,
    pub idle_ms: u64,
    /// Whose reactions the producer takes on (`client::personality`): `java` (default),
    /// `librdkafka`, `franz-go` or `streamsim`.
    pub personality: Personality,
}

impl Default for ProducerSpec {
    fn default() -> Self {
        ProducerSpec {
            topic: String::new(),
            records: 1_000,
            rate_per_sec: 100,
            keys: KeyMode::Keyless,
            linger_ms: 5,
            batch_bytes_max: 16 * 1024,
            acks: Acks::All,
            idempotence: true,
            compression: Compression::None,
            max_in_flight: 5,
            delivery_timeout_ms: 10_000,
            request_timeout_ms: 1_000,
            retries: 199,
            start_ms: 0,
            metadata_max_age_ms: 1_000,
            idle_after_records: None,
            idle_ms: 0,
            personality: Personality::Java,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitMode {
    /// Commit automatically every `offset_flush_ms` (0 = after every record).
    Auto,
    /// Commit explicitly after every `commit_every_records` records.
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResetPolicy {
    Earliest,
    Latest,
    None,
}

/// How a consumer gets its partitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assignment {
    /// No group protocol: member `member` of `members` reads the partitions `p` with
    /// `p % members == member` (a fixed split, no rebalances).
    #[default]
    Modulo,
    /// A member of its group (JoinGroup, SyncGroup, heartbeats) with Kafka's range assignor
    /// (eager rebalances: everything is revoked before each rejoin).
    Range,
    /// A member of its group with Kafka's cooperative-sticky assignor (incremental
    /// rebalances: only the partitions that move are revoked).
    CooperativeSticky,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerSpec {
    pub topic: String,
    /// Consumer group (or consumer id); committed offsets are stored under it.
    pub group: String,
    /// How the consumer gets its partitions: `modulo` (default, fixed), `range` or
    /// `cooperative-sticky` (group membership with that assignor).
    pub assignment: Assignment,
    /// With `assignment = "modulo"`: this consumer is member `member` of `members`.
    pub member: u32,
    pub members: u32,
    /// Group members: `session.timeout.ms` (the coordinator accepts 6000 and more).
    pub session_timeout_ms: u64,
    /// Group members: `heartbeat.interval.ms`.
    pub heartbeat_interval_ms: u64,
    /// Group members: `max.poll.interval.ms`, the rebalance timeout.
    pub rebalance_timeout_ms: u64,
    /// Group members: `group.instance.id`, a static member (KIP-345).
    pub instance_id: Option<String>,
    pub commit: CommitMode,
    pub offset_flush_ms: u64,
    pub commit_every_records: u64,
    pub reset: ResetPolicy,
    /// Fetch from a follower in this rack (KIP-392), e.g. "rack-2".
    pub rack: Option<String>,
    /// Simulated processing time per record (makes the consumer lag).
    pub processing_delay_ms: u64,
    /// Fetched records the consumer buffers ahead of the application; a small buffer makes a
    /// slow consumer lag at the brokers too, not only in delivery.
    pub fetch_buffer_records: usize,
    /// The most bytes one fetch asks for (a broker returns at least one batch).
    pub fetch_max_bytes: u64,
    /// How long a broker may hold a fetch that finds nothing new (long poll); below the
    /// consumer's request timeout (1000 ms).
    pub fetch_max_wait_ms: u64,
    pub start_ms: u64,
    /// Start at this offset instead of the committed one (e.g. 0, "consume from offset 0").
    pub start_offset: Option<u64>,
    /// Whose reactions the consumer takes on (`client::personality`): `java` (default),
    /// `librdkafka`, `franz-go` or `streamsim`.
    pub personality: Personality,
}

impl Default for ConsumerSpec {
    fn default() -> Self {
        ConsumerSpec {
            topic: String::new(),
            group: "group-0".to_string(),
            assignment: Assignment::Modulo,
            member: 0,
            members: 1,
            session_timeout_ms: 10_000,
            heartbeat_interval_ms: 1_000,
            rebalance_timeout_ms: 15_000,
            instance_id: None,
            commit: CommitMode::Auto,
            offset_flush_ms: 100,
            commit_every_records: 10,
            reset: ResetPolicy::Earliest,
            rack: None,
            processing_delay_ms: 0,
            fetch_buffer_records: 2_000,
            fetch_max_bytes: 64 * 1024,
            fetch_max_wait_ms: 500,
            start_ms: 0,
            start_offset: None,
            personality: Personality::Java,
        }
    }
}

impl From<KeyMode> for String {
    fn from(mode: KeyMode) -> String {
        match mode {
            KeyMode::Keyless => "keyless".to_string(),
            KeyMode::Keyed(keys) => format!("keyed:{keys}"),
        }
    }
}

impl TryFrom<String> for KeyMode {
    type Error = String;
    fn try_from(text: String) -> Result<KeyMode, String> {
        if text == "keyless" {
            return Ok(KeyMode::Keyless);
        }
        text.strip_prefix("keyed:")
            .and_then(|keys| keys.parse().ok())
            .map(KeyMode::Keyed)
            .ok_or_else(|| format!("keys '{text}' is neither \"keyless\" nor \"keyed:N\""))
    }
}

/// A node a fault can aim at. In files: `"broker-1"`, `"controller"`, `"producer-0"`,
/// `"consumer-2"`, `"leader-of:orders/0"`, `"follower-of:orders/0"`, `"successor-of:orders/0"`,
/// `"trigger"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Target {
    Broker(u32),
    Controller,
    /// The i-th producer (0-based), as listed in the scenario.
    Producer(u32),
    /// The i-th consumer (0-based), as listed in the scenario.
    Consumer(u32),
    /// The current leader of a partition, resolved when the fault fires.
    LeaderOf {
        topic: String,
        partition: u32,
    },
    /// A follower of a partition (the running broker with the lowest id that holds it and does
    /// not lead it).
    FollowerOf {
        topic: String,
        partition: u32,
    },
    /// The follower the controller would elect if the leader failed now: the first in-sync
    /// follower in the partition's replica order that runs.
    SuccessorOf {
        topic: String,
        partition: u32,
    },
    /// The broker named by the event that fired the fault (a fault with `when`).
    Trigger,
}

/// The scenario file's own spelling: `broker-1`, `controller`, `producer-0`, `consumer-2`,
/// `leader-of:orders/0`, `follower-of:orders/0`, `successor-of:orders/0` (what reports and logs
/// show, too).
impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Broker(id) => write!(f, "broker-{id}"),
            Target::Controller => write!(f, "controller"),
            Target::Producer(index) => write!(f, "producer-{index}"),
            Target::Consumer(index) => write!(f, "consumer-{index}"),
            Target::LeaderOf { topic, partition } => write!(f, "leader-of:{topic}/{partition}"),
            Target::FollowerOf { topic, partition } => {
                write!(f, "follower-of:{topic}/{partition}")
            }
            Target::SuccessorOf { topic, partition } => {
                write!(f, "successor-of:{topic}/{partition}")
            }
            Target::Trigger => write!(f, "trigger"),
        }
    }
}

impl From<Target> for String {
    fn from(target: Target) -> String {
        target.to_string()
    }
}

/// Targets as a list in the file's spelling: `[broker-1, producer-0]`.
pub fn targets_to_string(targets: &[Target]) -> String {
    let names: Vec<String> = targets.iter().map(Target::to_string).collect();
    format!("[{}]", names.join(", "))
}

impl TryFrom<String> for Target {
    type Error = String;
    fn try_from(text: String) -> Result<Target, String> {
        let invalid = || {
            format!(
                "target '{text}' is not one of broker-N, controller, producer-N, consumer-N, \
                 leader-of:TOPIC/P, follower-of:TOPIC/P, successor-of:TOPIC/P, trigger"
            )
        };
        let number = |rest: &str| rest.parse::<u32>().map_err(|_| invalid());
        let topic_partition = |rest: &str| -> Result<(String, u32), String> {
            let (topic, partition) = rest.rsplit_once('/').ok_or_else(invalid)?;
            if topic.is_empty() {
                return Err(invalid());
            }
            Ok((topic.to_string(), number(partition)?))
        };
        if text == "controller" {
            Ok(Target::Controller)
        } else if text == "trigger" {
            Ok(Target::Trigger)
        } else if let Some(rest) = text.strip_prefix("broker-") {
            Ok(Target::Broker(number(rest)?))
        } else if let Some(rest) = text.strip_prefix("producer-") {
            Ok(Target::Producer(number(rest)?))
        } else if let Some(rest) = text.strip_prefix("consumer-") {
            Ok(Target::Consumer(number(rest)?))
        } else if let Some(rest) = text.strip_prefix("leader-of:") {
            let (topic, partition) = topic_partition(rest)?;
            Ok(Target::LeaderOf { topic, partition })
        } else if let Some(rest) = text.strip_prefix("follower-of:") {
            let (topic, partition) = topic_partition(rest)?;
            Ok(Target::FollowerOf { topic, partition })
        } else if let Some(rest) = text.strip_prefix("successor-of:") {
            let (topic, partition) = topic_partition(rest)?;
            Ok(Target::SuccessorOf { topic, partition })
        } else {
            Err(invalid())
        }
    }
}

/// What a crash leaves where a broker's unsynced bytes were. In files: `tail = "torn"`
/// (the default), `"garbage"` or `"zeros"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tail {
    /// A prefix of the unsynced bytes survives (a torn write), or nothing.
    #[default]
    Torn,
    /// Random bytes, at most as many as were unsynced.
    Garbage,
    /// Zeros, at most as many as were unsynced.
    Zeros,
}

impl Tail {
    pub fn is_torn(&self) -> bool {
        *self == Tail::Torn
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tail::Torn => "torn",
            Tail::Garbage => "garbage",
            Tail::Zeros => "zeros",
        }
    }
}

/// One fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Kill a node (its disk loses unsynced writes, leaving `tail` in their place); it is
    /// restarted after `for_ms` if given, else at the heal.
    Crash {
        target: Target,
        #[serde(default, skip_serializing_if = "Tail::is_torn")]
        tail: Tail,
    },
    /// A broker goes down and comes back with an empty disk (a replaced drive): restarted after
    /// `for_ms` (else at the heal) as a new incarnation with no log at all. Skipped when it is
    /// the only in-sync replica of a partition it holds (that would destroy the last copy of
    /// acknowledged records, which no Kafka defence can bring back).
    WipeDisk { target: Target },
    /// Cut a broker off from the controller alone: it still reaches the other brokers and the
    /// clients (a follower that keeps fetching while its heartbeats fail).
    IsolateFromController { target: Target },
    /// Shut a client down cleanly (a consumer flushes its commits first); it starts again after
    /// `for_ms` if given, else at the heal.
    Close { target: Target },
    /// Freeze a node.
    Pause { target: Target },
    /// Cut a node off from every other node.
    Isolate { target: Target },
    /// Cut a broker off from the other brokers and the controller while clients still reach
    /// it: a leader that does not know it was replaced (a zombie) keeps taking writes.
    IsolateFromCluster { target: Target },
    /// Drop messages from one node to another (one way).
    Clog { from: Target, to: Target },
    /// Split brokers into two sides: `side` against everyone else.
    Partition { side: Vec<Target> },
    /// Lose this fraction of messages, network-wide.
    PacketLoss { rate: f64 },
    /// Network latency range.
    Latency { min_ms: u64, max_ms: u64 },
    /// Disk errors and latency on one node.
    Disk {
        target: Target,
        #[serde(default)]
        read_error_rate: f64,
        #[serde(default)]
        write_error_rate: f64,
        #[serde(default)]
        latency_ms: u64,
    },
    /// Run retention on one replica up to `offset` (bounded by its high watermark, and by
    /// records older than `min_age_ms`), so its log start may run ahead of the leader's.
    Retention {
        target: Target,
        topic: String,
        partition: u32,
        offset: u64,
        #[serde(default = "retention_min_age_ms_default")]
        min_age_ms: u64,
    },
    /// A follower goes down and comes back after `for_ms` (else at the heal), a new
    /// incarnation, without its log above the partition's committed offset as of going down
    /// (the highest high watermark any leader announced: its uncommitted tail, as a lost disk
    /// cache). That tail may hold records it reported to a leader, which may count them as
    /// committed at any time; so the cut is made at the restart, and only if the controller has
    /// fenced it meanwhile and taken it out of the partition's ISR: then it cannot lead, nor
    /// rejoin the ISR before it caught up again (KIP-903). The ISR's last member keeps its log
    /// (it would lead with less than was acknowledged: KIP-966's "last replica standing").
    TruncateFollower {
        target: Target,
        topic: String,
        partition: u32,
    },
    /// Every replica of a partition forgets the state of producers idle for `idle_ms`
    /// (producer-id loss, as Kafka's `producer.id.expiration.ms` does).
    ExpirePids {
        topic: String,
        partition: u32,
        #[serde(default = "expire_idle_ms_default")]
        idle_ms: u64,
    },
    /// Grow a topic to `count` partitions.
    AddPartitions { topic: String, count: u32 },
}

impl Fault {
    /// The nodes it aims at, as the file lists them.
    pub fn targets(&self) -> Vec<&Target> {
        match self {
            Fault::Crash { target, .. }
            | Fault::WipeDisk { target }
            | Fault::IsolateFromController { target }
            | Fault::Close { target }
            | Fault::Pause { target }
            | Fault::Isolate { target }
            | Fault::IsolateFromCluster { target }
            | Fault::Disk { target, .. }
            | Fault::Retention { target, .. }
            | Fault::TruncateFollower { target, .. } => vec![target],
            Fault::Clog { from, to } => vec![from, to],
            Fault::Partition { side } => side.iter().collect(),
            Fault::PacketLoss { .. }
            | Fault::Latency { .. }
            | Fault::ExpirePids { .. }
            | Fault::AddPartitions { .. } => Vec::new(),
        }
    }

    /// The name recorded in the history's `fault` events.
    /// The `fault` event this fault begins with.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Crash { .. } => FaultKind::Crash,
            Fault::WipeDisk { .. } => FaultKind::WipeDisk,
            Fault::IsolateFromController { .. } => FaultKind::Partition,
            Fault::Close { .. } => FaultKind::Close,
            Fault::Pause { .. } => FaultKind::Pause,
            Fault::Isolate { .. } | Fault::IsolateFromCluster { .. } => FaultKind::Partition,
            Fault::Clog { .. } => FaultKind::Clog,
            Fault::Partition { .. } => FaultKind::Partition,
            Fault::PacketLoss { .. } => FaultKind::Loss,
            Fault::Latency { .. } => FaultKind::Latency,
            Fault::Disk { .. } => FaultKind::Disk,
            Fault::Retention { .. } => FaultKind::Retention,
            Fault::TruncateFollower { .. } => FaultKind::TruncateFollower,
            Fault::ExpirePids { .. } => FaultKind::ExpirePid,
            Fault::AddPartitions { .. } => FaultKind::AddPartitions,
        }
    }
}

/// A fault at a time, optionally repaired after a while. In files the fault's own fields sit
/// beside `at_ms` and `for_ms`: `[[fault]] at_ms = 5000 for_ms = 2000 kind = "crash"
/// target = "broker-1"`.
///
/// Read through [`FaultTable`] (every field of every kind, then checked against the kind)
/// rather than through `flatten`, which would lose the position of a bad field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "FaultTable")]
pub struct TimedFault {
    pub at_ms: u64,
    /// Repair after this long (restart, resume, reconnect, clear); None = at the heal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
    /// Fire on this cluster event rather than at `at_ms` (which then arms it): see
    /// [`Trigger`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Trigger>,
    /// Only events of this topic or partition fire it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<EventFilter>,
    /// The fault fires a delay drawn from the seed in `[0, within_ms]` after the event
    /// (default [`WITHIN_MS_DEFAULT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_ms: Option<u64>,
    #[serde(flatten)]
    pub fault: Fault,
}
