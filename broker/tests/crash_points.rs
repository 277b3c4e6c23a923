//! A crash at every single mutating storage operation of a workload, followed by recovery:
//! nothing acknowledged is lost, nothing is handed out twice, and recovery always succeeds.
//!
//! The workloads run on a [`CrashingStorage`] that crashes the disk (torn writes on) at
//! operation number `k`, for every `k` until a run completes; then the state is reopened on
//! the plain disk and compared with what was acknowledged before the crash.

mod common;

use broker::log::{Log, LogConfig, SyncPolicy};
use broker::offsets::{OffsetStore, PartitionOffset};
use broker::producer_ids::ProducerIdManager;
use common::{batch, disk, read_all, CrashingStorage};
use std::collections::BTreeMap;

/// Runs `workload` with a crash at operation `k` for k = 0, 1, 2, ... until a run finishes
/// without crashing; `check` then inspects the disk. Returns how many crash points ran.
fn at_every_crash_point<T>(
    mut workload: impl FnMut(&CrashingStorage) -> T,
    mut check: impl FnMut(&sim::disk::Disk, T),
) -> u64 {
    for crash_at in 0.. {
        let disk = disk(crash_at);
        let storage = CrashingStorage::new(disk.clone(), Some(crash_at));
        let acknowledged = workload(&storage);
        let crashed = storage.crashed();
        check(&disk, acknowledged);
        if !crashed {
            return crash_at;
        }
        assert!(crash_at < 10_000, "the workload never finishes");
    }
    unreachable!()
}

/// What the offsets workload had acknowledged, and the commit in flight when it crashed.
struct OffsetCommits {
    acknowledged: BTreeMap<u32, u64>,
    in_flight: Option<(u32, u64)>,
}

#[test]
fn offset_commits_survive_a_crash_at_every_step_including_compaction() {
    let points = at_every_crash_point(
        |storage| {
            let mut commits = OffsetCommits {
                acknowledged: BTreeMap::new(),
                in_flight: None,
            };
            let Ok((mut store, _)) = OffsetStore::open(storage.clone(), "offsets/", 160) else {
                return commits;
            };
            for n in 0..40u64 {
                let partition = (n % 3) as u32;
                match store.commit("group", &[PartitionOffset::new("orders", partition, n)], n) {
                    Ok(()) => {
                        commits.acknowledged.insert(partition, n);
                    }
                    Err(_) => {
                        commits.in_flight = Some((partition, n));
                        break;
                    }
                }
            }
            commits
        },
        |disk, commits| {
            let (mut store, _) =
                OffsetStore::open(disk.clone(), "offsets/", 160).expect("recovery succeeds");
            for partition in 0..3 {
                let recovered = store.fetch("group", "orders", partition);
                let acknowledged = commits.acknowledged.get(&partition).copied();
                let in_flight = commits
                    .in_flight
                    .filter(|(p, _)| *p == partition)
                    .map(|(_, offset)| offset);
                assert!(
                    recovered == acknowledged || (in_flight.is_some() && recovered == in_flight),
                    "partition {partition}: recovered {recovered:?}, acknowledged {acknowledged:?}, \
                     in flight {in_flight:?}"
                );
            }
            // The recovered store keeps working and survives another crash.
            store
                .commit("group", &[PartitionOffset::new("orders", 0, 1_000)], 1_000)
                .unwrap();
            disk.crash();
            let (store, _) = OffsetStore::open(disk.clone(), "offsets/", 160).unwrap();
            assert_eq!(store.fetch("group", "orders", 0), Some(1_000));
        },
    );
    assert!(
        points > 100,
        "the workload compacts several times ({points} crash points)"
    );
}

#[test]
fn producer_ids_are_never_handed_out_twice_and_epochs_never_go_back() {
    // (id, epoch) answers acknowledged before the crash.
    at_every_crash_point(
        |storage| {
            let mut answers: Vec<(i64, i16)> = Vec::new();
            let Ok(mut manager) = ProducerIdManager::open(storage.clone(), "pids/") else {
                return answers;
            };
            for n in 0..30 {
                let request = if n % 3 == 2 {
                    answers.last().copied()
                } else {
                    None
                };
                match manager.init_producer_id(request) {
                    Ok(answer) => answers.push(answer),
                    Err(_) => break,
                }
            }
            answers
        },
        |disk, answers| {
            let mut manager = ProducerIdManager::open(disk.clone(), "pids/").expect("recovery");
            let mut latest: BTreeMap<i64, i16> = BTreeMap::new();
            for (id, epoch) in &answers {
                latest.insert(*id, *epoch);
            }
            for (id, epoch) in &latest {
                let recovered = manager.epochs(*id).expect("an acknowledged id is known");
                assert!(recovered.epoch >= *epoch, "epoch of {id} went back");
            }
            let (fresh, _) = manager.init_producer_id(None).unwrap();
            assert!(
                latest.keys().all(|id| *id < fresh),
                "id {fresh} handed out twice"
            );
        },
    );
}

/// What the log workload had acknowledged.
#[derive(Default)]
struct LogAcks {
    /// Values by offset of acknowledged (synced) appends.
    values: BTreeMap<u64, String>,
    durable_end: u64,
    log_start: u64,
}

#[test]
fn the_log_recovers_from_a_crash_at_every_step() {
    let config = LogConfig {
        segment_bytes_max: 220,
        index_interval_bytes: 80,
        retention_bytes: Some(600),
        sync: SyncPolicy::EveryAppend,
        ..LogConfig::default()
    };
    let points = at_every_crash_point(
        |storage| {
            let mut acks = LogAcks::default();
            let Ok((mut log, _)) = Log::open(storage.clone(), "log/p-0/", config.clone()) else {
                return acks;
            };
            for n in 0..30u64 {
                let step = match n % 10 {
                    7 => log.apply_retention(0, log.log_end_offset()).map(|_| ()),
                    8 => {
                        let target = (log.log_start_offset() + log.log_end_offset()) / 2;
                        log.advance_log_start(target).map(|_| ())
                    }
                    9 => log.roll().map(|_| ()),
                    _ => {
                        let value = format!("v{n}");
                        log.append_as_leader(batch(&[&value], 0), 1, 0)
                            .map(|outcome| {
                                acks.values.insert(outcome.base_offset(), value);
                            })
                    }
                };
                if step.is_err() {
                    break;
                }
                acks.durable_end = log.durable_end_offset();
                acks.log_start = log.log_start_offset();
            }
            acks
        },
        |disk, acks| {
            let (log, report) =
                Log::open(disk.clone(), "log/p-0/", config.clone()).expect("recovery succeeds");
            assert!(
                log.log_end_offset() >= acks.durable_end,
                "acknowledged batches lost: end {} < {} ({report:?})",
                log.log_end_offset(),
                acks.durable_end
            );
            assert!(
                log.log_start_offset() >= acks.log_start,
                "log start went back from {} to {}",
                acks.log_start,
                log.log_start_offset()
            );
            for (offset, value) in read_all(&log, log.log_start_offset()) {
                if let Some(acknowledged) = acks.values.get(&offset) {
                    assert_eq!(&value, acknowledged, "offset {offset}");
                }
            }
        },
    );
    assert!(points > 50, "{points} crash points");
}
