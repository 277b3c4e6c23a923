//! Reads, in two phases: plan from the current segment view, execute later.
//!
//! The node shell plans a read, sleeps for the disk's latency, then executes it; retention (or
//! a truncation) may run in between. That gap is where fluvio #3891 lived: the broker resolved
//! a segment, retention deleted it, and the read reopened the deleted file and answered
//! `No such file or directory`. Here [`Log::execute_read`] first re-validates the plan against
//! the current view: an offset now below the log start answers `OffsetEvicted` with the
//! *current* log start; a planned segment that was deleted or cut is re-planned from the
//! current view (no IO happened in between, so the re-plan cannot be stale).
//!
//! Under [`SegmentViewPolicy::CachedIgnoringRetention`](crate::policy::SegmentViewPolicy) plans
//! come from a cached view that retention never invalidates, and execution trusts the plan: the
//! deleted file's "not found" surfaces as [`LogError::Internal`] (fluvio #3891). That view and
//! its reads live in `read/cached.rs`.

mod cached;

pub(super) use cached::ReadView;

use super::{Log, LogError, Segment};
use crate::batch::{peek_span, verify_bytes, BatchHeader, Record, StoredBatch, BATCH_HEADER_BYTES};
use crate::storage::{Storage, StorageError};

/// A read resolved against the segment view at planning time. Opaque: hand it back to
/// [`Log::execute_read`] of the same log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    offset: u64,
    max_bytes: u64,
    /// Exclusive bound: batches reaching it are not returned.
    end_offset: u64,
    /// `None` when the offset is the end: an empty answer.
    target: Option<PlannedSegment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PlannedSegment {
    id: u64,
    base_offset: u64,
    log_file: std::sync::Arc<str>,
    /// Where to start scanning (from the sparse index).
    position: u64,
    size_bytes: u64,
}

impl ReadPlan {
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn end_offset(&self) -> u64 {
        self.end_offset
    }

    /// The segment the plan will read, if any.
    pub fn segment_base_offset(&self) -> Option<u64> {
        self.target.as_ref().map(|target| target.base_offset)
    }
}

/// Whole batches from one segment, the first one holding the requested offset (it may start
/// below it: callers skip the records before the offset they asked for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// The stored bytes of each batch, CRC checked, not decoded: what a fetch serves.
    pub batches: Vec<StoredBatch>,
    /// The log start and log end when the read executed.
    pub log_start_offset: u64,
    pub log_end_offset: u64,
}

impl ReadResult {
    /// Every record with its offset, including any before the requested offset, decoded (for
    /// tests and inspection: a fetch serves the bytes). A batch that does not decode (its CRC
    /// was checked, so only hostile bytes) ends the list early.
    pub fn records(&self) -> impl Iterator<Item = (u64, Record)> + '_ {
        self.batches
            .iter()
            .map_while(|batch| batch.decode().ok())
            .flat_map(|batch| {
                let base = batch.base_offset;
                (base..).zip(batch.records)
            })
    }

    /// The offset after the last returned batch.
    pub fn next_offset(&self) -> Option<u64> {
        self.batches.last().map(|batch| batch.header.next_offset())
    }

    /// Encoded bytes of the returned batches.
    pub fn size_bytes(&self) -> u64 {
        self.batches
            .iter()
            .map(|batch| batch.header.batch_bytes())
            .sum()
    }
}

enum ReadFailure {
    Storage(StorageError),
    Corrupt { position: u64, reason: String },
}

impl From<StorageError> for ReadFailure {
    fn from(error: StorageError) -> ReadFailure {
        ReadFailure::Storage(error)
    }
}

impl<S: Storage + Clone> Log<S> {
    /// Plans a read of up to `max_bytes` (at least one batch) from `offset`, bounded by the
    /// log end.
    pub fn plan_read(&self, offset: u64, max_bytes: u64) -> Result<ReadPlan, LogError> {
        self.plan_read_up_to(offset, max_bytes, self.log_end_offset())
    }

    /// Plans a read bounded by `end_offset` (exclusive; the high watermark for consumers),
    /// clamped to the log end. `offset == end_offset` plans an empty answer; above it,
    /// `OffsetOutOfRange`; below the log start, `OffsetEvicted`.
    pub fn plan_read_up_to(
        &self,
        offset: u64,
        max_bytes: u64,
        end_offset: u64,
    ) -> Result<ReadPlan, LogError> {
        self.ensure_online()?;
        let end_offset = end_offset.min(self.log_end_offset());
        match &self.read_view {
            ReadView::Current => {}
            ReadView::Cached(view) => {
                return self.plan_read_cached(view, offset, max_bytes, end_offset)
            }
        }
        if offset < self.log_start_offset {
            return Err(LogError::OffsetEvicted {
                offset,
                next_available: self.log_start_offset,
            });
        }
        if offset > end_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: end_offset,
            });
        }
        let target = (offset < end_offset).then(|| {
            let segment = self.segment_holding(offset);
            planned(segment, segment.index.lookup(offset))
        });
        Ok(ReadPlan {
            offset,
            max_bytes,
            end_offset,
            target,
        })
    }

    /// The segment that holds `offset`, which must lie in `[log start, log end)`.
    fn segment_holding(&self, offset: u64) -> &Segment {
        let (_, segment) = self
            .segments
            .range(..=offset)
            .next_back()
            .expect("an offset at or above the log start has a segment");
        assert!(
            segment.base_offset <= offset && offset < segment.next_offset,
            "log {}: offset {offset} not in segment {}..{}",
            self.dir,
            segment.base_offset,
            segment.next_offset
        );
        segment
    }

    /// Executes a plan against the log as it is now (see the module docs).
    pub fn execute_read(&self, plan: &ReadPlan) -> Result<ReadResult, LogError> {
        self.ensure_online()?;
        match &self.read_view {
            ReadView::Current => {}
            ReadView::Cached(_) => return self.execute_read_cached(plan),
        }
        let offset = plan.offset;
        if offset < self.log_start_offset {
            return Err(LogError::OffsetEvicted {
                offset,
                next_available: self.log_start_offset,
            });
        }
        let end_offset = plan.end_offset.min(self.log_end_offset());
        if offset > end_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: end_offset,
            });
        }
        if offset == end_offset {
            return Ok(self.result(Vec::new()));
        }
        let still_valid = plan.target.as_ref().filter(|target| {
            self.segments
                .get(&target.base_offset)
                .is_some_and(|segment| segment.id == target.id)
        });
        let target = match still_valid {
            Some(target) => target.clone(),
            // Deleted or cut since planning: plan again from the current view.
            None => {
                let segment = self.segment_holding(offset);
                planned(segment, segment.index.lookup(offset))
            }
        };
        let segment = &self.segments[&target.base_offset];
        self.read_segment(
            &target,
            segment.size_bytes,
            offset,
            plan.max_bytes,
            end_offset,
        )
        .map(|batches| self.result(batches))
    }

    /// Plan + execute with nothing in between.
    pub fn read(&self, offset: u64, max_bytes: u64) -> Result<ReadResult, LogError> {
        self.execute_read(&self.plan_read(offset, max_bytes)?)
    }

    /// Plan + execute, bounded by `end_offset` (see [`Log::plan_read_up_to`]).
    pub fn read_up_to(
        &self,
        offset: u64,
        max_bytes: u64,
        end_offset: u64,
    ) -> Result<ReadResult, LogError> {
        self.execute_read(&self.plan_read_up_to(offset, max_bytes, end_offset)?)
    }

    fn result(&self, batches: Vec<StoredBatch>) -> ReadResult {
        ReadResult {
            batches,
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset(),
        }
    }

    fn read_segment(
        &self,
        target: &PlannedSegment,
        size_bytes: u64,
        offset: u64,
        max_bytes: u64,
        end_offset: u64,
    ) -> Result<Vec<StoredBatch>, LogError> {
        read_batches(
            &self.storage,
            target,
            size_bytes,
            offset,
            max_bytes,
            end_offset,
        )
        .map_err(|failure| match failure {
            ReadFailure::Storage(error) => LogError::Storage(error),
            ReadFailure::Corrupt { position, reason } => LogError::CorruptSegment {
                segment_base_offset: target.base_offset,
                position,
                reason,
            },
        })
    }
}

fn planned(segment: &Segment, position: u64) -> PlannedSegment {
    PlannedSegment {
        id: segment.id,
        base_offset: segment.base_offset,
        log_file: segment.log_file.clone(),
        position,
        size_bytes: segment.size_bytes,
    }
}

/// How much a read takes from the segment file at once: enough for the walk from an index entry
/// (the index interval is 4 KiB by default) and a few batches, in one storage call.
const READ_CHUNK_BYTES: u64 = 8 * 1024;

/// The bytes of a segment file read so far: one storage read serves every batch header and
/// batch inside it (a read per batch costs a file lookup and an allocation each).
struct Window {
    start: u64,
    /// The chunk read last; batches served from it share it (no copy).
    bytes: bytes::Bytes,
}

impl Window {
    /// `len` bytes at `position` (fewer if the file is shorter), reading a new chunk of at
    /// least [`READ_CHUNK_BYTES`] (bounded by `size_bytes`) when they are not all in the window.
    fn get(
        &mut self,
        storage: &impl Storage,
        file: &str,
        position: u64,
        len: u64,
        size_bytes: u64,
    ) -> Result<&[u8], StorageError> {
        let (from, to) = self.locate(storage, file, position, len, size_bytes)?;
        Ok(&self.bytes[from..to])
    }

    /// [`Window::get`] as a shared slice of the chunk (what a read serves: no copy).
    fn get_shared(
        &mut self,
        storage: &impl Storage,
        file: &str,
        position: u64,
        len: u64,
        size_bytes: u64,
    ) -> Result<bytes::Bytes, StorageError> {
        let (from, to) = self.locate(storage, file, position, len, size_bytes)?;
        Ok(self.bytes.slice(from..to))
    }

    /// Reads a new chunk if needed; the range of `len` bytes at `position` in it.
    fn locate(
        &mut self,
        storage: &impl Storage,
        file: &str,
        position: u64,
        len: u64,
        size_bytes: u64,
    ) -> Result<(usize, usize), StorageError> {
        let end = self.start + self.bytes.len() as u64;
        if position < self.start || position + len > end {
            let want = len
                .max(READ_CHUNK_BYTES)
                .min(size_bytes.saturating_sub(position))
                .max(len);
            self.bytes = storage.read(file, position, want as usize)?.into();
            self.start = position;
        }
        let from = (position - self.start) as usize;
        let to = (from + len as usize).min(self.bytes.len());
        Ok((from.min(to), to))
    }
}

/// Walks batches from `target.position` to the one holding `offset`, then collects whole
/// batches until `max_bytes` (at least one), the segment's end, or a batch reaching
/// `end_offset`.
fn read_batches(
    storage: &impl Storage,
    target: &PlannedSegment,
    size_bytes: u64,
    offset: u64,
    max_bytes: u64,
    end_offset: u64,
) -> Result<Vec<StoredBatch>, ReadFailure> {
    let mut batches: Vec<StoredBatch> = Vec::new();
    let mut bytes_read = 0u64;
    let mut position = target.position;
    let mut window = Window {
        start: position,
        bytes: bytes::Bytes::new(),
    };
    let file = &*target.log_file;
    while position < size_bytes {
        let head = window.get(storage, file, position, BATCH_HEADER_BYTES, size_bytes)?;
        // Batches wholly below the offset are passed over on their span alone (a batch this
        // read serves is decoded and checked below).
        if let Some((next_offset, batch_bytes)) = peek_span(head) {
            if next_offset <= offset && position + batch_bytes <= size_bytes {
                position += batch_bytes;
                continue;
            }
        }
        let header = BatchHeader::decode(head).map_err(|error| ReadFailure::Corrupt {
            position,
            reason: error.to_string(),
        })?;
        let batch_bytes = header.batch_bytes();
        if position + batch_bytes > size_bytes {
            return Err(ReadFailure::Corrupt {
                position,
                reason: format!(
                    "batch of {batch_bytes} bytes crosses the segment end {size_bytes}"
                ),
            });
        }
        if header.next_offset() <= offset {
            position += batch_bytes;
            continue;
        }
        if batches.is_empty() && header.base_offset > offset {
            return Err(ReadFailure::Corrupt {
                position,
                reason: format!(
                    "batch at {} where offset {offset} was expected",
                    header.base_offset
                ),
            });
        }
        if header.next_offset() > end_offset
            || (!batches.is_empty() && bytes_read + batch_bytes > max_bytes)
        {
            break;
        }
        let bytes = window.get_shared(storage, file, position, batch_bytes, size_bytes)?;
        // The CRC is checked (cheap), the records are not decoded: the bytes are served as stored
        // (a slice of the chunk read, not a copy).
        let header = verify_bytes(&bytes).map_err(|error| ReadFailure::Corrupt {
            position,
            reason: error.to_string(),
        })?;
        bytes_read += batch_bytes;
        position += batch_bytes;
        batches.push(StoredBatch { header, bytes });
        if bytes_read >= max_bytes {
            break;
        }
    }
    Ok(batches)
}
