//! Example-based tests of the partition log: appends, reads, rolls, retention, log start,
//! truncation, recovery.

mod common;

use broker::batch::{Record, RecordBatch, BATCH_HEADER_BYTES};
use broker::log::{AppendOutcome, Log, LogConfig, LogError, SyncPolicy};
use broker::producer_state::ProducerStateError;
use common::{batch, disk, read_all};
use sim::disk::Disk;

const DIR: &str = "log/orders-0/";

fn open(disk: &Disk, config: LogConfig) -> Log<Disk> {
    Log::open(disk.clone(), DIR, config).expect("open").0
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes_max: 300,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

/// Appends `count` one-record batches "v{n}" at timestamp `now_ms`.
fn fill(log: &mut Log<Disk>, count: u64, now_ms: i64) {
    for _ in 0..count {
        let n = log.log_end_offset();
        log.append_as_leader(batch(&[&format!("v{n}")], now_ms), 1, now_ms)
            .unwrap();
    }
}

#[test]
fn appends_assign_offsets_and_reads_return_them() {
    let disk = disk(1);
    let mut log = open(&disk, LogConfig::default());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    let first = log
        .append_as_leader(batch(&["a", "b", "c"], 10), 4, 10)
        .unwrap();
    assert_eq!(
        first,
        AppendOutcome::Appended {
            base_offset: 0,
            last_offset: 2
        }
    );
    let second = log.append_as_leader(batch(&["d"], 11), 4, 11).unwrap();
    assert_eq!(second.base_offset(), 3);
    assert_eq!(log.log_end_offset(), 4);
    // A read in the middle of a batch returns the whole batch.
    let result = log.read(1, u64::MAX).unwrap();
    assert_eq!(result.batches.len(), 2);
    assert_eq!(result.batches[0].header.base_offset, 0);
    assert_eq!(result.batches[0].header.partition_leader_epoch, 4);
    assert_eq!(read_all(&log, 0).len(), 4);
    // At the end: empty. Beyond: out of range.
    assert!(log.read(4, 100).unwrap().batches.is_empty());
    assert_eq!(
        log.read(5, 100),
        Err(LogError::OffsetOutOfRange {
            offset: 5,
            log_start: 0,
            log_end: 4
        })
    );
}

#[test]
fn a_read_returns_at_least_one_batch_and_respects_max_bytes() {
    let disk = disk(2);
    let mut log = open(&disk, LogConfig::default());
    fill(&mut log, 10, 0);
    let one = log.read(0, 0).unwrap();
    assert_eq!(
        one.batches.len(),
        1,
        "max_bytes 0 still gets one batch (KIP-74)"
    );
    let batch_bytes = one.size_bytes();
    let three = log.read(0, 3 * batch_bytes + 1).unwrap();
    assert_eq!(three.batches.len(), 3);
    let all = log.read(0, u64::MAX).unwrap();
    assert_eq!(all.batches.len(), 10);
}

#[test]
fn segments_roll_by_size_and_reads_cross_them() {
    let disk = disk(3);
    let mut log = open(&disk, small_segments());
    fill(&mut log, 40, 0);
    let segments = log.segments();
    assert!(segments.len() > 3, "rolled: {segments:?}");
    for pair in segments.windows(2) {
        assert_eq!(pair[0].next_offset, pair[1].base_offset);
        assert!(pair[0].size_bytes <= 300);
    }
    assert!(segments.iter().any(|segment| segment.index_entries > 0));
    let records = read_all(&log, 0);
    assert_eq!(records.len(), 40);
    for (index, (offset, value)) in records.iter().enumerate() {
        assert_eq!(*offset, index as u64);
        assert_eq!(value, &format!("v{index}"));
    }
    // The files are where the docs say.
    assert!(disk.exists("log/orders-0/00000000000000000000.log"));
    log.sync().unwrap();
    assert!(disk.exists("log/orders-0/00000000000000000000.index"));
}

#[test]
fn segments_roll_by_age() {
    let disk = disk(4);
    let mut log = open(
        &disk,
        LogConfig {
            segment_ms: Some(1_000),
            ..LogConfig::default()
        },
    );
    fill(&mut log, 3, 0);
    assert_eq!(log.segments().len(), 1);
    assert!(!log.roll_if_due(999).unwrap());
    fill(&mut log, 1, 1_000);
    assert_eq!(
        log.segments().len(),
        2,
        "the append at 1000 ms rolled first"
    );
    assert!(log.roll_if_due(2_000).unwrap());
    assert_eq!(log.segments().len(), 3);
    assert!(
        !log.roll_if_due(5_000).unwrap(),
        "an empty active segment never rolls"
    );
}

#[test]
fn retention_by_time_deletes_old_segments_and_advances_the_log_start() {
    let disk = disk(5);
    let mut log = open(
        &disk,
        LogConfig {
            retention_ms: Some(1_000),
            ..small_segments()
        },
    );
    fill(&mut log, 20, 0);
    let old_end = log.log_end_offset();
    fill(&mut log, 20, 5_000);
    let segments_before = log.segments().len();
    let outcome = log.apply_retention(5_500, log.log_end_offset()).unwrap();
    assert!(!outcome.segments_deleted.is_empty());
    assert!(log.segments().len() < segments_before);
    let log_start = log.log_start_offset();
    assert_eq!(outcome.log_start_offset, log_start);
    assert!(
        log_start > 0 && log_start <= old_end,
        "log start {log_start}"
    );
    assert_eq!(log.segments()[0].base_offset, log_start);
    // fluvio #3891: a read below the log start is OffsetEvicted with the current log start.
    assert_eq!(
        log.read(0, 100),
        Err(LogError::OffsetEvicted {
            offset: 0,
            next_available: log_start
        })
    );
    assert_eq!(read_all(&log, log_start).len() as u64, 40 - log_start);
    // Nothing older than the retention remains deletable: a second run deletes nothing.
    assert!(log
        .apply_retention(5_500, log.log_end_offset())
        .unwrap()
        .segments_deleted
        .is_empty());
}

#[test]
fn retention_never_deletes_the_active_segment_or_past_the_high_watermark() {
    let disk = disk(6);
    let mut log = open(
        &disk,
        LogConfig {
            retention_ms: Some(1),
            ..small_segments()
        },
    );
    fill(&mut log, 30, 0);
    // High watermark 0: nothing may go.
    assert!(log
        .apply_retention(10_000, 0)
        .unwrap()
        .segments_deleted
        .is_empty());
    log.apply_retention(10_000, u64::MAX).unwrap();
    assert_eq!(log.segments().len(), 1, "only the active segment is left");
    assert_eq!(log.log_start_offset(), log.segments()[0].base_offset);
    assert!(log.log_start_offset() <= log.log_end_offset());
}

#[test]
fn retention_by_size_keeps_at_least_the_limit() {
    let disk = disk(7);
    let mut log = open(
        &disk,
        LogConfig {
            retention_bytes: Some(600),
            ..small_segments()
        },
    );
    fill(&mut log, 60, 0);
    let before = log.size_bytes();
    log.apply_retention(0, u64::MAX).unwrap();
    let after = log.size_bytes();
    assert!(after < before);
    assert!(
        after >= 600,
        "Kafka's rule: never below retention_bytes ({after})"
    );
    let oldest = log.segments()[0].size_bytes;
    assert!(
        after - oldest < 600,
        "one more deletion would go below the limit"
    );
}

#[test]
fn advance_log_start_mid_segment_is_durable_across_a_crash() {
    let disk = disk(8);
    let mut log = open(&disk, small_segments());
    fill(&mut log, 30, 0);
    log.sync().unwrap();
    let target = log.segments()[1].base_offset + 1;
    let outcome = log.advance_log_start(target).unwrap();
    assert_eq!(outcome.segments_deleted, vec![0]);
    assert_eq!(log.log_start_offset(), target);
    assert!(matches!(
        log.read(target - 1, 10),
        Err(LogError::OffsetEvicted { next_available, .. }) if next_available == target
    ));
    assert!(matches!(
        log.advance_log_start(1_000),
        Err(LogError::LogStartBeyondEnd {
            requested: 1_000,
            log_end: 30
        })
    ));
    disk.crash();
    let (log, report) = Log::open(disk.clone(), DIR, small_segments()).unwrap();
    assert_eq!(report.log_start_checkpoint, Some(target));
    assert_eq!(
        log.log_start_offset(),
        target,
        "the log start did not move back"
    );
    assert_eq!(read_all(&log, target).len() as u64, 30 - target);
}

#[test]
fn a_log_start_beyond_the_recovered_end_restarts_the_log_there() {
    let disk = disk(9);
    disk.update_faults(|faults| faults.torn_writes = false);
    let mut log = open(&disk, LogConfig::default());
    fill(&mut log, 10, 0);
    log.sync().unwrap();
    fill(&mut log, 10, 0);
    // Records 10..20 are not durable, but the log start checkpoint is.
    log.advance_log_start(15).unwrap();
    disk.crash();
    let (log, report) = Log::open(disk, DIR, LogConfig::default()).unwrap();
    assert_eq!(report.restarted_empty_at, Some(15));
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (15, 15));
}

#[test]
fn unsynced_batches_may_be_lost_but_synced_ones_never() {
    let disk = disk(10);
    disk.update_faults(|faults| faults.torn_writes = false);
    let mut log = open(&disk, small_segments());
    fill(&mut log, 25, 0);
    assert_eq!(log.sync().unwrap(), 25);
    assert_eq!(log.durable_end_offset(), 25);
    fill(&mut log, 25, 0);
    assert_eq!(log.durable_end_offset(), 25);
    disk.crash();
    let (log, report) = Log::open(disk, DIR, small_segments()).unwrap();
    assert_eq!(log.log_end_offset(), 25, "{report:?}");
    assert_eq!(read_all(&log, 0).len(), 25);
}

#[test]
fn sync_every_append_makes_every_acknowledged_batch_durable() {
    let disk = disk(11);
    let config = LogConfig {
        sync: SyncPolicy::EveryAppend,
        ..small_segments()
    };
    let mut log = open(&disk, config.clone());
    fill(&mut log, 12, 0);
    assert_eq!(log.durable_end_offset(), 12);
    disk.crash();
    let (log, _) = Log::open(disk, DIR, config).unwrap();
    assert_eq!(log.log_end_offset(), 12);
}

#[test]
fn a_failed_sync_with_sync_every_append_reports_not_durable() {
    let disk = disk(12);
    let config = LogConfig {
        sync: SyncPolicy::EveryAppend,
        ..LogConfig::default()
    };
    let mut log = open(&disk, config);
    fill(&mut log, 2, 0);
    // The write succeeds, the sync (the second write operation) fails.
    disk.update_faults(|faults| faults.write_error_rate = 0.0);
    let mut attempts = 0;
    let error = loop {
        attempts += 1;
        assert!(attempts < 10_000, "no sync failure drawn");
        disk.update_faults(|faults| faults.write_error_rate = 0.5);
        let result = log.append_as_leader(batch(&["x"], 0), 1, 0);
        disk.heal();
        match result {
            Err(error @ LogError::NotDurable { .. }) => break error,
            _ => continue,
        }
    };
    let LogError::NotDurable { last_offset, .. } = error else {
        unreachable!()
    };
    assert!(
        log.log_end_offset() > last_offset,
        "the batch is in the log"
    );
    assert!(log.durable_end_offset() <= last_offset, "but not durable");
    log.sync().unwrap();
    assert_eq!(log.durable_end_offset(), log.log_end_offset());
}

#[test]
fn recovery_cuts_a_corrupt_byte_and_everything_after_it() {
    let disk = disk(13);
    let mut log = open(&disk, small_segments());
    fill(&mut log, 40, 0);
    log.sync().unwrap();
    let segments = log.segments();
    assert!(segments.len() >= 3);
    // Corrupt a byte inside the second batch of the second segment.
    let victim = &segments[1];
    let name = format!("{DIR}{:020}.log", victim.base_offset);
    let first_batch_bytes = log.read(victim.base_offset, 0).unwrap().size_bytes();
    // In the payload, so the header parses and the CRC catches it.
    disk.corrupt_byte(&name, first_batch_bytes + BATCH_HEADER_BYTES + 2)
        .unwrap();
    drop(log);
    let (log, report) = Log::open(disk.clone(), DIR, small_segments()).unwrap();
    let cut = report.cut.expect("a cut");
    assert_eq!(cut.segment_base_offset, victim.base_offset);
    assert_eq!(cut.position, first_batch_bytes);
    assert!(cut.reason.contains("CRC"), "{}", cut.reason);
    assert_eq!(log.log_end_offset(), victim.base_offset + 1);
    assert_eq!(report.segments_deleted.len(), segments.len() - 2);
    assert_eq!(read_all(&log, 0).len() as u64, victim.base_offset + 1);
    // The log keeps working after the cut.
    let mut log = log;
    fill(&mut log, 5, 0);
    assert_eq!(read_all(&log, 0).len() as u64, victim.base_offset + 6);
}

#[test]
fn recovery_cuts_a_torn_tail() {
    let disk = disk(14);
    let mut log = open(&disk, LogConfig::default());
    fill(&mut log, 5, 0);
    log.sync().unwrap();
    let name = format!("{DIR}{:020}.log", 0);
    let whole = disk.contents(&name).unwrap();
    // Half a batch at the end, as a torn write leaves it.
    disk.append(&name, &whole[..30]).unwrap();
    drop(log);
    let (log, report) = Log::open(disk.clone(), DIR, LogConfig::default()).unwrap();
    assert_eq!(report.bytes_dropped, 30);
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(disk.contents(&name).unwrap(), whole);
}

#[test]
fn a_vanished_segment_is_a_storage_error_not_a_panic() {
    let disk = disk(15);
    let mut log = open(&disk, small_segments());
    fill(&mut log, 30, 0);
    log.sync().unwrap();
    let segments = log.segments();
    let name = format!("{DIR}{:020}.log", segments[1].base_offset);
    assert!(disk.vanish(&name));
    let error = log.read(segments[1].base_offset, 10).unwrap_err();
    assert!(
        matches!(&error, LogError::Storage(storage) if storage.is_not_found()),
        "{error:?}"
    );
    assert!(error.is_storage_error());
    // Other segments still read.
    assert!(log.read(0, 10).is_ok());
    // The active segment vanishing: appends fail, the log goes offline, a reopen recovers.
    let active = format!("{DIR}{:020}.log", segments.last().unwrap().base_offset);
    disk.vanish(&active);
    assert!(log.append_as_leader(batch(&["x"], 0), 1, 0).is_err());
    assert!(matches!(log.read(0, 10), Err(LogError::Offline { .. })));
    let (log, report) = Log::open(disk, DIR, small_segments()).unwrap();
    assert!(report.cut.is_some(), "the gap is reported");
    assert_eq!(log.log_end_offset(), segments[1].base_offset);
}

#[test]
fn truncate_to_removes_the_batch_holding_the_offset_and_everything_after() {
    let disk = disk(16);
    let mut log = open(&disk, small_segments());
    for n in 0..20 {
        let base = log.log_end_offset();
        log.append_as_leader(
            batch(&[&format!("a{base}"), &format!("b{}", base + 1)], n),
            2,
            n,
        )
        .unwrap();
    }
    assert_eq!(log.log_end_offset(), 40);
    log.sync().unwrap();
    log.truncate_to(21).unwrap();
    assert_eq!(log.log_end_offset(), 20, "batch 20..=21 went entirely");
    assert!(log.durable_end_offset() <= 20);
    assert_eq!(read_all(&log, 0).len(), 20);
    // Appends continue at the new end, in a contiguous log.
    log.append_as_leader(batch(&["new"], 100), 3, 100).unwrap();
    let records = read_all(&log, 18);
    assert_eq!(records.last().unwrap(), &(20, "new".to_string()));
    assert_eq!(
        log.leader_epoch_starts()
            .iter()
            .map(|e| (e.leader_epoch, e.start_offset))
            .collect::<Vec<_>>(),
        vec![(2, 0), (3, 20)]
    );
    assert_eq!(log.end_offset_for_leader_epoch(2), Some((2, 20)));
    assert_eq!(log.end_offset_for_leader_epoch(3), Some((3, 21)));
    assert_eq!(log.end_offset_for_leader_epoch(9), None);
    // Survives a crash.
    log.sync().unwrap();
    disk.crash();
    let (log, _) = Log::open(disk, DIR, small_segments()).unwrap();
    assert_eq!(log.log_end_offset(), 21);
    assert_eq!(log.leader_epoch_starts().len(), 2);
}

#[test]
fn truncate_fully_restarts_the_log_at_an_offset() {
    let disk = disk(17);
    let mut log = open(&disk, small_segments());
    fill(&mut log, 30, 0);
    log.truncate_fully_and_start_at(100).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 100));
    assert!(matches!(
        log.read(5, 10),
        Err(LogError::OffsetEvicted {
            next_available: 100,
            ..
        })
    ));
    // A follower now takes the leader's batches from 100.
    let mut replicated = batch(&["r"], 0);
    replicated.base_offset = 100;
    replicated.partition_leader_epoch = 7;
    assert_eq!(log.append_replicated(&[replicated.clone()], 0), Ok(101));
    assert_eq!(
        log.append_replicated(&[replicated], 0),
        Err(LogError::NonContiguous {
            base_offset: 100,
            log_end: 101
        })
    );
    disk.crash();
    let (log, _) = Log::open(disk.clone(), DIR, small_segments()).unwrap();
    assert_eq!(log.log_start_offset(), 100);
    assert!(log.log_end_offset() >= 100);
    assert_eq!(
        disk.list_prefix(DIR)
            .iter()
            .filter(|name| name.ends_with(".log"))
            .count(),
        1
    );
}

#[test]
fn truncating_below_the_log_start_moves_it_back() {
    let disk = disk(18);
    let mut log = open(&disk, LogConfig::default());
    fill(&mut log, 10, 0);
    log.advance_log_start(8).unwrap();
    log.truncate_to(5).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (5, 5));
    disk.crash();
    let (log, _) = Log::open(disk, DIR, LogConfig::default()).unwrap();
    assert_eq!(log.log_start_offset(), 5);
}

#[test]
fn idempotent_retries_are_answered_with_the_original_offsets() {
    let disk = disk(19);
    let mut log = open(&disk, LogConfig::default());
    let send = |sequence: i32, values: &[&str]| {
        RecordBatch::idempotent(
            42,
            0,
            sequence,
            values
                .iter()
                .map(|value| Record::new(None, value.as_bytes().to_vec(), 0))
                .collect(),
        )
    };
    assert_eq!(
        log.append_as_leader(send(0, &["a", "b"]), 1, 0).unwrap(),
        AppendOutcome::Appended {
            base_offset: 0,
            last_offset: 1
        }
    );
    log.append_as_leader(batch(&["other"], 0), 1, 0).unwrap();
    log.append_as_leader(send(2, &["c"]), 1, 0).unwrap();
    let size = log.size_bytes();
    assert_eq!(
        log.append_as_leader(send(0, &["a", "b"]), 1, 0).unwrap(),
        AppendOutcome::Duplicate {
            base_offset: 0,
            last_offset: 1
        }
    );
    assert_eq!(log.size_bytes(), size, "a duplicate writes nothing");
    assert!(matches!(
        log.append_as_leader(send(5, &["gap"]), 1, 0),
        Err(LogError::Producer(ProducerStateError::OutOfOrderSequence {
            expected_sequence: 3,
            ..
        }))
    ));
    assert_eq!(log.size_bytes(), size);
    // Recovery rebuilds the producer state from the log.
    log.sync().unwrap();
    disk.crash();
    let (mut log, _) = Log::open(disk, DIR, LogConfig::default()).unwrap();
    assert_eq!(
        log.append_as_leader(send(2, &["c"]), 1, 0).unwrap(),
        AppendOutcome::Duplicate {
            base_offset: 3,
            last_offset: 3
        }
    );
}

#[test]
fn producer_state_expires_when_retention_passes_its_last_batch() {
    // franz-go #805: the broker forgets the producer; its next sequence is unknown.
    let disk = disk(20);
    let mut log = open(
        &disk,
        LogConfig {
            retention_ms: Some(1_000),
            ..small_segments()
        },
    );
    let producer_batch = |sequence: i32, now_ms: i64| {
        RecordBatch::idempotent(7, 0, sequence, vec![Record::new(None, &b"p"[..], now_ms)])
    };
    log.append_as_leader(producer_batch(0, 0), 1, 0).unwrap();
    log.roll().unwrap();
    fill(&mut log, 20, 5_000);
    let outcome = log.apply_retention(5_000, log.log_end_offset()).unwrap();
    assert_eq!(outcome.producers_expired, vec![7]);
    assert!(matches!(
        log.append_as_leader(producer_batch(1, 5_000), 1, 5_000),
        Err(LogError::Producer(ProducerStateError::UnknownProducerId {
            producer_id: 7,
            first_sequence: 1
        }))
    ));
    // The forced expiry used by fault injection.
    log.append_as_leader(producer_batch(0, 5_000), 1, 5_000)
        .unwrap();
    assert!(log.expire_producer(7));
    assert!(log.producer_state().get(7).is_none());
}

#[test]
fn an_invalid_config_is_a_typed_error() {
    let disk = disk(21);
    let result = Log::open(
        disk,
        DIR,
        LogConfig {
            segment_bytes_max: 0,
            ..LogConfig::default()
        },
    );
    assert!(matches!(result, Err(LogError::InvalidConfig { .. })));
}

#[test]
fn logs_of_different_partitions_do_not_see_each_other() {
    let disk = disk(22);
    let mut zero = open(&disk, LogConfig::default());
    let (mut one, _) = Log::open(disk.clone(), "log/orders-1", LogConfig::default()).unwrap();
    fill(&mut zero, 3, 0);
    one.append_as_leader(batch(&["only"], 0), 1, 0).unwrap();
    zero.sync().unwrap();
    one.sync().unwrap();
    let (zero, _) = Log::open(disk.clone(), DIR, LogConfig::default()).unwrap();
    let (one, _) = Log::open(disk, "log/orders-1/", LogConfig::default()).unwrap();
    assert_eq!(zero.log_end_offset(), 3);
    assert_eq!(one.log_end_offset(), 1);
}

#[test]
fn a_segment_exactly_retention_ms_old_is_kept() {
    // Kafka deletes when now - max timestamp > retention.ms, not at equality.
    let disk = disk(23);
    let mut log = open(
        &disk,
        LogConfig {
            retention_ms: Some(1_000),
            ..LogConfig::default()
        },
    );
    fill(&mut log, 2, 500);
    log.roll().unwrap();
    fill(&mut log, 1, 5_000);
    assert!(log
        .apply_retention(1_500, u64::MAX)
        .unwrap()
        .segments_deleted
        .is_empty());
    assert_eq!(
        log.apply_retention(1_501, u64::MAX)
            .unwrap()
            .segments_deleted,
        vec![0]
    );
    assert_eq!(log.log_start_offset(), 2);
}

/// What `inspect::replica_log` returned before it took the batches from the recovery scan:
/// open a snapshot, then read from the log start to the log end and decode every batch.
/// A log's start, end and records (offset, leader epoch, value).
type LogContent = (u64, u64, Vec<(u64, u32, Vec<u8>)>);

fn replica_log_by_reads(snapshot: Disk) -> LogContent {
    let config = LogConfig {
        segment_bytes_max: u64::MAX / 4,
        ..LogConfig::default()
    };
    if snapshot.list_prefix(DIR).is_empty() {
        return (0, 0, Vec::new());
    }
    let (log, _) = Log::open(snapshot, DIR, config).expect("open");
    let mut records = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20).expect("read");
        if read.batches.is_empty() {
            break;
        }
        for stored in &read.batches {
            let batch = stored.decode().expect("decode");
            for (index, record) in batch.records.iter().enumerate() {
                let record_offset = batch.base_offset + index as u64;
                if record_offset >= offset {
                    records.push((
                        record_offset,
                        batch.partition_leader_epoch,
                        record.value.to_vec(),
                    ));
                }
            }
            offset = offset.max(batch.base_offset + batch.records.len() as u64);
        }
    }
    (log.log_start_offset(), log.log_end_offset(), records)
}

/// Compares with a fresh cache, then twice with `kept` (the cache of every earlier comparison
/// of the test: a scan resumed past kept bytes, a reused decode, must read as a first read does).
fn assert_inspection_reads_as_reads_do(
    disk: &Disk,
    kept: &mut broker::inspect::InspectCache,
    what: &str,
) {
    let partition = broker::api::TopicPartition::new("orders", 0);
    let expected = replica_log_by_reads(disk.snapshot());
    let mut fresh = broker::inspect::InspectCache::default();
    for round in 0..3 {
        let cache = if round == 0 { &mut fresh } else { &mut *kept };
        let log =
            broker::inspect::replica_log_with(disk.snapshot(), &partition, cache).expect("inspect");
        let records: Vec<(u64, u32, Vec<u8>)> = log
            .records()
            .iter()
            .map(|record| (record.offset, record.leader_epoch, record.value.to_vec()))
            .collect();
        assert_eq!(
            (log.log_start_offset, log.log_end_offset, records),
            expected,
            "{what}"
        );
    }
}

/// The state checker's reading of a replica's log (batches taken from the recovery scan) returns
/// what opening the log and reading it from its start returns: several segments, a log start
/// inside a batch, segments deleted below it, a torn tail, a missing middle segment, nothing.
#[test]
fn inspecting_a_log_returns_what_reading_it_returns() {
    let disk = disk(7);
    let kept = &mut broker::inspect::InspectCache::default();
    assert_inspection_reads_as_reads_do(&disk, kept, "no log");
    let mut log = open(&disk, small_segments());
    let append = |log: &mut Log<Disk>, from: u64, to: u64| {
        for n in from..to {
            let values: Vec<String> = (0..(n % 3 + 1)).map(|i| format!("v{n}-{i}")).collect();
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            log.append_as_leader(batch(&values, n as i64), 1 + (n / 10) as u32, n as i64)
                .unwrap();
        }
        log.sync().unwrap();
    };
    append(&mut log, 0, 2);
    assert_inspection_reads_as_reads_do(&disk, kept, "one segment");
    append(&mut log, 2, 3);
    assert_inspection_reads_as_reads_do(&disk, kept, "the segment grew");
    append(&mut log, 3, 40);
    assert!(log.segments().len() > 3, "several segments");
    assert_inspection_reads_as_reads_do(&disk, kept, "several segments");
    // A log start inside a batch (batch 5 holds offsets 7..=9), then past whole segments.
    log.advance_log_start(8).unwrap();
    assert_inspection_reads_as_reads_do(&disk, kept, "log start inside a batch");
    log.advance_log_start(30).unwrap();
    assert_inspection_reads_as_reads_do(&disk, kept, "segments deleted below the log start");
    append(&mut log, 40, 44);
    assert_inspection_reads_as_reads_do(&disk, kept, "grown again");
    let files = disk.list_prefix(DIR);
    let last_log = files
        .iter()
        .rfind(|name| name.ends_with(".log"))
        .unwrap()
        .clone();
    disk.append(&last_log, &[0, 0, 0, 0, 0, 0, 1]).unwrap();
    assert_inspection_reads_as_reads_do(&disk, kept, "a torn tail");
    let logs: Vec<&String> = files.iter().filter(|name| name.ends_with(".log")).collect();
    assert!(logs.len() >= 3, "segments left: {logs:?}");
    disk.delete(logs[1]).unwrap();
    assert_inspection_reads_as_reads_do(&disk, kept, "a missing middle segment");
    drop(log);
    let mut log = open(&disk, small_segments());
    append(&mut log, 44, 46);
    assert_inspection_reads_as_reads_do(&disk, kept, "reopened and grown");
    let end = log.log_end_offset();
    log.advance_log_start(end).unwrap();
    assert_inspection_reads_as_reads_do(&disk, kept, "log start at the log end");
    // Another disk with other bytes under the same file names.
    let other = common::disk(8);
    let mut log = open(&other, small_segments());
    append(&mut log, 0, 5);
    assert_inspection_reads_as_reads_do(&other, kept, "another disk");
}
