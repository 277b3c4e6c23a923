//! The consumer core driven by hand-made answers, without a runtime.

use super::*;
use crate::testkit::{self, broker, metadata, served_batch, tp, Sent, Wire};
use bytes::Bytes;
use protocol::api::{
    ClusterMetadata, FetchResponse, ListOffsetsResponse, MetadataResponse, OffsetCommitResponse,
    OffsetFetchResponse, Response,
};

struct Harness {
    consumer: Consumer,
    now_ms: u64,
    wire: Wire,
}

impl Harness {
    fn new(config: ConsumerConfig) -> Harness {
        let consumer = Consumer::new(config, testkit::cluster(), 0, testkit::rng());
        let mut harness = Harness {
            consumer,
            now_ms: 0,
            wire: Wire::default(),
        };
        harness.tick(0);
        harness
    }

    /// A consumer of t-0 (leader 1) whose committed offset is `committed`.
    fn booted(config: ConsumerConfig, committed: Option<u64>) -> Harness {
        let mut harness = Harness::new(config);
        harness.answer_metadata(one_partition());
        harness.answer_offset_fetch(&[(tp("t", 0), committed)]);
        harness
    }

    fn absorb(&mut self) {
        let actions = self.consumer.poll_actions();
        self.wire.absorb(actions);
    }

    fn tick(&mut self, ms: u64) {
        self.now_ms += ms;
        self.consumer.on_tick(self.now_ms);
        self.absorb();
    }

    fn answer(&mut self, sent: &Sent, response: Response) {
        self.consumer
            .on_response(self.now_ms, sent.correlation_id, sent.to, response);
        self.absorb();
    }

    fn answer_metadata(&mut self, md: ClusterMetadata) {
        for sent in self.wire.take("metadata") {
            self.answer(
                &sent,
                Response::Metadata(MetadataResponse {
                    metadata: md.clone(),
                }),
            );
        }
    }

    fn answer_offset_fetch(&mut self, committed: &[(TopicPartition, Option<u64>)]) {
        let sent = self.wire.take("offset_fetch");
        assert_eq!(sent.len(), 1, "one OffsetFetch outstanding");
        assert_eq!(sent[0].to, testkit::controller());
        self.answer(
            &sent[0],
            Response::OffsetFetch(OffsetFetchResponse {
                result: Ok(committed.to_vec()),
            }),
        );
    }

    fn one(&mut self, api: &str) -> Sent {
        let mut sent = self.wire.take(api);
        assert_eq!(sent.len(), 1, "exactly one {api} outstanding: {sent:?}");
        sent.pop().unwrap()
    }

    fn fetch_offset(sent: &Sent) -> u64 {
        match &sent.request {
            Request::Fetch(fetch) => fetch.offset,
            other => panic!("not a fetch: {other:?}"),
        }
    }

    fn poll(&mut self) -> Vec<PolledRecord> {
        let records = self.consumer.poll(self.now_ms, 1_000);
        self.absorb();
        records
    }

    fn commit_ops(&mut self) -> Vec<(CommitPhase, u64)> {
        self.wire
            .take_ops()
            .into_iter()
            .filter_map(|op| match op {
                Op::Commit { phase, offset, .. } => Some((phase, offset)),
                _ => None,
            })
            .collect()
    }
}

fn one_partition() -> ClusterMetadata {
    metadata(1, &[("t", &[Some(1)])], 0)
}

fn config() -> ConsumerConfig {
    ConsumerConfig::new("consumer-0", Subscription::Assign(vec![tp("t", 0)]))
}

fn fetched(batches: Vec<Bytes>, high_watermark: u64) -> Response {
    Response::Fetch(FetchResponse {
        result: Ok(batches),
        high_watermark,
        log_start_offset: 0,
        leader_epoch: 0,
        preferred_read_replica: None,
    })
}

fn fetch_error(error: ErrorCode) -> Response {
    Response::Fetch(FetchResponse {
        result: Err(error),
        high_watermark: 0,
        log_start_offset: 0,
        leader_epoch: 0,
        preferred_read_replica: None,
    })
}

fn listed(offset: u64) -> Response {
    Response::ListOffsets(ListOffsetsResponse { result: Ok(offset) })
}

fn requests(ops: &[Op]) -> Vec<(String, u64, u32, Option<String>, bool)> {
    ops.iter()
        .filter_map(|op| match op {
            Op::Request(request) => Some((
                request.api.to_string(),
                request.offset,
                request.broker,
                request.error.as_deref().map(str::to_string),
                request.progress,
            )),
            _ => None,
        })
        .collect()
}

fn offsets(records: &[PolledRecord]) -> Vec<u64> {
    records.iter().map(|r| r.offset).collect()
}

#[test]
fn starts_at_the_committed_offset_and_delivers_in_order() {
    let mut h = Harness::booted(config(), Some(5));
    let ops = h.wire.take_ops();
    assert_eq!(ops[0], Op::Start);
    assert!(ops.contains(&Op::Assign {
        partitions: vec![AssignedPartition::new("t", 0, 5)].into()
    }));
    let fetch = h.one("fetch");
    assert_eq!(fetch.to, broker(1));
    assert_eq!(Harness::fetch_offset(&fetch), 5);
    // The batch starts before the position: records below it are skipped.
    h.answer(
        &fetch,
        fetched(vec![served_batch(3, &["a", "b", "c", "d"])], 7),
    );
    let records = h.poll();
    assert_eq!(offsets(&records), vec![5, 6]);
    assert_eq!(records[0].value, "c");
    let ops = h.wire.take_ops();
    assert_eq!(
        requests(&ops),
        vec![("fetch".into(), 5, 1, None, true)],
        "one request event, with progress"
    );
    assert!(ops.contains(&Op::PollOk {
        records: records.into()
    }));
    assert_eq!(h.consumer.status().records_delivered, 2);
    assert!(h.consumer.status().caught_up);
}

#[test]
fn without_a_committed_offset_the_reset_policy_decides_where_to_start() {
    for (policy, spec, found) in [
        (ResetPolicy::Earliest, OffsetSpec::Earliest, 3),
        (ResetPolicy::Latest, OffsetSpec::Latest, 9),
    ] {
        let mut config = config();
        config.reset_policy = policy;
        let mut h = Harness::booted(config, None);
        let list = h.one("list_offsets");
        match &list.request {
            Request::ListOffsets(request) => assert_eq!(request.spec, spec),
            other => panic!("{other:?}"),
        }
        h.answer(&list, listed(found));
        assert_eq!(Harness::fetch_offset(&h.one("fetch")), found);
        assert!(h.wire.take_ops().contains(&Op::Assign {
            partitions: vec![AssignedPartition::new("t", 0, found)].into()
        }));
    }
    let mut config = config();
    config.reset_policy = ResetPolicy::None;
    let mut h = Harness::booted(config, None);
    assert_eq!(
        Harness::fetch_offset(&h.one("fetch")),
        0,
        "policy none starts at 0"
    );
}

#[test]
fn a_corrupt_batch_is_never_delivered() {
    let mut h = Harness::booted(config(), Some(0));
    let fetch = h.one("fetch");
    let good = served_batch(0, &["a", "b"]);
    let mut bad = served_batch(2, &["c"]).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    h.answer(&fetch, fetched(vec![good, Bytes::from(bad)], 3));
    assert_eq!(offsets(&h.poll()), vec![0, 1], "the records before it are");
    let ops = h.wire.take_ops();
    assert_eq!(
        requests(&ops),
        vec![("fetch".into(), 0, 1, Some("corrupt_message".into()), true)]
    );
    h.tick(2_000);
    assert_eq!(
        Harness::fetch_offset(&h.one("fetch")),
        2,
        "asked again from the corrupt one"
    );
}

fn rack_config() -> ConsumerConfig {
    let mut config = config();
    config.rack = Some("rack-2".into());
    config.preferred_replica_recheck_ms = 1_000;
    config
}

fn redirected(batches: Vec<Bytes>, high_watermark: u64, replica: BrokerId) -> Response {
    Response::Fetch(FetchResponse {
        result: Ok(batches),
        high_watermark,
        log_start_offset: 0,
        leader_epoch: 0,
        preferred_read_replica: Some(replica),
    })
}

#[test]
fn kip_392_the_preferred_read_replica_is_used_and_the_leader_rechecked() {
    let mut h = Harness::booted(rack_config(), Some(0));
    let fetch = h.one("fetch");
    match &fetch.request {
        Request::Fetch(request) => assert_eq!(request.rack.as_deref(), Some("rack-2")),
        _ => unreachable!(),
    }
    h.answer(&fetch, redirected(vec![], 0, 2));
    h.tick(30);
    let from_replica = h.one("fetch");
    assert_eq!(from_replica.to, broker(2));
    h.answer(&from_replica, fetched(vec![served_batch(0, &["a"])], 1));
    let next = h.one("fetch");
    assert_eq!((next.to, Harness::fetch_offset(&next)), (broker(2), 1));
    h.tick(1_000);
    h.answer(&next, fetched(vec![], 1));
    h.tick(30);
    assert_eq!(
        h.one("fetch").to,
        broker(1),
        "back to the leader after the recheck interval"
    );
}

/// A preferred replica the consumer's metadata does not list (it is older than the leader's):
/// asking the leader with the rack again would only be redirected again, without data (swarm
/// seed 1951 spun so after the heal). The consumer asks the leader without its rack, and asks
/// for newer metadata; with it, it goes to the replica again.
#[test]
fn a_preferred_replica_missing_from_the_metadata_is_skipped_until_the_metadata_is_newer() {
    let mut h = Harness::booted(rack_config(), Some(0));
    let fetch = h.one("fetch");
    h.answer(&fetch, redirected(vec![], 1, 4));
    h.tick(30);
    let to_leader = h.one("fetch");
    assert_eq!(to_leader.to, broker(1), "broker 4 is unknown: the leader");
    match &to_leader.request {
        Request::Fetch(request) => assert_eq!(request.rack, None, "no rack: no redirect"),
        _ => unreachable!(),
    }
    h.answer(&to_leader, fetched(vec![served_batch(0, &["a"])], 1));
    assert_eq!(offsets(&h.poll()), vec![0]);
    h.tick(100);
    let refreshes = h.wire.take("metadata");
    assert_eq!(refreshes.len(), 1, "the metadata is asked for again");
    let pending = h.one("fetch");
    match &pending.request {
        Request::Fetch(request) => assert_eq!(request.rack, None, "still without the rack"),
        _ => unreachable!(),
    }
    // Newer metadata (even still without broker 4): the rack is sent again.
    h.answer(
        &refreshes[0],
        Response::Metadata(MetadataResponse {
            metadata: metadata(2, &[("t", &[Some(1)])], 0),
        }),
    );
    h.answer(&pending, fetched(vec![], 1));
    h.tick(30);
    let again = h.one("fetch");
    match &again.request {
        Request::Fetch(request) => assert_eq!(request.rack.as_deref(), Some("rack-2")),
        _ => unreachable!(),
    }
}

/// franz-go #885 / PR #886: out-of-range from a KIP-392 follower sends the consumer back to the
/// leader at once, with no reset.
#[test]
fn out_of_range_from_a_follower_goes_back_to_the_leader() {
    let mut h = Harness::booted(rack_config(), Some(0));
    let fetch = h.one("fetch");
    h.answer(&fetch, redirected(vec![served_batch(0, &["a"])], 1, 2));
    let from_replica = h.one("fetch");
    assert_eq!(from_replica.to, broker(2));
    h.answer(&from_replica, fetch_error(ErrorCode::OffsetOutOfRange));
    let next = h.one("fetch");
    assert_eq!((next.to, Harness::fetch_offset(&next)), (broker(1), 1));
    assert!(h.wire.take("list_offsets").is_empty());
    let ops = h.wire.take_ops();
    assert!(!ops.iter().any(|op| matches!(op, Op::Reset { .. })));
}

/// Bug `follower-ooor-spin` (franz-go #885): the consumer keeps asking the follower.
#[test]
fn bug_follower_ooor_spin_keeps_asking_the_follower() {
    let mut config = rack_config();
    config.follower_out_of_range_policy = FollowerOutOfRangePolicy::ResetAtFollower;
    let mut h = Harness::booted(config, Some(0));
    let fetch = h.one("fetch");
    h.answer(&fetch, redirected(vec![served_batch(0, &["a"])], 1, 2));
    let from_replica = h.one("fetch");
    h.answer(&from_replica, fetch_error(ErrorCode::OffsetOutOfRange));
    for _ in 0..10 {
        h.tick(2_000);
        h.answer_metadata(one_partition());
        assert!(h.wire.take("fetch").is_empty());
        let list = h.one("list_offsets");
        assert_eq!(list.to, broker(2), "never the leader");
        h.answer(
            &list,
            Response::ListOffsets(ListOffsetsResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            }),
        );
    }
    let requests: Vec<_> = requests(&h.wire.take_ops())
        .into_iter()
        .filter(|(api, ..)| api == "list_offsets")
        .collect();
    assert!(requests.len() >= 10);
    assert!(requests
        .iter()
        .all(|(_, _, broker, _, progress)| *broker == 2 && !progress));
}

/// A fetch answered without an error records the high watermark and log start it carried; an
/// error answer records neither (Kafka sends -1 for both with an error).
#[test]
fn a_fetch_answer_records_its_watermarks_only_without_an_error() {
    let mut h = Harness::booted(config(), Some(5));
    h.wire.take_ops();
    let fetch = h.one("fetch");
    h.answer(
        &fetch,
        Response::Fetch(FetchResponse {
            result: Ok(vec![served_batch(5, &["a", "b"])]),
            high_watermark: 7,
            log_start_offset: 2,
            leader_epoch: 0,
            preferred_read_replica: None,
        }),
    );
    h.poll();
    let next = h.one("fetch");
    h.answer(&next, fetch_error(ErrorCode::NotLeaderOrFollower));
    let watermarks: Vec<(Option<u64>, Option<u64>)> = h
        .wire
        .take_ops()
        .iter()
        .filter_map(|op| match op {
            Op::Request(request) => Some((request.high_watermark, request.log_start_offset)),
            _ => None,
        })
        .collect();
    assert_eq!(watermarks, vec![(Some(7), Some(2)), (None, None)]);
}

#[test]
fn out_of_range_at_the_leader_checks_the_high_watermark_then_resets() {
    let mut h = Harness::booted(config(), Some(50));
    let fetch = h.one("fetch");
    h.answer(&fetch, fetch_error(ErrorCode::OffsetOutOfRange));
    h.tick(2_000);
    let check = h.one("list_offsets");
    match &check.request {
        Request::ListOffsets(request) => assert_eq!(request.spec, OffsetSpec::Latest),
        _ => unreachable!(),
    }
    // The leader's high watermark is behind the position: the log was truncated.
    h.answer(&check, listed(40));
    let earliest = h.one("list_offsets");
    match &earliest.request {
        Request::ListOffsets(request) => assert_eq!(request.spec, OffsetSpec::Earliest),
        _ => unreachable!(),
    }
    h.answer(&earliest, listed(10));
    assert_eq!(Harness::fetch_offset(&h.one("fetch")), 10);
    assert!(h.poll().is_empty());
    assert!(h.wire.take_ops().contains(&Op::Reset {
        topic: "t".into(),
        partition: 0,
        from: 50,
        to: 10,
        reason: ResetReason::OutOfRange.as_str().into()
    }));
}

#[test]
fn out_of_range_while_the_high_watermark_catches_up_is_not_a_reset() {
    let mut h = Harness::booted(config(), Some(50));
    let fetch = h.one("fetch");
    h.answer(&fetch, fetch_error(ErrorCode::OffsetOutOfRange));
    h.tick(2_000);
    let check = h.one("list_offsets");
    h.answer(&check, listed(60));
    assert_eq!(Harness::fetch_offset(&h.one("fetch")), 50);
    assert!(!h
        .wire
        .take_ops()
        .iter()
        .any(|op| matches!(op, Op::Reset { .. })));
}

#[test]
fn out_of_range_with_policy_none_is_surfaced_and_the_partition_stops() {
    let mut config = config();
    config.reset_policy = ResetPolicy::None;
    let mut h = Harness::booted(config, Some(50));
    let fetch = h.one("fetch");
    h.answer(&fetch, fetch_error(ErrorCode::OffsetOutOfRange));
    h.tick(2_000);
    let check = h.one("list_offsets");
    h.answer(&check, listed(40));
    h.tick(2_000);
    assert!(h.wire.take("fetch").is_empty());
    assert!(h.wire.take("list_offsets").is_empty());
    assert!(h.wire.take_ops().contains(&Op::PollFail {
        topic: "t".into(),
        partition: 0,
        offset: 50,
        error: "offset_out_of_range".into(),
        next_available: None
    }));
    assert!(h.consumer.status().partitions[&tp("t", 0)].stopped);
}

/// fluvio #3891 / PR #4511: an evicted offset jumps to next_available, recorded as a reset.
#[test]
fn offset_evicted_jumps_to_next_available_and_records_a_reset() {
    let mut h = Harness::booted(config(), Some(5));
    let fetch = h.one("fetch");
    h.answer(
        &fetch,
        fetch_error(ErrorCode::OffsetEvicted { next_available: 20 }),
    );
    let next = h.one("fetch");
    assert_eq!(Harness::fetch_offset(&next), 20);
    let ops = h.wire.take_ops();
    assert_eq!(
        requests(&ops),
        vec![("fetch".into(), 5, 1, Some("offset_evicted".into()), true)]
    );
    h.answer(&next, fetched(vec![served_batch(20, &["x"])], 21));
    assert_eq!(offsets(&h.poll()), vec![20]);
    let ops = h.wire.take_ops();
    let reset = Op::Reset {
        topic: "t".into(),
        partition: 0,
        from: 5,
        to: 20,
        reason: ResetReason::OffsetEvicted.as_str().into(),
    };
    let reset_at = ops.iter().position(|op| *op == reset).expect("a reset");
    let poll_at = ops
        .iter()
        .position(|op| matches!(op, Op::PollOk { .. }))
        .expect("a poll");
    assert!(
        reset_at < poll_at,
        "the reset comes before the records after it"
    );
}

/// A lagging consumer (fluvio #3891's situation) keeps what it already fetched: those records
/// are delivered, then the jump, then what follows it.
#[test]
fn records_fetched_before_an_eviction_are_still_delivered() {
    let mut h = Harness::booted(config(), Some(0));
    let fetch = h.one("fetch");
    h.answer(&fetch, fetched(vec![served_batch(0, &["a", "b", "c"])], 3));
    let fetch = h.one("fetch");
    h.answer(
        &fetch,
        fetch_error(ErrorCode::OffsetEvicted { next_available: 8 }),
    );
    let fetch = h.one("fetch");
    assert_eq!(Harness::fetch_offset(&fetch), 8);
    h.answer(&fetch, fetched(vec![served_batch(8, &["i"])], 9));
    let _ = h.wire.take_ops();
    assert_eq!(offsets(&h.consumer.poll(h.now_ms, 2)), vec![0, 1]);
    assert_eq!(
        offsets(&h.consumer.poll(h.now_ms, 10)),
        vec![2],
        "stops at the jump"
    );
    assert_eq!(offsets(&h.consumer.poll(h.now_ms, 10)), vec![8]);
    h.absorb();
    let ops: Vec<Op> = h
        .wire
        .take_ops()
        .into_iter()
        .filter(|op| matches!(op, Op::PollOk { .. } | Op::Reset { .. }))
        .collect();
    assert!(
        matches!(ops[2], Op::Reset { from: 3, to: 8, .. }),
        "{ops:?}"
    );
    assert_eq!(ops.len(), 4);
}

#[test]
fn offset_evicted_from_a_follower_goes_back_to_the_leader_without_a_jump() {
    let mut h = Harness::booted(rack_config(), Some(0));
    let fetch = h.one("fetch");
    h.answer(&fetch, redirected(vec![served_batch(0, &["a"])], 1, 2));
    let from_replica = h.one("fetch");
    h.answer(
        &from_replica,
        fetch_error(ErrorCode::OffsetEvicted { next_available: 50 }),
    );
    let next = h.one("fetch");
    assert_eq!((next.to, Harness::fetch_offset(&next)), (broker(1), 1));
    h.poll();
    assert!(!h
        .wire
        .take_ops()
        .iter()
        .any(|op| matches!(op, Op::Reset { .. })));
}

#[test]
fn offset_evicted_with_policy_none_is_surfaced_with_next_available() {
    let mut config = config();
    config.reset_policy = ResetPolicy::None;
    let mut h = Harness::booted(config, Some(5));
    let fetch = h.one("fetch");
    h.answer(
        &fetch,
        fetch_error(ErrorCode::OffsetEvicted { next_available: 20 }),
    );
    h.tick(2_000);
    assert!(h.wire.take("fetch").is_empty(), "the partition stops");
    let ops = h.wire.take_ops();
    assert!(ops.contains(&Op::PollFail {
        topic: "t".into(),
        partition: 0,
        offset: 5,
        error: "offset_evicted".into(),
        next_available: Some(20)
    }));
    assert!(!ops.iter().any(|op| matches!(op, Op::Reset { .. })));
}

/// Bug `evicted-offset-retry-loop` (fluvio #4514): the evicted offset is asked for again and
/// again, every request without progress.
#[test]
fn bug_evicted_offset_retry_loop_spins_on_the_evicted_offset() {
    let mut config = config();
    config.offset_evicted_policy = OffsetEvictedPolicy::RetrySameOffset;
    let mut h = Harness::booted(config, Some(5));
    for _ in 0..25 {
        let fetch = h.one("fetch");
        assert_eq!(Harness::fetch_offset(&fetch), 5);
        h.answer(
            &fetch,
            fetch_error(ErrorCode::OffsetEvicted { next_available: 20 }),
        );
        h.tick(2_000);
        h.answer_metadata(one_partition());
    }
    let ops = h.wire.take_ops();
    let requests = requests(&ops);
    assert_eq!(requests.len(), 25);
    assert!(requests
        .iter()
        .all(|(_, offset, _, _, progress)| *offset == 5 && !progress));
    assert!(!ops.iter().any(|op| matches!(op, Op::Reset { .. })));
}

#[test]
fn offset_not_available_is_retried_after_a_backoff() {
    let mut h = Harness::booted(config(), Some(0));
    let fetch = h.one("fetch");
    h.answer(&fetch, fetch_error(ErrorCode::OffsetNotAvailable));
    assert!(h.wire.take("fetch").is_empty(), "not at once");
    h.tick(30);
    assert_eq!(Harness::fetch_offset(&h.one("fetch")), 0);
}

#[test]
fn a_fetch_without_an_answer_times_out_and_is_recorded() {
    let mut h = Harness::booted(config(), Some(0));
    let _lost = h.one("fetch");
    h.tick(1_000);
    let ops = h.wire.take_ops();
    assert_eq!(
        requests(&ops),
        vec![(
            "fetch".into(),
            0,
            1,
            Some("request_timed_out".into()),
            false
        )]
    );
    h.tick(100);
    assert_eq!(h.wire.take("fetch").len(), 1);
}

fn deliver(h: &mut Harness, from: u64, values: &[&str]) -> Vec<PolledRecord> {
    let fetch = h.one("fetch");
    assert_eq!(Harness::fetch_offset(&fetch), from);
    let end = from + values.len() as u64;
    h.answer(&fetch, fetched(vec![served_batch(from, values)], end));
    h.poll()
}

#[test]
fn auto_commit_with_flush_zero_commits_after_every_delivery() {
    let mut config = config();
    config.commit_mode = CommitMode::Auto { offset_flush_ms: 0 };
    let mut h = Harness::booted(config, Some(0));
    let _ = h.wire.take_ops();
    deliver(&mut h, 0, &["a", "b"]);
    let commit = h.one("offset_commit");
    assert_eq!(
        h.commit_ops(),
        vec![(CommitPhase::Invoke, 2)],
        "next offset to consume"
    );
    match &commit.request {
        Request::OffsetCommit(request) => {
            assert_eq!(request.offsets, vec![(tp("t", 0), 2)]);
            assert_eq!(request.group, "consumer-0");
        }
        _ => unreachable!(),
    }
    h.answer(
        &commit,
        Response::OffsetCommit(OffsetCommitResponse { result: Ok(()) }),
    );
    assert_eq!(h.commit_ops(), vec![(CommitPhase::Ok, 2)]);
    assert_eq!(
        h.consumer.status().partitions[&tp("t", 0)].committed,
        Some(2)
    );
}

#[test]
fn auto_commit_with_a_flush_interval_waits_for_it() {
    let mut config = config();
    config.commit_mode = CommitMode::Auto {
        offset_flush_ms: 500,
    };
    let mut h = Harness::booted(config, Some(0));
    h.tick(500);
    assert!(
        h.wire.take("offset_commit").is_empty(),
        "nothing new to commit"
    );
    deliver(&mut h, 0, &["a"]);
    h.tick(100);
    assert!(h.wire.take("offset_commit").is_empty());
    h.tick(400);
    assert_eq!(h.wire.take("offset_commit").len(), 1);
}

#[test]
fn manual_commit_commits_only_when_asked() {
    let mut config = config();
    config.commit_mode = CommitMode::Manual;
    let mut h = Harness::booted(config, Some(0));
    deliver(&mut h, 0, &["a", "b", "c"]);
    h.tick(5_000);
    assert!(h.wire.take("offset_commit").is_empty());
    let _ = h.wire.take_ops();
    h.consumer.commit(h.now_ms);
    h.absorb();
    assert_eq!(h.wire.take("offset_commit").len(), 1);
    assert_eq!(h.commit_ops(), vec![(CommitPhase::Invoke, 3)]);
}

#[test]
fn commit_outcomes_are_fail_on_an_error_and_info_without_an_answer() {
    let mut config = config();
    config.commit_mode = CommitMode::Manual;
    let mut h = Harness::booted(config, Some(0));
    deliver(&mut h, 0, &["a"]);
    let _ = h.wire.take_ops();
    h.consumer.commit(h.now_ms);
    h.absorb();
    let commit = h.one("offset_commit");
    h.answer(
        &commit,
        Response::OffsetCommit(OffsetCommitResponse {
            result: Err(ErrorCode::CoordinatorLoadInProgress),
        }),
    );
    h.tick(2_000);
    let _retry = h.one("offset_commit");
    h.tick(1_000);
    assert_eq!(
        h.commit_ops(),
        vec![
            (CommitPhase::Invoke, 1),
            (CommitPhase::Fail, 1),
            (CommitPhase::Invoke, 1),
            (CommitPhase::Info, 1)
        ]
    );
}

#[test]
fn close_flushes_the_last_commit_and_awaits_it_before_close() {
    let mut config = config();
    config.commit_mode = CommitMode::Auto {
        offset_flush_ms: 10_000,
    };
    let mut h = Harness::booted(config, Some(0));
    deliver(&mut h, 0, &["a", "b"]);
    let _ = h.wire.take_ops();
    let _in_flight = h.wire.take("fetch");
    h.consumer.close(h.now_ms);
    h.absorb();
    let commit = h.one("offset_commit");
    assert!(!h.consumer.is_closed(), "awaits the answer");
    h.tick(1_000); // no answer: info, then a retry after a backoff
    assert!(h.wire.take("offset_commit").is_empty());
    h.tick(100);
    let retry = h.one("offset_commit");
    assert!(h.wire.take("fetch").is_empty(), "no fetching while closing");
    // The first attempt's answer arrives late: it timed out, so it is dropped.
    h.answer(
        &commit,
        Response::OffsetCommit(OffsetCommitResponse { result: Ok(()) }),
    );
    assert!(!h.consumer.is_closed());
    assert!(!h.commit_ops().contains(&(CommitPhase::Ok, 2)));
    h.answer(
        &retry,
        Response::OffsetCommit(OffsetCommitResponse { result: Ok(()) }),
    );
    assert!(h.consumer.is_closed());
    let ops = h.wire.take_ops();
    assert_eq!(
        ops[ops.len() - 2..],
        [
            Op::Commit {
                phase: CommitPhase::Ok,
                topic: "t".into(),
                partition: 0,
                offset: 2,
                group: None,
                generation: None,
                error: None,
            },
            Op::Close
        ]
    );
}

#[test]
fn close_without_anything_to_commit_closes_at_once() {
    let mut h = Harness::booted(config(), Some(7));
    h.consumer.close(h.now_ms);
    h.absorb();
    assert!(h.consumer.is_closed());
    assert_eq!(h.wire.take_ops().last(), Some(&Op::Close));
}

/// Bug `last-record-never-committed` (fluvio #4505): yielding N commits N-1 (fluvio's
/// convention), so the last record is never committed.
#[test]
fn bug_last_record_never_committed_commits_one_behind() {
    for (policy, expected) in [
        (CommitPositionPolicy::NextUndelivered, 3),
        (CommitPositionPolicy::LastDelivered, 2),
    ] {
        let mut config = config();
        config.commit_mode = CommitMode::Auto { offset_flush_ms: 0 };
        config.commit_position_policy = policy;
        let mut h = Harness::booted(config, Some(0));
        deliver(&mut h, 0, &["a", "b", "c"]);
        h.consumer.close(h.now_ms);
        h.absorb();
        for commit in h.wire.take("offset_commit") {
            h.answer(
                &commit,
                Response::OffsetCommit(OffsetCommitResponse { result: Ok(()) }),
            );
        }
        assert!(h.consumer.is_closed());
        let ok: Vec<u64> = h
            .commit_ops()
            .into_iter()
            .filter(|(phase, _)| *phase == CommitPhase::Ok)
            .map(|(_, offset)| offset)
            .collect();
        assert_eq!(ok.last(), Some(&expected));
    }
}

/// Bug `commit-on-fetch`: the commit covers records the application never received.
#[test]
fn bug_commit_on_fetch_commits_before_delivery() {
    for (policy, expected) in [
        (CommitPositionPolicy::NextUndelivered, None),
        (CommitPositionPolicy::Fetched, Some(3)),
    ] {
        let mut config = config();
        config.commit_mode = CommitMode::Auto { offset_flush_ms: 0 };
        config.commit_position_policy = policy;
        let mut h = Harness::booted(config, Some(0));
        let fetch = h.one("fetch");
        h.answer(&fetch, fetched(vec![served_batch(0, &["a", "b", "c"])], 3));
        // Not polled: the application has received nothing.
        let commit = h.wire.take("offset_commit");
        let offset = commit.first().map(|sent| match &sent.request {
            Request::OffsetCommit(request) => request.offsets[0].1,
            _ => unreachable!(),
        });
        assert_eq!(offset, expected);
    }
}

#[test]
fn group_members_own_their_partitions_and_discover_new_ones() {
    let subscription = Subscription::Group {
        topics: vec!["t".into()],
        member_index: 1,
        members: 2,
    };
    let mut h = Harness::new(ConsumerConfig::new("consumer-1", subscription));
    h.answer_metadata(metadata(1, &[("t", &[Some(1), Some(2)])], 0));
    h.answer_offset_fetch(&[(tp("t", 1), Some(4))]);
    let fetch = h.one("fetch");
    assert_eq!(
        (fetch.partition(), Harness::fetch_offset(&fetch)),
        (tp("t", 1), 4)
    );
    // The topic grows to 4 partitions: this member now also owns partition 3.
    h.tick(1_000);
    h.answer_metadata(metadata(
        2,
        &[("t", &[Some(1), Some(2), Some(3), Some(1)])],
        0,
    ));
    let asked = h.one("offset_fetch");
    match &asked.request {
        Request::OffsetFetch(request) => assert_eq!(request.partitions, Some(vec![tp("t", 3)])),
        _ => unreachable!(),
    }
    h.answer(
        &asked,
        Response::OffsetFetch(OffsetFetchResponse {
            result: Ok(vec![(tp("t", 3), None)]),
        }),
    );
    let list = h.one("list_offsets");
    assert_eq!(list.partition(), tp("t", 3));
    assert_eq!(list.to, broker(1));
    h.answer(&list, listed(0));
    let ops = h.wire.take_ops();
    assert!(ops.contains(&Op::Assign {
        partitions: vec![AssignedPartition::new("t", 3, 0)].into()
    }));
    let partitions: Vec<TopicPartition> = h.consumer.status().partitions.into_keys().collect();
    assert_eq!(partitions, vec![tp("t", 1), tp("t", 3)]);
}

#[test]
fn the_fetch_buffer_is_bounded() {
    let mut config = config();
    config.fetch_buffer_records_max = 2;
    let mut h = Harness::booted(config, Some(0));
    let fetch = h.one("fetch");
    h.answer(&fetch, fetched(vec![served_batch(0, &["a", "b"])], 10));
    h.tick(100);
    assert!(h.wire.take("fetch").is_empty(), "the buffer is full");
    h.poll();
    h.tick(1);
    assert_eq!(Harness::fetch_offset(&h.one("fetch")), 2);
}

// ---- personalities: real clients' out-of-range and commit rules -----------------------------

fn personality_config(personality: crate::Personality) -> ConsumerConfig {
    let mut config = config();
    personality.apply_to_consumer(&mut config);
    config
}

fn spec_of(sent: &Sent) -> OffsetSpec {
    match &sent.request {
        Request::ListOffsets(request) => request.spec,
        other => panic!("not a ListOffsets: {other:?}"),
    }
}

/// Java `FetchCollector.handleInitializeErrors`: out of range at the leader resets at once per
/// `auto.offset.reset` — no `ListOffsets(latest)` check first, no backoff.
#[test]
fn java_resets_at_once_on_out_of_range_at_the_leader() {
    let mut h = Harness::booted(personality_config(crate::Personality::Java), Some(50));
    let fetch = h.one("fetch");
    h.answer(&fetch, fetch_error(ErrorCode::OffsetOutOfRange));
    let reset = h.one("list_offsets");
    assert_eq!(spec_of(&reset), OffsetSpec::Earliest);
    h.answer(&reset, listed(10));
    assert_eq!(Harness::fetch_offset(&h.one("fetch")), 10);
    assert!(h.poll().is_empty());
    assert!(h.wire.take_ops().contains(&Op::Reset {
        topic: "t".into(),
        partition: 0,
        from: 50,
        to: 10,
        reason: ResetReason::OutOfRange.as_str().into()
    }));
}

/// librdkafka `rd_kafka_offset_reset` with `auto.offset.reset=latest`.
#[test]
fn librdkafka_resets_to_latest_at_once() {
    let mut config = personality_config(crate::Personality::Librdkafka);
    config.reset_policy = ResetPolicy::Latest;
    let mut h = Harness::booted(config, Some(50));
    let fetch = h.one("fetch");
    h.answer(&fetch, fetch_error(ErrorCode::OffsetOutOfRange));
    let reset = h.one("list_offsets");
    assert_eq!(spec_of(&reset), OffsetSpec::Latest);
    h.answer(&reset, listed(40));
    assert_eq!(Harness::fetch_offset(&h.one("fetch")), 40);
}

/// Java with no reset policy: "raising error to the application".
#[test]
fn java_surfaces_out_of_range_without_a_reset_policy() {
    let mut config = personality_config(crate::Personality::Java);
    config.reset_policy = ResetPolicy::None;
    let mut h = Harness::booted(config, Some(50));
    let fetch = h.one("fetch");
    h.answer(&fetch, fetch_error(ErrorCode::OffsetOutOfRange));
    assert!(h.wire.take("list_offsets").is_empty());
    assert!(h.consumer.status().partitions[&tp("t", 0)].stopped);
}

/// franz-go `source.go`: after consuming, out of range resets "to the nearest offset" (here the
/// end, the position being beyond it); before consuming anything, per the reset policy.
#[test]
fn franz_go_resets_to_the_nearest_offset_once_it_consumed() {
    let mut h = Harness::booted(personality_config(crate::Personality::FranzGo), Some(0));
    assert_eq!(offsets(&deliver(&mut h, 0, &["a", "b"])), vec![0, 1]);
    let fetch = h.one("fetch");
    h.answer(&fetch, fetch_error(ErrorCode::OffsetOutOfRange));
    let reset = h.one("list_offsets");
    assert_eq!(spec_of(&reset), OffsetSpec::Latest);

    let mut h = Harness::booted(personality_config(crate::Personality::FranzGo), Some(50));
    let fetch = h.one("fetch");
    h.answer(&fetch, fetch_error(ErrorCode::OffsetOutOfRange));
    assert_eq!(spec_of(&h.one("list_offsets")), OffsetSpec::Earliest);
}

/// Java with `auto.offset.reset=latest`: an evicted offset (Kafka's out-of-range below the log
/// start) resets to the latest offset, not to the next available.
#[test]
fn java_with_reset_latest_resets_an_evicted_offset_to_the_latest() {
    let mut config = personality_config(crate::Personality::Java);
    config.reset_policy = ResetPolicy::Latest;
    let mut h = Harness::booted(config, Some(5));
    let fetch = h.one("fetch");
    h.answer(
        &fetch,
        fetch_error(ErrorCode::OffsetEvicted { next_available: 20 }),
    );
    let reset = h.one("list_offsets");
    assert_eq!(spec_of(&reset), OffsetSpec::Latest);
    h.answer(&reset, listed(90));
    assert_eq!(Harness::fetch_offset(&h.one("fetch")), 90);
}

/// Every personality goes back to the leader on a follower's out-of-range (KIP-392 case 3).
#[test]
fn every_personality_goes_back_to_the_leader_on_a_followers_out_of_range() {
    for personality in crate::Personality::ALL {
        let mut config = rack_config();
        personality.apply_to_consumer(&mut config);
        assert_eq!(
            config.follower_out_of_range_policy,
            FollowerOutOfRangePolicy::BackToLeader,
            "{personality}"
        );
    }
}

/// Java and franz-go: an automatic commit names what the polls before the latest delivered;
/// close commits everything delivered.
#[test]
fn java_auto_commits_what_the_previous_polls_delivered() {
    let mut config = personality_config(crate::Personality::Java);
    config.commit_mode = CommitMode::Auto {
        offset_flush_ms: 500,
    };
    let mut h = Harness::booted(config, Some(0));
    let _ = h.wire.take_ops();
    deliver(&mut h, 0, &["a", "b"]);
    h.tick(500);
    assert!(
        h.wire.take("offset_commit").is_empty(),
        "nothing delivered before the latest poll"
    );
    deliver(&mut h, 2, &["c"]);
    h.tick(500);
    let commit = h.one("offset_commit");
    assert_eq!(h.commit_ops(), vec![(CommitPhase::Invoke, 2)]);
    h.answer(
        &commit,
        Response::OffsetCommit(OffsetCommitResponse { result: Ok(()) }),
    );
    let _ = h.commit_ops();
    h.consumer.close(h.now_ms);
    h.absorb();
    let last = h.one("offset_commit");
    assert_eq!(
        h.commit_ops(),
        vec![(CommitPhase::Invoke, 3)],
        "close: everything"
    );
    h.answer(
        &last,
        Response::OffsetCommit(OffsetCommitResponse { result: Ok(()) }),
    );
    assert!(h.consumer.is_closed());
}

/// librdkafka stores each offset as it is delivered: its auto commit names everything delivered.
#[test]
fn librdkafka_auto_commits_everything_delivered() {
    let mut config = personality_config(crate::Personality::Librdkafka);
    config.commit_mode = CommitMode::Auto {
        offset_flush_ms: 500,
    };
    let mut h = Harness::booted(config, Some(0));
    let _ = h.wire.take_ops();
    deliver(&mut h, 0, &["a", "b"]);
    h.tick(500);
    let _commit = h.one("offset_commit");
    assert_eq!(h.commit_ops(), vec![(CommitPhase::Invoke, 2)]);
}
