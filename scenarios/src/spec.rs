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

use oracle::FaultKind;
use serde::{Deserialize, Serialize};

/// Default length of the fault phase.
pub const FAULT_PHASE_MS_DEFAULT: u64 = 30_000;
/// Default bound on the healed liveness phase (it ends earlier once consumers have drained).
pub const LIVENESS_PHASE_MS_DEFAULT: u64 = 60_000;
/// Most faults one scenario may schedule.
pub const FAULTS_MAX: usize = 1_000;
/// Most client processes one scenario may run.
pub const CLIENTS_MAX: usize = 64;

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
    /// fsync every append before it counts (false: Kafka's default of relying on replication).
    pub sync_each_append: bool,
    pub replica_lag_ms_max: u64,
    pub session_timeout_ms: u64,
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
            sync_each_append: true,
            replica_lag_ms_max: 2_000,
            session_timeout_ms: 1_000,
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
    pub delivery_timeout_ms: u64,
    /// Start sending at this time.
    pub start_ms: u64,
    /// How often the producer refreshes metadata even without errors.
    pub metadata_max_age_ms: u64,
    /// The application goes quiet once, after this many records, for `idle_ms`.
    pub idle_after_records: Option<u64>,
    pub idle_ms: u64,
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
            delivery_timeout_ms: 10_000,
            start_ms: 0,
            metadata_max_age_ms: 1_000,
            idle_after_records: None,
            idle_ms: 0,
        }
    }
}

impl ProducerSpec {
    pub fn new(topic: &str) -> ProducerSpec {
        ProducerSpec {
            topic: topic.to_string(),
            ..ProducerSpec::default()
        }
    }
    pub fn records(mut self, records: u64) -> Self {
        self.records = records;
        self
    }
    pub fn rate_per_sec(mut self, rate: u64) -> Self {
        self.rate_per_sec = rate;
        self
    }
    pub fn keyed(mut self, keys: u32) -> Self {
        self.keys = KeyMode::Keyed(keys);
        self
    }
    pub fn start_ms(mut self, start_ms: u64) -> Self {
        self.start_ms = start_ms;
        self
    }
    pub fn linger_ms(mut self, linger_ms: u64) -> Self {
        self.linger_ms = linger_ms;
        self
    }
    /// Goes quiet after `records` records for `idle_ms`.
    pub fn idle(mut self, records: u64, idle_ms: u64) -> Self {
        self.idle_after_records = Some(records);
        self.idle_ms = idle_ms;
        self
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerSpec {
    pub topic: String,
    /// Consumer group (or consumer id); committed offsets are stored under it.
    pub group: String,
    /// This consumer is member `member` of `members` in its group (static assignment).
    pub member: u32,
    pub members: u32,
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
    pub start_ms: u64,
    /// Start at this offset instead of the committed one (e.g. 0, "consume from offset 0").
    pub start_offset: Option<u64>,
}

impl Default for ConsumerSpec {
    fn default() -> Self {
        ConsumerSpec {
            topic: String::new(),
            group: "group-0".to_string(),
            member: 0,
            members: 1,
            commit: CommitMode::Auto,
            offset_flush_ms: 100,
            commit_every_records: 10,
            reset: ResetPolicy::Earliest,
            rack: None,
            processing_delay_ms: 0,
            fetch_buffer_records: 2_000,
            start_ms: 0,
            start_offset: None,
        }
    }
}

impl ConsumerSpec {
    pub fn new(topic: &str) -> ConsumerSpec {
        ConsumerSpec {
            topic: topic.to_string(),
            ..ConsumerSpec::default()
        }
    }
    pub fn group(mut self, group: &str) -> Self {
        self.group = group.to_string();
        self
    }
    pub fn manual_commit(mut self, every_records: u64) -> Self {
        self.commit = CommitMode::Manual;
        self.commit_every_records = every_records;
        self
    }
    pub fn auto_commit(mut self, offset_flush_ms: u64) -> Self {
        self.commit = CommitMode::Auto;
        self.offset_flush_ms = offset_flush_ms;
        self
    }
    pub fn rack(mut self, rack: &str) -> Self {
        self.rack = Some(rack.to_string());
        self
    }
    pub fn processing_delay_ms(mut self, delay_ms: u64) -> Self {
        self.processing_delay_ms = delay_ms;
        self
    }
    /// A slow application that also fetches slowly: `delay_ms` per record, a small buffer.
    pub fn lagging(mut self, delay_ms: u64) -> Self {
        self.processing_delay_ms = delay_ms;
        self.fetch_buffer_records = 10;
        self
    }
    pub fn start_ms(mut self, start_ms: u64) -> Self {
        self.start_ms = start_ms;
        self
    }
    pub fn start_offset(mut self, offset: u64) -> Self {
        self.start_offset = Some(offset);
        self
    }
    pub fn reset(mut self, reset: ResetPolicy) -> Self {
        self.reset = reset;
        self
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
/// `"consumer-2"`, `"leader-of:orders/0"`, `"follower-of:orders/0"`.
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
    /// A follower of a partition (the first one in replica order that is not the leader).
    FollowerOf {
        topic: String,
        partition: u32,
    },
}

/// The scenario file's own spelling: `broker-1`, `controller`, `producer-0`, `consumer-2`,
/// `leader-of:orders/0`, `follower-of:orders/0` (what reports and logs show, too).
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
                 leader-of:TOPIC/P, follower-of:TOPIC/P"
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
        } else {
            Err(invalid())
        }
    }
}

pub fn broker(id: u32) -> Target {
    Target::Broker(id)
}
pub fn leader_of(topic: &str, partition: u32) -> Target {
    Target::LeaderOf {
        topic: topic.to_string(),
        partition,
    }
}
pub fn follower_of(topic: &str, partition: u32) -> Target {
    Target::FollowerOf {
        topic: topic.to_string(),
        partition,
    }
}

/// One fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Kill a node (its disk loses unsynced writes, maybe keeping a torn prefix); it is restarted
    /// after `for_ms` if given, else at the heal.
    Crash { target: Target },
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
    /// A follower goes down and loses its log above its high watermark (a lost disk cache);
    /// restarted after `for_ms` (else at the heal). Down, it cannot lead with less than was
    /// acknowledged; back, it is a new incarnation outside the ISR.
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
            Fault::Crash { target }
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
    #[serde(flatten)]
    pub fault: Fault,
}

/// The keys every `[[fault]]` table may have, whatever its kind.
pub const FAULT_COMMON_FIELDS: &[&str] = &["at_ms", "for_ms", "kind"];

/// Each fault kind as files spell it, with its required and its optional fields.
pub const FAULT_KINDS: &[(&str, &[&str], &[&str])] = &[
    ("crash", &["target"], &[]),
    ("close", &["target"], &[]),
    ("pause", &["target"], &[]),
    ("isolate", &["target"], &[]),
    ("isolate-from-cluster", &["target"], &[]),
    ("clog", &["from", "to"], &[]),
    ("partition", &["side"], &[]),
    ("packet-loss", &["rate"], &[]),
    ("latency", &["min_ms", "max_ms"], &[]),
    (
        "disk",
        &["target"],
        &["read_error_rate", "write_error_rate", "latency_ms"],
    ),
    (
        "retention",
        &["target", "topic", "partition", "offset"],
        &["min_age_ms"],
    ),
    ("truncate-follower", &["target", "topic", "partition"], &[]),
    ("expire-pids", &["topic", "partition"], &["idle_ms"]),
    ("add-partitions", &["topic", "count"], &[]),
];

fn fault_kind_names() -> String {
    let names: Vec<&str> = FAULT_KINDS.iter().map(|(kind, _, _)| *kind).collect();
    names.join(", ")
}

/// What is wrong with a `[[fault]]` table's keys for its kind: the key at fault (None: the
/// kind) and the message. `present` lists the table's keys.
fn fault_keys_problem(kind: &str, present: &[&str]) -> Option<(Option<String>, String)> {
    let Some((_, required, optional)) = FAULT_KINDS.iter().find(|(name, _, _)| *name == kind)
    else {
        return Some((
            None,
            format!(
                "'{kind}' is not a fault kind (one of {})",
                fault_kind_names()
            ),
        ));
    };
    let fields: Vec<&str> = required.iter().chain(optional.iter()).copied().collect();
    for key in present {
        if !FAULT_COMMON_FIELDS.contains(key) && !fields.contains(key) {
            let others: Vec<&str> = FAULT_KINDS
                .iter()
                .filter(|(_, required, optional)| required.contains(key) || optional.contains(key))
                .map(|(name, _, _)| *name)
                .collect();
            let belongs = if others.is_empty() {
                "no fault kind has it".to_string()
            } else {
                format!("it belongs to {}", others.join(", "))
            };
            return Some((
                Some(key.to_string()),
                format!(
                    "unknown field `{key}` for a {kind} fault ({belongs}; a {kind} fault has {}, \
                     beside at_ms, for_ms and kind)",
                    fields.join(", ")
                ),
            ));
        }
    }
    for key in *required {
        if !present.contains(key) {
            return Some((
                Some(key.to_string()),
                format!("missing: a {kind} fault needs `{key}`"),
            ));
        }
    }
    None
}

/// A `[[fault]]` table as read from a file: every field any kind has.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultTable {
    at_ms: u64,
    for_ms: Option<u64>,
    kind: String,
    target: Option<Target>,
    from: Option<Target>,
    to: Option<Target>,
    side: Option<Vec<Target>>,
    rate: Option<f64>,
    min_ms: Option<u64>,
    max_ms: Option<u64>,
    read_error_rate: Option<f64>,
    write_error_rate: Option<f64>,
    latency_ms: Option<u64>,
    topic: Option<String>,
    partition: Option<u32>,
    offset: Option<u64>,
    min_age_ms: Option<u64>,
    idle_ms: Option<u64>,
    count: Option<u32>,
}

impl TryFrom<FaultTable> for TimedFault {
    type Error = String;
    fn try_from(table: FaultTable) -> Result<TimedFault, String> {
        let mut present = Vec::new();
        let mut note = |name: &'static str, is_set: bool| {
            if is_set {
                present.push(name);
            }
        };
        note("target", table.target.is_some());
        note("from", table.from.is_some());
        note("to", table.to.is_some());
        note("side", table.side.is_some());
        note("rate", table.rate.is_some());
        note("min_ms", table.min_ms.is_some());
        note("max_ms", table.max_ms.is_some());
        note("read_error_rate", table.read_error_rate.is_some());
        note("write_error_rate", table.write_error_rate.is_some());
        note("latency_ms", table.latency_ms.is_some());
        note("topic", table.topic.is_some());
        note("partition", table.partition.is_some());
        note("offset", table.offset.is_some());
        note("min_age_ms", table.min_age_ms.is_some());
        note("idle_ms", table.idle_ms.is_some());
        note("count", table.count.is_some());
        if let Some((key, message)) = fault_keys_problem(&table.kind, &present) {
            return Err(match key {
                Some(key) => format!("{key}: {message}"),
                None => format!("kind: {message}"),
            });
        }
        // The kind and its required fields are there (checked just above).
        let missing = || "a required field is missing".to_string();
        let target = || table.target.clone().ok_or_else(missing);
        let topic = || table.topic.clone().ok_or_else(missing);
        let partition = || table.partition.ok_or_else(missing);
        let fault = match table.kind.as_str() {
            "crash" => Fault::Crash { target: target()? },
            "close" => Fault::Close { target: target()? },
            "pause" => Fault::Pause { target: target()? },
            "isolate" => Fault::Isolate { target: target()? },
            "isolate-from-cluster" => Fault::IsolateFromCluster { target: target()? },
            "clog" => Fault::Clog {
                from: table.from.clone().ok_or_else(missing)?,
                to: table.to.clone().ok_or_else(missing)?,
            },
            "partition" => Fault::Partition {
                side: table.side.clone().ok_or_else(missing)?,
            },
            "packet-loss" => Fault::PacketLoss {
                rate: table.rate.ok_or_else(missing)?,
            },
            "latency" => Fault::Latency {
                min_ms: table.min_ms.ok_or_else(missing)?,
                max_ms: table.max_ms.ok_or_else(missing)?,
            },
            "disk" => Fault::Disk {
                target: target()?,
                read_error_rate: table.read_error_rate.unwrap_or(0.0),
                write_error_rate: table.write_error_rate.unwrap_or(0.0),
                latency_ms: table.latency_ms.unwrap_or(0),
            },
            "retention" => Fault::Retention {
                target: target()?,
                topic: topic()?,
                partition: partition()?,
                offset: table.offset.ok_or_else(missing)?,
                min_age_ms: table.min_age_ms.unwrap_or(RETENTION_MIN_AGE_MS_DEFAULT),
            },
            "truncate-follower" => Fault::TruncateFollower {
                target: target()?,
                topic: topic()?,
                partition: partition()?,
            },
            "expire-pids" => Fault::ExpirePids {
                topic: topic()?,
                partition: partition()?,
                idle_ms: table.idle_ms.unwrap_or(EXPIRE_IDLE_MS_DEFAULT),
            },
            "add-partitions" => Fault::AddPartitions {
                topic: topic()?,
                count: table.count.ok_or_else(missing)?,
            },
            other => return Err(format!("kind: '{other}' is not a fault kind")),
        };
        Ok(TimedFault {
            at_ms: table.at_ms,
            for_ms: table.for_ms,
            fault,
        })
    }
}

impl TimedFault {
    pub fn at_ms(mut self, at_ms: u64) -> Self {
        self.at_ms = at_ms;
        self
    }
    pub fn for_ms(mut self, for_ms: u64) -> Self {
        self.for_ms = Some(for_ms);
        self
    }
}

fn timed(fault: Fault) -> TimedFault {
    TimedFault {
        at_ms: 0,
        for_ms: None,
        fault,
    }
}

pub fn crash(target: Target) -> TimedFault {
    timed(Fault::Crash { target })
}
pub fn close(target: Target) -> TimedFault {
    timed(Fault::Close { target })
}
pub fn pause(target: Target) -> TimedFault {
    timed(Fault::Pause { target })
}
pub fn packet_loss(rate: f64) -> TimedFault {
    timed(Fault::PacketLoss { rate })
}
pub fn latency(min_ms: u64, max_ms: u64) -> TimedFault {
    timed(Fault::Latency { min_ms, max_ms })
}
pub fn disk_latency(target: Target, latency_ms: u64) -> TimedFault {
    timed(Fault::Disk {
        target,
        read_error_rate: 0.0,
        write_error_rate: 0.0,
        latency_ms,
    })
}
/// The follower goes down, loses its log above its high watermark, and comes back after
/// 500 ms (change with `for_ms`).
pub fn truncate_follower(target: Target, topic: &str, partition: u32) -> TimedFault {
    timed(Fault::TruncateFollower {
        target,
        topic: topic.to_string(),
        partition,
    })
    .for_ms(500)
}
pub fn isolate(target: Target) -> TimedFault {
    timed(Fault::Isolate { target })
}
pub fn isolate_from_cluster(target: Target) -> TimedFault {
    timed(Fault::IsolateFromCluster { target })
}
pub fn clog(from: Target, to: Target) -> TimedFault {
    timed(Fault::Clog { from, to })
}
pub fn timed_partition(side: Vec<Target>) -> TimedFault {
    timed(Fault::Partition { side })
}
pub fn grow(topic: &str, count: u32) -> TimedFault {
    timed(Fault::AddPartitions {
        topic: topic.to_string(),
        count,
    })
}
pub fn expire_pids(topic: &str, partition: u32) -> TimedFault {
    timed(Fault::ExpirePids {
        topic: topic.to_string(),
        partition,
        idle_ms: EXPIRE_IDLE_MS_DEFAULT,
    })
}
/// Expiry of active producers too (spares a producer while its epoch's first batch may be in
/// doubt).
pub fn expire_active_pids(topic: &str, partition: u32) -> TimedFault {
    timed(Fault::ExpirePids {
        topic: topic.to_string(),
        partition,
        idle_ms: 0,
    })
}
pub fn retention(target: Target, topic: &str, partition: u32, offset: u64) -> TimedFault {
    timed(Fault::Retention {
        target,
        topic: topic.to_string(),
        partition,
        offset,
        min_age_ms: RETENTION_MIN_AGE_MS_DEFAULT,
    })
}

impl Scenario {
    pub fn named(name: &str) -> Scenario {
        Scenario {
            name: name.to_string(),
            description: String::new(),
            cluster: ClusterSpec::default(),
            topics: Vec::new(),
            producers: Vec::new(),
            consumers: Vec::new(),
            faults: Vec::new(),
            fault_phase_ms: FAULT_PHASE_MS_DEFAULT,
            liveness_phase_ms: LIVENESS_PHASE_MS_DEFAULT,
        }
    }
    pub fn describe(mut self, description: &str) -> Self {
        self.description = description.to_string();
        self
    }
    pub fn cluster(mut self, change: impl FnOnce(&mut ClusterSpec)) -> Self {
        change(&mut self.cluster);
        self
    }
    pub fn topic(mut self, name: &str, partitions: u32) -> Self {
        self.topics.push(TopicSpec {
            name: name.to_string(),
            partitions,
        });
        self
    }
    pub fn producer(mut self, producer: ProducerSpec) -> Self {
        self.producers.push(producer);
        self
    }
    pub fn consumer(mut self, consumer: ConsumerSpec) -> Self {
        self.consumers.push(consumer);
        self
    }
    pub fn fault(mut self, fault: TimedFault) -> Self {
        self.faults.push(fault);
        self
    }
    pub fn fault_phase_ms(mut self, ms: u64) -> Self {
        self.fault_phase_ms = ms;
        self
    }
    pub fn liveness_phase_ms(mut self, ms: u64) -> Self {
        self.liveness_phase_ms = ms;
        self
    }

    /// Checks the scenario is runnable; the message names the field at fault and its value.
    pub fn validate(&self) -> Result<(), String> {
        self.check().map_err(|invalid| invalid.to_string())
    }

    /// Checks the scenario is runnable: the first problem, with the field at fault
    /// (`fault[2].target`) and what is wrong with its value.
    pub fn check(&self) -> Result<(), Invalid> {
        let c = &self.cluster;
        if self.name.is_empty() {
            return Err(Invalid::new(
                "name",
                "missing or empty: a scenario needs a name",
            ));
        }
        if !(1..=9).contains(&c.brokers) {
            return Err(Invalid::new(
                "cluster.brokers",
                format!("{} is not in 1..=9", c.brokers),
            ));
        }
        if c.replication_factor == 0 || c.replication_factor > c.brokers {
            return Err(Invalid::new(
                "cluster.replication_factor",
                format!(
                    "{} is not in 1..=brokers (brokers = {})",
                    c.replication_factor, c.brokers
                ),
            ));
        }
        if c.min_insync_replicas == 0 || c.min_insync_replicas > c.replication_factor {
            return Err(Invalid::new(
                "cluster.min_insync_replicas",
                format!(
                    "{} is not in 1..=replication_factor (replication_factor = {})",
                    c.min_insync_replicas, c.replication_factor
                ),
            ));
        }
        if c.segment_bytes_max < 128 {
            return Err(Invalid::new(
                "cluster.segment_bytes_max",
                format!("{} is below 128 bytes", c.segment_bytes_max),
            ));
        }
        if self.topics.is_empty() {
            return Err(Invalid::new(
                "topic",
                "missing: a scenario needs at least one [[topic]] table",
            ));
        }
        for (i, topic) in self.topics.iter().enumerate() {
            if topic.name.is_empty() {
                return Err(Invalid::new(
                    format!("topic[{i}].name"),
                    "missing or empty: every [[topic]] needs a name",
                ));
            }
            if let Some(first) = self.topics[..i].iter().position(|t| t.name == topic.name) {
                return Err(Invalid::new(
                    format!("topic[{i}].name"),
                    format!("'{}' is already the name of topic[{first}]", topic.name),
                ));
            }
            if !(1..=64).contains(&topic.partitions) {
                return Err(Invalid::new(
                    format!("topic[{i}].partitions"),
                    format!("{} is not in 1..=64", topic.partitions),
                ));
            }
        }
        let clients = self.producers.len() + self.consumers.len();
        if clients > CLIENTS_MAX {
            let field = if self.producers.len() > CLIENTS_MAX {
                format!("producer[{CLIENTS_MAX}]")
            } else {
                format!("consumer[{}]", CLIENTS_MAX - self.producers.len())
            };
            return Err(Invalid::new(
                field,
                format!(
                    "one client too many: {} producers and {} consumers, at most {CLIENTS_MAX} \
                     clients in all",
                    self.producers.len(),
                    self.consumers.len()
                ),
            ));
        }
        for (i, producer) in self.producers.iter().enumerate() {
            self.check_topic(
                &format!("producer[{i}].topic"),
                &producer.topic,
                "[[producer]]",
            )?;
            if producer.rate_per_sec == 0 || producer.rate_per_sec > 100_000 {
                return Err(Invalid::new(
                    format!("producer[{i}].rate_per_sec"),
                    format!("{} is not in 1..=100000", producer.rate_per_sec),
                ));
            }
            if let KeyMode::Keyed(0) = producer.keys {
                return Err(Invalid::new(
                    format!("producer[{i}].keys"),
                    "'keyed:0' has no keys: keyed needs at least one (\"keyed:1\")",
                ));
            }
            if producer.start_ms >= self.fault_phase_ms {
                return Err(Invalid::new(
                    format!("producer[{i}].start_ms"),
                    format!(
                        "{} is not inside the fault phase (fault_phase_ms = {})",
                        producer.start_ms, self.fault_phase_ms
                    ),
                ));
            }
        }
        for (i, consumer) in self.consumers.iter().enumerate() {
            self.check_topic(
                &format!("consumer[{i}].topic"),
                &consumer.topic,
                "[[consumer]]",
            )?;
            if consumer.members == 0 {
                return Err(Invalid::new(
                    format!("consumer[{i}].members"),
                    "0 is below 1: a group has at least one member",
                ));
            }
            if consumer.member >= consumer.members {
                return Err(Invalid::new(
                    format!("consumer[{i}].member"),
                    format!(
                        "{} is not below members ({})",
                        consumer.member, consumer.members
                    ),
                ));
            }
            if consumer.fetch_buffer_records == 0 {
                return Err(Invalid::new(
                    format!("consumer[{i}].fetch_buffer_records"),
                    "0 is below 1",
                ));
            }
            if consumer.commit == CommitMode::Manual && consumer.commit_every_records == 0 {
                return Err(Invalid::new(
                    format!("consumer[{i}].commit_every_records"),
                    "0 is below 1 (commit = \"manual\" commits every that many records)",
                ));
            }
            if consumer.start_ms >= self.fault_phase_ms {
                return Err(Invalid::new(
                    format!("consumer[{i}].start_ms"),
                    format!(
                        "{} is not inside the fault phase (fault_phase_ms = {})",
                        consumer.start_ms, self.fault_phase_ms
                    ),
                ));
            }
        }
        if self.faults.len() > FAULTS_MAX {
            return Err(Invalid::new(
                format!("fault[{FAULTS_MAX}]"),
                format!(
                    "one fault too many: {} faults, at most {FAULTS_MAX}",
                    self.faults.len()
                ),
            ));
        }
        for (i, fault) in self.faults.iter().enumerate() {
            if fault.at_ms >= self.fault_phase_ms {
                return Err(Invalid::new(
                    format!("fault[{i}].at_ms"),
                    format!(
                        "{} is not inside the fault phase (fault_phase_ms = {})",
                        fault.at_ms, self.fault_phase_ms
                    ),
                ));
            }
            self.check_fault(i, &fault.fault)?;
        }
        if self.liveness_phase_ms < 1_000 {
            return Err(Invalid::new(
                "liveness_phase_ms",
                format!("{} is below 1000", self.liveness_phase_ms),
            ));
        }
        Ok(())
    }

    /// The topics, for messages: `'orders', 'payments'`.
    fn topic_names(&self) -> String {
        let names: Vec<String> = self
            .topics
            .iter()
            .map(|t| format!("'{}'", t.name))
            .collect();
        names.join(", ")
    }

    /// `field` names a topic: it must be one of the scenario's.
    fn check_topic(&self, field: &str, topic: &str, table: &str) -> Result<(), Invalid> {
        if topic.is_empty() {
            Err(Invalid::new(
                field,
                format!(
                    "missing or empty: every {table} names its topic (this scenario has {})",
                    self.topic_names()
                ),
            ))
        } else if self.topics.iter().any(|t| t.name == topic) {
            Ok(())
        } else {
            Err(Invalid::new(
                field,
                format!(
                    "no topic named '{topic}' (this scenario has {})",
                    self.topic_names()
                ),
            ))
        }
    }

    /// `field` is a fault's target: it must exist in this scenario.
    fn check_target(&self, field: &str, target: &Target) -> Result<(), Invalid> {
        let range = |what: &str, first: u32, count: usize| {
            if count == 0 {
                format!("the scenario has no {what}s")
            } else if count == 1 {
                format!("the scenario has one {what}, {what}-{first}")
            } else {
                format!(
                    "the scenario has {what}s {first}..={}",
                    first as usize + count - 1
                )
            }
        };
        let problem = match target {
            Target::Broker(id) if !(1..=self.cluster.brokers).contains(id) => {
                Some(range("broker", 1, self.cluster.brokers as usize))
            }
            Target::Producer(index) if *index as usize >= self.producers.len() => {
                Some(range("producer", 0, self.producers.len()))
            }
            Target::Consumer(index) if *index as usize >= self.consumers.len() => {
                Some(range("consumer", 0, self.consumers.len()))
            }
            Target::LeaderOf { topic, .. } | Target::FollowerOf { topic, .. }
                if !self.topics.iter().any(|t| &t.name == topic) =>
            {
                Some(format!(
                    "no topic named '{topic}'; the scenario has {}",
                    self.topic_names()
                ))
            }
            _ => None,
        };
        match problem {
            None => Ok(()),
            Some(detail) => Err(Invalid::new(
                field,
                format!("{target} does not exist ({detail})"),
            )),
        }
    }

    fn check_fault(&self, i: usize, fault: &Fault) -> Result<(), Invalid> {
        let field = |name: &str| format!("fault[{i}].{name}");
        let rate = |name: &str, rate: f64| {
            if (0.0..=1.0).contains(&rate) {
                Ok(())
            } else {
                Err(Invalid::new(
                    field(name),
                    format!("{rate} is not in [0, 1]"),
                ))
            }
        };
        match fault {
            Fault::Crash { target }
            | Fault::Pause { target }
            | Fault::Isolate { target }
            | Fault::IsolateFromCluster { target } => self.check_target(&field("target"), target),
            Fault::Close { target } => {
                self.check_target(&field("target"), target)?;
                if matches!(target, Target::Producer(_) | Target::Consumer(_)) {
                    Ok(())
                } else {
                    Err(Invalid::new(
                        field("target"),
                        format!(
                            "{target} is not a client: close applies to a producer or consumer"
                        ),
                    ))
                }
            }
            Fault::Retention { target, topic, .. }
            | Fault::TruncateFollower { target, topic, .. } => {
                self.check_target(&field("target"), target)?;
                self.check_topic(&field("topic"), topic, "[[fault]] of this kind")
            }
            Fault::Disk {
                target,
                read_error_rate,
                write_error_rate,
                ..
            } => {
                self.check_target(&field("target"), target)?;
                rate("read_error_rate", *read_error_rate)?;
                rate("write_error_rate", *write_error_rate)
            }
            Fault::Clog { from, to } => {
                self.check_target(&field("from"), from)?;
                self.check_target(&field("to"), to)
            }
            Fault::Partition { side } => {
                for (j, target) in side.iter().enumerate() {
                    self.check_target(&format!("fault[{i}].side[{j}]"), target)?;
                }
                Ok(())
            }
            Fault::PacketLoss { rate: loss } => rate("rate", *loss),
            Fault::Latency { min_ms, max_ms } => {
                if min_ms < max_ms {
                    Ok(())
                } else {
                    Err(Invalid::new(
                        field("min_ms"),
                        format!("{min_ms} is not below max_ms ({max_ms})"),
                    ))
                }
            }
            Fault::ExpirePids { topic, .. } | Fault::AddPartitions { topic, .. } => {
                self.check_topic(&field("topic"), topic, "[[fault]] of this kind")
            }
        }
    }

    /// Parses a scenario file. The error names the field, its value and its line (with the
    /// line itself, the value marked), in the file's own words: `line 14, column 10:
    /// fault[2].target: broker-9 does not exist (the scenario has brokers 1..=3)`.
    pub fn from_toml(text: &str) -> Result<Scenario, String> {
        let document = match toml::de::DeTable::parse(text) {
            Ok(document) => document,
            Err(error) => {
                return Err(render_at(text, error.span(), None, error.message()));
            }
        };
        let root = document.get_ref();
        // The faults' keys are checked against their kind first, on the parsed document, so a
        // bad key is pointed at where it is; it is reported unless the file goes wrong earlier.
        let fault_problem = check_fault_tables(root);
        let parsed: Result<Scenario, toml::de::Error> = toml::from_str(text);
        let serde_problem = parsed.as_ref().err();
        match (fault_problem, serde_problem) {
            (Some(problem), Some(error))
                if error
                    .span()
                    .is_some_and(|span| span.start < problem.table_start) =>
            {
                return Err(render_serde_error(text, root, error));
            }
            (Some(problem), _) => {
                return Err(render_at(
                    text,
                    Some(problem.span),
                    Some(&problem.field),
                    &problem.message,
                ));
            }
            (None, Some(error)) => return Err(render_serde_error(text, root, error)),
            (None, None) => {}
        }
        let scenario = parsed.map_err(|error| error.to_string())?;
        if let Err(invalid) = scenario.check() {
            let span = locate(root, &invalid.field);
            return Err(render_at(
                text,
                span,
                Some(&invalid.field),
                &invalid.message,
            ));
        }
        Ok(scenario)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a scenario serializes to TOML")
    }
}

/// Why a scenario cannot run: the field at fault, as a path into the file (`fault[2].target`,
/// `cluster.brokers`), and what is wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A part of a field path: `fault[2].target` is `fault`, `[2]`, `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next() {
            if !key.is_empty() {
                steps.push(Step::Key(key.to_string()));
            }
        }
        for index in pieces {
            if let Ok(index) = index.trim_end_matches(']').parse() {
                steps.push(Step::Index(index));
            }
        }
    }
    steps
}

fn path_to_string(steps: &[Step]) -> String {
    let mut text = String::new();
    for step in steps {
        match step {
            Step::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Step::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

type Node<'i> = toml::Spanned<toml::de::DeValue<'i>>;

/// Where a field is in the file: its value, or — when the file leaves it out — the table that
/// should hold it (a `[[producer]]` header); None when there is nothing to point at.
fn locate(root: &toml::de::DeTable<'_>, field: &str) -> Option<std::ops::Range<usize>> {
    let mut table = root;
    let mut found: Option<&Node<'_>> = None;
    let mut steps = parse_path(field).into_iter().peekable();
    while let Some(step) = steps.next() {
        let next = match (&step, found) {
            (Step::Key(key), _) => table.get(key.as_str()),
            (Step::Index(index), Some(node)) => match node.get_ref() {
                toml::de::DeValue::Array(array) => array.get(*index),
                _ => None,
            },
            (Step::Index(_), None) => None,
        };
        let Some(next) = next else {
            // Not in the file: the table that would hold it, if it is one.
            return found
                .map(|node| node.span())
                .filter(|span| !span.is_empty());
        };
        found = Some(next);
        if let toml::de::DeValue::Table(inner) = next.get_ref() {
            table = inner;
        } else if steps
            .peek()
            .is_some_and(|step| matches!(step, Step::Key(_)))
        {
            return Some(next.span());
        }
    }
    found.map(|node| node.span())
}

/// The field at `offset`: the deepest key or value whose span holds it (an array-of-tables
/// element is found by its keys, or by its `[[header]]`).
fn path_at(table: &toml::de::DeTable<'_>, offset: usize, path: &mut Vec<Step>) -> bool {
    for (key, value) in table.iter() {
        path.push(Step::Key(key.get_ref().to_string()));
        if key.span().contains(&offset) || value_at(value, offset, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn value_at(value: &Node<'_>, offset: usize, path: &mut Vec<Step>) -> bool {
    let span = value.span();
    let holds = span.contains(&offset) || (span.is_empty() && span.start == offset);
    match value.get_ref() {
        toml::de::DeValue::Table(inner) => path_at(inner, offset, path) || holds,
        toml::de::DeValue::Array(array) => {
            for (index, element) in array.iter().enumerate() {
                path.push(Step::Index(index));
                if value_at(element, offset, path) {
                    return true;
                }
                path.pop();
            }
            holds
        }
        _ => holds,
    }
}

/// A serde error from the file, with the field it is about named before its message.
fn render_serde_error(text: &str, root: &toml::de::DeTable<'_>, error: &toml::de::Error) -> String {
    // An error about the whole document (a missing top-level key) has an empty span at 0.
    let span = error
        .span()
        .filter(|span| !(span.is_empty() && span.start == 0));
    let mut path = Vec::new();
    let field = match &span {
        Some(span) if path_at(root, span.start, &mut path) => Some(path_to_string(&path)),
        Some(_) => None,
        // `missing field `name``: the field is the missing one.
        None => error
            .message()
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field.to_string()),
    };
    render_at(text, span, field.as_deref(), error.message())
}

/// `line L, column C: FIELD: MESSAGE`, then the line with the spot marked (as toml marks its
/// own errors); without a position, `FIELD: MESSAGE`.
fn render_at(
    text: &str,
    span: Option<std::ops::Range<usize>>,
    field: Option<&str>,
    message: &str,
) -> String {
    let what = match field {
        Some(field) if !field.is_empty() => format!("{field}: {message}"),
        _ => message.to_string(),
    };
    let Some(span) = span else {
        return what;
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |at| start + at);
    let line_number = text[..line_start].matches('\n').count() + 1;
    let content = text[line_start..line_end].trim_end_matches('\r');
    let column = text[line_start..start].chars().count() + 1;
    let width = text[start..span.end.clamp(start, line_end)]
        .chars()
        .count()
        .max(1);
    let gutter = " ".repeat(line_number.to_string().len());
    format!(
        "line {line_number}, column {column}: {what}\n{gutter} |\n{line_number} | {content}\n{gutter} | {}{}",
        " ".repeat(column - 1),
        "^".repeat(width)
    )
}

/// A problem with a `[[fault]]` table's keys, found on the parsed document.
struct FaultTableProblem {
    /// Where its `[[fault]]` header starts (to report problems in file order).
    table_start: usize,
    span: std::ops::Range<usize>,
    field: String,
    message: String,
}

/// Checks each `[[fault]]` table's `kind` and keys against the kind, pointing at the key at
/// fault (or at the table, for a missing one).
fn check_fault_tables(root: &toml::de::DeTable<'_>) -> Option<FaultTableProblem> {
    let toml::de::DeValue::Array(faults) = root.get("fault")?.get_ref() else {
        return None;
    };
    for (i, fault) in faults.iter().enumerate() {
        let toml::de::DeValue::Table(table) = fault.get_ref() else {
            continue;
        };
        let header = fault.span();
        let problem = |span: std::ops::Range<usize>, key: &str, message: String| {
            Some(FaultTableProblem {
                table_start: header.start,
                span,
                field: format!("fault[{i}].{key}"),
                message,
            })
        };
        let Some(kind) = table.get("kind") else {
            return problem(
                header.clone(),
                "kind",
                format!(
                    "missing: every [[fault]] has a kind (one of {})",
                    fault_kind_names()
                ),
            );
        };
        let Some(kind_name) = kind.get_ref().as_str() else {
            continue; // not a string: serde names the type
        };
        // Keys in file order, so the first bad one is reported.
        let mut keys: Vec<(&str, std::ops::Range<usize>)> = table
            .iter()
            .map(|(key, _)| {
                let name: &str = key.get_ref();
                (name, key.span())
            })
            .collect();
        keys.sort_by_key(|(_, span)| span.start);
        let present: Vec<&str> = keys.iter().map(|(key, _)| *key).collect();
        match fault_keys_problem(kind_name, &present) {
            None => {}
            Some((None, message)) => return problem(kind.span(), "kind", message),
            Some((Some(key), message)) => {
                let span = keys
                    .iter()
                    .find(|(name, _)| *name == key)
                    .map_or(header.clone(), |(_, span)| span.clone());
                return problem(span, &key, message);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Scenario {
        Scenario::named("sample")
            .topic("orders", 2)
            .producer(ProducerSpec::new("orders").records(100).keyed(4))
            .consumer(ConsumerSpec::new("orders").manual_commit(5).rack("rack-2"))
            .fault(crash(broker(1)).at_ms(1_000).for_ms(2_000))
            .fault(grow("orders", 4).at_ms(3_000))
            .fault(retention(follower_of("orders", 0), "orders", 0, 50).at_ms(4_000))
            .fault(
                timed(Fault::Latency {
                    min_ms: 1,
                    max_ms: 50,
                })
                .at_ms(500),
            )
    }

    #[test]
    fn toml_round_trips() {
        let scenario = sample();
        scenario.validate().unwrap();
        let text = scenario.to_toml();
        let back = Scenario::from_toml(&text).unwrap();
        assert_eq!(back, scenario, "{text}");
    }

    #[test]
    fn a_broken_file_names_the_line_and_field() {
        let text = "name = \"x\"\n[[topic]]\nname = \"t\"\npartitions = 1\n[cluster]\nbrokers = 3\nbrokres = 4\n";
        let error = Scenario::from_toml(text).unwrap_err();
        assert!(error.contains("line 7"), "{error}");
        assert!(error.contains("brokres"), "{error}");

        let text = "name = \"x\"\n[[topic]]\nname = \"t\"\npartitions = \"many\"\n";
        let error = Scenario::from_toml(text).unwrap_err();
        assert!(error.contains("line 4"), "{error}");
        assert!(error.contains("partitions"), "{error}");
    }

    #[test]
    fn a_fault_with_a_typo_names_the_line_and_the_field() {
        let head = "name = \"x\"\n[[topic]]\nname = \"t\"\npartitions = 1\n";
        let error = Scenario::from_toml(&format!(
            "{head}[[fault]]\nat_ms = 5\nkind = \"crash\"\ntarget = \"broker-1\"\ncolor = \"red\"\n"
        ))
        .unwrap_err();
        // The field's own line, not the [[fault]] header's.
        assert!(
            error.contains("line 9,") && error.contains("fault[0].color"),
            "{error}"
        );
        let error = Scenario::from_toml(&format!(
            "{head}[[fault]]\nat_ms = 5\nkind = \"crash\"\ntarget = \"brokr-1\"\n"
        ))
        .unwrap_err();
        assert!(
            error.contains("line 8,")
                && error.contains("fault[0].target")
                && error.contains("brokr-1"),
            "{error}"
        );
        let error = Scenario::from_toml(&format!("{head}[[fault]]\nat_ms = 5\nkind = \"melt\"\n"))
            .unwrap_err();
        assert!(error.contains("melt"), "{error}");
    }

    #[test]
    fn targets_and_key_modes_have_a_string_form() {
        for target in [
            broker(2),
            Target::Controller,
            Target::Producer(0),
            Target::Consumer(3),
            leader_of("orders", 1),
            follower_of("a/b", 0),
        ] {
            let text = String::from(target.clone());
            assert_eq!(Target::try_from(text).unwrap(), target);
        }
        assert!(Target::try_from("leader-of:orders".to_string()).is_err());
        assert_eq!(
            KeyMode::try_from("keyed:7".to_string()),
            Ok(KeyMode::Keyed(7))
        );
        assert!(KeyMode::try_from("keyed:x".to_string()).is_err());
    }

    #[test]
    fn targets_display_as_files_spell_them() {
        assert_eq!(Target::Consumer(0).to_string(), "consumer-0");
        assert_eq!(Target::Producer(1).to_string(), "producer-1");
        assert_eq!(broker(3).to_string(), "broker-3");
        assert_eq!(Target::Controller.to_string(), "controller");
        assert_eq!(leader_of("payments", 0).to_string(), "leader-of:payments/0");
        assert_eq!(
            follower_of("payments", 1).to_string(),
            "follower-of:payments/1"
        );
        assert_eq!(
            targets_to_string(&[broker(1), Target::Producer(0)]),
            "[broker-1, producer-0]"
        );
    }

    /// One fault of every kind, with every optional field set.
    fn every_kind() -> Vec<Fault> {
        let target = broker(1);
        vec![
            Fault::Crash {
                target: target.clone(),
            },
            Fault::Close {
                target: Target::Consumer(0),
            },
            Fault::Pause {
                target: target.clone(),
            },
            Fault::Isolate {
                target: target.clone(),
            },
            Fault::IsolateFromCluster {
                target: target.clone(),
            },
            Fault::Clog {
                from: target.clone(),
                to: Target::Producer(0),
            },
            Fault::Partition {
                side: vec![target.clone(), Target::Controller],
            },
            Fault::PacketLoss { rate: 0.5 },
            Fault::Latency {
                min_ms: 1,
                max_ms: 5,
            },
            Fault::Disk {
                target: target.clone(),
                read_error_rate: 0.1,
                write_error_rate: 0.2,
                latency_ms: 3,
            },
            Fault::Retention {
                target: target.clone(),
                topic: "orders".into(),
                partition: 0,
                offset: 7,
                min_age_ms: 9,
            },
            Fault::TruncateFollower {
                target,
                topic: "orders".into(),
                partition: 1,
            },
            Fault::ExpirePids {
                topic: "orders".into(),
                partition: 0,
                idle_ms: 4,
            },
            Fault::AddPartitions {
                topic: "orders".into(),
                count: 4,
            },
        ]
    }

    #[test]
    fn the_fault_kinds_table_matches_the_fault_type() {
        let faults = every_kind();
        assert_eq!(faults.len(), FAULT_KINDS.len());
        for fault in faults {
            // What a file holds for this fault: kind and fields, as serde writes them.
            let value = serde_json::to_value(&fault).unwrap();
            let object = value.as_object().unwrap();
            let kind = object["kind"].as_str().unwrap();
            let (_, required, optional) = FAULT_KINDS
                .iter()
                .find(|(name, _, _)| *name == kind)
                .unwrap_or_else(|| panic!("{kind} is not in FAULT_KINDS"));
            let mut written: Vec<&str> = object
                .keys()
                .map(String::as_str)
                .filter(|key| *key != "kind")
                .collect();
            written.sort();
            let mut listed: Vec<&str> = required.iter().chain(optional.iter()).copied().collect();
            listed.sort();
            assert_eq!(written, listed, "{kind}");
            // And it reads back, through the file's own path.
            let timed = timed(fault.clone()).at_ms(10).for_ms(20);
            let text = toml::to_string(&timed).unwrap();
            let back: TimedFault = toml::from_str(&text).unwrap();
            assert_eq!(back, timed, "{text}");
        }
    }

    #[test]
    fn optional_fault_fields_take_their_defaults() {
        let back: TimedFault = toml::from_str(
            "at_ms = 1\nkind = \"retention\"\ntarget = \"broker-1\"\ntopic = \"t\"\npartition = 0\noffset = 5\n",
        )
        .unwrap();
        assert_eq!(
            back.fault,
            Fault::Retention {
                target: broker(1),
                topic: "t".into(),
                partition: 0,
                offset: 5,
                min_age_ms: RETENTION_MIN_AGE_MS_DEFAULT
            }
        );
        let back: TimedFault =
            toml::from_str("at_ms = 1\nkind = \"expire-pids\"\ntopic = \"t\"\npartition = 0\n")
                .unwrap();
        assert_eq!(back.fault, expire_pids("t", 0).fault);
    }

    #[test]
    fn validation_names_the_field() {
        let mut scenario = sample();
        scenario.faults[0].at_ms = 99_999;
        let error = scenario.validate().unwrap_err();
        assert!(error.starts_with("fault[0].at_ms"), "{error}");
        let mut scenario = sample();
        scenario.producers[0].topic = "nope".into();
        assert!(scenario
            .validate()
            .unwrap_err()
            .starts_with("producer[0].topic"));
        let scenario = sample().cluster(|c| c.replication_factor = 5);
        assert!(scenario
            .validate()
            .unwrap_err()
            .starts_with("cluster.replication_factor"));
    }
}
