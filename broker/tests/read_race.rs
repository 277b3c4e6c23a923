//! The two-phase read and the race behind fluvio #3891 (fixed by fluvio PR #3902): a fetch
//! resolves a segment, retention deletes it while the node sleeps for disk latency, then the
//! fetch reads. The correct log answers `OffsetEvicted { next_available: current log start }`;
//! under `SegmentViewPolicy::CachedIgnoringRetention` (the `stale-segment-read` bug) it answers
//! the storage's "not found" as an internal error.

mod common;

use broker::log::{InternalCause, Log, LogConfig, LogError};
use broker::policy::SegmentViewPolicy;
use common::{batch, disk, read_all};
use sim::disk::Disk;

const DIR: &str = "log/events-0/";

fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 250,
        retention_ms: Some(1_000),
        index_interval_bytes: 64,
        ..LogConfig::default()
    }
}

/// The log of fluvio #3891: reads from a cached segment view retention does not update.
fn cached_view_config() -> LogConfig {
    LogConfig {
        segment_view_policy: SegmentViewPolicy::CachedIgnoringRetention,
        ..config()
    }
}

/// A log with old segments (timestamp 0) then recent ones (timestamp 10 000).
fn log_with_old_segments(disk: &Disk, config: LogConfig) -> Log<Disk> {
    let (mut log, _) = Log::open(disk.clone(), DIR, config).unwrap();
    for n in 0..20 {
        log.append_as_leader(batch(&[&format!("old{n}")], 0), 1, 0)
            .unwrap();
    }
    log.roll().unwrap();
    for n in 0..20 {
        log.append_as_leader(batch(&[&format!("new{n}")], 10_000), 1, 10_000)
            .unwrap();
    }
    assert!(log.segments().len() >= 4);
    log
}

#[test]
fn retention_between_plan_and_execute_answers_offset_evicted() {
    let disk = disk(1);
    let mut log = log_with_old_segments(&disk, config());
    let plan = log.plan_read(1, 1_000).unwrap();
    assert_eq!(plan.segment_base_offset(), Some(0));
    let outcome = log.apply_retention(10_500, log.log_end_offset()).unwrap();
    assert!(
        outcome.segments_deleted.contains(&0),
        "the planned segment is gone"
    );
    let log_start = log.log_start_offset();
    assert_eq!(log_start, 20);
    assert_eq!(
        log.execute_read(&plan),
        Err(LogError::OffsetEvicted {
            offset: 1,
            next_available: log_start
        })
    );
    // The consumer jumps to next_available and reads on.
    assert_eq!(read_all(&log, log_start).len(), 20);
}

#[test]
fn with_stale_segment_read_the_deleted_file_surfaces_as_an_internal_error() {
    let disk = disk(1);
    let mut log = log_with_old_segments(&disk, cached_view_config());
    let plan = log.plan_read(1, 1_000).unwrap();
    log.apply_retention(10_500, log.log_end_offset()).unwrap();
    let error = log.execute_read(&plan).unwrap_err();
    match &error {
        LogError::Internal {
            offset: 1,
            cause: InternalCause::Io(storage),
        } => assert!(storage.is_not_found(), "{storage:?}"),
        other => panic!("expected the internal NotFound, got {other:?}"),
    }
    assert!(
        !error.is_storage_error(),
        "an internal error, not a disk fault"
    );
    // Without any race too: a consumer resolved "from beginning" before retention ran and
    // fetches it after (the fluvio #3891 report).
    assert!(matches!(
        log.read(0, 100),
        Err(LogError::Internal {
            cause: InternalCause::Io(_),
            ..
        })
    ));
    // Reads at or above the log start still work.
    assert_eq!(read_all(&log, log.log_start_offset()).len(), 20);
}

#[test]
fn with_stale_segment_read_an_offset_below_the_view_is_segment_not_found() {
    let disk = disk(2);
    let mut log = log_with_old_segments(&disk, cached_view_config());
    log.apply_retention(10_500, log.log_end_offset()).unwrap();
    drop(log);
    // After a restart the cached view starts at the log start.
    let (log, _) = Log::open(disk, DIR, cached_view_config()).unwrap();
    assert_eq!(
        log.read(0, 100),
        Err(LogError::Internal {
            offset: 0,
            cause: InternalCause::SegmentNotFound
        })
    );
}

#[test]
fn the_same_history_without_the_bug_never_answers_an_internal_error() {
    let disk = disk(2);
    let mut log = log_with_old_segments(&disk, config());
    log.apply_retention(10_500, log.log_end_offset()).unwrap();
    for offset in 0..log.log_start_offset() {
        assert_eq!(
            log.read(offset, 100),
            Err(LogError::OffsetEvicted {
                offset,
                next_available: 20
            })
        );
    }
}

#[test]
fn a_plan_whose_segment_was_cut_and_rewritten_is_replanned() {
    let disk = disk(3);
    let (mut log, _) = Log::open(disk, DIR, config()).unwrap();
    for n in 0..10 {
        log.append_as_leader(batch(&[&format!("first{n}")], 0), 1, 0)
            .unwrap();
    }
    let plan = log.plan_read(8, 1_000).unwrap();
    // A follower truncation, then the new leader's (differently sized) batches.
    log.truncate_to(5).unwrap();
    log.append_as_leader(batch(&["a-much-longer-value-5", "six"], 0), 2, 0)
        .unwrap();
    log.append_as_leader(batch(&["a-much-longer-value-7", "eight"], 0), 2, 0)
        .unwrap();
    let result = log.execute_read(&plan).unwrap();
    let values: Vec<_> = result
        .records()
        .filter(|(offset, _)| *offset >= 8)
        .map(|(_, record)| String::from_utf8(record.value.to_vec()).unwrap())
        .collect();
    assert_eq!(values, vec!["eight"]);
}

#[test]
fn a_plan_whose_range_was_truncated_away_is_out_of_range() {
    let disk = disk(4);
    let (mut log, _) = Log::open(disk, DIR, config()).unwrap();
    for n in 0..10 {
        log.append_as_leader(batch(&[&format!("v{n}")], 0), 1, 0)
            .unwrap();
    }
    let plan = log.plan_read(8, 1_000).unwrap();
    log.truncate_to(6).unwrap();
    assert_eq!(
        log.execute_read(&plan),
        Err(LogError::OffsetOutOfRange {
            offset: 8,
            log_start: 0,
            log_end: 6
        })
    );
}

#[test]
fn retention_of_other_segments_does_not_disturb_a_plan() {
    let disk = disk(5);
    let mut log = log_with_old_segments(&disk, config());
    let plan = log.plan_read(30, 1_000).unwrap();
    log.apply_retention(10_500, log.log_end_offset()).unwrap();
    let result = log.execute_read(&plan).unwrap();
    assert!(result.records().any(|(offset, _)| offset == 30));
    assert_eq!(result.log_start_offset, 20);
}
