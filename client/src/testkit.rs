//! Hand-made clusters for the cores' unit tests: addresses, metadata, and a wire that collects
//! what a core sends and records.

use crate::common::{Action, ClusterAddrs};
use crate::history::Op;
use bytes::Bytes;
use protocol::api::{
    BrokerId, ClusterMetadata, PartitionMetadata, Request, TopicMetadata, TopicPartition,
};
use protocol::batch::{Record, RecordBatch};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;

pub fn controller() -> SocketAddr {
    "10.0.0.1:9092".parse().unwrap()
}

pub fn broker(id: BrokerId) -> SocketAddr {
    format!("10.0.0.{}:9092", 10 + id).parse().unwrap()
}

pub fn cluster() -> ClusterAddrs {
    ClusterAddrs {
        bootstrap: vec![broker(1), broker(2), broker(3)],
        controller: controller(),
    }
}

pub fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(7)
}

pub fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// Metadata at `version`: each topic with one leader per partition (`None` = no leader), leader
/// epoch `epoch`, replicas 1..=3.
pub fn metadata(
    version: u64,
    topics: &[(&str, &[Option<BrokerId>])],
    epoch: u32,
) -> ClusterMetadata {
    ClusterMetadata {
        version,
        brokers: (1..=3).map(|id| (id, broker(id))).collect(),
        topics: topics
            .iter()
            .map(|(name, leaders)| TopicMetadata {
                name: name.to_string(),
                partitions: leaders
                    .iter()
                    .enumerate()
                    .map(|(partition, leader)| PartitionMetadata {
                        partition: partition as u32,
                        leader: *leader,
                        leader_epoch: epoch,
                        partition_epoch: epoch,
                        replicas: vec![1, 2, 3],
                        isr: vec![1, 2, 3],
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// One request a core sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub to: SocketAddr,
    pub correlation_id: u64,
    pub request: Request,
}

impl Sent {
    pub fn api(&self) -> &'static str {
        self.request.api_name()
    }

    /// The decoded batch of a Produce.
    pub fn produced(&self) -> RecordBatch {
        match &self.request {
            Request::Produce(produce) => RecordBatch::decode(&produce.batch).expect("valid batch"),
            other => panic!("not a produce: {other:?}"),
        }
    }

    pub fn partition(&self) -> TopicPartition {
        match &self.request {
            Request::Produce(r) => r.partition.clone(),
            Request::Fetch(r) => r.partition.clone(),
            Request::ListOffsets(r) => r.partition.clone(),
            other => panic!("no partition in {other:?}"),
        }
    }
}

/// What a core sent and recorded, not yet looked at by the test.
#[derive(Debug, Default)]
pub struct Wire {
    pub outstanding: Vec<Sent>,
    pub ops: Vec<Op>,
}

impl Wire {
    pub fn absorb(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send {
                    to,
                    correlation_id,
                    request,
                } => self.outstanding.push(Sent {
                    to,
                    correlation_id,
                    request,
                }),
                Action::Record(op) => self.ops.push(op),
            }
        }
    }

    /// Removes and returns the outstanding requests of `api`, oldest first.
    pub fn take(&mut self, api: &str) -> Vec<Sent> {
        let (taken, kept) = std::mem::take(&mut self.outstanding)
            .into_iter()
            .partition(|sent| sent.api() == api);
        self.outstanding = kept;
        taken
    }

    /// Removes and returns the history events recorded so far.
    pub fn take_ops(&mut self) -> Vec<Op> {
        std::mem::take(&mut self.ops)
    }
}

/// An encoded batch as a leader serves it.
pub fn served_batch(base_offset: u64, values: &[&str]) -> Bytes {
    let mut batch = RecordBatch::new(
        values
            .iter()
            .map(|value| Record::new(None, Bytes::from(value.to_string()), 0))
            .collect(),
    );
    batch.base_offset = base_offset;
    batch.encode()
}
