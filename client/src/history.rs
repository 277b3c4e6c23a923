//! The history recorder: what the clients (and the scenario, for the cluster and the nemesis)
//! observably did, in the order it happened.
//!
//! The cores emit the oracle's own operations ([`oracle::Op`]): one vocabulary from the client
//! to the checker, the coverage marks and the reports. The recorder, [`History`], is a cloneable
//! shared handle: it stamps each operation with the simulated time and keeps the typed events in
//! order. Each event is fed to the run's [`sim::Trace`] as it is recorded, every field of it (so
//! the trace hash covers the history); it becomes text only at the edge, its
//! docs/history-format.md line written to a file by [`History::write_jsonl`] (and to the debug
//! log, when that is on).
//!
//! Guarantees: times are non-decreasing by line (asserted); every line parses with the oracle's
//! reader as the same event. Not provided: streaming to disk while the run goes (the file is
//! written at the end, outside simulated time).

use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

pub use oracle::event::{CommitPhase, FaultKind, ResetReason};

/// One history operation: the oracle's [`oracle::Op`], owning its text.
pub type Op = oracle::event::Op<'static>;
/// One recorded event: the oracle's [`oracle::Event`], owning its text.
pub type Event = oracle::Event<'static>;
/// One record delivered to the application by a poll.
pub type PolledRecord = oracle::Record<'static>;
/// A partition and the position a consumer starts reading it at.
pub type AssignedPartition = oracle::TopicPartitionOffset<'static>;
/// A partition of a group event (`assignment`, `revoke`).
pub type GroupPartition = oracle::event::TopicPartition<'static>;

/// The process name of cluster observations.
pub const CLUSTER_PROCESS: &str = oracle::event::CLUSTER_PROCESS;
/// The process name of faults.
pub const NEMESIS_PROCESS: &str = oracle::event::NEMESIS_PROCESS;

#[derive(Debug, Default)]
struct Recorder {
    events: Vec<Event>,
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
        let event = oracle::Event::new(time_ns, process.to_string(), op);
        let mut recorder = self.lock();
        assert!(
            time_ns >= recorder.last_time_ns,
            "history time went backwards: {time_ns} ns after {} ns ({})",
            recorder.last_time_ns,
            event.to_json_line()
        );
        recorder.last_time_ns = time_ns;
        if let Some(trace) = &recorder.trace {
            trace.feed_value(&event);
        }
        tracing::debug!(target: "streamsim::history", "{}", event.to_json_line());
        recorder.events.push(event);
    }

    /// `crash` info of a client process: the scenario records it, a killed node cannot.
    pub fn record_crash(&self, process: &str) {
        self.record(process, Op::Crash);
    }

    /// `fault` info by `nemesis`: `kind` began (or, for a repair, ended) on `target`.
    pub fn record_fault(&self, kind: FaultKind, target: Option<&str>) {
        self.record(
            NEMESIS_PROCESS,
            Op::Fault {
                fault: kind.as_str().into(),
                target: target.map(|target| target.to_string().into()),
            },
        );
    }

    /// `heal`: every fault is repaired, the liveness phase starts.
    pub fn record_heal(&self) {
        self.record_fault(FaultKind::Heal, None);
    }

    /// Authoritative `log_start` (the leader's) by `cluster`.
    pub fn record_log_start(&self, topic: &str, partition: u32, offset: u64) {
        self.record(
            CLUSTER_PROCESS,
            Op::LogStart {
                topic: topic.to_string().into(),
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
                topic: topic.to_string().into(),
                count,
            },
        );
    }

    /// `leader` by `cluster`.
    pub fn record_leader(&self, topic: &str, partition: u32, broker: u32, epoch: u32) {
        self.record(
            CLUSTER_PROCESS,
            Op::Leader {
                topic: topic.to_string().into(),
                partition,
                broker,
                epoch: i32::try_from(epoch).unwrap_or(i32::MAX),
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
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    /// Calls `read` with every event so far, in order, without copying them.
    pub fn with_events<R>(&self, read: impl FnOnce(&[Event]) -> R) -> R {
        read(&self.lock().events)
    }

    /// Takes every event recorded so far, leaving the history empty.
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut self.lock().events)
    }

    /// Every line so far, in order.
    pub fn lines(&self) -> Vec<String> {
        self.lock().events.iter().map(Event::to_json_line).collect()
    }

    /// Writes the history as JSON Lines.
    pub fn write_jsonl_to(&self, out: impl Write) -> io::Result<()> {
        write_jsonl(&self.lock().events, out)
    }

    /// Writes the history as a JSON Lines file.
    pub fn write_jsonl(&self, path: &Path) -> io::Result<()> {
        let file = std::fs::File::create(path)?;
        self.write_jsonl_to(io::BufWriter::new(file))
    }

    /// The whole history as one JSON Lines string.
    pub fn to_jsonl(&self) -> String {
        to_jsonl(&self.lock().events)
    }
}

/// Writes `events` as JSON Lines (docs/history-format.md).
pub fn write_jsonl(events: &[Event], mut out: impl Write) -> io::Result<()> {
    let mut line = Vec::new();
    for event in events {
        line.clear();
        event.write_json_line(&mut line);
        line.push(b'\n');
        out.write_all(&line)?;
    }
    out.flush()
}

/// `events` as one JSON Lines string.
pub fn to_jsonl(events: &[Event]) -> String {
    let mut bytes = Vec::new();
    write_jsonl(events, &mut bytes).expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("JSON is UTF-8")
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
                pid: Some(3),
                epoch: Some(1),
                sequence: Some(4),
                acks: oracle::SendAcks::All,
            },
            Op::SendOk {
                value: "p-4".into(),
                topic: "t".into(),
                partition: 0,
                offset: 2,
                pid: None,
                epoch: None,
                sequence: None,
                acks: oracle::SendAcks::Leader {
                    leader_epoch: Some(5),
                },
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
                records: vec![PolledRecord::new("t", 1, 7, "p-1")].into(),
            },
            Op::PollFail {
                topic: "t".into(),
                partition: 0,
                offset: 3,
                error: "offset_evicted".into(),
                next_available: Some(10),
            },
            Op::Request(oracle::Request {
                api: "fetch".into(),
                topic: "t".into(),
                partition: 0,
                offset: 3,
                broker: 2,
                error: None,
                progress: true,
                high_watermark: Some(9),
                log_start_offset: Some(1),
            }),
            Op::Request(oracle::Request {
                api: "list_offsets".into(),
                topic: "t".into(),
                partition: 0,
                offset: 3,
                broker: 2,
                error: Some("not_leader_or_follower".into()),
                progress: false,
                high_watermark: None,
                log_start_offset: None,
            }),
            Op::Commit {
                phase: CommitPhase::Invoke,
                topic: "t".into(),
                partition: 0,
                offset: 8,
                group: None,
                generation: None,
                error: None,
            },
            Op::Commit {
                phase: CommitPhase::Ok,
                topic: "t".into(),
                partition: 0,
                offset: 8,
                group: None,
                generation: None,
                error: None,
            },
            Op::Commit {
                phase: CommitPhase::Fail,
                topic: "t".into(),
                partition: 0,
                offset: 8,
                group: None,
                generation: None,
                error: None,
            },
            Op::Commit {
                phase: CommitPhase::Info,
                topic: "t".into(),
                partition: 0,
                offset: 8,
                group: None,
                generation: None,
                error: None,
            },
            Op::Commit {
                phase: CommitPhase::Fail,
                topic: "t".into(),
                partition: 0,
                offset: 8,
                group: Some("g".into()),
                generation: Some(3),
                error: Some("illegal_generation".into()),
            },
            Op::Join {
                group: "g".into(),
                generation: 3,
                member: "consumer-0-1-1".into(),
                leader: true,
                protocol: Some("range".into()),
            },
            Op::Assignment {
                group: "g".into(),
                generation: 3,
                member: "consumer-0-1-1".into(),
                partitions: vec![GroupPartition {
                    topic: "t".into(),
                    partition: 0,
                }]
                .into(),
            },
            Op::Revoke {
                group: "g".into(),
                generation: 3,
                partitions: vec![GroupPartition {
                    topic: "t".into(),
                    partition: 0,
                }]
                .into(),
                lost: true,
            },
            Op::Leave {
                group: "g".into(),
                member: "consumer-0-1-1".into(),
            },
            Op::OffsetsExpired {
                group: "g".into(),
                partitions: vec![GroupPartition {
                    topic: "t".into(),
                    partition: 1,
                }]
                .into(),
                retention_ms: Some(5_000),
            },
            Op::Assign {
                partitions: vec![AssignedPartition::new("t", 0, 0)].into(),
            },
            Op::Reset {
                topic: "t".into(),
                partition: 0,
                from: 3,
                to: 10,
                reason: ResetReason::OffsetEvicted.as_str().into(),
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
        let expected = history.events();
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
                pid: Some(1),
                epoch: Some(0),
                sequence: Some(3),
                acks: oracle::SendAcks::All,
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
    fn events_feed_the_trace_in_order() {
        let trace = sim::Trace::new();
        let history = History::new(trace.clone());
        history.record_at(1, "p", Op::Start);
        history.record_at(2, "p", Op::Close);
        assert_eq!(trace.items(), 2);
        let other = sim::Trace::new();
        for event in history.events() {
            other.feed_value(&event);
        }
        assert_eq!(trace.hash(), other.hash());
        let reordered = sim::Trace::new();
        for event in history.events().iter().rev() {
            reordered.feed_value(event);
        }
        assert_ne!(trace.hash(), reordered.hash());
    }

    #[test]
    #[should_panic(expected = "history time went backwards")]
    fn time_never_goes_backwards() {
        let history = History::detached();
        history.record_at(10, "p", Op::Start);
        history.record_at(9, "p", Op::Close);
    }
}
