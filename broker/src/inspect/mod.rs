//! Reading (and, for fault injection, cutting) a broker's partition logs on its storage.
//!
//! [`replica_records`] must be given a snapshot of a running broker's disk, so that it never
//! disturbs the broker (recovery on open may cut a torn tail: on the copy only).
//! [`truncate_partition`] changes the storage itself and must only be used while the broker is
//! down. [`controller_metadata`] and [`committed_offsets`] read a controller's storage (a
//! snapshot too: opening it writes).

use crate::api::{ClusterMetadata, TopicPartition};
use crate::batch::StoredBatch;
use crate::controller::{ControllerConfig, ControllerCore, ControllerError};
use crate::coordinator::{OFFSETS_JOURNAL, OFFSETS_JOURNAL_BYTES_MAX};
use crate::log::{Log, LogConfig, LogError};
use crate::offsets::{OffsetKey, OffsetStore, OffsetStoreError};
use crate::storage::Storage;
pub use bytes::Bytes;
pub use follow::{FileMark, FollowedLog, MarkedStorage};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

mod follow;

/// One record as stored, with its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: u64,
    pub leader_epoch: u32,
    /// Shares the bytes of the batch it was read from (no copy per record).
    pub value: Bytes,
}

/// What reading replicas' logs keeps for the next reads of the same disks' snapshots: the state
/// checker reads every replica's log at each sample (a [`FollowedLog`] opens it again whenever
/// its files changed in a way it does not follow, and decodes the batches it reads through this
/// cache too), and followers hold the leader's batches byte for byte. Segment files are scanned only past the bytes of a scan kept from an
/// earlier read ([`crate::log::SegmentScans`]), and a batch is decoded only when its stored
/// bytes differ from every batch kept under the same base offset and CRC; they are compared in
/// full, so what is reused is the decode of exactly those bytes (decoding is a function of them
/// alone). Either way the result is what a fresh read returns.
#[derive(Debug, Default)]
pub struct InspectCache {
    batches: BTreeMap<(u64, u32), Vec<DecodedBatch>>,
    scans: crate::log::SegmentScans,
}

#[derive(Debug)]
struct DecodedBatch {
    bytes: Bytes,
    base_offset: u64,
    partition_leader_epoch: u32,
    values: Vec<Bytes>,
}

impl DecodedBatch {
    /// Adds its records at offsets from `from` on to `records`.
    fn push_records(&self, from: u64, records: &mut Vec<StoredRecord>) {
        for (offset, value) in (self.base_offset..).zip(&self.values) {
            if offset >= from {
                records.push(StoredRecord {
                    offset,
                    leader_epoch: self.partition_leader_epoch,
                    value: value.clone(),
                });
            }
        }
    }
}

impl InspectCache {
    /// `stored` decoded (its values), from a batch kept earlier when the bytes are the same.
    fn decode(&mut self, stored: &StoredBatch) -> Result<&DecodedBatch, LogError> {
        let kept = self
            .batches
            .entry((stored.header.base_offset, stored.header.crc))
            .or_default();
        let index = match kept.iter().position(|batch| batch.bytes == stored.bytes) {
            Some(index) => index,
            None => {
                // Decoded from a copy of its own: the values kept share these few bytes, not
                // the whole segment file they were read from.
                let own = StoredBatch {
                    header: stored.header,
                    bytes: Bytes::copy_from_slice(&stored.bytes),
                };
                let batch = own.decode()?;
                kept.push(DecodedBatch {
                    bytes: own.bytes,
                    base_offset: batch.base_offset,
                    partition_leader_epoch: batch.partition_leader_epoch,
                    values: batch
                        .records
                        .into_iter()
                        .map(|record| record.value)
                        .collect(),
                });
                kept.len() - 1
            }
        };
        Ok(&kept[index])
    }
}

/// The directory of a partition's log on a broker's storage: every file its log reads (segments,
/// indexes, the log start's journal) is named under it.
pub fn log_directory(partition: &TopicPartition) -> String {
    format!("log/{}-{}/", partition.topic, partition.partition)
}

/// A replica's log as a broker's disk holds it.
#[derive(Debug, Clone, Default)]
pub struct ReplicaLog {
    pub log_start_offset: u64,
    pub log_end_offset: u64,
    /// The records are `records[first..]`; the vector may be shared with the [`FollowedLog`]
    /// that read the log, which only ever adds to its end.
    records: Arc<Vec<StoredRecord>>,
    first: usize,
    generation: u64,
    /// The generation this one followed, and the offset below which it holds what that one
    /// held ([`ReplicaLog::unchanged_below`]).
    previous: Option<(u64, u64)>,
}

impl ReplicaLog {
    /// A log holding `records`, from the log start to the log end, ascending.
    pub fn new(log_start_offset: u64, log_end_offset: u64, records: Vec<StoredRecord>) -> Self {
        ReplicaLog {
            log_start_offset,
            log_end_offset,
            records: Arc::new(records),
            first: 0,
            generation: next_generation(),
            previous: None,
        }
    }

    /// From the log start to the log end, ascending.
    pub fn records(&self) -> &[StoredRecord] {
        &self.records[self.first..]
    }

    /// Two reads of one generation are views of one log that only grew in between: a record at
    /// an offset both hold is the same in both, and the later one holds no record the earlier
    /// one lacked below the earlier one's log end (it may have lost some at its log start). Reads
    /// of different generations promise only what [`ReplicaLog::unchanged_below`] says. Every log
    /// opened afresh has a generation of its own; a [`FollowedLog`] keeps one while the files it
    /// reads only grow, and takes a new one, linked to the last, when it sees them cut.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Below which offset this log is a view of the log an earlier read of `generation` gave:
    /// a record at an offset both hold is the same in both, and this one holds none there that
    /// the earlier one lacked (it may have lost some at its log start). `u64::MAX` for its own
    /// generation (the earlier read's log end bounds what it saw); for the generation it followed
    /// when a [`FollowedLog`] saw the log cut, the offset of the cut; None for any other.
    pub fn unchanged_below(&self, generation: u64) -> Option<u64> {
        if generation == self.generation {
            return Some(u64::MAX);
        }
        match self.previous {
            Some((previous, below)) if previous == generation => Some(below),
            _ => None,
        }
    }
}

/// Logs compare by what they hold, whatever their generations.
impl PartialEq for ReplicaLog {
    fn eq(&self, other: &Self) -> bool {
        (self.log_start_offset, self.log_end_offset, self.records())
            == (
                other.log_start_offset,
                other.log_end_offset,
                other.records(),
            )
    }
}

impl Eq for ReplicaLog {}

/// A generation no log had before (in this process; they are compared, never shown).
fn next_generation() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    LAST.fetch_add(1, Ordering::Relaxed) + 1
}

/// The records a broker's disk holds for a partition, from its log start to its log end; empty
/// when the broker has no log for it.
pub fn replica_records<S: Storage + Clone>(
    snapshot: S,
    partition: &TopicPartition,
) -> Result<Vec<StoredRecord>, LogError> {
    Ok(replica_log(snapshot, partition)?.records().to_vec())
}

/// A partition's log on a broker's disk: its bounds, as recovery finds them, and its records;
/// empty (all zero) when the broker has no log for it.
pub fn replica_log<S: Storage + Clone>(
    snapshot: S,
    partition: &TopicPartition,
) -> Result<ReplicaLog, LogError> {
    replica_log_with(snapshot, partition, &mut InspectCache::default())
}

/// [`replica_log`], reusing (and adding to) what `cache` kept from earlier reads.
pub fn replica_log_with<S: Storage + Clone>(
    snapshot: S,
    partition: &TopicPartition,
    cache: &mut InspectCache,
) -> Result<ReplicaLog, LogError> {
    let directory = log_directory(partition);
    if snapshot.list(&directory)?.is_empty() {
        return Ok(ReplicaLog::default());
    }
    let config = LogConfig {
        segment_bytes_max: u64::MAX / 4,
        ..LogConfig::default()
    };
    // The batches from the log start to the log end, as recovery read and checked them (what
    // reading the log from its start returns, without reading and checking every file again).
    let (log, batches) = Log::open_with_batches(snapshot, &directory, config, &mut cache.scans)?;
    let mut records = Vec::new();
    let mut offset = log.log_start_offset();
    for stored in &batches {
        let batch = cache.decode(stored)?;
        batch.push_records(offset, &mut records);
        offset = offset.max(batch.base_offset + batch.values.len() as u64);
    }
    Ok(ReplicaLog::new(
        log.log_start_offset(),
        log.log_end_offset(),
        records,
    ))
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
    let directory = log_directory(partition);
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

/// The cluster metadata a controller's storage holds (topics, partitions, their assigned replicas,
/// leaders and ISRs), as the controller would recover it. Opening writes: give it a snapshot.
pub fn controller_metadata<S: Storage + Clone>(
    snapshot: S,
) -> Result<ClusterMetadata, ControllerError> {
    let core = ControllerCore::open(snapshot, ControllerConfig::default(), 0)?;
    Ok(core.cluster_metadata())
}

/// Every committed consumer offset a controller's storage holds, in key order, as the group
/// coordinator would recover it. Opening may write: give it a snapshot.
pub fn committed_offsets<S: Storage>(
    snapshot: S,
) -> Result<Vec<(OffsetKey, u64)>, OffsetStoreError> {
    let (store, _) = OffsetStore::open(snapshot, OFFSETS_JOURNAL, OFFSETS_JOURNAL_BYTES_MAX)?;
    Ok(store
        .committed()
        .map(|(key, offset)| (key.clone(), offset))
        .collect())
}
