//! The history format: what an `Event` serializes to (the docs/history-format.md shape), reading it back, leniency where the
//! contract allows it, and every kind of bad input with its line.

mod common;

use std::io::{BufRead, BufReader, Read};

use oracle::event::{
    CommitPhase, Event, EventType, FaultKind, Op, Record, Request, Text, TopicPartition,
    TopicPartitionOffset,
};
use oracle::{parse_line, HistoryError, HistoryReader};
use proptest::prelude::*;

/// One event of every `(f, type)` the contract lists, optional fields both present and absent.
fn every_event() -> Vec<Event<'static>> {
    let text = |value: &str| -> Text<'static> { value.to_string().into() };
    vec![
        Event::send_invoke(1, "producer-0", "orders", None, "producer-0-0"),
        Event::send_invoke(
            2,
            "producer-0",
            "orders",
            Some("k7".to_string()),
            "producer-0-1",
        ),
        Event::send_ok(3, "producer-0", "producer-0-0", "orders", 2, 40),
        Event::new(
            4,
            "producer-0",
            Op::SendOk {
                value: text("producer-0-1"),
                topic: text("orders"),
                partition: 1,
                offset: 7,
                pid: Some(1000),
                epoch: Some(2),
                sequence: Some(31),
                acks: oracle::SendAcks::All,
            },
        ),
        Event::send_fail(5, "producer-1", "producer-1-0", "invalid_producer_epoch"),
        Event::send_info(6, "producer-1", "producer-1-1", "request_timed_out"),
        Event::poll_ok(
            7,
            "consumer-0",
            vec![
                Record::new("orders", 2, 40, "producer-0-0"),
                Record::new("orders", 1, 7, "producer-0-1"),
            ],
        ),
        Event::poll_ok(8, "consumer-0", vec![]),
        Event::new(
            9,
            "consumer-0",
            Op::PollFail {
                topic: text("orders"),
                partition: 2,
                offset: 3,
                error: text("offset_evicted"),
                next_available: Some(40),
            },
        ),
        Event::new(
            10,
            "consumer-0",
            Op::PollFail {
                topic: text("orders"),
                partition: 2,
                offset: 3,
                error: text("network_error"),
                next_available: None,
            },
        ),
        Event::new(
            11,
            "consumer-0",
            Op::Request(Request {
                api: text("fetch"),
                topic: text("orders"),
                partition: 2,
                offset: 41,
                broker: 1,
                error: None,
                progress: true,
                high_watermark: Some(44),
                log_start_offset: Some(3),
            }),
        ),
        Event::new(
            12,
            "consumer-0",
            Op::Request(Request {
                api: text("list_offsets"),
                topic: text("orders"),
                partition: 2,
                offset: 41,
                broker: 2,
                error: Some(text("not_leader_or_follower")),
                progress: false,
                high_watermark: None,
                log_start_offset: None,
            }),
        ),
        Event::new(
            13,
            "consumer-0",
            Op::Commit {
                phase: CommitPhase::Invoke,
                topic: text("orders"),
                partition: 2,
                offset: 41,
                group: None,
                generation: None,
                error: None,
            },
        ),
        Event::commit_ok(14, "consumer-0", "orders", 2, 41),
        Event::new(
            15,
            "consumer-0",
            Op::Commit {
                phase: CommitPhase::Fail,
                topic: text("orders"),
                partition: 2,
                offset: 41,
                group: None,
                generation: None,
                error: None,
            },
        ),
        Event::new(
            16,
            "consumer-0",
            Op::Commit {
                phase: CommitPhase::Info,
                topic: text("orders"),
                partition: 2,
                offset: 41,
                group: None,
                generation: None,
                error: None,
            },
        ),
        Event::new(
            17,
            "consumer-0",
            Op::Assign {
                partitions: vec![
                    TopicPartitionOffset::new("orders", 0, 0),
                    TopicPartitionOffset::new("orders", 2, 41),
                ]
                .into(),
            },
        ),
        Event::new(
            18,
            "consumer-0",
            Op::Reset {
                topic: text("orders"),
                partition: 2,
                from: 3,
                to: 40,
                reason: text("offset_evicted"),
            },
        ),
        Event::start(19, "consumer-1"),
        Event::crash(20, "consumer-1"),
        Event::close(21, "consumer-0"),
        Event::new(
            22,
            "producer-0",
            Op::InitPid {
                pid: 1000,
                epoch: 3,
            },
        ),
        Event::log_start(23, "orders", 2, 40),
        Event::new(
            24,
            "cluster",
            Op::LogStart {
                topic: text("orders"),
                partition: 2,
                offset: 12,
                broker: Some(3),
            },
        ),
        Event::partitions(25, "orders", 4),
        Event::new(
            26,
            "cluster",
            Op::Leader {
                topic: text("orders"),
                partition: 3,
                broker: 0,
                epoch: 5,
            },
        ),
        Event::new(
            26,
            "producer-0",
            Op::Fatal {
                topic: text("orders"),
                partition: 1,
                error: text("unknown_producer_id"),
            },
        ),
        Event::fault(27, FaultKind::Partition, Some("broker-1".to_string())),
        Event::heal(28),
        Event::new(
            29,
            "consumer-0",
            Op::Join {
                group: text("g"),
                generation: 3,
                member: text("consumer-0-1-1"),
                leader: true,
                protocol: Some(text("range")),
            },
        ),
        Event::new(
            29,
            "consumer-1",
            Op::Join {
                group: text("g"),
                generation: 3,
                member: text("consumer-1-1-2"),
                leader: false,
                protocol: None,
            },
        ),
        Event::new(
            29,
            "consumer-0",
            Op::Assignment {
                group: text("g"),
                generation: 3,
                member: text("consumer-0-1-1"),
                partitions: vec![
                    TopicPartition::new("orders", 0),
                    TopicPartition::new("orders", 2),
                ]
                .into(),
            },
        ),
        Event::new(
            29,
            "consumer-1",
            Op::Assignment {
                group: text("g"),
                generation: 3,
                member: text("consumer-1-1-2"),
                partitions: vec![].into(),
            },
        ),
        Event::new(
            29,
            "consumer-0",
            Op::Commit {
                phase: CommitPhase::Invoke,
                topic: text("orders"),
                partition: 2,
                offset: 44,
                group: Some(text("g")),
                generation: Some(3),
                error: None,
            },
        ),
        Event::new(
            29,
            "consumer-0",
            Op::Commit {
                phase: CommitPhase::Ok,
                topic: text("orders"),
                partition: 2,
                offset: 44,
                group: Some(text("g")),
                generation: Some(3),
                error: None,
            },
        ),
        Event::new(
            29,
            "consumer-0",
            Op::Commit {
                phase: CommitPhase::Fail,
                topic: text("orders"),
                partition: 2,
                offset: 44,
                group: Some(text("g")),
                generation: Some(3),
                error: Some(text("illegal_generation")),
            },
        ),
        Event::new(
            29,
            "consumer-0",
            Op::Commit {
                phase: CommitPhase::Info,
                topic: text("orders"),
                partition: 2,
                offset: 44,
                group: Some(text("g")),
                generation: None,
                error: Some(text("request_timed_out")),
            },
        ),
        Event::new(
            29,
            "consumer-0",
            Op::Revoke {
                group: text("g"),
                generation: 3,
                partitions: vec![TopicPartition::new("orders", 2)].into(),
                lost: false,
            },
        ),
        Event::new(
            29,
            "consumer-0",
            Op::Revoke {
                group: text("g"),
                generation: 3,
                partitions: vec![TopicPartition::new("orders", 0)].into(),
                lost: true,
            },
        ),
        Event::new(
            29,
            "consumer-0",
            Op::Leave {
                group: text("g"),
                member: text("consumer-0-1-1"),
            },
        ),
        Event::new(
            29,
            "cluster",
            Op::OffsetsExpired {
                group: text("g"),
                partitions: vec![TopicPartition::new("orders", 0)].into(),
                retention_ms: None,
            },
        ),
        Event::new(
            29,
            "someone",
            Op::Ignored {
                f: text("transmogrify"),
                event_type: EventType::Info,
            },
        ),
    ]
}

#[test]
fn events_serialize_to_the_history_format() {
    let text: Vec<String> = every_event().iter().map(Event::to_json_line).collect();
    insta::assert_snapshot!("every_event", text.join("\n"));
}

#[test]
fn the_json_of_an_event_is_exactly_one_history_line() {
    assert_eq!(
        Event::send_invoke(1, "producer-0", "orders", None, "producer-0-0").to_json_line(),
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"orders","key":null,"value":"producer-0-0"}"#
    );
    assert_eq!(
        Event::poll_ok(7, "consumer-0", vec![Record::new("orders", 2, 40, "v")]).to_json_line(),
        r#"{"time":7,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"orders","partition":2,"offset":40,"value":"v"}]}"#
    );
    // serde::Serialize writes the same object (what a client that embeds events in its own writer gets).
    let event = Event::heal(3);
    assert_eq!(
        serde_json::to_value(&event).unwrap(),
        serde_json::json!({"time": 3, "process": "nemesis", "type": "info", "f": "fault", "fault": "heal"})
    );
}

#[test]
fn every_event_reads_back_to_itself() {
    for (index, event) in every_event().into_iter().enumerate() {
        let line = event.to_json_line();
        let parsed =
            parse_line(&line, index as u64 + 1).unwrap_or_else(|error| panic!("{line}: {error}"));
        assert_eq!(parsed, Some(event), "{line}");
    }
}

#[test]
fn the_streaming_reader_numbers_lines_and_skips_blank_ones() {
    let events = every_event();
    let mut text = String::new();
    for event in &events {
        text.push_str(&event.to_json_line());
        text.push_str("\n \t\r\n");
    }
    text.push('\n');
    // A tiny buffer makes most lines straddle it, which takes the copying path.
    for capacity in [8, 64, 100_000] {
        let reader = HistoryReader::new(BufReader::with_capacity(capacity, text.as_bytes()));
        let read: Vec<(u64, Event)> = reader.map(Result::unwrap).collect();
        let expected: Vec<(u64, Event)> = events
            .iter()
            .cloned()
            .enumerate()
            .map(|(index, event)| (2 * index as u64 + 1, event))
            .collect();
        assert_eq!(read, expected, "buffer of {capacity} bytes");
    }
}

#[test]
fn lenient_where_the_contract_allows() {
    let history = common::lines(&[
        // Unknown fields, of any type, are ignored; so are fields the operation does not use.
        r#"{"time":1,"process":"p","type":"invoke","f":"send","topic":"t","key":null,"value":"a","note":{"x":[1,2,{"y":null}]},"partition":"whatever"}"#,
        // Optional fields given as null count as absent; field order does not matter; whitespace is allowed.
        r#" { "f" : "send" , "type" : "ok" , "process" : "p" , "time" : 2 , "value":"a","topic":"t","partition":0,"offset":0,"pid":null } "#,
        // Escapes in strings.
        r#"{"time":3,"process":"c\u002d0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"\u0061"}]}"#,
        // An unknown f, and a known f with a type its row does not list: ignored and counted.
        r#"{"time":4,"process":"c-0","type":"invoke","f":"frobnicate","anything":true}"#,
        r#"{"time":4,"process":"c-0","type":"invoke","f":"poll"}"#,
        // Equal times are fine. CRLF line endings too.
        "{\"time\":4,\"process\":\"cluster\",\"type\":\"ok\",\"f\":\"log_start\",\"topic\":\"t\",\"partition\":0,\"offset\":0,\"broker\":null}\r",
    ]);
    let result = common::check(&history);
    common::assert_valid(&result);
    assert_eq!(result.stats.events, 6);
    assert_eq!(result.stats.ignored_events, 2);
    assert_eq!(result.stats.sends_ok, 1);
    assert_eq!(result.stats.records_read, 1);
    let events: Vec<Event<'static>> = HistoryReader::new(history.as_bytes())
        .map(|item| item.unwrap().1)
        .collect();
    assert_eq!(events[2].process, "c-0");
    assert_eq!(
        events[4].op,
        Op::Ignored {
            f: "poll".into(),
            event_type: EventType::Invoke
        }
    );
    assert_eq!(
        events[5].op,
        Op::LogStart {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            broker: None
        }
    );
    // The last line needs no newline.
    let without_newline = history.trim_end_matches('\n');
    assert_eq!(common::check(without_newline), result);
}

// ---------------------------------------------------------------------------------------------------------------
// Bad input: every error names its line.

/// Reads `history`; the first error.
fn first_error(history: &[u8]) -> HistoryError {
    match oracle::check_reader(history) {
        Ok(result) => panic!("expected bad input, got {}", result.render_text()),
        Err(error) => error,
    }
}

const GOOD: &str = r#"{"time":1,"process":"p","type":"ok","f":"start"}"#;

fn third_line_is(line: &str) -> Vec<u8> {
    format!("{GOOD}\n\n{line}\n{GOOD}\n").into_bytes()
}

#[test]
fn malformed_json_names_the_line() {
    for bad in [
        r#"{"time":1,"process":"p","type":"ok","f":"start""#,
        r#"{"time":1,"process":"p","type":"ok","f":"start"} {}"#,
        r#"{"time":01,"process":"p","type":"ok","f":"start"}"#,
        r#"{"time":1,"process":"p\x","type":"ok","f":"start"}"#,
        r#"{"time":1,"time":2,"process":"p","type":"ok","f":"start"}"#,
        r#"{"time":1,"process":"p","type":"ok","f":"poll","records":[{"topic":"t","topic":"u","partition":0,"offset":0,"value":"v"}]}"#,
        "{\"time\":1,\"process\":\"a\tb\",\"type\":\"ok\",\"f\":\"start\"}",
        "nonsense",
    ] {
        match first_error(&third_line_is(bad)) {
            HistoryError::MalformedJson { line: 3, message } => {
                assert!(message.contains("column"), "{message}")
            }
            other => panic!("{bad}: expected malformed JSON on line 3, got {other:?}"),
        }
    }
}

#[test]
fn a_line_that_is_not_an_object_names_what_it_is() {
    match first_error(&third_line_is("[1,2]")) {
        HistoryError::NotAnObject { line: 3, found } => assert_eq!(found, "array [1,2]"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_required_field_is_named() {
    let cases = [
        (r#"{"process":"p","type":"ok","f":"start"}"#, "time"),
        (r#"{"time":1,"type":"ok","f":"start"}"#, "process"),
        (r#"{"time":1,"process":"p","f":"start"}"#, "type"),
        (r#"{"time":1,"process":"p","type":"ok"}"#, "f"),
        (
            r#"{"time":1,"process":"p","type":"ok","f":"send","value":"a","topic":"t","partition":0}"#,
            "offset",
        ),
        (
            r#"{"time":1,"process":"p","type":"invoke","f":"send","topic":"t","value":"a"}"#,
            "key",
        ),
        (
            r#"{"time":1,"process":"p","type":"ok","f":"request","api":"fetch","topic":"t","partition":0,"offset":0,"broker":1,"progress":true}"#,
            "error",
        ),
        (
            r#"{"time":1,"process":"p","type":"ok","f":"poll"}"#,
            "records",
        ),
        (
            r#"{"time":1,"process":"p","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"value":"v"}]}"#,
            "records[0].offset",
        ),
        (
            r#"{"time":1,"process":"p","type":"ok","f":"assign","partitions":[{"topic":"t","offset":0}]}"#,
            "partitions[0].partition",
        ),
        (
            r#"{"time":1,"process":"cluster","type":"ok","f":"log_start","topic":"t","offset":0}"#,
            "partition",
        ),
        (
            r#"{"time":1,"process":"nemesis","type":"info","f":"fault"}"#,
            "fault",
        ),
        (
            r#"{"time":1,"process":"producer-0","type":"ok","f":"fatal","topic":"t","partition":0}"#,
            "error",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"join","generation":1,"member":"m","leader":true}"#,
            "group",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"join","group":"g","member":"m","leader":true}"#,
            "generation",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"join","group":"g","generation":1,"leader":true}"#,
            "member",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"join","group":"g","generation":1,"member":"m"}"#,
            "leader",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"assignment","group":"g","generation":1,"member":"m"}"#,
            "partitions",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"assignment","group":"g","generation":1,"member":"m","partitions":[{"partition":0}]}"#,
            "partitions[0].topic",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"revoke","group":"g","partitions":[]}"#,
            "generation",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"revoke","group":"g","generation":1,"partitions":[{"topic":"t"}]}"#,
            "partitions[0].partition",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"leave","group":"g"}"#,
            "member",
        ),
        (
            r#"{"time":1,"process":"cluster","type":"ok","f":"offsets_expired","partitions":[]}"#,
            "group",
        ),
    ];
    for (bad, missing) in cases {
        match first_error(&third_line_is(bad)) {
            HistoryError::MissingField { line: 3, field, .. } => {
                assert_eq!(field, missing, "{bad}")
            }
            other => panic!("{bad}: expected a missing {missing} on line 3, got {other:?}"),
        }
    }
}

#[test]
fn a_wrong_type_is_named_with_what_was_expected_and_found() {
    let cases = [
        (
            r#"{"time":"1","process":"p","type":"ok","f":"start"}"#,
            "time",
            "string \"1\"",
        ),
        (
            r#"{"time":-1,"process":"p","type":"ok","f":"start"}"#,
            "time",
            "number -1",
        ),
        (
            r#"{"time":1.5,"process":"p","type":"ok","f":"start"}"#,
            "time",
            "number 1.5",
        ),
        (
            r#"{"time":1,"process":7,"type":"ok","f":"start"}"#,
            "process",
            "number 7",
        ),
        (
            r#"{"time":1,"process":"p","type":"ok","f":"send","value":"a","topic":"t","partition":4294967296,"offset":0}"#,
            "partition",
            "number 4294967296",
        ),
        (
            r#"{"time":1,"process":"p","type":"invoke","f":"send","topic":"t","key":5,"value":"a"}"#,
            "key",
            "number 5",
        ),
        (
            r#"{"time":1,"process":"p","type":"ok","f":"poll","records":{"topic":"t"}}"#,
            "records",
            "object {\"topic\":\"t\"}",
        ),
        (
            r#"{"time":1,"process":"p","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"v"},3]}"#,
            "records[1]",
            "number 3",
        ),
        (
            r#"{"time":1,"process":"p","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":"0","value":"v"}]}"#,
            "records[0].offset",
            "string \"0\"",
        ),
        (
            r#"{"time":1,"process":"p","type":"fail","f":"request","api":"fetch","topic":"t","partition":0,"offset":0,"broker":1,"error":"x","progress":"no"}"#,
            "progress",
            "string \"no\"",
        ),
        (
            r#"{"time":1,"process":"p","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0,"epoch":2147483648}"#,
            "epoch",
            "number 2147483648",
        ),
        (
            r#"{"time":1,"process":"p","type":"fail","f":"poll","topic":"t","partition":0,"offset":0,"error":"offset_evicted","next_available":"5"}"#,
            "next_available",
            "string \"5\"",
        ),
        (
            r#"{"time":1,"process":"p","type":"ok","f":"request","api":"fetch","topic":"t","partition":0,"offset":0,"broker":1,"error":null,"progress":true,"high_watermark":"5"}"#,
            "high_watermark",
            "string \"5\"",
        ),
        // Kafka's -1 ("unknown", on an error answer) is not a value: leave the field out.
        (
            r#"{"time":1,"process":"p","type":"fail","f":"request","api":"fetch","topic":"t","partition":0,"offset":0,"broker":1,"error":"x","progress":false,"log_start_offset":-1}"#,
            "log_start_offset",
            "number -1",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"commit","topic":"t","partition":0,"offset":1,"group":7}"#,
            "group",
            "number 7",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"commit","topic":"t","partition":0,"offset":1,"group":"g","generation":-1}"#,
            "generation",
            "number -1",
        ),
        (
            r#"{"time":1,"process":"c","type":"fail","f":"commit","topic":"t","partition":0,"offset":1,"group":"g","generation":1,"error":5}"#,
            "error",
            "number 5",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"join","group":"g","generation":1,"member":"m","leader":"yes"}"#,
            "leader",
            "string \"yes\"",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"join","group":"g","generation":4294967296,"member":"m","leader":true}"#,
            "generation",
            "number 4294967296",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"join","group":"g","generation":1,"member":"m","leader":false,"protocol":1}"#,
            "protocol",
            "number 1",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"assignment","group":"g","generation":1,"member":"m","partitions":[{"topic":"t","partition":"0"}]}"#,
            "partitions[0].partition",
            "string \"0\"",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"assignment","group":"g","generation":1,"member":"m","partitions":"t-0"}"#,
            "partitions",
            "string \"t-0\"",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"revoke","group":"g","generation":1,"partitions":[],"lost":"no"}"#,
            "lost",
            "string \"no\"",
        ),
        (
            r#"{"time":1,"process":"c","type":"ok","f":"leave","group":["g"],"member":"m"}"#,
            "group",
            "array [\"g\"]",
        ),
    ];
    for (bad, wrong, found_text) in cases {
        match first_error(&third_line_is(bad)) {
            HistoryError::WrongType {
                line: 3,
                field,
                found,
                ..
            } => {
                assert_eq!(field, wrong, "{bad}");
                assert_eq!(found, found_text, "{bad}");
            }
            other => panic!("{bad}: expected a wrong type of {wrong} on line 3, got {other:?}"),
        }
    }
}

#[test]
fn an_invalid_value_is_named() {
    let cases = [
        (
            r#"{"time":1,"process":"p","type":"done","f":"start"}"#,
            "type",
        ),
        (
            r#"{"time":1,"process":"p","type":"ok","f":"request","api":"fetch","topic":"t","partition":0,"offset":0,"broker":1,"error":"io_error","progress":true}"#,
            "error",
        ),
        (
            r#"{"time":1,"process":"p","type":"fail","f":"request","api":"fetch","topic":"t","partition":0,"offset":0,"broker":1,"error":null,"progress":true}"#,
            "error",
        ),
        // A generation belongs to a group.
        (
            r#"{"time":1,"process":"c","type":"ok","f":"commit","topic":"t","partition":0,"offset":1,"generation":2}"#,
            "generation",
        ),
    ];
    for (bad, invalid) in cases {
        match first_error(&third_line_is(bad)) {
            HistoryError::InvalidValue { line: 3, field, .. } => {
                assert_eq!(field, invalid, "{bad}")
            }
            other => panic!("{bad}: expected an invalid {invalid} on line 3, got {other:?}"),
        }
    }
}

#[test]
fn time_going_backwards_names_both_lines() {
    let history = common::lines(&[
        r#"{"time":5,"process":"p","type":"ok","f":"start"}"#,
        "",
        r#"{"time":9,"process":"p","type":"ok","f":"start"}"#,
        r#"{"time":8,"process":"p","type":"ok","f":"start"}"#,
    ]);
    match first_error(history.as_bytes()) {
        HistoryError::TimeWentBackwards {
            line: 4,
            time_ns: 8,
            previous_time_ns: 9,
            previous_line: 3,
        } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_utf8_names_the_line_and_column() {
    let mut history = format!("{GOOD}\n{GOOD}\n\n").into_bytes();
    history.extend_from_slice(b"{\"time\":1,\"process\":\"");
    history.push(0xff);
    history.extend_from_slice(b"\",\"type\":\"ok\",\"f\":\"start\"}\n");
    match first_error(&history) {
        HistoryError::NotUtf8 {
            line: 4,
            column: 22,
        } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_read_error_names_the_line_it_happened_on() {
    struct FailsAfter<'a>(&'a [u8]);
    impl Read for FailsAfter<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("disk on fire"));
            }
            let count = self.0.len().min(buffer.len());
            buffer[..count].copy_from_slice(&self.0[..count]);
            self.0 = &self.0[count..];
            Ok(count)
        }
    }
    let text = format!("{GOOD}\n{GOOD}\n");
    let reader: Box<dyn BufRead> =
        Box::new(BufReader::with_capacity(16, FailsAfter(text.as_bytes())));
    match oracle::check_reader(reader) {
        Err(HistoryError::Read { line: 3, source }) => {
            assert_eq!(source.to_string(), "disk on fire")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_reader_stops_after_the_first_error() {
    let history = format!("{GOOD}\nbad\n{GOOD}\n");
    let items: Vec<Result<(u64, Event), HistoryError>> =
        HistoryReader::new(history.as_bytes()).collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    assert!(matches!(
        items[1],
        Err(HistoryError::MalformedJson { line: 2, .. })
    ));
}

#[test]
fn error_messages_read_well() {
    let message = first_error(&third_line_is(
        r#"{"time":1,"process":"p","type":"ok","f":"send","value":"a","topic":"t","partition":0}"#,
    ))
    .to_string();
    assert_eq!(
        message,
        "line 3: missing required field `offset` (f=send type=ok)"
    );
    let message = first_error(&third_line_is(
        r#"{"time":1.5,"process":"p","type":"ok","f":"start"}"#,
    ))
    .to_string();
    assert_eq!(
        message,
        "line 3: field `time` has the wrong type: expected an integer >= 0, found number 1.5"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// The scanner accepts exactly what serde_json accepts.

/// Pieces that make or break JSON.
const JSON_PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u",
    "\\n",
    "\\x",
    "0",
    "1",
    "-",
    ".",
    "e",
    "E",
    "+",
    "true",
    "false",
    "null",
    "nul",
    " ",
    "\t",
    "\n",
    "\r",
    "\u{1}",
    "é",
    "\"time\"",
    "\"f\"",
    "\"records\"",
    "\"x\":",
    "00",
    "1.",
    "1e",
    "-0",
    "ff",
];

fn mutated_line() -> impl Strategy<Value = String> {
    let seeds: Vec<String> = every_event().iter().map(Event::to_json_line).collect();
    (
        proptest::sample::select(seeds),
        proptest::collection::vec(
            (
                any::<prop::sample::Index>(),
                0..3usize,
                proptest::sample::select(JSON_PIECES),
            ),
            1..4,
        ),
    )
        .prop_map(|(mut line, edits)| {
            for (at, action, piece) in edits {
                let boundaries: Vec<usize> = (0..=line.len())
                    .filter(|&index| line.is_char_boundary(index))
                    .collect();
                let at = boundaries[at.index(boundaries.len())];
                match action {
                    0 => line.insert_str(at, piece),
                    1 => {
                        let end = boundaries
                            .iter()
                            .copied()
                            .find(|&index| index > at)
                            .unwrap_or(at);
                        line.replace_range(at..end, piece);
                    }
                    _ => {
                        let end = boundaries
                            .iter()
                            .copied()
                            .find(|&index| index > at)
                            .unwrap_or(at);
                        line.replace_range(at..end, "");
                    }
                }
            }
            line
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn the_scanner_accepts_exactly_the_json_serde_json_accepts(line in mutated_line()) {
        let serde_accepts = serde_json::from_str::<serde::de::IgnoredAny>(&line).is_ok();
        match parse_line(&line, 1) {
            Err(HistoryError::MalformedJson { message, .. }) if message.starts_with("duplicate field") => {
                // serde_json accepts duplicate keys; the history format does not.
                prop_assert!(serde_accepts, "{line}");
            }
            Err(HistoryError::MalformedJson { message, .. }) if message.starts_with("field `") => {
                // A lone surrogate in a string the event needs: valid JSON text, but not a string.
                prop_assert!(serde_accepts, "{line}");
            }
            Err(HistoryError::MalformedJson { message, .. }) => prop_assert!(!serde_accepts, "{line}: {message}"),
            Ok(None) => prop_assert!(!serde_accepts && line.trim().is_empty(), "{line}"),
            Ok(Some(_)) | Err(_) => prop_assert!(serde_accepts, "{line}"),
        }
    }

    #[test]
    fn valid_json_events_read_like_serde_json_reads_them(index in 0..30usize, spaces in proptest::collection::vec(0..3usize, 0..8)) {
        // Re-serialize through serde_json::Value (other key order, other spacing): same event.
        let event = every_event().swap_remove(index);
        let value: serde_json::Value = serde_json::from_str(&event.to_json_line()).unwrap();
        let mut text = serde_json::to_string_pretty(&value).unwrap().replace('\n', " ");
        for space in spaces {
            text.insert_str(0, [" ", "\t", "\r"][space]);
        }
        prop_assert_eq!(parse_line(&text, 1).unwrap(), Some(event));
    }
}

#[test]
fn group_events_are_lenient_where_the_contract_allows() {
    let parse = |line: &str| parse_line(line, 1).unwrap().unwrap().op;
    // `lost` absent or null: false. `protocol` null: absent.
    for lost in ["", r#","lost":null"#] {
        assert_eq!(
            parse(&format!(
                r#"{{"time":1,"process":"c","type":"ok","f":"revoke","group":"g","generation":2,"partitions":[{{"topic":"t","partition":1,"offset":9}}]{lost}}}"#
            )),
            Op::Revoke {
                group: "g".into(),
                generation: 2,
                partitions: vec![TopicPartition::new("t", 1)].into(),
                lost: false,
            }
        );
    }
    assert_eq!(
        parse(
            r#"{"time":1,"process":"c","type":"ok","f":"join","group":"g","generation":0,"member":"m","leader":false,"protocol":null}"#
        ),
        Op::Join {
            group: "g".into(),
            generation: 0,
            member: "m".into(),
            leader: false,
            protocol: None,
        }
    );
    // A commit ok or invoke has no error: the field is not read, whatever its type.
    for event_type in ["ok", "invoke"] {
        let op = parse(&format!(
            r#"{{"time":1,"process":"c","type":"{event_type}","f":"commit","topic":"t","partition":0,"offset":1,"group":"g","error":[1]}}"#
        ));
        let Op::Commit {
            group,
            generation,
            error,
            ..
        } = op
        else {
            panic!("a commit: {op:?}")
        };
        assert_eq!(
            (group.as_deref(), generation, error),
            (Some("g"), None, None)
        );
    }
    // The group events have only the `ok` type; others are skipped like any unlisted pair.
    assert_eq!(
        parse(r#"{"time":1,"process":"c","type":"invoke","f":"join","group":"g"}"#),
        Op::Ignored {
            f: "join".into(),
            event_type: EventType::Invoke
        }
    );
    assert_eq!(
        parse(r#"{"time":1,"process":"cluster","type":"info","f":"offsets_expired"}"#),
        Op::Ignored {
            f: "offsets_expired".into(),
            event_type: EventType::Info
        }
    );
}
