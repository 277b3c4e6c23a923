//! The producer core driven by hand-made answers, without a runtime.

use super::*;
use crate::testkit::{self, broker, metadata, tp, Sent, Wire};
use protocol::api::{
    ClusterMetadata, InitProducerIdResponse, MetadataResponse, ProduceResponse, Response,
};

const PID: i64 = 7;

struct Harness {
    producer: Producer,
    now_ms: u64,
    wire: Wire,
}

impl Harness {
    fn new(config: ProducerConfig) -> Harness {
        let producer = Producer::new(config, testkit::cluster(), 0, testkit::rng());
        let mut harness = Harness {
            producer,
            now_ms: 0,
            wire: Wire::default(),
        };
        harness.tick(0);
        harness
    }

    /// A producer that knows `md` and holds producer id 7, epoch 0.
    fn booted(config: ProducerConfig, md: ClusterMetadata) -> Harness {
        let mut harness = Harness::new(config);
        harness.answer_metadata(md);
        let init = harness.wire.take("init_producer_id");
        assert_eq!(init.len(), 1);
        assert_eq!(
            init[0].request,
            Request::InitProducerId(InitProducerIdRequest { current: None })
        );
        assert_eq!(init[0].to, testkit::controller());
        harness.answer(&init[0], init_pid(PID, 0));
        let ops = harness.wire.take_ops();
        assert_eq!(ops, vec![Op::Start, Op::InitPid { pid: PID, epoch: 0 }]);
        harness
    }

    fn absorb(&mut self) {
        let actions = self.producer.poll_actions();
        self.wire.absorb(actions);
    }

    fn tick(&mut self, ms: u64) {
        self.now_ms += ms;
        self.producer.on_tick(self.now_ms);
        self.absorb();
    }

    fn answer(&mut self, sent: &Sent, response: Response) {
        self.producer
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

    fn send(&mut self, topic: &str, key: Option<&str>, value: &str) {
        self.producer.send(
            self.now_ms,
            topic,
            key.map(str::to_string),
            value.to_string(),
        );
        self.absorb();
    }

    /// Sends each value and lingers until they are sent.
    fn send_all(&mut self, topic: &str, values: &[&str]) {
        for value in values {
            self.send(topic, None, value);
        }
        self.tick(10);
    }

    fn produces(&mut self) -> Vec<Sent> {
        self.wire.take("produce")
    }
}

fn init_pid(pid: i64, epoch: i16) -> Response {
    Response::InitProducerId(InitProducerIdResponse {
        result: Ok((pid, epoch)),
    })
}

fn produced_ok(offset: u64, log_start_offset: u64) -> Response {
    Response::Produce(ProduceResponse {
        result: Ok(offset),
        log_start_offset,
    })
}

fn produced_err(error: ErrorCode, log_start_offset: u64) -> Response {
    Response::Produce(ProduceResponse {
        result: Err(error),
        log_start_offset,
    })
}

fn one_partition() -> ClusterMetadata {
    metadata(1, &[("t", &[Some(1)])], 0)
}

/// One record per batch, so batches are easy to count.
fn single_record_batches() -> ProducerConfig {
    let mut config = ProducerConfig::new("producer-0");
    config.batch_bytes_max = BATCH_HEADER_BYTES + 1;
    config
}

fn send_oks(ops: &[Op]) -> Vec<(String, u32, u64, i16, i32)> {
    ops.iter()
        .filter_map(|op| match op {
            Op::SendOk {
                value,
                partition,
                offset,
                epoch,
                sequence,
                ..
            } => Some((
                value.to_string(),
                *partition,
                *offset,
                epoch
                    .and_then(|epoch| i16::try_from(epoch).ok())
                    .expect("an epoch"),
                sequence.expect("a sequence"),
            )),
            _ => None,
        })
        .collect()
}

fn outcomes(ops: &[Op]) -> Vec<(String, &'static str, String)> {
    ops.iter()
        .filter_map(|op| match op {
            Op::SendOk { value, .. } => Some((value.to_string(), "ok", String::new())),
            Op::SendFail { value, error } => Some((value.to_string(), "fail", error.to_string())),
            Op::SendInfo { value, error } => Some((value.to_string(), "info", error.to_string())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_send_is_batched_sent_to_the_leader_and_acknowledged_with_its_identity() {
    let mut h = Harness::booted(ProducerConfig::new("producer-0"), one_partition());
    h.send("t", None, "v-0");
    h.send("t", None, "v-1");
    assert!(h.produces().is_empty(), "linger_ms holds the batch");
    h.tick(10);
    let produces = h.produces();
    assert_eq!(produces.len(), 1);
    assert_eq!(produces[0].to, broker(1));
    let batch = produces[0].produced();
    assert_eq!(
        (batch.producer_id, batch.producer_epoch, batch.base_sequence),
        (PID, 0, 0)
    );
    assert_eq!(batch.records.len(), 2);
    h.answer(&produces[0], produced_ok(40, 0));
    let ops = h.wire.take_ops();
    assert_eq!(
        ops[..2],
        [
            Op::SendInvoke {
                topic: "t".into(),
                key: None,
                value: "v-0".into()
            },
            Op::SendInvoke {
                topic: "t".into(),
                key: None,
                value: "v-1".into()
            },
        ]
    );
    assert_eq!(
        send_oks(&ops),
        vec![("v-0".into(), 0, 40, 0, 0), ("v-1".into(), 0, 41, 0, 1)]
    );
    let status = h.producer.status();
    assert_eq!((status.invoked, status.acked, status.pending), (2, 2, 0));
}

#[test]
fn nothing_is_sent_before_the_producer_id_arrives() {
    let mut h = Harness::new(ProducerConfig::new("producer-0"));
    h.answer_metadata(one_partition());
    h.send("t", None, "v-0");
    h.tick(50);
    assert!(h.produces().is_empty());
    let init = h.wire.take("init_producer_id");
    h.answer(&init[0], init_pid(PID, 0));
    h.tick(1);
    assert_eq!(h.produces().len(), 1);
}

#[test]
fn an_idempotent_retry_keeps_its_sequence() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send_all("t", &["v-0"]);
    let first = h.produces();
    assert_eq!(first[0].produced().base_sequence, 0);
    h.answer(&first[0], produced_ok(0, 0));
    h.send_all("t", &["v-1"]);
    let attempt = h.produces();
    assert_eq!(attempt[0].produced().base_sequence, 1);
    // No answer: the request times out and the batch is sent again, same sequence and epoch.
    h.tick(1_000);
    h.tick(2_000);
    let retry = h.produces();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].produced(), attempt[0].produced());
    // The leader had written the first attempt: the retry is a duplicate, answered with the
    // original offset.
    h.answer(&retry[0], produced_ok(1, 0));
    assert_eq!(
        outcomes(&h.wire.take_ops()),
        vec![
            ("v-0".into(), "ok", String::new()),
            ("v-1".into(), "ok", String::new())
        ]
    );
}

#[test]
fn at_most_five_batches_are_in_flight_per_partition() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    let values: Vec<String> = (0..8).map(|i| format!("v-{i}")).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    h.send_all("t", &refs);
    let first = h.produces();
    assert_eq!(first.len(), 5);
    let sequences: Vec<i32> = first.iter().map(|s| s.produced().base_sequence).collect();
    assert_eq!(sequences, vec![0, 1, 2, 3, 4]);
    h.tick(5);
    assert!(h.produces().is_empty(), "the sixth waits");
    h.answer(&first[0], produced_ok(0, 0));
    h.answer(&first[1], produced_ok(1, 0));
    h.tick(1);
    let next: Vec<i32> = h
        .produces()
        .iter()
        .map(|s| s.produced().base_sequence)
        .collect();
    assert_eq!(next, vec![5, 6]);
}

/// The window spans the oldest unacknowledged batch to the newest sent: acknowledgements of
/// younger batches do not let more batches go, or a retry of the oldest could fall out of the
/// leader's 5-batch deduplication cache and be refused as out of order (found in the simulation
/// with leader crashes).
#[test]
fn younger_acknowledgements_do_not_widen_the_window() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    let values: Vec<String> = (0..10).map(|i| format!("v-{i}")).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    h.send_all("t", &refs);
    let first = h.produces();
    assert_eq!(first.len(), 5);
    for (i, sent) in first.iter().enumerate().skip(1) {
        h.answer(sent, produced_ok(i as u64, 0));
    }
    h.tick(5);
    assert!(
        h.produces().is_empty(),
        "batch 0 is unacknowledged: nothing new goes"
    );
    h.answer(&first[0], produced_ok(0, 0));
    h.tick(1);
    let next: Vec<i32> = h
        .produces()
        .iter()
        .map(|s| s.produced().base_sequence)
        .collect();
    assert_eq!(next, vec![5, 6, 7, 8, 9]);
    assert_eq!(h.producer.status().acked, 5);
}

#[test]
fn after_an_error_only_the_oldest_batch_is_resent_until_acknowledged() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send_all("t", &["v-0", "v-1", "v-2"]);
    let sent = h.produces();
    // The network reordered: batch 1 reached the leader first.
    h.answer(&sent[1], produced_err(ErrorCode::OutOfOrderSequence, 0));
    h.answer(&sent[0], produced_err(ErrorCode::NotLeaderOrFollower, 0));
    h.answer(&sent[2], produced_err(ErrorCode::OutOfOrderSequence, 0));
    h.answer_metadata(one_partition());
    h.tick(2_000);
    let retry = h.produces();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].produced().base_sequence, 0);
    h.answer(&retry[0], produced_ok(0, 0));
    h.tick(1);
    let retry = h.produces();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].produced().base_sequence, 1);
    assert_eq!(
        h.producer.status().data_loss_reports,
        0,
        "not the oldest: no loss"
    );
}

/// Datagrams reorder: an out-of-order answer to a batch sent behind an older one that was
/// acknowledged meanwhile says nothing about lost state.
#[test]
fn an_out_of_order_answer_to_a_batch_sent_behind_an_older_one_is_not_data_loss() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send_all("t", &["v-0", "v-1"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_ok(0, 0));
    // Batch 1 had reached the leader before batch 0; its answer arrives last.
    h.answer(&sent[1], produced_err(ErrorCode::OutOfOrderSequence, 0));
    assert_eq!(h.producer.status().data_loss_reports, 0);
    h.tick(2_000);
    let retry = h.produces();
    assert_eq!(retry[0].produced().base_sequence, 1);
    h.answer(&retry[0], produced_ok(1, 0));
    assert!(outcomes(&h.wire.take_ops())
        .iter()
        .all(|(_, kind, _)| *kind == "ok"));
    assert!(h.wire.take("init_producer_id").is_empty(), "no bump");
}

#[test]
fn not_leader_refreshes_metadata_and_retries_at_the_new_leader_with_the_same_sequence() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.tick(60);
    let _ = h.wire.take("metadata");
    h.answer(&sent[0], produced_err(ErrorCode::NotLeaderOrFollower, 0));
    let refresh = h.wire.take("metadata");
    assert_eq!(
        refresh.len(),
        1,
        "an error about the leader refreshes metadata"
    );
    h.answer(
        &refresh[0],
        Response::Metadata(MetadataResponse {
            metadata: metadata(2, &[("t", &[Some(2)])], 1),
        }),
    );
    h.tick(2_000);
    let retry = h.produces();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].to, broker(2));
    assert_eq!(retry[0].produced().base_sequence, 0);
    match &retry[0].request {
        Request::Produce(p) => assert_eq!(p.current_leader_epoch, Some(1)),
        _ => unreachable!(),
    }
}

/// One send whose first attempt is answered `first_error`; then, until its delivery timeout
/// passes, the partition has no leader or its retries are refused before any append
/// (`NotEnoughReplicas`). The send's outcome: (value, type, error).
fn outcome_after_a_first_answer_of(first_error: ErrorCode) -> Vec<(String, &'static str, String)> {
    let mut config = single_record_batches();
    config.delivery_timeout_ms = 3_000;
    let mut h = Harness::booted(config, one_partition());
    h.send_all("t", &["v"]);
    let sent = h.produces();
    assert_eq!(sent.len(), 1);
    h.answer(&sent[0], produced_err(first_error, 0));
    let leaderless = metadata(2, &[("t", &[None])], 1);
    h.answer_metadata(leaderless.clone());
    for _ in 0..40 {
        h.tick(100);
        h.answer_metadata(leaderless.clone());
        for retry in h.produces() {
            h.answer(&retry, produced_err(ErrorCode::NotEnoughReplicas, 0));
        }
    }
    outcomes(&h.wire.take_ops())
}

#[test]
fn not_leader_does_not_prove_a_batch_unwritten() {
    // KAFKA-13574: a leader deposed while the batch waited for the ISR answers NotLeaderOrFollower
    // after appending it, and the new leader may hold it. If the send then runs out of time, its
    // outcome is unknown (`info`), never `fail` (which would make a later read of it a false G1a).
    assert_eq!(
        outcome_after_a_first_answer_of(ErrorCode::NotLeaderOrFollower),
        vec![("v".into(), "info", "not_enough_replicas".into())]
    );
}

#[test]
fn an_error_given_before_appending_proves_a_batch_unwritten() {
    // The counterpart: NotEnoughReplicas is refused before the append, so the send fails.
    assert_eq!(
        outcome_after_a_first_answer_of(ErrorCode::NotEnoughReplicas),
        vec![("v".into(), "fail", "not_enough_replicas".into())]
    );
}

#[test]
fn stale_metadata_answers_are_ignored() {
    let mut h = Harness::booted(
        single_record_batches(),
        metadata(5, &[("t", &[Some(1)])], 0),
    );
    h.tick(1_100);
    h.answer_metadata(metadata(4, &[("t", &[Some(3)])], 0));
    h.send_all("t", &["v-0"]);
    assert_eq!(h.produces()[0].to, broker(1), "version 4 is older than 5");
}

/// franz-go #805 / PR #834, KIP-360: the log start passed the last acknowledged offset, so the
/// broker forgot the producer because of retention: bump the epoch, restart sequences on every
/// partition (KAFKA-12152), retry, and report no loss.
#[test]
fn unknown_producer_id_explained_by_retention_bumps_the_epoch_and_resets_every_partition() {
    let md = metadata(1, &[("t", &[Some(1), Some(2)])], 0);
    let mut h = Harness::booted(single_record_batches(), md);
    // Two acknowledged batches on each partition.
    h.send_all("t", &["a-0", "b-0", "a-1", "b-1"]);
    for sent in h.produces() {
        let offset = sent.produced().base_sequence as u64 + 10;
        h.answer(&sent, produced_ok(offset, 0));
    }
    // Partition 0's last acked offset is 11; its log start moved to 12: retention.
    h.send_all("t", &["a-2", "b-2"]);
    let sent = h.produces();
    let (p0, p1): (Vec<&Sent>, Vec<&Sent>) =
        sent.iter().partition(|s| s.partition().partition == 0);
    assert_eq!(p0[0].produced().base_sequence, 2);
    assert_eq!(p1[0].produced().base_sequence, 2);
    h.answer(p0[0], produced_err(ErrorCode::UnknownProducerId, 12));
    h.tick(1);
    assert!(
        h.wire.take("init_producer_id").is_empty(),
        "the bump waits for the batch in flight on partition 1"
    );
    h.answer(p1[0], produced_ok(12, 0));
    h.tick(1);
    let bump = h.wire.take("init_producer_id");
    assert_eq!(bump.len(), 1);
    assert_eq!(
        bump[0].request,
        Request::InitProducerId(InitProducerIdRequest {
            current: Some((PID, 0))
        })
    );
    assert!(h.produces().is_empty(), "nothing is sent during the bump");
    h.answer(&bump[0], init_pid(PID, 1));
    h.tick(2_000);
    let retry = h.produces();
    assert_eq!(retry.len(), 1);
    let batch = retry[0].produced();
    assert_eq!((batch.producer_epoch, batch.base_sequence), (1, 0));
    assert_eq!(batch.records[0].value, Bytes::from("a-2"));
    h.answer(&retry[0], produced_ok(12, 12));
    // Partition 1 restarts at sequence 0 too (KAFKA-12152).
    h.send_all("t", &["a-3", "b-3"]);
    for sent in h.produces() {
        let batch = sent.produced();
        let expected = if sent.partition().partition == 0 {
            1
        } else {
            0
        };
        assert_eq!((batch.producer_epoch, batch.base_sequence), (1, expected));
    }
    let ops = h.wire.take_ops();
    assert!(ops.contains(&Op::InitPid { pid: PID, epoch: 1 }));
    assert!(
        outcomes(&ops).iter().all(|(_, kind, _)| *kind == "ok"),
        "no send failed: {ops:?}"
    );
    let status = h.producer.status();
    assert_eq!(status.data_loss_reports, 0);
    assert_eq!(status.producer_id_resets, 1);
}

/// franz-go #805: when the log start does not explain the lost producer state, it is genuine
/// data loss: reported in the history (the batch's sends fail with `unknown_producer_id`), never
/// hidden; the producer resets and goes on.
#[test]
fn unknown_producer_id_not_explained_by_retention_is_reported_as_data_loss() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_ok(10, 0));
    h.send_all("t", &["v-1"]);
    let sent = h.produces();
    // Log start 5 <= last acked 10: retention does not explain it.
    h.answer(&sent[0], produced_err(ErrorCode::UnknownProducerId, 5));
    h.tick(1);
    let bump = h.wire.take("init_producer_id");
    assert_eq!(bump.len(), 1, "reset and go on");
    h.answer(&bump[0], init_pid(PID, 1));
    h.send_all("t", &["v-2"]);
    let sent = h.produces();
    let batch = sent[0].produced();
    assert_eq!((batch.producer_epoch, batch.base_sequence), (1, 0));
    h.answer(&sent[0], produced_ok(11, 5));
    let ops = h.wire.take_ops();
    assert_eq!(
        outcomes(&ops),
        vec![
            ("v-0".into(), "ok", String::new()),
            ("v-1".into(), "fail", "unknown_producer_id".into()),
            ("v-2".into(), "ok", String::new()),
        ]
    );
    assert_eq!(h.producer.status().data_loss_reports, 1);
}

#[test]
fn out_of_order_sequence_without_any_acknowledgement_is_data_loss_too() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    // Nothing was ever acknowledged (last acked = -1): franz-go's condition is false.
    h.answer(&sent[0], produced_err(ErrorCode::OutOfOrderSequence, 100));
    assert_eq!(h.producer.status().data_loss_reports, 1);
    assert_eq!(
        outcomes(&h.wire.take_ops()),
        vec![("v-0".into(), "fail", "out_of_order_sequence".into())]
    );
}

#[test]
fn a_batch_that_may_have_been_written_is_not_rewritten_under_a_new_epoch() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_ok(10, 0));
    h.send_all("t", &["v-1"]);
    let _lost = h.produces();
    h.tick(1_000); // the attempt timed out: it may be in the log
    h.tick(2_000);
    let retry = h.produces();
    h.answer(&retry[0], produced_err(ErrorCode::UnknownProducerId, 20));
    h.tick(1);
    let bump = h.wire.take("init_producer_id");
    h.answer(&bump[0], init_pid(PID, 1));
    h.tick(2_000);
    assert!(h.produces().is_empty(), "v-1 is not written again");
    assert_eq!(
        outcomes(&h.wire.take_ops()),
        vec![
            ("v-0".into(), "ok", String::new()),
            ("v-1".into(), "info", "unknown_producer_id".into())
        ]
    );
}

#[test]
fn metadata_refresh_picks_up_new_partitions() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send_all("t", &["v-0", "v-1"]);
    for sent in h.produces() {
        assert_eq!(sent.partition().partition, 0);
        h.answer(&sent, produced_ok(0, 0));
    }
    // The topic grows to 3 partitions; the periodic refresh sees it.
    h.tick(1_000);
    h.answer_metadata(metadata(2, &[("t", &[Some(1), Some(2), Some(3)])], 0));
    let values: Vec<String> = (0..6).map(|i| format!("w-{i}")).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    h.send_all("t", &refs);
    let mut partitions: Vec<u32> = h
        .produces()
        .iter()
        .map(|s| s.partition().partition)
        .collect();
    partitions.sort_unstable();
    assert_eq!(partitions, vec![0, 0, 1, 1, 2, 2]);
}

/// fluvio #4079 (bug `producer-fixed-partitions`): the partition set is fixed at creation.
#[test]
fn bug_producer_fixed_partitions_never_uses_added_partitions() {
    let mut config = single_record_batches();
    config.partition_discovery_policy = PartitionDiscoveryPolicy::FixedAtFirstSight;
    let mut h = Harness::booted(config, one_partition());
    h.tick(1_000);
    h.answer_metadata(metadata(2, &[("t", &[Some(1), Some(2), Some(3)])], 0));
    h.send_all("t", &["w-0", "w-1", "w-2", "w-3"]);
    let partitions: Vec<u32> = h
        .produces()
        .iter()
        .map(|s| s.partition().partition)
        .collect();
    assert_eq!(partitions, vec![0, 0, 0, 0]);
}

#[test]
fn keyless_round_robin_skips_partitions_without_a_leader() {
    let md = metadata(1, &[("t", &[Some(1), None, Some(3)])], 0);
    let mut h = Harness::booted(single_record_batches(), md);
    h.send_all("t", &["v-0", "v-1", "v-2", "v-3"]);
    let mut partitions: Vec<u32> = h
        .produces()
        .iter()
        .map(|s| s.partition().partition)
        .collect();
    partitions.sort_unstable();
    assert_eq!(partitions, vec![0, 0, 2, 2]);
}

#[test]
fn keyed_sends_use_a_stable_hash_of_the_key() {
    let md = metadata(1, &[("t", &[Some(1), Some(2), Some(3)])], 0);
    let mut h = Harness::booted(single_record_batches(), md);
    for value in ["k-0", "k-1", "k-2"] {
        h.send("t", Some("user-42"), value);
    }
    h.tick(10);
    let expected = (stable_key_hash(b"user-42") % 3) as u32;
    for sent in h.produces() {
        assert_eq!(sent.partition().partition, expected);
    }
}

#[test]
fn a_send_to_an_unknown_topic_fails_and_the_producer_goes_on() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send("nope", None, "x-0");
    h.send("t", None, "v-0");
    h.tick(60);
    // The metadata answer that arrives after the send does not know the topic.
    h.answer_metadata(one_partition());
    h.tick(10);
    let sent = h.produces();
    assert_eq!(sent.len(), 1);
    h.answer(&sent[0], produced_ok(0, 0));
    assert_eq!(
        outcomes(&h.wire.take_ops()),
        vec![
            ("x-0".into(), "fail", "unknown_topic_or_partition".into()),
            ("v-0".into(), "ok", String::new())
        ]
    );
}

#[test]
fn a_record_over_the_size_limit_fails_at_once() {
    let mut config = single_record_batches();
    config.message_bytes_max = 200;
    let mut h = Harness::booted(config, one_partition());
    let big = "x".repeat(300);
    h.send("t", None, &big);
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    assert_eq!(sent.len(), 1);
    let ops = h.wire.take_ops();
    assert_eq!(outcomes(&ops)[0], (big, "fail", "message_too_large".into()));
}

#[test]
fn a_non_retriable_broker_error_fails_the_batch_and_resequences() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_err(ErrorCode::MessageTooLarge, 0));
    assert_eq!(
        outcomes(&h.wire.take_ops()),
        vec![("v-0".into(), "fail", "message_too_large".into())]
    );
    h.tick(1);
    assert_eq!(
        h.wire.take("init_producer_id").len(),
        1,
        "the sequence gap needs a bump"
    );
}

#[test]
fn delivery_timeout_fails_unsent_sends_and_leaves_sent_ones_unknown() {
    let mut config = single_record_batches();
    config.delivery_timeout_ms = 5_000;
    let md = metadata(1, &[("t", &[Some(1)]), ("u", &[None])], 0);
    let mut h = Harness::booted(config, md.clone());
    // "u" has no leader: never sent. "t": sent, never answered.
    h.send("u", Some("k"), "never-sent");
    h.send_all("t", &["sent"]);
    assert_eq!(h.produces().len(), 1);
    for _ in 0..60 {
        h.tick(100);
        h.answer_metadata(md.clone());
        for sent in h.produces() {
            assert_eq!(sent.partition(), tp("t", 0));
        }
    }
    let ops = h.wire.take_ops();
    let mut results = outcomes(&ops);
    results.sort();
    assert_eq!(
        results,
        vec![
            ("never-sent".into(), "fail", "request_timed_out".into()),
            ("sent".into(), "info", "request_timed_out".into()),
        ]
    );
    assert_eq!(h.producer.pending_sends(), 0);
}

#[test]
fn a_send_that_joined_an_unsent_batch_keeps_its_own_delivery_timeout() {
    let mut config = ProducerConfig::new("producer-0");
    config.delivery_timeout_ms = 5_000;
    let md = metadata(1, &[("u", &[None])], 0);
    let mut h = Harness::booted(config, md.clone());
    // "u" has no leader: its batch is never sent; a second send joins it 4 s later.
    h.send("u", Some("k"), "old");
    for _ in 0..40 {
        h.tick(100);
        h.answer_metadata(md.clone());
    }
    h.send("u", Some("k"), "young");
    for _ in 0..20 {
        h.tick(100);
        h.answer_metadata(md.clone());
    }
    // 6 s after the first send, 2 s after the second: only the first timed out.
    let ops = h.wire.take_ops();
    assert_eq!(
        outcomes(&ops),
        vec![("old".into(), "fail", "request_timed_out".into())]
    );
    assert_eq!(h.producer.pending_sends(), 1);
    for _ in 0..40 {
        h.tick(100);
        h.answer_metadata(md.clone());
    }
    let ops = h.wire.take_ops();
    assert_eq!(
        outcomes(&ops),
        vec![("young".into(), "fail", "request_timed_out".into())]
    );
}

/// Swarm seed 7846: a send invoked after the heal joined the unsent batch of a send invoked
/// during the outage; the batch went out, was refused before any append (`NotEnoughReplicas`)
/// while the ISR grew back, and when the old send's delivery timeout passed, the young send must
/// not fail with it: it is sequenced anew under a bumped epoch and delivered.
#[test]
fn a_young_send_outlives_the_expired_send_of_its_refused_batch() {
    let mut config = ProducerConfig::new("producer-0");
    config.delivery_timeout_ms = 5_000;
    let leaderless = metadata(1, &[("u", &[None])], 0);
    let mut h = Harness::booted(config, leaderless.clone());
    h.send("u", Some("k"), "old");
    for _ in 0..40 {
        h.tick(100);
        h.answer_metadata(leaderless.clone());
    }
    h.send("u", Some("k"), "young");
    // The leader is back: both sends go in one batch, refused until the old one expires.
    let led = metadata(2, &[("u", &[Some(1)])], 0);
    let mut sent_together = false;
    for _ in 0..15 {
        h.tick(100);
        h.answer_metadata(led.clone());
        for produce in h.produces() {
            let values: Vec<_> = produce
                .produced()
                .records
                .iter()
                .map(|r| String::from_utf8(r.value.to_vec()).expect("utf-8"))
                .collect();
            sent_together |= values == ["old", "young"];
            h.answer(&produce, produced_err(ErrorCode::NotEnoughReplicas, 0));
        }
    }
    assert!(sent_together, "the young send joined the old one's batch");
    assert_eq!(
        outcomes(&h.wire.take_ops()),
        vec![("old".into(), "fail", "not_enough_replicas".into())]
    );
    // The gap bumps the epoch; the young send goes again alone, from sequence 0.
    let bump = h.wire.take("init_producer_id");
    assert_eq!(bump.len(), 1);
    h.answer(&bump[0], init_pid(PID, 1));
    h.tick(100);
    let retry = h.produces();
    assert_eq!(retry.len(), 1);
    let batch = retry[0].produced();
    assert_eq!((batch.producer_epoch, batch.base_sequence), (1, 0));
    assert_eq!(batch.records.len(), 1);
    h.answer(&retry[0], produced_ok(0, 0));
    let ops = h.wire.take_ops();
    assert_eq!(send_oks(&ops).len(), 1, "{ops:?}");
    assert_eq!(h.producer.pending_sends(), 0);
}

#[test]
fn close_flushes_and_records_close_after_every_outcome() {
    let mut config = ProducerConfig::new("producer-0");
    config.linger_ms = 10_000;
    let mut h = Harness::booted(config, one_partition());
    h.send("t", None, "v-0");
    h.producer.close(h.now_ms);
    h.absorb();
    let sent = h.produces();
    assert_eq!(sent.len(), 1, "close does not wait for linger_ms");
    assert!(!h.producer.is_closed());
    h.send("t", None, "late");
    h.answer(&sent[0], produced_ok(0, 0));
    assert!(h.producer.is_closed());
    let ops = h.wire.take_ops();
    assert_eq!(ops.last(), Some(&Op::Close));
    assert!(outcomes(&ops).contains(&("late".into(), "fail", "producer_closed".into())));
}

/// KIP-360's unsafe case (bug `pid-reset-without-bump`): sequences restart at 0 under the same
/// epoch, and a batch whose earlier attempt may have been written is written again.
#[test]
fn bug_pid_reset_without_bump_resends_under_the_same_epoch_from_zero() {
    let mut config = single_record_batches();
    config.producer_state_loss_policy = ProducerStateLossPolicy::ResetWithoutBump;
    let mut h = Harness::booted(config, one_partition());
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_ok(10, 0));
    h.send_all("t", &["v-1"]);
    let _lost = h.produces();
    h.tick(1_000);
    h.tick(2_000);
    let retry = h.produces();
    h.answer(&retry[0], produced_err(ErrorCode::UnknownProducerId, 5));
    h.tick(2_000);
    assert!(h.wire.take("init_producer_id").is_empty(), "no bump");
    let again = h.produces();
    assert_eq!(again.len(), 1);
    let batch = again[0].produced();
    assert_eq!((batch.producer_epoch, batch.base_sequence), (0, 0));
    assert_eq!(batch.records[0].value, Bytes::from("v-1"));
    assert_eq!(
        h.producer.status().data_loss_reports,
        0,
        "the loss is hidden"
    );
}

/// Bug `pid-loss-fatal`: one UnknownProducerId fails every pending and later send.
#[test]
fn bug_pid_loss_fatal_fails_everything_after_unknown_producer_id() {
    let mut config = single_record_batches();
    config.producer_state_loss_policy = ProducerStateLossPolicy::Fatal;
    let mut h = Harness::booted(config, one_partition());
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_ok(10, 0));
    h.send_all("t", &["v-1", "v-2"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_err(ErrorCode::UnknownProducerId, 20));
    h.send("t", None, "v-3");
    let ops = h.wire.take_ops();
    // franz-go #805's stop tells the application nothing but the sends' failures.
    assert!(
        !ops.iter().any(|op| matches!(op, Op::Fatal { .. })),
        "{ops:?}"
    );
    let mut results = outcomes(&ops);
    results.sort();
    assert_eq!(
        results,
        vec![
            ("v-0".into(), "ok", String::new()),
            ("v-1".into(), "fail", "unknown_producer_id".into()),
            ("v-2".into(), "info", "unknown_producer_id".into()),
            ("v-3".into(), "fail", "unknown_producer_id".into()),
        ]
    );
    assert!(h.producer.status().fatal.is_some());
}

#[test]
fn the_correct_producer_survives_what_the_fatal_bug_does_not() {
    // Same inputs as the test above, without the bug: every send ends ok.
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_ok(10, 0));
    h.send_all("t", &["v-1", "v-2"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_err(ErrorCode::UnknownProducerId, 20));
    h.answer(&sent[1], produced_err(ErrorCode::UnknownProducerId, 20));
    h.tick(1);
    let bump = h.wire.take("init_producer_id");
    h.answer(&bump[0], init_pid(PID, 1));
    h.send("t", None, "v-3");
    for _ in 0..10 {
        h.tick(100);
        for sent in h.produces() {
            let batch = sent.produced();
            h.answer(&sent, produced_ok(20 + batch.base_sequence as u64, 20));
        }
    }
    let results = outcomes(&h.wire.take_ops());
    assert_eq!(results.len(), 4);
    assert!(
        results.iter().all(|(_, kind, _)| *kind == "ok"),
        "{results:?}"
    );
}

#[test]
fn a_refused_bump_asks_for_a_fresh_producer_id() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_err(ErrorCode::MessageTooLarge, 0));
    h.tick(1);
    let bump = h.wire.take("init_producer_id");
    h.answer(
        &bump[0],
        Response::InitProducerId(InitProducerIdResponse {
            result: Err(ErrorCode::InvalidProducerEpoch),
        }),
    );
    h.tick(2_000);
    let fresh = h.wire.take("init_producer_id");
    assert_eq!(
        fresh[0].request,
        Request::InitProducerId(InitProducerIdRequest { current: None })
    );
}

// ---- personalities: real clients' reactions to a sequence desynchronization ----------------

fn personality_config(personality: crate::Personality) -> ProducerConfig {
    let mut config = single_record_batches();
    personality.apply_to_producer(&mut config);
    config
}

/// v-0 acknowledged at offset 10, then v-1's first attempt answered `error` with log start 5
/// (retention does not explain it).
fn desync_after_an_ack(personality: crate::Personality, error: ErrorCode) -> Harness {
    let mut h = Harness::booted(personality_config(personality), one_partition());
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_ok(10, 0));
    h.send_all("t", &["v-1"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_err(error, 5));
    h
}

/// Answers the bump with epoch 1 and acknowledges what is resent; returns the resent batches'
/// (epoch, base sequence).
fn bump_and_ack(h: &mut Harness) -> Vec<(i16, i32)> {
    h.tick(1);
    let bump = h.wire.take("init_producer_id");
    assert_eq!(bump.len(), 1, "an epoch bump");
    assert_eq!(
        bump[0].request,
        Request::InitProducerId(InitProducerIdRequest {
            current: Some((PID, 0))
        })
    );
    h.answer(&bump[0], init_pid(PID, 1));
    let mut resent = Vec::new();
    for _ in 0..10 {
        h.tick(100);
        for sent in h.produces() {
            let batch = sent.produced();
            resent.push((batch.producer_epoch, batch.base_sequence));
            h.answer(&sent, produced_ok(11 + batch.base_sequence as u64, 5));
        }
    }
    resent
}

/// Java `TransactionManager.canRetry`: an UnknownProducerId the log start does not explain is
/// retried under a bumped epoch, with no data-loss report (streamsim fails it instead).
#[test]
fn java_resends_after_an_unexplained_unknown_producer_id() {
    let mut h = desync_after_an_ack(crate::Personality::Java, ErrorCode::UnknownProducerId);
    assert_eq!(bump_and_ack(&mut h), vec![(1, 0)]);
    assert_eq!(
        outcomes(&h.wire.take_ops()),
        vec![
            ("v-0".into(), "ok", String::new()),
            ("v-1".into(), "ok", String::new()),
        ]
    );
    assert_eq!(h.producer.status().data_loss_reports, 0);
}

/// Java: OUT_OF_ORDER_SEQUENCE_NUMBER on the next expected batch bumps the epoch and retries.
#[test]
fn java_resends_after_out_of_order_sequence_on_the_head_batch() {
    let mut h = desync_after_an_ack(crate::Personality::Java, ErrorCode::OutOfOrderSequence);
    assert_eq!(bump_and_ack(&mut h), vec![(1, 0)]);
    let results = outcomes(&h.wire.take_ops());
    assert!(
        results.iter().all(|(_, kind, _)| *kind == "ok"),
        "{results:?}"
    );
}

/// Java rewrites the sequences of every in-flight batch of the partition
/// (`startSequencesAtBeginning`), written before or not: a batch whose first attempt got no
/// answer is resent under the new epoch (streamsim completes it as unknown instead, see
/// `a_batch_that_may_have_been_written_is_not_rewritten_under_a_new_epoch`).
#[test]
fn java_resends_a_batch_that_may_have_been_written() {
    let mut h = Harness::booted(
        personality_config(crate::Personality::Java),
        one_partition(),
    );
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_ok(10, 0));
    h.send_all("t", &["v-1"]);
    let _lost = h.produces();
    h.tick(1_000); // the attempt timed out: it may be in the log
    h.tick(2_000);
    let retry = h.produces();
    h.answer(&retry[0], produced_err(ErrorCode::UnknownProducerId, 5));
    assert_eq!(bump_and_ack(&mut h), vec![(1, 0)]);
    assert_eq!(
        outcomes(&h.wire.take_ops()),
        vec![
            ("v-0".into(), "ok", String::new()),
            ("v-1".into(), "ok", String::new()),
        ]
    );
}

/// Java rewrites every unacknowledged batch of the partition, in order, from sequence 0.
#[test]
fn java_resends_every_unacknowledged_batch_of_the_partition_in_order() {
    let mut h = Harness::booted(
        personality_config(crate::Personality::Java),
        one_partition(),
    );
    h.send_all("t", &["v-0", "v-1", "v-2"]);
    let sent = h.produces();
    assert_eq!(sent.len(), 3);
    h.answer(&sent[0], produced_err(ErrorCode::OutOfOrderSequence, 0));
    h.answer(&sent[1], produced_err(ErrorCode::OutOfOrderSequence, 0));
    h.answer(&sent[2], produced_err(ErrorCode::OutOfOrderSequence, 0));
    assert_eq!(bump_and_ack(&mut h), vec![(1, 0), (1, 1), (1, 2)]);
    let results = outcomes(&h.wire.take_ops());
    assert_eq!(results.len(), 3);
    assert!(
        results.iter().all(|(_, kind, _)| *kind == "ok"),
        "{results:?}"
    );
}

/// franz-go `handleReqRespBatch`: resent like Java, and the `onDataLoss` hook fires when the
/// log start does not explain the loss.
#[test]
fn franz_go_resends_and_reports_unexplained_loss() {
    let mut h = desync_after_an_ack(crate::Personality::FranzGo, ErrorCode::UnknownProducerId);
    assert_eq!(bump_and_ack(&mut h), vec![(1, 0)]);
    let results = outcomes(&h.wire.take_ops());
    assert!(
        results.iter().all(|(_, kind, _)| *kind == "ok"),
        "{results:?}"
    );
    assert_eq!(h.producer.status().data_loss_reports, 1);
}

/// franz-go: explained by retention (log start 20 > last acked 10), no report.
#[test]
fn franz_go_does_not_report_loss_that_retention_explains() {
    let mut h = Harness::booted(
        personality_config(crate::Personality::FranzGo),
        one_partition(),
    );
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_ok(10, 0));
    h.send_all("t", &["v-1"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_err(ErrorCode::UnknownProducerId, 20));
    assert_eq!(bump_and_ack(&mut h), vec![(1, 0)]);
    assert_eq!(h.producer.status().data_loss_reports, 0);
}

/// librdkafka: UNKNOWN_PRODUCER_ID on a batch never retried: "no risk of
/// duplication/reordering: resetting PID and retrying".
#[test]
fn librdkafka_resends_a_first_attempt_answered_unknown_producer_id() {
    let mut h = desync_after_an_ack(crate::Personality::Librdkafka, ErrorCode::UnknownProducerId);
    assert_eq!(bump_and_ack(&mut h), vec![(1, 0)]);
    assert!(h.producer.status().fatal.is_none());
}

/// librdkafka: UNKNOWN_PRODUCER_ID on a retried batch is "unable to retry without risking
/// duplication/reordering": fatal, and every later send fails. The application is told
/// (`rd_kafka_fatal_error()`): a `fatal` naming the partition, before the sends complete.
#[test]
fn librdkafka_stops_on_unknown_producer_id_for_a_retried_batch() {
    let mut h = Harness::booted(
        personality_config(crate::Personality::Librdkafka),
        one_partition(),
    );
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_ok(10, 0));
    h.send_all("t", &["v-1"]);
    let _lost = h.produces();
    h.tick(1_000);
    h.tick(2_000);
    let retry = h.produces();
    h.answer(&retry[0], produced_err(ErrorCode::UnknownProducerId, 5));
    h.send("t", None, "v-2");
    let ops = h.wire.take_ops();
    let fatal: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| matches!(op, Op::Fatal { .. }))
        .map(|(index, _)| index)
        .collect();
    assert_eq!(fatal.len(), 1, "{ops:?}");
    assert_eq!(
        ops[fatal[0]],
        Op::Fatal {
            topic: "t".into(),
            partition: 0,
            error: "unknown_producer_id".into(),
        }
    );
    assert!(
        matches!(&ops[fatal[0] + 1], Op::SendInfo { value, .. } if value == "v-1"),
        "{ops:?}"
    );
    assert_eq!(
        outcomes(&ops),
        vec![
            ("v-0".into(), "ok", String::new()),
            ("v-1".into(), "info", "unknown_producer_id".into()),
            ("v-2".into(), "fail", "unknown_producer_id".into()),
        ]
    );
    assert!(h.producer.status().fatal.is_some());
}

/// librdkafka: a resend after NOT_LEADER_OR_FOLLOWER is not a retry (`rd_kafka_handle_Produce_error`:
/// a metadata refresh sets `incr_retry = 0`), so UNKNOWN_PRODUCER_ID on it is still a first
/// attempt's: bump and resend, no fatal error. A timeout before it makes it a retry: fatal.
#[test]
fn librdkafka_does_not_count_a_resend_for_stale_metadata_as_a_retry() {
    for timed_out_first in [false, true] {
        let mut h = Harness::booted(
            personality_config(crate::Personality::Librdkafka),
            one_partition(),
        );
        h.send_all("t", &["v-0"]);
        let sent = h.produces();
        h.answer(&sent[0], produced_ok(10, 0));
        h.send_all("t", &["v-1"]);
        let sent = h.produces();
        if timed_out_first {
            h.tick(1_000);
            h.tick(2_000);
            let retry = h.produces();
            h.answer(&retry[0], produced_err(ErrorCode::NotLeaderOrFollower, 0));
        } else {
            h.answer(&sent[0], produced_err(ErrorCode::NotLeaderOrFollower, 0));
        }
        h.answer_metadata(one_partition());
        h.tick(2_000);
        let retry = h.produces();
        assert_eq!(retry.len(), 1);
        h.answer(&retry[0], produced_err(ErrorCode::UnknownProducerId, 5));
        if timed_out_first {
            assert!(h.producer.status().fatal.is_some());
            continue;
        }
        assert!(h.producer.status().fatal.is_none());
        assert_eq!(bump_and_ack(&mut h), vec![(1, 0)]);
        assert_eq!(
            outcomes(&h.wire.take_ops()),
            vec![
                ("v-0".into(), "ok", String::new()),
                ("v-1".into(), "ok", String::new()),
            ]
        );
    }
}

/// librdkafka: OUT_OF_ORDER_SEQUENCE_NUMBER on the head-of-line batch is a "sequence
/// desynchronization with broker": fatal.
#[test]
fn librdkafka_stops_on_out_of_order_sequence_on_the_head_batch() {
    let mut h = desync_after_an_ack(
        crate::Personality::Librdkafka,
        ErrorCode::OutOfOrderSequence,
    );
    assert!(h.producer.status().fatal.is_some());
    h.tick(1);
    assert!(h.wire.take("init_producer_id").is_empty(), "no bump");
}

/// A bug's policy still wins over a personality: `pid-loss-fatal` on a Java producer.
#[test]
fn a_bug_overrides_the_java_personality() {
    let mut config = personality_config(crate::Personality::Java);
    config.producer_state_loss_policy = ProducerStateLossPolicy::Fatal;
    let mut h = Harness::booted(config, one_partition());
    h.send_all("t", &["v-0"]);
    let sent = h.produces();
    h.answer(&sent[0], produced_err(ErrorCode::UnknownProducerId, 0));
    assert!(h.producer.status().fatal.is_some());
}

// ---- acks and idempotence ----------------------------------------------------------------------

/// A producer without idempotence that asks for `acks`, one record per batch, knowing
/// `one_partition()` (leader 1, epoch 0).
fn without_idempotence(acks: Acks) -> Harness {
    let mut config = single_record_batches();
    config.acks = acks;
    config.idempotence = false;
    config.in_flight_per_partition_max = 1;
    let mut h = Harness::new(config);
    h.answer_metadata(one_partition());
    assert!(
        h.wire.take("init_producer_id").is_empty(),
        "no producer id without idempotence"
    );
    assert_eq!(h.wire.take_ops(), vec![Op::Start]);
    h
}

fn produce_acks(sent: &Sent) -> Acks {
    match &sent.request {
        Request::Produce(request) => request.acks,
        other => panic!("not a produce: {other:?}"),
    }
}

#[test]
fn acks_1_is_acknowledged_without_a_producer_id_and_records_its_leader_epoch() {
    let mut h = without_idempotence(Acks::Leader);
    h.send_all("t", &["v-0"]);
    let produces = h.produces();
    assert_eq!(produces.len(), 1);
    assert_eq!(produce_acks(&produces[0]), Acks::Leader);
    assert!(!produces[0].produced().is_idempotent());
    h.answer(&produces[0], produced_ok(12, 0));
    let ops = h.wire.take_ops();
    assert_eq!(
        ops.last(),
        Some(&Op::SendOk {
            value: "v-0".into(),
            topic: "t".into(),
            partition: 0,
            offset: 12,
            pid: None,
            epoch: None,
            sequence: None,
            acks: SendAcks::Leader {
                leader_epoch: Some(0)
            },
        })
    );
}

#[test]
fn acks_all_records_no_acks_field() {
    let mut h = Harness::booted(single_record_batches(), one_partition());
    h.send_all("t", &["v-0"]);
    let produces = h.produces();
    assert_eq!(produce_acks(&produces[0]), Acks::All);
    h.answer(&produces[0], produced_ok(0, 0));
    assert!(h.wire.take_ops().iter().any(|op| matches!(
        op,
        Op::SendOk {
            acks: SendAcks::All,
            pid: Some(PID),
            ..
        }
    )));
}

#[test]
fn without_idempotence_a_batch_that_may_be_written_is_not_sent_again() {
    let mut h = without_idempotence(Acks::Leader);
    h.send_all("t", &["v-0", "v-1"]);
    let first = h.produces();
    assert_eq!(first.len(), 1, "one batch in flight");
    // No answer: v-0 may be in the log; sent again it could be there twice.
    h.tick(1_000);
    h.tick(10);
    assert_eq!(
        outcomes(&h.wire.take_ops()),
        vec![("v-0".into(), "info", "request_timed_out".into())]
    );
    let next = h.produces();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].produced().records[0].value.as_ref(), b"v-1");
    // A storage error after the append (`KafkaStorageError`) proves nothing either.
    h.answer(&next[0], produced_err(ErrorCode::KafkaStorageError, 0));
    h.tick(1_000);
    assert!(h.produces().is_empty());
    assert_eq!(
        outcomes(&h.wire.take_ops()),
        vec![("v-1".into(), "info", "kafka_storage_error".into())]
    );
}

#[test]
fn acks_1_retries_a_batch_the_leader_refused_before_appending() {
    let mut h = without_idempotence(Acks::Leader);
    h.send_all("t", &["v-0"]);
    let first = h.produces();
    // With acks=1 the leader answers right after its append: NotLeaderOrFollower comes before it.
    h.answer(&first[0], produced_err(ErrorCode::NotLeaderOrFollower, 0));
    h.answer_metadata(one_partition());
    h.tick(2_000);
    let retry = h.produces();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].produced(), first[0].produced());
    h.answer(&retry[0], produced_ok(3, 0));
    assert_eq!(
        outcomes(&h.wire.take_ops()),
        vec![("v-0".into(), "ok", String::new())]
    );
}

#[test]
fn acks_0_completes_each_send_as_unknown_once_it_is_sent() {
    let mut h = without_idempotence(Acks::None);
    h.send_all("t", &["v-0", "v-1", "v-2"]);
    let produces = h.produces();
    assert_eq!(produces.len(), 3, "nothing waits for an answer");
    assert!(produces.iter().all(|sent| produce_acks(sent) == Acks::None));
    assert_eq!(
        outcomes(&h.wire.take_ops()),
        vec![
            ("v-0".into(), "info", "acks_0".into()),
            ("v-1".into(), "info", "acks_0".into()),
            ("v-2".into(), "info", "acks_0".into()),
        ]
    );
    let status = h.producer.status();
    assert_eq!((status.unknown, status.pending), (3, 0));
    assert_eq!(status.partitions_used.get("t"), Some(&vec![0]));
    // Nothing is awaited: no timeout, no retry.
    h.tick(5_000);
    assert!(h.produces().is_empty());
    h.producer.close(h.now_ms);
    h.absorb();
    assert_eq!(h.wire.take_ops(), vec![Op::Close]);
}

#[test]
#[should_panic(expected = "idempotence requires acks=all")]
fn idempotence_with_acks_1_is_refused() {
    let mut config = ProducerConfig::new("producer-0");
    config.acks = Acks::Leader;
    Producer::new(config, testkit::cluster(), 0, testkit::rng());
}

#[test]
#[should_panic(expected = "at most one batch may be in flight")]
fn more_than_one_batch_in_flight_without_idempotence_is_refused() {
    let mut config = ProducerConfig::new("producer-0");
    config.idempotence = false;
    Producer::new(config, testkit::cluster(), 0, testkit::rng());
}
