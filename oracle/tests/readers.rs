//! Which records a reader was expected to read: a consumer that starts at its reset policy's
//! position (`auto.offset.reset = latest`) or jumps over records the log no longer has did not
//! lose what lies before; one that jumps over records the log still has did (KAFKA-2477).

mod common;

use oracle::AnomalyKind;

/// Offsets 0..5 of t/0 are acknowledged; the consumer's events follow, then a heal.
fn history(consumer: &[&str]) -> String {
    let mut lines = vec![
        r#"{"time":0,"process":"cluster","type":"ok","f":"partitions","topic":"t","count":1}"#
            .to_string(),
    ];
    for n in 0..5 {
        lines.push(format!(
            r#"{{"time":{},"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"v{n}"}}"#,
            10 + 2 * n
        ));
        lines.push(format!(
            r#"{{"time":{},"process":"producer-0","type":"ok","f":"send","value":"v{n}","topic":"t","partition":0,"offset":{n}}}"#,
            11 + 2 * n
        ));
    }
    lines.push(
        r#"{"time":30,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#.to_string(),
    );
    lines.extend(consumer.iter().map(|line| line.to_string()));
    lines.join("\n") + "\n"
}

const START: &str = r#"{"time":40,"process":"consumer-0","type":"ok","f":"start"}"#;

fn poll(time: u64, offset: u64) -> String {
    format!(
        r#"{{"time":{time},"process":"consumer-0","type":"ok","f":"poll","records":[{{"topic":"t","partition":0,"offset":{offset},"value":"v{offset}"}}]}}"#
    )
}

#[test]
fn a_consumer_that_starts_at_the_log_end_is_not_expected_to_read_what_came_before() {
    let assign = r#"{"time":41,"process":"consumer-0","type":"ok","f":"assign","partitions":[{"topic":"t","partition":0,"offset":3}]}"#;
    let (p3, p4) = (poll(42, 3), poll(43, 4));
    common::assert_valid(&common::check(&history(&[START, assign, &p3, &p4])));
}

#[test]
fn a_consumer_that_starts_below_and_reads_past_lost_what_it_skipped() {
    let assign = r#"{"time":41,"process":"consumer-0","type":"ok","f":"assign","partitions":[{"topic":"t","partition":0,"offset":2}]}"#;
    let (p3, p4) = (poll(42, 3), poll(43, 4));
    // Offset 2 lies in its range and was never read: lost. 0 and 1 lie below its start.
    common::assert_only(
        &common::check(&history(&[START, assign, &p3, &p4])),
        AnomalyKind::LostWrite,
        1,
    );
}

#[test]
fn a_reset_over_records_the_log_still_has_loses_them() {
    let assign = r#"{"time":41,"process":"consumer-0","type":"ok","f":"assign","partitions":[{"topic":"t","partition":0,"offset":0}]}"#;
    let p0 = poll(42, 0);
    let reset = r#"{"time":43,"process":"consumer-0","type":"ok","f":"reset","topic":"t","partition":0,"from":1,"to":4,"reason":"out_of_range"}"#;
    let p4 = poll(44, 4);
    common::assert_only(
        &common::check(&history(&[START, assign, &p0, reset, &p4])),
        AnomalyKind::LostWrite,
        3,
    );
}

#[test]
fn a_reset_from_below_the_log_start_skips_on_purpose() {
    let assign = r#"{"time":41,"process":"consumer-0","type":"ok","f":"assign","partitions":[{"topic":"t","partition":0,"offset":0}]}"#;
    let p0 = poll(42, 0);
    let log_start = r#"{"time":43,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":2}"#;
    let reset = r#"{"time":44,"process":"consumer-0","type":"ok","f":"reset","topic":"t","partition":0,"from":1,"to":4,"reason":"out_of_range"}"#;
    let p4 = poll(45, 4);
    // 1 is evicted; 2 and 3 were still there, but the reset (auto.offset.reset = latest after a
    // real out-of-range) jumped over them on purpose.
    let result = common::check(&history(&[START, assign, &p0, log_start, reset, &p4]));
    common::assert_valid(&result);
    assert_eq!(result.stats.evicted, 1);
}

#[test]
fn a_partition_nobody_reads_is_still_expected_after_the_heal() {
    let result = common::check(&history(&[START]));
    common::assert_only(&result, AnomalyKind::Unseen, 5);
}

/// A consumer that crashed before its first commit and starts again at the log end
/// (`auto.offset.reset = latest`) skipped what came in between on purpose (swarm seed 7455); one
/// that had committed and starts again past its commit lost what it skipped.
#[test]
fn a_restart_from_the_reset_policy_skips_on_purpose_one_from_a_commit_does_not() {
    let assign = |time: u64, offset: u64| {
        format!(
            r#"{{"time":{time},"process":"consumer-0","type":"ok","f":"assign","partitions":[{{"topic":"t","partition":0,"offset":{offset}}}]}}"#
        )
    };
    let first = assign(41, 0);
    let p0 = poll(42, 0);
    let crash = r#"{"time":43,"process":"consumer-0","type":"info","f":"crash"}"#;
    let restart = r#"{"time":44,"process":"consumer-0","type":"ok","f":"start"}"#;
    let again = assign(45, 4);
    let p4 = poll(46, 4);
    common::assert_valid(&common::check(&history(&[
        START, &first, &p0, crash, restart, &again, &p4,
    ])));
    let commit = r#"{"time":42,"process":"consumer-0","type":"ok","f":"commit","topic":"t","partition":0,"offset":1}"#;
    common::assert_only(
        &common::check(&history(&[
            START, &first, &p0, commit, crash, restart, &again, &p4,
        ])),
        AnomalyKind::LostWrite,
        3,
    );
}
