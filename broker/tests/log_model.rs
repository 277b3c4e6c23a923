//! The partition log against a simple in-memory model, under random appends (leader and
//! replicated, random batch sizes), rolls, retention by time and size, forced log start
//! advances, truncations, syncs, plan/execute races, clean reopens, and crashes with torn
//! writes followed by recovery.
//!
//! Checked after every step: the log start and end are the model's; every read returns exactly
//! the model's records, or the right `OffsetEvicted` / `OffsetOutOfRange`; log start <=
//! durable end <= log end. Checked at every crash: no synced batch is lost (the recovered end
//! is at least the durable end before the crash), the log start does not move, and the
//! recovered log is a prefix of the model.

mod common;

use broker::batch::{Record, RecordBatch};
use broker::log::{Log, LogConfig, LogError, SegmentInfo, SyncPolicy};
use bytes::Bytes;
use common::disk;
use proptest::prelude::*;
use sim::disk::Disk;
use std::collections::{BTreeMap, BTreeSet};

const DIR: &str = "log/model-0/";

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: usize,
        value_bytes: usize,
    },
    AppendReplicated {
        batches: usize,
        records: usize,
    },
    Tick {
        ms: i64,
    },
    Roll,
    RollIfDue,
    Retention {
        high_watermark_fraction: u8,
    },
    AdvanceLogStart {
        fraction: u8,
    },
    TruncateTo {
        fraction: u8,
    },
    TruncateFully {
        ahead: u64,
    },
    Sync,
    Read {
        fraction: u8,
        max_bytes: u64,
        bound_fraction: Option<u8>,
    },
    RaceWithRetention {
        fraction: u8,
        advance_fraction: u8,
    },
    Reopen,
    Crash,
    /// The disk fails the next write: the append is refused and writes nothing.
    AppendWithWriteFault {
        records: usize,
    },
    /// The disk fails the next write during a sync: the durable end does not pass it.
    SyncWithWriteFault,
    /// The disk fails the next read: a storage error, then reads work again.
    ReadWithReadFault {
        fraction: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let max_bytes = prop_oneof![Just(0u64), Just(1), 1..2_000u64, Just(u64::MAX)];
    prop_oneof![
        20 => (1..5usize, 0..60usize).prop_map(|(records, value_bytes)| Op::Append { records, value_bytes }),
        3 => (1..4usize, 1..4usize).prop_map(|(batches, records)| Op::AppendReplicated { batches, records }),
        4 => (0..3_000i64).prop_map(|ms| Op::Tick { ms }),
        1 => Just(Op::Roll),
        1 => Just(Op::RollIfDue),
        3 => any::<u8>().prop_map(|high_watermark_fraction| Op::Retention { high_watermark_fraction }),
        2 => any::<u8>().prop_map(|fraction| Op::AdvanceLogStart { fraction }),
        2 => any::<u8>().prop_map(|fraction| Op::TruncateTo { fraction }),
        1 => (0..4u64).prop_map(|ahead| Op::TruncateFully { ahead }),
        4 => Just(Op::Sync),
        8 => (any::<u8>(), max_bytes, proptest::option::of(any::<u8>()))
            .prop_map(|(fraction, max_bytes, bound_fraction)| Op::Read { fraction, max_bytes, bound_fraction }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(fraction, advance_fraction)| Op::RaceWithRetention { fraction, advance_fraction }),
        1 => Just(Op::Reopen),
        3 => Just(Op::Crash),
        1 => (1..4usize).prop_map(|records| Op::AppendWithWriteFault { records }),
        1 => Just(Op::SyncWithWriteFault),
        1 => any::<u8>().prop_map(|fraction| Op::ReadWithReadFault { fraction }),
    ]
}

fn config() -> impl Strategy<Value = LogConfig> {
    (
        100..1_500u64,
        1..600u64,
        proptest::option::of(0..5_000u64),
        proptest::option::of(0..10_000u64),
        proptest::option::of(0..3_000u64),
        any::<bool>(),
    )
        .prop_map(
            |(
                segment_bytes_max,
                index_interval_bytes,
                segment_ms,
                retention_ms,
                retention_bytes,
                sync_each_append,
            )| {
                LogConfig {
                    segment_bytes_max,
                    segment_ms,
                    retention_ms,
                    retention_bytes,
                    index_interval_bytes,
                    sync: if sync_each_append {
                        SyncPolicy::EveryAppend
                    } else {
                        SyncPolicy::Never
                    },
                    ..LogConfig::default()
                }
            },
        )
}

/// The model: what every offset holds, where batches start, and the expected bounds.
#[derive(Debug, Default)]
struct Model {
    values: BTreeMap<u64, String>,
    batch_starts: BTreeSet<u64>,
    log_start: u64,
    log_end: u64,
    durable_end: u64,
}

impl Model {
    fn append(&mut self, base_offset: u64, values: &[String]) {
        assert_eq!(base_offset, self.log_end);
        self.batch_starts.insert(base_offset);
        for (offset, value) in (base_offset..).zip(values) {
            self.values.insert(offset, value.clone());
        }
        self.log_end += values.len() as u64;
    }

    fn cut(&mut self, new_end: u64) {
        self.values.split_off(&new_end);
        self.batch_starts.split_off(&new_end);
        self.log_end = new_end;
        self.durable_end = self.durable_end.min(new_end);
    }

    /// An offset in [0, end + 2] chosen by `fraction`.
    fn pick(&self, fraction: u8, low: u64, high: u64) -> u64 {
        low + (high - low) * fraction as u64 / 255
    }
}

struct Harness {
    disk: Disk,
    config: LogConfig,
    log: Log<Disk>,
    model: Model,
    now_ms: i64,
    step: usize,
}

impl Harness {
    fn values(&self, records: usize, value_bytes: usize, batch: usize) -> Vec<String> {
        (0..records)
            .map(|record| {
                format!(
                    "s{}b{batch}r{record}:{}",
                    self.step,
                    "x".repeat(value_bytes)
                )
            })
            .collect()
    }

    fn batch_of(&self, values: &[String]) -> RecordBatch {
        RecordBatch::new(
            values
                .iter()
                .map(|value| Record::new(None, Bytes::from(value.clone()), self.now_ms))
                .collect(),
        )
    }

    fn reopen(&mut self) -> broker::log::RecoveryReport {
        let (log, report) = Log::open(self.disk.clone(), DIR, self.config.clone()).expect("reopen");
        self.log = log;
        report
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Append {
                records,
                value_bytes,
            } => {
                let values = self.values(records, value_bytes, 0);
                let outcome = self
                    .log
                    .append_as_leader(self.batch_of(&values), 1, self.now_ms)
                    .expect("append");
                prop_assert_eq!(outcome.base_offset(), self.model.log_end);
                self.model.append(outcome.base_offset(), &values);
                if self.config.sync == SyncPolicy::EveryAppend {
                    self.model.durable_end = self.model.log_end;
                }
            }
            Op::AppendReplicated { batches, records } => {
                let mut fetched = Vec::new();
                let mut base_offset = self.model.log_end;
                for batch in 0..batches {
                    let values = self.values(records, 5, batch);
                    let mut replicated = self.batch_of(&values);
                    replicated.base_offset = base_offset;
                    replicated.partition_leader_epoch = 1;
                    self.model.append(base_offset, &values);
                    base_offset += records as u64;
                    fetched.push(replicated);
                }
                let end = self
                    .log
                    .append_replicated(&fetched, self.now_ms)
                    .expect("replicate");
                prop_assert_eq!(end, self.model.log_end);
                if self.config.sync == SyncPolicy::EveryAppend {
                    self.model.durable_end = self.model.log_end;
                }
            }
            Op::Tick { ms } => self.now_ms += ms,
            Op::Roll => {
                self.log.roll().expect("roll");
            }
            Op::RollIfDue => {
                self.log.roll_if_due(self.now_ms).expect("roll if due");
            }
            Op::Retention {
                high_watermark_fraction,
            } => {
                let high_watermark = self.model.pick(
                    high_watermark_fraction,
                    self.model.log_start,
                    self.model.log_end,
                );
                let expected = expected_log_start_after_retention(
                    &self.log.segments(),
                    self.model.log_start,
                    self.now_ms,
                    high_watermark,
                    &self.config,
                );
                let outcome = self
                    .log
                    .apply_retention(self.now_ms, high_watermark)
                    .expect("retention");
                prop_assert_eq!(outcome.log_start_offset, expected);
                self.model.log_start = expected;
                self.model.durable_end = self.model.durable_end.max(expected);
            }
            Op::AdvanceLogStart { fraction } => {
                let target = self
                    .model
                    .pick(fraction, self.model.log_start, self.model.log_end);
                self.log
                    .advance_log_start(target)
                    .expect("advance log start");
                self.model.log_start = self.model.log_start.max(target);
                self.model.durable_end = self.model.durable_end.max(self.model.log_start);
            }
            Op::TruncateTo { fraction } => {
                let target = self.model.pick(fraction, 0, self.model.log_end + 2);
                let first_base = self.log.segments()[0].base_offset;
                self.log.truncate_to(target).expect("truncate");
                if target >= self.model.log_end {
                    // no-op
                } else if target < first_base {
                    self.model.cut(0);
                    self.model.values.clear();
                    self.model.log_start = target;
                    self.model.log_end = target;
                    self.model.durable_end = target;
                } else {
                    let new_end = *self
                        .model
                        .batch_starts
                        .range(..=target)
                        .next_back()
                        .expect("a batch holds the target");
                    self.model.cut(new_end);
                    self.model.log_start = self.model.log_start.min(new_end);
                }
            }
            Op::TruncateFully { ahead } => {
                let target = self.model.log_end + ahead;
                self.log
                    .truncate_fully_and_start_at(target)
                    .expect("truncate fully");
                self.model.cut(0);
                self.model.log_start = target;
                self.model.log_end = target;
                self.model.durable_end = target;
            }
            Op::Sync => {
                let durable = self.log.sync().expect("sync");
                prop_assert_eq!(durable, self.model.log_end);
                self.model.durable_end = self.model.log_end;
            }
            Op::Read {
                fraction,
                max_bytes,
                bound_fraction,
            } => {
                let offset = self.model.pick(fraction, 0, self.model.log_end + 2);
                let bound = bound_fraction.map(|fraction| {
                    self.model
                        .pick(fraction, self.model.log_start, self.model.log_end)
                });
                let result = match bound {
                    Some(bound) => self.log.read_up_to(offset, max_bytes, bound),
                    None => self.log.read(offset, max_bytes),
                };
                check_read(&self.model, offset, max_bytes, bound, result)?;
            }
            Op::RaceWithRetention {
                fraction,
                advance_fraction,
            } => {
                // Plan, let the log start move (as retention would while the shell sleeps for
                // disk latency), then execute: fluvio #3891.
                let offset = self
                    .model
                    .pick(fraction, self.model.log_start, self.model.log_end);
                let plan = self
                    .log
                    .plan_read(offset, 500)
                    .expect("a valid offset plans");
                let target =
                    self.model
                        .pick(advance_fraction, self.model.log_start, self.model.log_end);
                self.log.advance_log_start(target).expect("advance");
                self.model.log_start = self.model.log_start.max(target);
                self.model.durable_end = self.model.durable_end.max(self.model.log_start);
                let result = self.log.execute_read(&plan);
                check_read(&self.model, offset, 500, None, result)?;
            }
            Op::Reopen => {
                // A clean restart: nothing is lost, not even unsynced bytes.
                let report = self.reopen();
                prop_assert!(
                    report.cut.is_none(),
                    "clean reopen cut the log: {:?}",
                    report
                );
                self.model.durable_end = self.model.log_end;
            }
            Op::AppendWithWriteFault { records } => {
                let values = self.values(records, 3, 0);
                self.disk
                    .update_faults(|faults| faults.fail_next_writes = 1);
                let result = self
                    .log
                    .append_as_leader(self.batch_of(&values), 1, self.now_ms);
                self.disk.heal();
                let refused = matches!(result, Err(LogError::Storage(_)));
                prop_assert!(refused, "{:?}", result);
            }
            Op::SyncWithWriteFault => {
                let needs_sync = self
                    .log
                    .segments()
                    .iter()
                    .any(|s| s.durable_size_bytes < s.size_bytes);
                self.disk
                    .update_faults(|faults| faults.fail_next_writes = 1);
                let result = self.log.sync();
                self.disk.heal();
                prop_assert_eq!(result.is_err(), needs_sync, "{:?}", result);
                if !needs_sync {
                    self.model.durable_end = self.model.log_end;
                }
            }
            Op::ReadWithReadFault { fraction } => {
                let offset = self
                    .model
                    .pick(fraction, self.model.log_start, self.model.log_end);
                self.disk.update_faults(|faults| faults.fail_next_reads = 1);
                let result = self.log.read(offset, 100);
                self.disk.heal();
                if offset < self.model.log_end {
                    let failed =
                        matches!(&result, Err(LogError::Storage(error)) if !error.is_not_found());
                    prop_assert!(failed, "{:?}", result);
                }
            }
            Op::Crash => {
                self.disk.crash();
                let report = self.reopen();
                let recovered_end = self.log.log_end_offset();
                prop_assert!(
                    recovered_end >= self.model.durable_end,
                    "synced batches lost: recovered end {} < durable end {} ({:?})",
                    recovered_end,
                    self.model.durable_end,
                    report
                );
                prop_assert!(recovered_end <= self.model.log_end);
                prop_assert!(
                    recovered_end == self.model.log_start
                        || self.model.batch_starts.contains(&recovered_end)
                        || recovered_end == self.model.log_end,
                    "recovered end {} is not a batch boundary",
                    recovered_end
                );
                self.model.cut(recovered_end);
                self.model.durable_end = recovered_end;
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let log = &self.log;
        prop_assert_eq!(log.log_start_offset(), self.model.log_start, "log start");
        prop_assert_eq!(log.log_end_offset(), self.model.log_end, "log end");
        prop_assert!(log.log_start_offset() <= log.durable_end_offset());
        prop_assert!(log.durable_end_offset() <= log.log_end_offset());
        prop_assert!(log.durable_end_offset() >= self.model.durable_end);
        // Every retained record, read batch by batch.
        let mut offset = self.model.log_start;
        while offset < self.model.log_end {
            let result = log.read(offset, 700);
            let next = check_read(&self.model, offset, 700, None, result)?;
            prop_assert!(next > offset);
            offset = next;
        }
        Ok(())
    }
}

/// Checks one read against the model; returns the offset after what it returned.
fn check_read(
    model: &Model,
    offset: u64,
    max_bytes: u64,
    bound: Option<u64>,
    result: Result<broker::log::ReadResult, LogError>,
) -> Result<u64, TestCaseError> {
    let end = bound.unwrap_or(model.log_end).min(model.log_end);
    if offset < model.log_start {
        prop_assert_eq!(
            result,
            Err(LogError::OffsetEvicted {
                offset,
                next_available: model.log_start
            })
        );
        return Ok(model.log_start);
    }
    if offset > end {
        prop_assert_eq!(
            result,
            Err(LogError::OffsetOutOfRange {
                offset,
                log_start: model.log_start,
                log_end: end
            })
        );
        return Ok(offset);
    }
    let result = match result {
        Ok(result) => result,
        Err(error) => return Err(TestCaseError::fail(format!("read at {offset}: {error:?}"))),
    };
    if offset == end {
        prop_assert!(result.batches.is_empty());
        return Ok(offset);
    }
    let Some(first) = result.batches.first() else {
        // Only when the batch holding the offset reaches past the bound.
        prop_assert!(
            bound.is_some(),
            "empty read at {} below the end {}",
            offset,
            end
        );
        return Ok(offset);
    };
    let first_header = first.header;
    prop_assert!(first_header.base_offset <= offset && offset < first_header.next_offset());
    let mut expected_offset = first_header.base_offset;
    let mut bytes = 0;
    for stored in &result.batches {
        let batch = stored.decode().expect("stored batches decode");
        prop_assert_eq!(batch.base_offset, expected_offset);
        prop_assert!(batch.next_offset() <= end, "a batch reaches past the bound");
        bytes += stored.header.batch_bytes();
        for (record_offset, record) in batch.records_with_offsets() {
            if record_offset >= model.log_start {
                prop_assert_eq!(
                    Some(&String::from_utf8(record.value.to_vec()).unwrap()),
                    model.values.get(&record_offset),
                    "value at {}",
                    record_offset
                );
            }
        }
        expected_offset = batch.next_offset();
    }
    prop_assert!(
        bytes <= max_bytes.max(first_header.batch_bytes()),
        "read {} bytes for max {}",
        bytes,
        max_bytes
    );
    Ok(expected_offset)
}

/// Kafka's retention rules restated on the segment list: by time, then by size, then below the
/// log start; oldest first; never the active segment; never past the high watermark.
fn expected_log_start_after_retention(
    segments: &[SegmentInfo],
    log_start: u64,
    now_ms: i64,
    high_watermark: u64,
    config: &LogConfig,
) -> u64 {
    let mut segments = segments.to_vec();
    let deletable = |segments: &Vec<SegmentInfo>, limit: u64| {
        segments.len() >= 2 && segments[0].next_offset <= limit
    };
    if let Some(retention_ms) = config.retention_ms {
        while deletable(&segments, high_watermark)
            && segments[0]
                .max_timestamp_ms
                .is_some_and(|max| max < now_ms - retention_ms as i64)
        {
            segments.remove(0);
        }
    }
    if let Some(retention_bytes) = config.retention_bytes {
        while deletable(&segments, high_watermark) {
            let total: u64 = segments.iter().map(|segment| segment.size_bytes).sum();
            if total - segments[0].size_bytes < retention_bytes {
                break;
            }
            segments.remove(0);
        }
    }
    while deletable(&segments, log_start) {
        segments.remove(0);
    }
    log_start.max(segments[0].base_offset)
}

proptest! {
    #[test]
    fn log_matches_the_model(
        seed in any::<u64>(),
        config in config(),
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        let disk = disk(seed);
        let (log, _) = Log::open(disk.clone(), DIR, config.clone()).unwrap();
        let mut harness = Harness { disk, config, log, model: Model::default(), now_ms: 0, step: 0 };
        for (step, op) in ops.iter().enumerate() {
            harness.step = step;
            harness.apply(op)?;
            harness.check()?;
        }
    }
}
