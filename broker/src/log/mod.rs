//! The partition log: record batches in segment files on a [`Storage`], with retention,
//! truncation, crash recovery and the read semantics of fluvio #3891's fix.
//!
//! # Layout
//!
//! A log lives under a directory prefix (`"log/orders-0/"`):
//! - `{base_offset:020}.log` — a segment: consecutive batches, the first at `base_offset`;
//! - `{base_offset:020}.index` — its sparse index (a cache, rewritten on recovery, see
//!   [`index`]);
//! - `log-start-offset-{generation:020}.journal` — the log start checkpoint (a [`Journal`]).
//!
//! The last segment is the *active* one; only it is appended to. Segments are contiguous:
//! each one's base offset is the previous one's end.
//!
//! # Guarantees
//!
//! - **Offsets**: the leader's [`Log::append_as_leader`] assigns offsets from the log end;
//!   [`Log::append_replicated`] keeps the leader's offsets and refuses a batch that does not
//!   start at the log end. Offsets are contiguous from the log start to the log end.
//! - **Reads** ([`Log::read`], or [`Log::plan_read`] + [`Log::execute_read`]) return whole
//!   batches from one segment, starting with the batch that contains the offset — at least one
//!   batch even if it is larger than `max_bytes`, as in Kafka. Below the log start the answer
//!   is [`LogError::OffsetEvicted`] with `next_available` = the log start *at the time of the
//!   answer*; above the end, [`LogError::OffsetOutOfRange`]. A valid request is never answered
//!   with an IO or "not found" error — also when retention deleted the planned segment between
//!   plan and execute (the race behind fluvio #3891): `execute_read` re-validates the plan
//!   against the current segments and answers `OffsetEvicted` or re-plans.
//! - **Durability** is the caller's decision ([`SyncPolicy`]): with [`SyncPolicy::EveryAppend`]
//!   every append is synced before it returns `Ok`; otherwise [`Log::sync`] syncs (the broker
//!   calls it every interval under [`SyncPolicy::Interval`], never under [`SyncPolicy::Never`]).
//!   [`Log::durable_end_offset`] is a lower bound of what a crash keeps: after a crash and [`Log::open`], the log end is at
//!   least the durable end before the crash. Rolling a segment does not sync it.
//! - **Log start persistence**: the log start is derived from the first segment's base offset
//!   when retention deletes whole segments, but [`Log::advance_log_start`] can put it in the
//!   middle of a segment, so it is also checkpointed durably *before* segments are deleted. On
//!   open it is `max(checkpoint, first segment base)`; it never comes back lower than announced.
//!   If the checkpoint lies beyond the recovered log end (records below it were never synced),
//!   the log restarts empty at the checkpoint, as Kafka does.
//! - **Recovery** ([`Log::open`]) validates every batch by CRC and offset, cuts the file at the
//!   first torn or corrupt batch, drops every later segment (and any segment after a gap),
//!   drops segments wholly below the log start, rebuilds the indexes, the producer state and
//!   the leader-epoch starts from the retained batches, and syncs.
//! - **Errors**: genuine disk errors are [`LogError::Storage`] (Kafka's `KafkaStorageError`),
//!   also for a segment file that vanished behind the log's back. An operation that fails
//!   before changing anything leaves the log as it was; one that fails half-way (truncation,
//!   a failed delete) takes the log *offline*: every later call answers [`LogError::Offline`]
//!   until the owner reopens it with [`Log::open`], which recovers from what is on disk.
//! - **Invariants**, asserted after every change (a violation panics naming the directory):
//!   segments non-empty, contiguous, with increasing bases; first base <= log start <= durable
//!   end <= log end.
//!
//! # Not guaranteed / not modelled
//!
//! Compaction (`cleanup.policy=compact`), transactions, time indexes, remote storage, log
//! directories with many partitions' failure domains. A truncation rebuilds the producer state
//! by scanning the whole log (fine for simulated logs; Kafka uses snapshots). The log-derived
//! leader-epoch starts only know epochs that have batches in the log.

mod append;
mod index;
mod read;
mod recovery;
mod retention;
mod segment;
mod truncate;

pub use index::{IndexEntry, INDEX_ENTRY_BYTES};
pub use read::{ReadPlan, ReadResult};

use read::ReadView;

use crate::batch::{stamp, BatchError, BatchHeader, IntoStored, StoredBatch, OFFSET_MAX};
use crate::journal::Journal;
use crate::policy::SegmentViewPolicy;
use crate::producer_state::{ProducerBatch, ProducerStateError, ProducerStateTable, SequenceCheck};
use crate::storage::{Storage, StorageError};
pub(crate) use recovery::{log_start_journal_prefix, open_log_start_journal};
pub use segment::SegmentScans;
pub(crate) use segment::{parse_segment_file, scan_from, SegmentFileKind};
use segment::{scan_segment, scan_segment_bytes, Segment};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The log start checkpoint journal is compacted past this size.
const LOG_START_JOURNAL_BYTES_MAX: u64 = 4096;

/// When a log's appends are synced to disk (Kafka's `flush.messages` and `flush.ms`). What is not
/// synced lives in the disk's cache: a crash of the broker loses it (or leaves a torn prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncPolicy {
    /// Every append is synced before it counts (`flush.messages = 1`).
    EveryAppend,
    /// The broker syncs every log with unsynced appends every `ms` on its tick (`flush.ms`): a
    /// crash loses at most what was appended since the last sync.
    Interval { ms: u64 },
    /// Appends are never synced (Kafka's default): durability comes from replication, and a
    /// crash of every replica holding a record at once loses it.
    Never,
}

/// Configuration of one partition log. Durations in milliseconds; `None` = no limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    /// Roll the active segment before an append would make it larger than this (a segment
    /// always takes at least one batch).
    pub segment_bytes_max: u64,
    /// Roll the active segment once its first batch is this old.
    pub segment_ms: Option<u64>,
    /// Delete a segment once its largest timestamp is older than this.
    pub retention_ms: Option<u64>,
    /// Delete the oldest segments while the log would still hold at least this many bytes
    /// without them (Kafka's rule).
    pub retention_bytes: Option<u64>,
    /// Add a sparse index entry at most every this-many bytes of log.
    pub index_interval_bytes: u64,
    /// When appends reach the disk for good.
    pub sync: SyncPolicy,
    /// Which segments reads look at (the correct view is the default).
    #[serde(default)]
    pub segment_view_policy: SegmentViewPolicy,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            segment_bytes_max: 1024 * 1024,
            segment_ms: None,
            retention_ms: None,
            retention_bytes: None,
            index_interval_bytes: 4096,
            sync: SyncPolicy::Never,
            segment_view_policy: SegmentViewPolicy::Current,
        }
    }
}

impl LogConfig {
    pub fn validate(&self) -> Result<(), LogError> {
        let invalid = |reason: &str| {
            Err(LogError::InvalidConfig {
                reason: reason.to_string(),
            })
        };
        if self.segment_bytes_max == 0 {
            return invalid("segment_bytes_max must be at least 1");
        }
        if self.index_interval_bytes == 0 {
            return invalid("index_interval_bytes must be at least 1");
        }
        if self.sync == (SyncPolicy::Interval { ms: 0 }) {
            return invalid("a sync interval must be at least 1 ms");
        }
        if self.segment_ms.is_some_and(|ms| ms > i64::MAX as u64)
            || self.retention_ms.is_some_and(|ms| ms > i64::MAX as u64)
        {
            return invalid("segment_ms and retention_ms must fit in an i64");
        }
        Ok(())
    }
}

/// Why an internal error happened (only under
/// [`SegmentViewPolicy::CachedIgnoringRetention`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InternalCause {
    /// The stale segment view has no segment for the offset (fluvio's
    /// `Other("Segment not found")`).
    #[error("segment not found")]
    SegmentNotFound,
    /// The stale view pointed at a deleted segment file (fluvio's `Io(NotFound)`).
    #[error("{0}")]
    Io(StorageError),
}

/// What the log answers when it cannot do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The offset is below the log start (retention or a log start advance removed it).
    #[error("offset {offset} is evicted; the next available is {next_available}")]
    OffsetEvicted { offset: u64, next_available: u64 },
    /// The offset is beyond the readable end (`log_end` here is the bound the read used: the
    /// log end, or the high watermark the caller passed).
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: u64,
        log_start: u64,
        log_end: u64,
    },
    /// The batch breaks the format's rules or limits; nothing was written.
    #[error(transparent)]
    InvalidBatch(#[from] BatchError),
    /// The producer state refused the batch; nothing was written.
    #[error(transparent)]
    Producer(#[from] ProducerStateError),
    /// A replicated batch does not start at the log end; nothing was written.
    #[error("replicated batch starts at {base_offset}, but the log ends at {log_end}")]
    NonContiguous { base_offset: u64, log_end: u64 },
    #[error("cannot move the log start to {requested}: the log ends at {log_end}")]
    LogStartBeyondEnd { requested: u64, log_end: u64 },
    /// A disk error (Kafka's `KafkaStorageError`).
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// The batch is in the log (the log end moved past it) but the sync that should have made
    /// it durable failed.
    #[error("appended {base_offset}..={last_offset} but the sync failed: {source}")]
    NotDurable {
        base_offset: u64,
        last_offset: u64,
        source: StorageError,
    },
    /// A stored batch failed its checks when read back (corruption after it was written).
    #[error("corrupt batch in segment {segment_base_offset} at position {position}: {reason}")]
    CorruptSegment {
        segment_base_offset: u64,
        position: u64,
        reason: String,
    },
    /// Only under [`SegmentViewPolicy::CachedIgnoringRetention`]: Kafka's `UNKNOWN_SERVER_ERROR`.
    #[error("internal error reading offset {offset}: {cause}")]
    Internal { offset: u64, cause: InternalCause },
    /// An earlier operation failed half-way; reopen the log.
    #[error("log {dir} is offline ({reason}); reopen it")]
    Offline { dir: String, reason: String },
    #[error("invalid log config: {reason}")]
    InvalidConfig { reason: String },
}

impl LogError {
    /// Whether this is a disk-level failure (Kafka's `KAFKA_STORAGE_ERROR`).
    pub fn is_storage_error(&self) -> bool {
        matches!(
            self,
            LogError::Storage(_)
                | LogError::NotDurable { .. }
                | LogError::CorruptSegment { .. }
                | LogError::Offline { .. }
        )
    }
}

/// The answer to a leader append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    Appended {
        base_offset: u64,
        last_offset: u64,
    },
    /// A retry of a batch already in the log (KIP-98): nothing was written; these are the
    /// original offsets.
    Duplicate {
        base_offset: u64,
        last_offset: u64,
    },
}

impl AppendOutcome {
    pub fn base_offset(&self) -> u64 {
        match *self {
            AppendOutcome::Appended { base_offset, .. }
            | AppendOutcome::Duplicate { base_offset, .. } => base_offset,
        }
    }

    pub fn last_offset(&self) -> u64 {
        match *self {
            AppendOutcome::Appended { last_offset, .. }
            | AppendOutcome::Duplicate { last_offset, .. } => last_offset,
        }
    }
}

/// What a retention run (or log start advance) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Base offsets of the deleted segments.
    pub segments_deleted: Vec<u64>,
    pub bytes_deleted: u64,
    pub log_start_offset: u64,
    /// Producers forgotten because the log start passed their last batch.
    pub producers_expired: Vec<i64>,
}

/// Where recovery cut the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCut {
    pub segment_base_offset: u64,
    pub position: u64,
    pub reason: String,
}

/// What [`Log::open`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    pub batches: u64,
    pub log_start_offset: u64,
    pub log_end_offset: u64,
    /// The checkpointed log start, if one was found.
    pub log_start_checkpoint: Option<u64>,
    /// The first torn or corrupt batch, or gap, where the log was cut.
    pub cut: Option<RecoveryCut>,
    /// Base offsets of the segments deleted (after a cut, after a gap, or below the log start).
    pub segments_deleted: Vec<u64>,
    /// Bytes dropped from the tail of the cut segment.
    pub bytes_dropped: u64,
    /// Set when the checkpointed log start lay beyond the recovered end: the log restarted
    /// empty at this offset.
    pub restarted_empty_at: Option<u64>,
}

/// A segment, for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub base_offset: u64,
    pub next_offset: u64,
    pub size_bytes: u64,
    pub durable_size_bytes: u64,
    pub max_timestamp_ms: Option<i64>,
    pub index_entries: usize,
}

/// The first offset of a leader epoch in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochStart {
    pub leader_epoch: u32,
    pub start_offset: u64,
}

/// One partition's log.
#[derive(Debug)]
pub struct Log<S: Storage + Clone> {
    storage: S,
    dir: String,
    config: LogConfig,
    /// By base offset; never empty; the last one is active.
    segments: BTreeMap<u64, Segment>,
    log_start_offset: u64,
    durable_end_offset: u64,
    producers: ProducerStateTable,
    epochs: Vec<EpochStart>,
    log_start_journal: Journal<S>,
    /// The segments reads look at besides `segments`, as `config.segment_view_policy` says:
    /// nothing more for the correct view.
    read_view: ReadView,
    next_segment_id: u64,
    offline: Option<String>,
}

fn normalize_dir(dir: &str) -> String {
    if dir.is_empty() || dir.ends_with('/') {
        dir.to_string()
    } else {
        format!("{dir}/")
    }
}

fn producer_batch_of_header(header: &BatchHeader) -> Option<ProducerBatch> {
    (header.producer_id >= 0).then(|| ProducerBatch {
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        first_sequence: header.base_sequence,
        last_sequence: crate::producer_state::increment_sequence(
            header.base_sequence,
            header.record_count as i32 - 1,
        ),
    })
}

fn decode_checkpoint(payload: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(payload.try_into().ok()?))
}

/// Deletes a file; one that is already gone counts as deleted.
fn delete_if_exists(storage: &impl Storage, name: &str) -> Result<(), StorageError> {
    match storage.delete(name) {
        Err(error) if error.is_not_found() => Ok(()),
        other => other,
    }
}

impl<S: Storage + Clone> Log<S> {
    // ---- inspection ---------------------------------------------------------------------------

    pub fn dir(&self) -> &str {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// The first offset a read may ask for.
    pub fn log_start_offset(&self) -> u64 {
        self.log_start_offset
    }

    /// The offset the next batch gets.
    pub fn log_end_offset(&self) -> u64 {
        self.active().next_offset
    }

    /// Every offset below this survives a crash (until a truncation lowers it).
    pub fn durable_end_offset(&self) -> u64 {
        self.durable_end_offset
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments
            .values()
            .map(|segment| segment.size_bytes)
            .sum()
    }

    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.segments
            .values()
            .map(|segment| SegmentInfo {
                base_offset: segment.base_offset,
                next_offset: segment.next_offset,
                size_bytes: segment.size_bytes,
                durable_size_bytes: segment.durable_size_bytes,
                max_timestamp_ms: segment.max_timestamp_ms,
                index_entries: segment.index.entries().len(),
            })
            .collect()
    }

    pub fn producer_state(&self) -> &ProducerStateTable {
        &self.producers
    }

    /// The leader epochs of the retained batches, with the first offset of each (clamped to the
    /// log start), oldest first.
    pub fn leader_epoch_starts(&self) -> &[EpochStart] {
        &self.epochs
    }

    /// Kafka's `LeaderEpochFileCache.endOffsetFor` on the log-derived epochs: for the latest
    /// epoch, the log end; for an older one, the start of the next higher epoch, paired with
    /// the largest known epoch at or below the request (or the request itself if none).
    /// `None` (Kafka's UNDEFINED) when the request is above the latest epoch or the log has none.
    pub fn end_offset_for_leader_epoch(&self, leader_epoch: u32) -> Option<(u32, u64)> {
        let latest = self.epochs.last()?;
        if leader_epoch == latest.leader_epoch {
            return Some((leader_epoch, self.log_end_offset()));
        }
        let higher = self
            .epochs
            .iter()
            .find(|entry| entry.leader_epoch > leader_epoch)?;
        let floor = self
            .epochs
            .iter()
            .rev()
            .find(|entry| entry.leader_epoch <= leader_epoch);
        Some((
            floor.map_or(leader_epoch, |entry| entry.leader_epoch),
            higher.start_offset,
        ))
    }

    /// Why the log is offline, if it is.
    pub fn offline_reason(&self) -> Option<&str> {
        self.offline.as_deref()
    }

    // ---- helpers ------------------------------------------------------------------------------

    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn new_segment_id(&mut self) -> u64 {
        self.next_segment_id += 1;
        self.next_segment_id
    }

    fn ensure_online(&self) -> Result<(), LogError> {
        match &self.offline {
            None => Ok(()),
            Some(reason) => Err(LogError::Offline {
                dir: self.dir.clone(),
                reason: reason.clone(),
            }),
        }
    }

    fn go_offline(&mut self, reason: String) {
        tracing::warn!(dir = %self.dir, %reason, "log goes offline");
        self.offline.get_or_insert(reason);
    }

    fn note_epoch(&mut self, leader_epoch: u32, base_offset: u64) {
        match self.epochs.last() {
            Some(last) if last.leader_epoch == leader_epoch => {}
            Some(last) if last.leader_epoch > leader_epoch => {
                tracing::warn!(
                    dir = %self.dir,
                    leader_epoch,
                    latest = last.leader_epoch,
                    base_offset,
                    "batch of an older leader epoch appended; epoch starts unchanged"
                );
            }
            _ => self.epochs.push(EpochStart {
                leader_epoch,
                start_offset: base_offset,
            }),
        }
    }

    fn clamp_epochs_to_log_start(&mut self) {
        let log_start = self.log_start_offset;
        let at_or_below = self
            .epochs
            .partition_point(|entry| entry.start_offset <= log_start);
        if at_or_below > 1 {
            self.epochs.drain(..at_or_below - 1);
        }
        if let Some(first) = self.epochs.first_mut() {
            first.start_offset = first.start_offset.max(log_start);
        }
    }

    /// Panics, naming the log, if an invariant is broken.
    fn check_invariants(&self) {
        let dir = &self.dir;
        assert!(!self.segments.is_empty(), "log {dir}: no segments");
        let mut expected_base: Option<u64> = None;
        for (&base, segment) in &self.segments {
            assert_eq!(
                base, segment.base_offset,
                "log {dir}: segment keyed wrongly"
            );
            assert!(
                segment.base_offset <= segment.next_offset,
                "log {dir}: segment {base} ends at {} before its base",
                segment.next_offset
            );
            if let Some(expected) = expected_base {
                assert_eq!(
                    base, expected,
                    "log {dir}: segment {base} does not follow the previous one ending at {expected}"
                );
            }
            assert!(
                segment.durable_size_bytes <= segment.size_bytes,
                "log {dir}: segment {base} durable size above its size"
            );
            assert_eq!(
                segment.size_bytes == 0,
                segment.base_offset == segment.next_offset,
                "log {dir}: segment {base} size and offsets disagree"
            );
            if let Some(last) = segment.index.entries().last() {
                assert!(
                    last.position < segment.size_bytes && last.offset < segment.next_offset,
                    "log {dir}: segment {base} index entry {last:?} beyond the segment"
                );
            }
            expected_base = Some(segment.next_offset);
        }
        let first_base = *self.segments.keys().next().expect("non-empty");
        let log_end = self.log_end_offset();
        assert!(
            first_base <= self.log_start_offset,
            "log {dir}: log start {} below the first segment {first_base}",
            self.log_start_offset
        );
        assert!(
            self.log_start_offset <= self.durable_end_offset && self.durable_end_offset <= log_end,
            "log {dir}: expected log start {} <= durable end {} <= log end {log_end}",
            self.log_start_offset,
            self.durable_end_offset
        );
        for pair in self.epochs.windows(2) {
            assert!(
                pair[0].leader_epoch < pair[1].leader_epoch
                    && pair[0].start_offset <= pair[1].start_offset,
                "log {dir}: epoch starts out of order: {pair:?}"
            );
        }
    }
}

fn record_header(producers: &mut ProducerStateTable, header: &BatchHeader) {
    if let Some(producer_batch) = producer_batch_of_header(header) {
        producers.record(producer_batch, header.base_offset, header.last_offset());
    }
}
