//! Offset retention (KIP-211): when committed offsets expire, that the expiry is journaled and
//! reported, and KAFKA-13636 (offsets expired while a group rebalances) as the
//! `OffsetExpiryPolicy::CommitTimestamp` policy — each with and without its behaviour.

mod groups;

use broker::api::*;
use broker::controller::{ControllerConfig, ControllerCore, ControllerEvent};
use broker::coordinator::{GroupConfig, GroupState};
use broker::policy::OffsetExpiryPolicy;
use bytes::Bytes;
use groups::{range, subscription, Coord};
use protocol::node::{Node, Output};
use std::time::Duration;

const RETENTION_MS: u64 = 60_000;
const CHECK_MS: u64 = 1_000;

fn config(policy: OffsetExpiryPolicy, initial_rebalance_delay_ms: u64) -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms,
        offsets_retention_ms: RETENTION_MS,
        offsets_retention_check_interval_ms: CHECK_MS,
        offset_expiry_policy: policy,
        ..GroupConfig::default()
    }
}

#[test]
fn an_empty_groups_offsets_expire_once_the_retention_has_passed_since_it_became_empty() {
    let mut h = Coord::new(1, config(OffsetExpiryPolicy::WhenEmpty, 0));
    let (member, generation) = h.lone_member("g", range(subscription(&["t"])));
    assert_eq!(h.commit("g", Some((&member, generation)), "t", 5), Ok(()));
    // Without: a group with members keeps the offset far past the retention.
    h.keep_alive("g", &[(&member, generation)], 3 * RETENTION_MS);
    assert_eq!(h.committed("g", "t"), Some(5));
    assert!(h.expired.is_empty());
    // The member leaves: the group is empty from now on.
    assert_eq!(h.leave("g", &member), Ok(()));
    assert_eq!(h.state("g"), GroupState::Empty);
    let empty_since = h.now;
    h.advance(RETENTION_MS - 2 * CHECK_MS);
    assert_eq!(h.committed("g", "t"), Some(5), "not before the retention");
    h.advance(3 * CHECK_MS);
    assert_eq!(h.committed("g", "t"), None);
    assert_eq!(h.expired_of("g"), vec![("t".to_string(), 0)]);
    assert_eq!(h.expired[0].group_state, Some(GroupState::Empty));
    assert!(h.now >= empty_since + RETENTION_MS);
    // Reported once.
    h.advance(10 * CHECK_MS);
    assert_eq!(h.expired.len(), 1);
}

#[test]
fn a_commit_to_an_empty_group_counts_from_its_own_commit_time() {
    let mut h = Coord::new(2, config(OffsetExpiryPolicy::WhenEmpty, 0));
    let (member, generation) = h.lone_member("g", range(subscription(&["t"])));
    assert_eq!(h.commit("g", Some((&member, generation)), "t", 1), Ok(()));
    assert_eq!(h.leave("g", &member), Ok(()));
    h.advance(RETENTION_MS / 2);
    // A commit without membership while Empty (Kafka's generation -1), on another topic.
    assert_eq!(h.commit("g", None, "u", 7), Ok(()));
    h.advance(RETENTION_MS / 2 + CHECK_MS);
    assert_eq!(h.committed("g", "t"), None, "retention passed since Empty");
    assert_eq!(h.committed("g", "u"), Some(7), "not since its commit");
    h.advance(RETENTION_MS / 2);
    assert_eq!(h.committed("g", "u"), None);
    assert_eq!(
        h.expired_of("g"),
        vec![("t".to_string(), 0), ("u".to_string(), 0)]
    );
}

#[test]
fn simple_commits_expire_at_their_commit_time_plus_the_retention() {
    let mut h = Coord::new(3, config(OffsetExpiryPolicy::WhenEmpty, 0));
    assert_eq!(h.commit("simple", None, "t", 3), Ok(()));
    h.advance(RETENTION_MS / 2);
    assert_eq!(h.commit("simple", None, "u", 4), Ok(()));
    h.advance(RETENTION_MS / 2 + CHECK_MS);
    assert_eq!(h.committed("simple", "t"), None);
    assert_eq!(h.committed("simple", "u"), Some(4));
    assert_eq!(
        h.expired[0].group_state, None,
        "no group state: simple commits"
    );
    // A new commit renews a partition's retention; an idle one expires.
    assert_eq!(h.commit("simple", None, "u", 5), Ok(()));
    h.advance(RETENTION_MS - 2 * CHECK_MS);
    assert_eq!(h.committed("simple", "u"), Some(5));
    h.advance(3 * CHECK_MS);
    assert_eq!(h.committed("simple", "u"), None);
    // A group that only handed out a member id (KIP-394) never had members: commit time too.
    let first = h.send_join(Coord::join_request(
        "pending",
        "",
        None,
        range(Bytes::new()),
    ));
    assert_eq!(
        h.join_answer(first).unwrap().result,
        Err(ErrorCode::MemberIdRequired)
    );
    assert_eq!(h.commit("pending", None, "t", 1), Ok(()));
    h.advance(RETENTION_MS + CHECK_MS);
    assert_eq!(h.committed("pending", "t"), None);
}

#[test]
fn the_check_runs_at_its_interval_from_the_first_tick() {
    let mut h = Coord::new(
        4,
        GroupConfig {
            offsets_retention_check_interval_ms: 10_000,
            ..config(OffsetExpiryPolicy::WhenEmpty, 0)
        },
    );
    assert_eq!(h.commit("s", None, "t", 1), Ok(()));
    // Checks at the first tick (50 ms), then at 10_050, 20_050, ... 50_050.
    h.advance(RETENTION_MS);
    assert_eq!(
        h.committed("s", "t"),
        Some(1),
        "expirable since 60_000, not checked since"
    );
    h.advance(50);
    assert_eq!(h.committed("s", "t"), None);
    assert_eq!(h.coordinator.next_deadline(), Some(70_050));
}

/// A consumer group commits `t` once, then stays Stable without committing for longer than the
/// retention (no new records); all members go (a deployment), and within the retention of that
/// a member joins again: the group rebalances from Empty through the initial rebalance delay.
/// Returns whether the offset survived the rebalance and the reports.
fn rejoin_after_an_idle_stretch(policy: OffsetExpiryPolicy) -> Coord {
    let mut h = Coord::new(5, config(policy, 3_000));
    let (member, generation) = h.lone_member("g", range(subscription(&["t"])));
    assert_eq!(h.commit("g", Some((&member, generation)), "t", 42), Ok(()));
    h.keep_alive("g", &[(&member, generation)], 2 * RETENTION_MS);
    assert_eq!(h.leave("g", &member), Ok(()));
    h.advance(RETENTION_MS / 4);
    assert_eq!(
        h.committed("g", "t"),
        Some(42),
        "the group became Empty recently"
    );
    let (_again, join) = h.join_dynamic("g", range(subscription(&["t"])));
    assert_eq!(h.state("g"), GroupState::PreparingRebalance);
    // The initial rebalance delay: retention checks run meanwhile.
    h.advance(1_500);
    assert_eq!(h.state("g"), GroupState::PreparingRebalance);
    h.advance(2_000);
    let joined = h.join_answer(join).expect("joined").result.expect("ok");
    assert_eq!(joined.generation, generation + 2);
    h
}

#[test]
fn a_rejoining_group_keeps_its_offsets_but_commit_timestamp_expiry_loses_them_kafka_13636() {
    let mut correct = rejoin_after_an_idle_stretch(OffsetExpiryPolicy::WhenEmpty);
    assert_eq!(correct.committed("g", "t"), Some(42));
    assert!(correct.expired.is_empty());
    // Without members again, the offset lives out its retention from the new Empty time.
    correct.advance(RETENTION_MS / 2);
    assert_eq!(correct.committed("g", "t"), Some(42));

    let buggy = rejoin_after_an_idle_stretch(OffsetExpiryPolicy::CommitTimestamp);
    assert_eq!(
        buggy.committed("g", "t"),
        None,
        "expired during the rebalance"
    );
    assert_eq!(buggy.expired.len(), 1);
    assert_eq!(
        buggy.expired[0].partitions,
        vec![TopicPartition::new("t", 0)]
    );
    assert_eq!(
        buggy.expired[0].group_state,
        Some(GroupState::PreparingRebalance)
    );
}

/// A Stable group subscribed to `t` has an old offset of `t` and of `old` (a topic it no
/// longer reads); a second member joins and the group rebalances. Kafka's pre-fix rule spares
/// the topics the last generation subscribed to and expires the others by commit time; the
/// fixed one expires nothing while the group rebalances. Metadata that is not Kafka's consumer
/// protocol leaves the coordinator without subscribed topics: nothing expires.
fn rebalance_a_stable_group(policy: OffsetExpiryPolicy, metadata: Bytes) -> Coord {
    let mut h = Coord::new(6, config(policy, 0));
    assert_eq!(h.commit("g", None, "old", 1), Ok(()));
    let (a, generation) = h.lone_member("g", range(metadata.clone()));
    assert_eq!(h.commit("g", Some((&a, generation)), "t", 2), Ok(()));
    h.keep_alive("g", &[(&a, generation)], 2 * RETENTION_MS);
    assert!(h.expired.is_empty(), "nothing expires while Stable");
    let (_b, join_b) = h.join_dynamic("g", range(metadata));
    assert!(h.join_answer(join_b).is_none(), "waits for a to rejoin");
    assert_eq!(h.state("g"), GroupState::PreparingRebalance);
    h.advance(2 * CHECK_MS);
    h
}

#[test]
fn during_a_rebalance_commit_timestamp_expiry_spares_only_the_last_generations_topics() {
    let correct = rebalance_a_stable_group(OffsetExpiryPolicy::WhenEmpty, subscription(&["t"]));
    assert!(correct.expired.is_empty());
    assert_eq!(correct.committed("g", "old"), Some(1));

    let buggy = rebalance_a_stable_group(OffsetExpiryPolicy::CommitTimestamp, subscription(&["t"]));
    assert_eq!(buggy.expired_of("g"), vec![("old".to_string(), 0)]);
    assert_eq!(
        buggy.committed("g", "t"),
        Some(2),
        "subscribed in the last generation"
    );

    let opaque = rebalance_a_stable_group(
        OffsetExpiryPolicy::CommitTimestamp,
        Bytes::from_static(b"not a consumer subscription"),
    );
    assert!(opaque.expired.is_empty(), "subscribed topics unknown");
}

#[test]
fn an_expiry_is_journaled_and_survives_a_restart_and_commit_times_too() {
    let mut h = Coord::new(7, config(OffsetExpiryPolicy::WhenEmpty, 0));
    assert_eq!(h.commit("s", None, "t", 1), Ok(()));
    h.advance(RETENTION_MS / 2);
    assert_eq!(h.commit("s", None, "u", 2), Ok(()));
    let u_committed_at = h.now;
    h.advance(RETENTION_MS / 2 + CHECK_MS);
    assert_eq!(h.expired_of("s"), vec![("t".to_string(), 0)]);
    h.restart();
    assert_eq!(
        h.committed("s", "t"),
        None,
        "the restart does not bring it back"
    );
    assert_eq!(
        h.coordinator
            .committed("s", "u", 0)
            .map(|c| c.commit_timestamp_ms),
        Some(u_committed_at),
        "the commit time survives"
    );
    // Retention keeps counting from the commit, not from the restart.
    h.advance(RETENTION_MS / 2 - 3 * CHECK_MS);
    assert_eq!(h.committed("s", "u"), Some(2));
    h.advance(3 * CHECK_MS);
    assert_eq!(h.committed("s", "u"), None);
    assert_eq!(
        h.expired_of("s"),
        vec![("t".to_string(), 0), ("u".to_string(), 0)],
        "nothing reported twice"
    );
    h.restart();
    assert_eq!(h.committed("s", "u"), None);
}

#[test]
fn a_failed_delete_expires_and_reports_nothing_and_the_next_check_tries_again() {
    let mut h = Coord::new(8, config(OffsetExpiryPolicy::WhenEmpty, 0));
    assert_eq!(h.commit("s", None, "t", 1), Ok(()));
    h.advance(RETENTION_MS - 100);
    h.fail_next_writes(1);
    h.advance(CHECK_MS);
    assert_eq!(h.committed("s", "t"), Some(1));
    assert!(h.expired.is_empty());
    h.advance(CHECK_MS);
    assert_eq!(h.committed("s", "t"), None);
    assert_eq!(h.expired_of("s"), vec![("t".to_string(), 0)]);
    h.restart();
    assert_eq!(h.committed("s", "t"), None);
}

/// The controller hosting the coordinator reports each expiry as an observation.
#[test]
fn the_controller_reports_expired_offsets() {
    let disk = sim::disk::Disk::new(sim::Seed::new(9).stream("disk"));
    let config = ControllerConfig {
        groups: config(OffsetExpiryPolicy::WhenEmpty, 0),
        ..ControllerConfig::default()
    };
    let mut controller = ControllerCore::open(disk, config, 0).unwrap();
    let from = "10.0.0.9:9092".parse().unwrap();
    controller.on_message(
        Duration::from_millis(10),
        from,
        Envelope::Request {
            correlation_id: 1,
            request: Request::OffsetCommit(OffsetCommitRequest {
                group: "s".into(),
                offsets: vec![
                    (TopicPartition::new("t", 0), 5),
                    (TopicPartition::new("t", 1), 6),
                ],
                member: None,
            }),
        },
    );
    let mut observed = Vec::new();
    let mut outputs = Vec::new();
    for tick in 1..=((RETENTION_MS + 2 * CHECK_MS) / 50) {
        Node::on_tick(&mut controller, Duration::from_millis(tick * 50));
        controller.take_outputs(&mut outputs);
    }
    for output in outputs {
        if let Output::Observe(ControllerEvent::OffsetsExpired {
            group,
            partitions,
            group_state,
        }) = output
        {
            observed.push((group, partitions, group_state));
        }
    }
    assert_eq!(
        observed,
        vec![(
            "s".to_string(),
            vec![TopicPartition::new("t", 0), TopicPartition::new("t", 1)],
            None
        )]
    );
}
