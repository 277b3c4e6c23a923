//! The sparse offset index of one segment: batch base offset -> file position, one entry at
//! most every `index_interval_bytes` of log.
//!
//! The index lives in memory and is mirrored to the segment's `.index` file (16-byte entries,
//! `offset u64, position u64`) when the log is synced. The file is a cache, never trusted:
//! recovery rebuilds the index from the log and rewrites the file, so a torn or missing index
//! file costs nothing but the rewrite.

use crate::storage::{Storage, StorageError};
use bytes::BufMut;

/// Bytes of one entry in an `.index` file.
pub const INDEX_ENTRY_BYTES: u64 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Base offset of the batch at `position`.
    pub offset: u64,
    pub position: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SparseIndex {
    entries: Vec<IndexEntry>,
    /// How many leading entries the file holds, synced, as far as we know.
    entries_in_file: usize,
    /// Whether the file may differ from `entries[..entries_in_file]` (after a truncation, or
    /// on a freshly opened log whose file we have not rewritten yet).
    file_dirty: bool,
    /// Log bytes appended since the last entry.
    bytes_since_entry: u64,
}

impl SparseIndex {
    /// An index for a segment whose file must be rewritten at the next flush.
    pub(crate) fn new_dirty() -> SparseIndex {
        SparseIndex {
            file_dirty: true,
            ..SparseIndex::default()
        }
    }

    pub(crate) fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// Notes a batch of `batch_bytes` about to be written at `position`, adding an entry when
    /// at least `interval_bytes` were written since the last one.
    pub(crate) fn on_batch(
        &mut self,
        offset: u64,
        position: u64,
        batch_bytes: u64,
        interval_bytes: u64,
    ) {
        if position > 0 && self.bytes_since_entry >= interval_bytes {
            if let Some(last) = self.entries.last() {
                assert!(
                    last.offset < offset && last.position < position,
                    "index entries must increase: {last:?} then offset {offset} position {position}"
                );
            }
            self.entries.push(IndexEntry { offset, position });
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += batch_bytes;
    }

    /// Position to start scanning from for `offset`: that of the last entry at or below it.
    pub(crate) fn lookup(&self, offset: u64) -> u64 {
        let after = self.entries.partition_point(|entry| entry.offset <= offset);
        if after == 0 {
            0
        } else {
            self.entries[after - 1].position
        }
    }

    /// Drops the entries at or past `position` (the segment is cut there).
    pub(crate) fn truncate_to_position(&mut self, position: u64) {
        let keep = self
            .entries
            .partition_point(|entry| entry.position < position);
        if keep < self.entries.len() {
            self.entries.truncate(keep);
            if self.entries_in_file > keep {
                self.entries_in_file = keep;
                self.file_dirty = true;
            }
        }
        self.bytes_since_entry = position - self.entries.last().map_or(0, |entry| entry.position);
    }

    pub(crate) fn needs_flush(&self) -> bool {
        self.file_dirty || self.entries_in_file < self.entries.len()
    }

    /// Writes the entries the file lacks and syncs it (creating it if missing).
    pub(crate) fn flush(&mut self, storage: &impl Storage, name: &str) -> Result<(), StorageError> {
        if !self.needs_flush() {
            return Ok(());
        }
        if !storage.exists(name) {
            storage.create(name)?;
            self.entries_in_file = 0;
        } else if self.file_dirty {
            let len = storage.len(name)?;
            let expected = self.entries_in_file as u64 * INDEX_ENTRY_BYTES;
            if len != expected {
                // Rewrite from scratch: cheaper to reason about than patching.
                storage.truncate(name, 0)?;
                self.entries_in_file = 0;
            }
        }
        self.file_dirty = true;
        let mut buf = Vec::with_capacity((self.entries.len() - self.entries_in_file) * 16);
        for entry in &self.entries[self.entries_in_file..] {
            buf.put_u64(entry.offset);
            buf.put_u64(entry.position);
        }
        storage.append(name, &buf)?;
        storage.sync(name)?;
        self.entries_in_file = self.entries.len();
        self.file_dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_the_last_entry_at_or_below() {
        let mut index = SparseIndex::default();
        let mut position = 0;
        for offset in 0..10u64 {
            index.on_batch(offset * 10, position, 100, 250);
            position += 100;
        }
        // Entries every third batch: at positions 300 and 600 and 900.
        assert_eq!(
            index.entries(),
            &[
                IndexEntry {
                    offset: 30,
                    position: 300
                },
                IndexEntry {
                    offset: 60,
                    position: 600
                },
                IndexEntry {
                    offset: 90,
                    position: 900
                },
            ]
        );
        assert_eq!(index.lookup(0), 0);
        assert_eq!(index.lookup(29), 0);
        assert_eq!(index.lookup(30), 300);
        assert_eq!(index.lookup(75), 600);
        assert_eq!(index.lookup(1_000), 900);
        index.truncate_to_position(600);
        assert_eq!(index.bytes_since_entry, 300);
        assert_eq!(index.lookup(75), 300);
    }
}
