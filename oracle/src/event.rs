//! The history model: one [`Event`] per line of a history (docs/history-format.md, "Operations").
//!
//! Writers (the simulated clients, the cluster observer, the nemesis) build an [`Event`] and serialize it with
//! serde (or [`Event::to_json_line`]); the JSON object produced is exactly one docs/history-format.md line: `time`, `process`,
//! `type`, `f`, then the operation's fields with docs/history-format.md's names. Each [`Op`] variant is one `(f, type)` pair of
//! the contract's table, so an event that the contract does not allow cannot be built (except through
//! [`Op::Ignored`], which stands for events the checkers skip).

use serde::ser::{Serialize, SerializeMap, Serializer};

/// docs/history-format.md `type`: how an operation ended, or that it began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// The operation started.
    Invoke,
    /// It happened.
    Ok,
    /// It definitely did not happen.
    Fail,
    /// Its outcome is unknown.
    Info,
}

impl EventType {
    /// The contract's spelling: `invoke`, `ok`, `fail`, `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }

    /// Parses the contract's spelling.
    pub fn from_name(name: &str) -> Option<EventType> {
        match name {
            "invoke" => Some(EventType::Invoke),
            "ok" => Some(EventType::Ok),
            "fail" => Some(EventType::Fail),
            "info" => Some(EventType::Info),
            _ => None,
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One record delivered by a poll: an element of `poll` ok's `records`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Record {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub value: String,
}

/// A partition and a position in it: an element of `assign` ok's `partitions`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TopicPartitionOffset {
    pub topic: String,
    pub partition: u32,
    /// The next offset the consumer reads.
    pub offset: u64,
}

/// One protocol request of a consumer (`f` = `request`); its `type` is `ok` when `error` is `None`, else `fail`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    /// `fetch`, `list_offsets`, `metadata`, ... (see [`api`]).
    pub api: String,
    pub topic: String,
    pub partition: u32,
    /// The offset the request asked for (the consumer's position).
    pub offset: u64,
    /// The broker the request went to.
    pub broker: u32,
    /// The error code of a failed request (see [`error_code`]); `None` (JSON `null`) when it succeeded.
    pub error: Option<String>,
    /// Did the consumer's position advance because of this request?
    pub progress: bool,
}

/// The operation of an event: docs/history-format.md's `f` together with its `type` and the fields that pair carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `send` invoke: a producer asked to send one record. `key: None` is a keyless send (JSON `null`).
    SendInvoke {
        topic: String,
        key: Option<String>,
        value: String,
    },
    /// `send` ok: acknowledged (acks=all) at `offset`. `pid`, `epoch`, `sequence` are optional.
    SendOk {
        value: String,
        topic: String,
        partition: u32,
        offset: u64,
        pid: Option<i64>,
        epoch: Option<i32>,
        sequence: Option<i32>,
    },
    /// `send` fail: definitely not written.
    SendFail { value: String, error: String },
    /// `send` info: outcome unknown.
    SendInfo { value: String, error: String },
    /// `poll` ok: records delivered to the application, in delivery order.
    PollOk { records: Vec<Record> },
    /// `poll` fail: a fetch error surfaced to the application.
    PollFail {
        topic: String,
        partition: u32,
        offset: u64,
        error: String,
        next_available: Option<u64>,
    },
    /// `request` ok (error `None`) or fail (error `Some`).
    Request(Request),
    /// `commit` invoke. `offset` is the next offset to consume (Kafka convention).
    CommitInvoke {
        topic: String,
        partition: u32,
        offset: u64,
    },
    /// `commit` ok: durably stored.
    CommitOk {
        topic: String,
        partition: u32,
        offset: u64,
    },
    /// `commit` fail.
    CommitFail {
        topic: String,
        partition: u32,
        offset: u64,
    },
    /// `commit` info.
    CommitInfo {
        topic: String,
        partition: u32,
        offset: u64,
    },
    /// `assign` ok: the consumer (re)started reading these partitions at these positions.
    Assign {
        partitions: Vec<TopicPartitionOffset>,
    },
    /// `reset` ok: the consumer's position jumped from `from` to `to` (see [`reset_reason`]).
    Reset {
        topic: String,
        partition: u32,
        from: u64,
        to: u64,
        reason: String,
    },
    /// `start` ok: a client process (re)started, a new incarnation.
    Start,
    /// `crash` info: a client process crashed.
    Crash,
    /// `close` ok: a client process shut down cleanly, after flushing its commits.
    Close,
    /// `init_pid` ok: the producer obtained or bumped its producer id / epoch.
    InitPid { pid: i64, epoch: i32 },
    /// `log_start` ok (process `cluster`): the partition's log start offset advanced. Without `broker` it is the
    /// leader's, authoritative; with `broker` it is that replica's.
    LogStart {
        topic: String,
        partition: u32,
        offset: u64,
        broker: Option<u32>,
    },
    /// `partitions` ok (process `cluster`): the topic's partition count is now `count`.
    Partitions { topic: String, count: u32 },
    /// `leader` ok (process `cluster`): a new leader (informative).
    Leader {
        topic: String,
        partition: u32,
        broker: u32,
        epoch: i32,
    },
    /// `fault` info (process `nemesis`): a fault began; `heal` (see [`fault_kind`]) repairs every fault.
    Fault {
        fault: String,
        target: Option<String>,
    },
    /// An event the checkers skip and count in `ignored_events`: an `f` the contract does not know, or a known `f`
    /// with a `type` its table row does not list (e.g. `poll` invoke). The reader keeps only `f` and `type`.
    /// Writers should not use it for a pair the contract models: it would serialize without that pair's fields.
    Ignored { f: String, event_type: EventType },
}

impl Op {
    /// docs/history-format.md `f`.
    pub fn f(&self) -> &str {
        match self {
            Op::SendInvoke { .. }
            | Op::SendOk { .. }
            | Op::SendFail { .. }
            | Op::SendInfo { .. } => "send",
            Op::PollOk { .. } | Op::PollFail { .. } => "poll",
            Op::Request(_) => "request",
            Op::CommitInvoke { .. }
            | Op::CommitOk { .. }
            | Op::CommitFail { .. }
            | Op::CommitInfo { .. } => "commit",
            Op::Assign { .. } => "assign",
            Op::Reset { .. } => "reset",
            Op::Start => "start",
            Op::Crash => "crash",
            Op::Close => "close",
            Op::InitPid { .. } => "init_pid",
            Op::LogStart { .. } => "log_start",
            Op::Partitions { .. } => "partitions",
            Op::Leader { .. } => "leader",
            Op::Fault { .. } => "fault",
            Op::Ignored { f, .. } => f,
        }
    }

    /// docs/history-format.md `type`.
    pub fn event_type(&self) -> EventType {
        match self {
            Op::SendInvoke { .. } | Op::CommitInvoke { .. } => EventType::Invoke,
            Op::SendFail { .. } | Op::PollFail { .. } | Op::CommitFail { .. } => EventType::Fail,
            Op::SendInfo { .. } | Op::CommitInfo { .. } | Op::Crash | Op::Fault { .. } => {
                EventType::Info
            }
            Op::Request(request) => match request.error {
                None => EventType::Ok,
                Some(_) => EventType::Fail,
            },
            Op::SendOk { .. }
            | Op::PollOk { .. }
            | Op::CommitOk { .. }
            | Op::Assign { .. }
            | Op::Reset { .. }
            | Op::Start
            | Op::Close
            | Op::InitPid { .. }
            | Op::LogStart { .. }
            | Op::Partitions { .. }
            | Op::Leader { .. } => EventType::Ok,
            Op::Ignored { event_type, .. } => *event_type,
        }
    }
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    /// docs/history-format.md `time`: nanoseconds since the start of the run; non-decreasing by line.
    pub time_ns: u64,
    /// Who acted: a client process (`producer-0`), `cluster`, or `nemesis`.
    pub process: String,
    /// `f`, `type` and the operation's fields.
    pub op: Op,
}

/// The `process` of cluster observations (`log_start`, `partitions`, `leader`).
pub const CLUSTER_PROCESS: &str = "cluster";
/// The `process` of faults.
pub const NEMESIS_PROCESS: &str = "nemesis";

impl Event {
    pub fn new(time_ns: u64, process: impl Into<String>, op: Op) -> Event {
        Event {
            time_ns,
            process: process.into(),
            op,
        }
    }

    /// docs/history-format.md `type`.
    pub fn event_type(&self) -> EventType {
        self.op.event_type()
    }

    /// docs/history-format.md `f`.
    pub fn f(&self) -> &str {
        self.op.f()
    }

    /// The event as one JSON object without a newline: one docs/history-format.md line.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self)
            .expect("an Event always serializes: its fields are strings and integers")
    }

    /// `send` invoke; `key: None` is a keyless send.
    pub fn send_invoke(
        time_ns: u64,
        process: impl Into<String>,
        topic: impl Into<String>,
        key: Option<String>,
        value: impl Into<String>,
    ) -> Event {
        Event::new(
            time_ns,
            process,
            Op::SendInvoke {
                topic: topic.into(),
                key,
                value: value.into(),
            },
        )
    }

    /// `send` ok without the optional producer-id fields.
    pub fn send_ok(
        time_ns: u64,
        process: impl Into<String>,
        value: impl Into<String>,
        topic: impl Into<String>,
        partition: u32,
        offset: u64,
    ) -> Event {
        Event::new(
            time_ns,
            process,
            Op::SendOk {
                value: value.into(),
                topic: topic.into(),
                partition,
                offset,
                pid: None,
                epoch: None,
                sequence: None,
            },
        )
    }

    /// `send` fail: definitely not written.
    pub fn send_fail(
        time_ns: u64,
        process: impl Into<String>,
        value: impl Into<String>,
        error: impl Into<String>,
    ) -> Event {
        Event::new(
            time_ns,
            process,
            Op::SendFail {
                value: value.into(),
                error: error.into(),
            },
        )
    }

    /// `send` info: outcome unknown.
    pub fn send_info(
        time_ns: u64,
        process: impl Into<String>,
        value: impl Into<String>,
        error: impl Into<String>,
    ) -> Event {
        Event::new(
            time_ns,
            process,
            Op::SendInfo {
                value: value.into(),
                error: error.into(),
            },
        )
    }

    /// `poll` ok.
    pub fn poll_ok(time_ns: u64, process: impl Into<String>, records: Vec<Record>) -> Event {
        Event::new(time_ns, process, Op::PollOk { records })
    }

    /// `commit` ok: `offset` is the next offset to consume.
    pub fn commit_ok(
        time_ns: u64,
        process: impl Into<String>,
        topic: impl Into<String>,
        partition: u32,
        offset: u64,
    ) -> Event {
        Event::new(
            time_ns,
            process,
            Op::CommitOk {
                topic: topic.into(),
                partition,
                offset,
            },
        )
    }

    /// `start` ok: a new incarnation of `process`.
    pub fn start(time_ns: u64, process: impl Into<String>) -> Event {
        Event::new(time_ns, process, Op::Start)
    }

    /// `crash` info.
    pub fn crash(time_ns: u64, process: impl Into<String>) -> Event {
        Event::new(time_ns, process, Op::Crash)
    }

    /// `close` ok.
    pub fn close(time_ns: u64, process: impl Into<String>) -> Event {
        Event::new(time_ns, process, Op::Close)
    }

    /// Authoritative `log_start` ok of the partition's leader, by process `cluster`.
    pub fn log_start(time_ns: u64, topic: impl Into<String>, partition: u32, offset: u64) -> Event {
        Event::new(
            time_ns,
            CLUSTER_PROCESS,
            Op::LogStart {
                topic: topic.into(),
                partition,
                offset,
                broker: None,
            },
        )
    }

    /// `partitions` ok by process `cluster`.
    pub fn partitions(time_ns: u64, topic: impl Into<String>, count: u32) -> Event {
        Event::new(
            time_ns,
            CLUSTER_PROCESS,
            Op::Partitions {
                topic: topic.into(),
                count,
            },
        )
    }

    /// `fault` info by process `nemesis`.
    pub fn fault(time_ns: u64, fault: impl Into<String>, target: Option<String>) -> Event {
        Event::new(
            time_ns,
            NEMESIS_PROCESS,
            Op::Fault {
                fault: fault.into(),
                target,
            },
        )
    }

    /// `fault` info `heal`: every fault is repaired and the liveness phase starts.
    pub fn heal(time_ns: u64) -> Event {
        Event::fault(time_ns, fault_kind::HEAL, None)
    }
}

impl Record {
    pub fn new(
        topic: impl Into<String>,
        partition: u32,
        offset: u64,
        value: impl Into<String>,
    ) -> Record {
        Record {
            topic: topic.into(),
            partition,
            offset,
            value: value.into(),
        }
    }
}

impl TopicPartitionOffset {
    pub fn new(topic: impl Into<String>, partition: u32, offset: u64) -> TopicPartitionOffset {
        TopicPartitionOffset {
            topic: topic.into(),
            partition,
            offset,
        }
    }
}

/// Writes the fields of one event in the contract's order: `time`, `process`, `type`, `f`, then the operation's
/// fields. Optional fields that are absent are omitted; `key` (send invoke) and `error` (request) are always written,
/// `null` when absent, because the contract makes them required and nullable.
impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("time", &self.time_ns)?;
        map.serialize_entry("process", &self.process)?;
        map.serialize_entry("type", self.op.event_type().as_str())?;
        map.serialize_entry("f", self.op.f())?;
        match &self.op {
            Op::SendInvoke { topic, key, value } => {
                map.serialize_entry("topic", topic)?;
                map.serialize_entry("key", key)?;
                map.serialize_entry("value", value)?;
            }
            Op::SendOk {
                value,
                topic,
                partition,
                offset,
                pid,
                epoch,
                sequence,
            } => {
                map.serialize_entry("value", value)?;
                map.serialize_entry("topic", topic)?;
                map.serialize_entry("partition", partition)?;
                map.serialize_entry("offset", offset)?;
                if let Some(pid) = pid {
                    map.serialize_entry("pid", pid)?;
                }
                if let Some(epoch) = epoch {
                    map.serialize_entry("epoch", epoch)?;
                }
                if let Some(sequence) = sequence {
                    map.serialize_entry("sequence", sequence)?;
                }
            }
            Op::SendFail { value, error } | Op::SendInfo { value, error } => {
                map.serialize_entry("value", value)?;
                map.serialize_entry("error", error)?;
            }
            Op::PollOk { records } => {
                map.serialize_entry("records", records)?;
            }
            Op::PollFail {
                topic,
                partition,
                offset,
                error,
                next_available,
            } => {
                map.serialize_entry("topic", topic)?;
                map.serialize_entry("partition", partition)?;
                map.serialize_entry("offset", offset)?;
                map.serialize_entry("error", error)?;
                if let Some(next_available) = next_available {
                    map.serialize_entry("next_available", next_available)?;
                }
            }
            Op::Request(Request {
                api,
                topic,
                partition,
                offset,
                broker,
                error,
                progress,
            }) => {
                map.serialize_entry("api", api)?;
                map.serialize_entry("topic", topic)?;
                map.serialize_entry("partition", partition)?;
                map.serialize_entry("offset", offset)?;
                map.serialize_entry("broker", broker)?;
                map.serialize_entry("error", error)?;
                map.serialize_entry("progress", progress)?;
            }
            Op::CommitInvoke {
                topic,
                partition,
                offset,
            }
            | Op::CommitOk {
                topic,
                partition,
                offset,
            }
            | Op::CommitFail {
                topic,
                partition,
                offset,
            }
            | Op::CommitInfo {
                topic,
                partition,
                offset,
            } => {
                map.serialize_entry("topic", topic)?;
                map.serialize_entry("partition", partition)?;
                map.serialize_entry("offset", offset)?;
            }
            Op::Assign { partitions } => {
                map.serialize_entry("partitions", partitions)?;
            }
            Op::Reset {
                topic,
                partition,
                from,
                to,
                reason,
            } => {
                map.serialize_entry("topic", topic)?;
                map.serialize_entry("partition", partition)?;
                map.serialize_entry("from", from)?;
                map.serialize_entry("to", to)?;
                map.serialize_entry("reason", reason)?;
            }
            Op::Start | Op::Crash | Op::Close | Op::Ignored { .. } => {}
            Op::InitPid { pid, epoch } => {
                map.serialize_entry("pid", pid)?;
                map.serialize_entry("epoch", epoch)?;
            }
            Op::LogStart {
                topic,
                partition,
                offset,
                broker,
            } => {
                map.serialize_entry("topic", topic)?;
                map.serialize_entry("partition", partition)?;
                map.serialize_entry("offset", offset)?;
                if let Some(broker) = broker {
                    map.serialize_entry("broker", broker)?;
                }
            }
            Op::Partitions { topic, count } => {
                map.serialize_entry("topic", topic)?;
                map.serialize_entry("count", count)?;
            }
            Op::Leader {
                topic,
                partition,
                broker,
                epoch,
            } => {
                map.serialize_entry("topic", topic)?;
                map.serialize_entry("partition", partition)?;
                map.serialize_entry("broker", broker)?;
                map.serialize_entry("epoch", epoch)?;
            }
            Op::Fault { fault, target } => {
                map.serialize_entry("fault", fault)?;
                if let Some(target) = target {
                    map.serialize_entry("target", target)?;
                }
            }
        }
        map.end()
    }
}

/// Error codes (docs/history-format.md "Error codes"): snake_case Kafka-style names.
pub mod error_code {
    pub const OFFSET_OUT_OF_RANGE: &str = "offset_out_of_range";
    pub const OFFSET_EVICTED: &str = "offset_evicted";
    pub const OFFSET_NOT_AVAILABLE: &str = "offset_not_available";
    pub const NOT_LEADER_OR_FOLLOWER: &str = "not_leader_or_follower";
    pub const FENCED_LEADER_EPOCH: &str = "fenced_leader_epoch";
    pub const UNKNOWN_TOPIC_OR_PARTITION: &str = "unknown_topic_or_partition";
    pub const UNKNOWN_PRODUCER_ID: &str = "unknown_producer_id";
    pub const OUT_OF_ORDER_SEQUENCE: &str = "out_of_order_sequence";
    pub const INVALID_PRODUCER_EPOCH: &str = "invalid_producer_epoch";
    pub const CORRUPT_MESSAGE: &str = "corrupt_message";
    pub const KAFKA_STORAGE_ERROR: &str = "kafka_storage_error";
    pub const REQUEST_TIMED_OUT: &str = "request_timed_out";
    pub const NETWORK_ERROR: &str = "network_error";
    /// Internal: a correct broker never returns it for a valid request (`internal-error`).
    pub const UNKNOWN_SERVER_ERROR: &str = "unknown_server_error";
    /// Internal: a correct broker never returns it for a valid request (`internal-error`).
    pub const IO_ERROR: &str = "io_error";

    /// Is `error` one of the internal errors a correct broker never returns for a valid request?
    pub fn is_internal(error: &str) -> bool {
        error == UNKNOWN_SERVER_ERROR || error == IO_ERROR
    }
}

/// `reset` reasons.
pub mod reset_reason {
    pub const OFFSET_EVICTED: &str = "offset_evicted";
    pub const OUT_OF_RANGE: &str = "out_of_range";
    pub const SEEK: &str = "seek";
}

/// `request` apis.
pub mod api {
    pub const FETCH: &str = "fetch";
    pub const LIST_OFFSETS: &str = "list_offsets";
    pub const METADATA: &str = "metadata";
}

/// `fault` kinds.
pub mod fault_kind {
    pub const CRASH: &str = "crash";
    pub const RESTART: &str = "restart";
    pub const PARTITION: &str = "partition";
    pub const CLOG: &str = "clog";
    pub const DISK: &str = "disk";
    pub const TRUNCATE_FOLLOWER: &str = "truncate-follower";
    pub const EXPIRE_PID: &str = "expire-pid";
    pub const ADD_PARTITIONS: &str = "add-partitions";
    pub const RETENTION: &str = "retention";
    /// Every fault is repaired and the liveness phase starts.
    pub const HEAL: &str = "heal";
}
