//! Reading a broker's partition logs from its disk, for tests and post-run checks.
//!
//! Works on a snapshot of the disk, so it never disturbs the broker (recovery on open may cut a
//! torn tail: on the copy only).

use crate::api::TopicPartition;
use crate::bugs::BugSet;
use crate::log::{Log, LogConfig, LogError};
use sim::disk::Disk;

/// One record as stored, with its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: u64,
    pub leader_epoch: u32,
    pub value: Vec<u8>,
}

/// The records a broker's disk holds for a partition, from its log start to its log end; empty
/// when the broker has no log for it.
pub fn replica_records(
    disk: &Disk,
    partition: &TopicPartition,
) -> Result<Vec<StoredRecord>, LogError> {
    let directory = format!("log/{}-{}/", partition.topic, partition.partition);
    let snapshot = disk.snapshot();
    if snapshot.list_prefix(&directory).is_empty() {
        return Ok(Vec::new());
    }
    let config = LogConfig {
        segment_bytes_max: u64::MAX / 4,
        ..LogConfig::default()
    };
    let (log, _) = Log::open(snapshot, &directory, config, BugSet::none())?;
    let mut records = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20)?;
        if read.batches.is_empty() {
            break;
        }
        for batch in &read.batches {
            for (index, record) in batch.records.iter().enumerate() {
                let record_offset = batch.base_offset + index as u64;
                if record_offset >= offset {
                    records.push(StoredRecord {
                        offset: record_offset,
                        leader_epoch: batch.partition_leader_epoch,
                        value: record.value.to_vec(),
                    });
                }
            }
            offset = offset.max(batch.base_offset + batch.records.len() as u64);
        }
    }
    Ok(records)
}
