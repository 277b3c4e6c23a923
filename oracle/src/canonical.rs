//! The fast path of reading a line: the lines streamsim writes (`line::write_event_line`) have one
//! form per operation: no whitespace, the keys in one order, no string escapes. For the operations that
//! make up nearly every line of a history (`send`, `poll` ok, `request`, `commit`), this reads that exact
//! form straight into an [`Event`], without the general scanner's table of fields.
//!
//! It only ever answers for a line in that form, and then with the event the general reader
//! (`json::scan_event`, then `reader::Decoder`) makes of it; for anything else (other spacing or key
//! order, an escape, a field it does not expect, a number out of range, bad JSON) it answers `None`
//! and the general reader reads the line, errors and all. The tests at the bottom hold it to that on
//! generated histories and on every single-byte change of their lines.

use std::borrow::Cow;

use crate::event::{CommitPhase, Event, EventType, Op, Record, Request, SendAcks, Text};
use crate::json::first_special;
use crate::reader::signed_from;

/// The event of `line` when it is in the form streamsim writes for one of the operations read here.
#[inline]
pub(crate) fn read(line: &str) -> Option<Event<'_>> {
    let mut cursor = Cursor {
        text: line,
        bytes: line.as_bytes(),
        at: 0,
    };
    let event = cursor.event()?;
    cursor.end()?;
    Some(event)
}

struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Steps over `literal` when the line goes on with it.
    #[inline(always)]
    fn literal<const N: usize>(&mut self, literal: &[u8; N]) -> Option<()> {
        let next: &[u8; N] = self.bytes.get(self.at..self.at + N)?.try_into().ok()?;
        if next != literal {
            return None;
        }
        self.at += N;
        Some(())
    }

    /// Whether the line goes on with `literal` (stepping over it if so).
    #[inline(always)]
    fn has<const N: usize>(&mut self, literal: &[u8; N]) -> bool {
        self.literal(literal).is_some()
    }

    /// The inside of a string whose opening quote is behind the cursor, up to its closing quote (stepped
    /// over): `None` when it has an escape or a control character (or does not end).
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        let start = self.at;
        let at = first_special(self.bytes, start);
        if self.bytes.get(at) != Some(&b'"') {
            return None;
        }
        self.at = at + 1;
        // `start` and `at` are next to ASCII quotes, so both are character boundaries.
        self.text.get(start..at)
    }

    /// A JSON integer >= 0 that fits in u64 (no sign, no leading zero, no fraction or exponent: what follows
    /// must be the next literal, which a `.` or an `e` is not).
    #[inline(always)]
    fn unsigned(&mut self) -> Option<u64> {
        let first = *self.bytes.get(self.at)?;
        if !first.is_ascii_digit() {
            return None;
        }
        self.at += 1;
        let mut value = u64::from(first - b'0');
        while let Some(&digit) = self.bytes.get(self.at) {
            if !digit.is_ascii_digit() {
                break;
            }
            if value == 0 {
                return None; // a leading zero: not JSON
            }
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
            self.at += 1;
        }
        Some(value)
    }

    #[inline(always)]
    fn unsigned_32(&mut self) -> Option<u32> {
        u32::try_from(self.unsigned()?).ok()
    }

    /// A JSON integer that fits in i64.
    #[inline(always)]
    fn signed(&mut self) -> Option<i64> {
        let negative = self.has(b"-");
        signed_from(negative, self.unsigned()?)
    }

    #[inline(always)]
    fn signed_32(&mut self) -> Option<i32> {
        i32::try_from(self.signed()?).ok()
    }

    /// `true` or `false`.
    #[inline(always)]
    fn boolean(&mut self) -> Option<bool> {
        if self.has(b"true") {
            Some(true)
        } else if self.has(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// The end of the line: nothing after the object but its newline.
    #[inline(always)]
    fn end(&self) -> Option<()> {
        matches!(&self.bytes[self.at..], b"" | b"\n" | b"\r\n").then_some(())
    }

    /// `key` (the key with its quotes, colon and, for a string, the opening quote; a leading comma
    /// when one is due), then the string value.
    #[inline(always)]
    fn text<const N: usize>(&mut self, key: &[u8; N]) -> Option<Text<'a>> {
        self.literal(key)?;
        self.borrowed_string()
    }

    /// [`Cursor::string`] as the event's text (borrowed from the line: it has no escape).
    #[inline(always)]
    fn borrowed_string(&mut self) -> Option<Text<'a>> {
        self.string().map(Cow::Borrowed)
    }

    /// `key`, then an integer >= 0 that fits in u64.
    #[inline(always)]
    fn number<const N: usize>(&mut self, key: &[u8; N]) -> Option<u64> {
        self.literal(key)?;
        self.unsigned()
    }

    /// `key`, then an integer >= 0 that fits in u32.
    #[inline(always)]
    fn number_32<const N: usize>(&mut self, key: &[u8; N]) -> Option<u32> {
        self.literal(key)?;
        self.unsigned_32()
    }

    /// An optional field: `Some(None)` when the line does not go on with `key`, `Some(Some(value))`
    /// when it does and `value` reads, `None` when it does and `value` does not.
    #[inline(always)]
    fn optional<T, const N: usize>(
        &mut self,
        key: &[u8; N],
        value: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        if !self.has(key) {
            return Some(None);
        }
        value(self).map(Some)
    }

    /// `topic":"T","partition":P,"offset":O` after the key's opening quote (what precedes it differs):
    /// the place `send` ok, a record, `request` and `commit` name.
    #[inline(always)]
    fn place(&mut self) -> Option<(Text<'a>, u32, u64)> {
        let topic = self.text(b"topic\":\"")?;
        let partition = self.number_32(b",\"partition\":")?;
        let offset = self.number(b",\"offset\":")?;
        Some((topic, partition, offset))
    }

    /// `{"time":T,"process":"P","type":"Y","f":"F"` and the operation's fields, in the order
    /// `write_event_line` writes them, then `}`.
    #[inline(always)]
    fn event(&mut self) -> Option<Event<'a>> {
        let time_ns = self.number(b"{\"time\":")?;
        let process = self.text(b",\"process\":\"")?;
        self.literal(b",\"type\":\"")?;
        let event_type = if self.has(b"invoke\"") {
            EventType::Invoke
        } else if self.has(b"ok\"") {
            EventType::Ok
        } else if self.has(b"fail\"") {
            EventType::Fail
        } else if self.has(b"info\"") {
            EventType::Info
        } else {
            return None;
        };
        self.literal(b",\"f\":\"")?;
        let op = if self.has(b"send\",") {
            self.send(event_type)?
        } else if event_type == EventType::Ok && self.has(b"poll\",") {
            self.poll_ok()?
        } else if self.has(b"request\",") {
            self.request(event_type)?
        } else if self.has(b"commit\",") {
            self.commit(event_type)?
        } else {
            return None;
        };
        self.literal(b"}")?;
        Some(Event {
            time_ns,
            process,
            op,
        })
    }

    #[inline(always)]
    fn send(&mut self, event_type: EventType) -> Option<Op<'a>> {
        Some(match event_type {
            EventType::Invoke => {
                let topic = self.text(b"\"topic\":\"")?;
                self.literal(b",\"key\":")?;
                let key = if self.has(b"null") {
                    None
                } else {
                    Some(self.text(b"\"")?)
                };
                let value = self.text(b",\"value\":\"")?;
                Op::SendInvoke { topic, key, value }
            }
            EventType::Ok => {
                let value = self.text(b"\"value\":\"")?;
                self.literal(b",\"")?;
                let (topic, partition, offset) = self.place()?;
                let pid = self.optional(b",\"pid\":", Self::signed)?;
                let epoch = self.optional(b",\"epoch\":", Self::signed_32)?;
                let sequence = self.optional(b",\"sequence\":", Self::signed_32)?;
                let acks = match self.optional(b",\"acks\":\"1\"", |cursor| {
                    cursor.optional(b",\"leader_epoch\":", Self::unsigned_32)
                })? {
                    Some(leader_epoch) => SendAcks::Leader { leader_epoch },
                    None => SendAcks::All,
                };
                Op::SendOk {
                    value,
                    topic,
                    partition,
                    offset,
                    pid,
                    epoch,
                    sequence,
                    acks,
                }
            }
            EventType::Fail | EventType::Info => {
                let value = self.text(b"\"value\":\"")?;
                let error = self.text(b",\"error\":\"")?;
                if event_type == EventType::Fail {
                    Op::SendFail { value, error }
                } else {
                    Op::SendInfo { value, error }
                }
            }
        })
    }

    fn poll_ok(&mut self) -> Option<Op<'a>> {
        self.literal(b"\"records\":[")?;
        let mut records = Vec::new();
        if !self.has(b"]") {
            loop {
                self.literal(b"{\"")?;
                let (topic, partition, offset) = self.place()?;
                let value = self.text(b",\"value\":\"")?;
                self.literal(b"}")?;
                records.push(Record {
                    topic,
                    partition,
                    offset,
                    value,
                });
                if self.has(b"]") {
                    break;
                }
                self.literal(b",")?;
            }
        }
        Some(Op::PollOk {
            records: Cow::Owned(records),
        })
    }

    #[inline(always)]
    fn request(&mut self, event_type: EventType) -> Option<Op<'a>> {
        let api = self.text(b"\"api\":\"")?;
        self.literal(b",\"")?;
        let (topic, partition, offset) = self.place()?;
        let broker = self.number_32(b",\"broker\":")?;
        // A request ok has error null; a request fail has an error code.
        let error = match event_type {
            EventType::Ok => {
                self.literal(b",\"error\":null")?;
                None
            }
            EventType::Fail => Some(self.text(b",\"error\":\"")?),
            EventType::Invoke | EventType::Info => return None,
        };
        self.literal(b",\"progress\":")?;
        let progress = self.boolean()?;
        let high_watermark = self.optional(b",\"high_watermark\":", Self::unsigned)?;
        let log_start_offset = self.optional(b",\"log_start_offset\":", Self::unsigned)?;
        Some(Op::Request(Request {
            api,
            topic,
            partition,
            offset,
            broker,
            error,
            progress,
            high_watermark,
            log_start_offset,
        }))
    }

    #[inline(always)]
    fn commit(&mut self, event_type: EventType) -> Option<Op<'a>> {
        self.literal(b"\"")?;
        let (topic, partition, offset) = self.place()?;
        let group = self.optional(b",\"group\":\"", Self::borrowed_string)?;
        // A generation needs its group (the general reader names that error).
        let generation = match group {
            Some(_) => self.optional(b",\"generation\":", Self::unsigned_32)?,
            None => None,
        };
        let phase = match event_type {
            EventType::Invoke => CommitPhase::Invoke,
            EventType::Ok => CommitPhase::Ok,
            EventType::Fail => CommitPhase::Fail,
            EventType::Info => CommitPhase::Info,
        };
        // Only a commit that did not (certainly) happen has an error; the general reader ignores one on
        // the others, which streamsim never writes.
        let error = match phase {
            CommitPhase::Fail | CommitPhase::Info => {
                self.optional(b",\"error\":\"", Self::borrowed_string)?
            }
            CommitPhase::Invoke | CommitPhase::Ok => None,
        };
        Some(Op::Commit {
            phase,
            topic,
            partition,
            offset,
            group,
            generation,
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{generate, to_jsonl, GenConfig};
    use crate::reader::parse_general;

    /// What the general reader makes of `line` whenever the fast path answers; whether it answered.
    fn agrees(line: &str) -> bool {
        let Some(fast) = read(line) else {
            return false;
        };
        match parse_general(line, 1) {
            Ok(Some(general)) => assert_eq!(fast, general, "{line:?}"),
            other => {
                panic!("the fast path read {line:?} as {fast:?}; the general reader: {other:?}")
            }
        }
        true
    }

    fn text(value: &'static str) -> Text<'static> {
        Cow::Borrowed(value)
    }

    fn event(op: Op<'static>) -> Event<'static> {
        Event {
            time_ns: 1_234_567,
            process: text("producer-0"),
            op,
        }
    }

    fn send_ok(
        pid: Option<i64>,
        epoch: Option<i32>,
        sequence: Option<i32>,
        acks: SendAcks,
    ) -> Op<'static> {
        Op::SendOk {
            value: text("producer-0-7"),
            topic: text("events"),
            partition: 2,
            offset: 41,
            pid,
            epoch,
            sequence,
            acks,
        }
    }

    fn request(error: Option<&'static str>, watermarks: Option<(u64, u64)>) -> Op<'static> {
        Op::Request(Request {
            api: text("fetch"),
            topic: text("events"),
            partition: 1,
            offset: 9,
            broker: 2,
            error: error.map(text),
            progress: error.is_none(),
            high_watermark: watermarks.map(|(high, _)| high),
            log_start_offset: watermarks.map(|(_, start)| start),
        })
    }

    fn commit(
        phase: CommitPhase,
        group: Option<(&'static str, Option<u32>)>,
        error: Option<&'static str>,
    ) -> Op<'static> {
        Op::Commit {
            phase,
            topic: text("events"),
            partition: 0,
            offset: 17,
            group: group.map(|(group, _)| text(group)),
            generation: group.and_then(|(_, generation)| generation),
            error: error.map(text),
        }
    }

    fn record(offset: u64, value: &'static str) -> Record<'static> {
        Record {
            topic: text("events"),
            partition: 3,
            offset,
            value: text(value),
        }
    }

    /// Every form the fast path reads: each operation with each of its optional fields present and absent,
    /// the extremes of every number, empty and non-ASCII strings.
    fn every_form() -> Vec<Event<'static>> {
        use CommitPhase::{Fail, Info, Invoke, Ok};
        let mut events = vec![
            event(Op::SendInvoke {
                topic: text("events"),
                key: None,
                value: text("producer-0-1"),
            }),
            event(Op::SendInvoke {
                topic: text("événements"),
                key: Some(text("")),
                value: text("v\u{7f}\u{1F600}"),
            }),
            event(send_ok(None, None, None, SendAcks::All)),
            event(send_ok(Some(1000), Some(0), Some(7), SendAcks::All)),
            event(send_ok(
                Some(i64::MIN),
                Some(i32::MIN),
                Some(i32::MAX),
                SendAcks::All,
            )),
            event(send_ok(
                Some(i64::MAX),
                None,
                Some(-1),
                SendAcks::Leader { leader_epoch: None },
            )),
            event(send_ok(
                None,
                None,
                None,
                SendAcks::Leader {
                    leader_epoch: Some(u32::MAX),
                },
            )),
            event(Op::SendFail {
                value: text("producer-0-2"),
                error: text("message_too_large"),
            }),
            event(Op::SendInfo {
                value: text("producer-0-3"),
                error: text("timeout"),
            }),
            event(Op::PollOk {
                records: Cow::Owned(Vec::new()),
            }),
            event(Op::PollOk {
                records: Cow::Owned(vec![record(0, "a")]),
            }),
            event(Op::PollOk {
                records: Cow::Owned(vec![
                    record(u64::MAX, ""),
                    record(10, "b"),
                    record(100, "ç"),
                ]),
            }),
            event(request(None, None)),
            event(request(None, Some((12, 3)))),
            event(request(Some("offset_out_of_range"), None)),
            event(request(Some("not_leader_or_follower"), Some((0, 0)))),
        ];
        for phase in [Invoke, Ok, Fail, Info] {
            for group in [None, Some(("g", None)), Some(("g", Some(4)))] {
                events.push(event(commit(phase, group, None)));
                if matches!(phase, Fail | Info) {
                    events.push(event(commit(phase, group, Some("rebalance_in_progress"))));
                }
            }
        }
        events.push(Event {
            time_ns: u64::MAX,
            ..event(Op::SendInvoke {
                topic: text("t"),
                key: Some(text("k")),
                value: text("v"),
            })
        });
        events.push(Event {
            time_ns: 0,
            ..event(request(None, Some((u64::MAX, u64::MAX))))
        });
        events
    }

    #[test]
    fn every_form_reads_back_as_the_event_written() {
        for event in every_form() {
            let line = event.to_json_line();
            assert_eq!(
                read(&line).map(Event::into_owned),
                Some(event.clone()),
                "{line}"
            );
            assert!(agrees(&line));
            for newline in ["\n", "\r\n"] {
                let with_newline = format!("{line}{newline}");
                assert_eq!(
                    read(&with_newline).map(Event::into_owned),
                    Some(event.clone())
                );
            }
        }
    }

    #[test]
    fn generated_histories_take_the_fast_path_and_read_as_the_general_reader_reads_them() {
        for seed in 1..=3 {
            let text = to_jsonl(&generate(&GenConfig::new(seed, 20_000)));
            let (mut lines, mut fast) = (0, 0);
            for line in text.lines() {
                lines += 1;
                fast += usize::from(agrees(line));
            }
            // Everything but the cluster's and the nemesis' events, and consumers' starts and assigns.
            assert!(
                fast * 100 >= lines * 95,
                "seed {seed}: {fast} of {lines} lines"
            );
        }
    }

    /// A single change to a line (a byte or a piece of JSON inserted, a character replaced or removed, at
    /// every position) that the fast path still reads is read the same by the general reader: the fast path
    /// never accepts what the general reader rejects, nor reads a line differently.
    #[test]
    fn changed_lines_are_read_as_the_general_reader_reads_them_or_left_to_it() {
        const PIECES: &[&str] = &[
            "",
            " ",
            "\n",
            "\r",
            "\t",
            "\"",
            "\\",
            "\\n",
            "\u{1}",
            "\u{7f}",
            "é",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "0",
            "1",
            "9",
            "-",
            "+",
            ".",
            "e",
            "E",
            "00",
            "-0",
            "1.5",
            "1e3",
            "null",
            "true",
            "false",
            "\"x\":1,",
            ",\"x\":1",
            ",\"pid\":1",
            ",\"error\":null",
            "a",
            "ok",
        ];
        let mut lines: Vec<String> = every_form().iter().map(Event::to_json_line).collect();
        lines.extend(
            to_jsonl(&generate(&GenConfig::new(7, 300)))
                .lines()
                .step_by(10)
                .map(str::to_string),
        );
        let (mut changed, mut fast) = (0u64, 0u64);
        for line in &lines {
            let boundaries: Vec<usize> = (0..=line.len())
                .filter(|&at| line.is_char_boundary(at))
                .collect();
            for (index, &at) in boundaries.iter().enumerate() {
                let next = boundaries.get(index + 1).copied().unwrap_or(at);
                for piece in PIECES {
                    for (from, to) in [(at, at), (at, next)] {
                        let mut mutated = line.clone();
                        mutated.replace_range(from..to, piece);
                        changed += 1;
                        fast += u64::from(agrees(&mutated));
                    }
                }
            }
        }
        // Some changes keep the form (a digit for a digit, a letter in a string): the fast path answered
        // for those, and agreed.
        assert!(fast > 0 && fast < changed, "{fast} of {changed}");
    }
}
