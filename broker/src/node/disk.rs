//! The simulated disk as the core's [`Storage`], and as the [`crate::inspect::MarkedStorage`] the
//! state checker follows logs on: the one place the broker core meets `sim::disk`.
//! The core sees only the trait; what it promises is what the disk promises (the fault model at
//! the top of `sim::disk`).

use crate::storage::{Storage, StorageError};
use sim::disk::{Disk, DiskError};

impl From<DiskError> for StorageError {
    fn from(error: DiskError) -> StorageError {
        match error {
            DiskError::NotFound { name } => StorageError::NotFound { name },
            DiskError::AlreadyExists { name } => StorageError::AlreadyExists { name },
            DiskError::ReadFault { name } => StorageError::ReadFault { name },
            DiskError::WriteFault { name } => StorageError::WriteFault { name },
            DiskError::BeyondEnd {
                name,
                position,
                len,
            } => StorageError::BeyondEnd {
                name,
                position,
                len,
            },
        }
    }
}

impl Storage for Disk {
    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(self.list_prefix(prefix))
    }

    fn exists(&self, name: &str) -> bool {
        Disk::exists(self, name)
    }

    fn len(&self, name: &str) -> Result<u64, StorageError> {
        Ok(Disk::len(self, name)?)
    }

    fn create(&self, name: &str) -> Result<(), StorageError> {
        Ok(Disk::create(self, name)?)
    }

    fn read(&self, name: &str, position: u64, len: usize) -> Result<Vec<u8>, StorageError> {
        Ok(Disk::read(self, name, position, len)?)
    }

    fn append(&self, name: &str, data: &[u8]) -> Result<(), StorageError> {
        Ok(Disk::append(self, name, data)?)
    }

    fn truncate(&self, name: &str, len: u64) -> Result<(), StorageError> {
        Ok(Disk::truncate(self, name, len)?)
    }

    fn sync(&self, name: &str) -> Result<(), StorageError> {
        Ok(Disk::sync(self, name)?)
    }

    fn delete(&self, name: &str) -> Result<(), StorageError> {
        Ok(Disk::delete(self, name)?)
    }

    fn latency(&self) -> std::time::Duration {
        self.draw_latency()
    }
}

impl crate::inspect::MarkedStorage for Disk {
    fn marks(&self, prefix: &str) -> Vec<crate::inspect::FileMark> {
        Disk::marks(self, prefix)
            .into_iter()
            .map(|mark| crate::inspect::FileMark {
                name: mark.name,
                version: mark.version,
                lineage: mark.lineage,
                len: mark.len,
            })
            .collect()
    }

    fn bytes_from(&self, name: &str, position: u64) -> Option<Vec<u8>> {
        self.contents_from(name, position)
    }

    fn snapshot_under(&self, prefix: &str) -> Disk {
        self.snapshot_prefix(prefix)
    }

    fn same_storage(&self, other: &Disk) -> bool {
        self.same_disk(other)
    }
}
