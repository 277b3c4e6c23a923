//! The producer-id allocator and epoch manager (`InitProducerId`, KIP-98 / KIP-360), durable on
//! a [`Storage`]. The controller hosts one.
//!
//! - `init_producer_id(None)` allocates a new producer id with epoch 0. (A retry of a request
//!   whose answer was lost allocates another id; the lost one is simply never used.)
//! - `init_producer_id(Some((id, epoch)))` bumps the epoch, per KIP-360:
//!   `epoch` == the current epoch -> bump and return the new epoch;
//!   `epoch` == the previous epoch (a retry of a bump whose answer was lost) -> return the
//!   current epoch without bumping again; anything else -> `InvalidProducerEpoch`.
//!   An id this manager never allocated also gets `InvalidProducerEpoch` (with
//!   `current_epoch: None`): an epoch bump cannot be granted for an unknown id, and the
//!   client's recovery is the same — ask for a new id. (Kafka, for an idempotent producer
//!   without a transactional id, simply hands out a new id; we keep the stricter epoch manager
//!   so that a client's KIP-360 path is exercised.) `(-1, -1)` means "no id yet", like `None`.
//!   When the epoch would pass `i16::MAX`, a new producer id with epoch 0 is returned instead.
//! - Durability: every answer that changes state is journaled and synced before it is
//!   returned, so after a crash no id is handed out twice and no epoch goes backwards.
//!   A torn tail (an unanswered request) is dropped on open.
//!
//! Not modelled: transactional ids and their coordinator, id blocks per broker (one manager
//! allocates every id), producer-id expiry.

use crate::batch::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
use crate::codec::Reader;
use crate::journal::Journal;
use crate::storage::{Storage, StorageError};
use bytes::BufMut;
use std::collections::BTreeMap;

/// The journal is compacted once it is larger than this and than twice the last snapshot.
pub const PRODUCER_ID_JOURNAL_BYTES_MAX: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerIdError {
    #[error(
        "invalid epoch {producer_epoch} for producer {producer_id} (current epoch {current_epoch:?})"
    )]
    InvalidProducerEpoch {
        producer_id: i64,
        producer_epoch: i16,
        /// `None` when the id is unknown.
        current_epoch: Option<i16>,
    },
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// A frame passed its CRC but does not decode: a format bug, not disk damage.
    #[error("producer-id journal does not decode: {reason}")]
    CorruptJournal { reason: String },
    #[error("producer ids exhausted")]
    Exhausted,
}

/// The epochs of one producer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerEpochs {
    pub epoch: i16,
    /// The epoch before the last bump, for answering a retried bump.
    pub previous_epoch: Option<i16>,
}

/// One journal entry: the state of one id after a change, and the allocator position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    producer_id: i64,
    epochs: ProducerEpochs,
    next_producer_id: i64,
}

#[derive(Debug)]
pub struct ProducerIdManager<S: Storage> {
    journal: Journal<S>,
    next_producer_id: i64,
    producers: BTreeMap<i64, ProducerEpochs>,
    last_snapshot_bytes: u64,
}

impl<S: Storage> ProducerIdManager<S> {
    /// Opens (or creates) the manager persisted under `base_name` (e.g.
    /// `"controller/producer-ids-"`).
    pub fn open(storage: S, base_name: &str) -> Result<ProducerIdManager<S>, ProducerIdError> {
        let (journal, recovery) = Journal::open(storage, base_name)?;
        let mut manager = ProducerIdManager {
            journal,
            next_producer_id: 0,
            producers: BTreeMap::new(),
            last_snapshot_bytes: recovery.snapshot.len() as u64,
        };
        manager.load_snapshot(&recovery.snapshot)?;
        for payload in &recovery.entries {
            let entry = decode_entry(&mut Reader::new(payload))
                .filter(|_| payload.len() == ENTRY_BYTES)
                .ok_or_else(|| ProducerIdError::CorruptJournal {
                    reason: "entry".into(),
                })?;
            manager.apply(entry);
        }
        if manager.journal.needs_rewrite() {
            // Best effort now; otherwise before the next change.
            let _ = manager.rewrite();
        }
        Ok(manager)
    }

    /// The id the next allocation returns.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    pub fn epochs(&self, producer_id: i64) -> Option<ProducerEpochs> {
        self.producers.get(&producer_id).copied()
    }

    /// `InitProducerId`: a new id (`None`), or an epoch bump of an existing one (KIP-360).
    pub fn init_producer_id(
        &mut self,
        existing: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ProducerIdError> {
        let existing =
            existing.filter(|&(id, epoch)| !(id == NO_PRODUCER_ID && epoch == NO_PRODUCER_EPOCH));
        let Some((producer_id, producer_epoch)) = existing else {
            return self.allocate();
        };
        let Some(current) = self.producers.get(&producer_id).copied() else {
            return Err(ProducerIdError::InvalidProducerEpoch {
                producer_id,
                producer_epoch,
                current_epoch: None,
            });
        };
        if producer_epoch == current.epoch {
            if current.epoch == i16::MAX {
                return self.allocate();
            }
            let bumped = ProducerEpochs {
                epoch: current.epoch + 1,
                previous_epoch: Some(current.epoch),
            };
            self.persist(Entry {
                producer_id,
                epochs: bumped,
                next_producer_id: self.next_producer_id,
            })?;
            return Ok((producer_id, bumped.epoch));
        }
        if current.previous_epoch == Some(producer_epoch) {
            return Ok((producer_id, current.epoch));
        }
        Err(ProducerIdError::InvalidProducerEpoch {
            producer_id,
            producer_epoch,
            current_epoch: Some(current.epoch),
        })
    }

    fn allocate(&mut self) -> Result<(i64, i16), ProducerIdError> {
        let producer_id = self.next_producer_id;
        let next_producer_id = producer_id
            .checked_add(1)
            .ok_or(ProducerIdError::Exhausted)?;
        self.persist(Entry {
            producer_id,
            epochs: ProducerEpochs {
                epoch: 0,
                previous_epoch: None,
            },
            next_producer_id,
        })?;
        Ok((producer_id, 0))
    }

    /// Journals the change (synced), then applies it.
    fn persist(&mut self, entry: Entry) -> Result<(), ProducerIdError> {
        if self.journal.needs_rewrite() {
            self.rewrite()?;
        }
        let mut payload = Vec::with_capacity(ENTRY_BYTES);
        encode_entry(&mut payload, &entry);
        self.journal.append(&payload)?;
        self.apply(entry);
        let size = self.journal.size_bytes();
        if size > PRODUCER_ID_JOURNAL_BYTES_MAX && size > 2 * self.last_snapshot_bytes {
            // The change is durable already; a failed compaction is retried later.
            let _ = self.rewrite();
        }
        Ok(())
    }

    fn apply(&mut self, entry: Entry) {
        assert!(
            entry.next_producer_id >= self.next_producer_id,
            "producer-id allocator going backwards: {} after {}",
            entry.next_producer_id,
            self.next_producer_id
        );
        if let Some(old) = self.producers.get(&entry.producer_id) {
            assert!(
                entry.epochs.epoch >= old.epoch,
                "producer {} epoch going backwards: {} after {}",
                entry.producer_id,
                entry.epochs.epoch,
                old.epoch
            );
        }
        self.next_producer_id = entry.next_producer_id;
        self.producers.insert(entry.producer_id, entry.epochs);
    }

    fn rewrite(&mut self) -> Result<(), StorageError> {
        let mut snapshot = Vec::new();
        snapshot.put_i64(self.next_producer_id);
        snapshot.put_u64(self.producers.len() as u64);
        for (&producer_id, &epochs) in &self.producers {
            encode_entry(
                &mut snapshot,
                &Entry {
                    producer_id,
                    epochs,
                    next_producer_id: self.next_producer_id,
                },
            );
        }
        self.journal.rewrite(&snapshot)?;
        self.last_snapshot_bytes = snapshot.len() as u64;
        Ok(())
    }

    fn load_snapshot(&mut self, snapshot: &[u8]) -> Result<(), ProducerIdError> {
        if snapshot.is_empty() {
            return Ok(());
        }
        let corrupt = || ProducerIdError::CorruptJournal {
            reason: "snapshot".into(),
        };
        let mut reader = Reader::new(snapshot);
        let next_producer_id = reader.i64().ok_or_else(corrupt)?;
        let count = reader.u64().ok_or_else(corrupt)?;
        for _ in 0..count {
            let entry = decode_entry(&mut reader).ok_or_else(corrupt)?;
            self.producers.insert(entry.producer_id, entry.epochs);
        }
        if reader.remaining() != 0 {
            return Err(corrupt());
        }
        self.next_producer_id = next_producer_id;
        Ok(())
    }
}

const ENTRY_BYTES: usize = 8 + 2 + 2 + 8;

fn encode_entry(buf: &mut Vec<u8>, entry: &Entry) {
    buf.put_i64(entry.producer_id);
    buf.put_i16(entry.epochs.epoch);
    buf.put_i16(entry.epochs.previous_epoch.unwrap_or(-1));
    buf.put_i64(entry.next_producer_id);
}

fn decode_entry(reader: &mut Reader<'_>) -> Option<Entry> {
    let producer_id = reader.i64()?;
    let epoch = reader.i16()?;
    let previous_epoch = reader.i16()?;
    let next_producer_id = reader.i64()?;
    Some(Entry {
        producer_id,
        epochs: ProducerEpochs {
            epoch,
            previous_epoch: (previous_epoch >= 0).then_some(previous_epoch),
        },
        next_producer_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::disk::Disk;
    use sim::Seed;

    #[test]
    fn kip_360_epoch_rules() {
        let disk = Disk::new(Seed::new(1).stream("disk"));
        let mut manager = ProducerIdManager::open(disk.clone(), "pids/").unwrap();
        let (id, epoch) = manager.init_producer_id(None).unwrap();
        assert_eq!((id, epoch), (0, 0));
        assert_eq!(manager.init_producer_id(Some((id, 0))), Ok((id, 1)));
        // A retry of that bump (its answer lost) returns the current epoch, no second bump.
        assert_eq!(manager.init_producer_id(Some((id, 0))), Ok((id, 1)));
        assert_eq!(manager.init_producer_id(Some((id, 1))), Ok((id, 2)));
        assert!(matches!(
            manager.init_producer_id(Some((id, 0))),
            Err(ProducerIdError::InvalidProducerEpoch {
                current_epoch: Some(2),
                ..
            })
        ));
        assert!(matches!(
            manager.init_producer_id(Some((77, 0))),
            Err(ProducerIdError::InvalidProducerEpoch {
                current_epoch: None,
                ..
            })
        ));
        assert_eq!(manager.init_producer_id(Some((-1, -1))), Ok((1, 0)));
        disk.crash();
        let mut manager = ProducerIdManager::open(disk, "pids/").unwrap();
        assert_eq!(manager.epochs(0).map(|epochs| epochs.epoch), Some(2));
        assert_eq!(manager.init_producer_id(None), Ok((2, 0)));
    }

    #[test]
    fn epoch_exhaustion_allocates_a_new_id() {
        let disk = Disk::new(Seed::new(2).stream("disk"));
        let mut manager = ProducerIdManager::open(disk, "pids/").unwrap();
        let (id, _) = manager.init_producer_id(None).unwrap();
        manager.producers.insert(
            id,
            ProducerEpochs {
                epoch: i16::MAX,
                previous_epoch: Some(i16::MAX - 1),
            },
        );
        assert_eq!(manager.init_producer_id(Some((id, i16::MAX))), Ok((1, 0)));
    }
}
