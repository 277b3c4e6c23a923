//! The history recorder: what the clients (and the scenario, for the cluster and the nemesis)
//! observably did, in the order it happened, as docs/history-format.md's JSON Lines.
//!
//! The cores emit [`Op`]s, a small client-side enum; [`to_oracle`] is the ONE place that turns
//! them into the oracle's [`oracle::Event`], whose serialization is the contract's line. The
//! recorder, [`History`], is a cloneable shared handle: it stamps each event with the simulated
//! time, keeps the events in order, feeds each canonical line to the run's [`sim::Trace`] (so the
//! trace hash covers the history) and writes JSON Lines to a file.
//!
//! Guarantees: times are non-decreasing by line (asserted); every line parses with the oracle's
//! reader. Not provided: streaming to disk while the run goes (the file is written at the end,
//! outside simulated time, by [`History::write_jsonl`]).

use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// One record delivered to the application by a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledRecord {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub value: String,
}

/// A partition and the position a consumer starts reading it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedPartition {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
}

/// How a commit went (docs/history-format.md `commit` types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitPhase {
    Invoke,
    /// Durably stored.
    Ok,
    /// Definitely not stored (the coordinator answered an error).
    Fail,
    /// Unknown (no answer in time).
    Info,
}

/// Why a consumer's position jumped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    OffsetEvicted,
    OutOfRange,
    Seek,
}

impl ResetReason {
    pub fn name(self) -> &'static str {
        match self {
            ResetReason::OffsetEvicted => "offset_evicted",
            ResetReason::OutOfRange => "out_of_range",
            ResetReason::Seek => "seek",
        }
    }
}

/// One history operation, as the clients and the scenario produce it. See docs/history-format.md for the
/// meaning of each; the time and process are added by [`History::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    SendInvoke {
        topic: String,
        key: Option<String>,
        value: String,
    },
    SendOk {
        value: String,
        topic: String,
        partition: u32,
        offset: u64,
        pid: i64,
        epoch: i16,
        sequence: i32,
    },
    /// Definitely not written.
    SendFail {
        value: String,
        error: String,
    },
    /// Outcome unknown.
    SendInfo {
        value: String,
        error: String,
    },
    PollOk {
        records: Vec<PolledRecord>,
    },
    PollFail {
        topic: String,
        partition: u32,
        offset: u64,
        error: String,
        next_available: Option<u64>,
    },
    /// One fetch or list-offsets request of a consumer (spinloop detection).
    Request {
        api: String,
        topic: String,
        partition: u32,
        offset: u64,
        broker: u32,
        error: Option<String>,
        progress: bool,
    },
    Commit {
        phase: CommitPhase,
        topic: String,
        partition: u32,
        /// The next offset to consume.
        offset: u64,
    },
    Assign {
        partitions: Vec<AssignedPartition>,
    },
    Reset {
        topic: String,
        partition: u32,
        from: u64,
        to: u64,
        reason: ResetReason,
    },
    Start,
    Crash,
    Close,
    InitPid {
        pid: i64,
        epoch: i16,
    },
    /// Process `cluster`: the partition's log start advanced (`broker: None` = the leader's).
    LogStart {
        topic: String,
        partition: u32,
        offset: u64,
        broker: Option<u32>,
    },
    /// Process `cluster`: the topic now has `count` partitions.
    Partitions {
        topic: String,
        count: u32,
    },
    /// Process `cluster`: a new leader.
    Leader {
        topic: String,
        partition: u32,
        broker: u32,
        epoch: u32,
    },
    /// Process `nemesis`: a fault began (`heal`: every fault is repaired).
    Fault {
        fault: String,
        target: Option<String>,
    },
}

/// The process name of cluster observations.
pub const CLUSTER_PROCESS: &str = oracle::event::CLUSTER_PROCESS;
/// The process name of faults.
pub const NEMESIS_PROCESS: &str = oracle::event::NEMESIS_PROCESS;

/// The one conversion from the clients' events to the oracle's model (and so to docs/history-format.md).
pub fn to_oracle(time_ns: u64, process: &str, op: &Op) -> oracle::Event {
    use oracle::event::Op as O;
    let op = match op.clone() {
        Op::SendInvoke { topic, key, value } => O::SendInvoke { topic, key, value },
        Op::SendOk {
            value,
            topic,
            partition,
            offset,
            pid,
            epoch,
            sequence,
        } => O::SendOk {
            value,
            topic,
            partition,
            offset,
            pid: Some(pid),
            epoch: Some(epoch as i32),
            sequence: Some(sequence),
        },
        Op::SendFail { value, error } => O::SendFail { value, error },
        Op::SendInfo { value, error } => O::SendInfo { value, error },
        Op::PollOk { records } => O::PollOk {
            records: records
                .into_iter()
                .map(|r| oracle::Record::new(r.topic, r.partition, r.offset, r.value))
                .collect(),
        },
        Op::PollFail {
            topic,
            partition,
            offset,
            error,
            next_available,
        } => O::PollFail {
            topic,
            partition,
            offset,
            error,
            next_available,
        },
        Op::Request {
            api,
            topic,
            partition,
            offset,
            broker,
            error,
            progress,
        } => O::Request(oracle::Request {
            api,
            topic,
            partition,
            offset,
            broker,
            error,
            progress,
        }),
        Op::Commit {
            phase,
            topic,
            partition,
            offset,
        } => match phase {
            CommitPhase::Invoke => O::CommitInvoke {
                topic,
                partition,
                offset,
            },
            CommitPhase::Ok => O::CommitOk {
                topic,
                partition,
                offset,
            },
            CommitPhase::Fail => O::CommitFail {
                topic,
                partition,
                offset,
            },
            CommitPhase::Info => O::CommitInfo {
                topic,
                partition,
                offset,
            },
        },
        Op::Assign { partitions } => O::Assign {
            partitions: partitions
                .into_iter()
                .map(|p| oracle::TopicPartitionOffset::new(p.topic, p.partition, p.offset))
                .collect(),
        },
        Op::Reset {
            topic,
            partition,
            from,
            to,
            reason,
        } => O::Reset {
            topic,
            partition,
            from,
            to,
            reason: reason.name().to_string(),
        },
        Op::Start => O::Start,
        Op::Crash => O::Crash,
        Op::Close => O::Close,
        Op::InitPid { pid, epoch } => O::InitPid {
            pid,
            epoch: epoch as i32,
        },
        Op::LogStart {
            topic,
            partition,
            offset,
            broker,
        } => O::LogStart {
            topic,
            partition,
            offset,
            broker,
        },
        Op::Partitions { topic, count } => O::Partitions { topic, count },
        Op::Leader {
            topic,
            partition,
            broker,
            epoch,
        } => O::Leader {
            topic,
            partition,
            broker,
            epoch: i32::try_from(epoch).unwrap_or(i32::MAX),
        },
        Op::Fault { fault, target } => O::Fault { fault, target },
    };
    oracle::Event::new(time_ns, process, op)
}

/// One recorded event with its canonical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub time_ns: u64,
    pub process: String,
    pub op: Op,
    /// The docs/history-format.md line (JSON, no newline).
    pub line: String,
}

#[derive(Debug, Default)]
struct Recorder {
    events: Vec<RecordedEvent>,
    trace: Option<sim::Trace>,
    last_time_ns: u64,
}

/// A shared history: clones append to the same list, in order.
#[derive(Debug, Clone, Default)]
pub struct History {
    inner: Arc<Mutex<Recorder>>,
}

impl History {
    /// A history whose every line is also fed to the run's trace.
    pub fn new(trace: sim::Trace) -> History {
        History {
            inner: Arc::new(Mutex::new(Recorder {
                trace: Some(trace),
                ..Recorder::default()
            })),
        }
    }

    /// A history that feeds no trace (tests).
    pub fn detached() -> History {
        History::default()
    }

    fn lock(&self) -> MutexGuard<'_, Recorder> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `op` by `process` at the current simulated time. Must run inside a simulation.
    pub fn record(&self, process: &str, op: Op) {
        self.record_at(sim::time::now_ns(), process, op);
    }

    /// Records `op` by `process` at `time_ns` (simulated nanoseconds since the run began).
    /// Panics when time would go backwards: lines are in time order.
    pub fn record_at(&self, time_ns: u64, process: &str, op: Op) {
        let event = to_oracle(time_ns, process, &op);
        let line = event.to_json_line();
        let mut recorder = self.lock();
        assert!(
            time_ns >= recorder.last_time_ns,
            "history time went backwards: {time_ns} ns after {} ns ({line})",
            recorder.last_time_ns
        );
        recorder.last_time_ns = time_ns;
        if let Some(trace) = &recorder.trace {
            trace.feed(line.as_bytes());
        }
        tracing::debug!(target: "streamsim::history", "{line}");
        recorder.events.push(RecordedEvent {
            time_ns,
            process: process.to_string(),
            op,
            line,
        });
    }

    /// `crash` info of a client process: the scenario records it, a killed node cannot.
    pub fn record_crash(&self, process: &str) {
        self.record(process, Op::Crash);
    }

    /// `fault` info by `nemesis`.
    pub fn record_fault(&self, fault: &str, target: Option<&str>) {
        self.record(
            NEMESIS_PROCESS,
            Op::Fault {
                fault: fault.to_string(),
                target: target.map(str::to_string),
            },
        );
    }

    /// `heal`: every fault is repaired, the liveness phase starts.
    pub fn record_heal(&self) {
        self.record_fault(oracle::event::fault_kind::HEAL, None);
    }

    /// Authoritative `log_start` (the leader's) by `cluster`.
    pub fn record_log_start(&self, topic: &str, partition: u32, offset: u64) {
        self.record(
            CLUSTER_PROCESS,
            Op::LogStart {
                topic: topic.to_string(),
                partition,
                offset,
                broker: None,
            },
        );
    }

    /// `partitions` by `cluster`.
    pub fn record_partitions(&self, topic: &str, count: u32) {
        self.record(
            CLUSTER_PROCESS,
            Op::Partitions {
                topic: topic.to_string(),
                count,
            },
        );
    }

    /// `leader` by `cluster`.
    pub fn record_leader(&self, topic: &str, partition: u32, broker: u32, epoch: u32) {
        self.record(
            CLUSTER_PROCESS,
            Op::Leader {
                topic: topic.to_string(),
                partition,
                broker,
                epoch,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every event so far, in order.
    pub fn events(&self) -> Vec<RecordedEvent> {
        self.lock().events.clone()
    }

    /// Every line so far, in order.
    pub fn lines(&self) -> Vec<String> {
        self.lock().events.iter().map(|e| e.line.clone()).collect()
    }

    /// The oracle's events, for checking in memory.
    pub fn oracle_events(&self) -> Vec<oracle::Event> {
        self.lock()
            .events
            .iter()
            .map(|e| to_oracle(e.time_ns, &e.process, &e.op))
            .collect()
    }

    /// Writes the history as JSON Lines.
    pub fn write_jsonl_to(&self, mut out: impl Write) -> io::Result<()> {
        for event in &self.lock().events {
            out.write_all(event.line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// Writes the history as a JSON Lines file.
    pub fn write_jsonl(&self, path: &Path) -> io::Result<()> {
        let file = std::fs::File::create(path)?;
        self.write_jsonl_to(io::BufWriter::new(file))
    }

    /// The whole history as one JSON Lines string.
    pub fn to_jsonl(&self) -> String {
        let mut text = String::new();
        for event in &self.lock().events {
            text.push_str(&event.line);
            text.push('\n');
        }
        text
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_oracle(0, "-", self).to_json_line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_ops() -> Vec<Op> {
        vec![
            Op::Start,
            Op::SendInvoke {
                topic: "t".into(),
                key: None,
                value: "p-1".into(),
            },
            Op::SendInvoke {
                topic: "t".into(),
                key: Some("k".into()),
                value: "p-2".into(),
            },
            Op::SendOk {
                value: "p-1".into(),
                topic: "t".into(),
                partition: 1,
                offset: 7,
                pid: 3,
                epoch: 1,
                sequence: 4,
            },
            Op::SendFail {
                value: "p-2".into(),
                error: "message_too_large".into(),
            },
            Op::SendInfo {
                value: "p-3".into(),
                error: "request_timed_out".into(),
            },
            Op::PollOk {
                records: vec![PolledRecord {
                    topic: "t".into(),
                    partition: 1,
                    offset: 7,
                    value: "p-1".into(),
                }],
            },
            Op::PollFail {
                topic: "t".into(),
                partition: 0,
                offset: 3,
                error: "offset_evicted".into(),
                next_available: Some(10),
            },
            Op::Request {
                api: "fetch".into(),
                topic: "t".into(),
                partition: 0,
                offset: 3,
                broker: 2,
                error: None,
                progress: true,
            },
            Op::Request {
                api: "list_offsets".into(),
                topic: "t".into(),
                partition: 0,
                offset: 3,
                broker: 2,
                error: Some("not_leader_or_follower".into()),
                progress: false,
            },
            Op::Commit {
                phase: CommitPhase::Invoke,
                topic: "t".into(),
                partition: 0,
                offset: 8,
            },
            Op::Commit {
                phase: CommitPhase::Ok,
                topic: "t".into(),
                partition: 0,
                offset: 8,
            },
            Op::Commit {
                phase: CommitPhase::Fail,
                topic: "t".into(),
                partition: 0,
                offset: 8,
            },
            Op::Commit {
                phase: CommitPhase::Info,
                topic: "t".into(),
                partition: 0,
                offset: 8,
            },
            Op::Assign {
                partitions: vec![AssignedPartition {
                    topic: "t".into(),
                    partition: 0,
                    offset: 0,
                }],
            },
            Op::Reset {
                topic: "t".into(),
                partition: 0,
                from: 3,
                to: 10,
                reason: ResetReason::OffsetEvicted,
            },
            Op::InitPid { pid: 3, epoch: 2 },
            Op::LogStart {
                topic: "t".into(),
                partition: 0,
                offset: 10,
                broker: None,
            },
            Op::Partitions {
                topic: "t".into(),
                count: 4,
            },
            Op::Leader {
                topic: "t".into(),
                partition: 0,
                broker: 2,
                epoch: 5,
            },
            Op::Fault {
                fault: "crash".into(),
                target: Some("broker-1".into()),
            },
            Op::Crash,
            Op::Close,
        ]
    }

    /// Every op the clients write parses with the oracle's reader as the same event (docs/history-format.md).
    #[test]
    fn every_line_round_trips_through_the_oracle_reader() {
        let history = History::detached();
        for (index, op) in all_ops().into_iter().enumerate() {
            history.record_at(index as u64 * 1_000, "consumer-0", op);
        }
        let expected = history.oracle_events();
        let text = history.to_jsonl();
        let mut reader = oracle::HistoryReader::new(text.as_bytes());
        let mut parsed = Vec::new();
        while let Some((_, event)) = reader.next_event().expect("every line parses") {
            parsed.push(event);
        }
        assert_eq!(parsed, expected);
        let result = oracle::check_events(&parsed);
        assert_eq!(result.stats.ignored_events, 0, "no line is an unknown op");
    }

    #[test]
    fn lines_carry_the_contract_fields() {
        let history = History::detached();
        history.record_at(
            5,
            "producer-0",
            Op::SendOk {
                value: "producer-0-1".into(),
                topic: "t".into(),
                partition: 2,
                offset: 9,
                pid: 1,
                epoch: 0,
                sequence: 3,
            },
        );
        let value: serde_json::Value = serde_json::from_str(&history.lines()[0]).unwrap();
        assert_eq!(value["time"], 5);
        assert_eq!(value["process"], "producer-0");
        assert_eq!(value["type"], "ok");
        assert_eq!(value["f"], "send");
        assert_eq!(value["offset"], 9);
        assert_eq!(value["pid"], 1);
        assert_eq!(value["sequence"], 3);
    }

    #[test]
    fn lines_feed_the_trace_in_order() {
        let trace = sim::Trace::new();
        let history = History::new(trace.clone());
        history.record_at(1, "p", Op::Start);
        history.record_at(2, "p", Op::Close);
        assert_eq!(trace.items(), 2);
        let other = sim::Trace::new();
        for line in history.lines() {
            other.feed(line.as_bytes());
        }
        assert_eq!(trace.hash(), other.hash());
    }

    #[test]
    #[should_panic(expected = "history time went backwards")]
    fn time_never_goes_backwards() {
        let history = History::detached();
        history.record_at(10, "p", Op::Start);
        history.record_at(9, "p", Op::Close);
    }
}
