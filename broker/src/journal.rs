//! A small durable journal: a snapshot followed by appended entries, with crash-safe compaction.
//!
//! The broker's small durable state — the log start checkpoint of each partition, the
//! producer-id manager, the committed offsets — lives in journals. A journal is a series of
//! *generation* files named `{base_name}{generation:020}.journal`. Each file holds frames
//! `[crc32c u32][payload_len u32][payload]` (the CRC covers the length and the payload); the
//! first frame of a file is a *snapshot* of the owner's state, every later frame an *entry*
//! the owner replays on top of it.
//!
//! Guarantees:
//! - [`Journal::append`] returns `Ok` only once the entry is synced: an acknowledged entry
//!   survives any crash (the simulated disk never loses synced bytes).
//! - Compaction ([`Journal::rewrite`]) writes a new generation holding only a snapshot, syncs
//!   it, and only then deletes the old generation. A crash at any step leaves either the old
//!   generation (the new one is missing, empty or torn, so its snapshot frame fails its CRC)
//!   or the new complete one; [`Journal::open`] picks the newest generation whose snapshot
//!   frame is valid and drops every other file.
//! - A torn or corrupt tail (an unacknowledged entry cut by a crash) is dropped on open and
//!   cut off the file before anything is appended after it.
//! - While a newer generation file that might look valid exists (a failed compaction whose
//!   cleanup failed too), nothing is acknowledged: otherwise a later open would prefer it and
//!   lose the entries appended to the older one.
//! - After any failed append the journal *needs a rewrite*: the owner must call
//!   [`Journal::rewrite`] with its current state before appending again (the file may hold a
//!   frame the owner never applied; a fresh generation leaves it behind).
//!
//! Not guaranteed: protection against corruption of synced bytes (a flipped bit in the middle
//! drops every entry after it; `open` reports it), bounded size without the owner calling
//! `rewrite` (the owner decides when, from [`Journal::size_bytes`]).

use crate::codec::Reader;
use crate::storage::{Storage, StorageError};
use bytes::BufMut;

/// Largest payload of one frame; a longer length field is treated as corruption.
pub const JOURNAL_FRAME_BYTES_MAX: u64 = 16 * 1024 * 1024;
const FRAME_HEADER_BYTES: u64 = 8;
const GENERATION_DIGITS: usize = 20;
const SUFFIX: &str = ".journal";

/// What `open` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRecovery {
    /// The snapshot frame of the chosen generation (empty for a new journal).
    pub snapshot: Vec<u8>,
    /// The valid entries after the snapshot, in order.
    pub entries: Vec<Vec<u8>>,
    pub generation: u64,
    /// Bytes dropped from the tail of the chosen generation (torn or corrupt).
    pub dropped_tail_bytes: u64,
    /// Newer generation files without a valid snapshot (interrupted compactions), dropped.
    pub incomplete_generations: Vec<u64>,
}

#[derive(Debug)]
pub struct Journal<S: Storage> {
    storage: S,
    base_name: String,
    generation: u64,
    /// Bytes of valid frames in the active generation file.
    size_bytes: u64,
    needs_rewrite: bool,
    /// A newer generation file left by a failed compaction that could not be deleted.
    stray_file: Option<String>,
}

fn file_name(base_name: &str, generation: u64) -> String {
    format!(
        "{base_name}{generation:0width$}{SUFFIX}",
        width = GENERATION_DIGITS
    )
}

fn parse_generation(base_name: &str, name: &str) -> Option<u64> {
    let rest = name.strip_prefix(base_name)?.strip_suffix(SUFFIX)?;
    if rest.len() != GENERATION_DIGITS || !rest.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// Encodes one frame.
fn frame(payload: &[u8]) -> Vec<u8> {
    assert!(
        payload.len() as u64 <= JOURNAL_FRAME_BYTES_MAX,
        "journal frame of {} bytes exceeds JOURNAL_FRAME_BYTES_MAX",
        payload.len()
    );
    let mut buf = Vec::with_capacity(payload.len() + FRAME_HEADER_BYTES as usize);
    buf.put_u32(0);
    buf.put_u32(payload.len() as u32);
    buf.put_slice(payload);
    let crc = crc32c::crc32c(&buf[4..]);
    buf[0..4].copy_from_slice(&crc.to_be_bytes());
    buf
}

/// Splits `bytes` into its valid frames; returns them and the length of the valid prefix.
fn parse_frames(bytes: &[u8]) -> (Vec<Vec<u8>>, u64) {
    let mut frames = Vec::new();
    let mut reader = Reader::new(bytes);
    loop {
        let start = reader.position();
        let (Some(crc), Some(len)) = (reader.u32(), reader.u32()) else {
            return (frames, start as u64);
        };
        if len as u64 > JOURNAL_FRAME_BYTES_MAX {
            return (frames, start as u64);
        }
        let Some(payload) = reader.take(len as usize) else {
            return (frames, start as u64);
        };
        if crc32c::crc32c(&bytes[start + 4..reader.position()]) != crc {
            return (frames, start as u64);
        }
        frames.push(payload.to_vec());
    }
}

impl<S: Storage> Journal<S> {
    /// Opens (or creates) the journal whose files start with `base_name`.
    pub fn open(
        storage: S,
        base_name: &str,
    ) -> Result<(Journal<S>, JournalRecovery), StorageError> {
        let mut generations: Vec<u64> = storage
            .list(base_name)?
            .iter()
            .filter_map(|name| parse_generation(base_name, name))
            .collect();
        generations.sort_unstable();
        let mut incomplete_generations = Vec::new();
        let mut chosen = None;
        for &generation in generations.iter().rev() {
            let name = file_name(base_name, generation);
            let bytes = storage.read(&name, 0, usize::MAX)?;
            let (mut frames, valid_len) = parse_frames(&bytes);
            if frames.is_empty() {
                incomplete_generations.push(generation);
                continue;
            }
            let snapshot = frames.remove(0);
            chosen = Some((generation, snapshot, frames, valid_len, bytes.len() as u64));
            break;
        }
        let mut journal = Journal {
            storage,
            base_name: base_name.to_string(),
            generation: 0,
            size_bytes: 0,
            needs_rewrite: false,
            stray_file: None,
        };
        let recovery = match chosen {
            None => {
                let next = generations.last().map_or(0, |last| last + 1);
                journal.write_generation(next, &[])?;
                journal.generation = next;
                journal.size_bytes = frame(&[]).len() as u64;
                JournalRecovery {
                    snapshot: Vec::new(),
                    entries: Vec::new(),
                    generation: next,
                    dropped_tail_bytes: 0,
                    incomplete_generations,
                }
            }
            Some((generation, snapshot, entries, valid_len, file_len)) => {
                journal.generation = generation;
                journal.size_bytes = valid_len;
                if valid_len < file_len {
                    // Cut the torn tail so appends land after valid frames; if that fails the
                    // owner rewrites a fresh generation before its next append.
                    let name = file_name(base_name, generation);
                    if journal.storage.truncate(&name, valid_len).is_err() {
                        journal.needs_rewrite = true;
                    }
                }
                JournalRecovery {
                    snapshot,
                    entries,
                    generation,
                    dropped_tail_bytes: file_len - valid_len,
                    incomplete_generations,
                }
            }
        };
        // Drop every other generation: older ones are superseded, newer ones incomplete. A
        // failed delete is harmless (older ones are never preferred; incomplete newer ones are
        // never written again, and `rewrite` numbers past them).
        for &generation in &generations {
            if generation != journal.generation {
                let _ = journal.storage.delete(&file_name(base_name, generation));
            }
        }
        Ok((journal, recovery))
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Bytes of the active generation (snapshot and entries).
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Whether the owner must call [`Journal::rewrite`] before the next append.
    pub fn needs_rewrite(&self) -> bool {
        self.needs_rewrite
    }

    fn active_file(&self) -> String {
        file_name(&self.base_name, self.generation)
    }

    /// Appends an entry and syncs it. `Ok` means durable. Panics if a rewrite is needed
    /// (check [`Journal::needs_rewrite`] first).
    pub fn append(&mut self, payload: &[u8]) -> Result<(), StorageError> {
        assert!(
            !self.needs_rewrite,
            "journal {} appended to while it needs a rewrite",
            self.base_name
        );
        if let Some(stray) = self.stray_file.clone() {
            self.storage.delete(&stray).or_else(|error| {
                if error.is_not_found() {
                    Ok(())
                } else {
                    Err(error)
                }
            })?;
            self.stray_file = None;
        }
        let bytes = frame(payload);
        let name = self.active_file();
        let result = self
            .storage
            .append(&name, &bytes)
            .and_then(|()| self.storage.sync(&name));
        match result {
            Ok(()) => {
                self.size_bytes += bytes.len() as u64;
                Ok(())
            }
            Err(error) => {
                self.needs_rewrite = true;
                Err(error)
            }
        }
    }

    /// Replaces the journal with a new generation holding only `snapshot` (compaction, or
    /// recovery from a failed append). Crash-safe: the old generation is deleted only after
    /// the new one is synced.
    pub fn rewrite(&mut self, snapshot: &[u8]) -> Result<(), StorageError> {
        let newest_on_disk = self
            .storage
            .list(&self.base_name)?
            .iter()
            .filter_map(|name| parse_generation(&self.base_name, name))
            .max()
            .unwrap_or(self.generation);
        let next = newest_on_disk.max(self.generation) + 1;
        if let Err(error) = self.write_generation(next, snapshot) {
            let name = file_name(&self.base_name, next);
            if self.storage.exists(&name) && self.storage.delete(&name).is_err() {
                self.stray_file = Some(name);
            }
            return Err(error);
        }
        let old = self.active_file();
        self.generation = next;
        self.size_bytes = frame(snapshot).len() as u64;
        self.needs_rewrite = false;
        // The new generation is complete and newer: the old one is superseded even if this
        // delete fails (the next open drops it).
        let _ = self.storage.delete(&old);
        if let Some(stray) = &self.stray_file {
            if parse_generation(&self.base_name, stray)
                .is_some_and(|stray_generation| stray_generation < next)
            {
                self.stray_file = None;
            }
        }
        Ok(())
    }

    fn write_generation(&mut self, generation: u64, snapshot: &[u8]) -> Result<(), StorageError> {
        let name = file_name(&self.base_name, generation);
        self.storage.create(&name)?;
        self.storage.append(&name, &frame(snapshot))?;
        self.storage.sync(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::disk::Disk;
    use sim::Seed;

    fn disk(seed: u64) -> Disk {
        Disk::new(Seed::new(seed).stream("disk"))
    }

    #[test]
    fn appended_entries_survive_a_crash_and_a_torn_tail_is_dropped() {
        let disk = disk(1);
        disk.update_faults(|faults| faults.torn_writes = false);
        let (mut journal, recovery) = Journal::open(disk.clone(), "j/").unwrap();
        assert!(recovery.snapshot.is_empty() && recovery.entries.is_empty());
        journal.append(b"one").unwrap();
        journal.append(b"two").unwrap();
        // An unsynced, torn frame after them.
        let name = journal.active_file();
        let torn = frame(b"three");
        disk.append(&name, &torn[..5]).unwrap();
        disk.sync(&name).unwrap();
        disk.crash();
        let (mut journal, recovery) = Journal::open(disk.clone(), "j/").unwrap();
        assert_eq!(recovery.entries, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(recovery.dropped_tail_bytes, 5);
        journal.append(b"four").unwrap();
        let (_, recovery) = Journal::open(disk, "j/").unwrap();
        assert_eq!(recovery.entries.len(), 3);
    }

    #[test]
    fn rewrite_replaces_the_generation() {
        let disk = disk(2);
        let (mut journal, _) = Journal::open(disk.clone(), "j/").unwrap();
        journal.append(b"a").unwrap();
        journal.rewrite(b"state").unwrap();
        journal.append(b"b").unwrap();
        assert_eq!(disk.list_prefix("j/").len(), 1);
        let (_, recovery) = Journal::open(disk, "j/").unwrap();
        assert_eq!(recovery.snapshot, b"state");
        assert_eq!(recovery.entries, vec![b"b".to_vec()]);
        assert_eq!(recovery.generation, 1);
    }

    #[test]
    fn an_incomplete_newer_generation_is_ignored() {
        let disk = disk(3);
        disk.update_faults(|faults| faults.torn_writes = false);
        let (mut journal, _) = Journal::open(disk.clone(), "j/").unwrap();
        journal.append(b"a").unwrap();
        // A compaction that crashed after writing but before syncing its snapshot.
        let newer = file_name("j/", 5);
        disk.create(&newer).unwrap();
        disk.append(&newer, &frame(b"never synced")).unwrap();
        disk.crash();
        let (_, recovery) = Journal::open(disk.clone(), "j/").unwrap();
        assert_eq!(recovery.entries, vec![b"a".to_vec()]);
        assert_eq!(recovery.incomplete_generations, vec![5]);
        assert!(!disk.exists(&newer));
    }

    /// A storage whose syncs fail while `fail_syncs` is set.
    struct SyncFails {
        disk: Disk,
        fail_syncs: std::cell::Cell<bool>,
    }

    impl Storage for SyncFails {
        fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
            Storage::list(&self.disk, prefix)
        }
        fn exists(&self, name: &str) -> bool {
            Storage::exists(&self.disk, name)
        }
        fn len(&self, name: &str) -> Result<u64, StorageError> {
            Storage::len(&self.disk, name)
        }
        fn create(&self, name: &str) -> Result<(), StorageError> {
            Storage::create(&self.disk, name)
        }
        fn read(&self, name: &str, position: u64, len: usize) -> Result<Vec<u8>, StorageError> {
            Storage::read(&self.disk, name, position, len)
        }
        fn append(&self, name: &str, data: &[u8]) -> Result<(), StorageError> {
            Storage::append(&self.disk, name, data)
        }
        fn truncate(&self, name: &str, len: u64) -> Result<(), StorageError> {
            Storage::truncate(&self.disk, name, len)
        }
        fn sync(&self, name: &str) -> Result<(), StorageError> {
            if self.fail_syncs.get() {
                return Err(StorageError::WriteFault { name: name.into() });
            }
            Storage::sync(&self.disk, name)
        }
        fn delete(&self, name: &str) -> Result<(), StorageError> {
            Storage::delete(&self.disk, name)
        }
    }

    #[test]
    fn a_failed_append_requires_a_rewrite_and_is_not_replayed() {
        let disk = disk(4);
        let storage = SyncFails {
            disk: disk.clone(),
            fail_syncs: std::cell::Cell::new(false),
        };
        let (mut journal, _) = Journal::open(&storage, "j/").unwrap();
        journal.append(b"a").unwrap();
        // The write succeeds, the sync fails: the frame sits unsynced in the file.
        storage.fail_syncs.set(true);
        assert!(journal.append(b"lost").is_err());
        storage.fail_syncs.set(false);
        assert!(journal.needs_rewrite());
        journal.rewrite(b"snapshot-with-a").unwrap();
        journal.append(b"b").unwrap();
        let (_, recovery) = Journal::open(disk, "j/").unwrap();
        assert_eq!(recovery.snapshot, b"snapshot-with-a");
        assert_eq!(recovery.entries, vec![b"b".to_vec()]);
    }

    #[test]
    fn corrupt_frames_never_panic() {
        for cut in 0..30 {
            let mut bytes = frame(b"hello");
            bytes.extend_from_slice(&frame(b"world"));
            bytes.truncate(cut);
            let (frames, valid_len) = parse_frames(&bytes);
            assert!(valid_len <= cut as u64);
            assert!(frames.len() <= 2);
        }
        let mut absurd = Vec::new();
        absurd.put_u32(0);
        absurd.put_u32(u32::MAX);
        assert_eq!(parse_frames(&absurd), (vec![], 0));
    }
}
