//! Reading one replica's log again and again from a live disk, at the cost of what changed.
//!
//! The state checker reads every replica's log at each sample. Opening a snapshot each time
//! ([`super::replica_log_with`]) costs the whole log: the copy, the recovery, one record per
//! offset. A [`FollowedLog`] keeps what the last read found (each segment file's marks, the
//! records) and, when the files only grew at their end since, reads just the new bytes. In every
//! other case it opens a snapshot as before. Either way the answer is what opening a fresh
//! snapshot of the disk gives (`a_followed_log_is_what_a_fresh_snapshot_opens` in the state
//! checker's tests holds it to that).
//!
//! Growth is the case where recovery, run on the files, would keep every byte of them: each
//! segment file scans clean to its end, each starts where the one before ends, and the log
//! start (from its journal, or the first segment) is not past the log end. Recovery then keeps
//! the records of every batch from the log start on, which is what is added up here.

use super::{InspectCache, ReplicaLog, StoredRecord};
use crate::api::TopicPartition;
use crate::batch::StoredBatch;
use crate::log::{
    log_start_journal_prefix, open_log_start_journal, parse_segment_file, scan_from, LogError,
    SegmentFileKind,
};
use crate::storage::Storage;
use std::sync::Arc;

/// How a file on a disk stands, for telling later what changed in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMark {
    pub name: String,
    /// Changes with every change to the file's content, to a value the disk never gave before.
    pub version: u64,
    /// Changes with every change but an append: while it stays, the file only grew at its end.
    pub lineage: u64,
    /// The file's length, unsynced bytes included.
    pub len: u64,
}

/// A disk a [`FollowedLog`] can read without disturbing it.
pub trait MarkedStorage: Storage + Clone {
    /// Each file whose name starts with `prefix`, in name order.
    fn marks(&self, prefix: &str) -> Vec<FileMark>;
    /// A file's bytes from `position` to its end, read without any side effect (no fault drawn,
    /// nothing counted); None when there is no such file.
    fn bytes_from(&self, name: &str, position: u64) -> Option<Vec<u8>>;
    /// An independent copy of the files under `prefix`, with their marks, to open (opening may
    /// repair the copy, never the disk).
    fn snapshot_under(&self, prefix: &str) -> Self;
    /// Whether two handles name one disk: marks compare only on one disk.
    fn same_storage(&self, other: &Self) -> bool;
}

/// One replica's log as read from one disk, kept for the next read (see the module's doc).
#[derive(Debug)]
pub struct FollowedLog<S> {
    followed: Option<Followed<S>>,
    /// Reads answered from the new bytes alone, and reads that opened a snapshot.
    pub grown: u64,
    pub opened: u64,
}

impl<S> Default for FollowedLog<S> {
    fn default() -> Self {
        FollowedLog {
            followed: None,
            grown: 0,
            opened: 0,
        }
    }
}

#[derive(Debug)]
struct Followed<S> {
    disk: S,
    /// The journal's files (name, version) and the log start it recorded.
    journal: Vec<(String, u64)>,
    checkpoint: Option<u64>,
    /// The segment files, in offset order; each scanned clean to `mark.len`.
    segments: Vec<FollowedSegment>,
    /// The records of `segments` from the log start on, from `first` on (those before belong to
    /// segments gone since, or fell below the log start).
    records: Arc<Vec<StoredRecord>>,
    first: usize,
    log_start_offset: u64,
    generation: u64,
    /// The generation before the last cut, and the offset of the cut.
    previous: Option<(u64, u64)>,
}

#[derive(Debug)]
struct FollowedSegment {
    base_offset: u64,
    mark: FileMark,
    /// The offset after its last batch (its base when it has none).
    next_offset: u64,
}

impl<S: MarkedStorage> FollowedLog<S> {
    /// `partition`'s log on `disk`, as opening a fresh snapshot of `disk` gives it now.
    pub fn read(
        &mut self,
        disk: &S,
        partition: &TopicPartition,
        cache: &mut InspectCache,
    ) -> Result<ReplicaLog, LogError> {
        let directory = super::log_directory(partition);
        let marks = disk.marks(&directory);
        if let Some(followed) = self.followed.as_mut() {
            if followed.disk.same_storage(disk) {
                if let Some(log) = followed.grow(&directory, &marks, cache)? {
                    self.grown += 1;
                    return Ok(log);
                }
            }
        }
        self.opened += 1;
        self.followed = None;
        let snapshot = disk.snapshot_under(&directory);
        let log = super::replica_log_with(snapshot.clone(), partition, cache)?;
        // Followed on only when recovery kept the segment files as they are on the disk: then
        // they hold exactly the log read.
        if segment_marks(&directory, &snapshot.marks(&directory))
            == segment_marks(&directory, &marks)
        {
            self.followed = Followed::start(disk.clone(), &directory, &marks, &log);
        }
        Ok(log)
    }
}

/// The segment files among `marks`, with their base offsets, in offset order.
fn segment_marks<'a>(directory: &str, marks: &'a [FileMark]) -> Vec<(u64, &'a FileMark)> {
    marks
        .iter()
        .filter_map(|mark| match parse_segment_file(directory, &mark.name) {
            Some((base, SegmentFileKind::Log)) => Some((base, mark)),
            _ => None,
        })
        .collect()
}

/// The journal's files among `marks`: names and versions.
fn journal_marks(directory: &str, marks: &[FileMark]) -> Vec<(String, u64)> {
    let prefix = log_start_journal_prefix(directory);
    marks
        .iter()
        .filter(|mark| mark.name.starts_with(&prefix))
        .map(|mark| (mark.name.clone(), mark.version))
        .collect()
}

impl<S: MarkedStorage> Followed<S> {
    /// Following a log just opened from a snapshot whose segment files are `marks`' (None when
    /// its shape is not one [`Followed::grow`] keeps up with). The log's records and generation
    /// go on.
    fn start(
        disk: S,
        directory: &str,
        marks: &[FileMark],
        log: &ReplicaLog,
    ) -> Option<Followed<S>> {
        let segments = segment_marks(directory, marks);
        let mut followed = Followed {
            disk,
            journal: journal_marks(directory, marks),
            checkpoint: None,
            segments: Vec::with_capacity(segments.len()),
            records: log.records.clone(),
            first: log.first,
            log_start_offset: log.log_start_offset,
            generation: log.generation,
            previous: log.previous,
        };
        followed.checkpoint = followed.read_checkpoint(directory).ok()?;
        // Each segment ends where the next begins; the last at the log end.
        for (index, (base_offset, mark)) in segments.iter().enumerate() {
            let next_offset = segments
                .get(index + 1)
                .map_or(log.log_end_offset, |(next, _)| *next);
            followed.segments.push(FollowedSegment {
                base_offset: *base_offset,
                mark: (*mark).clone(),
                next_offset,
            });
        }
        (!followed.segments.is_empty()).then_some(followed)
    }

    /// The log start the journal's files recorded, read from a copy of them.
    fn read_checkpoint(&self, directory: &str) -> Result<Option<u64>, LogError> {
        let copy = self
            .disk
            .snapshot_under(&log_start_journal_prefix(directory));
        Ok(open_log_start_journal(copy, directory)?.1)
    }

    /// The log now, when since the last read its segments changed only as [`FollowedLog`] follows
    /// and recovery would keep every byte of them; None otherwise (the caller opens a snapshot).
    fn grow(
        &mut self,
        directory: &str,
        marks: &[FileMark],
        cache: &mut InspectCache,
    ) -> Result<Option<ReplicaLog>, LogError> {
        let segments = segment_marks(directory, marks);
        let Some(&(first_base, _)) = segments.first() else {
            return Ok(None);
        };
        // Gone at the front: the oldest segments (retention).
        let Some(kept) = self
            .segments
            .iter()
            .position(|segment| segment.base_offset == first_base)
        else {
            return Ok(None);
        };
        let old = &self.segments[kept..];
        // The old segments still there: those at the same bases up to the first one that
        // changed (grown, cut by a truncation or a crash, or made again). Those after it are gone
        // (a truncation deleted them, or they were made again: they are read as new).
        let matching = old
            .iter()
            .zip(&segments)
            .take_while(|(segment, (base_offset, _))| segment.base_offset == *base_offset)
            .count();
        let present = old[..matching]
            .iter()
            .zip(&segments)
            .position(|(segment, (_, mark))| segment.mark.version != mark.version)
            .map_or(matching, |changed| changed + 1);
        let journal = journal_marks(directory, marks);
        let checkpoint = if journal == self.journal {
            self.checkpoint
        } else {
            self.read_checkpoint(directory)?
        };
        let log_start = checkpoint.unwrap_or(0).max(first_base);
        if log_start < self.log_start_offset {
            return Ok(None);
        }
        // Read what is new: the last old segment's tail when it only grew, all of it when it
        // changed otherwise, then each later segment. Records from `changed_from` on are read
        // again.
        let last = &old[present - 1];
        let last_mark = segments[present - 1].1;
        let (tail, changed_from) = if last.mark.lineage == last_mark.lineage {
            (Some(last.mark.len), last.next_offset)
        } else {
            (None, last.base_offset)
        };
        let mut added: Vec<FollowedSegment> = Vec::new();
        let mut new_records: Vec<StoredRecord> = Vec::new();
        for (index, (base_offset, mark)) in segments.iter().enumerate().skip(present - 1) {
            let (from, expected_offset) = match tail {
                Some(len) if index == present - 1 => (len, last.next_offset),
                _ => {
                    let previous_end = added
                        .last()
                        .map_or(last.base_offset, |segment| segment.next_offset);
                    // Recovery cuts the log at a segment that does not start where the last
                    // ended.
                    if index >= present && *base_offset != previous_end {
                        return Ok(None);
                    }
                    (0, *base_offset)
                }
            };
            if from == mark.len {
                added.push(FollowedSegment {
                    base_offset: *base_offset,
                    mark: (*mark).clone(),
                    next_offset: expected_offset,
                });
                continue;
            }
            let Some(bytes) = self.disk.bytes_from(&mark.name, from) else {
                return Ok(None);
            };
            let bytes = bytes::Bytes::from(bytes);
            let scan = scan_from(&bytes, Vec::new(), 0, expected_offset, true);
            if scan.stopped.is_some() {
                return Ok(None);
            }
            let mut next_offset = expected_offset;
            for scanned in &scan.batches {
                let position = scanned.position as usize;
                let stored = StoredBatch {
                    header: scanned.header,
                    bytes: bytes.slice(position..position + scanned.header.batch_bytes() as usize),
                };
                // Those below the log start are passed over with the older ones, below.
                cache.decode(&stored)?.push_records(0, &mut new_records);
                next_offset = scanned.header.next_offset();
            }
            added.push(FollowedSegment {
                base_offset: *base_offset,
                mark: (*mark).clone(),
                next_offset,
            });
        }
        let log_end = added.last().map_or(last.next_offset, |s| s.next_offset);
        // Recovery starts an empty log at a log start past the log end.
        if log_end < log_start {
            return Ok(None);
        }
        // Records at and past `changed_from` went: the log is no longer one that only grew.
        let old_end = self
            .segments
            .last()
            .map_or(0, |segment| segment.next_offset);
        if changed_from < old_end {
            self.previous = Some((self.generation, changed_from));
            self.generation = super::next_generation();
        }
        // Commit: the segments, the records, the log start.
        self.segments.drain(..kept);
        self.segments.truncate(present - 1);
        self.segments.extend(added);
        self.journal = journal;
        self.checkpoint = checkpoint;
        self.log_start_offset = log_start;
        let records = Arc::make_mut(&mut self.records);
        // Those before `first` are below the log start, and need not be in order.
        let kept_records = self.first
            + records[self.first..].partition_point(|record| record.offset < changed_from);
        records.truncate(kept_records);
        records.extend(new_records);
        while records
            .get(self.first)
            .is_some_and(|record| record.offset < log_start)
        {
            self.first += 1;
        }
        // Records before `first` are dropped once they are half of those kept.
        if self.first > records.len() / 2 {
            records.drain(..self.first);
            self.first = 0;
        }
        Ok(Some(ReplicaLog {
            log_start_offset: log_start,
            log_end_offset: log_end,
            records: self.records.clone(),
            first: self.first,
            generation: self.generation,
            previous: self.previous,
        }))
    }
}
