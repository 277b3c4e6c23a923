//! Every anomaly of docs/history-format.md's table: a small history that has it (the checker reports exactly that kind, and
//! its JSON is snapshotted), and near misses that do not.

mod common;

use common::{assert_only, assert_valid, check, lines};
use oracle::AnomalyKind;

// ---------------------------------------------------------------------------------------------------------------
// lost-write, unseen, and the `evicted` classification between them

/// x at t/0 offset 0 is acknowledged and never read; y at offset 1 is read. `middle` goes between the sends and
/// the poll, `end` after the poll.
fn never_read_x(middle: &[&str], end: &[&str]) -> String {
    let mut history = vec![
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"x"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"x","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":3,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"y"}"#,
        r#"{"time":4,"process":"producer-0","type":"ok","f":"send","value":"y","topic":"t","partition":0,"offset":1}"#,
    ];
    history.extend_from_slice(middle);
    history.push(r#"{"time":6,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":1,"value":"y"}]}"#);
    history.extend_from_slice(end);
    lines(&history)
}

const LOG_START_0: &str = r#"{"time":5,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":0}"#;
const LOG_START_1: &str = r#"{"time":5,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":1}"#;
const LOG_START_1_LATE: &str = r#"{"time":7,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":1}"#;
const LOG_START_9_FOLLOWER: &str = r#"{"time":5,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":9,"broker":2}"#;
const HEAL: &str = r#"{"time":8,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#;

#[test]
fn lost_write_an_acknowledged_send_never_read_below_a_read_offset() {
    let result = check(&never_read_x(&[], &[]));
    assert_only(&result, AnomalyKind::LostWrite, 1);
    assert_eq!(result.anomalies[0].events, vec![2, 5]);
    assert_eq!(result.stats.evicted, 0);
    insta::assert_snapshot!("lost_write", result.to_json());
}

#[test]
fn evicted_when_the_log_start_passed_the_write_before_any_read_beyond_it() {
    let result = check(&never_read_x(&[LOG_START_1], &[]));
    assert_valid(&result);
    assert_eq!(result.stats.evicted, 1);
}

#[test]
fn evicted_needs_a_log_start_above_the_offset_not_equal_to_it() {
    // log_start == o does not remove o: x at 0 is lost.
    let result = check(&never_read_x(&[LOG_START_0], &[]));
    assert_only(&result, AnomalyKind::LostWrite, 1);
    assert_eq!(result.stats.evicted, 0);
}

#[test]
fn a_log_start_after_the_higher_read_does_not_evict() {
    // The poll read offset 1 (line 5) before the log start passed offset 0 (line 6): x was there to read.
    let result = check(&never_read_x(&[], &[LOG_START_1_LATE]));
    assert_only(&result, AnomalyKind::LostWrite, 1);
    assert_eq!(result.stats.evicted, 0);
}

#[test]
fn a_log_start_with_a_broker_is_not_authoritative() {
    let result = check(&never_read_x(&[LOG_START_9_FOLLOWER], &[]));
    assert_only(&result, AnomalyKind::LostWrite, 1);
    assert_eq!(result.stats.evicted, 0);
}

#[test]
fn any_earlier_log_start_above_the_offset_evicts_even_if_a_later_one_is_lower() {
    // The log start went to 3, then back to 0 (a failover): x at 0 was already gone before the read.
    let to_3 = r#"{"time":5,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":3}"#;
    let result = check(&never_read_x(&[to_3, LOG_START_0], &[]));
    assert_valid(&result);
    assert_eq!(result.stats.evicted, 1);
}

/// x at t/0 offset 0, acknowledged; nothing is read. `extra` is appended.
fn only_x(extra: &[&str]) -> String {
    let mut history = vec![
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":"k","value":"x"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"x","topic":"t","partition":0,"offset":0}"#,
    ];
    history.extend_from_slice(extra);
    lines(&history)
}

#[test]
fn unseen_an_acknowledged_send_never_read_in_a_history_with_a_heal() {
    let result = check(&only_x(&[HEAL]));
    assert_only(&result, AnomalyKind::Unseen, 1);
    assert_eq!(result.anomalies[0].events, vec![2, 3]);
    insta::assert_snapshot!("unseen", result.to_json());
}

#[test]
fn not_unseen_without_a_heal() {
    assert_valid(&check(&only_x(&[])));
}

#[test]
fn not_unseen_when_evicted_before_anyone_read_past_it() {
    let result = check(&only_x(&[LOG_START_1, HEAL]));
    assert_valid(&result);
    assert_eq!(result.stats.evicted, 1);
}

#[test]
fn a_lost_write_is_not_also_unseen() {
    let result = check(&never_read_x(&[], &[HEAL]));
    assert_only(&result, AnomalyKind::LostWrite, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// duplicate, inconsistent-offsets, G1a

#[test]
fn duplicate_one_value_known_at_two_offsets() {
    let result = check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":3,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#,
        r#"{"time":4,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":5,"value":"a"}]}"#,
    ]));
    assert_only(&result, AnomalyKind::Duplicate, 1);
    assert_eq!(result.anomalies[0].events, vec![2, 4]);
    insta::assert_snapshot!("duplicate", result.to_json());
}

#[test]
fn not_duplicate_when_every_sighting_agrees_on_the_offset() {
    assert_valid(&check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":3,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#,
        r#"{"time":4,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#,
    ])));
}

#[test]
fn the_same_offset_number_in_two_partitions_is_two_places() {
    // The same offset number in two partitions is two places: a value at both is a duplicate...
    let result = check(&lines(&[
        r#"{"time":1,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":3,"value":"a"}]}"#,
        r#"{"time":2,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"t","partition":1,"offset":3,"value":"a"}]}"#,
    ]));
    assert_only(&result, AnomalyKind::Duplicate, 1);
    // ...and two values there are not inconsistent.
    assert_valid(&check(&lines(&[
        r#"{"time":1,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":3,"value":"a"}]}"#,
        r#"{"time":2,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"t","partition":1,"offset":3,"value":"b"}]}"#,
    ])));
}

#[test]
fn inconsistent_offsets_one_offset_known_with_two_values() {
    let result = check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":3,"process":"producer-1","type":"invoke","f":"send","topic":"t","key":null,"value":"b"}"#,
        r#"{"time":4,"process":"producer-1","type":"ok","f":"send","value":"b","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":5,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"b"}]}"#,
    ]));
    assert_only(&result, AnomalyKind::InconsistentOffsets, 1);
    assert_eq!(result.anomalies[0].events, vec![2, 4]);
    insta::assert_snapshot!("inconsistent_offsets", result.to_json());
}

#[test]
fn not_inconsistent_when_the_two_values_have_their_own_offsets() {
    assert_valid(&check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":3,"process":"producer-1","type":"invoke","f":"send","topic":"t","key":null,"value":"b"}"#,
        r#"{"time":4,"process":"producer-1","type":"ok","f":"send","value":"b","topic":"t","partition":0,"offset":1}"#,
        r#"{"time":5,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"},{"topic":"t","partition":0,"offset":1,"value":"b"}]}"#,
    ])));
}

#[test]
fn g1a_a_poll_read_a_value_whose_send_definitely_failed() {
    let result = check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"fail","f":"send","value":"a","error":"not_leader_or_follower"}"#,
        r#"{"time":3,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#,
    ]));
    assert_only(&result, AnomalyKind::G1a, 1);
    assert_eq!(result.anomalies[0].events, vec![2, 3]);
    insta::assert_snapshot!("g1a", result.to_json());
}

#[test]
fn not_g1a_when_the_send_was_only_indeterminate() {
    assert_valid(&check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"info","f":"send","value":"a","error":"request_timed_out"}"#,
        r#"{"time":3,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#,
    ])));
}

#[test]
fn g1a_also_when_the_failure_is_recorded_after_the_read() {
    let result = check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":3,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#,
        r#"{"time":4,"process":"producer-0","type":"fail","f":"send","value":"a","error":"not_leader_or_follower"}"#,
    ]));
    assert_only(&result, AnomalyKind::G1a, 1);
}

#[test]
fn the_first_read_of_a_value_is_the_earliest_whether_at_its_own_offset_or_elsewhere() {
    // a is acknowledged at 0 and also reported failed; consumer-0 reads it at 0 (line 4), consumer-1 at 7
    // (line 5). Both reads count: G1a names the earlier one, and a is known at two offsets.
    let result = check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":3,"process":"producer-0","type":"fail","f":"send","value":"a","error":"not_leader_or_follower"}"#,
        r#"{"time":4,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#,
        r#"{"time":5,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":7,"value":"a"}]}"#,
    ]));
    assert_eq!(
        result.kinds(),
        vec![AnomalyKind::Duplicate, AnomalyKind::G1a]
    );
    let g1a = result
        .anomalies
        .iter()
        .find(|anomaly| anomaly.kind == AnomalyKind::G1a)
        .unwrap();
    assert_eq!(g1a.events, vec![3, 4]);
    assert_eq!(result.stats.records_read, 1);

    // The same with the reads the other way round: the read elsewhere comes first.
    let result = check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":3,"process":"producer-0","type":"fail","f":"send","value":"a","error":"not_leader_or_follower"}"#,
        r#"{"time":4,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":7,"value":"a"}]}"#,
        r#"{"time":5,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#,
    ]));
    let g1a = result
        .anomalies
        .iter()
        .find(|anomaly| anomaly.kind == AnomalyKind::G1a)
        .unwrap();
    assert_eq!(g1a.events, vec![3, 4]);
}

#[test]
fn a_read_of_another_value_at_a_known_offset_is_a_read_of_that_other_value() {
    // b is read where a was acknowledged: inconsistent, b is read (not unseen), a is not.
    let result = check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":3,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"b"}"#,
        r#"{"time":4,"process":"producer-0","type":"ok","f":"send","value":"b","topic":"t","partition":0,"offset":1}"#,
        r#"{"time":5,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"b"}]}"#,
        r#"{"time":6,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#,
    ]));
    assert_eq!(
        result.kinds(),
        vec![
            AnomalyKind::Unseen,
            AnomalyKind::Duplicate,
            AnomalyKind::InconsistentOffsets
        ]
    );
    let unseen = result
        .anomalies
        .iter()
        .find(|anomaly| anomaly.kind == AnomalyKind::Unseen)
        .unwrap();
    assert!(
        unseen.explanation.starts_with("value a "),
        "{}",
        unseen.explanation
    );
    assert_eq!(result.stats.records_read, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// nonmonotonic-poll, poll-skip

/// a, b, c at t/0 offsets 0, 1, 2.
const SENDS_ABC: [&str; 6] = [
    r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
    r#"{"time":1,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
    r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"b"}"#,
    r#"{"time":1,"process":"producer-0","type":"ok","f":"send","value":"b","topic":"t","partition":0,"offset":1}"#,
    r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"c"}"#,
    r#"{"time":1,"process":"producer-0","type":"ok","f":"send","value":"c","topic":"t","partition":0,"offset":2}"#,
];
const POLL_AB: &str = r#"{"time":2,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"},{"topic":"t","partition":0,"offset":1,"value":"b"}]}"#;
const POLL_B: &str = r#"{"time":4,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":1,"value":"b"}]}"#;
const POLL_C: &str = r#"{"time":4,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":2,"value":"c"}]}"#;

fn abc(rest: &[&str]) -> String {
    let mut history: Vec<&str> = SENDS_ABC.to_vec();
    history.extend_from_slice(rest);
    lines(&history)
}

#[test]
fn nonmonotonic_poll_an_offset_delivered_again_in_the_same_incarnation() {
    let result = check(&abc(&[POLL_AB, POLL_B, POLL_C]));
    assert_only(&result, AnomalyKind::NonmonotonicPoll, 1);
    assert_eq!(result.anomalies[0].events, vec![7, 8]);
    insta::assert_snapshot!("nonmonotonic_poll", result.to_json());
}

#[test]
fn not_nonmonotonic_after_a_reset_of_the_partition() {
    let seek = r#"{"time":3,"process":"consumer-0","type":"ok","f":"reset","topic":"t","partition":0,"from":2,"to":1,"reason":"seek"}"#;
    assert_valid(&check(&abc(&[POLL_AB, seek, POLL_B, POLL_C])));
}

#[test]
fn not_nonmonotonic_after_an_assign_of_the_partition() {
    let assign = r#"{"time":3,"process":"consumer-0","type":"ok","f":"assign","partitions":[{"topic":"t","partition":0,"offset":1}]}"#;
    assert_valid(&check(&abc(&[POLL_AB, assign, POLL_B, POLL_C])));
}

#[test]
fn a_reset_of_another_partition_does_not_excuse_a_rewind() {
    let seek_other = r#"{"time":3,"process":"consumer-0","type":"ok","f":"reset","topic":"t","partition":1,"from":2,"to":1,"reason":"seek"}"#;
    assert_only(
        &check(&abc(&[POLL_AB, seek_other, POLL_B, POLL_C])),
        AnomalyKind::NonmonotonicPoll,
        1,
    );
}

#[test]
fn not_nonmonotonic_in_a_new_incarnation() {
    let crash = r#"{"time":3,"process":"consumer-0","type":"info","f":"crash"}"#;
    let start = r#"{"time":3,"process":"consumer-0","type":"ok","f":"start"}"#;
    assert_valid(&check(&abc(&[POLL_AB, crash, start, POLL_B, POLL_C])));
}

#[test]
fn poll_skip_a_known_offset_jumped_over() {
    let poll_ac = r#"{"time":2,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"},{"topic":"t","partition":0,"offset":2,"value":"c"}]}"#;
    // consumer-1 reads b, so b is not lost: only consumer-0 skipped it.
    let other_reads_b = r#"{"time":3,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":1,"value":"b"}]}"#;
    let result = check(&abc(&[poll_ac, other_reads_b]));
    assert_only(&result, AnomalyKind::PollSkip, 1);
    assert_eq!(result.anomalies[0].events, vec![4, 7]);
    insta::assert_snapshot!("poll_skip", result.to_json());
}

#[test]
fn poll_skip_across_two_polls() {
    let poll_a = r#"{"time":2,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#;
    let other_reads_b = r#"{"time":3,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":1,"value":"b"}]}"#;
    assert_only(
        &check(&abc(&[poll_a, other_reads_b, POLL_C])),
        AnomalyKind::PollSkip,
        1,
    );
}

#[test]
fn not_poll_skip_when_an_eviction_explains_the_gap() {
    // b was never read, and the log start passed it (to 2) before anyone read beyond it: evicted.
    let poll_a = r#"{"time":2,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#;
    let log_start_2 = r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":2}"#;
    let result = check(&abc(&[poll_a, log_start_2, POLL_C]));
    assert_valid(&result);
    assert_eq!(result.stats.evicted, 1);
}

#[test]
fn not_poll_skip_when_the_gap_holds_no_known_offset() {
    // Offsets 1..=4 are never named by anyone (e.g. transaction markers).
    assert_valid(&check(&lines(&[
        r#"{"time":1,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"},{"topic":"t","partition":0,"offset":5,"value":"f"}]}"#,
    ])));
}

// ---------------------------------------------------------------------------------------------------------------
// duplicate-delivery

const C_START: &str = r#"{"time":2,"process":"consumer-0","type":"ok","f":"start"}"#;
const C_CRASH: &str = r#"{"time":5,"process":"consumer-0","type":"info","f":"crash"}"#;
const C_CLOSE: &str = r#"{"time":5,"process":"consumer-0","type":"ok","f":"close"}"#;
const C_RESTART: &str = r#"{"time":6,"process":"consumer-0","type":"ok","f":"start"}"#;
const ASSIGN_AT_1: &str = r#"{"time":6,"process":"consumer-0","type":"ok","f":"assign","partitions":[{"topic":"t","partition":0,"offset":1}]}"#;
const POLL_B_AGAIN: &str = r#"{"time":7,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":1,"value":"b"}]}"#;

fn commit_at(offset: u64) -> String {
    format!(
        r#"{{"time":4,"process":"consumer-0","type":"ok","f":"commit","topic":"t","partition":0,"offset":{offset}}}"#
    )
}

#[test]
fn duplicate_delivery_below_the_offset_committed_before_a_restart() {
    let commit_2 = commit_at(2);
    let result = check(&abc(&[
        C_START,
        POLL_AB,
        &commit_2,
        C_CRASH,
        C_RESTART,
        ASSIGN_AT_1,
        POLL_B_AGAIN,
    ]));
    assert_only(&result, AnomalyKind::DuplicateDelivery, 1);
    assert_eq!(result.anomalies[0].events, vec![9, 11, 13]);
    insta::assert_snapshot!("duplicate_delivery_below_commit", result.to_json());
}

#[test]
fn not_duplicate_delivery_after_a_crash_at_or_above_the_committed_offset() {
    // Committed 1 (next to consume: b), delivered b, crashed before committing 2: b again is allowed.
    let commit_1 = commit_at(1);
    assert_valid(&check(&abc(&[
        C_START,
        POLL_AB,
        &commit_1,
        C_CRASH,
        C_RESTART,
        ASSIGN_AT_1,
        POLL_B_AGAIN,
    ])));
}

/// A commit of unknown outcome (no answer in time) may reach the coordinator after a later commit ok: the
/// restart may then begin at it (the consumer model test's late OffsetCommit), and delivering from there again
/// is no anomaly. Without it, the same restart is one.
#[test]
fn not_duplicate_delivery_from_a_commit_of_unknown_outcome_that_may_have_landed_last() {
    let unknown_1 = r#"{"time":4,"process":"consumer-0","type":"info","f":"commit","topic":"t","partition":0,"offset":1}"#;
    let commit_2 = commit_at(2);
    assert_valid(&check(&abc(&[
        C_START,
        POLL_AB,
        unknown_1,
        &commit_2,
        C_CRASH,
        C_RESTART,
        ASSIGN_AT_1,
        POLL_B_AGAIN,
    ])));
}

#[test]
fn duplicate_delivery_of_what_a_cleanly_closed_incarnation_delivered() {
    // fluvio #4505: the last record was never committed on exit, so it came again after a clean close.
    let commit_1 = commit_at(1);
    let result = check(&abc(&[
        C_START,
        POLL_AB,
        &commit_1,
        C_CLOSE,
        C_RESTART,
        ASSIGN_AT_1,
        POLL_B_AGAIN,
    ]));
    assert_only(&result, AnomalyKind::DuplicateDelivery, 1);
    assert_eq!(result.anomalies[0].events, vec![8, 10, 11, 13]);
    insta::assert_snapshot!("duplicate_delivery_after_close", result.to_json());
}

#[test]
fn only_a_restart_sets_the_baseline() {
    // The same deliveries without the crash and start are one incarnation: a rewind after an assign.
    let commit_2 = commit_at(2);
    assert_valid(&check(&abc(&[
        C_START,
        POLL_AB,
        &commit_2,
        ASSIGN_AT_1,
        POLL_B_AGAIN,
    ])));
}

// ---------------------------------------------------------------------------------------------------------------
// commit-regressed

fn commits(middle: &[&str]) -> String {
    let mut history = vec![
        r#"{"time":1,"process":"consumer-0","type":"ok","f":"commit","topic":"t","partition":0,"offset":5}"#,
    ];
    history.extend_from_slice(middle);
    history.push(r#"{"time":3,"process":"consumer-0","type":"ok","f":"commit","topic":"t","partition":0,"offset":3}"#);
    lines(&history)
}

#[test]
fn commit_regressed_a_lower_commit_ok_than_an_earlier_one() {
    let result = check(&commits(&[]));
    assert_only(&result, AnomalyKind::CommitRegressed, 1);
    assert_eq!(result.anomalies[0].events, vec![1, 2]);
    insta::assert_snapshot!("commit_regressed", result.to_json());
}

#[test]
fn not_commit_regressed_after_a_reset_to_a_lower_position() {
    let seek = r#"{"time":2,"process":"consumer-0","type":"ok","f":"reset","topic":"t","partition":0,"from":5,"to":2,"reason":"seek"}"#;
    assert_valid(&check(&commits(&[seek])));
}

#[test]
fn a_forward_reset_does_not_excuse_a_lower_commit() {
    let forward = r#"{"time":2,"process":"consumer-0","type":"ok","f":"reset","topic":"t","partition":0,"from":5,"to":9,"reason":"offset_evicted"}"#;
    assert_only(
        &check(&commits(&[forward])),
        AnomalyKind::CommitRegressed,
        1,
    );
}

#[test]
fn commits_of_other_processes_or_failed_commits_do_not_count() {
    assert_valid(&check(&lines(&[
        r#"{"time":1,"process":"consumer-1","type":"ok","f":"commit","topic":"t","partition":0,"offset":5}"#,
        r#"{"time":2,"process":"consumer-0","type":"fail","f":"commit","topic":"t","partition":0,"offset":9}"#,
        r#"{"time":3,"process":"consumer-0","type":"ok","f":"commit","topic":"t","partition":0,"offset":3}"#,
    ])));
}

// ---------------------------------------------------------------------------------------------------------------
// nonmonotonic-send

#[test]
fn nonmonotonic_send_the_later_invoked_send_acknowledged_at_a_lower_offset() {
    let result = check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"b"}"#,
        r#"{"time":3,"process":"producer-0","type":"ok","f":"send","value":"b","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":4,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":1}"#,
    ]));
    assert_only(&result, AnomalyKind::NonmonotonicSend, 1);
    assert_eq!(result.anomalies[0].events, vec![1, 2, 3, 4]);
    insta::assert_snapshot!("nonmonotonic_send", result.to_json());
}

#[test]
fn not_nonmonotonic_send_when_acknowledgements_arrive_out_of_order_but_offsets_follow_invocation() {
    assert_valid(&check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"b"}"#,
        r#"{"time":3,"process":"producer-0","type":"ok","f":"send","value":"b","topic":"t","partition":0,"offset":1}"#,
        r#"{"time":4,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
    ])));
}

#[test]
fn not_nonmonotonic_send_across_producers_or_partitions() {
    assert_valid(&check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-1","type":"invoke","f":"send","topic":"t","key":null,"value":"b"}"#,
        r#"{"time":2,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"c"}"#,
        r#"{"time":3,"process":"producer-1","type":"ok","f":"send","value":"b","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":4,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":1}"#,
        r#"{"time":4,"process":"producer-0","type":"ok","f":"send","value":"c","topic":"t","partition":1,"offset":0}"#,
    ])));
}

// ---------------------------------------------------------------------------------------------------------------
// internal-error, wrong-next-available

#[test]
fn internal_error_from_a_poll_or_a_request() {
    let result = check(&lines(&[
        r#"{"time":1,"process":"consumer-0","type":"fail","f":"poll","topic":"t","partition":0,"offset":3,"error":"io_error"}"#,
        r#"{"time":2,"process":"consumer-0","type":"fail","f":"request","api":"fetch","topic":"t","partition":0,"offset":3,"broker":1,"error":"unknown_server_error","progress":false}"#,
    ]));
    assert_only(&result, AnomalyKind::InternalError, 2);
    insta::assert_snapshot!("internal_error", result.to_json());
}

#[test]
fn not_internal_error_for_the_errors_a_correct_broker_returns() {
    assert_valid(&check(&lines(&[
        r#"{"time":1,"process":"consumer-0","type":"fail","f":"poll","topic":"t","partition":0,"offset":3,"error":"kafka_storage_error"}"#,
        r#"{"time":2,"process":"consumer-0","type":"fail","f":"request","api":"fetch","topic":"t","partition":0,"offset":3,"broker":1,"error":"offset_out_of_range","progress":false}"#,
    ])));
}

const LOG_START_5: &str = r#"{"time":1,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":5}"#;

fn evicted_error(next_available: &str) -> String {
    format!(
        r#"{{"time":2,"process":"consumer-0","type":"fail","f":"poll","topic":"t","partition":0,"offset":2,"error":"offset_evicted"{next_available}}}"#
    )
}

#[test]
fn wrong_next_available_differs_from_the_authoritative_log_start() {
    let result = check(&lines(&[
        LOG_START_5,
        &evicted_error(r#","next_available":3"#),
    ]));
    assert_only(&result, AnomalyKind::WrongNextAvailable, 1);
    assert_eq!(result.anomalies[0].events, vec![1, 2]);
    insta::assert_snapshot!("wrong_next_available", result.to_json());
}

#[test]
fn not_wrong_next_available_when_it_is_the_log_start() {
    assert_valid(&check(&lines(&[
        LOG_START_5,
        &evicted_error(r#","next_available":5"#),
    ])));
}

#[test]
fn the_log_start_at_that_time_is_the_last_authoritative_one_before_the_error() {
    let follower_at_3 = r#"{"time":1,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":3,"broker":2}"#;
    let later_log_start = r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":3}"#;
    // A follower's log start of 3 does not make 3 right, and a later leader log start of 3 neither.
    let result = check(&lines(&[
        LOG_START_5,
        follower_at_3,
        &evicted_error(r#","next_available":3"#),
        later_log_start,
    ]));
    assert_only(&result, AnomalyKind::WrongNextAvailable, 1);
}

#[test]
fn nothing_to_compare_without_next_available_or_without_a_log_start() {
    assert_valid(&check(&lines(&[LOG_START_5, &evicted_error("")])));
    assert_valid(&check(&lines(&[&evicted_error(r#","next_available":3"#)])));
}

// ---------------------------------------------------------------------------------------------------------------
// spinloop

/// a at t/0 offset 0, read by consumer-1; then `before_requests`, then `requests` fetches of consumer-0 for
/// offset 0 without progress.
fn spinning(before_requests: &[&str], requests: usize) -> String {
    let mut history: Vec<String> = vec![
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#.into(),
        r#"{"time":1,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#.into(),
        r#"{"time":2,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#.into(),
    ];
    history.extend(before_requests.iter().map(|line| line.to_string()));
    for _ in 0..requests {
        history.push(
            r#"{"time":4,"process":"consumer-0","type":"fail","f":"request","api":"list_offsets","topic":"t","partition":0,"offset":0,"broker":2,"error":"not_leader_or_follower","progress":false}"#.into(),
        );
    }
    let refs: Vec<&str> = history.iter().map(String::as_str).collect();
    lines(&refs)
}

const HEAL_AT_3: &str =
    r#"{"time":3,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#;

#[test]
fn spinloop_twenty_requests_without_progress_while_data_was_available() {
    // franz-go #885: ListOffsets against a truncated follower, forever.
    let result = check(&spinning(&[HEAL_AT_3], 20));
    assert_only(&result, AnomalyKind::Spinloop, 1);
    insta::assert_snapshot!("spinloop", result.to_json());
}

#[test]
fn a_longer_run_is_still_one_spinloop() {
    let result = check(&spinning(&[HEAL_AT_3], 45));
    assert_only(&result, AnomalyKind::Spinloop, 1);
    assert!(
        result.anomalies[0]
            .explanation
            .contains("45 consecutive requests"),
        "{}",
        result.anomalies[0].explanation
    );
}

#[test]
fn not_spinloop_with_19_requests() {
    assert_valid(&check(&spinning(&[HEAL_AT_3], 19)));
}

#[test]
fn not_spinloop_before_the_heal() {
    let heal_at_5 = r#"{"time":5,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#;
    let mut history = spinning(&[], 25);
    history.push_str(heal_at_5);
    history.push('\n');
    assert_valid(&check(&history));
}

#[test]
fn not_spinloop_when_a_fault_after_the_heal_ended_the_liveness_phase() {
    let fault = r#"{"time":3,"process":"nemesis","type":"info","f":"fault","fault":"partition","target":"broker-2"}"#;
    assert_valid(&check(&spinning(&[HEAL_AT_3, fault], 25)));
}

#[test]
fn not_spinloop_when_the_only_known_record_was_below_the_log_start() {
    let log_start_1 = r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":1}"#;
    assert_valid(&check(&spinning(&[HEAL_AT_3, log_start_1], 25)));
}

#[test]
fn not_spinloop_for_a_caught_up_consumer_polling_an_empty_partition() {
    // Requests for offset 1 while the highest known offset is 0; the record at 1 is written only afterwards.
    let mut history: Vec<String> = vec![
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#.into(),
        r#"{"time":1,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#.into(),
        HEAL_AT_3.into(),
    ];
    for _ in 0..25 {
        history.push(
            r#"{"time":4,"process":"consumer-0","type":"ok","f":"request","api":"fetch","topic":"t","partition":0,"offset":1,"broker":0,"error":null,"progress":false}"#.into(),
        );
    }
    history.push(r#"{"time":5,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"b"}"#.into());
    history.push(r#"{"time":5,"process":"producer-0","type":"ok","f":"send","value":"b","topic":"t","partition":0,"offset":1}"#.into());
    history.push(
        r#"{"time":6,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"},{"topic":"t","partition":0,"offset":1,"value":"b"}]}"#.into(),
    );
    let refs: Vec<&str> = history.iter().map(String::as_str).collect();
    assert_valid(&check(&lines(&refs)));
}

#[test]
fn progress_breaks_a_run() {
    let mut history = spinning(&[HEAL_AT_3], 10);
    history.push_str(r#"{"time":4,"process":"consumer-0","type":"ok","f":"request","api":"fetch","topic":"t","partition":0,"offset":0,"broker":0,"error":null,"progress":true}"#);
    history.push('\n');
    let rest = spinning(&[], 15);
    // Only the requests of `rest` (its last 15 lines).
    for line in rest.lines().skip(3) {
        history.push_str(line);
        history.push('\n');
    }
    assert_valid(&check(&history));
}

// ---------------------------------------------------------------------------------------------------------------
// stale-partitions

/// The first send time `after_growth` uses: 5 s after the growth (at time 2), when sends start to count.
const FIVE_S_AFTER_GROWTH: u64 = 2 + 5_000_000_000;

/// t grows from 2 to 4 partitions; then producer-0 sends `sends` keyless records, landing on `partition_of(i)`,
/// from 5 s after the growth on.
fn after_growth(sends: usize, keyed: bool, partition_of: impl Fn(usize) -> u32) -> String {
    after_growth_at(FIVE_S_AFTER_GROWTH, sends, keyed, partition_of)
}

/// `after_growth` with the sends invoked (and acknowledged) from time `time` on, 1 ms apart.
fn after_growth_at(
    time: u64,
    sends: usize,
    keyed: bool,
    partition_of: impl Fn(usize) -> u32,
) -> String {
    let mut history: Vec<String> = vec![
        r#"{"time":1,"process":"cluster","type":"ok","f":"partitions","topic":"t","count":2}"#
            .into(),
        r#"{"time":2,"process":"cluster","type":"ok","f":"partitions","topic":"t","count":4}"#
            .into(),
    ];
    let key = if keyed { r#""k""# } else { "null" };
    for index in 0..sends {
        let partition = partition_of(index);
        let offset = index / 2;
        let time = time + index as u64 * 1_000_000;
        history.push(format!(
            r#"{{"time":{time},"process":"producer-0","type":"invoke","f":"send","topic":"t","key":{key},"value":"v{index}"}}"#
        ));
        history.push(format!(
            r#"{{"time":{time},"process":"producer-0","type":"ok","f":"send","value":"v{index}","topic":"t","partition":{partition},"offset":{offset}}}"#
        ));
    }
    let refs: Vec<&str> = history.iter().map(String::as_str).collect();
    lines(&refs)
}

#[test]
fn stale_partitions_forty_keyless_sends_after_growth_to_four_all_on_the_old_two() {
    // fluvio #4079: the producer never used partitions added while it ran.
    let result = check(&after_growth(40, false, |index| (index % 2) as u32));
    assert_only(&result, AnomalyKind::StalePartitions, 1);
    insta::assert_snapshot!("stale_partitions", result.to_json());
}

#[test]
fn not_stale_partitions_while_the_producer_may_not_have_refreshed_its_metadata() {
    // Swarm seed 1472 (correct build): a crash and 27% packet loss delayed producer-1's metadata refresh by
    // 1.6 s after the growth; its 77 sends in that time all went to the partitions it knew of.
    let within_grace = after_growth_at(3, 77, false, |index| (index % 2) as u32);
    assert_valid(&check(&within_grace));
    // 40 sends counted (5 s on), all old: stale. The first of them one nanosecond earlier: not counted, 39 left.
    assert_only(
        &check(&after_growth_at(FIVE_S_AFTER_GROWTH, 40, false, |index| {
            (index % 2) as u32
        })),
        AnomalyKind::StalePartitions,
        1,
    );
    assert_valid(&check(&after_growth_at(
        FIVE_S_AFTER_GROWTH - 1,
        40,
        false,
        |index| (index % 2) as u32,
    )));
}

#[test]
fn not_stale_partitions_with_39_sends() {
    assert_valid(&check(&after_growth(39, false, |index| (index % 2) as u32)));
}

#[test]
fn not_stale_partitions_once_one_send_lands_on_a_new_partition() {
    assert_valid(&check(&after_growth(80, false, |index| {
        if index == 70 {
            3
        } else {
            (index % 2) as u32
        }
    })));
}

/// Swarm seed 1274 (correct build): the new partition's replicas but its leader were down, so it took no
/// writes (`not_enough_replicas`): sends routed there failed, and every acknowledged one was on an old
/// partition. A failed (unplaced) keyless send after the grace makes the window prove nothing.
#[test]
fn not_stale_partitions_when_a_keyless_send_after_the_grace_was_not_acknowledged() {
    let mut history = after_growth(40, false, |index| (index % 2) as u32);
    let time = FIVE_S_AFTER_GROWTH + 50_000_000;
    history.push_str(&format!(
        "{{\"time\":{time},\"process\":\"producer-0\",\"type\":\"invoke\",\"f\":\"send\",\"topic\":\"t\",\"key\":null,\"value\":\"lost\"}}\n"
    ));
    history.push_str(&format!(
        "{{\"time\":{time},\"process\":\"producer-0\",\"type\":\"fail\",\"f\":\"send\",\"value\":\"lost\",\"error\":\"request_timed_out\"}}\n"
    ));
    assert_valid(&check(&history));
}

/// A new partition without a leader (`offline`) is skipped by a correct producer: its sends count only once
/// a new partition has had a leader for the whole grace.
#[test]
fn not_stale_partitions_while_every_new_partition_is_offline() {
    let offline = |partition: u32| {
        format!(
            "{{\"time\":3,\"process\":\"cluster\",\"type\":\"ok\",\"f\":\"offline\",\"topic\":\"t\",\"partition\":{partition},\"epoch\":1}}\n"
        )
    };
    // `after_growth`'s first two lines are the partition counts; the events go right after them.
    let with = |sends: usize, events: &[String]| {
        let history = after_growth(sends, false, |index| (index % 2) as u32);
        let mut lines: Vec<&str> = history.lines().collect();
        let events: Vec<&str> = events.iter().map(|event| event.trim_end()).collect();
        lines.splice(2..2, events);
        lines.join("\n") + "\n"
    };
    assert_valid(&check(&with(40, &[offline(2), offline(3)])));
    // Partition 3 has a leader again at time 4: from the second send on (5 s later), the producer should
    // have used it; 40 of the 41 sends count.
    let leader = "{\"time\":4,\"process\":\"cluster\",\"type\":\"ok\",\"f\":\"leader\",\"topic\":\"t\",\"partition\":3,\"broker\":1,\"epoch\":2}".to_string();
    assert_only(
        &check(&with(41, &[offline(2), offline(3), leader])),
        AnomalyKind::StalePartitions,
        1,
    );
}

#[test]
fn keyed_sends_do_not_count_for_stale_partitions() {
    assert_valid(&check(&after_growth(40, true, |index| (index % 2) as u32)));
}

// ---------------------------------------------------------------------------------------------------------------
// producer-stalled

#[test]
fn producer_stalled_a_send_invoked_after_the_heal_fails() {
    let result = check(&lines(&[
        r#"{"time":1,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#,
        r#"{"time":2,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":3,"process":"producer-0","type":"fail","f":"send","value":"a","error":"unknown_topic_or_partition"}"#,
    ]));
    assert_only(&result, AnomalyKind::ProducerStalled, 1);
    assert_eq!(result.anomalies[0].events, vec![1, 2, 3]);
    insta::assert_snapshot!("producer_stalled", result.to_json());
}

#[test]
fn not_producer_stalled_when_the_send_was_invoked_before_the_heal() {
    assert_valid(&check(&lines(&[
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#,
        r#"{"time":3,"process":"producer-0","type":"fail","f":"send","value":"a","error":"request_timed_out"}"#,
    ])));
}

#[test]
fn not_producer_stalled_when_a_new_fault_began_after_the_heal() {
    assert_valid(&check(&lines(&[
        r#"{"time":1,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#,
        r#"{"time":2,"process":"nemesis","type":"info","f":"fault","fault":"crash","target":"broker-1"}"#,
        r#"{"time":3,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":4,"process":"producer-0","type":"fail","f":"send","value":"a","error":"not_leader_or_follower"}"#,
    ])));
}

/// Swarm seed 7163's shape: producer-0 writes `a` at t/0 offset 5, which is read; `evidence` comes next; a send is invoked after
/// the heal; then `fatal` lines (librdkafka's fatal error: the application is told the producer is unusable),
/// and the send fails, as does one invoked after the fatal error.
fn fail_after_fatal(evidence: &[&str], fatal: &[&str]) -> String {
    let mut history = vec![
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":5}"#,
        r#"{"time":2,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":5,"value":"a"}]}"#,
    ];
    history.extend_from_slice(evidence);
    history.extend_from_slice(&[
        r#"{"time":4,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#,
        r#"{"time":5,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"b"}"#,
    ]);
    history.extend_from_slice(fatal);
    history.extend_from_slice(&[
        r#"{"time":7,"process":"producer-0","type":"fail","f":"send","value":"b","error":"unknown_producer_id"}"#,
        r#"{"time":8,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"c"}"#,
        r#"{"time":8,"process":"producer-0","type":"fail","f":"send","value":"c","error":"unknown_producer_id"}"#,
    ]);
    lines(&history)
}

const FATAL_T_0: &str = r#"{"time":6,"process":"producer-0","type":"ok","f":"fatal","topic":"t","partition":0,"error":"unknown_producer_id"}"#;
const LOG_START_6_OF_T_0: &str = r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":6}"#;

#[test]
fn not_producer_stalled_after_a_fatal_error_that_retention_explains() {
    // Retention passed offset 5, the last acknowledged to producer-0 in t/0, and its producer state with it; the
    // producer told the application it can send no more: its fails are reported, not a stall.
    assert_valid(&check(&fail_after_fatal(
        &[LOG_START_6_OF_T_0],
        &[FATAL_T_0],
    )));
}

#[test]
fn not_producer_stalled_after_a_fatal_error_that_an_expire_pid_fault_explains() {
    assert_valid(&check(&fail_after_fatal(
        &[
            r#"{"time":3,"process":"nemesis","type":"info","f":"fault","fault":"expire-pid","target":"t-0"}"#,
        ],
        &[FATAL_T_0],
    )));
}

#[test]
fn producer_stalled_without_a_fatal_error_whatever_the_retention() {
    // The same fails without the report: the application was told nothing but the fails (franz-go #805's stop).
    let result = check(&fail_after_fatal(&[LOG_START_6_OF_T_0], &[]));
    assert_only(&result, AnomalyKind::ProducerStalled, 2);
    assert_eq!(result.anomalies[0].events, vec![5, 6, 7]);
}

#[test]
fn producer_stalled_after_a_fatal_error_nothing_explains() {
    // No log start passed offset 5 (6 is needed), no expiry; and an expiry or log start of another partition, or
    // one after the fatal error, explains nothing.
    for evidence in [
        &[
            r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":5}"#,
        ][..],
        &[
            r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":1,"offset":9}"#,
        ],
        &[
            r#"{"time":3,"process":"nemesis","type":"info","f":"fault","fault":"expire-pid","target":"t-1"}"#,
        ],
        &[
            r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":6,"broker":2}"#,
        ],
        &[],
    ] {
        let result = check(&fail_after_fatal(evidence, &[FATAL_T_0]));
        assert_only(&result, AnomalyKind::ProducerStalled, 2);
        let heal_line = 4 + evidence.len() as u64;
        assert_eq!(
            result.anomalies[0].events,
            vec![heal_line, heal_line + 1, heal_line + 2, heal_line + 3],
            "{evidence:?}"
        );
        assert!(
            result.anomalies[0]
                .explanation
                .contains("after its fatal error unknown_producer_id on t/0"),
            "{}",
            result.anomalies[0].explanation
        );
    }
    // A fatal error of another partition, whose state nothing says was lost, excuses nothing either.
    let other = r#"{"time":6,"process":"producer-0","type":"ok","f":"fatal","topic":"t","partition":1,"error":"unknown_producer_id"}"#;
    assert_only(
        &check(&fail_after_fatal(&[LOG_START_6_OF_T_0], &[other])),
        AnomalyKind::ProducerStalled,
        2,
    );
}

#[test]
fn a_fatal_error_excuses_only_its_own_incarnation() {
    // producer-0 restarts after its fatal error: the new incarnation's fails are a stall again.
    let mut history = vec![
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":5}"#,
        LOG_START_6_OF_T_0,
        r#"{"time":4,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#,
        FATAL_T_0,
        r#"{"time":7,"process":"producer-0","type":"info","f":"crash"}"#,
        r#"{"time":8,"process":"producer-0","type":"ok","f":"start"}"#,
        r#"{"time":9,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"b"}"#,
        r#"{"time":9,"process":"producer-0","type":"fail","f":"send","value":"b","error":"unknown_producer_id"}"#,
    ];
    let result = check(&lines(&history));
    assert_only(&result, AnomalyKind::ProducerStalled, 1);
    // Another producer's fatal error excuses nothing of producer-0's.
    history.truncate(4);
    history.extend_from_slice(&[
        r#"{"time":6,"process":"producer-1","type":"ok","f":"fatal","topic":"t","partition":0,"error":"unknown_producer_id"}"#,
        r#"{"time":9,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"b"}"#,
        r#"{"time":9,"process":"producer-0","type":"fail","f":"send","value":"b","error":"unknown_producer_id"}"#,
    ]);
    assert_only(&check(&lines(&history)), AnomalyKind::ProducerStalled, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Reporting

#[test]
fn counts_are_exact_beyond_the_listed_anomalies() {
    // 250 internal errors: all counted, the first 100 listed, in line order.
    let error = r#"{"time":1,"process":"consumer-0","type":"fail","f":"poll","topic":"t","partition":0,"offset":3,"error":"io_error"}"#;
    let history = lines(&vec![error; 250]);
    let result = check(&history);
    assert_eq!(result.count(AnomalyKind::InternalError), 250);
    assert_eq!(
        result.anomalies.len(),
        oracle::ANOMALIES_LISTED_PER_KIND_MAX
    );
    let listed: Vec<u64> = result
        .anomalies
        .iter()
        .map(|anomaly| anomaly.events[0])
        .collect();
    assert_eq!(listed, (1..=100).collect::<Vec<u64>>());
    assert!(result
        .render_text()
        .contains("internal-error (250, the first 100 listed):"));
}

#[test]
fn anomalies_are_ordered_by_kind_then_lines_and_rendered_for_the_terminal() {
    let result = check(&lines(&[
        r#"{"time":1,"process":"consumer-0","type":"fail","f":"poll","topic":"t","partition":0,"offset":3,"error":"io_error"}"#,
        r#"{"time":2,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":3,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
        r#"{"time":4,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":4,"value":"b"}]}"#,
        r#"{"time":5,"process":"someone","type":"ok","f":"transmogrify"}"#,
    ]));
    assert_eq!(
        result.kinds(),
        vec![AnomalyKind::LostWrite, AnomalyKind::InternalError]
    );
    assert_eq!(result.stats.ignored_events, 1);
    insta::assert_snapshot!("terminal_rendering", result.render_text());
}

#[test]
fn a_valid_history_renders_a_valid_line() {
    let result = check(&lines(&[
        r#"{"time":5,"process":"consumer-0","type":"ok","f":"start"}"#,
    ]));
    assert_valid(&result);
    assert_eq!(result.render_text(), "history: 1 events, 0 sends ok, 0 records read, 0 evicted, 0 ignored\nvalid: no anomalies\n");
    insta::assert_snapshot!("valid_json", result.to_json());
}

// ---------------------------------------------------------------------------------------------------------------
// reported-data-loss

/// producer-0 writes offset 5 of t/0, then reports data loss with the given events before the report.
fn data_loss_after(before: &[&str]) -> String {
    let mut history = vec![
        r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":5}"#,
    ];
    history.extend_from_slice(before);
    history.push(
        r#"{"time":9,"process":"producer-0","type":"ok","f":"data_loss","topic":"t","partition":0,"offset":0}"#,
    );
    lines(&history)
}

#[test]
fn reported_data_loss_without_an_expiry_or_retention_to_explain_it() {
    let result = check(&data_loss_after(&[]));
    assert_only(&result, AnomalyKind::ReportedDataLoss, 1);
    assert_eq!(result.anomalies[0].events, vec![3]);
}

#[test]
fn a_data_loss_report_after_an_expire_pid_fault_of_the_partition_is_explained() {
    assert_valid(&check(&data_loss_after(&[
        r#"{"time":3,"process":"nemesis","type":"info","f":"fault","fault":"expire-pid","target":"t-0"}"#,
    ])));
    // An expiry of another partition explains nothing.
    assert_only(
        &check(&data_loss_after(&[
            r#"{"time":3,"process":"nemesis","type":"info","f":"fault","fault":"expire-pid","target":"t-1"}"#,
        ])),
        AnomalyKind::ReportedDataLoss,
        1,
    );
}

#[test]
fn a_data_loss_report_after_retention_passed_the_acknowledged_records_is_explained() {
    assert_valid(&check(&data_loss_after(&[
        r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":6}"#,
    ])));
    // A log start that has not passed offset 5 explains nothing.
    assert_only(
        &check(&data_loss_after(&[
            r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":5}"#,
        ])),
        AnomalyKind::ReportedDataLoss,
        1,
    );
}

// ---------------------------------------------------------------------------------------------------------------
// spurious-out-of-range, read-above-high-watermark: what fetch answers carried

const LEADER_1: &str = r#"{"time":1,"process":"cluster","type":"ok","f":"leader","topic":"t","partition":0,"broker":1,"epoch":1}"#;
/// consumer-0's fetch of t/0 at offset 0 from broker 1, answered with high watermark 5 and log start 0.
const EXPOSED_5: &str = r#"{"time":2,"process":"consumer-0","type":"ok","f":"request","api":"fetch","topic":"t","partition":0,"offset":0,"broker":1,"error":null,"progress":true,"high_watermark":5,"log_start_offset":0}"#;

/// consumer-0's fetch of t/0 at `offset` from `broker`, answered offset_out_of_range.
fn out_of_range(offset: u64, broker: u32) -> String {
    format!(
        r#"{{"time":5,"process":"consumer-0","type":"fail","f":"request","api":"fetch","topic":"t","partition":0,"offset":{offset},"broker":{broker},"error":"offset_out_of_range","progress":false}}"#
    )
}

/// consumer-0's reset of t/0 for out_of_range.
fn reset_out_of_range(from: u64, to: u64) -> String {
    format!(
        r#"{{"time":6,"process":"consumer-0","type":"ok","f":"reset","topic":"t","partition":0,"from":{from},"to":{to},"reason":"out_of_range"}}"#
    )
}

#[test]
fn spurious_out_of_range_from_the_leader_at_or_below_an_exposed_high_watermark() {
    for offset in [3, 5] {
        let result = check(&lines(&[LEADER_1, EXPOSED_5, &out_of_range(offset, 1)]));
        assert_only(&result, AnomalyKind::SpuriousOutOfRange, 1);
        assert_eq!(result.anomalies[0].events, vec![1, 2, 3]);
        if offset == 5 {
            // The high watermark itself is the next offset to be written: in range (an empty answer).
            insta::assert_snapshot!("spurious_out_of_range", result.to_json());
        }
    }
}

#[test]
fn not_spurious_out_of_range_above_the_high_watermark_or_before_it_was_exposed() {
    assert_valid(&check(&lines(&[LEADER_1, EXPOSED_5, &out_of_range(6, 1)])));
    let later = EXPOSED_5.replace("\"time\":2", "\"time\":5");
    assert_valid(&check(&lines(&[LEADER_1, &out_of_range(3, 1), &later])));
    // A fetch answer without a high watermark (a history recorded without them) exposes nothing.
    let without = r#"{"time":2,"process":"consumer-0","type":"ok","f":"request","api":"fetch","topic":"t","partition":0,"offset":0,"broker":1,"error":null,"progress":true}"#;
    assert_valid(&check(&lines(&[LEADER_1, without, &out_of_range(3, 1)])));
}

#[test]
fn not_spurious_out_of_range_from_a_broker_that_is_not_the_leader_of_record() {
    // A KIP-392 follower (its log start may be ahead), a deposed or stale leader: correct where they are.
    assert_valid(&check(&lines(&[LEADER_1, EXPOSED_5, &out_of_range(3, 2)])));
    // Without any `leader` event nothing says who leads.
    assert_valid(&check(&lines(&[EXPOSED_5, &out_of_range(3, 1)])));
    // Offline: no leader until the next `leader` event.
    let offline = r#"{"time":3,"process":"cluster","type":"ok","f":"offline","topic":"t","partition":0,"epoch":2}"#;
    assert_valid(&check(&lines(&[
        LEADER_1,
        EXPOSED_5,
        offline,
        &out_of_range(3, 1),
    ])));
    // Elected again: judged again.
    let again = r#"{"time":4,"process":"cluster","type":"ok","f":"leader","topic":"t","partition":0,"broker":1,"epoch":3}"#;
    let result = check(&lines(&[
        LEADER_1,
        EXPOSED_5,
        offline,
        again,
        &out_of_range(3, 1),
    ]));
    assert_only(&result, AnomalyKind::SpuriousOutOfRange, 1);
    assert_eq!(result.anomalies[0].events, vec![2, 4, 5]);
}

#[test]
fn not_spurious_out_of_range_below_a_log_start_of_the_partition_or_of_that_replica() {
    let authoritative = r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":4}"#;
    assert_valid(&check(&lines(&[
        LEADER_1,
        EXPOSED_5,
        authoritative,
        &out_of_range(3, 1),
    ])));
    let replica_1 = r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":4,"broker":1}"#;
    assert_valid(&check(&lines(&[
        LEADER_1,
        EXPOSED_5,
        replica_1,
        &out_of_range(3, 1),
    ])));
    // What broker 1's own answer said of its log start counts too.
    let answered_4 = r#"{"time":3,"process":"consumer-1","type":"ok","f":"request","api":"fetch","topic":"t","partition":0,"offset":4,"broker":1,"error":null,"progress":false,"high_watermark":5,"log_start_offset":4}"#;
    assert_valid(&check(&lines(&[
        LEADER_1,
        EXPOSED_5,
        answered_4,
        &out_of_range(3, 1),
    ])));
    // Another replica's log start says nothing of the leader's log.
    let replica_2 = r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":4,"broker":2}"#;
    assert_only(
        &check(&lines(&[
            LEADER_1,
            EXPOSED_5,
            replica_2,
            &out_of_range(3, 1),
        ])),
        AnomalyKind::SpuriousOutOfRange,
        1,
    );
    // At the log start itself the offset is in range.
    assert_only(
        &check(&lines(&[
            LEADER_1,
            EXPOSED_5,
            authoritative,
            &out_of_range(4, 1),
        ])),
        AnomalyKind::SpuriousOutOfRange,
        1,
    );
}

#[test]
fn a_reset_for_out_of_range_without_an_answer_is_judged_and_after_one_is_not_again() {
    let result = check(&lines(&[LEADER_1, EXPOSED_5, &reset_out_of_range(3, 0)]));
    assert_only(&result, AnomalyKind::SpuriousOutOfRange, 1);
    assert_eq!(result.anomalies[0].events, vec![2, 3]);
    // After the leader's spurious answer, the reset is its consequence: one anomaly, the answer's.
    let result = check(&lines(&[
        LEADER_1,
        EXPOSED_5,
        &out_of_range(3, 1),
        &reset_out_of_range(3, 0),
    ]));
    assert_only(&result, AnomalyKind::SpuriousOutOfRange, 1);
    assert_eq!(result.anomalies[0].events, vec![1, 2, 3]);
    // After a follower's out-of-range (KIP-392 case 3) the reset is the client's reaction to a correct
    // answer: not judged here.
    assert_valid(&check(&lines(&[
        LEADER_1,
        EXPOSED_5,
        &out_of_range(3, 2),
        &reset_out_of_range(3, 0),
    ])));
}

#[test]
fn not_spurious_a_reset_below_the_log_start_above_the_high_watermark_or_for_another_reason() {
    let authoritative = r#"{"time":3,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":4}"#;
    assert_valid(&check(&lines(&[
        EXPOSED_5,
        authoritative,
        &reset_out_of_range(3, 4),
    ])));
    assert_valid(&check(&lines(&[EXPOSED_5, &reset_out_of_range(6, 5)])));
    assert_valid(&check(&lines(&[
        EXPOSED_5,
        r#"{"time":6,"process":"consumer-0","type":"ok","f":"reset","topic":"t","partition":0,"from":3,"to":0,"reason":"seek"}"#,
    ])));
}

/// consumer-0's fetch of t/0 at 0 answered with high watermark 2, then a poll of the given offsets.
fn read_after_high_watermark_2(answer: &str, offsets: &[u64]) -> String {
    let records: Vec<String> = offsets
        .iter()
        .map(|offset| {
            format!(r#"{{"topic":"t","partition":0,"offset":{offset},"value":"v{offset}"}}"#)
        })
        .collect();
    let poll = format!(
        r#"{{"time":3,"process":"consumer-0","type":"ok","f":"poll","records":[{}]}}"#,
        records.join(",")
    );
    lines(&[answer, &poll])
}

const ANSWER_HW_2: &str = r#"{"time":2,"process":"consumer-0","type":"ok","f":"request","api":"fetch","topic":"t","partition":0,"offset":0,"broker":1,"error":null,"progress":true,"high_watermark":2,"log_start_offset":0}"#;

#[test]
fn read_above_high_watermark_a_delivery_at_or_above_what_the_answers_carried() {
    let result = check(&read_after_high_watermark_2(ANSWER_HW_2, &[0, 1, 2]));
    assert_only(&result, AnomalyKind::ReadAboveHighWatermark, 1);
    assert_eq!(result.anomalies[0].events, vec![1, 2]);
    insta::assert_snapshot!("read_above_high_watermark", result.to_json());
}

#[test]
fn not_read_above_high_watermark_below_it_or_when_an_answer_did_not_say() {
    assert_valid(&check(&read_after_high_watermark_2(ANSWER_HW_2, &[0, 1])));
    // An answer that moved the position without a high watermark may have brought the record.
    let unknown = r#"{"time":1,"process":"consumer-0","type":"ok","f":"request","api":"fetch","topic":"t","partition":0,"offset":0,"broker":1,"error":null,"progress":true}"#;
    let history = read_after_high_watermark_2(ANSWER_HW_2, &[0, 1, 2]);
    assert_valid(&check(&format!("{unknown}\n{history}")));
    // Another consumer's high watermark says nothing of this one's answers.
    let other = ANSWER_HW_2.replace("consumer-0", "consumer-1");
    assert_valid(&check(&read_after_high_watermark_2(&other, &[0, 1, 2])));
}
