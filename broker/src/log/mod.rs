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
//! - **Durability** is the caller's decision: with `sync_each_append` every append is synced
//!   before it returns `Ok`; otherwise [`Log::sync`] syncs. [`Log::durable_end_offset`] is a
//!   lower bound of what a crash keeps: after a crash and [`Log::open`], the log end is at
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

mod index;
mod read;
mod segment;

pub use index::{IndexEntry, INDEX_ENTRY_BYTES};
pub use read::{ReadPlan, ReadResult};

use read::ReadView;

use crate::batch::{BatchError, BatchHeader, RecordBatch, OFFSET_MAX};
use crate::journal::Journal;
use crate::policy::SegmentViewPolicy;
use crate::producer_state::{ProducerBatch, ProducerStateError, ProducerStateTable, SequenceCheck};
use crate::storage::{Storage, StorageError};
use segment::{parse_segment_file, scan_segment, Segment, SegmentFileKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The log start checkpoint journal is compacted past this size.
const LOG_START_JOURNAL_BYTES_MAX: u64 = 4096;

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
    /// Sync after every append before returning `Ok`.
    pub sync_each_append: bool,
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
            sync_each_append: false,
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

fn producer_batch_of(batch: &RecordBatch) -> Option<ProducerBatch> {
    batch.is_idempotent().then(|| ProducerBatch {
        producer_id: batch.producer_id,
        producer_epoch: batch.producer_epoch,
        first_sequence: batch.base_sequence,
        last_sequence: batch.last_sequence(),
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
    // ---- opening and recovery ---------------------------------------------------------------

    /// Opens the log under `dir` (creating it if empty), recovering from whatever a crash left.
    pub fn open(
        storage: S,
        dir: &str,
        config: LogConfig,
    ) -> Result<(Log<S>, RecoveryReport), LogError> {
        config.validate()?;
        let dir = normalize_dir(dir);
        let (log_start_journal, journal_recovery) =
            Journal::open(storage.clone(), &format!("{dir}log-start-offset-"))?;
        let log_start_checkpoint = journal_recovery
            .entries
            .last()
            .or(Some(&journal_recovery.snapshot))
            .and_then(|payload| decode_checkpoint(payload));

        let mut log_bases = BTreeSet::new();
        let mut index_bases = BTreeSet::new();
        for name in storage.list(&dir)? {
            match parse_segment_file(&dir, &name) {
                Some((base, SegmentFileKind::Log)) => {
                    log_bases.insert(base);
                }
                Some((base, SegmentFileKind::Index)) => {
                    index_bases.insert(base);
                }
                None => {}
            }
        }

        let read_view = ReadView::new(config.segment_view_policy);
        let mut log = Log {
            storage,
            dir,
            config,
            segments: BTreeMap::new(),
            log_start_offset: 0,
            durable_end_offset: 0,
            producers: ProducerStateTable::new(),
            epochs: Vec::new(),
            log_start_journal,
            read_view,
            next_segment_id: 0,
            offline: None,
        };
        let mut report = RecoveryReport {
            log_start_checkpoint,
            ..RecoveryReport::default()
        };

        // Scan the segments in order; after a cut or a gap, everything later goes.
        let mut headers: Vec<BatchHeader> = Vec::new();
        let mut expected_base: Option<u64> = None;
        let mut cut = false;
        for &base in &log_bases {
            let log_file = segment::log_file_name(&log.dir, base);
            if cut || expected_base.is_some_and(|expected| expected != base) {
                if !cut {
                    report.cut = Some(RecoveryCut {
                        segment_base_offset: base,
                        position: 0,
                        reason: format!(
                            "gap: segment at {base} follows a log ending at {}",
                            expected_base.unwrap_or(0)
                        ),
                    });
                    cut = true;
                }
                delete_if_exists(&log.storage, &log_file)?;
                report.segments_deleted.push(base);
                continue;
            }
            let scan = scan_segment(&log.storage, &log_file, base, true)?;
            let id = log.new_segment_id();
            let mut segment = Segment::empty(id, &log.dir, base);
            for scanned in &scan.batches {
                segment.on_appended(&scanned.header, log.config.index_interval_bytes);
                headers.push(scanned.header);
            }
            if let Some(reason) = scan.stopped {
                tracing::warn!(dir = %log.dir, base, position = scan.valid_bytes, %reason, "recovery cuts the log");
                log.storage.truncate(&log_file, scan.valid_bytes)?;
                report.bytes_dropped += scan.file_bytes - scan.valid_bytes;
                report.cut = Some(RecoveryCut {
                    segment_base_offset: base,
                    position: scan.valid_bytes,
                    reason,
                });
                cut = true;
            }
            expected_base = Some(segment.next_offset);
            log.segments.insert(base, segment);
        }

        // The log start: the checkpoint or the first segment, whichever is later.
        let first_base = log.segments.keys().next().copied();
        let log_start = log_start_checkpoint
            .unwrap_or(0)
            .max(first_base.unwrap_or(0));
        // Segments wholly below it (a crash between the checkpoint and their deletion).
        while log.segments.len() > 1 {
            let (&base, first) = log.segments.iter().next().expect("non-empty");
            if first.next_offset > log_start {
                break;
            }
            delete_if_exists(&log.storage, &first.log_file)?;
            report.segments_deleted.push(base);
            log.segments.remove(&base);
        }
        let log_end = log
            .segments
            .values()
            .next_back()
            .map(|last| last.next_offset);
        if log_end.is_none_or(|end| end < log_start) {
            // Nothing, or not even up to the announced log start, survived: start empty there.
            for (&base, segment) in &log.segments {
                delete_if_exists(&log.storage, &segment.log_file)?;
                report.segments_deleted.push(base);
            }
            log.segments.clear();
            let segment = log.create_segment(log_start)?;
            log.segments.insert(log_start, segment);
            if log_end.is_some() || log_start_checkpoint.is_some() {
                report.restarted_empty_at = Some(log_start);
            }
        }
        log.log_start_offset = log_start;
        let first_kept = *log.segments.keys().next().expect("non-empty");
        let log_end = log.log_end_offset();

        // Producer state and leader epochs from the retained batches.
        for header in headers
            .iter()
            .filter(|header| header.base_offset >= first_kept && header.next_offset() <= log_end)
        {
            if let Some(producer_batch) = producer_batch_of_header(header) {
                log.producers
                    .record(producer_batch, header.base_offset, header.last_offset());
            }
            log.note_epoch(header.partition_leader_epoch, header.base_offset);
            report.batches += 1;
        }
        log.producers.expire_below(log_start);
        log.clamp_epochs_to_log_start();

        // Orphaned index files (their segment is gone).
        for base in index_bases {
            if !log.segments.contains_key(&base) {
                let _ = log
                    .storage
                    .delete(&segment::index_file_name(&log.dir, base));
            }
        }
        log.read_view.rebuild(&log.segments);
        // Everything that survived is made durable (a reopen without a crash may find
        // unsynced bytes), and the index files are rewritten.
        for segment in log.segments.values_mut() {
            segment.durable_size_bytes = 0;
        }
        log.durable_end_offset = log_start;
        log.sync()?;
        report.segments = log.segments.len();
        report.log_start_offset = log.log_start_offset;
        report.log_end_offset = log.log_end_offset();
        log.check_invariants();
        tracing::debug!(dir = %log.dir, ?report, "log opened");
        Ok((log, report))
    }

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

    // ---- appends ------------------------------------------------------------------------------

    /// Appends a producer's batch as the leader of `leader_epoch`: checks it and its producer
    /// sequence, stamps the base offset (the log end) and the epoch, writes it. A duplicate of
    /// one of the producer's last batches writes nothing and answers the original offsets.
    pub fn append_as_leader(
        &mut self,
        mut batch: RecordBatch,
        leader_epoch: u32,
        now_ms: i64,
    ) -> Result<AppendOutcome, LogError> {
        self.ensure_online()?;
        batch.base_offset = self.log_end_offset();
        batch.partition_leader_epoch = leader_epoch;
        batch.validate()?;
        if let Some(producer_batch) = producer_batch_of(&batch) {
            if let SequenceCheck::Duplicate {
                base_offset,
                last_offset,
            } = self.producers.check(producer_batch)?
            {
                return Ok(AppendOutcome::Duplicate {
                    base_offset,
                    last_offset,
                });
            }
        }
        let base_offset = batch.base_offset;
        let last_offset = batch.last_offset();
        self.write_batch(&batch, now_ms)?;
        self.sync_if_configured(base_offset, last_offset)?;
        Ok(AppendOutcome::Appended {
            base_offset,
            last_offset,
        })
    }

    /// Appends batches fetched from the leader, keeping their offsets and epochs. Each must
    /// start at the log end. On an error the batches before the failing one stay appended
    /// (see [`Log::log_end_offset`]). Returns the new log end.
    pub fn append_replicated(
        &mut self,
        batches: &[RecordBatch],
        now_ms: i64,
    ) -> Result<u64, LogError> {
        self.ensure_online()?;
        let first_base = self.log_end_offset();
        for batch in batches {
            batch.validate()?;
            if batch.base_offset != self.log_end_offset() {
                return Err(LogError::NonContiguous {
                    base_offset: batch.base_offset,
                    log_end: self.log_end_offset(),
                });
            }
            self.write_batch(batch, now_ms)?;
        }
        if let Some(last) = batches.last() {
            self.sync_if_configured(first_base, last.last_offset())?;
        }
        Ok(self.log_end_offset())
    }

    /// Writes one valid batch at the log end, rolling first if due.
    fn write_batch(&mut self, batch: &RecordBatch, now_ms: i64) -> Result<(), LogError> {
        assert_eq!(batch.base_offset, self.log_end_offset());
        let bytes = batch.encode();
        let header = BatchHeader::decode(&bytes).expect("a batch we just encoded decodes");
        if self.roll_is_due(header.batch_bytes(), now_ms) {
            self.roll_active()?;
        }
        let log_file = self.active().log_file.clone();
        if let Err(error) = self.storage.append(&log_file, &bytes) {
            if error.is_not_found() {
                self.go_offline(format!("active segment {log_file} vanished"));
            }
            return Err(error.into());
        }
        let interval = self.config.index_interval_bytes;
        self.active_mut().on_appended(&header, interval);
        if let Some(producer_batch) = producer_batch_of(batch) {
            self.producers
                .record(producer_batch, batch.base_offset, batch.last_offset());
        }
        self.note_epoch(batch.partition_leader_epoch, batch.base_offset);
        self.read_view.note_active(&self.segments);
        self.check_invariants();
        Ok(())
    }

    fn sync_if_configured(&mut self, base_offset: u64, last_offset: u64) -> Result<(), LogError> {
        if !self.config.sync_each_append {
            return Ok(());
        }
        match self.sync() {
            Ok(_) => Ok(()),
            Err(LogError::Storage(source)) => Err(LogError::NotDurable {
                base_offset,
                last_offset,
                source,
            }),
            Err(other) => Err(other),
        }
    }

    /// Syncs every segment with unsynced bytes, oldest first, and returns the durable end.
    /// Index files are flushed too; an index flush failure is not reported (the index is a
    /// cache; the flush is retried by the next sync).
    pub fn sync(&mut self) -> Result<u64, LogError> {
        self.ensure_online()?;
        let mut durable_end = self.durable_end_offset;
        let mut failure = None;
        for segment in self.segments.values_mut() {
            if segment.durable_size_bytes < segment.size_bytes {
                if let Err(error) = self.storage.sync(&segment.log_file) {
                    failure = Some(error);
                    break;
                }
                segment.durable_size_bytes = segment.size_bytes;
            }
            durable_end = durable_end.max(segment.next_offset);
        }
        self.durable_end_offset = durable_end;
        if let Some(error) = failure {
            if error.is_not_found() {
                self.go_offline(format!("segment vanished: {error}"));
            }
            return Err(error.into());
        }
        for segment in self.segments.values_mut() {
            if segment.needs_sync() {
                if let Err(error) = segment.sync(&self.storage) {
                    tracing::debug!(dir = %self.dir, %error, "index flush failed; retried at the next sync");
                }
            }
        }
        self.check_invariants();
        Ok(self.durable_end_offset)
    }

    // ---- rolling ------------------------------------------------------------------------------

    fn roll_is_due(&self, next_batch_bytes: u64, now_ms: i64) -> bool {
        let active = self.active();
        !active.is_empty()
            && (active.size_bytes + next_batch_bytes > self.config.segment_bytes_max
                || self.segment_age_due(active, now_ms))
    }

    fn segment_age_due(&self, segment: &Segment, now_ms: i64) -> bool {
        match (self.config.segment_ms, segment.first_batch_timestamp_ms) {
            (Some(segment_ms), Some(first_ms)) => {
                now_ms.saturating_sub(first_ms) >= segment_ms as i64
            }
            _ => false,
        }
    }

    /// Starts a new active segment at the log end unless the active one is empty. Does not
    /// sync the old one. Returns whether it rolled.
    pub fn roll(&mut self) -> Result<bool, LogError> {
        self.ensure_online()?;
        if self.active().is_empty() {
            return Ok(false);
        }
        self.roll_active()?;
        Ok(true)
    }

    /// Rolls if the active segment's first batch is at least `segment_ms` old at `now_ms`.
    pub fn roll_if_due(&mut self, now_ms: i64) -> Result<bool, LogError> {
        self.ensure_online()?;
        if self.active().is_empty() || !self.segment_age_due(self.active(), now_ms) {
            return Ok(false);
        }
        self.roll_active()?;
        Ok(true)
    }

    fn roll_active(&mut self) -> Result<(), LogError> {
        let base = self.log_end_offset();
        let segment = self.create_segment(base)?;
        self.segments.insert(base, segment);
        self.read_view.note_active(&self.segments);
        self.check_invariants();
        Ok(())
    }

    /// Creates the file of a new, empty segment. Any file already under that name lies beyond
    /// the log (a leftover) and is emptied.
    fn create_segment(&mut self, base_offset: u64) -> Result<Segment, StorageError> {
        let id = self.new_segment_id();
        let segment = Segment::empty(id, &self.dir, base_offset);
        match self.storage.create(&segment.log_file) {
            Ok(()) => {}
            Err(StorageError::AlreadyExists { .. }) => {
                self.storage.truncate(&segment.log_file, 0)?;
            }
            Err(error) => return Err(error),
        }
        Ok(segment)
    }

    // ---- retention ----------------------------------------------------------------------------

    /// Deletes whole segments by age (`retention_ms`), then by size (`retention_bytes`), then
    /// those wholly below the log start, oldest first; never the active segment, never one
    /// that holds an offset at or above `high_watermark`. Advances the log start to the first
    /// remaining segment and expires producers whose last batch fell below it.
    pub fn apply_retention(
        &mut self,
        now_ms: i64,
        high_watermark: u64,
    ) -> Result<RetentionOutcome, LogError> {
        self.ensure_online()?;
        let limit = high_watermark.min(self.log_end_offset());
        let mut outcome = RetentionOutcome::default();
        let result = self.delete_by_retention(now_ms, limit, &mut outcome);
        self.finish_log_start_change(&mut outcome);
        result.map(|()| outcome)
    }

    fn delete_by_retention(
        &mut self,
        now_ms: i64,
        limit: u64,
        outcome: &mut RetentionOutcome,
    ) -> Result<(), LogError> {
        if let Some(retention_ms) = self.config.retention_ms {
            let cutoff_ms = now_ms.saturating_sub(retention_ms as i64);
            while let Some(oldest) = self.deletable_oldest(limit) {
                if oldest.max_timestamp_ms.is_none_or(|max| max >= cutoff_ms) {
                    break;
                }
                self.delete_oldest_segment(outcome)?;
            }
        }
        if let Some(retention_bytes) = self.config.retention_bytes {
            while let Some(oldest) = self.deletable_oldest(limit) {
                if self.size_bytes() - oldest.size_bytes < retention_bytes {
                    break;
                }
                self.delete_oldest_segment(outcome)?;
            }
        }
        self.delete_below_log_start(outcome)
    }

    fn delete_below_log_start(&mut self, outcome: &mut RetentionOutcome) -> Result<(), LogError> {
        while let Some(oldest) = self.deletable_oldest(u64::MAX) {
            if oldest.next_offset > self.log_start_offset {
                break;
            }
            self.delete_oldest_segment(outcome)?;
        }
        Ok(())
    }

    /// The oldest segment, if it is not the active one and ends at or below `limit`.
    fn deletable_oldest(&self, limit: u64) -> Option<&Segment> {
        if self.segments.len() < 2 {
            return None;
        }
        let oldest = self.segments.values().next().expect("non-empty");
        (oldest.next_offset <= limit).then_some(oldest)
    }

    fn delete_oldest_segment(&mut self, outcome: &mut RetentionOutcome) -> Result<(), LogError> {
        assert!(self.segments.len() >= 2, "never delete the active segment");
        let (&base, oldest) = self.segments.iter().next().expect("non-empty");
        delete_if_exists(&self.storage, &oldest.log_file)?;
        if let Err(error) = delete_if_exists(&self.storage, &oldest.index_file) {
            tracing::debug!(dir = %self.dir, %error, "index file left behind; dropped on the next open");
        }
        let removed = self.segments.remove(&base).expect("present");
        outcome.segments_deleted.push(base);
        outcome.bytes_deleted += removed.size_bytes;
        let new_first = *self
            .segments
            .keys()
            .next()
            .expect("the active segment remains");
        self.log_start_offset = self.log_start_offset.max(new_first);
        self.durable_end_offset = self.durable_end_offset.max(self.log_start_offset);
        Ok(())
    }

    /// Moves the log start forward to `offset` (Kafka's DeleteRecords; fault injection uses it
    /// to make a follower's log start run ahead of the leader's). Checkpoints it durably first,
    /// then deletes the segments wholly below it. A no-op for an offset at or below the log
    /// start.
    pub fn advance_log_start(&mut self, offset: u64) -> Result<RetentionOutcome, LogError> {
        self.ensure_online()?;
        let mut outcome = RetentionOutcome {
            log_start_offset: self.log_start_offset,
            ..RetentionOutcome::default()
        };
        if offset <= self.log_start_offset {
            return Ok(outcome);
        }
        if offset > self.log_end_offset() {
            return Err(LogError::LogStartBeyondEnd {
                requested: offset,
                log_end: self.log_end_offset(),
            });
        }
        self.persist_log_start(offset)?;
        self.log_start_offset = offset;
        self.durable_end_offset = self.durable_end_offset.max(offset);
        let result = self.delete_below_log_start(&mut outcome);
        self.finish_log_start_change(&mut outcome);
        result.map(|()| outcome)
    }

    fn finish_log_start_change(&mut self, outcome: &mut RetentionOutcome) {
        outcome.log_start_offset = self.log_start_offset;
        outcome
            .producers_expired
            .extend(self.producers.expire_below(self.log_start_offset));
        self.clamp_epochs_to_log_start();
        self.check_invariants();
    }

    /// Forgets one producer's state (fault injection `expire-pid`): its next batch with a
    /// sequence other than 0 gets `UnknownProducerId`. Recovery or a truncation, which rebuild
    /// the state from the log, bring it back while its batches are retained.
    pub fn expire_producer(&mut self, producer_id: i64) -> bool {
        self.producers.expire_producer(producer_id)
    }

    fn persist_log_start(&mut self, offset: u64) -> Result<(), StorageError> {
        let payload = offset.to_be_bytes();
        if self.log_start_journal.needs_rewrite() {
            return self.log_start_journal.rewrite(&payload);
        }
        self.log_start_journal.append(&payload)?;
        if self.log_start_journal.size_bytes() > LOG_START_JOURNAL_BYTES_MAX {
            // Compaction failing is harmless: the entry is durable, and a failed rewrite
            // leaves the journal asking for another.
            let _ = self.log_start_journal.rewrite(&payload);
        }
        Ok(())
    }

    // ---- truncation ---------------------------------------------------------------------------

    /// Removes every batch at or above `offset` (follower truncation, KIP-101). The batch that
    /// contains `offset` goes entirely, so the new log end is that batch's base offset, which
    /// may be below `offset`. Truncating below the first segment empties the log and restarts
    /// it at `offset` (the log start moves back: the leader will re-send those records);
    /// a log start above the new end is lowered to it. A no-op at or past the log end.
    pub fn truncate_to(&mut self, offset: u64) -> Result<(), LogError> {
        self.ensure_online()?;
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        let first_base = *self.segments.keys().next().expect("non-empty");
        if offset < first_base {
            return self.truncate_fully_and_start_at(offset);
        }

        // Read-only pass: where to cut, and the producer state below the cut.
        let (&cut_base, cut_segment) = self
            .segments
            .range(..=offset)
            .next_back()
            .expect("offset is at or above the first segment");
        let cut_log_file = cut_segment.log_file.clone();
        let cut_scan = scan_segment(&self.storage, &cut_log_file, cut_base, false)?;
        let Some(cut_batch) = cut_scan
            .batches
            .iter()
            .position(|scanned| scanned.header.next_offset() > offset)
        else {
            return Err(LogError::CorruptSegment {
                segment_base_offset: cut_base,
                position: cut_scan.valid_bytes,
                reason: format!("no batch holds offset {offset}"),
            });
        };
        let cut_position = cut_scan.batches[cut_batch].position;
        let new_end = cut_scan.batches[cut_batch].header.base_offset;
        let mut producers = ProducerStateTable::new();
        for segment in self.segments.range(..cut_base).map(|(_, segment)| segment) {
            let scan = scan_segment(&self.storage, &segment.log_file, segment.base_offset, false)?;
            for scanned in &scan.batches {
                record_header(&mut producers, &scanned.header);
            }
        }
        let kept = &cut_scan.batches[..cut_batch];
        for scanned in kept {
            record_header(&mut producers, &scanned.header);
        }
        let kept_max_timestamp_ms = kept
            .iter()
            .map(|scanned| scanned.header.max_timestamp_ms)
            .max();

        // Once something changed, a failure leaves memory and disk apart: the log goes
        // offline. A failure of the first change leaves everything as it was.
        let later: Vec<u64> = self
            .segments
            .range(cut_base + 1..)
            .map(|(&base, _)| base)
            .rev()
            .collect();
        let mut changed = false;
        for base in later {
            let segment = &self.segments[&base];
            if let Err(error) = delete_if_exists(&self.storage, &segment.log_file) {
                if changed {
                    self.go_offline(format!("truncation to {offset} failed: {error}"));
                }
                return Err(error.into());
            }
            changed = true;
            let _ = delete_if_exists(&self.storage, &segment.index_file);
            self.segments.remove(&base);
        }
        if let Err(error) = self.storage.truncate(&cut_log_file, cut_position) {
            if changed {
                self.go_offline(format!("truncation to {offset} failed: {error}"));
            }
            return Err(error.into());
        }
        let id = self.new_segment_id();
        let segment = self.segments.get_mut(&cut_base).expect("present");
        segment.id = id;
        segment.size_bytes = cut_position;
        segment.durable_size_bytes = segment.durable_size_bytes.min(cut_position);
        segment.next_offset = new_end;
        segment.max_timestamp_ms = kept_max_timestamp_ms;
        if kept.is_empty() {
            segment.first_batch_timestamp_ms = None;
        }
        segment.index.truncate_to_position(cut_position);

        self.durable_end_offset = self.durable_end_offset.min(new_end);
        self.epochs.retain(|entry| entry.start_offset < new_end);
        if new_end < self.log_start_offset {
            self.log_start_offset = new_end;
            if let Err(error) = self.persist_log_start(new_end) {
                self.go_offline(format!("checkpoint of log start {new_end} failed: {error}"));
                return Err(error.into());
            }
        }
        producers.expire_below(self.log_start_offset);
        self.producers = producers;
        self.read_view.rebuild(&self.segments);
        self.check_invariants();
        Ok(())
    }

    /// Empties the log and restarts it at `offset`, which becomes both log start and log end
    /// (Kafka's `truncateFullyAndStartAt`: a follower whose log is entirely below, or entirely
    /// divergent from, the leader's). The new log start is checkpointed first.
    pub fn truncate_fully_and_start_at(&mut self, offset: u64) -> Result<(), LogError> {
        self.ensure_online()?;
        assert!(offset <= OFFSET_MAX, "log start {offset} beyond OFFSET_MAX");
        self.persist_log_start(offset)?;
        let bases: Vec<u64> = self.segments.keys().rev().copied().collect();
        for base in bases {
            let segment = &self.segments[&base];
            if let Err(error) = delete_if_exists(&self.storage, &segment.log_file) {
                self.go_offline(format!("full truncation failed: {error}"));
                return Err(error.into());
            }
            let _ = delete_if_exists(&self.storage, &segment.index_file);
        }
        self.segments.clear();
        match self.create_segment(offset) {
            Ok(segment) => {
                self.segments.insert(offset, segment);
            }
            Err(error) => {
                // Keep the in-memory log well-formed while offline.
                let id = self.new_segment_id();
                self.segments
                    .insert(offset, Segment::empty(id, &self.dir, offset));
                self.go_offline(format!("full truncation failed: {error}"));
                self.log_start_offset = offset;
                self.durable_end_offset = offset;
                return Err(error.into());
            }
        }
        self.log_start_offset = offset;
        self.durable_end_offset = offset;
        self.producers = ProducerStateTable::new();
        self.epochs.clear();
        self.read_view.rebuild(&self.segments);
        self.check_invariants();
        Ok(())
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
