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

impl From<Target> for String {
    fn from(target: Target) -> String {
        match target {
            Target::Broker(id) => format!("broker-{id}"),
            Target::Controller => "controller".to_string(),
            Target::Producer(index) => format!("producer-{index}"),
            Target::Consumer(index) => format!("consumer-{index}"),
            Target::LeaderOf { topic, partition } => format!("leader-of:{topic}/{partition}"),
            Target::FollowerOf { topic, partition } => format!("follower-of:{topic}/{partition}"),
        }
    }
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
    /// The name recorded in the history's `fault` events.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Crash { .. } => "crash",
            Fault::Close { .. } => "close",
            Fault::Pause { .. } => "pause",
            Fault::Isolate { .. } | Fault::IsolateFromCluster { .. } => "partition",
            Fault::Clog { .. } => "clog",
            Fault::Partition { .. } => "partition",
            Fault::PacketLoss { .. } => "loss",
            Fault::Latency { .. } => "latency",
            Fault::Disk { .. } => "disk",
            Fault::Retention { .. } => "retention",
            Fault::TruncateFollower { .. } => "truncate-follower",
            Fault::ExpirePids { .. } => "expire-pid",
            Fault::AddPartitions { .. } => "add-partitions",
        }
    }
}

/// A fault at a time, optionally repaired after a while. In files the fault's own fields sit
/// beside `at_ms` and `for_ms`: `[[fault]] at_ms = 5000 for_ms = 2000 kind = "crash"
/// target = "broker-1"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedFault {
    pub at_ms: u64,
    /// Repair after this long (restart, resume, reconnect, clear); None = at the heal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
    #[serde(flatten)]
    pub fault: Fault,
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

    /// Checks the scenario is runnable; the message names the field at fault.
    pub fn validate(&self) -> Result<(), String> {
        let c = &self.cluster;
        if self.name.is_empty() {
            return Err("name: must not be empty".into());
        }
        if !(1..=9).contains(&c.brokers) {
            return Err(format!("cluster.brokers: {} is not in 1..=9", c.brokers));
        }
        if c.replication_factor == 0 || c.replication_factor > c.brokers {
            return Err(format!(
                "cluster.replication_factor: {} must be in 1..=brokers ({})",
                c.replication_factor, c.brokers
            ));
        }
        if c.min_insync_replicas == 0 || c.min_insync_replicas > c.replication_factor {
            return Err(format!(
                "cluster.min_insync_replicas: {} must be in 1..=replication_factor ({})",
                c.min_insync_replicas, c.replication_factor
            ));
        }
        if c.segment_bytes_max < 128 {
            return Err(format!(
                "cluster.segment_bytes_max: {} is below 128 bytes",
                c.segment_bytes_max
            ));
        }
        if self.topics.is_empty() {
            return Err("topic: a scenario needs at least one [[topic]]".into());
        }
        for (i, topic) in self.topics.iter().enumerate() {
            if topic.name.is_empty() || !(1..=64).contains(&topic.partitions) {
                return Err(format!(
                    "topic[{i}]: needs a name and 1..=64 partitions (got '{}', {})",
                    topic.name, topic.partitions
                ));
            }
        }
        let topic_exists = |name: &str| self.topics.iter().any(|t| t.name == name);
        if self.producers.len() + self.consumers.len() > CLIENTS_MAX {
            return Err(format!("producer/consumer: at most {CLIENTS_MAX} clients"));
        }
        for (i, producer) in self.producers.iter().enumerate() {
            if !topic_exists(&producer.topic) {
                return Err(format!(
                    "producer[{i}].topic: no topic named '{}'",
                    producer.topic
                ));
            }
            if producer.rate_per_sec == 0 || producer.rate_per_sec > 100_000 {
                return Err(format!(
                    "producer[{i}].rate_per_sec: {} is not in 1..=100000",
                    producer.rate_per_sec
                ));
            }
            if let KeyMode::Keyed(0) = producer.keys {
                return Err(format!("producer[{i}].keys: keyed needs at least one key"));
            }
        }
        for (i, consumer) in self.consumers.iter().enumerate() {
            if !topic_exists(&consumer.topic) {
                return Err(format!(
                    "consumer[{i}].topic: no topic named '{}'",
                    consumer.topic
                ));
            }
            if consumer.members == 0 || consumer.member >= consumer.members {
                return Err(format!(
                    "consumer[{i}].member: {} must be below members ({})",
                    consumer.member, consumer.members
                ));
            }
            if consumer.fetch_buffer_records == 0 {
                return Err(format!(
                    "consumer[{i}].fetch_buffer_records: must be at least 1"
                ));
            }
            if consumer.commit == CommitMode::Manual && consumer.commit_every_records == 0 {
                return Err(format!(
                    "consumer[{i}].commit_every_records: must be at least 1"
                ));
            }
        }
        if self.faults.len() > FAULTS_MAX {
            return Err(format!("fault: at most {FAULTS_MAX} faults"));
        }
        for (i, fault) in self.faults.iter().enumerate() {
            if fault.at_ms >= self.fault_phase_ms {
                return Err(format!(
                    "fault[{i}].at_ms: {} is not inside the fault phase (fault_phase_ms = {})",
                    fault.at_ms, self.fault_phase_ms
                ));
            }
            self.validate_fault(i, &fault.fault)?;
        }
        for (i, fault) in self.faults.iter().enumerate() {
            if let Fault::Close { target } = &fault.fault {
                if !matches!(target, Target::Producer(_) | Target::Consumer(_)) {
                    return Err(format!(
                        "fault[{i}]: close applies to a producer or consumer"
                    ));
                }
            }
        }
        for (i, producer) in self.producers.iter().enumerate() {
            if producer.start_ms >= self.fault_phase_ms {
                return Err(format!(
                    "producer[{i}].start_ms: must be inside the fault phase"
                ));
            }
        }
        for (i, consumer) in self.consumers.iter().enumerate() {
            if consumer.start_ms >= self.fault_phase_ms {
                return Err(format!(
                    "consumer[{i}].start_ms: must be inside the fault phase"
                ));
            }
        }
        if self.liveness_phase_ms < 1_000 {
            return Err("liveness_phase_ms: must be at least 1000".into());
        }
        Ok(())
    }

    fn validate_target(&self, i: usize, target: &Target) -> Result<(), String> {
        let ok = match target {
            Target::Broker(id) => (1..=self.cluster.brokers).contains(id),
            Target::Controller => true,
            Target::Producer(index) => (*index as usize) < self.producers.len(),
            Target::Consumer(index) => (*index as usize) < self.consumers.len(),
            Target::LeaderOf { topic, .. } | Target::FollowerOf { topic, .. } => {
                self.topics.iter().any(|t| &t.name == topic)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "fault[{i}]: target {target:?} does not exist in this scenario"
            ))
        }
    }

    fn validate_fault(&self, i: usize, fault: &Fault) -> Result<(), String> {
        match fault {
            Fault::Crash { target }
            | Fault::Close { target }
            | Fault::Pause { target }
            | Fault::Isolate { target }
            | Fault::IsolateFromCluster { target }
            | Fault::Retention { target, .. }
            | Fault::TruncateFollower { target, .. } => self.validate_target(i, target),
            Fault::Disk {
                target,
                read_error_rate,
                write_error_rate,
                ..
            } => {
                self.validate_target(i, target)?;
                if !(0.0..=1.0).contains(read_error_rate) || !(0.0..=1.0).contains(write_error_rate)
                {
                    return Err(format!("fault[{i}]: error rates must be in [0, 1]"));
                }
                Ok(())
            }
            Fault::Clog { from, to } => {
                self.validate_target(i, from)?;
                self.validate_target(i, to)
            }
            Fault::Partition { side } => {
                for target in side {
                    self.validate_target(i, target)?;
                }
                Ok(())
            }
            Fault::PacketLoss { rate } => {
                if (0.0..=1.0).contains(rate) {
                    Ok(())
                } else {
                    Err(format!("fault[{i}].rate: {rate} is not in [0, 1]"))
                }
            }
            Fault::Latency { min_ms, max_ms } => {
                if min_ms < max_ms {
                    Ok(())
                } else {
                    Err(format!("fault[{i}]: latency needs min_ms < max_ms"))
                }
            }
            Fault::ExpirePids { topic, .. } | Fault::AddPartitions { topic, .. } => {
                if self.topics.iter().any(|t| &t.name == topic) {
                    Ok(())
                } else {
                    Err(format!("fault[{i}].topic: no topic named '{topic}'"))
                }
            }
        }
    }

    /// Parses a scenario file. The error names the line and the field.
    pub fn from_toml(text: &str) -> Result<Scenario, String> {
        let scenario: Scenario = toml::from_str(text).map_err(|error| error.to_string())?;
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a scenario serializes to TOML")
    }
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
        assert!(
            error.contains("line 5") && error.contains("color"),
            "{error}"
        );
        let error = Scenario::from_toml(&format!(
            "{head}[[fault]]\nat_ms = 5\nkind = \"crash\"\ntarget = \"brokr-1\"\n"
        ))
        .unwrap_err();
        assert!(
            error.contains("line 5") && error.contains("brokr-1"),
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
