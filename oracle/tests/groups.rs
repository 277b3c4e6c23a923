//! Consumer groups (docs/history-format.md, "Consumer groups"): each group invariant with a history that has its
//! anomaly (exactly that kind, with the lines that prove it) and histories that come close without having it.

mod common;

use common::{assert_only, assert_valid};
use oracle::{AnomalyKind, CheckResult};

/// A history built line by line; every method returns the 1-based line it wrote.
#[derive(Default)]
struct History {
    lines: Vec<String>,
}

fn partitions(list: &[u32]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|p| format!(r#"{{"topic":"t","partition":{p}}}"#))
        .collect();
    format!("[{}]", items.join(","))
}

impl History {
    fn push(&mut self, process: &str, event_type: &str, f: &str, fields: &str) -> u64 {
        let time = self.lines.len() as u64 + 1;
        let comma = if fields.is_empty() { "" } else { "," };
        self.lines.push(format!(
            r#"{{"time":{time},"process":"{process}","type":"{event_type}","f":"{f}"{comma}{fields}}}"#
        ));
        self.lines.len() as u64
    }

    fn start(&mut self, process: &str) -> u64 {
        self.push(process, "ok", "start", "")
    }

    fn crash(&mut self, process: &str) -> u64 {
        self.push(process, "info", "crash", "")
    }

    fn close(&mut self, process: &str) -> u64 {
        self.push(process, "ok", "close", "")
    }

    fn join(&mut self, process: &str, generation: u32, member: &str, leader: bool) -> u64 {
        self.push(
            process,
            "ok",
            "join",
            &format!(
                r#""group":"g","generation":{generation},"member":"{member}","leader":{leader},"protocol":"range""#
            ),
        )
    }

    fn assignment(&mut self, process: &str, generation: u32, member: &str, list: &[u32]) -> u64 {
        self.push(
            process,
            "ok",
            "assignment",
            &format!(
                r#""group":"g","generation":{generation},"member":"{member}","partitions":{}"#,
                partitions(list)
            ),
        )
    }

    fn revoke(&mut self, process: &str, generation: u32, list: &[u32]) -> u64 {
        self.push(
            process,
            "ok",
            "revoke",
            &format!(
                r#""group":"g","generation":{generation},"partitions":{}"#,
                partitions(list)
            ),
        )
    }

    fn leave(&mut self, process: &str, member: &str) -> u64 {
        self.push(
            process,
            "ok",
            "leave",
            &format!(r#""group":"g","member":"{member}""#),
        )
    }

    fn expired(&mut self, list: &[u32]) -> u64 {
        self.push(
            "cluster",
            "ok",
            "offsets_expired",
            &format!(r#""group":"g","partitions":{}"#, partitions(list)),
        )
    }

    fn expired_topic(&mut self, topic: &str) -> u64 {
        self.push(
            "cluster",
            "ok",
            "offsets_expired",
            &format!(r#""group":"g","partitions":[{{"topic":"{topic}","partition":0}}]"#),
        )
    }

    /// A group commit of t/`partition`; `generation` None: a commit with the group only.
    fn commit(
        &mut self,
        process: &str,
        event_type: &str,
        partition: u32,
        offset: u64,
        generation: Option<u32>,
    ) -> u64 {
        let generation = generation.map_or(String::new(), |g| format!(r#","generation":{g}"#));
        self.push(
            process,
            event_type,
            "commit",
            &format!(
                r#""topic":"t","partition":{partition},"offset":{offset},"group":"g"{generation}"#
            ),
        )
    }

    /// Commit invoke then ok: (invoke line, ok line).
    fn committed(
        &mut self,
        process: &str,
        partition: u32,
        offset: u64,
        generation: u32,
    ) -> (u64, u64) {
        (
            self.commit(process, "invoke", partition, offset, Some(generation)),
            self.commit(process, "ok", partition, offset, Some(generation)),
        )
    }

    fn assign(&mut self, process: &str, partition: u32, offset: u64) -> u64 {
        self.push(
            process,
            "ok",
            "assign",
            &format!(r#""partitions":[{{"topic":"t","partition":{partition},"offset":{offset}}}]"#),
        )
    }

    fn reset(&mut self, process: &str, partition: u32, from: u64, to: u64) -> u64 {
        self.push(
            process,
            "ok",
            "reset",
            &format!(
                r#""topic":"t","partition":{partition},"from":{from},"to":{to},"reason":"seek""#
            ),
        )
    }

    /// A poll delivering t/`partition` offsets `from..to` (values `v<partition>-<offset>`).
    fn poll(&mut self, process: &str, partition: u32, offsets: std::ops::Range<u64>) -> u64 {
        let records: Vec<String> = offsets
            .map(|o| {
                format!(r#"{{"topic":"t","partition":{partition},"offset":{o},"value":"v{partition}-{o}"}}"#)
            })
            .collect();
        self.push(
            process,
            "ok",
            "poll",
            &format!(r#""records":[{}]"#, records.join(",")),
        )
    }

    fn check(&self) -> CheckResult {
        let refs: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        common::check(&common::lines(&refs))
    }
}

/// Two members of generation 1: c0 owns t/0, c1 owns t/1; both read and commit what they own.
fn two_members() -> History {
    let mut h = History::default();
    h.start("c0");
    h.start("c1");
    h.join("c0", 1, "m0", true);
    h.join("c1", 1, "m1", false);
    h.assignment("c0", 1, "m0", &[0]);
    h.assignment("c1", 1, "m1", &[1]);
    h.assign("c0", 0, 0);
    h.assign("c1", 1, 0);
    h.poll("c0", 0, 0..5);
    h.poll("c1", 1, 0..3);
    h.committed("c0", 0, 5, 1);
    h.committed("c1", 1, 3, 1);
    h
}

/// `two_members`, then an eager rebalance to generation 2 that moves t/0 to c1 (c0 keeps nothing).
fn eager_rebalance() -> History {
    let mut h = two_members();
    h.revoke("c0", 1, &[0]);
    h.revoke("c1", 1, &[1]);
    h.join("c1", 2, "m1", true);
    h.join("c0", 2, "m0", false);
    h.assignment("c1", 2, "m1", &[0, 1]);
    h.assignment("c0", 2, "m0", &[]);
    h.assign("c1", 0, 5);
    h.assign("c1", 1, 3);
    h.poll("c1", 0, 5..8);
    h.committed("c1", 0, 8, 2);
    h
}

#[test]
fn a_correct_eager_rebalance_is_valid() {
    let mut h = eager_rebalance();
    h.revoke("c1", 2, &[0, 1]);
    h.leave("c1", "m1");
    h.close("c1");
    h.leave("c0", "m0");
    h.close("c0");
    let result = h.check();
    assert_valid(&result);
    // join, assignment, revoke and leave are client operations; offsets_expired is the cluster's.
    assert_eq!(result.stats.operations, result.stats.events - 4);
}

// ---------------------------------------------------------------------------------------------------------------
// double-assignment

#[test]
fn double_assignment_one_partition_in_two_members_assignments_of_one_generation() {
    let mut h = History::default();
    h.join("c0", 1, "m0", true);
    h.join("c1", 1, "m1", false);
    let first = h.assignment("c0", 1, "m0", &[0, 1]);
    let second = h.assignment("c1", 1, "m1", &[1, 2]);
    let result = h.check();
    assert_only(&result, AnomalyKind::DoubleAssignment, 1);
    assert_eq!(result.anomalies[0].events, vec![first, second]);
    insta::assert_snapshot!("double_assignment", result.to_json());
}

#[test]
fn not_double_assignment_across_generations_or_for_one_member_twice() {
    let mut h = History::default();
    h.join("c0", 1, "m0", true);
    h.assignment("c0", 1, "m0", &[0, 1]);
    // The same answer recorded twice (a repeated SyncGroup).
    h.assignment("c0", 1, "m0", &[0, 1]);
    h.revoke("c0", 1, &[1]);
    h.join("c0", 2, "m0", true);
    h.join("c1", 2, "m1", false);
    h.assignment("c0", 2, "m0", &[0]);
    h.assignment("c1", 2, "m1", &[1]);
    assert_valid(&h.check());
}

#[test]
fn not_double_assignment_when_the_group_started_over() {
    // The coordinator forgot the group (a restart): its members join again with new ids and generations
    // count from 1 again.
    let mut h = History::default();
    h.join("c0", 1, "m0", true);
    h.join("c1", 1, "m1", false);
    h.assignment("c0", 1, "m0", &[0]);
    h.assignment("c1", 1, "m1", &[1]);
    // Below the highest generation seen, with a new member id.
    h.join("c0", 3, "m0", true);
    h.join("c1", 3, "m1", false);
    h.assignment("c0", 3, "m0", &[0]);
    h.assignment("c1", 3, "m1", &[1]);
    h.join("c1", 1, "m1b", true);
    h.join("c0", 1, "m0b", false);
    h.assignment("c1", 1, "m1b", &[0]);
    h.assignment("c0", 1, "m0b", &[1]);
    assert_valid(&h.check());

    // At the same generation: a second leader of generation 1 starts it over.
    let mut h = History::default();
    h.join("c0", 1, "m0", true);
    h.join("c1", 1, "m1", false);
    h.assignment("c0", 1, "m0", &[0]);
    h.assignment("c1", 1, "m1", &[1]);
    h.join("c0", 1, "m0b", false);
    h.join("c1", 1, "m1b", true);
    h.assignment("c1", 1, "m1b", &[0]);
    h.assignment("c0", 1, "m0b", &[1]);
    assert_valid(&h.check());
}

// ---------------------------------------------------------------------------------------------------------------
// unowned-commit

#[test]
fn unowned_commit_after_the_member_revoked_the_partition() {
    let mut h = eager_rebalance();
    // c0 lost t/0 in the rebalance (line of its revoke), then commits it: librdkafka #2782.
    let (invoke, ok) = h.committed("c0", 0, 8, 2);
    let result = h.check();
    assert_only(&result, AnomalyKind::UnownedCommit, 1);
    assert_eq!(result.anomalies[0].events, vec![15, invoke, ok]);
    insta::assert_snapshot!("unowned_commit", result.to_json());
}

#[test]
fn unowned_commit_of_a_partition_no_assignment_gave() {
    let mut h = two_members();
    // c1 owns t/1 only.
    let (invoke, ok) = h.committed("c1", 0, 9, 1);
    let result = h.check();
    assert_only(&result, AnomalyKind::UnownedCommit, 1);
    assert_eq!(result.anomalies[0].events, vec![6, invoke, ok]);
    assert!(
        result.anomalies[0].explanation.contains("did not name it"),
        "{}",
        result.anomalies[0].explanation
    );

    // And after a restart without a new assignment.
    let mut h = two_members();
    h.crash("c1");
    let restart = h.start("c1");
    let (invoke, ok) = h.committed("c1", 1, 4, 1);
    let result = h.check();
    assert_only(&result, AnomalyKind::UnownedCommit, 1);
    assert_eq!(result.anomalies[0].events, vec![restart - 1, invoke, ok]);
}

#[test]
fn a_cooperative_member_owns_what_it_gives_up_until_its_revoke() {
    // Generation 2 leaves t/0 out of c0's assignment; c0 commits it and then revokes it.
    let mut h = two_members();
    h.join("c0", 2, "m0", true);
    h.join("c1", 2, "m1", false);
    h.assignment("c0", 2, "m0", &[]);
    h.assignment("c1", 2, "m1", &[1]);
    h.committed("c0", 0, 5, 2);
    h.revoke("c0", 2, &[0]);
    h.join("c0", 3, "m0", true);
    h.join("c1", 3, "m1", false);
    h.assignment("c0", 3, "m0", &[]);
    h.assignment("c1", 3, "m1", &[0, 1]);
    h.assign("c1", 0, 5);
    h.committed("c1", 0, 5, 3);
    assert_valid(&h.check());
}

#[test]
fn a_commit_invoked_while_owned_is_owned_whenever_its_answer_comes() {
    let mut h = two_members();
    h.poll("c0", 0, 5..7);
    h.commit("c0", "invoke", 0, 7, Some(1));
    h.revoke("c0", 1, &[0]);
    h.commit("c0", "ok", 0, 7, Some(1));
    // A commit with the group but no generation is not a member's: ownership is not judged.
    h.commit("c0", "invoke", 0, 7, None);
    h.commit("c0", "ok", 0, 7, None);
    // Nor is a commit whose invoke was not recorded.
    h.commit("c0", "ok", 0, 7, Some(1));
    assert_valid(&h.check());
}

// ---------------------------------------------------------------------------------------------------------------
// fenced-commit-accepted

#[test]
fn fenced_commit_accepted_a_commit_of_an_older_generation_invoked_after_a_newer_join() {
    let mut h = two_members();
    let join = h.join("c1", 2, "m1", true);
    // c0 has not rejoined yet and still commits with generation 1: the coordinator must refuse it.
    h.poll("c0", 0, 5..6);
    let (invoke, ok) = h.committed("c0", 0, 6, 1);
    let result = h.check();
    assert_only(&result, AnomalyKind::FencedCommitAccepted, 1);
    assert_eq!(result.anomalies[0].events, vec![join, invoke, ok]);
    insta::assert_snapshot!("fenced_commit_accepted", result.to_json());
}

#[test]
fn not_fenced_when_invoked_before_the_newer_join_or_refused() {
    let mut h = two_members();
    h.poll("c0", 0, 5..6);
    h.commit("c0", "invoke", 0, 6, Some(1));
    // Another member's join of generation 2 is recorded before the answer, after the invoke.
    h.join("c1", 2, "m1", true);
    h.commit("c0", "ok", 0, 6, Some(1));
    // Refused after the join: that is what the coordinator must do.
    h.commit("c0", "invoke", 0, 6, Some(1));
    h.push(
        "c0",
        "fail",
        "commit",
        r#""topic":"t","partition":0,"offset":6,"group":"g","generation":1,"error":"illegal_generation""#,
    );
    assert_valid(&h.check());
}

#[test]
fn not_fenced_after_the_group_started_over() {
    let mut h = History::default();
    h.join("c0", 4, "m0", true);
    h.assignment("c0", 4, "m0", &[0]);
    h.revoke("c0", 4, &[0]);
    // The coordinator forgot the group: generation 1 again, a new member id.
    h.join("c0", 1, "m0b", true);
    h.assignment("c0", 1, "m0b", &[0]);
    h.committed("c0", 0, 3, 1);
    assert_valid(&h.check());
}

// ---------------------------------------------------------------------------------------------------------------
// commit-regressed, in a group

#[test]
fn commit_regressed_in_a_group_a_lower_commit_invoked_after_another_members_higher_one() {
    let mut h = eager_rebalance();
    // c1 committed t/0 offset 8 (last line); c0 gets t/0 back and commits 6.
    let higher = h.lines.len() as u64;
    h.revoke("c1", 2, &[0, 1]);
    h.join("c0", 3, "m0", true);
    h.join("c1", 3, "m1", false);
    h.assignment("c0", 3, "m0", &[0]);
    h.assignment("c1", 3, "m1", &[1]);
    let (invoke, ok) = h.committed("c0", 0, 6, 3);
    let result = h.check();
    assert_only(&result, AnomalyKind::CommitRegressed, 1);
    assert_eq!(result.anomalies[0].events, vec![higher, invoke, ok]);
    insta::assert_snapshot!("commit_regressed_in_a_group", result.to_json());
}

#[test]
fn not_commit_regressed_in_a_group_when_concurrent_reset_or_expired() {
    // Invoked before the higher commit's ok: the coordinator may have stored it first.
    let mut h = two_members();
    h.commit("c0", "invoke", 0, 6, Some(1));
    h.committed("c0", 0, 7, 1);
    h.commit("c0", "ok", 0, 6, Some(1));
    assert_valid(&h.check());

    // A reset of the partition by a process of the group to below the higher commit.
    let mut h = two_members();
    h.reset("c0", 0, 5, 2);
    h.committed("c0", 0, 3, 1);
    assert_valid(&h.check());

    // An expiry of the group's offsets (the group was empty: both left; c0 comes back as a new member).
    let mut h = two_members();
    h.revoke("c0", 1, &[0]);
    h.leave("c0", "m0");
    h.revoke("c1", 1, &[1]);
    h.leave("c1", "m1");
    h.expired(&[0]);
    h.join("c0", 3, "m0b", true);
    h.assignment("c0", 3, "m0b", &[0, 1]);
    h.committed("c0", 0, 3, 3);
    assert_valid(&h.check());
}

#[test]
fn a_reset_by_a_process_outside_the_group_excuses_nothing() {
    let mut h = two_members();
    h.reset("outsider", 0, 5, 2);
    h.committed("c0", 0, 3, 1);
    assert_only(&h.check(), AnomalyKind::CommitRegressed, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// duplicate-delivery, in a group

#[test]
fn duplicate_delivery_in_a_group_below_what_the_group_committed_before_the_assign() {
    let mut h = two_members();
    h.revoke("c0", 1, &[0]);
    h.revoke("c1", 1, &[1]);
    h.join("c1", 2, "m1", true);
    h.join("c0", 2, "m0", false);
    h.assignment("c1", 2, "m1", &[0, 1]);
    h.assignment("c0", 2, "m0", &[]);
    // c1 takes t/0 below offset 5, which c0 had committed (line 12), and reads 4 again.
    let assign = h.assign("c1", 0, 4);
    let delivered = h.poll("c1", 0, 4..6);
    let result = h.check();
    assert_only(&result, AnomalyKind::DuplicateDelivery, 1);
    assert_eq!(result.anomalies[0].events, vec![12, assign, delivered]);
    insta::assert_snapshot!("duplicate_delivery_in_a_group", result.to_json());
}

/// c0, the only member, reads t/0 and commits 5; then it is replaced: `middle` happens between the old
/// member's end and the new member's assign of t/0 at offset 0, after which it reads 0..2.
fn one_member_replaced(middle: impl FnOnce(&mut History)) -> History {
    let mut h = History::default();
    h.start("c0");
    h.join("c0", 1, "m0", true);
    h.assignment("c0", 1, "m0", &[0]);
    h.assign("c0", 0, 0);
    h.poll("c0", 0, 0..5);
    h.committed("c0", 0, 5, 1);
    middle(&mut h);
    h.join("c0", 3, "m0b", true);
    h.assignment("c0", 3, "m0b", &[0]);
    h.assign("c0", 0, 0);
    h.poll("c0", 0, 0..2);
    h
}

#[test]
fn a_legitimate_expiry_of_an_empty_group_excuses_the_redelivery() {
    // The member crashed; its session expired, the group was empty, its offsets expired (KIP-211); it
    // restarts and reads from the log start again.
    let h = one_member_replaced(|h| {
        h.crash("c0");
        h.expired(&[0]);
        h.start("c0");
    });
    assert_valid(&h.check());
    // Without the expiry the redelivery is an anomaly (the group rule; the restart rule gives way to it).
    let h = one_member_replaced(|h| {
        h.crash("c0");
        h.start("c0");
    });
    assert_only(&h.check(), AnomalyKind::DuplicateDelivery, 2);
    // After a leave and a clean close too.
    let h = one_member_replaced(|h| {
        h.revoke("c0", 1, &[0]);
        h.leave("c0", "m0");
        h.close("c0");
        h.expired(&[0]);
        h.start("c0");
    });
    assert_valid(&h.check());
}

#[test]
fn a_commit_of_unknown_outcome_or_a_seek_back_excuses_the_redelivery() {
    let h = one_member_replaced(|h| {
        h.commit("c0", "invoke", 0, 0, Some(1));
        h.commit("c0", "info", 0, 0, Some(1));
        h.revoke("c0", 1, &[0]);
        h.leave("c0", "m0");
    });
    assert_valid(&h.check());
    let h = one_member_replaced(|h| {
        h.reset("c0", 0, 5, 0);
        h.revoke("c0", 1, &[0]);
        h.leave("c0", "m0");
    });
    assert_valid(&h.check());
}

// ---------------------------------------------------------------------------------------------------------------
// offsets-expired-early

#[test]
fn offsets_expired_early_while_a_member_commits_across_it() {
    let mut h = two_members();
    let expiry = h.expired(&[0, 1]);
    h.poll("c0", 0, 5..6);
    let (invoke, ok) = h.committed("c0", 0, 6, 1);
    let result = h.check();
    assert_only(&result, AnomalyKind::OffsetsExpiredEarly, 1);
    assert_eq!(result.anomalies[0].events, vec![3, expiry, invoke, ok]);
    insta::assert_snapshot!("offsets_expired_early", result.to_json());
}

#[test]
fn offsets_expired_early_while_a_member_rejoins_as_itself() {
    let mut h = two_members();
    let expiry = h.expired(&[0]);
    let rejoin = h.join("c1", 2, "m1", true);
    let result = h.check();
    // One anomaly per expiry, whoever proves it first.
    assert_only(&result, AnomalyKind::OffsetsExpiredEarly, 1);
    assert_eq!(result.anomalies[0].events, vec![4, expiry, rejoin]);
    h.join("c0", 2, "m0", false);
    assert_only(&h.check(), AnomalyKind::OffsetsExpiredEarly, 1);
}

#[test]
fn not_early_when_the_members_left_or_were_replaced() {
    // Both left (LeaveGroup) before the expiry, and joined again with new ids after it.
    let mut h = two_members();
    h.revoke("c0", 1, &[0]);
    h.leave("c0", "m0");
    h.revoke("c1", 1, &[1]);
    h.leave("c1", "m1");
    h.expired(&[0, 1]);
    h.join("c0", 3, "m0b", true);
    h.assignment("c0", 3, "m0b", &[0, 1]);
    h.committed("c0", 0, 5, 3);
    assert_valid(&h.check());

    // A crashed member's later commits are of another incarnation; its new join is of another member.
    let mut h = two_members();
    h.crash("c0");
    h.crash("c1");
    h.expired(&[0, 1]);
    h.start("c0");
    h.join("c0", 3, "m0b", true);
    h.assignment("c0", 3, "m0b", &[0, 1]);
    h.committed("c0", 0, 5, 3);
    assert_valid(&h.check());
}

#[test]
fn not_early_when_the_commit_was_invoked_before_the_expiry() {
    let mut h = two_members();
    h.commit("c0", "invoke", 0, 5, Some(1));
    h.expired(&[0]);
    h.commit("c0", "ok", 0, 5, Some(1));
    assert_valid(&h.check());
}

#[test]
fn not_early_for_a_topic_the_members_no_longer_read() {
    // KIP-496: a stable group's offsets of topics it no longer subscribes to expire.
    let mut h = two_members();
    h.expired_topic("old");
    h.committed("c0", 0, 5, 1);
    h.join("c1", 2, "m1", true);
    assert_valid(&h.check());
}
