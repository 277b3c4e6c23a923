//! A borrowed mirror of [`Event`]: what the reader decodes a line into (strings borrowed from the line unless they
//! had escapes) and what the checker consumes. [`Event::view`] borrows an owned event the same way, so the checker
//! has one input type and the reader allocates nothing per event on the checking path.

use std::borrow::Cow;

use crate::event::{Event, EventType, Op, Record, Request, TopicPartitionOffset};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventView<'a> {
    pub(crate) time_ns: u64,
    pub(crate) process: Cow<'a, str>,
    pub(crate) op: OpView<'a>,
}

/// One element of `records`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordView<'a> {
    pub(crate) topic: Cow<'a, str>,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
    pub(crate) value: Cow<'a, str>,
}

/// One element of `partitions` (assign).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssignmentView<'a> {
    pub(crate) topic: Cow<'a, str>,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
}

/// A list that is either borrowed from an owned [`Event`] or decoded from a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListView<'a, Owned, Decoded> {
    Borrowed(&'a [Owned]),
    Decoded(Vec<Decoded>),
}

pub(crate) type RecordsView<'a> = ListView<'a, Record, RecordView<'a>>;
pub(crate) type AssignmentsView<'a> = ListView<'a, TopicPartitionOffset, AssignmentView<'a>>;

impl<'a> RecordsView<'a> {
    /// (topic, partition, offset, value) of each record, in delivery order.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&str, u32, u64, &str)) {
        match self {
            ListView::Borrowed(records) => {
                for record in records.iter() {
                    visit(
                        &record.topic,
                        record.partition,
                        record.offset,
                        &record.value,
                    );
                }
            }
            ListView::Decoded(records) => {
                for record in records {
                    visit(
                        &record.topic,
                        record.partition,
                        record.offset,
                        &record.value,
                    );
                }
            }
        }
    }
}

impl<'a> AssignmentsView<'a> {
    /// (topic, partition, offset) of each assignment.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&str, u32, u64)) {
        match self {
            ListView::Borrowed(assignments) => {
                for assignment in assignments.iter() {
                    visit(&assignment.topic, assignment.partition, assignment.offset);
                }
            }
            ListView::Decoded(assignments) => {
                for assignment in assignments {
                    visit(&assignment.topic, assignment.partition, assignment.offset);
                }
            }
        }
    }
}

/// [`Op`], borrowed. Same variants, same fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpView<'a> {
    SendInvoke {
        topic: Cow<'a, str>,
        key: Option<Cow<'a, str>>,
        value: Cow<'a, str>,
    },
    SendOk {
        value: Cow<'a, str>,
        topic: Cow<'a, str>,
        partition: u32,
        offset: u64,
        pid: Option<i64>,
        epoch: Option<i32>,
        sequence: Option<i32>,
    },
    SendFail {
        value: Cow<'a, str>,
        error: Cow<'a, str>,
    },
    SendInfo {
        value: Cow<'a, str>,
        error: Cow<'a, str>,
    },
    PollOk {
        records: RecordsView<'a>,
    },
    PollFail {
        topic: Cow<'a, str>,
        partition: u32,
        offset: u64,
        error: Cow<'a, str>,
        next_available: Option<u64>,
    },
    Request {
        api: Cow<'a, str>,
        topic: Cow<'a, str>,
        partition: u32,
        offset: u64,
        broker: u32,
        error: Option<Cow<'a, str>>,
        progress: bool,
    },
    CommitInvoke {
        topic: Cow<'a, str>,
        partition: u32,
        offset: u64,
    },
    CommitOk {
        topic: Cow<'a, str>,
        partition: u32,
        offset: u64,
    },
    CommitFail {
        topic: Cow<'a, str>,
        partition: u32,
        offset: u64,
    },
    CommitInfo {
        topic: Cow<'a, str>,
        partition: u32,
        offset: u64,
    },
    Assign {
        partitions: AssignmentsView<'a>,
    },
    Reset {
        topic: Cow<'a, str>,
        partition: u32,
        from: u64,
        to: u64,
        reason: Cow<'a, str>,
    },
    Start,
    Crash,
    Close,
    InitPid {
        pid: i64,
        epoch: i32,
    },
    LogStart {
        topic: Cow<'a, str>,
        partition: u32,
        offset: u64,
        broker: Option<u32>,
    },
    Partitions {
        topic: Cow<'a, str>,
        count: u32,
    },
    Leader {
        topic: Cow<'a, str>,
        partition: u32,
        broker: u32,
        epoch: i32,
    },
    Fault {
        fault: Cow<'a, str>,
        target: Option<Cow<'a, str>>,
    },
    Ignored {
        f: Cow<'a, str>,
        event_type: EventType,
    },
}

fn borrowed(text: &str) -> Cow<'_, str> {
    Cow::Borrowed(text)
}

fn owned(text: Cow<'_, str>) -> String {
    text.into_owned()
}

impl Event {
    /// This event, borrowed as the checker's input.
    pub(crate) fn view(&self) -> EventView<'_> {
        let op = match &self.op {
            Op::SendInvoke { topic, key, value } => OpView::SendInvoke {
                topic: borrowed(topic),
                key: key.as_deref().map(borrowed),
                value: borrowed(value),
            },
            Op::SendOk {
                value,
                topic,
                partition,
                offset,
                pid,
                epoch,
                sequence,
            } => OpView::SendOk {
                value: borrowed(value),
                topic: borrowed(topic),
                partition: *partition,
                offset: *offset,
                pid: *pid,
                epoch: *epoch,
                sequence: *sequence,
            },
            Op::SendFail { value, error } => OpView::SendFail {
                value: borrowed(value),
                error: borrowed(error),
            },
            Op::SendInfo { value, error } => OpView::SendInfo {
                value: borrowed(value),
                error: borrowed(error),
            },
            Op::PollOk { records } => OpView::PollOk {
                records: ListView::Borrowed(records),
            },
            Op::PollFail {
                topic,
                partition,
                offset,
                error,
                next_available,
            } => OpView::PollFail {
                topic: borrowed(topic),
                partition: *partition,
                offset: *offset,
                error: borrowed(error),
                next_available: *next_available,
            },
            Op::Request(Request {
                api,
                topic,
                partition,
                offset,
                broker,
                error,
                progress,
            }) => OpView::Request {
                api: borrowed(api),
                topic: borrowed(topic),
                partition: *partition,
                offset: *offset,
                broker: *broker,
                error: error.as_deref().map(borrowed),
                progress: *progress,
            },
            Op::CommitInvoke {
                topic,
                partition,
                offset,
            } => OpView::CommitInvoke {
                topic: borrowed(topic),
                partition: *partition,
                offset: *offset,
            },
            Op::CommitOk {
                topic,
                partition,
                offset,
            } => OpView::CommitOk {
                topic: borrowed(topic),
                partition: *partition,
                offset: *offset,
            },
            Op::CommitFail {
                topic,
                partition,
                offset,
            } => OpView::CommitFail {
                topic: borrowed(topic),
                partition: *partition,
                offset: *offset,
            },
            Op::CommitInfo {
                topic,
                partition,
                offset,
            } => OpView::CommitInfo {
                topic: borrowed(topic),
                partition: *partition,
                offset: *offset,
            },
            Op::Assign { partitions } => OpView::Assign {
                partitions: ListView::Borrowed(partitions),
            },
            Op::Reset {
                topic,
                partition,
                from,
                to,
                reason,
            } => OpView::Reset {
                topic: borrowed(topic),
                partition: *partition,
                from: *from,
                to: *to,
                reason: borrowed(reason),
            },
            Op::Start => OpView::Start,
            Op::Crash => OpView::Crash,
            Op::Close => OpView::Close,
            Op::InitPid { pid, epoch } => OpView::InitPid {
                pid: *pid,
                epoch: *epoch,
            },
            Op::LogStart {
                topic,
                partition,
                offset,
                broker,
            } => OpView::LogStart {
                topic: borrowed(topic),
                partition: *partition,
                offset: *offset,
                broker: *broker,
            },
            Op::Partitions { topic, count } => OpView::Partitions {
                topic: borrowed(topic),
                count: *count,
            },
            Op::Leader {
                topic,
                partition,
                broker,
                epoch,
            } => OpView::Leader {
                topic: borrowed(topic),
                partition: *partition,
                broker: *broker,
                epoch: *epoch,
            },
            Op::Fault { fault, target } => OpView::Fault {
                fault: borrowed(fault),
                target: target.as_deref().map(borrowed),
            },
            Op::Ignored { f, event_type } => OpView::Ignored {
                f: borrowed(f),
                event_type: *event_type,
            },
        };
        EventView {
            time_ns: self.time_ns,
            process: borrowed(&self.process),
            op,
        }
    }
}

impl EventView<'_> {
    /// The owned event.
    pub(crate) fn into_owned(self) -> Event {
        let op = match self.op {
            OpView::SendInvoke { topic, key, value } => Op::SendInvoke {
                topic: owned(topic),
                key: key.map(owned),
                value: owned(value),
            },
            OpView::SendOk {
                value,
                topic,
                partition,
                offset,
                pid,
                epoch,
                sequence,
            } => Op::SendOk {
                value: owned(value),
                topic: owned(topic),
                partition,
                offset,
                pid,
                epoch,
                sequence,
            },
            OpView::SendFail { value, error } => Op::SendFail {
                value: owned(value),
                error: owned(error),
            },
            OpView::SendInfo { value, error } => Op::SendInfo {
                value: owned(value),
                error: owned(error),
            },
            OpView::PollOk { records } => Op::PollOk {
                records: match records {
                    ListView::Borrowed(records) => records.to_vec(),
                    ListView::Decoded(records) => records
                        .into_iter()
                        .map(|record| Record {
                            topic: owned(record.topic),
                            partition: record.partition,
                            offset: record.offset,
                            value: owned(record.value),
                        })
                        .collect(),
                },
            },
            OpView::PollFail {
                topic,
                partition,
                offset,
                error,
                next_available,
            } => Op::PollFail {
                topic: owned(topic),
                partition,
                offset,
                error: owned(error),
                next_available,
            },
            OpView::Request {
                api,
                topic,
                partition,
                offset,
                broker,
                error,
                progress,
            } => Op::Request(Request {
                api: owned(api),
                topic: owned(topic),
                partition,
                offset,
                broker,
                error: error.map(owned),
                progress,
            }),
            OpView::CommitInvoke {
                topic,
                partition,
                offset,
            } => Op::CommitInvoke {
                topic: owned(topic),
                partition,
                offset,
            },
            OpView::CommitOk {
                topic,
                partition,
                offset,
            } => Op::CommitOk {
                topic: owned(topic),
                partition,
                offset,
            },
            OpView::CommitFail {
                topic,
                partition,
                offset,
            } => Op::CommitFail {
                topic: owned(topic),
                partition,
                offset,
            },
            OpView::CommitInfo {
                topic,
                partition,
                offset,
            } => Op::CommitInfo {
                topic: owned(topic),
                partition,
                offset,
            },
            OpView::Assign { partitions } => Op::Assign {
                partitions: match partitions {
                    ListView::Borrowed(partitions) => partitions.to_vec(),
                    ListView::Decoded(partitions) => partitions
                        .into_iter()
                        .map(|assignment| TopicPartitionOffset {
                            topic: owned(assignment.topic),
                            partition: assignment.partition,
                            offset: assignment.offset,
                        })
                        .collect(),
                },
            },
            OpView::Reset {
                topic,
                partition,
                from,
                to,
                reason,
            } => Op::Reset {
                topic: owned(topic),
                partition,
                from,
                to,
                reason: owned(reason),
            },
            OpView::Start => Op::Start,
            OpView::Crash => Op::Crash,
            OpView::Close => Op::Close,
            OpView::InitPid { pid, epoch } => Op::InitPid { pid, epoch },
            OpView::LogStart {
                topic,
                partition,
                offset,
                broker,
            } => Op::LogStart {
                topic: owned(topic),
                partition,
                offset,
                broker,
            },
            OpView::Partitions { topic, count } => Op::Partitions {
                topic: owned(topic),
                count,
            },
            OpView::Leader {
                topic,
                partition,
                broker,
                epoch,
            } => Op::Leader {
                topic: owned(topic),
                partition,
                broker,
                epoch,
            },
            OpView::Fault { fault, target } => Op::Fault {
                fault: owned(fault),
                target: target.map(owned),
            },
            OpView::Ignored { f, event_type } => Op::Ignored {
                f: owned(f),
                event_type,
            },
        };
        Event {
            time_ns: self.time_ns,
            process: owned(self.process),
            op,
        }
    }
}
