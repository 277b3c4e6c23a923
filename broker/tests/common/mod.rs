//! Helpers shared by the broker's integration tests.
#![allow(dead_code)]

use broker::api::{CreateTopicRequest, HeartbeatRequest, Request};
use broker::batch::{Record, RecordBatch};
use broker::controller::{ControllerConfig, ControllerCore};
use broker::log::{Log, LogError};
use broker::storage::{Storage, StorageError};
use bytes::Bytes;
use sim::disk::Disk;
use sim::Seed;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub fn disk(seed: u64) -> Disk {
    Disk::new(Seed::new(seed).stream("disk"))
}

/// A batch without producer id whose records carry `values` and `timestamp_ms`.
pub fn batch(values: &[&str], timestamp_ms: i64) -> RecordBatch {
    RecordBatch::new(
        values
            .iter()
            .map(|value| Record::new(None, Bytes::copy_from_slice(value.as_bytes()), timestamp_ms))
            .collect(),
    )
}

/// Every record from `from` to the log end, read batch by batch through `read`, as
/// (offset, value) pairs. Panics on any error.
pub fn read_all<S: Storage + Clone>(log: &Log<S>, from: u64) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut offset = from;
    let end = log.log_end_offset();
    let mut reads = 0;
    while offset < end {
        reads += 1;
        assert!(reads < 100_000, "read loop without progress at {offset}");
        let result = log
            .read(offset, 1)
            .unwrap_or_else(|error| panic!("read at {offset}: {error}"));
        assert!(
            !result.batches.is_empty(),
            "empty read at {offset} below the end {end}"
        );
        for (record_offset, record) in result.records() {
            if record_offset >= offset {
                out.push((
                    record_offset,
                    String::from_utf8(record.value.to_vec()).expect("utf-8 values"),
                ));
            }
        }
        offset = result.next_offset().expect("non-empty");
    }
    out
}

/// Whether the error is one a valid read may get.
pub fn is_range_answer(error: &LogError) -> bool {
    matches!(
        error,
        LogError::OffsetEvicted { .. } | LogError::OffsetOutOfRange { .. }
    )
}

/// A storage that crashes its disk after a budget of mutating operations: the operation that
/// exhausts the budget is not performed, the disk crashes (losing unsynced bytes, maybe
/// keeping a torn prefix), and every later call fails. Reopen on the plain disk afterwards.
#[derive(Debug, Clone)]
pub struct CrashingStorage {
    disk: Disk,
    state: Arc<Mutex<CrashState>>,
}

#[derive(Debug)]
struct CrashState {
    mutations_left: Option<u64>,
    crashed: bool,
    mutations: u64,
    /// Fail the one operation instead of crashing.
    fail_only: bool,
}

impl CrashingStorage {
    /// Crashes at the mutating operation number `crash_at` (0-based); `None` never.
    pub fn new(disk: Disk, crash_at: Option<u64>) -> CrashingStorage {
        CrashingStorage {
            disk,
            state: Arc::new(Mutex::new(CrashState {
                mutations_left: crash_at,
                crashed: false,
                mutations: 0,
                fail_only: false,
            })),
        }
    }

    /// Fails only the mutating operation number `fail_at` (0-based), without crashing.
    pub fn failing_once(disk: Disk, fail_at: u64) -> CrashingStorage {
        let storage = CrashingStorage::new(disk, Some(fail_at));
        storage.state.lock().unwrap().fail_only = true;
        storage
    }

    pub fn crashed(&self) -> bool {
        self.state.lock().unwrap().crashed
    }

    /// Mutating operations performed so far.
    pub fn mutations(&self) -> u64 {
        self.state.lock().unwrap().mutations
    }

    fn check_read(&self, name: &str) -> Result<(), StorageError> {
        if self.state.lock().unwrap().crashed {
            return Err(StorageError::ReadFault { name: name.into() });
        }
        Ok(())
    }

    fn mutate(&self, name: &str) -> Result<(), StorageError> {
        let mut state = self.state.lock().unwrap();
        if state.crashed {
            return Err(StorageError::WriteFault { name: name.into() });
        }
        match state.mutations_left {
            Some(0) if state.fail_only => {
                state.mutations_left = None;
                Err(StorageError::WriteFault { name: name.into() })
            }
            Some(0) => {
                state.crashed = true;
                self.disk.crash();
                Err(StorageError::WriteFault { name: name.into() })
            }
            Some(left) => {
                state.mutations_left = Some(left - 1);
                state.mutations += 1;
                Ok(())
            }
            None => {
                state.mutations += 1;
                Ok(())
            }
        }
    }
}

impl Storage for CrashingStorage {
    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.check_read(prefix)?;
        Storage::list(&self.disk, prefix)
    }
    fn exists(&self, name: &str) -> bool {
        Storage::exists(&self.disk, name)
    }
    fn len(&self, name: &str) -> Result<u64, StorageError> {
        self.check_read(name)?;
        Storage::len(&self.disk, name)
    }
    fn create(&self, name: &str) -> Result<(), StorageError> {
        self.mutate(name)?;
        Storage::create(&self.disk, name)
    }
    fn read(&self, name: &str, position: u64, len: usize) -> Result<Vec<u8>, StorageError> {
        self.check_read(name)?;
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

/// A broker's heartbeat to the controller (its registration when the incarnation is new).
pub fn heartbeat(broker: u32, incarnation: u64) -> Request {
    let addr: SocketAddr = format!("10.0.0.{broker}:9092").parse().unwrap();
    Request::Heartbeat(HeartbeatRequest {
        broker,
        addr,
        incarnation,
        metadata_version: 0,
    })
}

/// A controller with `config` on a fresh disk, brokers 1..=3 registered at 10 ms (incarnation
/// 1), and topic `t` (one partition, three replicas) created at 20 ms.
pub fn controller_with_a_topic(
    seed: u64,
    config: ControllerConfig,
) -> (Disk, ControllerCore<Disk>) {
    let disk = Disk::new(Seed::new(seed).stream("controller-disk"));
    let mut controller = ControllerCore::open(disk.clone(), config, 0).expect("opens");
    for broker in 1..=3 {
        controller.on_request(10, heartbeat(broker, 1));
    }
    controller.on_request(
        20,
        Request::CreateTopic(CreateTopicRequest {
            topic: "t".into(),
            partitions: 1,
            replication_factor: 3,
        }),
    );
    (disk, controller)
}
