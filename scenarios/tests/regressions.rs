//! Seeds that once failed on the correct build, kept so they cannot fail again unnoticed. Each
//! says what was wrong and where it was fixed.

use scenarios::report::Verdict;
use scenarios::spec::Scenario;
use scenarios::RunRequest;

fn assert_passes(scenario: &str, seed: u64, why: &str) {
    let report = scenarios::run(&RunRequest::named(scenario, seed)).expect("the seed runs");
    assert_eq!(
        report.verdict,
        Verdict::Pass,
        "{scenario} seed {seed} ({why}) failed: {:?}",
        report.counts
    );
}

/// `stale-partitions` cried wolf: a crash and packet loss delayed the keyless producer's metadata
/// refresh by 1.6 s after the topic grew, and it finished its 77 remaining sends on the partitions
/// it knew of. The checker now counts only sends invoked 5 s or more after the growth.
#[test]
fn swarm_1472_a_slow_metadata_refresh_after_growth_is_not_stale_partitions() {
    assert_passes(
        "swarm",
        1472,
        "stale-partitions, metadata refresh delayed by faults",
    );
}

/// The same false `stale-partitions` as seed 1472.
#[test]
fn swarm_2858_a_slow_metadata_refresh_after_growth_is_not_stale_partitions() {
    assert_passes(
        "swarm",
        2858,
        "stale-partitions, metadata refresh delayed by faults",
    );
}

/// Lost acknowledged writes on the correct build: a follower of swarm/2 was cut while down and
/// restarted while the controller was down too. The restarted controller had forgotten the
/// broker's incarnation, so it did not see a new one, left the broker in the ISR and later
/// elected it, and offset 63 was written twice. The controller now keeps broker incarnations in
/// its durable metadata (as Kafka keeps broker registrations in its metadata log).
#[test]
fn swarm_4563_a_broker_restarted_during_a_controller_outage_is_still_a_new_incarnation() {
    assert_passes("swarm", 4563, "lost-write, controller forgot incarnations");
}

/// Duplicates on the correct build: time retention (8.3 s) was shorter than the franz-go
/// producer's delivery timeout (10 s). A batch written while its answers were lost (timeouts,
/// then `NotEnoughReplicas` while a follower was down) was deleted by retention, and the broker
/// forgot the producer with it; the retry got `UnknownProducerId` with a log start above the last
/// acknowledged offset, and franz-go, as its `handleReqRespBatch` does ("no loss occurred, bumping
/// producer epoch and resetting sequence numbers"), wrote the batch again under a new epoch. The
/// swarm now keeps its producers' delivery timeout 2 s below time retention, as every other
/// scenario keeps retention above the delivery timeout.
#[test]
fn swarm_8319_retention_never_deletes_a_batch_a_producer_still_retries() {
    assert_passes(
        "swarm",
        8319,
        "duplicate, franz-go resent a batch whose state retention removed",
    );
}

/// The same as seed 8319: franz-go wrote again a batch that retention had deleted (with the
/// producer's state) while it was still being retried after a leader crash.
#[test]
fn swarm_8742_retention_never_deletes_a_batch_a_producer_still_retries() {
    assert_passes(
        "swarm",
        8742,
        "duplicate, franz-go resent a batch whose state retention removed",
    );
}

/// producer-stalled on the correct build: retention (9.5 s, below the 10 s delivery timeout)
/// removed a librdkafka producer's last batch, and its state, while its next batch was being
/// retried (`NotEnoughReplicas` with both followers down); the retry after the heal got
/// `UnknownProducerId`, which librdkafka answers with a fatal error when the batch was retried
/// (`rd_kafka_handle_idempotent_Produce_error`: "unable to retry without risking
/// duplication/reordering"), and every later send failed. The swarm no longer draws that
/// (see seed 8319); this runs the scenario as it drew it before, pinned as a file: a real librdkafka stops there
/// too, and tells the application (`fatal`), so the oracle judges the fails after it as the
/// failures the application was told of, not as a stall, since retention explains the loss.
#[test]
fn swarm_7163_a_librdkafka_fatal_error_after_retention_is_reported_not_a_stall() {
    assert_passes(
        "swarm",
        7163,
        "producer-stalled, retention removed a retrying producer's state",
    );
    let text = include_str!("scenarios/swarm-7163-before.toml");
    let scenario = Scenario::from_toml(text).expect("the pinned scenario parses");
    assert_eq!(scenario.cluster.retention_ms, 9_453);
    assert!(scenario
        .producers
        .iter()
        .all(|producer| producer.delivery_timeout_ms == 10_000));
    let report = scenarios::run(&RunRequest::fixed(scenario, "swarm-7163-before.toml", 7163))
        .expect("the scenario runs");
    assert_eq!(
        report.verdict,
        Verdict::Pass,
        "swarm seed 7163 as drawn before: {:?}",
        report.counts
    );
    // The run the test is about: librdkafka's producer-1 stopped after the heal (on swarm/2 since
    // the record batch v2 format changed batch sizes, and with them the timing; swarm/5 before).
    let fatal: Vec<String> = report
        .history
        .iter()
        .filter(|event| matches!(event.op, oracle::Op::Fatal { .. }))
        .map(|event| event.to_json_line())
        .collect();
    assert_eq!(fatal.len(), 1, "{fatal:?}");
    assert!(
        fatal[0].contains(r#""process":"producer-1","type":"ok","f":"fatal","topic":"swarm","partition":2,"error":"unknown_producer_id""#),
        "{}",
        fatal[0]
    );
}

/// replicas-diverge and duplicates on the correct build (found when swarm began to draw the fast
/// double fail-over of KAFKA-6361): a follower asked the new leader where its latest epoch (2)
/// ends; the leader never had epoch 2 and answered for epoch 1, which the follower had never had
/// either (it missed epoch 1 while it restarted). The follower kept its epoch-2 records, since it
/// only cut at its own end of the answered epoch when it had that epoch. Kafka's follower
/// (`getOffsetTruncationState`) cuts at the end of its largest epoch below the answered one and
/// asks again; so does streamsim's now (broker/src/core/follower.rs).
#[test]
fn swarm_176_a_follower_without_the_answered_epoch_cuts_below_it_and_asks_again() {
    let text = include_str!("scenarios/swarm-176-shrunk.toml");
    let scenario = Scenario::from_toml(text).expect("the pinned scenario parses");
    let report = scenarios::run(&RunRequest::fixed(scenario, "swarm-176-shrunk.toml", 176))
        .expect("the scenario runs");
    assert_eq!(
        report.verdict,
        Verdict::Pass,
        "swarm seed 176, shrunk: {:?}",
        report.counts
    );
    assert_passes(
        "swarm",
        176,
        "replicas-diverge after a fast double fail-over",
    );
}

/// high-watermark-lost and lost writes on the correct build: a truncate-follower fault cut
/// records a follower had already reported to its leader. Broker 2 led swarm/0 with ISR [2, 3]
/// and sent broker 3 offsets 514..516; broker 3's fetch at 516 reached broker 2 just as a pause
/// froze it (11.7 s). The controller fenced broker 2 and elected broker 3, the ISR's last member
/// (13.05 s); broker 3 had not heard of it when the fault (12.7 s after the start) took it
/// down and cut it to the committed offset, 514. Resumed, broker 2 still thought it led with ISR
/// [2, 3]: it took the waiting fetch, raised its high watermark to 516 and consumer-0 read 514
/// and 515. Broker 3 came back and, the last replica standing, was elected again with log end
/// 514; offsets 514..516 were written again with other records. Kafka loses them the same way
/// (KIP-966's "last replica standing": the ISR's last member loses records it had in an unclean
/// shutdown). The cut now waits for the restart and is made only if the controller has fenced
/// the follower meanwhile and taken it out of the ISR, and the swarm keeps it down longer than a
/// session so that it can be. This runs the scenario as it drew it before (down 500 ms) too.
#[test]
fn swarm_2810_a_follower_keeps_records_it_reported_while_it_can_still_lead() {
    // Pinned as a file: swarm's later draws changed what seed 2810 is.
    let text = include_str!("scenarios/swarm-2810.toml");
    let mut scenario = Scenario::from_toml(text).expect("the pinned scenario parses");
    let report = scenarios::run(&RunRequest::fixed(
        scenario.clone(),
        "swarm-2810.toml",
        2810,
    ))
    .expect("the scenario runs");
    assert_eq!(
        report.verdict,
        Verdict::Pass,
        "swarm seed 2810: {:?}",
        report.counts
    );
    let session_ms = scenario.cluster.session_timeout_ms;
    assert_eq!(session_ms, 1_168);
    let mut truncations = 0;
    for fault in &mut scenario.faults {
        if let scenarios::spec::Fault::TruncateFollower { .. } = fault.fault {
            assert!(fault.for_ms.is_some_and(|ms| ms > session_ms), "{fault:?}");
            fault.for_ms = Some(500);
            truncations += 1;
        }
    }
    assert_eq!(truncations, 2);
    let report = scenarios::run(&RunRequest::fixed(scenario, "swarm-2810-before.toml", 2810))
        .expect("the scenario runs");
    assert_eq!(
        report.verdict,
        Verdict::Pass,
        "swarm seed 2810 as drawn before: {:?}",
        report.counts
    );
    // The run the test is about: broker 3, the last in-sync replica of swarm/0, kept its log.
    assert!(
        report.fault_log.iter().any(|(_, what)| what
            == "fault 3: broker-3 keeps its log of swarm-0 (the controller has not fenced it and \
                taken it out of the ISR)"),
        "{:?}",
        report.fault_log
    );
}

/// Runs a pinned scenario file (as `streamsim show` printed it when the seed failed) and asserts
/// the correct build passes it.
fn assert_pinned_passes(text: &str, file: &str, seed: u64, why: &str) {
    let scenario = Scenario::from_toml(text).expect("the pinned scenario parses");
    let report =
        scenarios::run(&RunRequest::fixed(scenario, file, seed)).expect("the scenario runs");
    assert_eq!(
        report.verdict,
        Verdict::Pass,
        "{file} seed {seed} ({why}) failed: {:?}",
        report.counts
    );
}

/// isr-not-full at the end, a follower spinning on epoch checks (found by a fresh-seed sweep of
/// 6001..8001). Broker 2 led swarm/0 (empty) in epoch 3, was cut off from the controller and
/// replaced by broker 3 in epoch 4. Back as a follower, its latest epoch 3 was unknown to the
/// leader, whose answer named an older epoch; the cut was a no-op (no record to cut), so the
/// empty epoch 3 stayed in its cache, and it asked the same question every few milliseconds
/// for the rest of the run, never fetching. A cut that removes no record now drops the epochs
/// that start at the log end, as Kafka's `truncateTo` does (`broker/src/core/follower.rs`,
/// `truncate_replica`). Seeds 7183 and 7565 were the same loop.
#[test]
fn swarm_7644_a_follower_forgets_empty_epochs_it_cut_away() {
    for (text, file, seed) in [
        (
            include_str!("scenarios/swarm-7644.toml"),
            "swarm-7644.toml",
            7644,
        ),
        (
            include_str!("scenarios/swarm-7183.toml"),
            "swarm-7183.toml",
            7183,
        ),
        (
            include_str!("scenarios/swarm-7565.toml"),
            "swarm-7565.toml",
            7565,
        ),
    ] {
        assert_pinned_passes(text, file, seed, "isr-not-full, epoch check loop");
    }
}

/// replicas-diverge on the correct build. Broker 3 led swarm/0 in epoch 1 for a millisecond,
/// appended one record at offset 46, and its retention then moved its log start to 46, which
/// dropped epoch 0 from its cache (as Kafka's `truncateFromStart` does). Back as a follower of
/// epoch 2, the leader answered "epoch 0 ends at 52"; with no epoch of its own at or below 0,
/// the follower took the leader's end as the bound and kept its epoch-1 record below the high
/// watermark. It now cuts from where its first known epoch starts, as Kafka's `endOffsetFor`
/// answers for an epoch older than any it knows.
#[test]
fn swarm_6538_a_follower_whose_cache_starts_after_the_answered_epoch_cuts_there() {
    assert_pinned_passes(
        include_str!("scenarios/swarm-6538.toml"),
        "swarm-6538.toml",
        6538,
        "replicas-diverge, epoch dropped by retention",
    );
}

/// producer-stalled: sends invoked after the heal failed with `not_enough_replicas`. During the
/// outage they had joined an unsent batch with older sends; the batch went out after the heal,
/// was refused (`NotEnoughReplicas`: not written) while the ISR grew back, and when its oldest
/// send's delivery timeout passed the whole batch failed, the fresh sends with it. A sent batch
/// that every answer proved unwritten now completes only its expired sends; the rest are
/// sequenced anew after the epoch bump the gap asks for (`client/src/producer/batches.rs`,
/// `expire`).
#[test]
fn swarm_7846_fresh_sends_outlive_the_expired_sends_of_their_batch() {
    assert_pinned_passes(
        include_str!("scenarios/swarm-7846.toml"),
        "swarm-7846.toml",
        7846,
        "producer-stalled, batch shared with expired sends",
    );
}

/// high-watermark-lost on the correct build. Broker 2 led swarm/0 in epoch 2 and proposed
/// adding broker 1 back to the ISR; the controller applied it, but the answer was lost when
/// broker 2 was cut off and paused. Resumed, it sent the proposal again and was told its epoch
/// was fenced; it dropped the proposal and counted its last ISR ([2, 3]) only, so it exposed a
/// high watermark of 149 that broker 1, the member it had added and the next leader, never
/// reached (146). A leader now keeps a proposal the controller may have applied (answers
/// `FencedLeaderEpoch`, `InvalidUpdateVersion`) pending, as Kafka's `handleAlterPartitionError`
/// does, until metadata says how it ended (`broker/src/core/mod.rs`, `on_response`).
#[test]
fn swarm_9784_a_refused_isr_proposal_the_controller_may_have_applied_stays_pending() {
    assert_pinned_passes(
        include_str!("scenarios/swarm-9784.toml"),
        "swarm-9784.toml",
        9784,
        "high-watermark-lost, ISR proposal dropped on FencedLeaderEpoch",
    );
}
