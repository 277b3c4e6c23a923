//! Reading (and, for fault injection, cutting) a broker's partition logs on its storage.
//!
//! [`replica_records`] must be given a snapshot of a running broker's disk, so that it never
//! disturbs the broker (recovery on open may cut a torn tail: on the copy only).
//! [`truncate_partition`] changes the storage itself and must only be used while the broker is
//! down.

use crate::api::TopicPartition;
use crate::log::{Log, LogConfig, LogError};
use crate::storage::Storage;

/// One record as stored, with its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: u64,
    pub leader_epoch: u32,
    pub value: Vec<u8>,
}

/// The records a broker's disk holds for a partition, from its log start to its log end; empty
/// when the broker has no log for it.
pub fn replica_records<S: Storage + Clone>(
    snapshot: S,
    partition: &TopicPartition,
) -> Result<Vec<StoredRecord>, LogError> {
    let directory = format!("log/{}-{}/", partition.topic, partition.partition);
    if snapshot.list(&directory)?.is_empty() {
        return Ok(Vec::new());
    }
    let config = LogConfig {
        segment_bytes_max: u64::MAX / 4,
        ..LogConfig::default()
    };
    let (log, _) = Log::open(snapshot, &directory, config)?;
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

/// Cuts a partition's log on a *stopped* broker's disk to end at or below `offset` (the whole
/// batch holding `offset` goes). Returns the new log end, or None when the broker has no log for
/// the partition. A broker that restarts on a truncated log is a new incarnation: the controller
/// takes it out of every ISR before it can lead, so the cut cannot lose acknowledged records —
/// a live follower cut back to its own (lagging) high watermark could.
pub fn truncate_partition<S: Storage + Clone>(
    storage: &S,
    partition: &TopicPartition,
    offset: u64,
) -> Result<Option<u64>, LogError> {
    let directory = format!("log/{}-{}/", partition.topic, partition.partition);
    if storage.list(&directory)?.is_empty() {
        return Ok(None);
    }
    let config = LogConfig {
        segment_bytes_max: u64::MAX / 4,
        ..LogConfig::default()
    };
    let (mut log, _) = Log::open(storage.clone(), &directory, config)?;
    if offset < log.log_end_offset() {
        log.truncate_to(offset)?;
    }
    Ok(Some(log.log_end_offset()))
}
