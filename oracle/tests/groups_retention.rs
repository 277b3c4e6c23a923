//! `offsets-expired-early` judged by the retention an `offsets_expired` carries: a group that accepted a
//! member's commit within one retention before the expiry was not empty long enough (KIP-211; KAFKA-13636,
//! where a group that had emptied and rejoined lost its older offsets during the join).

mod common;

use common::{assert_only, assert_valid, check};
use oracle::AnomalyKind;

const MS: u64 = 1_000_000;

/// consumer-0 joins generation 1, is assigned t-1 and t-2, commits t-1 (invoked at `commit_at_ms`, ok 1 ms
/// later), and leaves; at `expired_at_ms` the cluster expires t-2 with a retention of 5000 ms.
fn history(commit_at_ms: u64, expired_at_ms: u64, retention: &str) -> String {
    let lines = [
        format!(
            r#"{{"time":{},"process":"consumer-0","type":"ok","f":"start"}}"#,
            MS
        ),
        format!(
            r#"{{"time":{},"process":"consumer-0","type":"ok","f":"join","group":"g","generation":1,"member":"m-1","leader":true}}"#,
            2 * MS
        ),
        format!(
            r#"{{"time":{},"process":"consumer-0","type":"ok","f":"assignment","group":"g","generation":1,"member":"m-1","partitions":[{{"topic":"t","partition":1}},{{"topic":"t","partition":2}}]}}"#,
            3 * MS
        ),
        format!(
            r#"{{"time":{},"process":"consumer-0","type":"invoke","f":"commit","topic":"t","partition":1,"offset":0,"group":"g","generation":1}}"#,
            commit_at_ms * MS
        ),
        format!(
            r#"{{"time":{},"process":"consumer-0","type":"ok","f":"commit","topic":"t","partition":1,"offset":0,"group":"g","generation":1}}"#,
            (commit_at_ms + 1) * MS
        ),
        format!(
            r#"{{"time":{},"process":"consumer-0","type":"ok","f":"revoke","group":"g","generation":1,"partitions":[{{"topic":"t","partition":1}},{{"topic":"t","partition":2}}]}}"#,
            (commit_at_ms + 2) * MS
        ),
        format!(
            r#"{{"time":{},"process":"consumer-0","type":"ok","f":"leave","group":"g","member":"m-1"}}"#,
            (commit_at_ms + 3) * MS
        ),
        format!(
            r#"{{"time":{},"process":"cluster","type":"ok","f":"offsets_expired","group":"g","partitions":[{{"topic":"t","partition":2}}]{retention}}}"#,
            expired_at_ms * MS
        ),
    ];
    lines.join("\n") + "\n"
}

#[test]
fn an_expiry_within_a_retention_of_a_member_commit_is_early() {
    let result = check(&history(100, 3_000, r#","retention_ms":5000"#));
    assert_only(&result, AnomalyKind::OffsetsExpiredEarly, 1);
    assert_eq!(result.anomalies[0].events, vec![4, 5, 8]);
}

#[test]
fn an_expiry_a_retention_after_the_last_member_commit_is_not() {
    // Empty since ~103 ms at the latest; 5000 ms later its offsets may go.
    assert_valid(&check(&history(100, 5_200, r#","retention_ms":5000"#)));
}

#[test]
fn an_expiry_without_a_retention_is_not_judged_by_time() {
    assert_valid(&check(&history(100, 3_000, "")));
}
