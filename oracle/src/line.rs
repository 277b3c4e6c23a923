//! An event's docs/history-format.md line, written directly: the bytes `serde_json` writes for
//! the event's `Serialize` impl (same keys in the same order, same string escapes, same number
//! spellings), without its per-field machinery. Every recorded event is written once (the trace
//! hash reads its line), so this runs for every event of every run; the test at the bottom holds
//! it to `serde_json`'s output.

use crate::event::{Event, Op, Request, SendAcks, TopicPartition};

/// `text` as a JSON string, escaped as serde_json escapes it: the short forms, else `\u00XX`
/// (lower-case hex); everything else (0x7f, non-ASCII) as it is.
fn write_escaped(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    loop {
        // serde_json escapes exactly the bytes a JSON string cannot hold as they are.
        let index = crate::json::first_special(bytes, start);
        out.extend_from_slice(&bytes[start..index]);
        let Some(&byte) = bytes.get(index) else {
            break;
        };
        start = index + 1;
        let short: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(byte >> 4) as usize]);
                out.push(HEX[(byte & 0xf) as usize]);
                continue;
            }
        };
        out.extend_from_slice(short);
    }
    out.push(b'"');
}

/// A JSON object being written: `{`, then `"key":value` pairs separated by `,`, then `}`.
struct Object<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Object<'o> {
    fn begin(out: &'o mut Vec<u8>) -> Object<'o> {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// `key` is one of the contract's field names: ASCII letters and `_`, nothing to escape.
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        self.out.reserve(key.len() + 4);
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn str(&mut self, key: &str, value: &str) {
        write_escaped(self.key(key), value);
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(value) => self.str(key, value),
            None => self.key(key).extend_from_slice(b"null"),
        }
    }

    fn int(&mut self, key: &str, value: impl itoa::Integer) {
        let mut buffer = itoa::Buffer::new();
        let digits = buffer.format(value);
        self.key(key).extend_from_slice(digits.as_bytes());
    }

    fn bool(&mut self, key: &str, value: bool) {
        let text: &[u8] = if value { b"true" } else { b"false" };
        self.key(key).extend_from_slice(text);
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

/// `[{"topic":T,"partition":p},...]`.
fn write_partitions(out: &mut Vec<u8>, partitions: &[TopicPartition<'_>]) {
    out.push(b'[');
    for (index, partition) in partitions.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        let mut item = Object::begin(out);
        item.str("topic", &partition.topic);
        item.int("partition", partition.partition);
        item.end();
    }
    out.push(b']');
}

/// Appends `event`'s line (JSON, no newline) to `out`: byte for byte what `serde_json` writes
/// for `Event`'s `Serialize` impl (event.rs), whose field order and omissions this follows.
pub(crate) fn write_event_line(event: &Event<'_>, out: &mut Vec<u8>) {
    let mut map = Object::begin(out);
    map.int("time", event.time_ns);
    map.str("process", &event.process);
    map.str("type", event.op.event_type().as_str());
    map.str("f", event.op.f());
    match &event.op {
        Op::SendInvoke { topic, key, value } => {
            map.str("topic", topic);
            map.opt_str("key", key.as_deref());
            map.str("value", value);
        }
        Op::SendOk {
            value,
            topic,
            partition,
            offset,
            pid,
            epoch,
            sequence,
            acks,
        } => {
            map.str("value", value);
            map.str("topic", topic);
            map.int("partition", *partition);
            map.int("offset", *offset);
            if let Some(pid) = pid {
                map.int("pid", *pid);
            }
            if let Some(epoch) = epoch {
                map.int("epoch", *epoch);
            }
            if let Some(sequence) = sequence {
                map.int("sequence", *sequence);
            }
            if let SendAcks::Leader { leader_epoch } = acks {
                map.str("acks", acks.as_str());
                if let Some(leader_epoch) = leader_epoch {
                    map.int("leader_epoch", *leader_epoch);
                }
            }
        }
        Op::SendFail { value, error } | Op::SendInfo { value, error } => {
            map.str("value", value);
            map.str("error", error);
        }
        Op::PollOk { records } => {
            let out = map.key("records");
            out.push(b'[');
            for (index, record) in records.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                let mut item = Object::begin(out);
                item.str("topic", &record.topic);
                item.int("partition", record.partition);
                item.int("offset", record.offset);
                item.str("value", &record.value);
                item.end();
            }
            out.push(b']');
        }
        Op::PollFail {
            topic,
            partition,
            offset,
            error,
            next_available,
        } => {
            map.str("topic", topic);
            map.int("partition", *partition);
            map.int("offset", *offset);
            map.str("error", error);
            if let Some(next_available) = next_available {
                map.int("next_available", *next_available);
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
            high_watermark,
            log_start_offset,
        }) => {
            map.str("api", api);
            map.str("topic", topic);
            map.int("partition", *partition);
            map.int("offset", *offset);
            map.int("broker", *broker);
            map.opt_str("error", error.as_deref());
            map.bool("progress", *progress);
            if let Some(high_watermark) = high_watermark {
                map.int("high_watermark", *high_watermark);
            }
            if let Some(log_start_offset) = log_start_offset {
                map.int("log_start_offset", *log_start_offset);
            }
        }
        Op::Commit {
            topic,
            partition,
            offset,
            group,
            generation,
            error,
            ..
        } => {
            map.str("topic", topic);
            map.int("partition", *partition);
            map.int("offset", *offset);
            if let Some(group) = group {
                map.str("group", group);
            }
            if let Some(generation) = generation {
                map.int("generation", *generation);
            }
            if let Some(error) = error {
                map.str("error", error);
            }
        }
        Op::Join {
            group,
            generation,
            member,
            leader,
            protocol,
        } => {
            map.str("group", group);
            map.int("generation", *generation);
            map.str("member", member);
            map.bool("leader", *leader);
            if let Some(protocol) = protocol {
                map.str("protocol", protocol);
            }
        }
        Op::Assignment {
            group,
            generation,
            member,
            partitions,
        } => {
            map.str("group", group);
            map.int("generation", *generation);
            map.str("member", member);
            write_partitions(map.key("partitions"), partitions);
        }
        Op::Revoke {
            group,
            generation,
            partitions,
            lost,
        } => {
            map.str("group", group);
            map.int("generation", *generation);
            write_partitions(map.key("partitions"), partitions);
            map.bool("lost", *lost);
        }
        Op::Leave { group, member } => {
            map.str("group", group);
            map.str("member", member);
        }
        Op::OffsetsExpired {
            group,
            partitions,
            retention_ms,
        } => {
            map.str("group", group);
            write_partitions(map.key("partitions"), partitions);
            if let Some(retention_ms) = retention_ms {
                map.int("retention_ms", *retention_ms);
            }
        }
        Op::Assign { partitions } => {
            let out = map.key("partitions");
            out.push(b'[');
            for (index, partition) in partitions.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                let mut item = Object::begin(out);
                item.str("topic", &partition.topic);
                item.int("partition", partition.partition);
                item.int("offset", partition.offset);
                item.end();
            }
            out.push(b']');
        }
        Op::Reset {
            topic,
            partition,
            from,
            to,
            reason,
        } => {
            map.str("topic", topic);
            map.int("partition", *partition);
            map.int("from", *from);
            map.int("to", *to);
            map.str("reason", reason);
        }
        Op::Start | Op::Crash | Op::Close | Op::Ignored { .. } => {}
        Op::InitPid { pid, epoch } => {
            map.int("pid", *pid);
            map.int("epoch", *epoch);
        }
        Op::LogStart {
            topic,
            partition,
            offset,
            broker,
        } => {
            map.str("topic", topic);
            map.int("partition", *partition);
            map.int("offset", *offset);
            if let Some(broker) = broker {
                map.int("broker", *broker);
            }
        }
        Op::Partitions { topic, count } => {
            map.str("topic", topic);
            map.int("count", *count);
        }
        Op::Leader {
            topic,
            partition,
            broker,
            epoch,
        } => {
            map.str("topic", topic);
            map.int("partition", *partition);
            map.int("broker", *broker);
            map.int("epoch", *epoch);
        }
        Op::Offline {
            topic,
            partition,
            epoch,
        } => {
            map.str("topic", topic);
            map.int("partition", *partition);
            map.int("epoch", *epoch);
        }
        Op::DataLoss {
            topic,
            partition,
            log_start,
        } => {
            map.str("topic", topic);
            map.int("partition", *partition);
            map.int("offset", *log_start);
        }
        Op::Fatal {
            topic,
            partition,
            error,
        } => {
            map.str("topic", topic);
            map.int("partition", *partition);
            map.str("error", error);
        }
        Op::Fault { fault, target } => {
            map.str("fault", fault);
            if let Some(target) = target {
                map.str("target", target);
            }
        }
    }
    map.end();
}

#[cfg(test)]
mod tests {
    use crate::event::{
        CommitPhase, Event, EventType, Op, Record, Request, SendAcks, TopicPartition,
        TopicPartitionOffset,
    };
    use proptest::prelude::*;
    use serde::ser::SerializeMap;
    use serde::{Serialize, Serializer};

    fn serde_line(event: &Event<'_>) -> Vec<u8> {
        serde_json::to_vec(&Reference(event)).expect("serializes")
    }

    /// The contract's line as serde writes it, field by field: the reference the writer is held to.
    struct Reference<'e, 'a>(&'e Event<'a>);

    impl Serialize for Reference<'_, '_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(None)?;
            map.serialize_entry("time", &self.0.time_ns)?;
            map.serialize_entry("process", &self.0.process)?;
            map.serialize_entry("type", self.0.op.event_type().as_str())?;
            map.serialize_entry("f", self.0.op.f())?;
            match &self.0.op {
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
                    acks,
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
                    // `acks=all` is the contract's default: written only when it is not that.
                    if let SendAcks::Leader { leader_epoch } = acks {
                        map.serialize_entry("acks", acks.as_str())?;
                        if let Some(leader_epoch) = leader_epoch {
                            map.serialize_entry("leader_epoch", leader_epoch)?;
                        }
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
                    high_watermark,
                    log_start_offset,
                }) => {
                    map.serialize_entry("api", api)?;
                    map.serialize_entry("topic", topic)?;
                    map.serialize_entry("partition", partition)?;
                    map.serialize_entry("offset", offset)?;
                    map.serialize_entry("broker", broker)?;
                    map.serialize_entry("error", error)?;
                    map.serialize_entry("progress", progress)?;
                    if let Some(high_watermark) = high_watermark {
                        map.serialize_entry("high_watermark", high_watermark)?;
                    }
                    if let Some(log_start_offset) = log_start_offset {
                        map.serialize_entry("log_start_offset", log_start_offset)?;
                    }
                }
                Op::Commit {
                    topic,
                    partition,
                    offset,
                    group,
                    generation,
                    error,
                    ..
                } => {
                    map.serialize_entry("topic", topic)?;
                    map.serialize_entry("partition", partition)?;
                    map.serialize_entry("offset", offset)?;
                    if let Some(group) = group {
                        map.serialize_entry("group", group)?;
                    }
                    if let Some(generation) = generation {
                        map.serialize_entry("generation", generation)?;
                    }
                    if let Some(error) = error {
                        map.serialize_entry("error", error)?;
                    }
                }
                Op::Join {
                    group,
                    generation,
                    member,
                    leader,
                    protocol,
                } => {
                    map.serialize_entry("group", group)?;
                    map.serialize_entry("generation", generation)?;
                    map.serialize_entry("member", member)?;
                    map.serialize_entry("leader", leader)?;
                    if let Some(protocol) = protocol {
                        map.serialize_entry("protocol", protocol)?;
                    }
                }
                Op::Assignment {
                    group,
                    generation,
                    member,
                    partitions,
                } => {
                    map.serialize_entry("group", group)?;
                    map.serialize_entry("generation", generation)?;
                    map.serialize_entry("member", member)?;
                    map.serialize_entry("partitions", partitions)?;
                }
                Op::Revoke {
                    group,
                    generation,
                    partitions,
                    lost,
                } => {
                    map.serialize_entry("group", group)?;
                    map.serialize_entry("generation", generation)?;
                    map.serialize_entry("partitions", partitions)?;
                    map.serialize_entry("lost", lost)?;
                }
                Op::Leave { group, member } => {
                    map.serialize_entry("group", group)?;
                    map.serialize_entry("member", member)?;
                }
                Op::OffsetsExpired {
                    group,
                    partitions,
                    retention_ms,
                } => {
                    map.serialize_entry("group", group)?;
                    map.serialize_entry("partitions", partitions)?;
                    if let Some(retention_ms) = retention_ms {
                        map.serialize_entry("retention_ms", retention_ms)?;
                    }
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
                Op::Offline {
                    topic,
                    partition,
                    epoch,
                } => {
                    map.serialize_entry("topic", topic)?;
                    map.serialize_entry("partition", partition)?;
                    map.serialize_entry("epoch", epoch)?;
                }
                Op::DataLoss {
                    topic,
                    partition,
                    log_start,
                } => {
                    map.serialize_entry("topic", topic)?;
                    map.serialize_entry("partition", partition)?;
                    map.serialize_entry("offset", log_start)?;
                }
                Op::Fatal {
                    topic,
                    partition,
                    error,
                } => {
                    map.serialize_entry("topic", topic)?;
                    map.serialize_entry("partition", partition)?;
                    map.serialize_entry("error", error)?;
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

    fn written_line(event: &Event<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        super::write_event_line(event, &mut out);
        out
    }

    /// Every operation, with each optional field both absent and present, the text `text`.
    fn every_op(text: &str, number: u64) -> Vec<Op<'static>> {
        let t = || std::borrow::Cow::Owned(text.to_string());
        let small = (number % 1_000) as u32;
        let signed = -(number as i64 % 7) - 1;
        let mut ops = vec![
            Op::SendInvoke {
                topic: t(),
                key: None,
                value: t(),
            },
            Op::SendInvoke {
                topic: t(),
                key: Some(t()),
                value: t(),
            },
            Op::SendFail {
                value: t(),
                error: t(),
            },
            Op::SendInfo {
                value: t(),
                error: t(),
            },
            Op::PollOk {
                records: Vec::new().into(),
            },
            Op::PollOk {
                records: vec![
                    Record::new(text.to_string(), small, number, text.to_string()),
                    Record::new("t", 0, 0, ""),
                ]
                .into(),
            },
            Op::Assign {
                partitions: Vec::new().into(),
            },
            Op::Assign {
                partitions: vec![
                    TopicPartitionOffset::new(text.to_string(), small, number),
                    TopicPartitionOffset::new("t", 1, 2),
                ]
                .into(),
            },
            Op::Reset {
                topic: t(),
                partition: small,
                from: number,
                to: u64::MAX,
                reason: t(),
            },
            Op::Start,
            Op::Crash,
            Op::Close,
            Op::Ignored {
                f: t(),
                event_type: EventType::Ok,
            },
            Op::InitPid {
                pid: signed,
                epoch: i32::MIN,
            },
            Op::InitPid {
                pid: i64::MAX,
                epoch: small as i32,
            },
            Op::Partitions {
                topic: t(),
                count: u32::MAX,
            },
            Op::Leader {
                topic: t(),
                partition: small,
                broker: 3,
                epoch: signed as i32,
            },
            Op::Offline {
                topic: t(),
                partition: small,
                epoch: 0,
            },
            Op::DataLoss {
                topic: t(),
                partition: small,
                log_start: number,
            },
            Op::Fatal {
                topic: t(),
                partition: small,
                error: t(),
            },
            Op::Fault {
                fault: t(),
                target: None,
            },
            Op::Fault {
                fault: t(),
                target: Some(t()),
            },
        ];
        for present in [false, true] {
            for acks in [
                SendAcks::All,
                SendAcks::Leader { leader_epoch: None },
                SendAcks::Leader {
                    leader_epoch: Some(small),
                },
            ] {
                ops.push(Op::SendOk {
                    value: t(),
                    topic: t(),
                    partition: small,
                    offset: number,
                    pid: opt(present, signed),
                    epoch: opt(present, i32::MAX),
                    sequence: opt(present, -1),
                    acks,
                });
            }
            ops.push(Op::PollFail {
                topic: t(),
                partition: small,
                offset: number,
                error: t(),
                next_available: opt(present, number / 2),
            });
            ops.push(Op::Request(Request {
                api: t(),
                topic: t(),
                partition: small,
                offset: number,
                broker: small,
                error: opt(present, t()),
                progress: present,
                high_watermark: opt(present, number),
                log_start_offset: opt(present, 0),
            }));
            ops.push(Op::LogStart {
                topic: t(),
                partition: small,
                offset: number,
                broker: opt(present, small),
            });
        }
        for phase in [
            CommitPhase::Invoke,
            CommitPhase::Ok,
            CommitPhase::Fail,
            CommitPhase::Info,
        ] {
            for present in [false, true] {
                ops.push(Op::Commit {
                    phase,
                    topic: t(),
                    partition: small,
                    offset: number,
                    group: opt(present, t()),
                    generation: opt(present, small),
                    error: opt(
                        present && matches!(phase, CommitPhase::Fail | CommitPhase::Info),
                        t(),
                    ),
                });
            }
        }
        let partitions = || -> std::borrow::Cow<'static, [TopicPartition<'static>]> {
            vec![
                TopicPartition::new(text.to_string(), small),
                TopicPartition::new("t", 1),
            ]
            .into()
        };
        for present in [false, true] {
            ops.push(Op::Join {
                group: t(),
                generation: small,
                member: t(),
                leader: present,
                protocol: opt(present, t()),
            });
            ops.push(Op::Assignment {
                group: t(),
                generation: u32::MAX,
                member: t(),
                partitions: if present {
                    partitions()
                } else {
                    Vec::new().into()
                },
            });
            ops.push(Op::Revoke {
                group: t(),
                generation: small,
                partitions: partitions(),
                lost: present,
            });
        }
        ops.push(Op::Leave {
            group: t(),
            member: t(),
        });
        for retention_ms in [None, Some(0), Some(u64::MAX)] {
            ops.push(Op::OffsetsExpired {
                group: t(),
                partitions: partitions(),
                retention_ms,
            });
        }
        ops
    }

    fn opt<T>(present: bool, value: T) -> Option<T> {
        present.then_some(value)
    }

    fn assert_same_lines(text: &str, number: u64) {
        for op in every_op(text, number) {
            let event = Event::new(number, text.to_string(), op);
            assert_eq!(
                String::from_utf8_lossy(&written_line(&event)),
                String::from_utf8_lossy(&serde_line(&event)),
                "{event:?}"
            );
        }
    }

    #[test]
    fn lines_are_serde_json_lines() {
        let mut every_byte = String::new();
        for byte in 0u8..0x80 {
            every_byte.push(byte as char);
        }
        for text in [
            "",
            "producer-0",
            "quote \" backslash \\ slash /",
            "\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}",
            "é ü — 日本 🦀",
            every_byte.as_str(),
        ] {
            for number in [0, 1, 9, 10, 12_345, u64::MAX] {
                assert_same_lines(text, number);
            }
        }
    }

    #[test]
    fn generated_histories_write_serde_json_lines() {
        for seed in 1..=3 {
            for event in crate::gen::generate(&crate::gen::GenConfig::new(seed, 2_000)) {
                assert_eq!(written_line(&event), serde_line(&event), "{event:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn any_text_and_number_write_serde_json_lines(text in any::<String>(), number in any::<u64>()) {
            assert_same_lines(&text, number);
        }
    }
}
