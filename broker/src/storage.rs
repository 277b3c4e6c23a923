//! The storage the broker core writes to: a flat namespace of named, append-only files.
//!
//! Every byte the broker core stores goes through the [`Storage`] trait, which the broker owns.
//! The core never sees madsim: the node shell hands it a [`sim::disk::Disk`] (which implements
//! `Storage` 1:1) and sleeps for the disk's latency around the calls where that matters.
//!
//! What the trait promises is what the simulated disk promises (see the fault model at the top
//! of `sim::disk`): appends are volatile until `sync`; `create`, `delete` and `truncate` are
//! durable at once; a crash keeps every file's synced prefix and maybe a torn prefix of the rest.
//! There is no rename and no directory: callers that need an atomic replace write a new file,
//! sync it, then delete the old one, and pick the newest complete file on recovery.
//!
//! The calls are synchronous and take `&self`: a storage is a handle (the disk is shared by all
//! of a node's partitions, its offset store and its producer-id manager).

/// An error answered by the storage. These are operating errors (Kafka's `KafkaStorageError`
/// family): the caller handles them, nothing panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("file not found: {name}")]
    NotFound { name: String },
    #[error("file already exists: {name}")]
    AlreadyExists { name: String },
    #[error("read error on {name}")]
    ReadFault { name: String },
    #[error("write error on {name}")]
    WriteFault { name: String },
    #[error("position {position} is beyond the end of {name} (length {len})")]
    BeyondEnd {
        name: String,
        position: u64,
        len: u64,
    },
}

impl StorageError {
    /// The file the error is about.
    pub fn file_name(&self) -> &str {
        match self {
            StorageError::NotFound { name }
            | StorageError::AlreadyExists { name }
            | StorageError::ReadFault { name }
            | StorageError::WriteFault { name }
            | StorageError::BeyondEnd { name, .. } => name,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }
}

/// Named files with append, sync and crash semantics. Implemented by the simulated disk in the
/// node shell (`node::disk`).
pub trait Storage {
    /// Names of the files whose name starts with `prefix`, in sorted order.
    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    fn exists(&self, name: &str) -> bool;
    /// Current length of a file, unsynced bytes included.
    fn len(&self, name: &str) -> Result<u64, StorageError>;
    /// Creates an empty file; the creation is durable at once, its content is not.
    fn create(&self, name: &str) -> Result<(), StorageError>;
    /// Up to `len` bytes at `position`: shorter at the end of the file, empty past it.
    fn read(&self, name: &str, position: u64, len: usize) -> Result<Vec<u8>, StorageError>;
    /// Appends to the end of a file. A failed append writes nothing. Volatile until `sync`.
    fn append(&self, name: &str, data: &[u8]) -> Result<(), StorageError>;
    /// Cuts a file to `len` bytes; durable at once.
    fn truncate(&self, name: &str, len: u64) -> Result<(), StorageError>;
    /// Makes every byte appended to this file so far durable.
    fn sync(&self, name: &str) -> Result<(), StorageError>;
    /// Deletes a file; durable at once.
    fn delete(&self, name: &str) -> Result<(), StorageError>;
    /// How long the next operation takes (a slow disk); zero by default. Each call draws anew
    /// (the simulated disk draws from its injected latency range).
    fn latency(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// A shared reference to a storage is a storage (tests wrap a disk without moving it).
impl<S: Storage + ?Sized> Storage for &S {
    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        (**self).list(prefix)
    }
    fn exists(&self, name: &str) -> bool {
        (**self).exists(name)
    }
    fn len(&self, name: &str) -> Result<u64, StorageError> {
        (**self).len(name)
    }
    fn create(&self, name: &str) -> Result<(), StorageError> {
        (**self).create(name)
    }
    fn read(&self, name: &str, position: u64, len: usize) -> Result<Vec<u8>, StorageError> {
        (**self).read(name, position, len)
    }
    fn append(&self, name: &str, data: &[u8]) -> Result<(), StorageError> {
        (**self).append(name, data)
    }
    fn truncate(&self, name: &str, len: u64) -> Result<(), StorageError> {
        (**self).truncate(name, len)
    }
    fn sync(&self, name: &str) -> Result<(), StorageError> {
        (**self).sync(name)
    }
    fn delete(&self, name: &str) -> Result<(), StorageError> {
        (**self).delete(name)
    }
    fn latency(&self) -> std::time::Duration {
        (**self).latency()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::disk::Disk;
    use sim::Seed;

    #[test]
    fn disk_errors_map_one_to_one() {
        let disk = Disk::new(Seed::new(3).stream("disk"));
        let storage: &dyn Storage = &disk;
        assert_eq!(
            storage.read("missing", 0, 1),
            Err(StorageError::NotFound {
                name: "missing".into()
            })
        );
        storage.create("a").unwrap();
        assert_eq!(
            storage.create("a"),
            Err(StorageError::AlreadyExists { name: "a".into() })
        );
        storage.append("a", b"xyz").unwrap();
        assert_eq!(storage.len("a").unwrap(), 3);
        assert!(matches!(
            storage.truncate("a", 9),
            Err(StorageError::BeyondEnd {
                position: 9,
                len: 3,
                ..
            })
        ));
        disk.update_faults(|faults| faults.fail_next_writes = 1);
        assert_eq!(
            storage.sync("a"),
            Err(StorageError::WriteFault { name: "a".into() })
        );
        assert_eq!(storage.list("a").unwrap(), vec!["a".to_string()]);
    }
}
