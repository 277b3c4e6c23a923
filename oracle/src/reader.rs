//! Reading a history: JSON Lines text -> [`Event`]s, naming the 1-based line of any bad input.
//!
//! Each line is first checked against the JSON grammar and split into its top-level fields in one pass (the
//! `json` module, borrowing from the line); then only the fields that the event's `(f, type)` needs are
//! decoded. So a wrong type names its field, a field the operation does not use is ignored whatever its type
//! (unknown fields are ignored by the contract), and an event with an unknown `f` is skipped after its four
//! common fields are checked.
//!
//! Rules (docs/history-format.md "Encoding"): every event needs `time` (integer >= 0), `process` (string), `type`
//! (`invoke`/`ok`/`fail`/`info`) and `f` (string); the operation's fields are required unless the contract
//! calls them optional; an optional field given as `null` counts as absent; `key` (send invoke) and `error`
//! (request) are required but may be `null`. A known `f` with a `type` its table row does not list (e.g. `poll`
//! invoke) becomes [`Op::Ignored`](crate::event::Op::Ignored), like an unknown `f`. `time` must not decrease
//! from one event to the next (checked by [`HistoryReader`]; [`parse_line`] sees one line only). A key repeated
//! in one object is malformed JSON for a field the format knows (serde_json would keep the last one silently).

use std::borrow::Cow;
use std::fmt::Display;
use std::io::BufRead;
use std::path::PathBuf;

use crate::canonical;
use crate::event::{
    CommitPhase, Event, EventType, Op, Record, Request, SendAcks, TopicPartition,
    TopicPartitionOffset,
};
use crate::json::{self, ArrayField, Element, ElementFields, EventFields, Raw, ScanError};

/// Bad input: the history cannot be checked. Every variant about the content names the 1-based line.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot open the history {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("line {line}: cannot read the history: {source}")]
    Read { line: u64, source: std::io::Error },
    #[error("line {line}: not valid UTF-8 (first bad byte at column {column})")]
    NotUtf8 { line: u64, column: usize },
    #[error("line {line}: malformed JSON: {message}")]
    MalformedJson { line: u64, message: String },
    #[error("line {line}: an event must be a JSON object, found {found}")]
    NotAnObject { line: u64, found: String },
    #[error("line {line}: missing required field `{field}` ({operation})")]
    MissingField {
        line: u64,
        field: String,
        operation: String,
    },
    #[error("line {line}: field `{field}` has the wrong type: expected {expected}, found {found}")]
    WrongType {
        line: u64,
        field: String,
        expected: &'static str,
        found: String,
    },
    #[error("line {line}: field `{field}`: {message}")]
    InvalidValue {
        line: u64,
        field: String,
        message: String,
    },
    #[error("line {line}: time went backwards: {time_ns} ns, after {previous_time_ns} ns on line {previous_line}")]
    TimeWentBackwards {
        line: u64,
        time_ns: u64,
        previous_time_ns: u64,
        previous_line: u64,
    },
}

impl HistoryError {
    /// The 1-based line of the history that is bad, if the error is about a line.
    pub fn line(&self) -> Option<u64> {
        match self {
            HistoryError::Open { .. } => None,
            HistoryError::Read { line, .. }
            | HistoryError::NotUtf8 { line, .. }
            | HistoryError::MalformedJson { line, .. }
            | HistoryError::NotAnObject { line, .. }
            | HistoryError::MissingField { line, .. }
            | HistoryError::WrongType { line, .. }
            | HistoryError::InvalidValue { line, .. }
            | HistoryError::TimeWentBackwards { line, .. } => Some(*line),
        }
    }
}

/// Parses one line of a history. `Ok(None)` for a blank line (only whitespace). Does not check that time is
/// non-decreasing: that needs the previous line ([`HistoryReader`] does it).
pub fn parse_line(line: &str, line_number: u64) -> Result<Option<Event<'static>>, HistoryError> {
    Ok(parse_view(line, line_number)?.map(Event::into_owned))
}

/// [`parse_line`] without copying: strings stay borrowed from `line` unless they had escapes. A line in the
/// form streamsim writes takes the fast path (`canonical`), any other the general reader.
#[inline]
pub(crate) fn parse_view(line: &str, line_number: u64) -> Result<Option<Event<'_>>, HistoryError> {
    if let Some(event) = canonical::read(line) {
        return Ok(Some(event));
    }
    parse_general(line, line_number)
}

/// [`parse_view`] by the general reader only: the JSON grammar checked and the line split into its fields
/// (`json`), then the fields the operation needs decoded.
#[inline]
pub(crate) fn parse_general(
    line: &str,
    line_number: u64,
) -> Result<Option<Event<'_>>, HistoryError> {
    if is_blank(line.as_bytes()) {
        return Ok(None);
    }
    let mut fields = EventFields::default();
    match json::scan_event(line, &mut fields) {
        Ok(()) => {}
        Err(ScanError::NotAnObject { found }) => {
            return Err(HistoryError::NotAnObject {
                line: line_number,
                found,
            })
        }
        Err(ScanError::Malformed { at, message }) => {
            let column = line[..at.min(line.len())].chars().count() + 1;
            return Err(HistoryError::MalformedJson {
                line: line_number,
                message: format!("{message} (column {column})"),
            });
        }
    }
    Decoder {
        line: line_number,
        fields: &fields,
    }
    .decode()
    .map(Some)
    .map_err(|error| *error)
}

/// One line's bytes (with its newline, if any) as line `number`: checked to be UTF-8, then parsed;
/// `Ok(None)` when blank.
pub(crate) fn parse_line_bytes(
    bytes: &[u8],
    number: u64,
) -> Result<Option<Event<'_>>, HistoryError> {
    if is_blank(bytes) {
        return Ok(None);
    }
    parse_view(line_text(bytes, number)?, number)
}

/// [`parse_line_bytes`] appending the event (if any) to `events` as `(number, event)`: a line in the form
/// streamsim writes goes from the fast path straight into the vector, without the moves of returning a
/// large event through each layer.
#[inline]
pub(crate) fn parse_line_into<'a>(
    bytes: &'a [u8],
    number: u64,
    events: &mut Vec<(u64, Event<'a>)>,
) -> Result<(), HistoryError> {
    let text = line_text(bytes, number)?;
    if let Some(event) = canonical::read(text) {
        events.push((number, event));
    } else if let Some(event) = parse_general(text, number)? {
        events.push((number, event));
    }
    Ok(())
}

/// A line's bytes as text: bad UTF-8 is an error naming its column.
#[inline]
fn line_text(bytes: &[u8], number: u64) -> Result<&str, HistoryError> {
    std::str::from_utf8(bytes).map_err(|error| HistoryError::NotUtf8 {
        line: number,
        column: String::from_utf8_lossy(&bytes[..error.valid_up_to()])
            .chars()
            .count()
            + 1,
    })
}

/// Streams the events of a history from any `BufRead`, one line at a time, with the 1-based line number of each.
/// Checks that `time` never decreases. Stops after the first error. A line that lies whole in the `BufRead`'s
/// buffer is parsed in place; only a line that straddles the buffer's end is copied.
pub struct HistoryReader<R> {
    reader: R,
    /// A line that did not fit in the reader's buffer.
    buffer: Vec<u8>,
    /// Bytes of the reader's buffer parsed in place last time, to consume before reading on.
    pending_consume: usize,
    /// The number of the line read last (1-based; 0 before the first).
    line_number: u64,
    /// `(time_ns, line)` of the last event.
    previous: Option<(u64, u64)>,
    finished: bool,
}

#[inline]
fn is_blank(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
}

/// The index of the first `\n`, eight bytes at a time.
#[inline]
pub(crate) fn find_newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const NEWLINES: u64 = ONES * b'\n' as u64;
    let mut chunks = bytes.chunks_exact(8);
    let mut index = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks_exact(8) yields 8 bytes"))
            ^ NEWLINES;
        // A zero byte in `word` marks a newline; this finds the lowest one exactly.
        let zero_bytes = word.wrapping_sub(ONES) & !word & HIGHS;
        if zero_bytes != 0 {
            return Some(index + (zero_bytes.trailing_zeros() / 8) as usize);
        }
        index += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&byte| byte == b'\n')
        .map(|position| index + position)
}

impl<R: BufRead> HistoryReader<R> {
    pub fn new(reader: R) -> HistoryReader<R> {
        HistoryReader {
            reader,
            buffer: Vec::new(),
            pending_consume: 0,
            line_number: 0,
            previous: None,
            finished: false,
        }
    }

    /// The next event and its line, `Ok(None)` at the end of the input.
    pub fn next_event(&mut self) -> Result<Option<(u64, Event<'static>)>, HistoryError> {
        Ok(self
            .next_view()?
            .map(|(line, view)| (line, view.into_owned())))
    }

    /// The next event, borrowed from the reader's buffer (or from the copy of a straddling line).
    pub fn next_view(&mut self) -> Result<Option<(u64, Event<'_>)>, HistoryError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            if self.pending_consume > 0 {
                self.reader.consume(self.pending_consume);
                self.pending_consume = 0;
            }
            let line_number = self.line_number + 1;
            // Find the line: its length when it lies whole in the reader's buffer.
            let in_place_length = match self.reader.fill_buf() {
                Err(source) => {
                    self.finished = true;
                    return Err(HistoryError::Read {
                        line: line_number,
                        source,
                    });
                }
                Ok([]) => {
                    self.finished = true;
                    return Ok(None);
                }
                Ok(available) => find_newline(available).map(|newline| newline + 1),
            };
            self.line_number = line_number;
            match in_place_length {
                Some(length) => self.pending_consume = length,
                None => {
                    self.buffer.clear();
                    if let Err(source) = self.reader.read_until(b'\n', &mut self.buffer) {
                        self.finished = true;
                        return Err(HistoryError::Read {
                            line: line_number,
                            source,
                        });
                    }
                }
            }
            let blank = match in_place_length {
                Some(length) => match self.reader.fill_buf() {
                    Ok(available) => is_blank(&available[..length]),
                    Err(source) => {
                        self.finished = true;
                        return Err(HistoryError::Read {
                            line: line_number,
                            source,
                        });
                    }
                },
                None => is_blank(&self.buffer),
            };
            if blank {
                continue;
            }
            // From here every path returns, so the line may be borrowed for the returned view.
            let bytes: &[u8] = match in_place_length {
                Some(length) => match self.reader.fill_buf() {
                    Ok(available) => &available[..length],
                    Err(source) => {
                        self.finished = true;
                        return Err(HistoryError::Read {
                            line: line_number,
                            source,
                        });
                    }
                },
                None => &self.buffer,
            };
            let view = match parse_line_bytes(bytes, line_number) {
                Ok(Some(view)) => view,
                Ok(None) => unreachable!("blank lines are skipped above"),
                Err(error) => {
                    self.finished = true;
                    return Err(error);
                }
            };
            if let Some((previous_time_ns, previous_line)) = self.previous {
                if view.time_ns < previous_time_ns {
                    self.finished = true;
                    return Err(HistoryError::TimeWentBackwards {
                        line: line_number,
                        time_ns: view.time_ns,
                        previous_time_ns,
                        previous_line,
                    });
                }
            }
            self.previous = Some((view.time_ns, line_number));
            return Ok(Some((line_number, view)));
        }
    }
}

impl<R: BufRead> Iterator for HistoryReader<R> {
    type Item = Result<(u64, Event<'static>), HistoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

/// The operations (`f`) of the history format.
#[derive(Clone, Copy)]
enum Operation {
    Send,
    Poll,
    RequestOp,
    Commit,
    Assign,
    Reset,
    Start,
    Crash,
    Close,
    InitPid,
    LogStart,
    Partitions,
    Leader,
    Offline,
    DataLoss,
    Fatal,
    Fault,
    Join,
    Assignment,
    Revoke,
    Leave,
    OffsetsExpired,
}

impl Operation {
    /// Dispatches on the length first, then compares fixed-size arrays (integer compares).
    fn of(f: &[u8]) -> Option<Operation> {
        fn is<const N: usize>(f: &[u8], name: &[u8; N]) -> bool {
            <&[u8; N]>::try_from(f).is_ok_and(|f| f == name)
        }
        let operation = match f.len() {
            4 if is(f, b"send") => Operation::Send,
            4 if is(f, b"poll") => Operation::Poll,
            4 if is(f, b"join") => Operation::Join,
            5 if is(f, b"start") => Operation::Start,
            5 if is(f, b"crash") => Operation::Crash,
            5 if is(f, b"close") => Operation::Close,
            5 if is(f, b"reset") => Operation::Reset,
            5 if is(f, b"fault") => Operation::Fault,
            5 if is(f, b"fatal") => Operation::Fatal,
            5 if is(f, b"leave") => Operation::Leave,
            6 if is(f, b"commit") => Operation::Commit,
            6 if is(f, b"assign") => Operation::Assign,
            6 if is(f, b"leader") => Operation::Leader,
            6 if is(f, b"revoke") => Operation::Revoke,
            7 if is(f, b"offline") => Operation::Offline,
            9 if is(f, b"data_loss") => Operation::DataLoss,
            7 if is(f, b"request") => Operation::RequestOp,
            8 if is(f, b"init_pid") => Operation::InitPid,
            9 if is(f, b"log_start") => Operation::LogStart,
            10 if is(f, b"partitions") => Operation::Partitions,
            10 if is(f, b"assignment") => Operation::Assignment,
            15 if is(f, b"offsets_expired") => Operation::OffsetsExpired,
            _ => return None,
        };
        Some(operation)
    }
}

/// `records[3].offset`: a field of an array element, formatted only for an error message.
#[derive(Clone, Copy)]
struct FieldPath {
    array: &'static str,
    index: usize,
    name: &'static str,
}

impl Display for FieldPath {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}[{}].{}", self.array, self.index, self.name)
    }
}

/// Decodes the fields of one line. `line` is the line number, for errors.
struct Decoder<'f, 'a> {
    line: u64,
    fields: &'f EventFields<'a>,
}

/// Expected-type names used in errors.
const UNSIGNED: &str = "an integer >= 0";
const UNSIGNED_32: &str = "an integer from 0 to 4294967295";
const SIGNED_64: &str = "an integer";
const SIGNED_32: &str = "an integer from -2147483648 to 2147483647";
const STRING: &str = "a string";
const STRING_OR_NULL: &str = "a string or null";
const BOOLEAN: &str = "a boolean";
const ARRAY_OF_OBJECTS: &str = "an array of objects";

impl<'a> Decoder<'_, 'a> {
    #[inline]
    fn decode(self) -> Result<Event<'a>, Box<HistoryError>> {
        let every_event = || "every event".to_string();
        let time_ns = self.required_u64("time", self.fields.time, &every_event)?;
        let process = self.required_str("process", self.fields.process, &every_event)?;
        let type_name = self.required_str("type", self.fields.event_type, &every_event)?;
        let event_type = EventType::from_name(&type_name).ok_or_else(|| {
            Box::new(HistoryError::InvalidValue {
                line: self.line,
                field: "type".to_string(),
                message: format!("expected one of invoke, ok, fail, info; found {type_name:?}"),
            })
        })?;
        let f = self.required_str("f", self.fields.f, &every_event)?;
        let op = self.decode_op(f, event_type)?;
        Ok(Event {
            time_ns,
            process,
            op,
        })
    }

    #[inline]
    fn decode_op(
        &self,
        f: Cow<'a, str>,
        event_type: EventType,
    ) -> Result<Op<'a>, Box<HistoryError>> {
        use EventType::{Fail, Info, Invoke, Ok as Okay};
        let w = &self.fields;
        let operation = || format!("f={f} type={event_type}");
        let op = &operation;
        use Operation::*;
        let decoded = match (Operation::of(f.as_bytes()), event_type) {
            (Some(Send), Invoke) => Op::SendInvoke {
                topic: self.required_str("topic", w.topic, op)?,
                key: self.required_nullable_str("key", w.key, op)?,
                value: self.required_str("value", w.value, op)?,
            },
            (Some(Send), Okay) => Op::SendOk {
                value: self.required_str("value", w.value, op)?,
                topic: self.required_str("topic", w.topic, op)?,
                partition: self.required_u32("partition", w.partition, op)?,
                offset: self.required_u64("offset", w.offset, op)?,
                pid: self.optional_i64("pid", w.pid)?,
                epoch: self.optional_i32("epoch", w.epoch)?,
                sequence: self.optional_i32("sequence", w.sequence)?,
                acks: self.send_acks()?,
            },
            (Some(Send), Fail) => Op::SendFail {
                value: self.required_str("value", w.value, op)?,
                error: self.required_str("error", w.error, op)?,
            },
            (Some(Send), Info) => Op::SendInfo {
                value: self.required_str("value", w.value, op)?,
                error: self.required_str("error", w.error, op)?,
            },
            (Some(Poll), Okay) => Op::PollOk {
                records: Cow::Owned(self.records(op)?),
            },
            (Some(Poll), Fail) => Op::PollFail {
                topic: self.required_str("topic", w.topic, op)?,
                partition: self.required_u32("partition", w.partition, op)?,
                offset: self.required_u64("offset", w.offset, op)?,
                error: self.required_str("error", w.error, op)?,
                next_available: self.optional_u64("next_available", w.next_available)?,
            },
            (Some(RequestOp), Okay) | (Some(RequestOp), Fail) => {
                let error = self.required_nullable_str("error", w.error, op)?;
                match (event_type, &error) {
                    (Okay, Some(code)) => {
                        return Err(self.invalid(
                            "error",
                            format!("a request ok has error null, found {code:?}"),
                        ))
                    }
                    (Fail, None) => {
                        return Err(
                            self.invalid("error", "a request fail needs an error code, found null")
                        )
                    }
                    _ => {}
                }
                Op::Request(Request {
                    api: self.required_str("api", w.api, op)?,
                    topic: self.required_str("topic", w.topic, op)?,
                    partition: self.required_u32("partition", w.partition, op)?,
                    offset: self.required_u64("offset", w.offset, op)?,
                    broker: self.required_u32("broker", w.broker, op)?,
                    error,
                    progress: self.required_bool("progress", w.progress, op)?,
                    high_watermark: self.optional_u64("high_watermark", w.high_watermark)?,
                    log_start_offset: self.optional_u64("log_start_offset", w.log_start_offset)?,
                })
            }
            (Some(Commit), _) => {
                let group = self.optional_str("group", w.group)?;
                let generation = self.optional_u32("generation", w.generation)?;
                if generation.is_some() && group.is_none() {
                    return Err(self.invalid(
                        "generation",
                        "a commit with a generation is a group member's: it needs its `group`",
                    ));
                }
                Op::Commit {
                    phase: match event_type {
                        Invoke => CommitPhase::Invoke,
                        Okay => CommitPhase::Ok,
                        Fail => CommitPhase::Fail,
                        Info => CommitPhase::Info,
                    },
                    topic: self.required_str("topic", w.topic, op)?,
                    partition: self.required_u32("partition", w.partition, op)?,
                    offset: self.required_u64("offset", w.offset, op)?,
                    group,
                    generation,
                    // Only a commit that did not (certainly) happen has an error.
                    error: match event_type {
                        Fail | Info => self.optional_str("error", w.error)?,
                        Invoke | Okay => None,
                    },
                }
            }
            (Some(Join), Okay) => Op::Join {
                group: self.required_str("group", w.group, op)?,
                generation: self.required_u32("generation", w.generation, op)?,
                member: self.required_str("member", w.member, op)?,
                leader: self.required_bool("leader", w.leader, op)?,
                protocol: self.optional_str("protocol", w.protocol)?,
            },
            (Some(Assignment), Okay) => Op::Assignment {
                group: self.required_str("group", w.group, op)?,
                generation: self.required_u32("generation", w.generation, op)?,
                member: self.required_str("member", w.member, op)?,
                partitions: Cow::Owned(self.topic_partitions(op)?),
            },
            (Some(Revoke), Okay) => Op::Revoke {
                group: self.required_str("group", w.group, op)?,
                generation: self.required_u32("generation", w.generation, op)?,
                partitions: Cow::Owned(self.topic_partitions(op)?),
                lost: self.optional_bool("lost", w.lost)?.unwrap_or(false),
            },
            (Some(Leave), Okay) => Op::Leave {
                group: self.required_str("group", w.group, op)?,
                member: self.required_str("member", w.member, op)?,
            },
            (Some(OffsetsExpired), Okay) => Op::OffsetsExpired {
                group: self.required_str("group", w.group, op)?,
                partitions: Cow::Owned(self.topic_partitions(op)?),
                retention_ms: self.optional_u64("retention_ms", w.retention_ms)?,
            },
            (Some(Assign), Okay) => Op::Assign {
                partitions: Cow::Owned(self.assignments(op)?),
            },
            (Some(Reset), Okay) => Op::Reset {
                topic: self.required_str("topic", w.topic, op)?,
                partition: self.required_u32("partition", w.partition, op)?,
                from: self.required_u64("from", w.from, op)?,
                to: self.required_u64("to", w.to, op)?,
                reason: self.required_str("reason", w.reason, op)?,
            },
            (Some(Start), Okay) => Op::Start,
            (Some(Crash), Info) => Op::Crash,
            (Some(Close), Okay) => Op::Close,
            (Some(InitPid), Okay) => Op::InitPid {
                pid: self.required_i64("pid", w.pid, op)?,
                epoch: self.required_i32("epoch", w.epoch, op)?,
            },
            (Some(LogStart), Okay) => Op::LogStart {
                topic: self.required_str("topic", w.topic, op)?,
                partition: self.required_u32("partition", w.partition, op)?,
                offset: self.required_u64("offset", w.offset, op)?,
                broker: self.optional_u32("broker", w.broker)?,
            },
            (Some(Partitions), Okay) => Op::Partitions {
                topic: self.required_str("topic", w.topic, op)?,
                count: self.required_u32("count", w.count, op)?,
            },
            (Some(Leader), Okay) => Op::Leader {
                topic: self.required_str("topic", w.topic, op)?,
                partition: self.required_u32("partition", w.partition, op)?,
                broker: self.required_u32("broker", w.broker, op)?,
                epoch: self.required_i32("epoch", w.epoch, op)?,
            },
            (Some(Offline), Okay) => Op::Offline {
                topic: self.required_str("topic", w.topic, op)?,
                partition: self.required_u32("partition", w.partition, op)?,
                epoch: self.required_i32("epoch", w.epoch, op)?,
            },
            (Some(DataLoss), Okay) => Op::DataLoss {
                topic: self.required_str("topic", w.topic, op)?,
                partition: self.required_u32("partition", w.partition, op)?,
                log_start: self.required_u64("offset", w.offset, op)?,
            },
            (Some(Fatal), Okay) => Op::Fatal {
                topic: self.required_str("topic", w.topic, op)?,
                partition: self.required_u32("partition", w.partition, op)?,
                error: self.required_str("error", w.error, op)?,
            },
            (Some(Fault), Info) => Op::Fault {
                fault: self.required_str("fault", w.fault, op)?,
                target: self.optional_str("target", w.target)?,
            },
            _ => Op::Ignored { f, event_type },
        };
        Ok(decoded)
    }

    /// The elements of an array-of-objects field (`records` or `partitions`).
    #[inline]
    fn elements<'e>(
        &self,
        field: &'static str,
        array: Option<&'e ArrayField<'a>>,
        operation: &dyn Fn() -> String,
    ) -> Result<&'e [Element<'a>], Box<HistoryError>> {
        let array = array.ok_or_else(|| self.missing(field, &operation()))?;
        match &array.elements {
            Some(elements) => Ok(elements),
            None => Err(self.wrong_type(field, ARRAY_OF_OBJECTS, array.raw)),
        }
    }

    #[inline]
    fn element_fields<'e>(
        &self,
        field: &'static str,
        index: usize,
        element: &'e Element<'a>,
    ) -> Result<&'e ElementFields<'a>, Box<HistoryError>> {
        match element {
            Element::Fields(fields) => Ok(fields),
            Element::Other(raw) => {
                Err(self.wrong_type(format!("{field}[{index}]"), "an object", *raw))
            }
        }
    }

    /// Decodes each element of the array field `array` (`records` or `partitions`) with `decode`, which gets
    /// the element's fields, a way to name one of them (`records[3].offset`) and the error context.
    #[inline]
    fn each_element<T>(
        &self,
        array: &'static str,
        field: Option<&ArrayField<'a>>,
        operation: &dyn Fn() -> String,
        decode: impl Fn(
            &ElementFields<'a>,
            &dyn Fn(&'static str) -> FieldPath,
            &dyn Fn() -> String,
        ) -> Result<T, Box<HistoryError>>,
    ) -> Result<Vec<T>, Box<HistoryError>> {
        let elements = self.elements(array, field, operation)?;
        let mut decoded = Vec::with_capacity(elements.len());
        for (index, element) in elements.iter().enumerate() {
            let fields = self.element_fields(array, index, element)?;
            let path = |name: &'static str| FieldPath { array, index, name };
            let context = || format!("{array}[{index}] of {}", operation());
            decoded.push(decode(fields, &path, &context)?);
        }
        Ok(decoded)
    }

    #[inline]
    fn records(
        &self,
        operation: &dyn Fn() -> String,
    ) -> Result<Vec<Record<'a>>, Box<HistoryError>> {
        let field = self.fields.records.as_ref();
        self.each_element("records", field, operation, |fields, path, context| {
            Ok(Record {
                topic: self.required_str(path("topic"), fields.topic, context)?,
                partition: self.required_u32(path("partition"), fields.partition, context)?,
                offset: self.required_u64(path("offset"), fields.offset, context)?,
                value: self.required_str(path("value"), fields.value, context)?,
            })
        })
    }

    /// `partitions` of `assign`: `topic`, `partition` and `offset` of each.
    #[inline]
    fn assignments(
        &self,
        operation: &dyn Fn() -> String,
    ) -> Result<Vec<TopicPartitionOffset<'a>>, Box<HistoryError>> {
        let field = self.fields.partitions.as_ref();
        self.each_element("partitions", field, operation, |fields, path, context| {
            Ok(TopicPartitionOffset {
                topic: self.required_str(path("topic"), fields.topic, context)?,
                partition: self.required_u32(path("partition"), fields.partition, context)?,
                offset: self.required_u64(path("offset"), fields.offset, context)?,
            })
        })
    }

    /// `partitions` of `assignment`, `revoke` and `offsets_expired`: `topic` and `partition` of each.
    fn topic_partitions(
        &self,
        operation: &dyn Fn() -> String,
    ) -> Result<Vec<TopicPartition<'a>>, Box<HistoryError>> {
        let field = self.fields.partitions.as_ref();
        self.each_element("partitions", field, operation, |fields, path, context| {
            Ok(TopicPartition {
                topic: self.required_str(path("topic"), fields.topic, context)?,
                partition: self.required_u32(path("partition"), fields.partition, context)?,
            })
        })
    }

    #[inline(always)]
    fn present(
        &self,
        field: impl Display,
        raw: Option<Raw<'a>>,
        operation: &dyn Fn() -> String,
    ) -> Result<Raw<'a>, Box<HistoryError>> {
        raw.ok_or_else(|| self.missing(field, &operation()))
    }

    fn missing(&self, field: impl Display, operation: &str) -> Box<HistoryError> {
        Box::new(HistoryError::MissingField {
            line: self.line,
            field: field.to_string(),
            operation: operation.to_string(),
        })
    }

    fn wrong_type(
        &self,
        field: impl Display,
        expected: &'static str,
        raw: Raw<'_>,
    ) -> Box<HistoryError> {
        Box::new(HistoryError::WrongType {
            line: self.line,
            field: field.to_string(),
            expected,
            found: raw.describe(),
        })
    }

    /// `acks` of a `send` ok (absent or `"all"`: acks=all; `"1"`: acks=1, with its optional `leader_epoch`).
    fn send_acks(&self) -> Result<SendAcks, Box<HistoryError>> {
        let Some(acks) = self.optional_str("acks", self.fields.acks)? else {
            return Ok(SendAcks::All);
        };
        match acks.as_ref() {
            "all" | "-1" => Ok(SendAcks::All),
            "1" => Ok(SendAcks::Leader {
                leader_epoch: self.optional_u32("leader_epoch", self.fields.leader_epoch)?,
            }),
            "0" => Err(self.invalid(
                "acks",
                "a send with acks=0 is never acknowledged: record its outcome as a send info",
            )),
            other => Err(self.invalid(
                "acks",
                format!("expected \"all\" or \"1\"; found {other:?}"),
            )),
        }
    }

    fn invalid(&self, field: &str, message: impl Into<String>) -> Box<HistoryError> {
        Box::new(HistoryError::InvalidValue {
            line: self.line,
            field: field.to_string(),
            message: message.into(),
        })
    }

    #[inline(always)]
    fn string(
        &self,
        field: impl Display + Copy,
        raw: Raw<'a>,
        expected: &'static str,
    ) -> Result<Cow<'a, str>, Box<HistoryError>> {
        match raw {
            Raw::String {
                inner,
                escaped: false,
            } => Ok(Cow::Borrowed(inner)),
            Raw::String {
                inner,
                escaped: true,
            } => unescape(inner).map(Cow::Owned).map_err(|message| {
                Box::new(HistoryError::MalformedJson {
                    line: self.line,
                    message: format!("field `{field}`: {message}"),
                })
            }),
            other => Err(self.wrong_type(field, expected, other)),
        }
    }

    #[inline(always)]
    fn required_str(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
        operation: &dyn Fn() -> String,
    ) -> Result<Cow<'a, str>, Box<HistoryError>> {
        let raw = self.present(field, raw, operation)?;
        self.string(field, raw, STRING)
    }

    #[inline(always)]
    fn required_nullable_str(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
        operation: &dyn Fn() -> String,
    ) -> Result<Option<Cow<'a, str>>, Box<HistoryError>> {
        match self.present(field, raw, operation)? {
            Raw::Null => Ok(None),
            raw => self.string(field, raw, STRING_OR_NULL).map(Some),
        }
    }

    #[inline(always)]
    fn optional_str(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
    ) -> Result<Option<Cow<'a, str>>, Box<HistoryError>> {
        match raw {
            None | Some(Raw::Null) => Ok(None),
            Some(raw) => self.string(field, raw, STRING).map(Some),
        }
    }

    #[inline(always)]
    fn required_u64(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
        operation: &dyn Fn() -> String,
    ) -> Result<u64, Box<HistoryError>> {
        let raw = self.present(field, raw, operation)?;
        decode_u64(raw).ok_or_else(|| self.wrong_type(field, UNSIGNED, raw))
    }

    #[inline(always)]
    fn required_u32(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
        operation: &dyn Fn() -> String,
    ) -> Result<u32, Box<HistoryError>> {
        let raw = self.present(field, raw, operation)?;
        decode_u64(raw)
            .and_then(|value| u32::try_from(value).ok())
            .ok_or_else(|| self.wrong_type(field, UNSIGNED_32, raw))
    }

    #[inline]
    fn required_i64(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
        operation: &dyn Fn() -> String,
    ) -> Result<i64, Box<HistoryError>> {
        let raw = self.present(field, raw, operation)?;
        decode_i64(raw).ok_or_else(|| self.wrong_type(field, SIGNED_64, raw))
    }

    #[inline]
    fn required_i32(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
        operation: &dyn Fn() -> String,
    ) -> Result<i32, Box<HistoryError>> {
        let raw = self.present(field, raw, operation)?;
        decode_i64(raw)
            .and_then(|value| i32::try_from(value).ok())
            .ok_or_else(|| self.wrong_type(field, SIGNED_32, raw))
    }

    #[inline(always)]
    fn required_bool(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
        operation: &dyn Fn() -> String,
    ) -> Result<bool, Box<HistoryError>> {
        match self.present(field, raw, operation)? {
            Raw::Bool(value) => Ok(value),
            other => Err(self.wrong_type(field, BOOLEAN, other)),
        }
    }

    fn optional_bool(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
    ) -> Result<Option<bool>, Box<HistoryError>> {
        match raw {
            None | Some(Raw::Null) => Ok(None),
            Some(Raw::Bool(value)) => Ok(Some(value)),
            Some(other) => Err(self.wrong_type(field, BOOLEAN, other)),
        }
    }

    #[inline(always)]
    fn optional_u64(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
    ) -> Result<Option<u64>, Box<HistoryError>> {
        match raw {
            None | Some(Raw::Null) => Ok(None),
            Some(raw) => decode_u64(raw)
                .map(Some)
                .ok_or_else(|| self.wrong_type(field, UNSIGNED, raw)),
        }
    }

    #[inline(always)]
    fn optional_u32(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
    ) -> Result<Option<u32>, Box<HistoryError>> {
        match raw {
            None | Some(Raw::Null) => Ok(None),
            Some(raw) => decode_u64(raw)
                .and_then(|value| u32::try_from(value).ok())
                .map(Some)
                .ok_or_else(|| self.wrong_type(field, UNSIGNED_32, raw)),
        }
    }

    #[inline(always)]
    fn optional_i64(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
    ) -> Result<Option<i64>, Box<HistoryError>> {
        match raw {
            None | Some(Raw::Null) => Ok(None),
            Some(raw) => decode_i64(raw)
                .map(Some)
                .ok_or_else(|| self.wrong_type(field, SIGNED_64, raw)),
        }
    }

    #[inline(always)]
    fn optional_i32(
        &self,
        field: impl Display + Copy,
        raw: Option<Raw<'a>>,
    ) -> Result<Option<i32>, Box<HistoryError>> {
        match raw {
            None | Some(Raw::Null) => Ok(None),
            Some(raw) => decode_i64(raw)
                .and_then(|value| i32::try_from(value).ok())
                .map(Some)
                .ok_or_else(|| self.wrong_type(field, SIGNED_32, raw)),
        }
    }
}

/// The text of a JSON string literal's inside that has escapes. serde_json does the unescaping (surrogate pairs,
/// lone surrogates rejected).
fn unescape(inner: &str) -> Result<String, String> {
    let mut quoted = String::with_capacity(inner.len() + 2);
    quoted.push('"');
    quoted.push_str(inner);
    quoted.push('"');
    serde_json::from_str::<String>(&quoted).map_err(|error| {
        let message = error.to_string();
        match message.rfind(" at line ") {
            Some(position) => message[..position].to_string(),
            None => message,
        }
    })
}

/// A JSON integer >= 0 that fits in u64. `None` for anything else (negative, fraction, exponent, other types).
#[inline(always)]
fn decode_u64(raw: Raw<'_>) -> Option<u64> {
    match raw {
        Raw::Number(text) => decode_digits(text),
        _ => None,
    }
}

/// A JSON integer that fits in i64.
#[inline]
fn decode_i64(raw: Raw<'_>) -> Option<i64> {
    let Raw::Number(text) = raw else { return None };
    match text.strip_prefix('-') {
        Some(magnitude) => signed_from(true, decode_digits(magnitude)?),
        None => signed_from(false, decode_digits(text)?),
    }
}

/// The i64 with this sign and magnitude, when there is one (`-2^63` is; `2^63` is not).
#[inline(always)]
pub(crate) fn signed_from(negative: bool, magnitude: u64) -> Option<i64> {
    match (negative, magnitude) {
        (true, magnitude) if magnitude == 1 << 63 => Some(i64::MIN),
        (true, magnitude) => i64::try_from(magnitude).ok().map(|value| -value),
        (false, magnitude) => i64::try_from(magnitude).ok(),
    }
}

#[inline(always)]
fn decode_digits(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in text.as_bytes() {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_decode_exactly_and_reject_everything_else() {
        let number = Raw::Number;
        assert_eq!(decode_u64(number("0")), Some(0));
        assert_eq!(decode_u64(number("18446744073709551615")), Some(u64::MAX));
        assert_eq!(decode_u64(number("18446744073709551616")), None);
        assert_eq!(decode_u64(number("-1")), None);
        assert_eq!(decode_u64(number("1.5")), None);
        assert_eq!(decode_u64(number("1e3")), None);
        assert_eq!(
            decode_u64(Raw::String {
                inner: "1",
                escaped: false
            }),
            None
        );
        assert_eq!(decode_i64(number("-9223372036854775808")), Some(i64::MIN));
        assert_eq!(decode_i64(number("9223372036854775807")), Some(i64::MAX));
        assert_eq!(decode_i64(number("9223372036854775808")), None);
        assert_eq!(decode_i64(number("-0")), Some(0));
    }

    #[test]
    fn newlines_are_found_at_every_position() {
        for length in 0..40 {
            for newline in 0..=length {
                let mut bytes = vec![b'x'; length];
                if newline < length {
                    bytes[newline] = b'\n';
                }
                let expected = (newline < length).then_some(newline);
                assert_eq!(
                    find_newline(&bytes),
                    expected,
                    "length {length}, newline at {newline}"
                );
            }
        }
        // Bytes around '\n' (0x0a) must not be mistaken for it.
        assert_eq!(find_newline(&[0x0b, 0x09, 0x8a, 0x0a, 0x0a]), Some(3));
        assert_eq!(
            find_newline(&[0x01, 0x0b, 0x0a, 0xff, 0x0a, 0, 0, 0, 0x0a]),
            Some(2)
        );
    }

    #[test]
    fn strings_unescape() {
        assert_eq!(unescape("a\\\"b\\u00e9").as_deref(), Ok("a\"bé"));
        assert_eq!(unescape("\\ud83d\\ude00").as_deref(), Ok("😀"));
        assert!(unescape("\\ud83d").is_err());
    }
}
