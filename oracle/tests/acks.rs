//! What a `send` ok promises with `"acks": "1"` (docs/history-format.md): the leader alone appended the
//! record, so its loss after that leader was replaced is no anomaly (counted in `stats.acks1_lost`); its loss
//! without a leader change still is. And acks=0, recorded as `send info`: never lost, but a duplicate or a read
//! of a send that failed still is an anomaly. Each rule with and without its anomaly.

mod common;

use common::{assert_only, assert_valid, check, lines};
use oracle::{AnomalyKind, Event, SendAcks};

const LEADER_1_EPOCH_0: &str = r#"{"time":0,"process":"cluster","type":"ok","f":"leader","topic":"t","partition":0,"broker":1,"epoch":0}"#;
const LEADER_2_EPOCH_1: &str = r#"{"time":5,"process":"cluster","type":"ok","f":"leader","topic":"t","partition":0,"broker":2,"epoch":1}"#;
const LEADER_1_EPOCH_0_AGAIN: &str = r#"{"time":5,"process":"cluster","type":"ok","f":"leader","topic":"t","partition":0,"broker":1,"epoch":0}"#;
const OFFLINE_EPOCH_1: &str = r#"{"time":5,"process":"cluster","type":"ok","f":"offline","topic":"t","partition":0,"epoch":1}"#;
const LEADER_2_OTHER_PARTITION: &str = r#"{"time":5,"process":"cluster","type":"ok","f":"leader","topic":"t","partition":1,"broker":2,"epoch":1}"#;
const HEAL: &str = r#"{"time":8,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#;

/// x is acknowledged with `acks` (the `send` ok's extra fields) at t/0 offset 0 under leader epoch 0, y at offset
/// 1 with acks=all; a consumer reads y. `middle` goes between the sends and the poll.
fn x_acked_then_y_read(x_acks: &str, middle: &[&str]) -> String {
    let x_ok = format!(
        r#"{{"time":2,"process":"producer-0","type":"ok","f":"send","value":"x","topic":"t","partition":0,"offset":0{x_acks}}}"#
    );
    let mut history = vec![
        LEADER_1_EPOCH_0,
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"x"}"#,
        x_ok.as_str(),
        r#"{"time":3,"process":"producer-1","type":"invoke","f":"send","topic":"t","key":null,"value":"y"}"#,
        r#"{"time":4,"process":"producer-1","type":"ok","f":"send","value":"y","topic":"t","partition":0,"offset":1}"#,
    ];
    history.extend_from_slice(middle);
    history.push(r#"{"time":6,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":1,"value":"y"}]}"#);
    lines(&history)
}

const ACKS_1_EPOCH_0: &str = r#","acks":"1","leader_epoch":0"#;
const ACKS_1: &str = r#","acks":"1""#;

// ---------------------------------------------------------------------------------------------------------------
// lost-write and unseen

#[test]
fn an_acks_1_write_lost_without_a_leader_change_is_a_lost_write() {
    let result = check(&x_acked_then_y_read(ACKS_1_EPOCH_0, &[]));
    assert_only(&result, AnomalyKind::LostWrite, 1);
    assert_eq!(result.stats.acks1_lost, 0);
}

#[test]
fn an_acks_1_write_lost_after_its_leader_was_replaced_is_no_anomaly() {
    let result = check(&x_acked_then_y_read(ACKS_1_EPOCH_0, &[LEADER_2_EPOCH_1]));
    assert_valid(&result);
    assert_eq!(result.stats.acks1_lost, 1);
    assert!(
        result
            .render_text()
            .contains("1 acknowledged with acks=1 and lost with their leader"),
        "{}",
        result.render_text()
    );
    assert!(result.to_json().contains(r#""acks1_lost": 1"#));
}

#[test]
fn an_acks_1_write_lost_after_its_partition_went_offline_is_no_anomaly() {
    let result = check(&x_acked_then_y_read(ACKS_1_EPOCH_0, &[OFFLINE_EPOCH_1]));
    assert_valid(&result);
    assert_eq!(result.stats.acks1_lost, 1);
}

/// A zombie: the leader of epoch 0 still acknowledges x (acks=1, under `x_epoch`) after epoch 1 was elected; a
/// consumer reads y above it.
fn acked_after_the_election(x_epoch: u32) -> String {
    let x_ok = format!(
        r#"{{"time":2,"process":"producer-0","type":"ok","f":"send","value":"x","topic":"t","partition":0,"offset":0,"acks":"1","leader_epoch":{x_epoch}}}"#
    );
    lines(&[
        LEADER_1_EPOCH_0,
        r#"{"time":1,"process":"cluster","type":"ok","f":"leader","topic":"t","partition":0,"broker":2,"epoch":1}"#,
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"x"}"#,
        &x_ok,
        r#"{"time":3,"process":"producer-1","type":"invoke","f":"send","topic":"t","key":null,"value":"y"}"#,
        r#"{"time":4,"process":"producer-1","type":"ok","f":"send","value":"y","topic":"t","partition":0,"offset":1}"#,
        r#"{"time":6,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":1,"value":"y"}]}"#,
    ])
}

#[test]
fn an_election_before_the_send_excuses_an_acknowledgement_the_deposed_leader_gave() {
    let result = check(&acked_after_the_election(0));
    assert_valid(&result);
    assert_eq!(result.stats.acks1_lost, 1);
}

#[test]
fn an_election_before_the_send_does_not_excuse_an_acknowledgement_of_the_new_leader() {
    assert_only(
        &check(&acked_after_the_election(1)),
        AnomalyKind::LostWrite,
        1,
    );
}

#[test]
fn a_leader_event_of_the_same_epoch_or_of_another_partition_excuses_nothing() {
    for middle in [LEADER_1_EPOCH_0_AGAIN, LEADER_2_OTHER_PARTITION] {
        let result = check(&x_acked_then_y_read(ACKS_1_EPOCH_0, &[middle]));
        assert_only(&result, AnomalyKind::LostWrite, 1);
    }
}

#[test]
fn without_a_leader_epoch_a_second_leader_event_excuses_and_the_first_does_not() {
    assert_only(
        &check(&x_acked_then_y_read(ACKS_1, &[])),
        AnomalyKind::LostWrite,
        1,
    );
    // The same leader elected again is a leader change too (a restart): without epochs it cannot be told apart.
    let result = check(&x_acked_then_y_read(ACKS_1, &[LEADER_1_EPOCH_0_AGAIN]));
    assert_valid(&result);
    assert_eq!(result.stats.acks1_lost, 1);
}

#[test]
fn an_acks_all_write_lost_after_a_leader_change_is_still_a_lost_write() {
    for acks in ["", r#","acks":"all""#, r#","acks":"all","leader_epoch":0"#] {
        let result = check(&x_acked_then_y_read(acks, &[LEADER_2_EPOCH_1]));
        assert_only(&result, AnomalyKind::LostWrite, 1);
        assert_eq!(result.stats.acks1_lost, 0);
    }
}

/// x acknowledged with acks=1 at t/0 offset 0 under epoch 0; nothing read; `extra` appended.
fn only_x_acks_1(extra: &[&str]) -> String {
    let mut history = vec![
        LEADER_1_EPOCH_0,
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"x"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"x","topic":"t","partition":0,"offset":0,"acks":"1","leader_epoch":0}"#,
    ];
    history.extend_from_slice(extra);
    lines(&history)
}

#[test]
fn an_acks_1_write_never_read_after_the_heal_is_unseen_unless_its_leader_was_replaced() {
    assert_only(&check(&only_x_acks_1(&[HEAL])), AnomalyKind::Unseen, 1);
    let result = check(&only_x_acks_1(&[LEADER_2_EPOCH_1, HEAL]));
    assert_valid(&result);
    assert_eq!(result.stats.acks1_lost, 1);
}

#[test]
fn a_read_acks_1_write_counts_as_read_whatever_happened_to_its_leader() {
    let read_x = r#"{"time":6,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"x"}]}"#;
    let result = check(&only_x_acks_1(&[LEADER_2_EPOCH_1, read_x, HEAL]));
    assert_valid(&result);
    assert_eq!(result.stats.acks1_lost, 0);
    assert_eq!(result.stats.records_read, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// inconsistent-offsets: the new leader writes another record where the lost one was

/// x acknowledged with `x_acks` at t/0 offset 0 (epoch 0); then `middle`; then z, acknowledged at offset 0 too,
/// is read there.
fn offset_0_reused(x_acks: &str, middle: &[&str], x_read: bool) -> String {
    let x_ok = format!(
        r#"{{"time":2,"process":"producer-0","type":"ok","f":"send","value":"x","topic":"t","partition":0,"offset":0{x_acks}}}"#
    );
    let mut history = vec![
        LEADER_1_EPOCH_0,
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"x"}"#,
        x_ok.as_str(),
    ];
    if x_read {
        history.push(r#"{"time":3,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"x"}]}"#);
    }
    history.extend_from_slice(middle);
    history.extend([
        r#"{"time":6,"process":"producer-1","type":"invoke","f":"send","topic":"t","key":null,"value":"z"}"#,
        r#"{"time":6,"process":"producer-1","type":"ok","f":"send","value":"z","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":7,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"z"}]}"#,
    ]);
    lines(&history)
}

#[test]
fn another_record_at_the_offset_of_an_acks_1_write_lost_with_its_leader_is_no_anomaly() {
    let result = check(&offset_0_reused(ACKS_1_EPOCH_0, &[LEADER_2_EPOCH_1], false));
    assert_valid(&result);
    assert_eq!(result.stats.acks1_lost, 1);
}

#[test]
fn another_record_at_the_offset_of_an_acks_1_write_without_a_leader_change_is_inconsistent() {
    let result = check(&offset_0_reused(ACKS_1_EPOCH_0, &[], false));
    assert!(
        result.count(AnomalyKind::InconsistentOffsets) == 1
            && result.count(AnomalyKind::Unseen) == 0
            && result.kinds() == vec![AnomalyKind::InconsistentOffsets],
        "{}",
        result.render_text()
    );
}

#[test]
fn another_record_at_the_offset_of_a_read_acks_1_write_is_inconsistent_after_a_leader_change_too() {
    // x was read at offset 0: it was committed, and the new leader must hold it.
    let result = check(&offset_0_reused(ACKS_1_EPOCH_0, &[LEADER_2_EPOCH_1], true));
    assert_only(&result, AnomalyKind::InconsistentOffsets, 1);
}

#[test]
fn another_record_at_the_offset_of_an_acks_all_write_is_inconsistent_after_a_leader_change_too() {
    let result = check(&offset_0_reused("", &[LEADER_2_EPOCH_1], false));
    assert_only(&result, AnomalyKind::InconsistentOffsets, 1);
}

#[test]
fn three_values_at_one_offset_stay_inconsistent_when_one_is_an_excused_acks_1_write() {
    let mut text = offset_0_reused(ACKS_1_EPOCH_0, &[LEADER_2_EPOCH_1], false);
    text.push_str(r#"{"time":8,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"w"}]}"#);
    text.push('\n');
    let result = check(&text);
    assert_only(&result, AnomalyKind::InconsistentOffsets, 1);
    let explanation = &result.anomalies[0].explanation;
    assert!(
        explanation.contains("2 values") && !explanation.contains(" x "),
        "{explanation}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// nonmonotonic-send

/// a (acks=1 with `a_acks`, invoked first) acknowledged at offset 1, then b (invoked later) at offset 0, with
/// `middle` between.
fn a_then_b(a_acks: &str, middle: &[&str]) -> String {
    let a_ok = format!(
        r#"{{"time":3,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":1{a_acks}}}"#
    );
    let mut history = vec![
        LEADER_1_EPOCH_0,
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        a_ok.as_str(),
    ];
    history.extend_from_slice(middle);
    history.extend([
        r#"{"time":6,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"b"}"#,
        r#"{"time":7,"process":"producer-0","type":"ok","f":"send","value":"b","topic":"t","partition":0,"offset":0,"acks":"1","leader_epoch":1}"#,
        r#"{"time":8,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"b"}]}"#,
    ]);
    lines(&history)
}

#[test]
fn a_later_send_below_an_acks_1_write_lost_with_its_leader_is_no_nonmonotonic_send() {
    let result = check(&a_then_b(ACKS_1_EPOCH_0, &[LEADER_2_EPOCH_1]));
    assert_valid(&result);
    assert_eq!(result.stats.acks1_lost, 1);
}

#[test]
fn a_later_send_below_an_acks_1_write_without_a_leader_change_is_nonmonotonic() {
    // (b's own leader epoch 1 does not end epoch 0: only leader and offline events do.)
    let result = check(&a_then_b(ACKS_1_EPOCH_0, &[]));
    assert!(
        result.count(AnomalyKind::NonmonotonicSend) == 1,
        "{}",
        result.render_text()
    );
}

#[test]
fn a_later_send_below_an_acks_all_write_is_nonmonotonic_after_a_leader_change_too() {
    let result = check(&a_then_b("", &[LEADER_2_EPOCH_1]));
    assert!(
        result.count(AnomalyKind::NonmonotonicSend) == 1,
        "{}",
        result.render_text()
    );
}

// ---------------------------------------------------------------------------------------------------------------
// spinloop: an acks=1 acknowledgement is no proof that a consumer could read the record

fn requests_after_an_ack(x_acks: &str) -> String {
    let x_ok = format!(
        r#"{{"time":2,"process":"producer-0","type":"ok","f":"send","value":"x","topic":"t","partition":0,"offset":0{x_acks}}}"#
    );
    let mut history: Vec<String> = vec![
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"x"}"#.into(),
        x_ok,
        r#"{"time":3,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#.into(),
    ];
    for _ in 0..25 {
        history.push(
            r#"{"time":4,"process":"consumer-0","type":"ok","f":"request","api":"fetch","topic":"t","partition":0,"offset":0,"broker":1,"error":null,"progress":false}"#.into(),
        );
    }
    history.push(r#"{"time":5,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"x"}]}"#.into());
    let refs: Vec<&str> = history.iter().map(String::as_str).collect();
    lines(&refs)
}

#[test]
fn requests_without_progress_after_an_acks_1_acknowledgement_are_no_spinloop() {
    // The leader acknowledged x before its followers had it: the high watermark, and consumers, wait for them.
    assert_valid(&check(&requests_after_an_ack(ACKS_1_EPOCH_0)));
    assert_only(&check(&requests_after_an_ack("")), AnomalyKind::Spinloop, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// acks=0: recorded as send info

#[test]
fn an_acks_0_send_is_never_lost_nor_unseen() {
    let result = check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"x"}"#,
        r#"{"time":1,"process":"producer-0","type":"info","f":"send","value":"x","error":"acks_0"}"#,
        r#"{"time":3,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"y"}"#,
        r#"{"time":3,"process":"producer-0","type":"info","f":"send","value":"y","error":"acks_0"}"#,
        r#"{"time":6,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":1,"value":"y"}]}"#,
        HEAL,
    ]));
    assert_valid(&result);
}

#[test]
fn an_acks_0_record_read_at_two_offsets_is_a_duplicate() {
    let result = check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"x"}"#,
        r#"{"time":1,"process":"producer-0","type":"info","f":"send","value":"x","error":"acks_0"}"#,
        r#"{"time":6,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"x"},{"topic":"t","partition":0,"offset":1,"value":"x"}]}"#,
    ]));
    assert_only(&result, AnomalyKind::Duplicate, 1);
}

#[test]
fn a_read_of_an_acks_0_send_that_failed_before_it_was_sent_is_g1a() {
    let result = check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"x"}"#,
        r#"{"time":1,"process":"producer-0","type":"fail","f":"send","value":"x","error":"request_timed_out"}"#,
        r#"{"time":6,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"x"}]}"#,
    ]));
    assert_only(&result, AnomalyKind::G1a, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// the fields themselves

#[test]
fn acks_and_leader_epoch_round_trip_and_acks_all_is_written_as_absent() {
    let acked = Event::send_ok(2, "producer-0", "x", "t", 0, 5).with_acks(SendAcks::Leader {
        leader_epoch: Some(3),
    });
    let line = acked.to_json_line();
    assert!(
        line.ends_with(r#""offset":5,"acks":"1","leader_epoch":3}"#),
        "{line}"
    );
    let parsed = oracle::parse_line(&line, 1).unwrap().unwrap();
    assert_eq!(parsed, acked);
    let all = Event::send_ok(2, "producer-0", "x", "t", 0, 5);
    assert!(!all.to_json_line().contains("acks"));
    let explicit_all = r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"x","topic":"t","partition":0,"offset":5,"acks":"all","leader_epoch":3}"#;
    assert_eq!(oracle::parse_line(explicit_all, 1).unwrap().unwrap(), all);
}

#[test]
fn a_bad_acks_is_bad_input_naming_the_field() {
    for (acks, message) in [
        (r#""0""#, "acks=0 is never acknowledged"),
        (r#""2""#, r#"expected "all" or "1""#),
        ("1", "wrong type"),
    ] {
        let line = format!(
            r#"{{"time":2,"process":"p","type":"ok","f":"send","value":"x","topic":"t","partition":0,"offset":5,"acks":{acks}}}"#
        );
        let error = oracle::parse_line(&line, 7).unwrap_err().to_string();
        assert!(
            error.contains("line 7") && error.contains("acks") && error.contains(message),
            "{error}"
        );
    }
    let bad_epoch = r#"{"time":2,"process":"p","type":"ok","f":"send","value":"x","topic":"t","partition":0,"offset":5,"acks":"1","leader_epoch":-1}"#;
    let error = oracle::parse_line(bad_epoch, 1).unwrap_err().to_string();
    assert!(error.contains("leader_epoch"), "{error}");
}
