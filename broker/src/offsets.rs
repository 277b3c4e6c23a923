//! Committed consumer offsets per (consumer id or group, topic, partition), each with its
//! commit time, durable on a [`Storage`].
//!
//! Guarantees:
//! - [`OffsetStore::commit`] returns `Ok` only after the commit (offsets and commit time) is
//!   journaled and synced: an acknowledged commit survives any crash. A commit of several
//!   partitions is one journal entry: after a crash all of them are there or none.
//! - [`OffsetStore::delete`] (the coordinator's offset retention) returns `Ok` only after a
//!   tombstone entry for the partitions is journaled and synced: an acknowledged delete
//!   survives any crash (a restart does not bring the offsets back), all of its partitions or
//!   none. A later commit of a deleted partition brings it back, as a new commit.
//! - A commit or delete that returned an error was not applied to what [`OffsetStore::fetch`]
//!   answers. It was possibly written, but a failed append makes the journal rewrite a fresh
//!   generation from the acknowledged state before the next write, so it cannot resurface
//!   later — unless the store is reopened (after a crash or not) before that rewrite, in which
//!   case the unacknowledged write may or may not be there, like any unacknowledged write.
//! - The journal is compacted (a new generation holding a snapshot, synced, then the old one
//!   deleted) once it grows past `compact_bytes_max` and past twice the last snapshot; a crash
//!   at any step of a compaction loses nothing acknowledged (see [`crate::journal`]).
//! - The store keeps whatever offset is committed, also a lower one than before: detecting a
//!   regression is the oracle's job (`commit-regressed`), not the broker's.
//!
//! Not here: when offsets expire (the coordinator decides, `crate::coordinator`, and calls
//! [`OffsetStore::delete`]), group membership and generations (the coordinator fences commits
//! before they reach this store), commit metadata strings, the `__consumer_offsets` topic and
//! its replication. The journal format is this version's: an older format is refused with
//! [`OffsetStoreError::CorruptJournal`], not read.

use crate::codec::{put_string, Reader};
use crate::journal::{Journal, JOURNAL_FRAME_BYTES_MAX};
use crate::storage::{Storage, StorageError};
use bytes::BufMut;
use std::collections::BTreeMap;

/// Longest group or topic name, in bytes.
pub const NAME_BYTES_MAX: usize = 255;
/// Most partitions in one commit.
pub const COMMITS_PER_REQUEST_MAX: usize = 10_000;
/// Default compaction threshold of the journal.
pub const OFFSETS_JOURNAL_BYTES_MAX: u64 = 64 * 1024;

/// Journal entry tags (1 was a commit without commit time: refused, not read).
const ENTRY_TAG_COMMIT: u8 = 2;
const ENTRY_TAG_DELETE: u8 = 3;
/// First byte of a non-empty snapshot.
const SNAPSHOT_FORMAT: u8 = 2;

/// The key of one committed offset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OffsetKey {
    /// The consumer id or group id.
    pub group: String,
    pub topic: String,
    pub partition: u32,
}

/// A committed offset and when it was committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset to consume (Kafka's convention).
    pub offset: u64,
    /// The coordinator's clock when the commit was accepted (what retention counts from).
    pub commit_timestamp_ms: u64,
}

/// One partition's offset in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: u32,
    /// The next offset to consume (Kafka's convention).
    pub offset: u64,
}

impl PartitionOffset {
    pub fn new(topic: impl Into<String>, partition: u32, offset: u64) -> PartitionOffset {
        PartitionOffset {
            topic: topic.into(),
            partition,
            offset,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffsetStoreError {
    #[error("name of {len} bytes is empty or longer than {NAME_BYTES_MAX}")]
    InvalidName { len: usize },
    #[error("commit or delete of {count} partitions exceeds {COMMITS_PER_REQUEST_MAX}")]
    TooManyPartitions { count: usize },
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// A frame passed its CRC but does not decode: a format bug, not disk damage.
    #[error("offsets journal does not decode: {reason}")]
    CorruptJournal { reason: String },
}

/// What [`OffsetStore::open`] recovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetStoreRecovery {
    pub generation: u64,
    pub entries_replayed: usize,
    pub dropped_tail_bytes: u64,
    pub offsets: usize,
}

#[derive(Debug)]
pub struct OffsetStore<S: Storage> {
    journal: Journal<S>,
    committed: BTreeMap<OffsetKey, CommittedOffset>,
    compact_bytes_max: u64,
    last_snapshot_bytes: u64,
}

impl<S: Storage> OffsetStore<S> {
    /// Opens (or creates) the store persisted under `base_name` (e.g. `"offsets/commits-"`).
    pub fn open(
        storage: S,
        base_name: &str,
        compact_bytes_max: u64,
    ) -> Result<(OffsetStore<S>, OffsetStoreRecovery), OffsetStoreError> {
        let (journal, recovery) = Journal::open(storage, base_name)?;
        let mut store = OffsetStore {
            journal,
            committed: decode_snapshot(&recovery.snapshot).ok_or_else(|| {
                OffsetStoreError::CorruptJournal {
                    reason: "a snapshot of an unknown format".into(),
                }
            })?,
            compact_bytes_max,
            last_snapshot_bytes: recovery.snapshot.len() as u64,
        };
        for payload in &recovery.entries {
            match decode_entry(payload) {
                Some(Entry::Commit {
                    group,
                    commit_timestamp_ms,
                    commits,
                }) => store.apply(&group, &commits, commit_timestamp_ms),
                Some(Entry::Delete { group, partitions }) => store.remove(&group, &partitions),
                None => {
                    return Err(OffsetStoreError::CorruptJournal {
                        reason: "an entry of an unknown format".into(),
                    })
                }
            }
        }
        if store.journal.needs_rewrite() {
            let _ = store.rewrite();
        }
        let report = OffsetStoreRecovery {
            generation: store.journal.generation(),
            entries_replayed: recovery.entries.len(),
            dropped_tail_bytes: recovery.dropped_tail_bytes,
            offsets: store.committed.len(),
        };
        Ok((store, report))
    }

    /// Commits offsets for `group` at `commit_timestamp_ms`; `Ok` means durable.
    pub fn commit(
        &mut self,
        group: &str,
        commits: &[PartitionOffset],
        commit_timestamp_ms: u64,
    ) -> Result<(), OffsetStoreError> {
        check_name(group)?;
        if commits.len() > COMMITS_PER_REQUEST_MAX {
            return Err(OffsetStoreError::TooManyPartitions {
                count: commits.len(),
            });
        }
        for commit in commits {
            check_name(&commit.topic)?;
        }
        if commits.is_empty() {
            return Ok(());
        }
        self.append(&encode_commit(group, commits, commit_timestamp_ms))?;
        self.apply(group, commits, commit_timestamp_ms);
        self.maybe_compact();
        Ok(())
    }

    /// Deletes `group`'s offsets of `partitions` (topic, partition); `Ok` means the deletion is
    /// durable. Partitions without an offset are skipped; with none left nothing is written.
    pub fn delete(
        &mut self,
        group: &str,
        partitions: &[(String, u32)],
    ) -> Result<(), OffsetStoreError> {
        check_name(group)?;
        if partitions.len() > COMMITS_PER_REQUEST_MAX {
            return Err(OffsetStoreError::TooManyPartitions {
                count: partitions.len(),
            });
        }
        for (topic, _) in partitions {
            check_name(topic)?;
        }
        let present: Vec<(String, u32)> = partitions
            .iter()
            .filter(|(topic, partition)| self.get(group, topic, *partition).is_some())
            .cloned()
            .collect();
        if present.is_empty() {
            return Ok(());
        }
        self.append(&encode_delete(group, &present))?;
        self.remove(group, &present);
        self.maybe_compact();
        Ok(())
    }

    /// Appends one entry (rewriting first if a failed append left the journal needing it);
    /// `Ok` means the entry is durable.
    fn append(&mut self, entry: &[u8]) -> Result<(), OffsetStoreError> {
        if self.journal.needs_rewrite() {
            self.rewrite()?;
        }
        self.journal.append(entry)?;
        Ok(())
    }

    /// Compacts once the journal has grown; called after an entry is applied (the snapshot
    /// must hold it).
    fn maybe_compact(&mut self) {
        let size = self.journal.size_bytes();
        if size > self.compact_bytes_max && size > 2 * self.last_snapshot_bytes {
            // The entry is durable already; a failed compaction is retried at a later write.
            let _ = self.rewrite();
        }
    }

    /// The committed offset, if any.
    pub fn fetch(&self, group: &str, topic: &str, partition: u32) -> Option<u64> {
        self.get(group, topic, partition)
            .map(|committed| committed.offset)
    }

    /// The committed offset and its commit time, if any.
    pub fn get(&self, group: &str, topic: &str, partition: u32) -> Option<CommittedOffset> {
        self.committed
            .get(&OffsetKey {
                group: group.to_string(),
                topic: topic.to_string(),
                partition,
            })
            .copied()
    }

    /// Every committed offset, in key order.
    pub fn committed(&self) -> impl Iterator<Item = (&OffsetKey, u64)> + '_ {
        self.committed
            .iter()
            .map(|(key, committed)| (key, committed.offset))
    }

    /// Every committed offset with its commit time, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&OffsetKey, CommittedOffset)> + '_ {
        self.committed
            .iter()
            .map(|(key, committed)| (key, *committed))
    }

    /// One group's committed offsets with their commit times, in (topic, partition) order.
    pub fn group_entries<'a>(
        &'a self,
        group: &'a str,
    ) -> impl Iterator<Item = (&'a OffsetKey, CommittedOffset)> + 'a {
        let start = OffsetKey {
            group: group.to_string(),
            topic: String::new(),
            partition: 0,
        };
        self.committed
            .range(start..)
            .take_while(move |(key, _)| key.group == group)
            .map(|(key, committed)| (key, *committed))
    }

    /// The groups (or consumer ids) with at least one committed offset, in name order.
    pub fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = Vec::new();
        for key in self.committed.keys() {
            if groups.last() != Some(&key.group) {
                groups.push(key.group.clone());
            }
        }
        groups
    }

    /// Bytes of the journal's active generation.
    pub fn journal_bytes(&self) -> u64 {
        self.journal.size_bytes()
    }

    pub fn journal_generation(&self) -> u64 {
        self.journal.generation()
    }

    fn apply(&mut self, group: &str, commits: &[PartitionOffset], commit_timestamp_ms: u64) {
        for commit in commits {
            self.committed.insert(
                OffsetKey {
                    group: group.to_string(),
                    topic: commit.topic.clone(),
                    partition: commit.partition,
                },
                CommittedOffset {
                    offset: commit.offset,
                    commit_timestamp_ms,
                },
            );
        }
    }

    fn remove(&mut self, group: &str, partitions: &[(String, u32)]) {
        for (topic, partition) in partitions {
            self.committed.remove(&OffsetKey {
                group: group.to_string(),
                topic: topic.clone(),
                partition: *partition,
            });
        }
    }

    fn rewrite(&mut self) -> Result<(), StorageError> {
        let snapshot = encode_snapshot(&self.committed);
        if snapshot.len() as u64 > JOURNAL_FRAME_BYTES_MAX {
            // Too many offsets for one snapshot frame: no compaction (and, after a failed
            // append, no more writes) rather than a panic.
            return Err(StorageError::WriteFault {
                name: format!("offsets snapshot of {} bytes", snapshot.len()),
            });
        }
        self.journal.rewrite(&snapshot)?;
        self.last_snapshot_bytes = snapshot.len() as u64;
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), OffsetStoreError> {
    if name.is_empty() || name.len() > NAME_BYTES_MAX {
        return Err(OffsetStoreError::InvalidName { len: name.len() });
    }
    Ok(())
}

/// A decoded journal entry.
enum Entry {
    Commit {
        group: String,
        commit_timestamp_ms: u64,
        commits: Vec<PartitionOffset>,
    },
    Delete {
        group: String,
        partitions: Vec<(String, u32)>,
    },
}

fn encode_commit(group: &str, commits: &[PartitionOffset], commit_timestamp_ms: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    buf.put_u8(ENTRY_TAG_COMMIT);
    put_string(&mut buf, group);
    buf.put_u64(commit_timestamp_ms);
    buf.put_u32(commits.len() as u32);
    for commit in commits {
        put_string(&mut buf, &commit.topic);
        buf.put_u32(commit.partition);
        buf.put_u64(commit.offset);
    }
    buf
}

fn encode_delete(group: &str, partitions: &[(String, u32)]) -> Vec<u8> {
    let mut buf = Vec::new();
    buf.put_u8(ENTRY_TAG_DELETE);
    put_string(&mut buf, group);
    buf.put_u32(partitions.len() as u32);
    for (topic, partition) in partitions {
        put_string(&mut buf, topic);
        buf.put_u32(*partition);
    }
    buf
}

fn decode_entry(payload: &[u8]) -> Option<Entry> {
    let mut reader = Reader::new(payload);
    let entry = match reader.u8()? {
        ENTRY_TAG_COMMIT => {
            let group = reader.string()?;
            let commit_timestamp_ms = reader.u64()?;
            let count = reader.u32()? as usize;
            if count > COMMITS_PER_REQUEST_MAX {
                return None;
            }
            let mut commits = Vec::with_capacity(count);
            for _ in 0..count {
                commits.push(PartitionOffset {
                    topic: reader.string()?,
                    partition: reader.u32()?,
                    offset: reader.u64()?,
                });
            }
            Entry::Commit {
                group,
                commit_timestamp_ms,
                commits,
            }
        }
        ENTRY_TAG_DELETE => {
            let group = reader.string()?;
            let count = reader.u32()? as usize;
            if count > COMMITS_PER_REQUEST_MAX {
                return None;
            }
            let mut partitions = Vec::with_capacity(count);
            for _ in 0..count {
                partitions.push((reader.string()?, reader.u32()?));
            }
            Entry::Delete { group, partitions }
        }
        _ => return None,
    };
    (reader.remaining() == 0).then_some(entry)
}

fn encode_snapshot(committed: &BTreeMap<OffsetKey, CommittedOffset>) -> Vec<u8> {
    let mut buf = Vec::new();
    buf.put_u8(SNAPSHOT_FORMAT);
    buf.put_u64(committed.len() as u64);
    for (key, committed) in committed {
        put_string(&mut buf, &key.group);
        put_string(&mut buf, &key.topic);
        buf.put_u32(key.partition);
        buf.put_u64(committed.offset);
        buf.put_u64(committed.commit_timestamp_ms);
    }
    buf
}

fn decode_snapshot(snapshot: &[u8]) -> Option<BTreeMap<OffsetKey, CommittedOffset>> {
    let mut committed = BTreeMap::new();
    if snapshot.is_empty() {
        return Some(committed);
    }
    let mut reader = Reader::new(snapshot);
    if reader.u8()? != SNAPSHOT_FORMAT {
        return None;
    }
    let count = reader.u64()?;
    for _ in 0..count {
        let key = OffsetKey {
            group: reader.string()?,
            topic: reader.string()?,
            partition: reader.u32()?,
        };
        let value = CommittedOffset {
            offset: reader.u64()?,
            commit_timestamp_ms: reader.u64()?,
        };
        committed.insert(key, value);
    }
    (reader.remaining() == 0).then_some(committed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::disk::Disk;
    use sim::Seed;

    #[test]
    fn commits_survive_a_crash_and_compaction() {
        let disk = Disk::new(Seed::new(1).stream("disk"));
        let (mut store, _) = OffsetStore::open(disk.clone(), "offsets/", 512).unwrap();
        for offset in 0..200u64 {
            store
                .commit(
                    "group-a",
                    &[
                        PartitionOffset::new("orders", 0, offset),
                        PartitionOffset::new("orders", 1, offset * 2),
                    ],
                    1_000 + offset,
                )
                .unwrap();
        }
        assert!(store.journal_generation() > 0, "compaction ran");
        disk.crash();
        let (store, recovery) = OffsetStore::open(disk.clone(), "offsets/", 512).unwrap();
        assert_eq!(store.fetch("group-a", "orders", 0), Some(199));
        assert_eq!(store.fetch("group-a", "orders", 1), Some(398));
        assert_eq!(
            store.get("group-a", "orders", 1),
            Some(CommittedOffset {
                offset: 398,
                commit_timestamp_ms: 1_199
            }),
            "the commit time survives the crash and the compactions"
        );
        assert_eq!(store.fetch("group-b", "orders", 0), None);
        assert_eq!(recovery.offsets, 2);
        assert_eq!(disk.list_prefix("offsets/").len(), 1);
    }

    #[test]
    fn bad_names_are_refused_and_nothing_is_written() {
        let disk = Disk::new(Seed::new(2).stream("disk"));
        let (mut store, _) = OffsetStore::open(disk, "offsets/", 512).unwrap();
        let before = store.journal_bytes();
        assert_eq!(
            store.commit("", &[PartitionOffset::new("t", 0, 1)], 0),
            Err(OffsetStoreError::InvalidName { len: 0 })
        );
        let long = "x".repeat(NAME_BYTES_MAX + 1);
        assert!(store
            .commit("g", &[PartitionOffset::new(long.clone(), 0, 1)], 0)
            .is_err());
        assert!(store.delete("g", &[(long, 0)]).is_err());
        let too_many: Vec<(String, u32)> = (0..=COMMITS_PER_REQUEST_MAX as u32)
            .map(|p| ("t".to_string(), p))
            .collect();
        assert!(matches!(
            store.delete("g", &too_many),
            Err(OffsetStoreError::TooManyPartitions { .. })
        ));
        assert_eq!(store.journal_bytes(), before);
    }

    #[test]
    fn deletes_are_durable_and_a_later_commit_brings_the_partition_back() {
        let disk = Disk::new(Seed::new(3).stream("disk"));
        let (mut store, _) = OffsetStore::open(disk.clone(), "offsets/", 256).unwrap();
        for n in 0..20u64 {
            let commits: Vec<PartitionOffset> =
                (0..3).map(|p| PartitionOffset::new("t", p, n)).collect();
            store.commit("g", &commits, n).unwrap();
            store.commit("h", &commits, n).unwrap();
        }
        let before = store.journal_bytes();
        // Absent partitions are skipped; nothing at all to delete writes nothing.
        store.delete("g", &[("t".into(), 9)]).unwrap();
        assert_eq!(store.journal_bytes(), before);
        store
            .delete("g", &[("t".into(), 0), ("t".into(), 2), ("t".into(), 9)])
            .unwrap();
        assert_eq!(store.groups(), vec!["g".to_string(), "h".to_string()]);
        let left: Vec<u32> = store.group_entries("g").map(|(k, _)| k.partition).collect();
        assert_eq!(left, vec![1]);
        disk.crash();
        let (mut store, _) = OffsetStore::open(disk.clone(), "offsets/", 256).unwrap();
        assert_eq!(
            store.fetch("g", "t", 0),
            None,
            "a restart does not bring it back"
        );
        assert_eq!(store.fetch("g", "t", 1), Some(19));
        assert_eq!(store.fetch("h", "t", 0), Some(19));
        store
            .commit("g", &[PartitionOffset::new("t", 0, 40)], 100)
            .unwrap();
        // Compact with the tombstone's effect in the snapshot, then crash again.
        for n in 0..20u64 {
            store
                .commit("h", &[PartitionOffset::new("t", 1, n)], 200 + n)
                .unwrap();
        }
        assert!(store.journal_generation() > 0);
        disk.crash();
        let (store, _) = OffsetStore::open(disk, "offsets/", 256).unwrap();
        assert_eq!(store.fetch("g", "t", 2), None);
        assert_eq!(
            store.get("g", "t", 0),
            Some(CommittedOffset {
                offset: 40,
                commit_timestamp_ms: 100
            })
        );
    }

    #[test]
    fn an_older_journal_format_is_refused_with_an_error() {
        let disk = Disk::new(Seed::new(4).stream("disk"));
        {
            let (mut journal, _) = Journal::open(disk.clone(), "offsets/").unwrap();
            // A tag-1 commit: the format before commit times.
            let mut entry = vec![1u8];
            put_string(&mut entry, "g");
            entry.extend_from_slice(&0u32.to_be_bytes());
            journal.append(&entry).unwrap();
        }
        assert!(matches!(
            OffsetStore::open(disk, "offsets/", 256),
            Err(OffsetStoreError::CorruptJournal { .. })
        ));
    }
}
