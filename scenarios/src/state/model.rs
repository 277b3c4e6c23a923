//! What the state checks see: plain data the runtime fills in from the running cluster (or a
//! test by hand).

use broker::api::{BrokerId, TopicPartition};
use broker::inspect::{ReplicaLog, StoredRecord};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// One replica at one moment: its broker's status for it, and its log as its disk holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    pub broker: BrokerId,
    pub leader: bool,
    pub leader_epoch: u32,
    pub log_start_offset: u64,
    pub high_watermark: u64,
    pub log_end_offset: u64,
    /// The ISR, when this replica leads.
    pub isr: Vec<BrokerId>,
    /// The log on the broker's disk; `None` when not read (a status-only view) or unreadable.
    pub log: Option<ReplicaLog>,
}

impl ReplicaState {
    /// The records on disk, if read.
    pub fn records(&self) -> Option<&[StoredRecord]> {
        self.log.as_ref().map(|log| log.records())
    }

    /// The log end: the disk's when it was read (it is current; the status is published after a
    /// tick), else the status's.
    pub fn log_end(&self) -> u64 {
        self.log
            .as_ref()
            .map_or(self.log_end_offset, |log| log.log_end_offset)
    }

    /// The log start: the later of the status's and the disk's (retention moves the status's
    /// first and deletes segments after).
    pub fn log_start(&self) -> u64 {
        self.log.as_ref().map_or(self.log_start_offset, |log| {
            log.log_start_offset.max(self.log_start_offset)
        })
    }
}

/// The cluster at one moment: every replica of every running broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterState {
    /// Simulated nanoseconds since the run started (the history's `time`).
    pub time_ns: u64,
    /// When, in words: `before fault 3`, `at the heal`, `at the end`.
    pub moment: String,
    /// Per partition, its replicas on running brokers, by broker id.
    pub partitions: BTreeMap<TopicPartition, Vec<ReplicaState>>,
}

impl ClusterState {
    /// The replica that leads `partition`: of those that say they lead, the newest leader epoch
    /// (the highest broker id among equals, which a correct cluster never has).
    pub fn leader(&self, partition: &TopicPartition) -> Option<&ReplicaState> {
        self.partitions
            .get(partition)?
            .iter()
            .filter(|replica| replica.leader)
            .max_by_key(|replica| (replica.leader_epoch, replica.broker))
    }

    /// `at 12.345 s (before fault 3)`.
    pub fn when(&self) -> String {
        format!("at {} ({})", seconds(self.time_ns), self.moment)
    }
}

/// What the cluster should look like once healed: the controller's assignment and the brokers
/// that run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectation {
    /// Per partition, the brokers assigned a replica of it (the controller's metadata).
    pub assignments: BTreeMap<TopicPartition, Vec<BrokerId>>,
    /// The brokers running at the end.
    pub running: Vec<BrokerId>,
}

/// A record exposed as committed: below a leader's high watermark, or read by a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub offset: u64,
    pub value: Vec<u8>,
    /// The batch's leader epoch, when the exposure came from a log (a consumer's read has none).
    pub leader_epoch: Option<u32>,
    pub source: ExposureSource,
}

/// Who exposed a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExposureSource {
    /// A leader held it below its high watermark.
    Leader {
        broker: BrokerId,
        high_watermark: u64,
        time_ns: u64,
    },
    /// A consumer's `poll` ok delivered it (history line).
    /// `process` is shared by the records of one poll.
    Poll { line: u64, process: Arc<str> },
}

impl ExposureSource {
    pub fn describe(&self) -> String {
        match self {
            ExposureSource::Leader {
                broker,
                high_watermark,
                time_ns,
            } => format!(
                "leader broker {broker} held it below its high watermark {high_watermark} at {}",
                seconds(*time_ns)
            ),
            ExposureSource::Poll { line, process } => {
                format!("{process} read it (line {line})")
            }
        }
    }

    pub fn line(&self) -> Option<u64> {
        match self {
            ExposureSource::Poll { line, .. } => Some(*line),
            ExposureSource::Leader { .. } => None,
        }
    }
}

/// The highest high watermark seen for a partition, and who showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HighWatermarkWitness {
    pub offset: u64,
    /// What exposed it.
    pub witness: Witness,
    /// The history line that shows it, if any.
    pub line: Option<u64>,
}

/// What exposed a high watermark. Leaders report one at every advance and consumers read past
/// many, so the facts are kept and put in words only when an anomaly cites them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Witness {
    /// `leader broker 2 reported it at 3.456 s`
    Reported { broker: BrokerId, at_ns: u64 },
    /// `consumer-0 read offset 41 (line 77)`
    Read {
        process: Arc<str>,
        offset: u64,
        line: u64,
    },
    /// Already in words.
    Text(String),
}

impl fmt::Display for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Witness::Reported { broker, at_ns } => {
                write!(
                    f,
                    "leader broker {broker} reported it at {}",
                    seconds(*at_ns)
                )
            }
            Witness::Read {
                process,
                offset,
                line,
            } => write!(f, "{process} read offset {offset} (line {line})"),
            Witness::Text(text) => f.write_str(text),
        }
    }
}

/// How a commit ended, as the history says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// `commit` ok: stored, durably.
    Ok,
    /// `commit` fail: not stored.
    Failed,
    /// `commit` info, or no answer before the process crashed or the history ended: it may be
    /// stored, at any time after it was asked.
    Unknown,
}

/// One commit of one partition's offset, from the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitAttempt {
    pub group: String,
    pub process: String,
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub outcome: CommitOutcome,
    /// The `commit` invoke line (the answer's own line when the invoke is missing).
    pub invoke_line: u64,
    /// The line of its answer (`ok`, `fail` or `info`), if any.
    pub end_line: Option<u64>,
}

/// (group, topic, partition) → committed offset.
pub type CommittedOffsets = BTreeMap<(String, String, u32), u64>;

/// Simulated nanoseconds as seconds with millisecond precision: `12.345 s`.
pub fn seconds(time_ns: u64) -> String {
    let ms = time_ns / 1_000_000;
    format!("{}.{:03} s", ms / 1_000, ms % 1_000)
}

/// A record's value as text for an explanation: quoted, cut after 40 characters.
pub fn show_value(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    match text.char_indices().nth(40) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
    }
}
