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
