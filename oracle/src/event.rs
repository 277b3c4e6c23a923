//! The history model: one [`Event`] per line of a history (docs/history-format.md, "Operations").
//!
//! Writers (the simulated clients, the cluster observer, the nemesis) build an [`Event`] and serialize it with
//! serde (or [`Event::to_json_line`]); the JSON object produced is exactly one docs/history-format.md line: `time`, `process`,
//! `type`, `f`, then the operation's fields with docs/history-format.md's names. Each [`Op`] variant is one `(f, type)` pair of
//! the contract's table, so an event that the contract does not allow cannot be built (except through
//! [`Op::Ignored`], which stands for events the checkers skip).

use std::borrow::Cow;

use serde::ser::{Serialize, Serializer};

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

/// Text of an event: borrowed from the line it was read from, or owned by a writer. One type serves both, so
/// the reader allocates nothing per event on the checking path and writers build events from `String`s.
pub type Text<'a> = Cow<'a, str>;

/// One record delivered by a poll: an element of `poll` ok's `records`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Record<'a> {
    pub topic: Text<'a>,
    pub partition: u32,
    pub offset: u64,
    pub value: Text<'a>,
}

/// A partition and a position in it: an element of `assign` ok's `partitions`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TopicPartitionOffset<'a> {
    pub topic: Text<'a>,
    pub partition: u32,
    /// The next offset the consumer reads.
    pub offset: u64,
}

/// A partition: an element of the `partitions` of `assignment`, `revoke` and `offsets_expired`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct TopicPartition<'a> {
    pub topic: Text<'a>,
    pub partition: u32,
}

/// One protocol request of a consumer (`f` = `request`); its `type` is `ok` when `error` is `None`, else `fail`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Request<'a> {
    /// `fetch`, `list_offsets`, `metadata`, ... (see [`api`]).
    pub api: Text<'a>,
    pub topic: Text<'a>,
    pub partition: u32,
    /// The offset the request asked for (the consumer's position).
    pub offset: u64,
    /// The broker the request went to.
    pub broker: u32,
    /// The error code of a failed request (see [`error_code`]); `None` (JSON `null`) when it succeeded.
    pub error: Option<Text<'a>>,
    /// Did the consumer's position advance because of this request?
    pub progress: bool,
    /// The partition's high watermark as the answer carried it (Kafka's `FetchResponse` partition data
    /// `high_watermark`). Optional: only a fetch answer without an error carries it (Kafka answers -1 with an
    /// error), and histories recorded without it stay valid.
    pub high_watermark: Option<u64>,
    /// The answering replica's log start offset as the answer carried it (`log_start_offset`); optional, as
    /// `high_watermark`.
    pub log_start_offset: Option<u64>,
}

/// What a `send` ok promises: its `acks` field (absent = `"all"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SendAcks {
    /// `acks=all`: every in-sync replica holds the record; it survives any failure the replication
    /// tolerates.
    #[default]
    All,
    /// `acks=1` (`"acks": "1"`): the leader alone appended it. A failure of that leader before the followers
    /// copied it loses it: the acknowledgement promises nothing across a leader change. `leader_epoch` is the
    /// epoch of the leader that appended it, when known (`leader_epoch` in the line).
    Leader { leader_epoch: Option<u32> },
}

impl SendAcks {
    /// The line's spelling of `acks`: `all` or `1`.
    pub fn as_str(self) -> &'static str {
        match self {
            SendAcks::All => "all",
            SendAcks::Leader { .. } => "1",
        }
    }
}

/// How a `commit` went: its `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommitPhase {
    /// The commit was asked for.
    Invoke,
    /// Durably stored.
    Ok,
    /// Definitely not stored (the coordinator answered an error).
    Fail,
    /// Unknown (no answer in time).
    Info,
}

impl CommitPhase {
    pub fn event_type(self) -> EventType {
        match self {
            CommitPhase::Invoke => EventType::Invoke,
            CommitPhase::Ok => EventType::Ok,
            CommitPhase::Fail => EventType::Fail,
            CommitPhase::Info => EventType::Info,
        }
    }
}

/// The operation of an event: docs/history-format.md's `f` together with its `type` and the fields that pair
/// carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op<'a> {
    /// `send` invoke: a producer asked to send one record. `key: None` is a keyless send (JSON `null`).
    SendInvoke {
        topic: Text<'a>,
        key: Option<Text<'a>>,
        value: Text<'a>,
    },
    /// `send` ok: acknowledged at `offset`. `pid`, `epoch`, `sequence` are optional; `acks` says what the
    /// acknowledgement promises (`acks` and `leader_epoch` in the line).
    SendOk {
        value: Text<'a>,
        topic: Text<'a>,
        partition: u32,
        offset: u64,
        pid: Option<i64>,
        epoch: Option<i32>,
        sequence: Option<i32>,
        acks: SendAcks,
    },
    /// `send` fail: definitely not written.
    SendFail { value: Text<'a>, error: Text<'a> },
    /// `send` info: outcome unknown.
    SendInfo { value: Text<'a>, error: Text<'a> },
    /// `poll` ok: records delivered to the application, in delivery order.
    PollOk { records: Cow<'a, [Record<'a>]> },
    /// `poll` fail: a fetch error surfaced to the application.
    PollFail {
        topic: Text<'a>,
        partition: u32,
        offset: u64,
        error: Text<'a>,
        next_available: Option<u64>,
    },
    /// `request` ok (error `None`) or fail (error `Some`).
    Request(Request<'a>),
    /// `commit` invoke, ok, fail or info. `offset` is the next offset to consume (Kafka convention).
    /// `group` and `generation` (optional) make it a consumer group member's commit, fenced by the
    /// generation; `generation` needs `group` (the reader rejects a line with one and not the other way
    /// round). `error` (optional) is the coordinator's or the client's error code, on `fail` and `info`
    /// only: the reader ignores it on `invoke` and `ok`, so leave it `None` there.
    Commit {
        phase: CommitPhase,
        topic: Text<'a>,
        partition: u32,
        offset: u64,
        group: Option<Text<'a>>,
        generation: Option<u32>,
        error: Option<Text<'a>>,
    },
    /// `join` ok: the member's JoinGroup was answered: member `member` of group `group` is in generation
    /// `generation`; `leader` says whether the coordinator made it the leader; `protocol` (optional) is
    /// the assignor the group chose.
    Join {
        group: Text<'a>,
        generation: u32,
        member: Text<'a>,
        leader: bool,
        protocol: Option<Text<'a>>,
    },
    /// `assignment` ok: the member's assignment for generation `generation` (the SyncGroup answer),
    /// every partition it may read in that generation.
    Assignment {
        group: Text<'a>,
        generation: u32,
        member: Text<'a>,
        partitions: Cow<'a, [TopicPartition<'a>]>,
    },
    /// `revoke` ok: the member stopped reading these partitions (after committing what it delivered of
    /// them, if it commits on revoke). `generation` is the generation it last owned them in; `lost`: it
    /// gave them up without committing because it learnt it was no longer a member (Kafka's
    /// `onPartitionsLost`); absent in the line = `false`.
    Revoke {
        group: Text<'a>,
        generation: u32,
        partitions: Cow<'a, [TopicPartition<'a>]>,
        lost: bool,
    },
    /// `leave` ok: the member sent LeaveGroup.
    Leave { group: Text<'a>, member: Text<'a> },
    /// `offsets_expired` ok (process `cluster`): the coordinator deleted the group's committed offsets of
    /// these partitions (offset retention).
    OffsetsExpired {
        group: Text<'a>,
        partitions: Cow<'a, [TopicPartition<'a>]>,
        /// The coordinator's offset retention (`offsets.retention.minutes` in ms), if the writer
        /// knows it: lets the checker tell an expiry that came too soon after the group's last
        /// member commit (`offsets-expired-early`).
        retention_ms: Option<u64>,
    },
    /// `assign` ok: the consumer (re)started reading these partitions at these positions.
    Assign {
        partitions: Cow<'a, [TopicPartitionOffset<'a>]>,
    },
    /// `reset` ok: the consumer's position jumped from `from` to `to` (see [`reset_reason`]).
    Reset {
        topic: Text<'a>,
        partition: u32,
        from: u64,
        to: u64,
        reason: Text<'a>,
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
        topic: Text<'a>,
        partition: u32,
        offset: u64,
        broker: Option<u32>,
    },
    /// `partitions` ok (process `cluster`): the topic's partition count is now `count`.
    Partitions { topic: Text<'a>, count: u32 },
    /// `leader` ok (process `cluster`): a new leader (informative).
    Leader {
        topic: Text<'a>,
        partition: u32,
        broker: u32,
        epoch: i32,
    },
    /// `data_loss` ok (a producer): the producer concluded that the broker lost records it had
    /// acknowledged (its state is gone and retention does not explain it), e.g. franz-go's
    /// `onDataLoss` hook. `log_start` (`offset` in the line) is the log start the broker's answer
    /// carried.
    DataLoss {
        topic: Text<'a>,
        partition: u32,
        log_start: u64,
    },
    /// `fatal` ok (a producer): the producer told the application it can send nothing more and
    /// must be replaced (librdkafka's fatal error, `rd_kafka_fatal_error()`): every send of this
    /// incarnation that has not completed fails, and so does every later one. `topic` and
    /// `partition` name the partition whose answer raised it, `error` the broker's error.
    Fatal {
        topic: Text<'a>,
        partition: u32,
        error: Text<'a>,
    },
    /// `offline` ok (process `cluster`): the partition has no leader (no live in-sync replica);
    /// producers cannot write it until a `leader` event of it.
    Offline {
        topic: Text<'a>,
        partition: u32,
        epoch: i32,
    },
    /// `fault` info (process `nemesis`): a fault began, or was repaired; `heal` repairs every fault. Any name is
    /// valid in a history; streamsim writes the names of [`FaultKind`].
    Fault {
        fault: Text<'a>,
        target: Option<Text<'a>>,
    },
    /// An event the checkers skip and count in `ignored_events`: an `f` the contract does not know, or a known `f`
    /// with a `type` its table row does not list (e.g. `poll` invoke). The reader keeps only `f` and `type`.
    /// Writers should not use it for a pair the contract models: it would serialize without that pair's fields.
    Ignored { f: Text<'a>, event_type: EventType },
}

impl Op<'_> {
    /// docs/history-format.md `f`.
    pub fn f(&self) -> &str {
        match self {
            Op::SendInvoke { .. }
            | Op::SendOk { .. }
            | Op::SendFail { .. }
            | Op::SendInfo { .. } => "send",
            Op::PollOk { .. } | Op::PollFail { .. } => "poll",
            Op::Request(_) => "request",
            Op::Commit { .. } => "commit",
            Op::Join { .. } => "join",
            Op::Assignment { .. } => "assignment",
            Op::Revoke { .. } => "revoke",
            Op::Leave { .. } => "leave",
            Op::OffsetsExpired { .. } => "offsets_expired",
            Op::Assign { .. } => "assign",
            Op::Reset { .. } => "reset",
            Op::Start => "start",
            Op::Crash => "crash",
            Op::Close => "close",
            Op::InitPid { .. } => "init_pid",
            Op::LogStart { .. } => "log_start",
            Op::Partitions { .. } => "partitions",
            Op::Leader { .. } => "leader",
            Op::Offline { .. } => "offline",
            Op::DataLoss { .. } => "data_loss",
            Op::Fatal { .. } => "fatal",
            Op::Fault { .. } => "fault",
            Op::Ignored { f, .. } => f,
        }
    }

    /// docs/history-format.md `type`.
    pub fn event_type(&self) -> EventType {
        match self {
            Op::SendInvoke { .. } => EventType::Invoke,
            Op::SendFail { .. } | Op::PollFail { .. } => EventType::Fail,
            Op::SendInfo { .. } | Op::Crash | Op::Fault { .. } => EventType::Info,
            Op::Commit { phase, .. } => phase.event_type(),
            Op::Request(request) => match request.error {
                None => EventType::Ok,
                Some(_) => EventType::Fail,
            },
            Op::SendOk { .. }
            | Op::PollOk { .. }
            | Op::Join { .. }
            | Op::Assignment { .. }
            | Op::Revoke { .. }
            | Op::Leave { .. }
            | Op::OffsetsExpired { .. }
            | Op::Assign { .. }
            | Op::Reset { .. }
            | Op::Start
            | Op::Close
            | Op::InitPid { .. }
            | Op::LogStart { .. }
            | Op::Partitions { .. }
            | Op::Leader { .. }
            | Op::Offline { .. }
            | Op::DataLoss { .. }
            | Op::Fatal { .. } => EventType::Ok,
            Op::Ignored { event_type, .. } => *event_type,
        }
    }

    /// Is this a client operation (`send`, `poll`, `request`, `commit`, `assign`, `reset`, `init_pid`,
    /// `join`, `assignment`, `revoke`, `leave`), not a lifecycle, cluster, nemesis or ignored event?
    pub fn is_client_operation(&self) -> bool {
        !matches!(
            self,
            Op::Start
                | Op::Crash
                | Op::Close
                | Op::LogStart { .. }
                | Op::Partitions { .. }
                | Op::Leader { .. }
                | Op::Offline { .. }
                | Op::DataLoss { .. }
                | Op::Fatal { .. }
                | Op::Fault { .. }
                | Op::OffsetsExpired { .. }
                | Op::Ignored { .. }
        )
    }

    /// The operation with every borrowed text copied: it outlives the line it was read from.
    pub fn into_owned(self) -> Op<'static> {
        fn own(text: Text<'_>) -> Text<'static> {
            Cow::Owned(text.into_owned())
        }
        fn own_partitions(
            partitions: Cow<'_, [TopicPartition<'_>]>,
        ) -> Cow<'static, [TopicPartition<'static>]> {
            Cow::Owned(
                partitions
                    .into_owned()
                    .into_iter()
                    .map(|partition| TopicPartition {
                        topic: own(partition.topic),
                        partition: partition.partition,
                    })
                    .collect(),
            )
        }
        match self {
            Op::SendInvoke { topic, key, value } => Op::SendInvoke {
                topic: own(topic),
                key: key.map(own),
                value: own(value),
            },
            Op::SendOk {
                value,
                topic,
                partition,
                offset,
                pid,
                epoch,
                sequence,
                acks,
            } => Op::SendOk {
                value: own(value),
                topic: own(topic),
                partition,
                offset,
                pid,
                epoch,
                sequence,
                acks,
            },
            Op::SendFail { value, error } => Op::SendFail {
                value: own(value),
                error: own(error),
            },
            Op::SendInfo { value, error } => Op::SendInfo {
                value: own(value),
                error: own(error),
            },
            Op::PollOk { records } => Op::PollOk {
                records: Cow::Owned(
                    records
                        .into_owned()
                        .into_iter()
                        .map(|record| Record {
                            topic: own(record.topic),
                            partition: record.partition,
                            offset: record.offset,
                            value: own(record.value),
                        })
                        .collect(),
                ),
            },
            Op::PollFail {
                topic,
                partition,
                offset,
                error,
                next_available,
            } => Op::PollFail {
                topic: own(topic),
                partition,
                offset,
                error: own(error),
                next_available,
            },
            Op::Request(request) => Op::Request(Request {
                api: own(request.api),
                topic: own(request.topic),
                partition: request.partition,
                offset: request.offset,
                broker: request.broker,
                error: request.error.map(own),
                progress: request.progress,
                high_watermark: request.high_watermark,
                log_start_offset: request.log_start_offset,
            }),
            Op::Commit {
                phase,
                topic,
                partition,
                offset,
                group,
                generation,
                error,
            } => Op::Commit {
                phase,
                topic: own(topic),
                partition,
                offset,
                group: group.map(own),
                generation,
                error: error.map(own),
            },
            Op::Join {
                group,
                generation,
                member,
                leader,
                protocol,
            } => Op::Join {
                group: own(group),
                generation,
                member: own(member),
                leader,
                protocol: protocol.map(own),
            },
            Op::Assignment {
                group,
                generation,
                member,
                partitions,
            } => Op::Assignment {
                group: own(group),
                generation,
                member: own(member),
                partitions: own_partitions(partitions),
            },
            Op::Revoke {
                group,
                generation,
                partitions,
                lost,
            } => Op::Revoke {
                group: own(group),
                generation,
                partitions: own_partitions(partitions),
                lost,
            },
            Op::Leave { group, member } => Op::Leave {
                group: own(group),
                member: own(member),
            },
            Op::OffsetsExpired {
                group,
                partitions,
                retention_ms,
            } => Op::OffsetsExpired {
                group: own(group),
                partitions: own_partitions(partitions),
                retention_ms,
            },
            Op::Assign { partitions } => Op::Assign {
                partitions: Cow::Owned(
                    partitions
                        .into_owned()
                        .into_iter()
                        .map(|assigned| TopicPartitionOffset {
                            topic: own(assigned.topic),
                            partition: assigned.partition,
                            offset: assigned.offset,
                        })
                        .collect(),
                ),
            },
            Op::Reset {
                topic,
                partition,
                from,
                to,
                reason,
            } => Op::Reset {
                topic: own(topic),
                partition,
                from,
                to,
                reason: own(reason),
            },
            Op::Start => Op::Start,
            Op::Crash => Op::Crash,
            Op::Close => Op::Close,
            Op::InitPid { pid, epoch } => Op::InitPid { pid, epoch },
            Op::LogStart {
                topic,
                partition,
                offset,
                broker,
            } => Op::LogStart {
                topic: own(topic),
                partition,
                offset,
                broker,
            },
            Op::Partitions { topic, count } => Op::Partitions {
                topic: own(topic),
                count,
            },
            Op::Leader {
                topic,
                partition,
                broker,
                epoch,
            } => Op::Leader {
                topic: own(topic),
                partition,
                broker,
                epoch,
            },
            Op::Offline {
                topic,
                partition,
                epoch,
            } => Op::Offline {
                topic: own(topic),
                partition,
                epoch,
            },
            Op::DataLoss {
                topic,
                partition,
                log_start,
            } => Op::DataLoss {
                topic: own(topic),
                partition,
                log_start,
            },
            Op::Fatal {
                topic,
                partition,
                error,
            } => Op::Fatal {
                topic: own(topic),
                partition,
                error: own(error),
            },
            Op::Fault { fault, target } => Op::Fault {
                fault: own(fault),
                target: target.map(own),
            },
            Op::Ignored { f, event_type } => Op::Ignored {
                f: own(f),
                event_type,
            },
        }
    }
}

/// One line of a history. `Event<'static>` owns its text; the reader's events borrow from their line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event<'a> {
    /// docs/history-format.md `time`: nanoseconds since the start of the run; non-decreasing by line.
    pub time_ns: u64,
    /// Who acted: a client process (`producer-0`), `cluster`, or `nemesis`.
    pub process: Text<'a>,
    /// `f`, `type` and the operation's fields.
    pub op: Op<'a>,
}

/// The `process` of cluster observations (`log_start`, `partitions`, `leader`).
pub const CLUSTER_PROCESS: &str = "cluster";
/// The `process` of faults.
pub const NEMESIS_PROCESS: &str = "nemesis";

impl<'a> Event<'a> {
    pub fn new(time_ns: u64, process: impl Into<Text<'a>>, op: Op<'a>) -> Event<'a> {
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

    /// The event with every borrowed text copied.
    pub fn into_owned(self) -> Event<'static> {
        Event {
            time_ns: self.time_ns,
            process: Cow::Owned(self.process.into_owned()),
            op: self.op.into_owned(),
        }
    }

    /// The event as one JSON object without a newline: one docs/history-format.md line.
    pub fn to_json_line(&self) -> String {
        let mut line = Vec::new();
        self.write_json_line(&mut line);
        String::from_utf8(line).expect("line.rs writes UTF-8: keys are ASCII, values escaped UTF-8")
    }

    /// Appends the event's line (JSON, no newline) to `out`.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        // Byte for byte what serde_json would write for the contract's fields (line.rs's tests hold it
        // to a serde reference).
        crate::line::write_event_line(self, out);
    }

    /// `send` invoke; `key: None` is a keyless send.
    pub fn send_invoke(
        time_ns: u64,
        process: impl Into<Text<'a>>,
        topic: impl Into<Text<'a>>,
        key: Option<String>,
        value: impl Into<Text<'a>>,
    ) -> Event<'a> {
        Event::new(
            time_ns,
            process,
            Op::SendInvoke {
                topic: topic.into(),
                key: key.map(Cow::Owned),
                value: value.into(),
            },
        )
    }

    /// `send` ok without the optional producer-id fields.
    pub fn send_ok(
        time_ns: u64,
        process: impl Into<Text<'a>>,
        value: impl Into<Text<'a>>,
        topic: impl Into<Text<'a>>,
        partition: u32,
        offset: u64,
    ) -> Event<'a> {
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
                acks: SendAcks::All,
            },
        )
    }

    /// This `send` ok with `acks` (see [`SendAcks`]).
    ///
    /// # Panics
    /// When the event is not a `send` ok.
    pub fn with_acks(mut self, acks: SendAcks) -> Event<'a> {
        match &mut self.op {
            Op::SendOk { acks: field, .. } => *field = acks,
            other => panic!("with_acks on a {} {} event", other.f(), other.event_type()),
        }
        self
    }

    /// `send` fail: definitely not written.
    pub fn send_fail(
        time_ns: u64,
        process: impl Into<Text<'a>>,
        value: impl Into<Text<'a>>,
        error: impl Into<Text<'a>>,
    ) -> Event<'a> {
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
        process: impl Into<Text<'a>>,
        value: impl Into<Text<'a>>,
        error: impl Into<Text<'a>>,
    ) -> Event<'a> {
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
    pub fn poll_ok(
        time_ns: u64,
        process: impl Into<Text<'a>>,
        records: Vec<Record<'a>>,
    ) -> Event<'a> {
        Event::new(
            time_ns,
            process,
            Op::PollOk {
                records: Cow::Owned(records),
            },
        )
    }

    /// `commit` ok: `offset` is the next offset to consume.
    pub fn commit_ok(
        time_ns: u64,
        process: impl Into<Text<'a>>,
        topic: impl Into<Text<'a>>,
        partition: u32,
        offset: u64,
    ) -> Event<'a> {
        Event::new(
            time_ns,
            process,
            Op::Commit {
                phase: CommitPhase::Ok,
                topic: topic.into(),
                partition,
                offset,
                group: None,
                generation: None,
                error: None,
            },
        )
    }

    /// `start` ok: a new incarnation of `process`.
    pub fn start(time_ns: u64, process: impl Into<Text<'a>>) -> Event<'a> {
        Event::new(time_ns, process, Op::Start)
    }

    /// `crash` info.
    pub fn crash(time_ns: u64, process: impl Into<Text<'a>>) -> Event<'a> {
        Event::new(time_ns, process, Op::Crash)
    }

    /// `close` ok.
    pub fn close(time_ns: u64, process: impl Into<Text<'a>>) -> Event<'a> {
        Event::new(time_ns, process, Op::Close)
    }

    /// Authoritative `log_start` ok of the partition's leader, by process `cluster`.
    pub fn log_start(
        time_ns: u64,
        topic: impl Into<Text<'a>>,
        partition: u32,
        offset: u64,
    ) -> Event<'a> {
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
    pub fn partitions(time_ns: u64, topic: impl Into<Text<'a>>, count: u32) -> Event<'a> {
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
    pub fn fault(time_ns: u64, fault: FaultKind, target: Option<String>) -> Event<'a> {
        Event::new(
            time_ns,
            NEMESIS_PROCESS,
            Op::Fault {
                fault: Cow::Borrowed(fault.as_str()),
                target: target.map(Cow::Owned),
            },
        )
    }

    /// `fault` info `heal`: every fault is repaired and the liveness phase starts.
    pub fn heal(time_ns: u64) -> Event<'a> {
        Event::fault(time_ns, FaultKind::Heal, None)
    }
}

/// The event's docs/history-format.md line (JSON, no newline).
impl std::fmt::Display for Event<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.to_json_line())
    }
}

impl<'a> Record<'a> {
    pub fn new(
        topic: impl Into<Text<'a>>,
        partition: u32,
        offset: u64,
        value: impl Into<Text<'a>>,
    ) -> Record<'a> {
        Record {
            topic: topic.into(),
            partition,
            offset,
            value: value.into(),
        }
    }
}

impl<'a> TopicPartition<'a> {
    pub fn new(topic: impl Into<Text<'a>>, partition: u32) -> TopicPartition<'a> {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl<'a> TopicPartitionOffset<'a> {
    pub fn new(
        topic: impl Into<Text<'a>>,
        partition: u32,
        offset: u64,
    ) -> TopicPartitionOffset<'a> {
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
///
/// One writer makes the line (`line.rs`); serializing an event embeds that line as it is (a report's JSON
/// document holds the same bytes as the history file).
impl Serialize for Event<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.to_json_line())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
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
    /// A commit of a generation that is not the group's current one (`commit` fail).
    pub const ILLEGAL_GENERATION: &str = "illegal_generation";
    /// A commit or join of a member the coordinator does not know (any more).
    pub const UNKNOWN_MEMBER_ID: &str = "unknown_member_id";
    /// A commit while the group is rebalancing.
    pub const REBALANCE_IN_PROGRESS: &str = "rebalance_in_progress";
    /// A static member replaced by another with its `group.instance.id` (KIP-345).
    pub const FENCED_INSTANCE_ID: &str = "fenced_instance_id";
    /// Internal: a correct broker never returns it for a valid request (`internal-error`).
    pub const UNKNOWN_SERVER_ERROR: &str = "unknown_server_error";
    /// Internal: a correct broker never returns it for a valid request (`internal-error`).
    pub const IO_ERROR: &str = "io_error";

    /// Is `error` one of the internal errors a correct broker never returns for a valid request?
    pub fn is_internal(error: &str) -> bool {
        error == UNKNOWN_SERVER_ERROR || error == IO_ERROR
    }
}

/// Why a consumer's position jumped (`reset` ok's `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResetReason {
    /// Retention removed the records at the position (`offset_evicted`).
    OffsetEvicted,
    /// The position was outside the log (`out_of_range`).
    OutOfRange,
    /// The application moved it (`seek`).
    Seek,
}

impl ResetReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetReason::OffsetEvicted => reset_reason::OFFSET_EVICTED,
            ResetReason::OutOfRange => reset_reason::OUT_OF_RANGE,
            ResetReason::Seek => reset_reason::SEEK,
        }
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

/// The faults streamsim injects and repairs, as `fault` events name them. One vocabulary for the scenario
/// files, the runtime that injects them, the checker (which needs `heal`) and the reports (which pair each
/// fault with its repair). A history from elsewhere may name other faults: [`FaultKind::from_name`] is `None`
/// for them, and the checker only cares about `heal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// A node crashed (a broker loses its unsynced writes; a client process dies).
    Crash,
    /// A client process shut down cleanly.
    Close,
    /// A node stopped running without losing anything.
    Pause,
    /// Nodes cut off from the others.
    Partition,
    /// One direction of one link stopped delivering.
    Clog,
    /// A share of all messages is lost.
    Loss,
    /// Every message is delayed.
    Latency,
    /// A node's disk fails reads or writes, or slows down.
    Disk,
    /// Retention forced on one replica.
    Retention,
    /// A follower's log cut while it is down.
    TruncateFollower,
    /// A broker went down and lost its whole disk (it comes back empty).
    WipeDisk,
    /// Producer ids forgotten by a partition's leader.
    ExpirePid,
    /// A topic grew.
    AddPartitions,
    /// A crashed or closed node started again (repairs `crash` and `close`).
    Restart,
    /// A paused node runs again (repairs `pause`).
    Resume,
    /// Partitions removed (repairs `partition`).
    Unpartition,
    /// A clogged link delivers again (repairs `clog`).
    Unclog,
    /// A faulty disk works again (repairs `disk`).
    DiskRepaired,
    /// Every fault is repaired and the liveness phase starts.
    Heal,
}

impl FaultKind {
    pub const ALL: [FaultKind; 19] = [
        FaultKind::Crash,
        FaultKind::Close,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::Clog,
        FaultKind::Loss,
        FaultKind::Latency,
        FaultKind::Disk,
        FaultKind::Retention,
        FaultKind::TruncateFollower,
        FaultKind::WipeDisk,
        FaultKind::ExpirePid,
        FaultKind::AddPartitions,
        FaultKind::Restart,
        FaultKind::Resume,
        FaultKind::Unpartition,
        FaultKind::Unclog,
        FaultKind::DiskRepaired,
        FaultKind::Heal,
    ];

    /// The name in `fault` events.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Close => "close",
            FaultKind::Pause => "pause",
            FaultKind::Partition => "partition",
            FaultKind::Clog => "clog",
            FaultKind::Loss => "loss",
            FaultKind::Latency => "latency",
            FaultKind::Disk => "disk",
            FaultKind::Retention => "retention",
            FaultKind::TruncateFollower => "truncate-follower",
            FaultKind::WipeDisk => "wipe-disk",
            FaultKind::ExpirePid => "expire-pid",
            FaultKind::AddPartitions => "add-partitions",
            FaultKind::Restart => "restart",
            FaultKind::Resume => "resume",
            FaultKind::Unpartition => "unpartition",
            FaultKind::Unclog => "unclog",
            FaultKind::DiskRepaired => "disk-repaired",
            FaultKind::Heal => "heal",
        }
    }

    pub fn from_name(name: &str) -> Option<FaultKind> {
        FaultKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// The `fault` event that repairs this fault, and whether the repair names the same target. `loss` and
    /// `latency` are network-wide settings repaired by setting them back (`loss` `0`, `latency` `default`),
    /// with no target; a fault with no repair (retention, growth, ...) leaves nothing to undo.
    pub fn repair(self) -> Option<(FaultKind, bool)> {
        match self {
            FaultKind::Crash | FaultKind::Close | FaultKind::WipeDisk => {
                Some((FaultKind::Restart, true))
            }
            FaultKind::Pause => Some((FaultKind::Resume, true)),
            FaultKind::Partition => Some((FaultKind::Unpartition, false)),
            FaultKind::Clog => Some((FaultKind::Unclog, true)),
            FaultKind::Disk => Some((FaultKind::DiskRepaired, true)),
            FaultKind::Loss | FaultKind::Latency => Some((self, false)),
            _ => None,
        }
    }

    /// The `target` of the event that sets a network-wide setting back (`loss` `0`, `latency` `default`).
    pub fn setting_reset_target(self) -> Option<&'static str> {
        match self {
            FaultKind::Loss => Some("0"),
            FaultKind::Latency => Some("default"),
            _ => None,
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}
