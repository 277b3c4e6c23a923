//! Seeds that once failed on the correct build, kept so they cannot fail again unnoticed. Each
//! says what was wrong and where it was fixed.

use scenarios::report::Verdict;
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
