//! The group coordinator: committed consumer offsets (`OffsetCommit`, `OffsetFetch`), durable on
//! the controller's storage.
//!
//! It runs on the controller node, which hands it the coordinator requests
//! ([`crate::controller::ControllerCore::on_request`]); it has its own state and its own journal
//! and knows nothing of the cluster metadata. Group membership (joins, generations,
//! assignments), when it is modelled, belongs here too.
//!
//! Guarantees are those of [`OffsetStore`]: an acknowledged commit is durable; a failed one is
//! not what a later fetch answers.

use crate::api::*;
use crate::offsets::{OffsetStore, OffsetStoreError, PartitionOffset};
use crate::storage::Storage;

/// Journal file name prefix of the committed offsets.
pub(crate) const OFFSETS_JOURNAL: &str = "controller/offsets-";
/// Compact the offsets journal when it grows past this.
pub(crate) const OFFSETS_JOURNAL_BYTES_MAX: u64 = 1 << 20;

/// The coordinator's state machine: today, the committed offsets of every group.
pub(crate) struct GroupCoordinator<S: Storage> {
    offsets: OffsetStore<S>,
}

impl<S: Storage> GroupCoordinator<S> {
    /// Opens (or recovers) the committed offsets on `storage`.
    pub(crate) fn open(storage: S) -> Result<Self, OffsetStoreError> {
        let (offsets, _recovery) =
            OffsetStore::open(storage, OFFSETS_JOURNAL, OFFSETS_JOURNAL_BYTES_MAX)?;
        Ok(GroupCoordinator { offsets })
    }

    /// Commits a group's offsets; `Ok` means durable.
    pub(crate) fn offset_commit(&mut self, request: OffsetCommitRequest) -> OffsetCommitResponse {
        let commits: Vec<PartitionOffset> = request
            .offsets
            .iter()
            .map(|(partition, offset)| PartitionOffset {
                topic: partition.topic.clone(),
                partition: partition.partition,
                offset: *offset,
            })
            .collect();
        let result = match self.offsets.commit(&request.group, &commits) {
            Ok(()) => Ok(()),
            Err(OffsetStoreError::Storage(_)) => Err(ErrorCode::KafkaStorageError),
            Err(error) => Err(ErrorCode::InvalidRequest {
                reason: error.to_string(),
            }),
        };
        OffsetCommitResponse { result }
    }

    /// A group's committed offsets for the asked partitions (`None` where nothing was committed).
    pub(crate) fn offset_fetch(&self, request: OffsetFetchRequest) -> OffsetFetchResponse {
        let offsets = request
            .partitions
            .iter()
            .map(|partition| {
                let offset =
                    self.offsets
                        .fetch(&request.group, &partition.topic, partition.partition);
                (partition.clone(), offset)
            })
            .collect();
        OffsetFetchResponse {
            result: Ok(offsets),
        }
    }
}
