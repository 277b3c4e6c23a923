//! Committed consumer offsets per (consumer id or group, topic, partition), durable on a
//! [`Storage`].
//!
//! Guarantees:
//! - [`OffsetStore::commit`] returns `Ok` only after the commit is journaled and synced: an
//!   acknowledged commit survives any crash. A commit of several partitions is one journal
//!   entry: after a crash all of them are there or none.
//! - A commit that returned an error was not applied to what [`OffsetStore::fetch`] answers.
//!   It was possibly written, but a failed append makes the journal rewrite a fresh generation
//!   from the acknowledged state before the next commit, so it cannot resurface later —
//!   unless the store is reopened (after a crash or not) before that rewrite, in which case the
//!   unacknowledged commit may or may not be there, like any unacknowledged write.
//! - The journal is compacted (a new generation holding a snapshot, synced, then the old one
//!   deleted) once it grows past `compact_bytes_max` and past twice the last snapshot; a crash
//!   at any step of a compaction loses nothing acknowledged (see [`crate::journal`]).
//! - The store keeps whatever offset is committed, also a lower one than before: detecting a
//!   regression is the oracle's job (`commit-regressed`), not the broker's.
//!
//! Not modelled here: group membership and generations (the coordinator fences commits before
//! they reach this store, `crate::coordinator`), commit metadata strings, offset retention
//! (`offsets.retention.minutes`), the `__consumer_offsets` topic and its replication.

use crate::codec::{put_string, Reader};
use crate::journal::Journal;
use crate::storage::{Storage, StorageError};
use bytes::BufMut;
use std::collections::BTreeMap;

/// Longest group or topic name, in bytes.
pub const NAME_BYTES_MAX: usize = 255;
/// Most partitions in one commit.
pub const COMMITS_PER_REQUEST_MAX: usize = 10_000;
/// Default compaction threshold of the journal.
pub const OFFSETS_JOURNAL_BYTES_MAX: u64 = 64 * 1024;

const ENTRY_TAG_COMMIT: u8 = 1;

/// The key of one committed offset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OffsetKey {
    /// The consumer id or group id.
    pub group: String,
    pub topic: String,
    pub partition: u32,
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
    #[error("commit of {count} partitions exceeds {COMMITS_PER_REQUEST_MAX}")]
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
    committed: BTreeMap<OffsetKey, u64>,
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
                    reason: "snapshot".into(),
                }
            })?,
            compact_bytes_max,
            last_snapshot_bytes: recovery.snapshot.len() as u64,
        };
        for payload in &recovery.entries {
            let (group, commits) =
                decode_commit(payload).ok_or_else(|| OffsetStoreError::CorruptJournal {
                    reason: "commit entry".into(),
                })?;
            store.apply(&group, &commits);
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

    /// Commits offsets for `group`; `Ok` means durable.
    pub fn commit(
        &mut self,
        group: &str,
        commits: &[PartitionOffset],
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
        if self.journal.needs_rewrite() {
            self.rewrite()?;
        }
        self.journal.append(&encode_commit(group, commits))?;
        self.apply(group, commits);
        let size = self.journal.size_bytes();
        if size > self.compact_bytes_max && size > 2 * self.last_snapshot_bytes {
            // The commit is durable already; a failed compaction is retried at a later commit.
            let _ = self.rewrite();
        }
        Ok(())
    }

    /// The committed offset, if any.
    pub fn fetch(&self, group: &str, topic: &str, partition: u32) -> Option<u64> {
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
        self.committed.iter().map(|(key, offset)| (key, *offset))
    }

    /// Bytes of the journal's active generation.
    pub fn journal_bytes(&self) -> u64 {
        self.journal.size_bytes()
    }

    pub fn journal_generation(&self) -> u64 {
        self.journal.generation()
    }

    fn apply(&mut self, group: &str, commits: &[PartitionOffset]) {
        for commit in commits {
            self.committed.insert(
                OffsetKey {
                    group: group.to_string(),
                    topic: commit.topic.clone(),
                    partition: commit.partition,
                },
                commit.offset,
            );
        }
    }

    fn rewrite(&mut self) -> Result<(), StorageError> {
        let snapshot = encode_snapshot(&self.committed);
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

fn encode_commit(group: &str, commits: &[PartitionOffset]) -> Vec<u8> {
    let mut buf = Vec::new();
    buf.put_u8(ENTRY_TAG_COMMIT);
    put_string(&mut buf, group);
    buf.put_u32(commits.len() as u32);
    for commit in commits {
        put_string(&mut buf, &commit.topic);
        buf.put_u32(commit.partition);
        buf.put_u64(commit.offset);
    }
    buf
}

fn decode_commit(payload: &[u8]) -> Option<(String, Vec<PartitionOffset>)> {
    let mut reader = Reader::new(payload);
    if reader.u8()? != ENTRY_TAG_COMMIT {
        return None;
    }
    let group = reader.string()?;
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
    (reader.remaining() == 0).then_some((group, commits))
}

fn encode_snapshot(committed: &BTreeMap<OffsetKey, u64>) -> Vec<u8> {
    let mut buf = Vec::new();
    buf.put_u64(committed.len() as u64);
    for (key, offset) in committed {
        put_string(&mut buf, &key.group);
        put_string(&mut buf, &key.topic);
        buf.put_u32(key.partition);
        buf.put_u64(*offset);
    }
    buf
}

fn decode_snapshot(snapshot: &[u8]) -> Option<BTreeMap<OffsetKey, u64>> {
    let mut committed = BTreeMap::new();
    if snapshot.is_empty() {
        return Some(committed);
    }
    let mut reader = Reader::new(snapshot);
    let count = reader.u64()?;
    for _ in 0..count {
        let key = OffsetKey {
            group: reader.string()?,
            topic: reader.string()?,
            partition: reader.u32()?,
        };
        committed.insert(key, reader.u64()?);
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
                )
                .unwrap();
        }
        assert!(store.journal_generation() > 0, "compaction ran");
        disk.crash();
        let (store, recovery) = OffsetStore::open(disk.clone(), "offsets/", 512).unwrap();
        assert_eq!(store.fetch("group-a", "orders", 0), Some(199));
        assert_eq!(store.fetch("group-a", "orders", 1), Some(398));
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
            store.commit("", &[PartitionOffset::new("t", 0, 1)]),
            Err(OffsetStoreError::InvalidName { len: 0 })
        );
        let long = "x".repeat(NAME_BYTES_MAX + 1);
        assert!(store
            .commit("g", &[PartitionOffset::new(long, 0, 1)])
            .is_err());
        assert_eq!(store.journal_bytes(), before);
    }
}
