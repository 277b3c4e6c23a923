//! The group records' journal: the latest [`GroupRecord`] of every group (Kafka's
//! `GroupMetadata` messages in `__consumer_offsets`), on the coordinator's storage.
//!
//! Guarantees (those of [`crate::journal`]): [`GroupStore::store`] returns `Ok` only once the
//! record is synced, so an acknowledged record survives any crash; one that failed was not
//! acknowledged and may or may not be there after a crash before the next successful write
//! (which rewrites a fresh generation from the acknowledged records first). The journal is
//! compacted to a snapshot of the latest records once it grows past its threshold and twice
//! the last snapshot; a crash at any step of it loses nothing acknowledged.
//!
//! Not guaranteed: a record larger than one journal frame is refused
//! ([`GroupStoreError::TooLarge`]); if the snapshot of all groups outgrows a frame the journal
//! is no longer compacted. Groups are never deleted. The format is this version's only.

use crate::api::GroupProtocol;
use crate::codec::Reader;
use crate::journal::{Journal, JOURNAL_FRAME_BYTES_MAX};
use crate::storage::{Storage, StorageError};
use bytes::{BufMut, Bytes};
use std::collections::BTreeMap;

/// Journal file name prefix of the group records.
pub(crate) const GROUPS_JOURNAL: &str = "controller/groups-";
/// Compact the group journal when it grows past this.
pub(crate) const GROUPS_JOURNAL_BYTES_MAX: u64 = 1 << 20;

const ENTRY_TAG_GROUP: u8 = 1;
const SNAPSHOT_FORMAT: u8 = 1;

/// Which state a journaled group was in (the states a group is journaled in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredState {
    Empty,
    CompletingRebalance,
    Stable,
}

/// One member as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberRecord {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    pub protocol_type: String,
    pub protocols: Vec<GroupProtocol>,
    pub assignment: Bytes,
    pub joined_seq: u64,
}

/// A group as journaled: its generation, leader, protocol and members with their
/// assignments, and when it entered its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupRecord {
    pub group: String,
    pub state: StoredState,
    pub state_timestamp_ms: u64,
    pub generation: u32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub next_joined_seq: u64,
    pub members: Vec<MemberRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupStoreError {
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    #[error("group record of {bytes} bytes exceeds a journal frame")]
    TooLarge { bytes: usize },
    /// A frame passed its CRC but does not decode: a format bug (or an older format).
    #[error("group journal does not decode: {reason}")]
    CorruptJournal { reason: String },
}

/// The latest record of every group, journaled.
#[derive(Debug)]
pub(crate) struct GroupStore<S: Storage> {
    journal: Journal<S>,
    /// Each group's latest record, encoded (what a snapshot holds).
    records: BTreeMap<String, Vec<u8>>,
    compact_bytes_max: u64,
    last_snapshot_bytes: u64,
}

impl<S: Storage> GroupStore<S> {
    /// Opens (or creates) the journal; returns it and every group's latest record.
    pub(crate) fn open(
        storage: S,
        base_name: &str,
        compact_bytes_max: u64,
    ) -> Result<(GroupStore<S>, Vec<GroupRecord>), GroupStoreError> {
        let (journal, recovery) = Journal::open(storage, base_name)?;
        let corrupt = |what: &str| GroupStoreError::CorruptJournal {
            reason: what.to_string(),
        };
        let mut records = BTreeMap::new();
        if !recovery.snapshot.is_empty() {
            for encoded in decode_snapshot(&recovery.snapshot).ok_or_else(|| corrupt("snapshot"))? {
                let record = decode_record(&encoded).ok_or_else(|| corrupt("snapshot record"))?;
                records.insert(record.group, encoded);
            }
        }
        for payload in &recovery.entries {
            let encoded = match payload.split_first() {
                Some((&ENTRY_TAG_GROUP, encoded)) => encoded.to_vec(),
                _ => return Err(corrupt("an entry of an unknown format")),
            };
            let record = decode_record(&encoded).ok_or_else(|| corrupt("group record"))?;
            records.insert(record.group, encoded);
        }
        let mut store = GroupStore {
            journal,
            records,
            compact_bytes_max,
            last_snapshot_bytes: recovery.snapshot.len() as u64,
        };
        if store.journal.needs_rewrite() {
            let _ = store.rewrite();
        }
        let latest = store
            .records
            .values()
            .map(|encoded| decode_record(encoded).expect("decoded above"))
            .collect();
        Ok((store, latest))
    }

    /// Journals `record` as its group's latest; `Ok` means durable.
    pub(crate) fn store(&mut self, record: &GroupRecord) -> Result<(), GroupStoreError> {
        let encoded = encode_record(record);
        let mut entry = Vec::with_capacity(encoded.len() + 1);
        entry.put_u8(ENTRY_TAG_GROUP);
        entry.put_slice(&encoded);
        if entry.len() as u64 > JOURNAL_FRAME_BYTES_MAX {
            return Err(GroupStoreError::TooLarge { bytes: entry.len() });
        }
        if self.journal.needs_rewrite() {
            self.rewrite()?;
        }
        self.journal.append(&entry)?;
        self.records.insert(record.group.clone(), encoded);
        let size = self.journal.size_bytes();
        if size > self.compact_bytes_max && size > 2 * self.last_snapshot_bytes {
            // The record is durable already; a failed compaction is retried at a later write.
            let _ = self.rewrite();
        }
        Ok(())
    }

    fn rewrite(&mut self) -> Result<(), GroupStoreError> {
        let mut snapshot = Vec::new();
        snapshot.put_u8(SNAPSHOT_FORMAT);
        snapshot.put_u32(self.records.len() as u32);
        for encoded in self.records.values() {
            snapshot.put_u32(encoded.len() as u32);
            snapshot.put_slice(encoded);
        }
        if snapshot.len() as u64 > JOURNAL_FRAME_BYTES_MAX {
            return Err(GroupStoreError::TooLarge {
                bytes: snapshot.len(),
            });
        }
        self.journal.rewrite(&snapshot)?;
        self.last_snapshot_bytes = snapshot.len() as u64;
        Ok(())
    }
}

impl<S: Storage> super::group::GroupJournal for GroupStore<S> {
    fn store(&mut self, record: &GroupRecord) -> Result<(), GroupStoreError> {
        GroupStore::store(self, record)
    }
}

// ---- encoding (big-endian; strings and bytes with u32 lengths) ------------------------------

fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.put_u32(bytes.len() as u32);
    buf.put_slice(bytes);
}

fn put_optional(buf: &mut Vec<u8>, value: &Option<String>) {
    match value {
        Some(value) => {
            buf.put_u8(1);
            put_bytes(buf, value.as_bytes());
        }
        None => buf.put_u8(0),
    }
}

fn encode_record(record: &GroupRecord) -> Vec<u8> {
    let mut buf = Vec::new();
    put_bytes(&mut buf, record.group.as_bytes());
    buf.put_u8(match record.state {
        StoredState::Empty => 0,
        StoredState::CompletingRebalance => 1,
        StoredState::Stable => 2,
    });
    buf.put_u64(record.state_timestamp_ms);
    buf.put_u32(record.generation);
    put_optional(&mut buf, &record.protocol_type);
    put_optional(&mut buf, &record.protocol_name);
    put_optional(&mut buf, &record.leader);
    buf.put_u64(record.next_joined_seq);
    buf.put_u32(record.members.len() as u32);
    for member in &record.members {
        put_bytes(&mut buf, member.member_id.as_bytes());
        put_optional(&mut buf, &member.group_instance_id);
        put_bytes(&mut buf, member.client_id.as_bytes());
        buf.put_u64(member.session_timeout_ms);
        buf.put_u64(member.rebalance_timeout_ms);
        put_bytes(&mut buf, member.protocol_type.as_bytes());
        buf.put_u32(member.protocols.len() as u32);
        for protocol in &member.protocols {
            put_bytes(&mut buf, protocol.name.as_bytes());
            put_bytes(&mut buf, &protocol.metadata);
        }
        put_bytes(&mut buf, &member.assignment);
        buf.put_u64(member.joined_seq);
    }
    buf
}

fn bytes<'a>(reader: &mut Reader<'a>) -> Option<&'a [u8]> {
    let len = reader.u32()? as usize;
    reader.take(len)
}

fn string(reader: &mut Reader<'_>) -> Option<String> {
    String::from_utf8(bytes(reader)?.to_vec()).ok()
}

fn optional(reader: &mut Reader<'_>) -> Option<Option<String>> {
    match reader.u8()? {
        0 => Some(None),
        1 => Some(Some(string(reader)?)),
        _ => None,
    }
}

fn decode_record(encoded: &[u8]) -> Option<GroupRecord> {
    let mut reader = Reader::new(encoded);
    let group = string(&mut reader)?;
    let state = match reader.u8()? {
        0 => StoredState::Empty,
        1 => StoredState::CompletingRebalance,
        2 => StoredState::Stable,
        _ => return None,
    };
    let state_timestamp_ms = reader.u64()?;
    let generation = reader.u32()?;
    let protocol_type = optional(&mut reader)?;
    let protocol_name = optional(&mut reader)?;
    let leader = optional(&mut reader)?;
    let next_joined_seq = reader.u64()?;
    let count = reader.u32()?;
    // No preallocation from a count read off the disk.
    let mut members = Vec::new();
    for _ in 0..count {
        let member_id = string(&mut reader)?;
        let group_instance_id = optional(&mut reader)?;
        let client_id = string(&mut reader)?;
        let session_timeout_ms = reader.u64()?;
        let rebalance_timeout_ms = reader.u64()?;
        let protocol_type = string(&mut reader)?;
        let protocol_count = reader.u32()?;
        let mut protocols = Vec::new();
        for _ in 0..protocol_count {
            protocols.push(GroupProtocol {
                name: string(&mut reader)?,
                metadata: Bytes::copy_from_slice(bytes(&mut reader)?),
            });
        }
        let assignment = Bytes::copy_from_slice(bytes(&mut reader)?);
        let joined_seq = reader.u64()?;
        members.push(MemberRecord {
            member_id,
            group_instance_id,
            client_id,
            session_timeout_ms,
            rebalance_timeout_ms,
            protocol_type,
            protocols,
            assignment,
            joined_seq,
        });
    }
    (reader.remaining() == 0).then_some(GroupRecord {
        group,
        state,
        state_timestamp_ms,
        generation,
        protocol_type,
        protocol_name,
        leader,
        next_joined_seq,
        members,
    })
}

fn decode_snapshot(snapshot: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut reader = Reader::new(snapshot);
    if reader.u8()? != SNAPSHOT_FORMAT {
        return None;
    }
    let count = reader.u32()?;
    let mut records = Vec::new();
    for _ in 0..count {
        records.push(bytes(&mut reader)?.to_vec());
    }
    (reader.remaining() == 0).then_some(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::disk::Disk;
    use sim::Seed;

    fn record(group: &str, generation: u32) -> GroupRecord {
        GroupRecord {
            group: group.into(),
            state: StoredState::Stable,
            state_timestamp_ms: 7,
            generation,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader: Some("m-1".into()),
            next_joined_seq: 2,
            members: vec![MemberRecord {
                member_id: "m-1".into(),
                group_instance_id: Some("i".into()),
                client_id: "c".repeat(70_000),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 20_000,
                protocol_type: "consumer".into(),
                protocols: vec![GroupProtocol {
                    name: "range".into(),
                    metadata: Bytes::from_static(b"\0\0\0\0\0\x01\0\x01t"),
                }],
                assignment: Bytes::from_static(b"assignment"),
                joined_seq: 1,
            }],
        }
    }

    #[test]
    fn the_latest_record_of_each_group_survives_a_crash_and_compaction() {
        let disk = Disk::new(Seed::new(1).stream("disk"));
        let (mut store, records) = GroupStore::open(disk.clone(), "groups/", 200_000).unwrap();
        assert!(records.is_empty());
        for generation in 1..=20 {
            store.store(&record("a", generation)).unwrap();
            store.store(&record("b", generation * 2)).unwrap();
        }
        assert!(store.journal.generation() > 0, "compacted");
        disk.crash();
        let (_, records) = GroupStore::open(disk, "groups/", 200_000).unwrap();
        assert_eq!(records, vec![record("a", 20), record("b", 40)]);
    }

    #[test]
    fn every_cut_of_a_record_fails_to_decode_without_a_panic() {
        let encoded = encode_record(&record("g", 3));
        assert_eq!(decode_record(&encoded), Some(record("g", 3)));
        for cut in 0..encoded.len() {
            assert_eq!(decode_record(&encoded[..cut]), None);
        }
        let mut garbage = encoded.clone();
        garbage.push(0);
        assert_eq!(decode_record(&garbage), None);
    }

    /// A disk that crashes at its `crash_at`-th mutating operation (that one is not done);
    /// every later mutation fails (`left` is `None` once crashed).
    struct CrashAt {
        disk: Disk,
        left: std::cell::Cell<Option<u64>>,
    }

    impl CrashAt {
        fn mutate(&self, name: &str) -> Result<(), StorageError> {
            match self.left.get() {
                Some(0) => {
                    self.left.set(None);
                    self.disk.crash();
                    Err(StorageError::WriteFault { name: name.into() })
                }
                Some(n) => {
                    self.left.set(Some(n - 1));
                    Ok(())
                }
                None => Err(StorageError::WriteFault { name: name.into() }),
            }
        }

        fn crashed(&self) -> bool {
            self.left.get().is_none()
        }
    }

    impl Storage for &CrashAt {
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
            self.mutate(name)?;
            Storage::create(&self.disk, name)
        }
        fn read(&self, name: &str, position: u64, len: usize) -> Result<Vec<u8>, StorageError> {
            Storage::read(&self.disk, name, position, len)
        }
        fn append(&self, name: &str, data: &[u8]) -> Result<(), StorageError> {
            self.mutate(name)?;
            Storage::append(&self.disk, name, data)
        }
        fn truncate(&self, name: &str, len: u64) -> Result<(), StorageError> {
            self.mutate(name)?;
            Storage::truncate(&self.disk, name, len)
        }
        fn sync(&self, name: &str) -> Result<(), StorageError> {
            self.mutate(name)?;
            Storage::sync(&self.disk, name)
        }
        fn delete(&self, name: &str) -> Result<(), StorageError> {
            self.mutate(name)?;
            Storage::delete(&self.disk, name)
        }
    }

    #[test]
    fn a_crash_at_any_step_keeps_every_acknowledged_record_through_compactions() {
        for crash_at in 0.. {
            let disk = Disk::new(Seed::new(crash_at).stream("disk"));
            disk.update_faults(|faults| faults.torn_writes = true);
            let storage = CrashAt {
                disk: disk.clone(),
                left: std::cell::Cell::new(Some(crash_at)),
            };
            // Per group: the acknowledged generation, and the one in flight at the crash.
            let mut acked: BTreeMap<String, u32> = BTreeMap::new();
            let mut in_flight = None;
            let mut small = record("g", 0);
            small.members[0].client_id = "c".into();
            if let Ok((mut store, _)) = GroupStore::open(&storage, "groups/", 600) {
                for n in 1..=40u32 {
                    let group = ["a", "b", "c"][n as usize % 3];
                    let mut next = small.clone();
                    next.group = group.into();
                    next.generation = n;
                    match store.store(&next) {
                        Ok(()) => {
                            acked.insert(group.into(), n);
                        }
                        Err(_) => {
                            in_flight = Some((group.to_string(), n));
                            break;
                        }
                    }
                }
            }
            let crashed = storage.crashed();
            let (_, records) = GroupStore::open(disk.clone(), "groups/", 600).expect("recovers");
            let recovered: BTreeMap<String, u32> = records
                .iter()
                .map(|r| (r.group.clone(), r.generation))
                .collect();
            for group in ["a", "b", "c"] {
                let got = recovered.get(group).copied();
                let want = acked.get(group).copied();
                let maybe = in_flight
                    .as_ref()
                    .filter(|(g, _)| g == group)
                    .map(|(_, n)| *n);
                assert!(
                    got == want || (maybe.is_some() && got == maybe),
                    "crash at {crash_at}: group {group} recovered {got:?}, acknowledged {want:?}"
                );
            }
            if !crashed {
                assert!(crash_at > 100, "compactions ran ({crash_at} operations)");
                break;
            }
        }
    }

    #[test]
    fn a_record_larger_than_a_frame_is_refused() {
        let disk = Disk::new(Seed::new(2).stream("disk"));
        let (mut store, _) = GroupStore::open(disk, "groups/", 1 << 20).unwrap();
        let mut huge = record("g", 1);
        huge.members[0].assignment = Bytes::from(vec![0u8; JOURNAL_FRAME_BYTES_MAX as usize]);
        assert!(matches!(
            store.store(&huge),
            Err(GroupStoreError::TooLarge { .. })
        ));
        store.store(&record("g", 2)).unwrap();
    }
}
