//! Bad input and disk faults: a typed error, nothing written, and the log keeps working.

mod common;

use broker::batch::{
    BatchError, Record, RecordBatch, BATCH_BYTES_MAX, OFFSET_MAX, RECORDS_PER_BATCH_MAX,
};
use broker::log::{Log, LogConfig, LogError};
use common::{batch, disk, read_all, CrashingStorage};
use sim::disk::Disk;

const DIR: &str = "log/bad-0/";

fn log_with_data(disk: &Disk) -> Log<Disk> {
    let (mut log, _) = Log::open(disk.clone(), DIR, LogConfig::default()).unwrap();
    for n in 0..5 {
        log.append_as_leader(batch(&[&format!("v{n}")], 0), 1, 0)
            .unwrap();
    }
    log
}

/// Asserts `attempt` fails with an error `expected` accepts, changes no file, and leaves the
/// log readable and appendable.
fn refused_without_trace(
    disk: &Disk,
    log: &mut Log<Disk>,
    attempt: impl FnOnce(&mut Log<Disk>) -> Result<(), LogError>,
    expected: impl FnOnce(&LogError) -> bool,
) {
    let files_before = disk.files();
    let end_before = log.log_end_offset();
    let error = attempt(log).expect_err("bad input accepted");
    assert!(expected(&error), "unexpected error {error:?}");
    assert_eq!(disk.files(), files_before, "something was written");
    assert_eq!(log.log_end_offset(), end_before);
    assert_eq!(
        read_all(log, log.log_start_offset()).len() as u64,
        end_before - log.log_start_offset()
    );
    let next = log.append_as_leader(batch(&["after"], 0), 1, 0).unwrap();
    assert_eq!(next.base_offset(), end_before);
}

#[test]
fn malformed_bytes_are_a_corrupt_batch() {
    let good = batch(&["a", "b"], 5).encode();
    for bytes in [
        Vec::new(),
        vec![0u8; 10],
        vec![0xffu8; 200],
        good[..good.len() - 1].to_vec(),
        {
            let mut flipped = good.to_vec();
            flipped[60] ^= 1;
            flipped
        },
    ] {
        assert!(matches!(
            RecordBatch::decode(&bytes),
            Err(BatchError::CorruptBatch { .. })
        ));
    }
}

#[test]
fn oversized_empty_and_inconsistent_batches_are_refused() {
    let disk = disk(1);
    let mut log = log_with_data(&disk);
    refused_without_trace(
        &disk,
        &mut log,
        |log| {
            let huge = RecordBatch::new(vec![Record::new(
                None,
                vec![7u8; BATCH_BYTES_MAX as usize],
                0,
            )]);
            log.append_as_leader(huge, 1, 0).map(|_| ())
        },
        |error| {
            matches!(
                error,
                LogError::InvalidBatch(BatchError::BatchTooLarge { .. })
            )
        },
    );
    refused_without_trace(
        &disk,
        &mut log,
        |log| {
            log.append_as_leader(RecordBatch::new(vec![]), 1, 0)
                .map(|_| ())
        },
        |error| matches!(error, LogError::InvalidBatch(BatchError::EmptyBatch)),
    );
    refused_without_trace(
        &disk,
        &mut log,
        |log| {
            let many = RecordBatch::new(vec![
                Record::new(None, &b""[..], 0);
                RECORDS_PER_BATCH_MAX as usize + 1
            ]);
            log.append_as_leader(many, 1, 0).map(|_| ())
        },
        |error| {
            matches!(
                error,
                LogError::InvalidBatch(BatchError::TooManyRecords { .. })
            )
        },
    );
    refused_without_trace(
        &disk,
        &mut log,
        |log| {
            let bad = RecordBatch::idempotent(-7, 0, 0, vec![Record::new(None, &b"x"[..], 0)]);
            log.append_as_leader(bad, 1, 0).map(|_| ())
        },
        |error| {
            matches!(
                error,
                LogError::InvalidBatch(BatchError::InvalidProducerFields { .. })
            )
        },
    );
    refused_without_trace(
        &disk,
        &mut log,
        |log| {
            let mut gap = batch(&["x"], 0);
            gap.base_offset = log.log_end_offset() + 3;
            log.append_replicated(&[gap], 0).map(|_| ())
        },
        |error| matches!(error, LogError::NonContiguous { .. }),
    );
    refused_without_trace(
        &disk,
        &mut log,
        |log| {
            log.append_replicated(&[RecordBatch::new(vec![])], 0)
                .map(|_| ())
        },
        |error| matches!(error, LogError::InvalidBatch(BatchError::EmptyBatch)),
    );
}

#[test]
fn absurd_fetches_get_range_answers_or_bounded_reads() {
    let disk = disk(2);
    let mut log = log_with_data(&disk);
    assert_eq!(log.read(0, 0).unwrap().batches.len(), 1);
    assert_eq!(log.read(0, u64::MAX).unwrap().batches.len(), 5);
    assert_eq!(
        log.read(u64::MAX, 100),
        Err(LogError::OffsetOutOfRange {
            offset: u64::MAX,
            log_start: 0,
            log_end: 5
        })
    );
    assert_eq!(log.read_up_to(0, 100, u64::MAX).unwrap().batches.len(), 1);
    // A bound below the offset: out of range of that bound.
    assert_eq!(
        log.read_up_to(4, 100, 2),
        Err(LogError::OffsetOutOfRange {
            offset: 4,
            log_start: 0,
            log_end: 2
        })
    );
    assert!(matches!(
        log.advance_log_start(u64::MAX),
        Err(LogError::LogStartBeyondEnd { .. })
    ));
    log.truncate_to(u64::MAX).unwrap();
    assert_eq!(log.log_end_offset(), 5);
    refused_without_trace(
        &disk,
        &mut log,
        |log| log.advance_log_start(6).map(|_| ()),
        |error| {
            matches!(
                error,
                LogError::LogStartBeyondEnd {
                    requested: 6,
                    log_end: 5
                }
            )
        },
    );
}

#[test]
fn offsets_never_overflow() {
    let disk = disk(3);
    let mut log = log_with_data(&disk);
    log.truncate_fully_and_start_at(OFFSET_MAX).unwrap();
    assert!(matches!(
        log.append_as_leader(batch(&["a", "b"], 0), 1, 0),
        Err(LogError::InvalidBatch(BatchError::OffsetOverflow { .. }))
    ));
    log.append_as_leader(batch(&["last"], 0), 1, 0).unwrap();
    assert_eq!(log.log_end_offset(), OFFSET_MAX + 1);
}

#[test]
fn disk_write_and_read_faults_are_storage_errors_and_the_log_keeps_working() {
    let disk = disk(4);
    let mut log = log_with_data(&disk);
    disk.update_faults(|faults| faults.fail_next_writes = 1);
    refused_without_trace(
        &disk,
        &mut log,
        |log| log.append_as_leader(batch(&["x"], 0), 1, 0).map(|_| ()),
        |error| matches!(error, LogError::Storage(_)) && error.is_storage_error(),
    );
    disk.update_faults(|faults| faults.fail_next_reads = 1);
    assert!(matches!(log.read(0, 100), Err(LogError::Storage(_))));
    assert_eq!(log.read(0, 100).unwrap().batches.len(), 1);
    // A failed sync: the durable end does not move; the next sync does it.
    disk.update_faults(|faults| faults.fail_next_writes = 1);
    assert!(log.sync().is_err());
    assert!(log.durable_end_offset() < log.log_end_offset());
    log.sync().unwrap();
    assert_eq!(log.durable_end_offset(), log.log_end_offset());
    // A failed roll (the create fails) changes nothing.
    disk.update_faults(|faults| faults.fail_next_writes = 1);
    assert!(log.roll().is_err());
    assert_eq!(log.segments().len(), 1);
    assert!(log.roll().unwrap());
}

#[test]
fn a_failed_retention_delete_keeps_the_log_consistent() {
    let disk = disk(5);
    let config = LogConfig {
        segment_bytes_max: 150,
        retention_bytes: Some(0),
        ..LogConfig::default()
    };
    let (mut log, _) = Log::open(disk.clone(), DIR, config).unwrap();
    for n in 0..10 {
        log.append_as_leader(batch(&[&format!("v{n}")], 0), 1, 0)
            .unwrap();
    }
    let segments = log.segments().len();
    assert!(segments > 2);
    disk.update_faults(|faults| faults.fail_next_writes = 1);
    assert!(matches!(
        log.apply_retention(0, u64::MAX),
        Err(LogError::Storage(_))
    ));
    assert_eq!(
        log.segments().len(),
        segments,
        "the first delete failed: nothing went"
    );
    let outcome = log.apply_retention(0, u64::MAX).unwrap();
    assert_eq!(outcome.segments_deleted.len(), segments - 1);
    assert_eq!(log.log_start_offset(), log.segments()[0].base_offset);
    assert_eq!(
        read_all(&log, log.log_start_offset()).len() as u64,
        10 - log.log_start_offset()
    );
}

#[test]
fn a_failure_half_way_through_a_truncation_takes_the_log_offline_until_reopened() {
    let config = LogConfig {
        segment_bytes_max: 150,
        ..LogConfig::default()
    };
    let fill = |log: &mut Log<CrashingStorage>| {
        for n in 0..10 {
            log.append_as_leader(batch(&[&format!("v{n}")], 0), 1, 0)
                .unwrap();
        }
        log.sync().unwrap();
        assert!(log.segments().len() > 3);
    };
    // The first change fails: nothing changed, the log stays online.
    let disk = self::disk(6);
    let storage = CrashingStorage::new(disk.clone(), None);
    let (mut log, _) = Log::open(storage.clone(), DIR, config.clone()).unwrap();
    fill(&mut log);
    disk.update_faults(|faults| faults.fail_next_writes = 1);
    assert!(matches!(log.truncate_to(1), Err(LogError::Storage(_))));
    assert_eq!(log.log_end_offset(), 10);
    log.truncate_to(1).unwrap();
    assert_eq!(log.log_end_offset(), 1);

    // A later change fails (the second segment's delete; the index file deletes in between
    // may fail harmlessly): the log goes offline until reopened.
    let disk = self::disk(7);
    let counting = CrashingStorage::new(disk.clone(), None);
    let (mut log, _) = Log::open(counting.clone(), DIR, config.clone()).unwrap();
    fill(&mut log);
    drop(log);
    let counting = CrashingStorage::new(disk.clone(), None);
    let (log, _) = Log::open(counting.clone(), DIR, config.clone()).unwrap();
    let open_mutations = counting.mutations();
    drop(log);
    // Mutations of the truncation: delete last .log, delete last .index, delete next .log.
    let storage = CrashingStorage::failing_once(disk.clone(), open_mutations + 2);
    let (mut log, _) = Log::open(storage, DIR, config.clone()).unwrap();
    assert!(log.truncate_to(1).is_err());
    assert!(matches!(log.read(0, 10), Err(LogError::Offline { .. })));
    assert!(matches!(
        log.append_as_leader(batch(&["x"], 0), 1, 0),
        Err(LogError::Offline { .. })
    ));
    let (mut log, _) = Log::open(disk, DIR, config).unwrap();
    log.truncate_to(1).unwrap();
    assert_eq!(log.log_end_offset(), 1);
    assert_eq!(read_all(&log, 0), vec![(0, "v0".to_string())]);
}
